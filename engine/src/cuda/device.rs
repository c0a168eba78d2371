//! Which backend runs the model: `--device cuda|cpu|auto` (env `LLMSERVE_DEVICE`).
//!
//! `cuda` insists on the GPU and fails with the reason when it can't be used (binary built without
//! the `cuda` feature, no libcuda, no device); `auto` takes the GPU when it is usable and otherwise
//! falls back to the CPU, saying why on stderr; `cpu` never touches CUDA. The check for libcuda comes
//! before any cudarc call (cudarc panics on a missing driver library).

use std::fmt;
use std::str::FromStr;

/// The device asked for on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The CUDA backend; an error when it is unavailable.
    Cuda,
    /// The CPU backend.
    Cpu,
    /// CUDA when usable, else the CPU (with a log line saying why).
    #[default]
    Auto,
}

/// The backend a [`Device`] resolved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolvedDevice {
    Cuda,
    Cpu,
}

/// Why a device choice could not be honoured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device {0:?}: expected cuda, cpu or auto")]
    Unknown(String),
    #[error("--device cuda: built without CUDA support: rebuild with --features cuda")]
    NotBuiltWithCuda,
    #[error("--device cuda: no usable GPU: {0}")]
    Unavailable(String),
}

impl FromStr for Device {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Device, DeviceError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cuda" | "gpu" => Ok(Device::Cuda),
            "cpu" => Ok(Device::Cpu),
            "auto" => Ok(Device::Auto),
            _ => Err(DeviceError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cuda => "cuda",
            Device::Cpu => "cpu",
            Device::Auto => "auto",
        })
    }
}

/// Why CUDA device 0 can't be used, or `None` when it can (always `Some` without the feature).
pub fn cuda_unavailable_reason() -> Option<String> {
    #[cfg(feature = "cuda")]
    {
        llmserve_kernels::cuda::cuda_unavailable_reason()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Some("built without CUDA support: rebuild with --features cuda".to_string())
    }
}

impl Device {
    /// Resolves the choice against this build and machine, given why CUDA is unavailable (`None` =
    /// usable). Pure: [`Device::resolve`] passes the real probe.
    pub fn resolve_with(self, built_with_cuda: bool, unavailable: Option<String>) -> Result<ResolvedDevice, DeviceError> {
        match self {
            Device::Cpu => Ok(ResolvedDevice::Cpu),
            Device::Cuda if !built_with_cuda => Err(DeviceError::NotBuiltWithCuda),
            Device::Cuda => match unavailable {
                None => Ok(ResolvedDevice::Cuda),
                Some(why) => Err(DeviceError::Unavailable(why)),
            },
            Device::Auto => match (built_with_cuda, unavailable) {
                (true, None) => Ok(ResolvedDevice::Cuda),
                (_, why) => {
                    eprintln!("device auto: using the CPU ({})", why.unwrap_or_else(|| "CUDA unavailable".into()));
                    Ok(ResolvedDevice::Cpu)
                }
            },
        }
    }

    /// Resolves the choice on this machine (probes the GPU only for `cuda` and `auto`).
    pub fn resolve(self) -> Result<ResolvedDevice, DeviceError> {
        let built = cfg!(feature = "cuda");
        let why = match self {
            Device::Cpu => None,
            _ if !built => Some("built without CUDA support: rebuild with --features cuda".to_string()),
            _ => cuda_unavailable_reason(),
        };
        self.resolve_with(built, why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        assert_eq!("CUDA".parse::<Device>(), Ok(Device::Cuda));
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!("auto".parse::<Device>(), Ok(Device::Auto));
        assert!(matches!("tpu".parse::<Device>(), Err(DeviceError::Unknown(_))));
        assert_eq!(Device::Cuda.resolve_with(false, None), Err(DeviceError::NotBuiltWithCuda));
        assert!(Device::Cuda.resolve_with(false, None).unwrap_err().to_string().contains("rebuild with --features cuda"));
        assert_eq!(Device::Cuda.resolve_with(true, Some("no libcuda".into())), Err(DeviceError::Unavailable("no libcuda".into())));
        assert_eq!(Device::Cuda.resolve_with(true, None), Ok(ResolvedDevice::Cuda));
        assert_eq!(Device::Auto.resolve_with(true, Some("no device".into())), Ok(ResolvedDevice::Cpu));
        assert_eq!(Device::Auto.resolve_with(true, None), Ok(ResolvedDevice::Cuda));
        assert_eq!(Device::Cpu.resolve_with(true, None), Ok(ResolvedDevice::Cpu));
    }
}
