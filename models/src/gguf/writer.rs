//! GGUF writer: metadata of any [`GgufValue`] type and tensors of any [`DType`] into a v3 file.
//!
//! Follows ggml's `docs/gguf.md` (v3, little-endian), laid out as llama.cpp's `gguf` writer does: the
//! header, padding to the alignment, then each tensor's bytes padded to the alignment, tensors in the
//! order they were added. The alignment is `general.alignment` if set (see [`GgufWriter::set_alignment`]),
//! else 32. Everything is validated when [`GgufWriter::write`] is called, before the file is created, so
//! the writer never produces a file our reader would refuse; errors name the destination file.
//!
//! The file is written to `<name>.partial` next to the destination and renamed into place when complete,
//! so an interrupted export never leaves a half-written model under the real name. Cost: one sequential
//! pass over all tensor bytes.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use llmserve_kernels::DType;

use super::metadata::GgufValue;
use super::{
    align_up, value_type_name, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH, MAX_DIMS, WRITE_VERSION,
};
use crate::error::ModelError;
use crate::tensor::WeightTensor;

/// Longest tensor name ggml accepts (`GGML_MAX_NAME` is 64 including the terminating NUL).
pub const MAX_TENSOR_NAME_BYTES: usize = 63;

/// Collects metadata and tensors, then writes them as one GGUF v3 file.
#[derive(Debug, Clone, Default)]
pub struct GgufWriter {
    /// Key/value pairs in insertion order (order is preserved in the file; re-setting a key replaces it).
    metadata: Vec<(String, GgufValue)>,
    /// Tensors in insertion order (cheap clones: mapped or shared bytes).
    tensors: Vec<WeightTensor>,
}

/// One planned tensor: its relative offset in the data section.
struct Planned<'a> {
    tensor: &'a WeightTensor,
    offset: u64,
}

impl GgufWriter {
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }

    /// Sets (or replaces) a metadata value. Validated at [`GgufWriter::write`].
    pub fn set_metadata(&mut self, key: impl Into<String>, value: GgufValue) -> &mut Self {
        let key = key.into();
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Sets `general.alignment` (must be a power of two; checked at write).
    pub fn set_alignment(&mut self, alignment: u32) -> &mut Self {
        self.set_metadata(ALIGNMENT_KEY, GgufValue::U32(alignment))
    }

    /// Adds a tensor (its bytes are shared, not copied). Validated at [`GgufWriter::write`].
    pub fn add_tensor(&mut self, tensor: &WeightTensor) -> &mut Self {
        self.tensors.push(tensor.clone());
        self
    }

    /// Adds a tensor from raw bytes; the byte length must match `dtype` and `shape` (outermost first).
    pub fn add_tensor_bytes(
        &mut self,
        name: impl Into<String>,
        dtype: DType,
        shape: Vec<usize>,
        bytes: Vec<u8>,
    ) -> Result<&mut Self, ModelError> {
        let name = name.into();
        let t = WeightTensor::owned(name.clone(), dtype, shape, bytes).map_err(|reason| ModelError::BadTensor {
            path: PathBuf::from("<GGUF writer>"),
            tensor: name,
            reason,
        })?;
        self.tensors.push(t);
        Ok(self)
    }

    /// The metadata set so far, in file order.
    pub fn metadata(&self) -> &[(String, GgufValue)] {
        &self.metadata
    }

    /// The tensors added so far, in file order.
    pub fn tensors(&self) -> &[WeightTensor] {
        &self.tensors
    }

    /// Validates everything, then writes the file (atomically: `<path>.partial`, then rename).
    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let alignment = self.validate(path)?;
        let plan = self.plan(path, alignment)?;
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let result = (|| -> std::io::Result<()> {
            let mut w = BufWriter::with_capacity(1 << 20, File::create(&partial)?);
            self.write_to(&mut w, alignment, &plan)?;
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&partial, path)
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            ModelError::io(path, e)
        })
    }

    /// The alignment to use; every key, value and tensor checked.
    fn validate(&self, path: &Path) -> Result<usize, ModelError> {
        let bad_meta = |key: &str, reason: String| ModelError::BadMetadata {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let mut alignment = DEFAULT_ALIGNMENT;
        for (key, value) in &self.metadata {
            check_value(value, 0).map_err(|reason| bad_meta(key, reason))?;
            if key == ALIGNMENT_KEY {
                match value {
                    GgufValue::U32(a) if a.is_power_of_two() => alignment = *a as usize,
                    GgufValue::U32(a) => return Err(bad_meta(key, format!("expected a power of two, found {a}"))),
                    v => return Err(bad_meta(key, format!("expected a u32, found a {}", v.type_name()))),
                }
            }
        }
        let mut names = HashSet::new();
        for t in &self.tensors {
            let bad =
                |reason: String| ModelError::BadTensor { path: path.to_path_buf(), tensor: t.name.clone(), reason };
            if !names.insert(t.name.as_str()) {
                return Err(bad("added twice; expected unique tensor names".into()));
            }
            if t.name.is_empty() || t.name.len() > MAX_TENSOR_NAME_BYTES {
                return Err(bad(format!(
                    "name is {} bytes; expected 1 to {MAX_TENSOR_NAME_BYTES} (ggml's GGML_MAX_NAME)",
                    t.name.len()
                )));
            }
            if t.shape.is_empty() || t.shape.len() > MAX_DIMS {
                return Err(bad(format!(
                    "shape {:?} has {} dimensions; expected 1 to {MAX_DIMS}",
                    t.shape,
                    t.shape.len()
                )));
            }
            if t.shape.contains(&0) {
                return Err(bad(format!("shape {:?} has a zero dimension; expected all at least 1", t.shape)));
            }
            let want = crate::tensor::tensor_byte_len(t.dtype, &t.shape).map_err(bad)?;
            if want != t.bytes().len() {
                return Err(bad(format!("{} {:?} needs {want} bytes, has {}", t.dtype, t.shape, t.bytes().len())));
            }
        }
        Ok(alignment)
    }

    /// Relative offsets of every tensor in the data section.
    fn plan(&self, path: &Path, alignment: usize) -> Result<Vec<Planned<'_>>, ModelError> {
        let mut offset = 0usize;
        let mut plan = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            plan.push(Planned { tensor: t, offset: offset as u64 });
            offset = offset.checked_add(t.bytes().len()).and_then(|o| align_up(o, alignment)).ok_or_else(|| {
                ModelError::BadTensor {
                    path: path.to_path_buf(),
                    tensor: t.name.clone(),
                    reason: "data offset overflows".into(),
                }
            })?;
        }
        Ok(plan)
    }

    fn write_to(&self, w: &mut impl Write, alignment: usize, plan: &[Planned<'_>]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&WRITE_VERSION.to_le_bytes());
        buf.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        buf.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            encode_string(&mut buf, key);
            buf.extend_from_slice(&value.type_id().to_le_bytes());
            encode_value(&mut buf, value);
        }
        for p in plan {
            encode_string(&mut buf, &p.tensor.name);
            buf.extend_from_slice(&(p.tensor.shape.len() as u32).to_le_bytes());
            for &d in p.tensor.shape.iter().rev() {
                buf.extend_from_slice(&(d as u64).to_le_bytes());
            }
            buf.extend_from_slice(&p.tensor.dtype.ggml_type_id().to_le_bytes());
            buf.extend_from_slice(&p.offset.to_le_bytes());
        }
        // The header is small next to the tensors (the token list is the largest part): build it in memory.
        let zeros = vec![0u8; alignment];
        let pad = |len: usize| align_up(len, alignment).unwrap_or(len) - len;
        buf.extend_from_slice(&zeros[..pad(buf.len())]);
        w.write_all(&buf)?;
        for planned in plan {
            let bytes = planned.tensor.bytes();
            w.write_all(bytes)?;
            w.write_all(&zeros[..pad(bytes.len())])?;
        }
        w.flush()
    }
}

/// Checks that an array's elements all have its element type, recursively.
fn check_value(value: &GgufValue, depth: usize) -> Result<(), String> {
    if let GgufValue::Array { element_type, values } = value {
        if depth + 1 > MAX_ARRAY_DEPTH {
            return Err(format!("arrays nest deeper than {MAX_ARRAY_DEPTH} levels"));
        }
        let Some(want) = value_type_name(*element_type) else {
            return Err(format!("array element type id {element_type} is unknown; expected 0..=12"));
        };
        for (i, v) in values.iter().enumerate() {
            if v.type_id() != *element_type {
                return Err(format!("array of {want}: element {i} is a {}", v.type_name()));
            }
            check_value(v, depth + 1).map_err(|e| format!("element {i}: {e}"))?;
        }
    }
    Ok(())
}

fn encode_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Encodes a value's payload (without its type id).
fn encode_value(buf: &mut Vec<u8>, value: &GgufValue) {
    match value {
        GgufValue::U8(v) => buf.push(*v),
        GgufValue::I8(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::U16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::U32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::U64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::F32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::F64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::Bool(v) => buf.push(u8::from(*v)),
        GgufValue::String(s) => encode_string(buf, s),
        GgufValue::Array { element_type, values } => {
            buf.extend_from_slice(&element_type.to_le_bytes());
            buf.extend_from_slice(&(values.len() as u64).to_le_bytes());
            for v in values {
                encode_value(buf, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufFile;

    /// Deterministic pseudo-random bytes (an LCG), so every tensor's bytes differ.
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    fn every_value_type() -> Vec<(&'static str, GgufValue)> {
        use GgufValue::*;
        vec![
            ("t.u8", U8(200)),
            ("t.i8", I8(-100)),
            ("t.u16", U16(60_000)),
            ("t.i16", I16(-30_000)),
            ("t.u32", U32(4_000_000_000)),
            ("t.i32", I32(-2_000_000_000)),
            ("t.u64", U64(u64::MAX)),
            ("t.i64", I64(i64::MIN)),
            ("t.f32", F32(-1.5e-7)),
            ("t.f64", F64(std::f64::consts::PI)),
            ("t.bool_true", Bool(true)),
            ("t.bool_false", Bool(false)),
            ("t.string", String("héllo ✓ \u{0}".into())),
            ("t.string_empty", String(std::string::String::new())),
            ("t.array_empty", Array { element_type: 6, values: vec![] }),
            ("t.array_u8", Array { element_type: 0, values: vec![U8(1), U8(2), U8(255)] }),
            ("t.array_i64", Array { element_type: 11, values: vec![I64(-1), I64(1 << 40)] }),
            ("t.array_f32", Array { element_type: 6, values: vec![F32(0.5), F32(-0.25)] }),
            ("t.array_bool", Array { element_type: 7, values: vec![Bool(true), Bool(false)] }),
            ("t.array_string", Array { element_type: 8, values: vec![String("a".into()), String("<s>".into())] }),
            (
                "t.array_nested",
                Array {
                    element_type: 9,
                    values: vec![
                        Array { element_type: 4, values: vec![U32(1), U32(2)] },
                        Array { element_type: 4, values: vec![] },
                        Array {
                            element_type: 9,
                            values: vec![Array { element_type: 8, values: vec![String("deep".into())] }],
                        },
                    ],
                },
            ),
        ]
    }

    /// Shapes (outermost first) valid for `dtype`, 1 to 4 dimensions.
    fn shape_for(dtype: DType, i: usize) -> Vec<usize> {
        let row = dtype.block_elems() * 2;
        match i % 4 {
            0 => vec![row],
            1 => vec![3, row],
            2 => vec![2, 3, row],
            _ => vec![2, 1, 3, row],
        }
    }

    #[test]
    fn round_trip_every_value_type_and_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt.gguf");
        let mut w = GgufWriter::new();
        for (k, v) in every_value_type() {
            w.set_metadata(k, v);
        }
        let mut originals = Vec::new();
        for (i, dtype) in DType::ALL.into_iter().enumerate() {
            let shape = shape_for(dtype, i);
            let len = crate::tensor::tensor_byte_len(dtype, &shape).unwrap();
            let t = WeightTensor::owned(format!("t{i}.{dtype}"), dtype, shape, bytes(len, i as u64)).unwrap();
            w.add_tensor(&t);
            originals.push(t);
        }
        // An odd-sized tensor forces padding before the next one.
        w.add_tensor_bytes("odd", DType::F16, vec![3], bytes(6, 99)).unwrap();
        w.write(&path).unwrap();
        assert!(!dir.path().join("rt.gguf.partial").exists());

        let f = GgufFile::open(&path).unwrap();
        assert_eq!((f.version, f.alignment), (3, 32));
        assert_eq!(f.metadata.values.len(), every_value_type().len());
        for (k, v) in every_value_type() {
            assert_eq!(f.metadata.get(k), Some(&v), "{k}");
        }
        assert_eq!(f.tensors.len(), originals.len() + 1);
        for t in &originals {
            let r = f.tensors.get(&t.name).unwrap();
            assert_eq!((r.dtype, &r.shape), (t.dtype, &t.shape), "{}", t.name);
            assert_eq!(r.bytes(), t.bytes(), "{}", t.name);
        }
        assert_eq!(f.tensors.get("odd").unwrap().bytes(), bytes(6, 99).as_slice());
    }

    #[test]
    fn custom_alignment_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a64.gguf");
        let mut w = GgufWriter::new();
        w.set_alignment(64);
        w.add_tensor_bytes("a", DType::F32, vec![3], bytes(12, 1)).unwrap();
        w.add_tensor_bytes("b", DType::Q4_0, vec![2, 32], bytes(36, 2)).unwrap();
        w.write(&path).unwrap();
        let f = GgufFile::open(&path).unwrap();
        assert_eq!(f.alignment, 64);
        assert_eq!(f.data_offset % 64, 0);
        assert_eq!(f.tensors.get("b").unwrap().bytes(), bytes(36, 2).as_slice());
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, f.data_offset + 128);
    }

    fn write_err(w: &GgufWriter) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.gguf");
        let msg = w.write(&path).expect_err("must be refused").to_string();
        assert!(msg.contains("bad.gguf"), "{msg}");
        assert!(!path.exists());
        msg
    }

    #[test]
    fn writer_refuses_what_the_reader_would_refuse() {
        let t = WeightTensor::owned("x".into(), DType::F32, vec![4], vec![0; 16]).unwrap();
        let mut w = GgufWriter::new();
        w.add_tensor(&t).add_tensor(&t);
        assert!(write_err(&w).contains("tensor `x`: added twice"));

        let mut w = GgufWriter::new();
        w.set_alignment(48);
        assert!(write_err(&w).contains("general.alignment`: expected a power of two, found 48"));

        let mut w = GgufWriter::new();
        w.set_metadata("general.alignment", GgufValue::U64(64));
        assert!(write_err(&w).contains("expected a u32, found a u64"));

        let mut w = GgufWriter::new();
        w.set_metadata(
            "mixed",
            GgufValue::Array { element_type: 4, values: vec![GgufValue::U32(1), GgufValue::I32(2)] },
        );
        assert!(write_err(&w).contains("mixed`: array of u32: element 1 is a i32"));

        let mut w = GgufWriter::new();
        w.add_tensor_bytes("five", DType::F32, vec![1, 1, 1, 1, 1], vec![0; 4]).unwrap();
        assert!(write_err(&w).contains("tensor `five`: shape [1, 1, 1, 1, 1] has 5 dimensions"));

        let mut w = GgufWriter::new();
        w.add_tensor_bytes("empty", DType::F32, vec![0, 4], vec![]).unwrap();
        assert!(write_err(&w).contains("tensor `empty`: shape [0, 4] has a zero dimension"));

        let mut w = GgufWriter::new();
        w.add_tensor_bytes("n".repeat(64), DType::F32, vec![1], vec![0; 4]).unwrap();
        assert!(write_err(&w).contains("name is 64 bytes"));

        let err =
            GgufWriter::new().add_tensor_bytes("short", DType::Q8_0, vec![32], vec![0; 33]).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("short"), "{err}");
    }
}
