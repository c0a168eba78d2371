//! GGUF metadata: typed key/value pairs (the `gguf_type` value types of the GGUF spec, v2/v3).
//!
//! Every value type of the spec is represented, arrays nest. Accessors return a typed error naming the
//! key and what was expected, so a model with a missing or mistyped key never panics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::ModelError;

/// One metadata value (spec: `gguf_metadata_value_t`).
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    /// Homogeneous array; `element_type` is the spec's type id of the elements (kept for round trips
    /// of empty arrays).
    Array { element_type: u32, values: Vec<GgufValue> },
}

impl GgufValue {
    /// Spec type id (`GGUF_TYPE_*`).
    pub fn type_id(&self) -> u32 {
        match self {
            GgufValue::U8(_) => 0,
            GgufValue::I8(_) => 1,
            GgufValue::U16(_) => 2,
            GgufValue::I16(_) => 3,
            GgufValue::U32(_) => 4,
            GgufValue::I32(_) => 5,
            GgufValue::F32(_) => 6,
            GgufValue::Bool(_) => 7,
            GgufValue::String(_) => 8,
            GgufValue::Array { .. } => 9,
            GgufValue::U64(_) => 10,
            GgufValue::I64(_) => 11,
            GgufValue::F64(_) => 12,
        }
    }

    /// Name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            GgufValue::U8(_) => "u8",
            GgufValue::I8(_) => "i8",
            GgufValue::U16(_) => "u16",
            GgufValue::I16(_) => "i16",
            GgufValue::U32(_) => "u32",
            GgufValue::I32(_) => "i32",
            GgufValue::U64(_) => "u64",
            GgufValue::I64(_) => "i64",
            GgufValue::F32(_) => "f32",
            GgufValue::F64(_) => "f64",
            GgufValue::Bool(_) => "bool",
            GgufValue::String(_) => "string",
            GgufValue::Array { .. } => "array",
        }
    }

    /// Any integer value widened to i128 (so every integer type converts losslessly).
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            GgufValue::U8(v) => v as i128,
            GgufValue::I8(v) => v as i128,
            GgufValue::U16(v) => v as i128,
            GgufValue::I16(v) => v as i128,
            GgufValue::U32(v) => v as i128,
            GgufValue::I32(v) => v as i128,
            GgufValue::U64(v) => v as i128,
            GgufValue::I64(v) => v as i128,
            _ => return None,
        })
    }

    /// Any float or integer value as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v as f64),
            GgufValue::F64(v) => Some(v),
            _ => self.as_integer().map(|v| v as f64),
        }
    }
}

/// All metadata key/value pairs of one GGUF file, with the file path for error messages.
#[derive(Debug, Clone, Default)]
pub struct GgufMetadata {
    /// The file the metadata came from (named in every error).
    pub path: PathBuf,
    /// Key → value, sorted for stable iteration.
    pub values: BTreeMap<String, GgufValue>,
}

impl GgufMetadata {
    pub fn new(path: &Path) -> Self {
        GgufMetadata { path: path.to_path_buf(), values: BTreeMap::new() }
    }

    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.values.get(key)
    }

    fn missing(&self, key: &str, expected: &str) -> ModelError {
        ModelError::MissingKey { path: self.path.clone(), key: key.to_string(), expected: expected.to_string() }
    }

    fn mistyped(&self, key: &str, expected: &str, found: &GgufValue) -> ModelError {
        ModelError::BadMetadata {
            path: self.path.clone(),
            key: key.to_string(),
            reason: format!("expected {expected}, found {}", found.type_name()),
        }
    }

    /// A required non-negative integer that fits in `u64`.
    pub fn require_u64(&self, key: &str) -> Result<u64, ModelError> {
        let v = self.get(key).ok_or_else(|| self.missing(key, "an unsigned integer"))?;
        match v.as_integer() {
            Some(i) if (0..=u64::MAX as i128).contains(&i) => Ok(i as u64),
            Some(i) => Err(ModelError::BadMetadata {
                path: self.path.clone(),
                key: key.to_string(),
                reason: format!("expected a non-negative integer, found {i}"),
            }),
            None => Err(self.mistyped(key, "an unsigned integer", v)),
        }
    }

    /// A required integer converted to usize.
    pub fn require_usize(&self, key: &str) -> Result<usize, ModelError> {
        let v = self.require_u64(key)?;
        usize::try_from(v).map_err(|_| ModelError::BadMetadata {
            path: self.path.clone(),
            key: key.to_string(),
            reason: format!("{v} does not fit in usize"),
        })
    }

    pub fn optional_u64(&self, key: &str) -> Result<Option<u64>, ModelError> {
        if self.get(key).is_none() {
            return Ok(None);
        }
        self.require_u64(key).map(Some)
    }

    /// A required float (integers are accepted and converted).
    pub fn require_f64(&self, key: &str) -> Result<f64, ModelError> {
        let v = self.get(key).ok_or_else(|| self.missing(key, "a number"))?;
        v.as_f64().ok_or_else(|| self.mistyped(key, "a number", v))
    }

    pub fn optional_f64(&self, key: &str) -> Result<Option<f64>, ModelError> {
        if self.get(key).is_none() {
            return Ok(None);
        }
        self.require_f64(key).map(Some)
    }

    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.mistyped(key, "a bool", v)),
        }
    }

    pub fn require_str(&self, key: &str) -> Result<&str, ModelError> {
        match self.get(key) {
            None => Err(self.missing(key, "a string")),
            Some(GgufValue::String(s)) => Ok(s),
            Some(v) => Err(self.mistyped(key, "a string", v)),
        }
    }

    pub fn optional_str(&self, key: &str) -> Result<Option<&str>, ModelError> {
        if self.get(key).is_none() {
            return Ok(None);
        }
        self.require_str(key).map(Some)
    }

    /// A required array; returns its elements.
    pub fn require_array(&self, key: &str) -> Result<&[GgufValue], ModelError> {
        match self.get(key) {
            None => Err(self.missing(key, "an array")),
            Some(GgufValue::Array { values, .. }) => Ok(values),
            Some(v) => Err(self.mistyped(key, "an array", v)),
        }
    }

    /// A required array of strings.
    pub fn require_string_array(&self, key: &str) -> Result<Vec<&str>, ModelError> {
        self.require_array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                GgufValue::String(s) => Ok(s.as_str()),
                other => Err(ModelError::BadMetadata {
                    path: self.path.clone(),
                    key: key.to_string(),
                    reason: format!("element {i}: expected a string, found {}", other.type_name()),
                }),
            })
            .collect()
    }

    /// A required array of integers (any integer element type) as i64.
    pub fn require_int_array(&self, key: &str) -> Result<Vec<i64>, ModelError> {
        self.require_array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_integer() {
                Some(x) if (i64::MIN as i128..=i64::MAX as i128).contains(&x) => Ok(x as i64),
                _ => Err(ModelError::BadMetadata {
                    path: self.path.clone(),
                    key: key.to_string(),
                    reason: format!("element {i}: expected an integer, found {}", v.type_name()),
                }),
            })
            .collect()
    }
}
