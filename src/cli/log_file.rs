//! `serve --log-file PATH`: the JSON log lines also go to a file, rotated by size.
//!
//! Rotation follows logrotate's numbering (what Vector, Filebeat and Fluent Bit expect when they follow a
//! file by inode / fingerprint): when the next line would push `PATH` past `max_bytes`, `PATH.{keep-1}` →
//! `PATH.{keep}` (the oldest is replaced), …, `PATH` → `PATH.1`, and a fresh `PATH` is opened. A line is
//! never split across files; a single line larger than `max_bytes` goes whole into a fresh file. The file
//! is opened in append mode, so a restart resumes at its current size.
//!
//! Writes never block the caller: [`spawn`] starts one writer thread behind a bounded channel; a
//! [`LogFileWriter`] (the `tracing_subscriber` [`MakeWriter`]) hands it one whole formatted event per
//! message and drops the line when the queue is full (counted, reported). Disk errors go to stderr at most
//! once a minute and the server keeps serving. [`LogFileGuard`] drains the queue on drop (shutdown).
//! Cost: one `write(2)` per line, plus three renames per rotation per kept file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Smallest `--log-file-max-bytes` accepted: below it most lines would get a file of their own.
pub const MIN_MAX_BYTES: u64 = 4096;
/// Lines queued for the writer thread before new ones are dropped (a few MB of JSON at most).
const QUEUE_LINES: usize = 16 * 1024;
/// Disk errors and drops are reported to stderr at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// When to rotate and how many rotated files to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Largest size of `PATH` a line may grow it to (a single larger line gets a file of its own).
    pub max_bytes: u64,
    /// Rotated files kept (`PATH.1` … `PATH.keep`); 0 keeps none (the file is just started again).
    pub keep: u32,
}

/// `PATH` plus the open file and its size; rotates before a line that would not fit.
pub struct RotatingFile {
    path: PathBuf,
    policy: RotationPolicy,
    file: File,
    /// Bytes in the current file (its size at open, then what we appended).
    size: u64,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `PATH.n`.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl RotatingFile {
    /// Opens (creates) `path` for appending; its current size counts towards the first rotation.
    pub fn open(path: &Path, policy: RotationPolicy) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile { path: path.to_path_buf(), policy, file, size })
    }

    /// Bytes in the current file.
    #[cfg(test)]
    fn size(&self) -> u64 {
        self.size
    }

    /// Appends `line` (one or more whole lines) to the current file, rotating first when it would push
    /// the file past `max_bytes`. If rotating fails the line still goes to the file held open (nothing is
    /// lost) and the error is returned; the rotation is retried after another `max_bytes`.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64;
        let mut rotation = Ok(());
        if self.size > 0 && self.size + len > self.policy.max_bytes {
            rotation = self.rotate();
            if rotation.is_err() {
                // Keep appending to the file held open and retry after another `max_bytes`, not on every
                // line (a half-done rotation retried per line would shift the rotated files each time).
                self.size = 0;
            }
        }
        self.file.write_all(line)?;
        self.size += len;
        rotation
    }

    /// `PATH.{keep-1}` → `PATH.{keep}`, …, `PATH` → `PATH.1`, then a fresh `PATH`.
    fn rotate(&mut self) -> io::Result<()> {
        if self.policy.keep == 0 {
            std::fs::remove_file(&self.path).or_else(ignore_missing)?;
        } else {
            for n in (1..self.policy.keep).rev() {
                std::fs::rename(rotated_path(&self.path, n), rotated_path(&self.path, n + 1)).or_else(ignore_missing)?;
            }
            std::fs::rename(&self.path, rotated_path(&self.path, 1)).or_else(ignore_missing)?;
        }
        self.file = open_append(&self.path)?;
        self.size = self.file.metadata()?.len();
        Ok(())
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

enum Message {
    /// One formatted event (whole lines).
    Line(Vec<u8>),
    /// Write what is queued and stop.
    Shutdown,
}

/// The `MakeWriter` for the file layer: cheap to clone, never blocks.
#[derive(Clone)]
pub struct LogFileWriter {
    queue: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

/// One event's bytes, sent to the writer thread as one message when dropped (so a line is never split).
pub struct EventWriter<'a> {
    owner: &'a LogFileWriter,
    buffer: Vec<u8>,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        match self.owner.queue.try_send(Message::Line(std::mem::take(&mut self.buffer))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.owner.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The writer thread has stopped (after shutdown): nothing to do.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl<'a> MakeWriter<'a> for LogFileWriter {
    type Writer = EventWriter<'a>;
    fn make_writer(&'a self) -> EventWriter<'a> {
        EventWriter { owner: self, buffer: Vec::with_capacity(512) }
    }
}

/// Keep alive while logging; dropping it writes every queued line and joins the writer thread.
pub struct LogFileGuard {
    queue: SyncSender<Message>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogFileGuard {
    fn drop(&mut self) {
        // A blocking send: shutdown waits behind the queued lines, which is the point.
        if self.queue.send(Message::Shutdown).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Rate-limited stderr reports of disk errors and dropped lines.
struct Reporter {
    path: PathBuf,
    last: Option<Instant>,
    /// Errors since the last report (folded into the next one).
    suppressed: u64,
    dropped: Arc<AtomicU64>,
}

impl Reporter {
    fn due(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= REPORT_EVERY)
    }

    fn error(&mut self, e: &io::Error) {
        if !self.due() {
            self.suppressed += 1;
            return;
        }
        let more = if self.suppressed > 0 { format!(" ({} more errors since the last report)", self.suppressed) } else { String::new() };
        eprintln!("llmserve: cannot write the log file {}: {e}{more}; still serving (reported at most once a minute)", self.path.display());
        self.suppressed = 0;
        self.last = Some(Instant::now());
    }

    fn drops(&mut self) {
        if !self.due() {
            return;
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            eprintln!("llmserve: {dropped} log lines not written to {}: the writer fell behind", self.path.display());
            self.last = Some(Instant::now());
        }
    }
}

fn run_writer(mut file: RotatingFile, queue: Receiver<Message>, mut reporter: Reporter) {
    while let Ok(message) = queue.recv() {
        match message {
            Message::Line(line) => {
                if let Err(e) = file.write_line(&line) {
                    reporter.error(&e);
                }
                reporter.drops();
            }
            Message::Shutdown => break,
        }
    }
    if let Err(e) = file.file.sync_data() {
        reporter.error(&e);
    }
}

/// Opens `path` (a clear error naming it if that fails) and starts the writer thread.
pub fn spawn(path: &Path, policy: RotationPolicy) -> io::Result<(LogFileWriter, LogFileGuard)> {
    let file = RotatingFile::open(path, policy)?;
    let (tx, rx) = sync_channel(QUEUE_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let reporter = Reporter { path: path.to_path_buf(), last: None, suppressed: 0, dropped: Arc::clone(&dropped) };
    let thread = std::thread::Builder::new().name("llmserve-log-file".into()).spawn(move || run_writer(file, rx, reporter))?;
    Ok((LogFileWriter { queue: tx.clone(), dropped }, LogFileGuard { queue: tx, thread: Some(thread) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_bytes: u64, keep: u32) -> RotationPolicy {
        RotationPolicy { max_bytes, keep }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// A line of exactly `len` bytes (newline included) tagged `tag`.
    fn line(tag: char, len: usize) -> Vec<u8> {
        let mut l = vec![tag as u8; len - 1];
        l.push(b'\n');
        l
    }

    #[test]
    fn fills_to_exactly_max_then_rotates_one_byte_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut f = RotatingFile::open(&path, policy(100, 3)).unwrap();
        f.write_line(&line('a', 60)).unwrap();
        f.write_line(&line('b', 40)).unwrap(); // exactly 100: no rotation
        assert_eq!(f.size(), 100);
        assert!(!rotated_path(&path, 1).exists());
        f.write_line(&line('c', 1)).unwrap(); // 101 > 100: rotate first
        assert_eq!(read(&rotated_path(&path, 1)).len(), 100);
        assert_eq!(read(&path), "\n");
        // One byte over from the start of a file.
        let mut g = RotatingFile::open(&dir.path().join("g"), policy(100, 3)).unwrap();
        g.write_line(&line('a', 60)).unwrap();
        g.write_line(&line('b', 41)).unwrap();
        assert_eq!(read(&rotated_path(&dir.path().join("g"), 1)), String::from_utf8(line('a', 60)).unwrap());
        assert_eq!(g.size(), 41);
    }

    #[test]
    fn keeps_at_most_keep_rotated_files_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut f = RotatingFile::open(&path, policy(10, 2)).unwrap();
        for tag in ['a', 'b', 'c', 'd', 'e'] {
            f.write_line(&line(tag, 10)).unwrap();
        }
        assert_eq!(read(&path), "eeeeeeeee\n");
        assert_eq!(read(&rotated_path(&path, 1)), "ddddddddd\n");
        assert_eq!(read(&rotated_path(&path, 2)), "ccccccccc\n");
        assert!(!rotated_path(&path, 3).exists());
        // keep = 0: the file starts again, nothing rotated is kept.
        let p0 = dir.path().join("zero");
        let mut z = RotatingFile::open(&p0, policy(10, 0)).unwrap();
        z.write_line(&line('a', 10)).unwrap();
        z.write_line(&line('b', 10)).unwrap();
        assert_eq!(read(&p0), "bbbbbbbbb\n");
        assert!(!rotated_path(&p0, 1).exists());
    }

    #[test]
    fn resumes_from_an_existing_files_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        std::fs::write(&path, line('x', 90)).unwrap();
        let mut f = RotatingFile::open(&path, policy(100, 3)).unwrap();
        assert_eq!(f.size(), 90);
        f.write_line(&line('a', 10)).unwrap();
        assert!(!rotated_path(&path, 1).exists(), "90 + 10 fits");
        f.write_line(&line('b', 10)).unwrap();
        let old = read(&rotated_path(&path, 1));
        assert_eq!(old.len(), 100);
        assert!(old.starts_with("xxx") && old.ends_with("aaaaaaaaa\n"));
        assert_eq!(read(&path), "bbbbbbbbb\n");
    }

    #[test]
    fn a_line_larger_than_max_goes_whole_into_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut f = RotatingFile::open(&path, policy(100, 5)).unwrap();
        f.write_line(&line('a', 10)).unwrap();
        f.write_line(&line('B', 250)).unwrap();
        f.write_line(&line('c', 10)).unwrap();
        assert_eq!(read(&rotated_path(&path, 2)), String::from_utf8(line('a', 10)).unwrap());
        assert_eq!(read(&rotated_path(&path, 1)), String::from_utf8(line('B', 250)).unwrap());
        assert_eq!(read(&path), String::from_utf8(line('c', 10)).unwrap());
        // Into an empty file it goes without rotating (no empty rotated file).
        let p2 = dir.path().join("big");
        let mut g = RotatingFile::open(&p2, policy(100, 5)).unwrap();
        g.write_line(&line('B', 250)).unwrap();
        assert!(!rotated_path(&p2, 1).exists());
    }

    #[test]
    fn opening_in_a_missing_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        assert!(spawn(&dir.path().join("missing/log.json"), policy(4096, 1)).is_err());
    }

    #[test]
    fn many_threads_through_tracing_write_only_whole_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let keep = 1000;
        let (writer, guard) = spawn(&path, policy(MIN_MAX_BYTES, keep)).unwrap();
        let subscriber = tracing_subscriber::fmt().json().flatten_event(true).with_writer(writer).finish();
        let threads = 8;
        let per_thread = 300;
        tracing::subscriber::with_default(subscriber, || {
            let dispatch = tracing::dispatcher::get_default(|d| d.clone());
            std::thread::scope(|s| {
                for t in 0..threads {
                    let dispatch = dispatch.clone();
                    s.spawn(move || {
                        tracing::dispatcher::with_default(&dispatch, || {
                            for i in 0..per_thread {
                                tracing::info!(target: "llmserve::request", thread = t, i, padding = "x".repeat(i % 97), "request finished");
                            }
                        })
                    });
                }
            });
        });
        drop(guard);
        let mut seen = std::collections::HashSet::new();
        let mut files = 0;
        for n in 0..=keep {
            let p = if n == 0 { path.clone() } else { rotated_path(&path, n) };
            let Ok(text) = std::fs::read_to_string(&p) else { continue };
            files += 1;
            assert!(text.ends_with('\n'), "{} ends mid-line", p.display());
            assert!(text.len() as u64 <= MIN_MAX_BYTES, "{} is {} bytes", p.display(), text.len());
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
                assert_eq!(v["message"], "request finished");
                assert!(seen.insert((v["thread"].as_u64().unwrap(), v["i"].as_u64().unwrap())), "duplicate {l}");
            }
        }
        assert!(files > 10, "expected many rotations, got {files} files");
        assert_eq!(seen.len(), threads * per_thread, "every line written exactly once");
    }
}
