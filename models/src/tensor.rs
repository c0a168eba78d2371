//! Named weight tensors, memory-mapped or owned, in any [`DType`].
//!
//! Shapes are row-major, outermost first, as in PyTorch / safetensors: a linear weight is `[out, in]`
//! and each of its `out` rows is `in` contiguous elements (a whole number of quantization blocks). GGUF
//! stores dimensions innermost first (`ne[0]` = row length); the GGUF reader reverses them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use llmserve_kernels::cpu::quant::dequantize_row;
use llmserve_kernels::cpu::WeightMatrix;
use llmserve_kernels::DType;
use memmap2::Mmap;

use crate::error::ModelError;

/// Where a tensor's bytes live.
#[derive(Clone)]
enum TensorStorage {
    /// A range of a memory-mapped file (GGUF, safetensors): no copy at load time.
    Mapped { map: Arc<Mmap>, start: usize, len: usize },
    /// Bytes produced in memory (synthetic weights, converted tensors).
    Owned(Arc<Vec<u8>>),
}

/// One named tensor.
#[derive(Clone)]
pub struct WeightTensor {
    pub name: String,
    pub dtype: DType,
    /// Row-major, outermost first.
    pub shape: Vec<usize>,
    storage: TensorStorage,
}

impl std::fmt::Debug for WeightTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeightTensor({} {} {:?})", self.name, self.dtype, self.shape)
    }
}

/// Bytes a tensor of `shape` and `dtype` needs, checking that the row length is whole blocks.
pub fn tensor_byte_len(dtype: DType, shape: &[usize]) -> Result<usize, String> {
    let row = *shape.last().unwrap_or(&1);
    if !row.is_multiple_of(dtype.block_elems()) {
        return Err(format!(
            "row length {row} is not a multiple of the {dtype} block size {}",
            dtype.block_elems()
        ));
    }
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("element count overflows")?;
    dtype.bytes_for(n).ok_or_else(|| "byte size overflows".to_string())
}

impl WeightTensor {
    /// A tensor over `len` bytes of a mapped file at `start`. The caller has checked the range.
    pub fn mapped(
        name: String,
        dtype: DType,
        shape: Vec<usize>,
        map: Arc<Mmap>,
        start: usize,
        len: usize,
    ) -> WeightTensor {
        debug_assert!(start + len <= map.len());
        WeightTensor { name, dtype, shape, storage: TensorStorage::Mapped { map, start, len } }
    }

    /// A tensor over owned bytes; checks the byte length against shape and dtype.
    pub fn owned(name: String, dtype: DType, shape: Vec<usize>, bytes: Vec<u8>) -> Result<WeightTensor, String> {
        let want = tensor_byte_len(dtype, &shape)?;
        if want != bytes.len() {
            return Err(format!("{name}: {dtype} {shape:?} needs {want} bytes, got {}", bytes.len()));
        }
        Ok(WeightTensor { name, dtype, shape, storage: TensorStorage::Owned(Arc::new(bytes)) })
    }

    /// A tensor from f32 values, stored as `dtype` (quantizing or rounding as needed).
    pub fn from_f32(name: String, dtype: DType, shape: Vec<usize>, values: &[f32]) -> Result<WeightTensor, String> {
        let row = *shape.last().unwrap_or(&1);
        let bytes = llmserve_kernels::cpu::quant::quantize_rows(dtype, values, row)
            .map_err(|e| format!("{name}: {e}"))?;
        WeightTensor::owned(name, dtype, shape, bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.storage {
            TensorStorage::Mapped { map, start, len } => &map[*start..*start + *len],
            TensorStorage::Owned(v) => v,
        }
    }

    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of rows (product of all but the last dimension) and row length.
    pub fn rows_cols(&self) -> (usize, usize) {
        let cols = *self.shape.last().unwrap_or(&1);
        let rows = self.num_elements().checked_div(cols).unwrap_or(0);
        (rows, cols)
    }

    /// View as a 2-D weight matrix `[rows, cols]` for the matmul kernels.
    pub fn matrix(&self) -> WeightMatrix<'_> {
        let (rows, cols) = self.rows_cols();
        WeightMatrix { dtype: self.dtype, rows, cols, data: self.bytes() }
    }

    /// All elements dequantized to f32 (row-major).
    pub fn to_f32(&self) -> Vec<f32> {
        let (rows, cols) = self.rows_cols();
        let mut out = vec![0f32; rows * cols];
        let row_bytes = self.dtype.bytes_for(cols).unwrap_or(0);
        for (r, dst) in out.chunks_mut(cols.max(1)).enumerate().take(rows) {
            dequantize_row(self.dtype, &self.bytes()[r * row_bytes..(r + 1) * row_bytes], dst);
        }
        out
    }

    /// One row dequantized to f32 (e.g. an embedding lookup).
    pub fn row_to_f32(&self, row: usize, out: &mut [f32]) {
        let (_, cols) = self.rows_cols();
        let row_bytes = self.dtype.bytes_for(cols).unwrap_or(0);
        dequantize_row(self.dtype, &self.bytes()[row * row_bytes..(row + 1) * row_bytes], out);
    }
}

/// All tensors of a model by name, with the source path for error messages.
#[derive(Clone, Debug, Default)]
pub struct TensorStore {
    pub path: PathBuf,
    tensors: BTreeMap<String, WeightTensor>,
}

impl TensorStore {
    pub fn new(path: &Path) -> TensorStore {
        TensorStore { path: path.to_path_buf(), tensors: BTreeMap::new() }
    }

    /// Adds a tensor; a duplicate name is an error.
    pub fn insert(&mut self, t: WeightTensor) -> Result<(), ModelError> {
        if self.tensors.contains_key(&t.name) {
            return Err(ModelError::BadTensor {
                path: self.path.clone(),
                tensor: t.name.clone(),
                reason: "defined twice".into(),
            });
        }
        self.tensors.insert(t.name.clone(), t);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&WeightTensor> {
        self.tensors.get(name)
    }

    /// A tensor the architecture needs; error names the file and the tensor.
    pub fn require(&self, name: &str, architecture: &str) -> Result<&WeightTensor, ModelError> {
        self.tensors.get(name).ok_or_else(|| ModelError::MissingTensor {
            path: self.path.clone(),
            tensor: name.to_string(),
            architecture: architecture.to_string(),
        })
    }

    /// A required tensor whose shape must equal `shape`.
    pub fn require_shape(&self, name: &str, architecture: &str, shape: &[usize]) -> Result<&WeightTensor, ModelError> {
        let t = self.require(name, architecture)?;
        if t.shape != shape {
            return Err(ModelError::BadTensor {
                path: self.path.clone(),
                tensor: name.to_string(),
                reason: format!("expected shape {shape:?}, found {:?}", t.shape),
            });
        }
        Ok(t)
    }

    pub fn remove(&mut self, name: &str) -> Option<WeightTensor> {
        self.tensors.remove(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &WeightTensor> {
        self.tensors.values()
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Total bytes of all tensors.
    pub fn total_bytes(&self) -> usize {
        self.tensors.values().map(|t| t.bytes().len()).sum()
    }
}
