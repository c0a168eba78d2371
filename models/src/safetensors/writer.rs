//! safetensors writer: F32 / F16 / BF16 tensors into one file or a sharded Hugging Face directory.
//!
//! Follows the safetensors format: the JSON header lists tensors in the order they were added (data laid
//! out in the same order, back to back) and is padded with spaces to a multiple of 8 bytes, as the
//! reference implementation does, so the data section starts 8-byte aligned. Quantized GGML types cannot
//! be stored (dequantize first). Sharding follows Hugging Face: `model-0000i-of-0000n.safetensors` plus
//! `model.safetensors.index.json` with `metadata.total_size` and `weight_map`.
//!
//! Files are written to `<name>.partial` and renamed into place when complete. Cost: one sequential pass
//! over the tensor bytes.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{dtype_to_str, shard_file_name, INDEX_FILE_NAME, METADATA_KEY, SINGLE_FILE_NAME, SUPPORTED_DTYPES};
use crate::error::ModelError;
use crate::tensor::WeightTensor;

/// Collects tensors and metadata, then writes one safetensors file.
#[derive(Debug, Clone, Default)]
pub struct SafetensorsWriter {
    /// `__metadata__` (omitted from the header when empty).
    metadata: BTreeMap<String, String>,
    /// Tensors in file order (cheap clones).
    tensors: Vec<WeightTensor>,
}

impl SafetensorsWriter {
    pub fn new() -> SafetensorsWriter {
        SafetensorsWriter::default()
    }

    /// Sets one `__metadata__` entry (e.g. `format` = `pt`).
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds a tensor (bytes shared, not copied). Validated at [`SafetensorsWriter::write`].
    pub fn add_tensor(&mut self, tensor: &WeightTensor) -> &mut Self {
        self.tensors.push(tensor.clone());
        self
    }

    /// Total tensor bytes added so far.
    pub fn data_bytes(&self) -> usize {
        self.tensors.iter().map(|t| t.bytes().len()).sum()
    }

    /// Validates every tensor (dtype, unique name), then writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let header = self.header(path)?;
        write_atomically(path, |w| {
            w.write_all(&(header.len() as u64).to_le_bytes())?;
            w.write_all(header.as_bytes())?;
            for t in &self.tensors {
                w.write_all(t.bytes())?;
            }
            Ok(())
        })
    }

    /// The JSON header, space-padded to a multiple of 8 bytes.
    fn header(&self, path: &Path) -> Result<String, ModelError> {
        let mut entries: Vec<String> = Vec::with_capacity(self.tensors.len() + 1);
        if !self.metadata.is_empty() {
            let meta = serde_json::to_string(&self.metadata).map_err(|e| ModelError::BadMetadata {
                path: path.to_path_buf(),
                key: METADATA_KEY.into(),
                reason: e.to_string(),
            })?;
            entries.push(format!("\"{METADATA_KEY}\":{meta}"));
        }
        let mut names = HashSet::new();
        let mut offset = 0usize;
        for t in &self.tensors {
            let bad =
                |reason: String| ModelError::BadTensor { path: path.to_path_buf(), tensor: t.name.clone(), reason };
            let dtype = dtype_to_str(t.dtype).ok_or_else(|| ModelError::Unsupported {
                path: path.to_path_buf(),
                what: format!("dtype of tensor `{}` for safetensors (dequantize it first)", t.name),
                found: t.dtype.to_string(),
                supported: SUPPORTED_DTYPES.into(),
            })?;
            if t.name == METADATA_KEY {
                return Err(bad(format!("`{METADATA_KEY}` is reserved for the metadata; expected another name")));
            }
            if !names.insert(t.name.as_str()) {
                return Err(bad("added twice; expected unique tensor names".into()));
            }
            let want = crate::tensor::tensor_byte_len(t.dtype, &t.shape).map_err(bad)?;
            let len = t.bytes().len();
            if want != len {
                return Err(bad(format!("{} {:?} needs {want} bytes, has {len}", t.dtype, t.shape)));
            }
            let name = serde_json::Value::String(t.name.clone());
            let end = offset + len;
            entries.push(format!(
                "{name}:{{\"dtype\":\"{dtype}\",\"shape\":{},\"data_offsets\":[{offset},{end}]}}",
                serde_json::Value::from(t.shape.iter().map(|&d| d as u64).collect::<Vec<u64>>())
            ));
            offset = end;
        }
        let mut header = format!("{{{}}}", entries.join(","));
        let target = header.len().next_multiple_of(8);
        while header.len() < target {
            header.push(' ');
        }
        Ok(header)
    }
}

/// Writes `tensors` (F32 / F16 / BF16) as one safetensors file with optional `__metadata__`.
pub fn write_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = &'a WeightTensor>,
    metadata: Option<BTreeMap<String, String>>,
) -> Result<(), ModelError> {
    let mut w = SafetensorsWriter::new();
    for (k, v) in metadata.unwrap_or_default() {
        w.set_metadata(k, v);
    }
    for t in tensors {
        w.add_tensor(t);
    }
    w.write(path)
}

/// Writes `tensors` into `dir` as Hugging Face does: a single `model.safetensors` when all tensors fit in
/// `max_shard_bytes`, else `model-0000i-of-0000n.safetensors` shards (tensors in order, a new shard when
/// the next tensor would overflow the current one; a tensor larger than the limit gets a shard of its
/// own) plus `model.safetensors.index.json`. Each file carries `__metadata__ = {"format": "pt"}`.
///
/// A stale `model.safetensors` (when sharding) or index (when not) left in `dir` would shadow the new
/// files for a loader, so it is removed. Returns the files written, index last.
pub fn write_sharded<'a>(
    dir: &Path,
    tensors: impl IntoIterator<Item = &'a WeightTensor>,
    max_shard_bytes: usize,
) -> Result<Vec<PathBuf>, ModelError> {
    let mut shards: Vec<Vec<&WeightTensor>> = vec![Vec::new()];
    let mut current = 0usize;
    for t in tensors {
        let len = t.bytes().len();
        if let Some(last) = shards.last_mut() {
            if !last.is_empty() && current.saturating_add(len) > max_shard_bytes {
                shards.push(Vec::new());
                current = 0;
            }
        }
        if let Some(last) = shards.last_mut() {
            last.push(t);
        }
        current = current.saturating_add(len);
    }
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let write_one = |path: &Path, tensors: &[&WeightTensor]| {
        let mut w = SafetensorsWriter::new();
        w.set_metadata("format", "pt");
        for t in tensors {
            w.add_tensor(t);
        }
        w.write(path)
    };
    let remove_stale = |name: &str| {
        let p = dir.join(name);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ModelError::io(p, e)),
            _ => Ok(()),
        }
    };
    if shards.len() == 1 {
        let path = dir.join(SINGLE_FILE_NAME);
        write_one(&path, shards.first().map(Vec::as_slice).unwrap_or_default())?;
        remove_stale(INDEX_FILE_NAME)?;
        return Ok(vec![path]);
    }
    let n = shards.len();
    let mut written = Vec::with_capacity(n + 1);
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0usize;
    for (i, shard) in shards.iter().enumerate() {
        let name = shard_file_name(i + 1, n);
        let path = dir.join(&name);
        write_one(&path, shard)?;
        for t in shard {
            weight_map.insert(t.name.clone(), name.clone());
            total_size += t.bytes().len();
        }
        written.push(path);
    }
    let index = serde_json::json!({ "metadata": { "total_size": total_size }, "weight_map": weight_map });
    let index_path = dir.join(INDEX_FILE_NAME);
    let text = serde_json::to_string_pretty(&index).map_err(|e| ModelError::BadFormat {
        path: index_path.clone(),
        expected: "safetensors index".into(),
        reason: e.to_string(),
    })?;
    write_atomically(&index_path, |w| w.write_all(text.as_bytes()))?;
    remove_stale(SINGLE_FILE_NAME)?;
    written.push(index_path);
    Ok(written)
}

/// Writes through `<path>.partial`, renamed to `path` once complete and synced.
fn write_atomically(path: &Path, body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), ModelError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = (|| -> std::io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&partial)?);
        body(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        ModelError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::{load_safetensors_dir, SafetensorsFile};
    use llmserve_kernels::DType;

    fn tensor(name: &str, dtype: DType, shape: Vec<usize>, seed: u8) -> WeightTensor {
        let len = crate::tensor::tensor_byte_len(dtype, &shape).unwrap();
        let bytes = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        WeightTensor::owned(name.into(), dtype, shape, bytes).unwrap()
    }

    fn model_tensors() -> Vec<WeightTensor> {
        vec![
            tensor("model.embed_tokens.weight", DType::BF16, vec![16, 8], 1), // 256 bytes
            tensor("model.layers.0.self_attn.q_proj.weight", DType::F16, vec![8, 8], 2), // 128
            tensor("model.norm.weight", DType::F32, vec![8], 3),              // 32
            tensor("scalar", DType::F32, vec![], 4),                          // 4
            tensor("lm_head.weight", DType::F32, vec![3, 8], 5),              // 96
        ]
    }

    fn assert_same(store: &crate::tensor::TensorStore, tensors: &[WeightTensor]) {
        assert_eq!(store.len(), tensors.len());
        for t in tensors {
            let r = store.get(&t.name).unwrap_or_else(|| panic!("{} missing", t.name));
            assert_eq!((r.dtype, &r.shape), (t.dtype, &t.shape), "{}", t.name);
            assert_eq!(r.bytes(), t.bytes(), "{}", t.name);
        }
    }

    #[test]
    fn single_file_round_trip_with_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let tensors = model_tensors();
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string()), ("note".into(), "\"quoted\" ✓".into())]);
        write_safetensors(&path, &tensors, Some(meta.clone())).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert_eq!(header_len % 8, 0, "header padded so data starts 8-aligned");
        let f = SafetensorsFile::open(&path).unwrap();
        assert_eq!(f.metadata, meta);
        assert_same(&f.tensors, &tensors);
        assert_same(&load_safetensors_dir(dir.path()).unwrap(), &tensors);
        // No metadata: no __metadata__ entry at all.
        write_safetensors(&path, &tensors[..1], None).unwrap();
        assert!(SafetensorsFile::open(&path).unwrap().metadata.is_empty());
        assert!(!String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains("__metadata__"));
    }

    #[test]
    fn sharded_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let tensors = model_tensors();
        // 256 | 128 + 32 + 4 | 96: a new shard whenever the next tensor would pass 200 bytes.
        let files = write_sharded(dir.path(), &tensors, 200).unwrap();
        let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
            [
                "model-00001-of-00003.safetensors",
                "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors",
                INDEX_FILE_NAME
            ]
        );
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[3]).unwrap()).unwrap();
        assert_eq!(index["metadata"]["total_size"], 256 + 128 + 32 + 4 + 96);
        assert_eq!(index["weight_map"]["model.norm.weight"], "model-00002-of-00003.safetensors");
        assert_eq!(SafetensorsFile::open(&files[1]).unwrap().tensors.len(), 3);
        assert_eq!(SafetensorsFile::open(&files[0]).unwrap().metadata.get("format").map(String::as_str), Some("pt"));
        assert_same(&load_safetensors_dir(dir.path()).unwrap(), &tensors);

        // Everything fits: a single model.safetensors, and the stale index is removed.
        let files = write_sharded(dir.path(), &tensors, 1 << 20).unwrap();
        assert_eq!(files, [dir.path().join(SINGLE_FILE_NAME)]);
        assert!(!dir.path().join(INDEX_FILE_NAME).exists());
        assert_same(&load_safetensors_dir(dir.path()).unwrap(), &tensors);

        // Sharding again removes the stale single file, which a loader would otherwise prefer.
        write_sharded(dir.path(), &tensors, 300).unwrap();
        assert!(!dir.path().join(SINGLE_FILE_NAME).exists());
        assert_same(&load_safetensors_dir(dir.path()).unwrap(), &tensors);
    }

    #[test]
    fn writer_refuses_bad_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.safetensors");
        let q = tensor("blk.0.ffn_down.weight", DType::Q4_1, vec![2, 32], 0);
        let err = write_safetensors(&path, [&q], None).unwrap_err();
        assert!(matches!(err, ModelError::Unsupported { .. }));
        let msg = err.to_string();
        for part in ["out.safetensors", "blk.0.ffn_down.weight", "Q4_1", "supported: F32, F16, BF16"] {
            assert!(msg.contains(part), "{msg} lacks {part}");
        }
        assert!(!path.exists());
        let t = tensor("w", DType::F32, vec![2], 0);
        let msg = write_safetensors(&path, [&t, &t], None).unwrap_err().to_string();
        assert!(msg.contains("tensor `w`: added twice"), "{msg}");
        let m = tensor(METADATA_KEY, DType::F32, vec![2], 0);
        let msg = write_safetensors(&path, [&m], None).unwrap_err().to_string();
        assert!(msg.contains("reserved"), "{msg}");
    }
}
