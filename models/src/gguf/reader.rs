//! GGUF reader: memory-maps a file, validates its header and exposes metadata and tensors.
//!
//! Follows ggml's `docs/gguf.md` for versions 2 and 3 (identical on disk for little-endian files; v1,
//! with 32-bit counts, is refused, as are big-endian files). Nothing in the file is trusted: every read
//! is bounds-checked against the mapped bytes, every length or count is bounded by the bytes left in the
//! file before anything is allocated, arrays nest at most [`MAX_ARRAY_DEPTH`] deep, and tensor infos are
//! checked for type, rank, dimensions, whole quantization blocks, alignment, duplicates, range and
//! overlap. Errors name the file, the key or tensor, and what was expected.
//!
//! Cost: O(header bytes) to parse plus O(t log t) for the overlap check over t tensors. Tensor data is
//! never read here: tensors are [`WeightTensor::mapped`] views of the shared map.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use llmserve_kernels::DType;
use memmap2::Mmap;

use super::metadata::{GgufMetadata, GgufValue};
use super::{
    align_up, value_min_bytes, value_type_name, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH, MAX_DIMS,
};
use crate::error::ModelError;
use crate::tensor::{tensor_byte_len, TensorStore, WeightTensor};

/// An opened GGUF file.
#[derive(Debug, Clone)]
pub struct GgufFile {
    /// The file, named in every later error (e.g. a tensor the architecture needs but the file lacks).
    pub path: PathBuf,
    /// Format version: 2 or 3.
    pub version: u32,
    /// Alignment of the data section and of each tensor offset (`general.alignment`, default 32).
    pub alignment: usize,
    /// Byte offset of the tensor data section: end of the tensor infos rounded up to `alignment`.
    pub data_offset: usize,
    /// Every key/value pair of the header.
    pub metadata: GgufMetadata,
    /// Every tensor, mapped (not copied) from the file, shapes outermost first.
    pub tensors: TensorStore,
}

impl GgufFile {
    /// Opens, maps and validates a GGUF file.
    pub fn open(path: &Path) -> Result<GgufFile, ModelError> {
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
        if file_len == 0 {
            return Err(truncated(path, "the GGUF magic".into(), 0, 4, 0));
        }
        // SAFETY: the map is read-only and its bytes are only read through bounds-checked slices. As with
        // every memory-mapped loader, another process truncating or rewriting the file while it is mapped
        // is outside what we can guard against; model files are not modified in place while served.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))?;
        let map = Arc::new(map);
        let layout = parse_layout(path, &map)?;
        let mut tensors = TensorStore::new(path);
        for info in layout.tensors {
            tensors.insert(WeightTensor::mapped(
                info.name,
                info.dtype,
                info.shape,
                Arc::clone(&map),
                info.start,
                info.len,
            ))?;
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            version: layout.version,
            alignment: layout.alignment,
            data_offset: layout.data_offset,
            metadata: layout.metadata,
            tensors,
        })
    }
}

/// One validated tensor info with its absolute byte range.
struct TensorInfo {
    name: String,
    dtype: DType,
    /// Outermost first.
    shape: Vec<usize>,
    /// Absolute byte offset in the file.
    start: usize,
    len: usize,
}

/// Everything the header says, validated against `bytes.len()`.
struct Layout {
    version: u32,
    alignment: usize,
    data_offset: usize,
    metadata: GgufMetadata,
    tensors: Vec<TensorInfo>,
}

fn truncated(path: &Path, what: String, start: u64, end: u64, file_len: u64) -> ModelError {
    ModelError::Truncated { path: path.to_path_buf(), what, start, end, file_len }
}

fn bad_format(path: &Path, reason: String) -> ModelError {
    ModelError::BadFormat { path: path.to_path_buf(), expected: "GGUF".into(), reason }
}

fn bad_meta(path: &Path, key: &str, reason: String) -> ModelError {
    ModelError::BadMetadata { path: path.to_path_buf(), key: key.to_string(), reason }
}

fn bad_tensor(path: &Path, tensor: &str, reason: String) -> ModelError {
    ModelError::BadTensor { path: path.to_path_buf(), tensor: tensor.to_string(), reason }
}

/// Bounds-checked little-endian reads over the mapped bytes.
struct Cursor<'a> {
    path: &'a Path,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes; a `Truncated` error built from `what` if the file ends first.
    fn take(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], ModelError> {
        let start = self.pos;
        match start.checked_add(n).and_then(|end| self.data.get(start..end)) {
            Some(bytes) => {
                self.pos = start + n;
                Ok(bytes)
            }
            None => Err(truncated(
                self.path,
                what(),
                start as u64,
                (start as u64).saturating_add(n as u64),
                self.data.len() as u64,
            )),
        }
    }

    fn array<const N: usize>(&mut self, what: impl FnOnce() -> String) -> Result<[u8; N], ModelError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, ModelError> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, ModelError> {
        self.array::<8>(what).map(u64::from_le_bytes)
    }

    /// A GGUF string's raw bytes: `u64` length, then that many bytes (bounded by the file size).
    fn string_bytes(&mut self, what: &dyn Fn() -> String) -> Result<&'a [u8], ModelError> {
        let len = self.u64(|| format!("{}: string length", what()))?;
        let start = self.pos;
        if len > self.remaining() as u64 {
            return Err(truncated(
                self.path,
                format!("{}: string of {len} bytes", what()),
                start as u64,
                (start as u64).saturating_add(len),
                self.data.len() as u64,
            ));
        }
        // `len` fits: it is at most `remaining()`, a usize.
        self.take(len as usize, || format!("{}: string of {len} bytes", what()))
    }
}

/// Parses and validates the whole header of `bytes` (a complete GGUF file).
fn parse_layout(path: &Path, bytes: &[u8]) -> Result<Layout, ModelError> {
    let mut c = Cursor { path, data: bytes, pos: 0 };
    let magic = c.array::<4>(|| "the GGUF magic".into())?;
    if magic != MAGIC {
        let hint = if bytes.get(8) == Some(&b'{') { " (this looks like a safetensors file)" } else { "" };
        return Err(bad_format(
            path,
            format!("magic bytes are {magic:02x?}, expected \"GGUF\" [47, 47, 55, 46]{hint}"),
        ));
    }
    let version = c.u32(|| "header: version".into())?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                what: "GGUF version".into(),
                found: "1 (the pre-release format with 32-bit lengths; re-convert the model)".into(),
                supported: "2, 3".into(),
            })
        }
        v if matches!(v.swap_bytes(), 1..=3) => {
            return Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                what: "byte order".into(),
                found: format!("big-endian GGUF v{} (version field reads {v:#010x} little-endian)", v.swap_bytes()),
                supported: "little-endian GGUF".into(),
            })
        }
        v => {
            return Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                what: "GGUF version".into(),
                found: v.to_string(),
                supported: "2, 3".into(),
            })
        }
    }
    let tensor_count = c.u64(|| "header: tensor count".into())?;
    let kv_count = c.u64(|| "header: metadata key/value count".into())?;

    let mut metadata = GgufMetadata::new(path);
    for i in 0..kv_count {
        // No up-front bound on the counts is needed: each pair consumes at least 13 bytes or fails.
        let key_bytes = c.string_bytes(&|| format!("metadata pair #{i} of {kv_count}: key"))?;
        let key = std::str::from_utf8(key_bytes)
            .map_err(|e| bad_format(path, format!("metadata pair #{i} of {kv_count}: key is not valid UTF-8: {e}")))?
            .to_string();
        let type_id = c.u32(|| format!("metadata key `{key}`: value type"))?;
        let value = read_value(&mut c, &key, type_id, 0, &|| String::new())?;
        if metadata.values.insert(key.clone(), value).is_some() {
            return Err(bad_meta(path, &key, "defined twice; expected each key once".into()));
        }
    }

    let alignment = match metadata.get(ALIGNMENT_KEY) {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_integer() {
            Some(a) if a > 0 && (a as u128).is_power_of_two() && a <= u32::MAX as i128 => a as usize,
            Some(a) => {
                return Err(bad_meta(path, ALIGNMENT_KEY, format!("expected a power of two, found {a}")));
            }
            None => {
                return Err(bad_meta(
                    path,
                    ALIGNMENT_KEY,
                    format!("expected a u32 power of two, found a {}", v.type_name()),
                ));
            }
        },
    };

    let mut infos = Vec::with_capacity((tensor_count as usize).min(1 << 16));
    let mut seen: HashMap<String, u64> = HashMap::new();
    for i in 0..tensor_count {
        let (info, offset) = read_tensor_info(&mut c, i, tensor_count, alignment)?;
        if let Some(first) = seen.insert(info.name.clone(), i) {
            return Err(bad_tensor(
                path,
                &info.name,
                format!("defined twice (tensor infos #{first} and #{i}); expected unique names"),
            ));
        }
        infos.push((info, offset));
    }

    let header_end = c.pos;
    let data_offset = align_up(header_end, alignment).ok_or_else(|| {
        bad_format(path, format!("data section offset overflows ({header_end} aligned to {alignment})"))
    })?;
    let file_len = bytes.len();
    let mut tensors = Vec::with_capacity(infos.len());
    for (mut info, offset) in infos {
        let start = usize::try_from(offset).ok().and_then(|o| o.checked_add(data_offset));
        let end = start.and_then(|s| s.checked_add(info.len));
        match (start, end) {
            (Some(start), Some(end)) if end <= file_len => info.start = start,
            _ => {
                let start = (data_offset as u64).saturating_add(offset);
                return Err(truncated(
                    path,
                    format!(
                        "data of tensor `{}` ({} {:?}, {} bytes at offset {offset} of the data section at {data_offset})",
                        info.name, info.dtype, info.shape, info.len
                    ),
                    start,
                    start.saturating_add(info.len as u64),
                    file_len as u64,
                ));
            }
        }
        tensors.push(info);
    }
    check_overlaps(path, &tensors)?;
    Ok(Layout { version, alignment, data_offset, metadata, tensors })
}

/// Reads one metadata value of `type_id`. `loc` says where inside the key's value we are (array indices).
fn read_value(
    c: &mut Cursor<'_>,
    key: &str,
    type_id: u32,
    depth: usize,
    loc: &dyn Fn() -> String,
) -> Result<GgufValue, ModelError> {
    let what = || format!("metadata key `{key}`{}", loc());
    Ok(match type_id {
        0 => GgufValue::U8(c.array::<1>(what)?[0]),
        1 => GgufValue::I8(i8::from_le_bytes(c.array::<1>(what)?)),
        2 => GgufValue::U16(u16::from_le_bytes(c.array::<2>(what)?)),
        3 => GgufValue::I16(i16::from_le_bytes(c.array::<2>(what)?)),
        4 => GgufValue::U32(u32::from_le_bytes(c.array::<4>(what)?)),
        5 => GgufValue::I32(i32::from_le_bytes(c.array::<4>(what)?)),
        6 => GgufValue::F32(f32::from_le_bytes(c.array::<4>(what)?)),
        7 => match c.array::<1>(what)?[0] {
            0 => GgufValue::Bool(false),
            1 => GgufValue::Bool(true),
            b => return Err(bad_meta(c.path, key, format!("{}bool byte is {b}, expected 0 or 1", at(loc)))),
        },
        8 => {
            let bytes = c.string_bytes(&what)?;
            let s = std::str::from_utf8(bytes)
                .map_err(|e| bad_meta(c.path, key, format!("{}string is not valid UTF-8: {e}", at(loc))))?;
            GgufValue::String(s.to_string())
        }
        9 => {
            if depth + 1 > MAX_ARRAY_DEPTH {
                return Err(bad_meta(
                    c.path,
                    key,
                    format!("{}arrays nest deeper than {MAX_ARRAY_DEPTH} levels", at(loc)),
                ));
            }
            let element_type = c.u32(|| format!("{}: array element type", what()))?;
            let Some(type_name) = value_type_name(element_type) else {
                return Err(bad_meta(
                    c.path,
                    key,
                    format!("{}unknown array element type id {element_type} (expected 0..=12)", at(loc)),
                ));
            };
            let count = c.u64(|| format!("{}: array length", what()))?;
            let min = value_min_bytes(element_type) as u128;
            if count as u128 * min > c.remaining() as u128 {
                let start = c.pos as u64;
                return Err(truncated(
                    c.path,
                    format!("{}: array of {count} {type_name} values (at least {min} bytes each)", what()),
                    start,
                    (start as u128 + count as u128 * min).min(u64::MAX as u128) as u64,
                    c.data.len() as u64,
                ));
            }
            // `count` elements fit in the file, so `count` fits in usize.
            let count = count as usize;
            let mut values = Vec::with_capacity(count.min(1 << 20));
            for i in 0..count {
                let inner = || format!("{}[{i}]", loc());
                values.push(read_value(c, key, element_type, depth + 1, &inner)?);
            }
            GgufValue::Array { element_type, values }
        }
        10 => GgufValue::U64(u64::from_le_bytes(c.array::<8>(what)?)),
        11 => GgufValue::I64(i64::from_le_bytes(c.array::<8>(what)?)),
        12 => GgufValue::F64(f64::from_le_bytes(c.array::<8>(what)?)),
        other => {
            return Err(bad_meta(
                c.path,
                key,
                format!(
                    "{}unknown value type id {other} (expected 0..=12: u8, i8, u16, i16, u32, i32, f32, bool, string, array, u64, i64, f64)",
                    at(loc)
                ),
            ))
        }
    })
}

/// "element [3][1]: " for errors inside arrays, "" at the top level.
fn at(loc: &dyn Fn() -> String) -> String {
    let l = loc();
    if l.is_empty() {
        l
    } else {
        format!("element {l}: ")
    }
}

/// Reads and validates tensor info #`i`; returns it (start not yet known) with its relative offset.
fn read_tensor_info(c: &mut Cursor<'_>, i: u64, count: u64, alignment: usize) -> Result<(TensorInfo, u64), ModelError> {
    let path = c.path;
    let name_bytes = c.string_bytes(&|| format!("tensor info #{i} of {count}: name"))?;
    let name = std::str::from_utf8(name_bytes)
        .map_err(|e| bad_format(path, format!("tensor info #{i} of {count}: name is not valid UTF-8: {e}")))?
        .to_string();
    let n_dims = c.u32(|| format!("tensor `{name}` info: n_dims"))?;
    if n_dims == 0 || n_dims as usize > MAX_DIMS {
        return Err(bad_tensor(path, &name, format!("has {n_dims} dimensions; expected 1 to {MAX_DIMS}")));
    }
    let mut ne = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        let dim = c.u64(|| format!("tensor `{name}` info: dimension {d}"))?;
        if dim == 0 {
            return Err(bad_tensor(path, &name, format!("dimension {d} (ne[{d}]) is 0; expected at least 1")));
        }
        let dim = usize::try_from(dim)
            .map_err(|_| bad_tensor(path, &name, format!("dimension {d} (ne[{d}]) = {dim} does not fit in usize")))?;
        ne.push(dim);
    }
    let type_id = c.u32(|| format!("tensor `{name}` info: type"))?;
    let offset = c.u64(|| format!("tensor `{name}` info: data offset"))?;
    let dtype = DType::from_ggml_type_id(type_id).ok_or_else(|| ModelError::Unsupported {
        path: path.to_path_buf(),
        what: format!("type of tensor `{name}`"),
        found: format!("{} (ggml type {type_id})", DType::ggml_type_name(type_id)),
        supported: DType::ALL.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
    })?;
    let shape: Vec<usize> = ne.iter().rev().copied().collect();
    if ne.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).is_none() {
        return Err(bad_tensor(path, &name, format!("element count of shape {shape:?} overflows")));
    }
    let len = tensor_byte_len(dtype, &shape).map_err(|e| bad_tensor(path, &name, format!("{dtype} {shape:?}: {e}")))?;
    // `alignment` is a power of two.
    if offset & (alignment as u64 - 1) != 0 {
        return Err(bad_tensor(
            path,
            &name,
            format!("data offset {offset} is not a multiple of the alignment {alignment}"),
        ));
    }
    Ok((TensorInfo { name, dtype, shape, start: 0, len }, offset))
}

/// Tensor byte ranges must not overlap.
fn check_overlaps(path: &Path, tensors: &[TensorInfo]) -> Result<(), ModelError> {
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| (t.start, t.len));
    for pair in order.windows(2) {
        if let [a, b] = pair {
            if a.start + a.len > b.start {
                return Err(bad_tensor(
                    path,
                    &b.name,
                    format!(
                        "data bytes {}..{} overlap tensor `{}` at {}..{}; expected disjoint ranges",
                        b.start,
                        b.start + b.len,
                        a.name,
                        a.start,
                        a.start + a.len
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufWriter;

    /// Builds GGUF bytes by hand, so tests can write what no valid writer would.
    #[derive(Default)]
    struct Raw(Vec<u8>);

    impl Raw {
        /// Magic, version, counts.
        fn header(version: u32, tensors: u64, kvs: u64) -> Raw {
            let mut r = Raw(b"GGUF".to_vec());
            r.u32(version).u64(tensors).u64(kvs);
            r
        }
        fn u32(&mut self, v: u32) -> &mut Raw {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u64(&mut self, v: u64) -> &mut Raw {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn bytes(&mut self, b: &[u8]) -> &mut Raw {
            self.0.extend_from_slice(b);
            self
        }
        fn str(&mut self, s: &str) -> &mut Raw {
            self.u64(s.len() as u64).bytes(s.as_bytes())
        }
        /// A key with a u32 value.
        fn kv_u32(&mut self, key: &str, v: u32) -> &mut Raw {
            self.str(key).u32(4).u32(v)
        }
        /// A tensor info; `ne` innermost first, as on disk.
        fn info(&mut self, name: &str, ne: &[u64], ggml_type: u32, offset: u64) -> &mut Raw {
            self.str(name).u32(ne.len() as u32);
            for &d in ne {
                self.u64(d);
            }
            self.u32(ggml_type).u64(offset)
        }
        /// Zero padding up to a multiple of 32.
        fn pad(&mut self) -> &mut Raw {
            let target = self.0.len().next_multiple_of(32);
            self.0.resize(target, 0);
            self
        }
    }

    /// Writes `bytes` to `name` in a fresh temp dir and opens it; the error text must name the file.
    fn open_err(bytes: &[u8]) -> (ModelError, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crafted.gguf");
        std::fs::write(&path, bytes).unwrap();
        let err = GgufFile::open(&path).expect_err("crafted file must be refused");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "error does not name the file: {msg}");
        (err, msg)
    }

    fn assert_contains(msg: &str, parts: &[&str]) {
        for p in parts {
            assert!(msg.contains(p), "error `{msg}` lacks `{p}`");
        }
    }

    /// A small valid file: two metadata keys, an F32 [2, 8] tensor (64 bytes, so the file ends exactly
    /// at the end of its data) and a Q8_0 [1, 32] tensor before it.
    fn small_valid() -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.gguf");
        let mut w = GgufWriter::new();
        w.set_metadata("general.architecture", GgufValue::String("llama".into()))
            .set_metadata("llama.block_count", GgufValue::U32(2));
        w.add_tensor_bytes("q", DType::Q8_0, vec![1, 32], vec![7; 34]).unwrap();
        w.add_tensor_bytes("w", DType::F32, vec![2, 8], (0..64).collect()).unwrap();
        w.write(&path).unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn small_valid_file_opens() {
        let bytes = small_valid();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok.gguf");
        std::fs::write(&path, &bytes).unwrap();
        let f = GgufFile::open(&path).unwrap();
        assert_eq!((f.version, f.alignment, f.tensors.len()), (3, 32, 2));
        assert_eq!(f.data_offset % 32, 0);
        let w = f.tensors.get("w").unwrap();
        assert_eq!((w.dtype, w.shape.as_slice()), (DType::F32, &[2usize, 8][..]));
        assert_eq!(w.bytes(), (0..64).collect::<Vec<u8>>().as_slice());
        assert_eq!(bytes.len(), f.data_offset + 64 + 64, "Q8_0 block padded to 64, then 64 bytes of F32");
    }

    #[test]
    fn bad_magic() {
        let mut bytes = small_valid();
        bytes[..4].copy_from_slice(b"GGML");
        let (err, msg) = open_err(&bytes);
        assert!(matches!(err, ModelError::BadFormat { .. }));
        assert_contains(&msg, &["magic", "expected \"GGUF\""]);
        let (_, msg) = open_err(b"");
        assert_contains(&msg, &["truncated", "GGUF magic", "0..4"]);
    }

    #[test]
    fn version_1_and_unknown_versions_are_unsupported() {
        let (err, msg) = open_err(&Raw::header(1, 0, 0).0);
        assert!(matches!(err, ModelError::Unsupported { .. }));
        assert_contains(&msg, &["GGUF version", "1 (", "supported: 2, 3"]);
        let (_, msg) = open_err(&Raw::header(7, 0, 0).0);
        assert_contains(&msg, &["GGUF version: 7", "supported: 2, 3"]);
    }

    #[test]
    fn big_endian_is_refused_clearly() {
        let mut r = Raw(b"GGUF".to_vec());
        r.bytes(&3u32.to_be_bytes()).bytes(&0u64.to_be_bytes()).bytes(&0u64.to_be_bytes());
        let (_, msg) = open_err(&r.0);
        assert_contains(&msg, &["big-endian GGUF v3", "supported: little-endian"]);
    }

    #[test]
    fn version_2_is_read() {
        let mut r = Raw::header(2, 0, 1);
        r.kv_u32("llama.block_count", 30);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.gguf");
        std::fs::write(&path, &r.0).unwrap();
        let f = GgufFile::open(&path).unwrap();
        assert_eq!(f.version, 2);
        assert_eq!(f.metadata.require_u64("llama.block_count").unwrap(), 30);
    }

    #[test]
    fn truncated_inside_header() {
        let bytes = small_valid();
        let (err, msg) = open_err(&bytes[..12]);
        assert!(matches!(err, ModelError::Truncated { start: 8, end: 16, file_len: 12, .. }), "{msg}");
        assert_contains(&msg, &["header: tensor count", "needs bytes 8..16", "has 12 bytes"]);
    }

    #[test]
    fn truncated_inside_metadata_string() {
        let mut r = Raw::header(3, 0, 1);
        r.str("general.name").u32(8).u64(100).bytes(b"Smol");
        let (err, msg) = open_err(&r.0);
        assert!(matches!(err, ModelError::Truncated { .. }));
        assert_contains(&msg, &["metadata key `general.name`", "string of 100 bytes", "needs bytes"]);
        // Also cut inside a real file's first value ("llama", after the key and its type).
        let bytes = small_valid();
        let cut = 24 + 8 + "general.architecture".len() + 4 + 8 + 2;
        let (_, msg) = open_err(&bytes[..cut]);
        assert_contains(&msg, &["metadata key `general.architecture`", "string of 5 bytes"]);
    }

    #[test]
    fn huge_string_length_is_refused_without_allocating() {
        let mut r = Raw::header(3, 0, 1);
        r.str("tokenizer.chat_template").u32(8).u64(u64::MAX / 2).bytes(b"{{ x }}");
        let (_, msg) = open_err(&r.0);
        assert_contains(&msg, &["tokenizer.chat_template", &format!("string of {} bytes", u64::MAX / 2)]);
        // A huge key length too.
        let mut r = Raw::header(3, 0, 1);
        r.u64(1 << 40).bytes(&[b'k'; 20]);
        let (_, msg) = open_err(&r.0);
        assert_contains(&msg, &["metadata pair #0 of 1: key", "string of 1099511627776 bytes"]);
    }

    #[test]
    fn absurd_counts_are_refused() {
        let (_, msg) = open_err(&Raw::header(3, u64::MAX, u64::MAX).0);
        assert_contains(&msg, &["metadata pair #0 of 18446744073709551615", "truncated"]);
        let (_, msg) = open_err(&Raw::header(3, u64::MAX, 0).0);
        assert_contains(&msg, &["tensor info #0 of 18446744073709551615", "truncated"]);
        let mut r = Raw::header(3, 0, 1);
        r.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(1 << 50).bytes(&[0; 64]);
        let (_, msg) = open_err(&r.0);
        assert_contains(&msg, &["tokenizer.ggml.tokens", "array of 1125899906842624 string values"]);
    }

    #[test]
    fn unknown_metadata_value_types() {
        let mut r = Raw::header(3, 0, 1);
        r.str("general.odd").u32(13).u32(0);
        let (err, msg) = open_err(&r.0);
        assert!(matches!(err, ModelError::BadMetadata { .. }));
        assert_contains(&msg, &["general.odd", "unknown value type id 13", "expected 0..=12"]);
        let mut r = Raw::header(3, 0, 1);
        r.str("general.odd_array").u32(9).u32(99).u64(1).u32(0);
        let (_, msg) = open_err(&r.0);
        assert_contains(&msg, &["general.odd_array", "unknown array element type id 99"]);
    }

    #[test]
    fn malformed_values() {
        let mut r = Raw::header(3, 0, 1);
        r.str("general.flag").u32(7).bytes(&[2]);
        assert_contains(&open_err(&r.0).1, &["general.flag", "bool byte is 2, expected 0 or 1"]);

        let mut r = Raw::header(3, 0, 1);
        r.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(2).str("ok").u64(2).bytes(&[0xff, 0xfe]);
        assert_contains(&open_err(&r.0).1, &["tokenizer.ggml.tokens", "element [1]", "not valid UTF-8"]);

        let mut r = Raw::header(3, 0, 2);
        r.kv_u32("llama.block_count", 1).kv_u32("llama.block_count", 2);
        assert_contains(&open_err(&r.0).1, &["llama.block_count", "defined twice"]);

        let mut r = Raw::header(3, 0, 1);
        r.str("deep").u32(9);
        for _ in 0..MAX_ARRAY_DEPTH + 1 {
            r.u32(9).u64(1);
        }
        r.u32(0).u64(0);
        assert_contains(&open_err(&r.0).1, &["deep", &format!("deeper than {MAX_ARRAY_DEPTH}")]);

        let mut r = Raw::header(3, 0, 1);
        r.kv_u32(ALIGNMENT_KEY, 48);
        assert_contains(&open_err(&r.0).1, &[ALIGNMENT_KEY, "expected a power of two, found 48"]);
    }

    #[test]
    fn truncated_inside_tensor_infos() {
        let bytes = small_valid();
        // Tensor info "w" starts with its name: u64 length 1, then b"w".
        let needle = [1, 0, 0, 0, 0, 0, 0, 0, b'w'];
        let at = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
        let (err, msg) = open_err(&bytes[..at + 9 + 4 + 3]);
        assert!(matches!(err, ModelError::Truncated { .. }), "{msg}");
        assert_contains(&msg, &["tensor `w` info: dimension 0", "needs bytes"]);
        let (_, msg) = open_err(&bytes[..at + 4]);
        assert_contains(&msg, &["tensor info #1 of 2: name"]);
    }

    #[test]
    fn truncated_inside_tensor_data() {
        let bytes = small_valid();
        let (err, msg) = open_err(&bytes[..bytes.len() - 10]);
        let len = bytes.len() as u64;
        assert!(matches!(err, ModelError::Truncated { end, .. } if end == len), "{msg}");
        assert_contains(&msg, &["data of tensor `w`", "F32 [2, 8], 64 bytes", &format!("has {} bytes", len - 10)]);
    }

    fn one_tensor(ne: &[u64], ggml_type: u32, offset: u64, data: usize) -> Vec<u8> {
        let mut r = Raw::header(3, 1, 0);
        r.info("blk.0.attn_q.weight", ne, ggml_type, offset).pad().bytes(&vec![0; data]);
        r.0
    }

    #[test]
    fn unsupported_tensor_type_names_it_and_the_supported_ones() {
        let (err, msg) = open_err(&one_tensor(&[256, 1], 13, 0, 176));
        assert!(matches!(err, ModelError::Unsupported { .. }));
        assert_contains(
            &msg,
            &[
                "type of tensor `blk.0.attn_q.weight`",
                "Q5_K (ggml type 13)",
                "supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K",
            ],
        );
    }

    #[test]
    fn bad_tensor_shapes() {
        let (_, msg) = open_err(&one_tensor(&[1, 1, 1, 1, 1], 0, 0, 4));
        assert_contains(&msg, &["blk.0.attn_q.weight", "has 5 dimensions; expected 1 to 4"]);
        let (_, msg) = open_err(&one_tensor(&[], 0, 0, 4));
        assert_contains(&msg, &["blk.0.attn_q.weight", "has 0 dimensions"]);
        let (_, msg) = open_err(&one_tensor(&[4, 0], 0, 0, 4));
        assert_contains(&msg, &["blk.0.attn_q.weight", "dimension 1 (ne[1]) is 0"]);
        let (_, msg) = open_err(&one_tensor(&[1 << 40, 1 << 40], 0, 0, 4));
        assert_contains(&msg, &["blk.0.attn_q.weight", "overflows"]);
        let (_, msg) = open_err(&one_tensor(&[33, 2], 2, 0, 64));
        assert_contains(&msg, &["blk.0.attn_q.weight", "row length 33 is not a multiple of the Q4_0 block size 32"]);
    }

    #[test]
    fn misaligned_offset() {
        let (_, msg) = open_err(&one_tensor(&[4], 0, 4, 64));
        assert_contains(&msg, &["blk.0.attn_q.weight", "data offset 4 is not a multiple of the alignment 32"]);
    }

    #[test]
    fn tensor_past_eof() {
        let (err, msg) = open_err(&one_tensor(&[4], 0, 1024, 64));
        assert!(matches!(err, ModelError::Truncated { .. }));
        assert_contains(&msg, &["data of tensor `blk.0.attn_q.weight`", "F32 [4], 16 bytes at offset 1024"]);
        let (_, msg) = open_err(&one_tensor(&[4], 0, u64::MAX - 31, 64));
        assert_contains(&msg, &["data of tensor `blk.0.attn_q.weight`"]);
    }

    #[test]
    fn duplicate_and_overlapping_tensors() {
        let mut r = Raw::header(3, 2, 0);
        r.info("output.weight", &[8], 0, 0).info("output.weight", &[8], 0, 32).pad().bytes(&[0; 64]);
        let (_, msg) = open_err(&r.0);
        assert_contains(&msg, &["output.weight", "defined twice (tensor infos #0 and #1)"]);
        let mut r = Raw::header(3, 2, 0);
        r.info("a", &[16], 0, 0).info("b", &[8], 0, 32).pad().bytes(&[0; 64]);
        let (_, msg) = open_err(&r.0);
        assert_contains(&msg, &["tensor `b`", "overlap tensor `a`", "expected disjoint"]);
    }

    /// Every prefix of a valid file is refused with an error, never a panic.
    #[test]
    fn every_truncation_is_an_error() {
        let bytes = small_valid();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.gguf");
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            std::fs::write(&path, cut).unwrap();
            let result = std::panic::catch_unwind(|| GgufFile::open(&path).map(|_| ()));
            match result {
                Ok(Err(e)) => assert!(e.to_string().contains("cut.gguf"), "{e}"),
                Ok(Ok(())) => panic!("a file cut at {len} of {} bytes was accepted", bytes.len()),
                Err(_) => panic!("panic on a file cut at {len} bytes"),
            }
            assert!(parse_layout(&path, cut).is_err());
        }
    }

    /// Flipping any single byte of the header never panics (it may still parse).
    #[test]
    fn corrupted_header_bytes_never_panic() {
        let bytes = small_valid();
        let path = Path::new("corrupt.gguf");
        for i in 0..bytes.len().min(400) {
            for v in [0u8, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = parse_layout(path, &b);
            }
        }
    }

    #[test]
    fn default_model_header() {
        let Some(path) = crate::default_model::for_tests() else { return };
        let f = GgufFile::open(&path).unwrap();
        assert_eq!(f.version, 3);
        assert_eq!(f.tensors.len(), 272);
        assert_eq!(f.metadata.require_u64("llama.block_count").unwrap(), 30);
        let emb = f.tensors.get("token_embd.weight").unwrap();
        assert_eq!((emb.dtype, emb.shape.as_slice()), (DType::Q8_0, &[49152usize, 576][..]));
        let down = f.tensors.get("blk.0.ffn_down.weight").unwrap();
        assert_eq!((down.dtype, down.shape.as_slice()), (DType::Q4_1, &[576usize, 1536][..]));
        assert_eq!(f.metadata.require_string_array("tokenizer.ggml.tokens").unwrap().len(), 49152);
    }
}
