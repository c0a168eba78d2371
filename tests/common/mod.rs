//! Helpers shared by the binary's integration tests: the real `llmserve serve` on a free port.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The `llmserve` binary under test.
pub fn llmserve() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llmserve"))
}

/// The server on a free port; killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `llmserve serve` on `model` (2 threads, JSON logs) with `extra` flags; returns once it logs its
/// address (at most 2 minutes).
pub fn start_server(model: &Path, extra: &[&str]) -> Server {
    let mut child = llmserve()
        .args(["serve", "--port", "0", "--threads", "2", "--log-format", "json", "--model"])
        .arg(model)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["message"] == "llmserve listening" {
                    let _ = tx.send(v["address"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(120)).expect("the server logs its address within 2 minutes");
    Server { child, url }
}
