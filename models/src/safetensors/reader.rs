//! safetensors reader: one file ([`SafetensorsFile::open`]) or a Hugging Face model directory
//! ([`load_safetensors_dir`]).
//!
//! Follows the safetensors format (8-byte LE header length, JSON header, data). Nothing is trusted: the
//! header length is bounded by the file size before the header is touched, the JSON must be an object of
//! tensor entries (duplicate names are refused, which a plain JSON map would silently merge), each
//! tensor's dtype must be F32 / F16 / BF16, its `data_offsets` must lie inside the data section, span
//! exactly shape × dtype bytes and not overlap another tensor. Data need not be aligned (the kernels read
//! unaligned). Errors name the file, the tensor and what was expected.
//!
//! Directory resolution, in the order Hugging Face uses: `model.safetensors`, else
//! `model.safetensors.index.json` (its `weight_map` names the shards; every shard must exist and hold the
//! tensors the index assigns to it), else the only `*.safetensors` file. Cost: O(header bytes + t log t)
//! per file; tensor data is mapped, never read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{dtype_from_str, INDEX_FILE_NAME, METADATA_KEY, SINGLE_FILE_NAME, SUPPORTED_DTYPES};
use crate::error::ModelError;
use crate::tensor::{tensor_byte_len, TensorStore, WeightTensor};

/// One opened safetensors file.
#[derive(Debug, Clone)]
pub struct SafetensorsFile {
    /// The file, named in every error.
    pub path: PathBuf,
    /// The `__metadata__` string map (empty when absent), e.g. `{"format": "pt"}`.
    pub metadata: BTreeMap<String, String>,
    /// Every tensor, mapped from the file.
    pub tensors: TensorStore,
}

/// The JSON header as an ordered list of entries, so duplicate names are seen rather than merged.
struct HeaderEntries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for HeaderEntries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderEntries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of tensor entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderEntries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    out.push(entry);
                }
                Ok(HeaderEntries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One tensor entry of the header.
#[derive(Deserialize)]
struct TensorEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// The shard index (`model.safetensors.index.json`); other fields (`metadata.total_size`) are ignored.
#[derive(Deserialize)]
struct IndexFile {
    weight_map: BTreeMap<String, String>,
}

fn bad_format(path: &Path, reason: String) -> ModelError {
    ModelError::BadFormat { path: path.to_path_buf(), expected: "safetensors".into(), reason }
}

fn bad_tensor(path: &Path, tensor: &str, reason: String) -> ModelError {
    ModelError::BadTensor { path: path.to_path_buf(), tensor: tensor.to_string(), reason }
}

impl SafetensorsFile {
    /// Opens, maps and validates one safetensors file.
    pub fn open(path: &Path) -> Result<SafetensorsFile, ModelError> {
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
        if file_len < 8 {
            return Err(ModelError::Truncated {
                path: path.to_path_buf(),
                what: "the 8-byte header length".into(),
                start: 0,
                end: 8,
                file_len,
            });
        }
        // SAFETY: the map is read-only and only read through bounds-checked slices. Another process
        // truncating or rewriting the file while it is mapped is outside what a mapped loader can guard
        // against; checkpoint files are not modified in place while served.
        let map = Arc::new(unsafe { Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))?);
        let (metadata, infos) = parse_header(path, &map)?;
        let mut tensors = TensorStore::new(path);
        for (name, dtype, shape, start, len) in infos {
            tensors.insert(WeightTensor::mapped(name, dtype, shape, Arc::clone(&map), start, len))?;
        }
        Ok(SafetensorsFile { path: path.to_path_buf(), metadata, tensors })
    }
}

type Info = (String, llmserve_kernels::DType, Vec<usize>, usize, usize);

/// Validates the header of a complete file; returns metadata and (name, dtype, shape, start, len).
fn parse_header(path: &Path, bytes: &[u8]) -> Result<(BTreeMap<String, String>, Vec<Info>), ModelError> {
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(bytes.get(..8).ok_or_else(|| bad_format(path, "shorter than 8 bytes".into()))?);
    let header_len = u64::from_le_bytes(len_bytes);
    let rest = (bytes.len() - 8) as u64;
    if header_len > rest || header_len < 2 {
        let hint = if bytes.starts_with(b"GGUF") { " (this is a GGUF file)" } else { "" };
        return Err(bad_format(
            path,
            format!(
                "header length {header_len} (first 8 bytes, little-endian) must be between 2 and the {rest} bytes that follow{hint}"
            ),
        ));
    }
    let header_end = 8 + header_len as usize;
    let header = bytes.get(8..header_end).unwrap_or_default();
    let entries: HeaderEntries = serde_json::from_slice(header)
        .map_err(|e| bad_format(path, format!("JSON header (bytes 8..{header_end}) is invalid: {e}")))?;
    let data_len = bytes.len() - header_end;

    let mut metadata = BTreeMap::new();
    let mut infos: Vec<Info> = Vec::with_capacity(entries.0.len());
    let mut seen = BTreeSet::new();
    for (name, value) in entries.0 {
        if !seen.insert(name.clone()) {
            return Err(bad_tensor(path, &name, "appears twice in the JSON header; expected unique names".into()));
        }
        if name == METADATA_KEY {
            metadata = serde_json::from_value(value).map_err(|e| ModelError::BadMetadata {
                path: path.to_path_buf(),
                key: METADATA_KEY.into(),
                reason: format!("expected an object of string values: {e}"),
            })?;
            continue;
        }
        let entry: TensorEntry = serde_json::from_value(value).map_err(|e| {
            bad_tensor(path, &name, format!("header entry is invalid: {e} (expected {{dtype, shape, data_offsets}})"))
        })?;
        let dtype = dtype_from_str(&entry.dtype).ok_or_else(|| ModelError::Unsupported {
            path: path.to_path_buf(),
            what: format!("dtype of tensor `{name}`"),
            found: entry.dtype.clone(),
            supported: SUPPORTED_DTYPES.into(),
        })?;
        let shape = entry
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| bad_tensor(path, &name, format!("shape {:?} does not fit in usize", entry.shape)))?;
        let want =
            tensor_byte_len(dtype, &shape).map_err(|e| bad_tensor(path, &name, format!("{dtype} {shape:?}: {e}")))?;
        let [begin, end] = entry.data_offsets;
        if begin > end {
            return Err(bad_tensor(path, &name, format!("data_offsets [{begin}, {end}] run backwards")));
        }
        if end > data_len as u64 {
            return Err(ModelError::Truncated {
                path: path.to_path_buf(),
                what: format!(
                    "data of tensor `{name}` (data_offsets [{begin}, {end}] after the {header_end}-byte header)"
                ),
                start: (header_end as u64).saturating_add(begin),
                end: (header_end as u64).saturating_add(end),
                file_len: bytes.len() as u64,
            });
        }
        // Both offsets are ≤ data_len, a usize.
        let (begin, end) = (begin as usize, end as usize);
        if end - begin != want {
            return Err(bad_tensor(
                path,
                &name,
                format!("data_offsets [{begin}, {end}] span {} bytes but {dtype} {shape:?} needs {want}", end - begin),
            ));
        }
        infos.push((name, dtype, shape, header_end + begin, want));
    }

    let mut order: Vec<&Info> = infos.iter().filter(|i| i.4 > 0).collect();
    order.sort_by_key(|i| i.3);
    for pair in order.windows(2) {
        if let [a, b] = pair {
            if a.3 + a.4 > b.3 {
                return Err(bad_tensor(
                    path,
                    &b.0,
                    format!(
                        "data_offsets [{}, {}] overlap tensor `{}` at [{}, {}]; expected disjoint ranges",
                        b.3 - header_end,
                        b.3 + b.4 - header_end,
                        a.0,
                        a.3 - header_end,
                        a.3 + a.4 - header_end
                    ),
                ));
            }
        }
    }
    Ok((metadata, infos))
}

/// Loads the tensors of a Hugging Face model directory (or of one `.safetensors` file given directly).
pub fn load_safetensors_dir(dir: &Path) -> Result<TensorStore, ModelError> {
    if dir.is_file() {
        return SafetensorsFile::open(dir).map(|f| f.tensors);
    }
    let single = dir.join(SINGLE_FILE_NAME);
    if single.is_file() {
        let mut store = SafetensorsFile::open(&single)?.tensors;
        store.path = dir.to_path_buf();
        return Ok(store);
    }
    let index = dir.join(INDEX_FILE_NAME);
    if index.is_file() {
        return load_sharded(dir, &index);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let p = entry.map_err(|e| ModelError::io(dir, e))?.path();
        if p.extension().is_some_and(|e| e == "safetensors") && p.is_file() {
            found.push(p);
        }
    }
    found.sort();
    match found.as_slice() {
        [only] => {
            let mut store = SafetensorsFile::open(only)?.tensors;
            store.path = dir.to_path_buf();
            Ok(store)
        }
        [] => Err(ModelError::BadFormat {
            path: dir.to_path_buf(),
            expected: "Hugging Face model directory".into(),
            reason: format!("no {SINGLE_FILE_NAME}, no {INDEX_FILE_NAME} and no other *.safetensors file"),
        }),
        many => Err(ModelError::BadFormat {
            path: dir.to_path_buf(),
            expected: "Hugging Face model directory".into(),
            reason: format!(
                "{} *.safetensors files ({}) but no {INDEX_FILE_NAME} saying which tensor is in which",
                many.len(),
                many.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Loads every shard the index names; checks that each indexed tensor is in its shard.
fn load_sharded(dir: &Path, index_path: &Path) -> Result<TensorStore, ModelError> {
    let bad_index = |reason: String| ModelError::BadFormat {
        path: index_path.to_path_buf(),
        expected: "safetensors index".into(),
        reason,
    };
    let text = std::fs::read(index_path).map_err(|e| ModelError::io(index_path, e))?;
    let index: IndexFile = serde_json::from_slice(&text)
        .map_err(|e| bad_index(format!("invalid JSON (expected {{\"weight_map\": {{tensor: shard file}}}}): {e}")))?;
    if index.weight_map.is_empty() {
        return Err(bad_index("weight_map is empty; expected at least one tensor".into()));
    }
    // Shard → one tensor it should hold (for the error message).
    let mut shards: BTreeMap<&str, &str> = BTreeMap::new();
    for (tensor, shard) in &index.weight_map {
        let mut comps = Path::new(shard).components();
        if !matches!((comps.next(), comps.next()), (Some(Component::Normal(_)), None)) {
            return Err(bad_index(format!(
                "weight_map puts tensor `{tensor}` in `{shard}`; expected a plain file name in the same directory"
            )));
        }
        shards.entry(shard.as_str()).or_insert(tensor.as_str());
    }
    let mut store = TensorStore::new(dir);
    let mut origin: HashMap<String, &str> = HashMap::new();
    for (shard, example) in &shards {
        let shard_path = dir.join(shard);
        if !shard_path.is_file() {
            return Err(bad_index(format!(
                "weight_map names shard `{shard}` (for tensor `{example}`) but {} does not exist",
                shard_path.display()
            )));
        }
        let file = SafetensorsFile::open(&shard_path)?;
        for t in file.tensors.iter() {
            if let Some(first) = origin.insert(t.name.clone(), shard) {
                return Err(bad_tensor(
                    &shard_path,
                    &t.name,
                    format!("also defined in shard `{first}`; expected each tensor in one shard"),
                ));
            }
            store.insert(t.clone())?;
        }
    }
    for (tensor, shard) in &index.weight_map {
        if origin.get(tensor.as_str()) != Some(&shard.as_str()) {
            return Err(ModelError::BadTensor {
                path: index_path.to_path_buf(),
                tensor: tensor.clone(),
                reason: match origin.get(tensor.as_str()) {
                    Some(actual) => format!("weight_map puts it in `{shard}` but it is in `{actual}`"),
                    None => format!("weight_map puts it in `{shard}` but that shard has no such tensor"),
                },
            });
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmserve_kernels::DType;

    /// A file from a raw header string and data.
    fn st_bytes(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    fn open_err(bytes: &[u8]) -> (ModelError, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crafted.safetensors");
        std::fs::write(&path, bytes).unwrap();
        let err = SafetensorsFile::open(&path).expect_err("crafted file must be refused");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "error does not name the file: {msg}");
        (err, msg)
    }

    fn assert_contains(msg: &str, parts: &[&str]) {
        for p in parts {
            assert!(msg.contains(p), "error `{msg}` lacks `{p}`");
        }
    }

    #[test]
    fn reads_a_hand_written_file_with_unaligned_data() {
        // No space padding: the data section (and so every tensor) starts at an odd offset.
        let header = r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} "#;
        assert_eq!((8 + header.len()) % 2, 1);
        let data: Vec<u8> = (0..14).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        std::fs::write(&path, st_bytes(header, &data)).unwrap();
        let f = SafetensorsFile::open(&path).unwrap();
        assert_eq!(f.metadata.get("format").map(String::as_str), Some("pt"));
        let b = f.tensors.get("b").unwrap();
        assert_eq!((b.dtype, b.shape.as_slice(), b.bytes()), (DType::BF16, &[3usize][..], &data[8..14]));
        assert_eq!(f.tensors.get("a").unwrap().bytes(), &data[..8]);
        // A single file that is not called model.safetensors is found in its directory.
        let store = load_safetensors_dir(dir.path()).unwrap();
        assert_eq!((store.len(), store.path.as_path()), (2, dir.path()));
        assert_eq!(load_safetensors_dir(&path).unwrap().len(), 2);
    }

    #[test]
    fn bad_header_length() {
        let (_, msg) = open_err(&[1, 2, 3]);
        assert_contains(&msg, &["truncated", "8-byte header length"]);
        let mut b = st_bytes("{}", &[]);
        b[..8].copy_from_slice(&1000u64.to_le_bytes());
        let (err, msg) = open_err(&b);
        assert!(matches!(err, ModelError::BadFormat { .. }));
        assert_contains(&msg, &["header length 1000", "the 2 bytes that follow"]);
        let (_, msg) = open_err(&st_bytes("", &[0; 16]));
        assert_contains(&msg, &["header length 0"]);
        let mut gguf = b"GGUF\x03\0\0\0".to_vec();
        gguf.extend_from_slice(&[0; 32]);
        assert_contains(&open_err(&gguf).1, &["this is a GGUF file"]);
    }

    #[test]
    fn invalid_header_json() {
        let (_, msg) = open_err(&st_bytes(r#"{"a": {"dtype": "F32""#, &[]));
        assert_contains(&msg, &["JSON header (bytes 8..29) is invalid"]);
        let (_, msg) = open_err(&st_bytes("[1, 2]", &[]));
        assert_contains(&msg, &["expected a JSON object of tensor entries"]);
        let (_, msg) = open_err(&st_bytes(r#"{"w": {"dtype": "F32", "shape": [2]}}"#, &[0; 8]));
        assert_contains(&msg, &["tensor `w`", "missing field `data_offsets`"]);
        let (_, msg) = open_err(&st_bytes(r#"{"__metadata__": {"n": 3}}"#, &[]));
        assert_contains(&msg, &["`__metadata__`", "expected an object of string values"]);
        let dup = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert_contains(&open_err(&st_bytes(dup, &[0; 8])).1, &["tensor `w`", "appears twice"]);
    }

    #[test]
    fn unsupported_dtype_names_the_tensor() {
        let h = r#"{"model.embed_tokens.weight":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#;
        let (err, msg) = open_err(&st_bytes(h, &[0; 16]));
        assert!(matches!(err, ModelError::Unsupported { .. }));
        assert_contains(&msg, &["dtype of tensor `model.embed_tokens.weight`", "I64", "supported: F32, F16, BF16"]);
    }

    #[test]
    fn offsets_out_of_range() {
        let h = r#"{"lm_head.weight":{"dtype":"F16","shape":[4],"data_offsets":[4,12]}}"#;
        let (err, msg) = open_err(&st_bytes(h, &[0; 10]));
        assert!(matches!(err, ModelError::Truncated { .. }));
        assert_contains(&msg, &["data of tensor `lm_head.weight`", "data_offsets [4, 12]", "has"]);
        let h = r#"{"x":{"dtype":"F16","shape":[4],"data_offsets":[18446744073709551615,18446744073709551615]}}"#;
        assert_contains(&open_err(&st_bytes(h, &[0; 10])).1, &["data of tensor `x`"]);
        let h = r#"{"x":{"dtype":"F16","shape":[0],"data_offsets":[8,4]}}"#;
        assert_contains(&open_err(&st_bytes(h, &[0; 10])).1, &["tensor `x`", "run backwards"]);
    }

    #[test]
    fn shape_and_size_mismatch() {
        let h = r#"{"q":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,10]}}"#;
        let (err, msg) = open_err(&st_bytes(h, &[0; 16]));
        assert!(matches!(err, ModelError::BadTensor { .. }));
        assert_contains(&msg, &["tensor `q`", "span 10 bytes but BF16 [2, 3] needs 12"]);
        let h = r#"{"q":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
        assert_contains(&open_err(&st_bytes(h, &[0; 4])).1, &["tensor `q`", "overflows"]);
    }

    #[test]
    fn overlapping_tensors() {
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        assert_contains(&open_err(&st_bytes(h, &[0; 12])).1, &["tensor `b`", "overlap tensor `a` at [0, 8]"]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let bytes = st_bytes(h, &[1; 8]);
        for len in 0..bytes.len() {
            let r = std::panic::catch_unwind(|| parse_header(Path::new("cut"), &bytes[..len]).map(|_| ()));
            assert!(matches!(r, Ok(Err(_))), "cut at {len}");
        }
    }

    fn write_raw(dir: &Path, name: &str, bytes: &[u8]) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    fn shard(name: &str) -> Vec<u8> {
        st_bytes(&format!(r#"{{"{name}":{{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}}}"#), &[0, 0, 128, 63])
    }

    #[test]
    fn sharded_index_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_raw(d, "model-00001-of-00002.safetensors", &shard("a"));
        let index = r#"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#;
        write_raw(d, INDEX_FILE_NAME, index.as_bytes());
        let msg = load_safetensors_dir(d).unwrap_err().to_string();
        assert_contains(
            &msg,
            &[INDEX_FILE_NAME, "names shard `model-00002-of-00002.safetensors` (for tensor `b`)", "does not exist"],
        );

        write_raw(d, "model-00002-of-00002.safetensors", &shard("c"));
        let msg = load_safetensors_dir(d).unwrap_err().to_string();
        assert_contains(&msg, &[INDEX_FILE_NAME, "tensor `b`", "that shard has no such tensor"]);

        write_raw(d, "model-00002-of-00002.safetensors", &shard("a"));
        let msg = load_safetensors_dir(d).unwrap_err().to_string();
        assert_contains(
            &msg,
            &["model-00002-of-00002.safetensors", "tensor `a`", "also defined in shard `model-00001"],
        );

        write_raw(d, INDEX_FILE_NAME, br#"{"weight_map":{"a":"../../etc/passwd"}}"#);
        let msg = load_safetensors_dir(d).unwrap_err().to_string();
        assert_contains(&msg, &["tensor `a`", "expected a plain file name"]);

        write_raw(d, INDEX_FILE_NAME, b"{\"weight_map\": 3}");
        assert_contains(&load_safetensors_dir(d).unwrap_err().to_string(), &[INDEX_FILE_NAME, "invalid JSON"]);

        write_raw(d, "model-00002-of-00002.safetensors", &shard("b"));
        write_raw(d, INDEX_FILE_NAME, index.as_bytes());
        let store = load_safetensors_dir(d).unwrap();
        assert_eq!(store.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(store.get("b").unwrap().bytes(), [0, 0, 128, 63]);
    }

    #[test]
    fn directory_without_an_obvious_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let msg = load_safetensors_dir(dir.path()).unwrap_err().to_string();
        assert_contains(&msg, &["no model.safetensors", "no other *.safetensors"]);
        write_raw(dir.path(), "x.safetensors", &shard("a"));
        write_raw(dir.path(), "y.safetensors", &shard("b"));
        let msg = load_safetensors_dir(dir.path()).unwrap_err().to_string();
        assert_contains(
            &msg,
            &["2 *.safetensors files (x.safetensors, y.safetensors)", "no model.safetensors.index.json"],
        );
        let missing = dir.path().join("nope");
        assert!(matches!(load_safetensors_dir(&missing), Err(ModelError::Io { .. })));
    }
}
