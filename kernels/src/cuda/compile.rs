//! NVRTC compilation of the kernel files to CUBIN, with an on-disk cache.
//!
//! Each `.cu` file (prelude + file, see [`super::sources`]) is compiled for one real architecture
//! (`--gpu-architecture=sm_90` on Hopper): NVRTC then runs ptxas itself and returns a CUBIN, which the
//! driver loads without a JIT step, and `--ptxas-options=-v` puts ptxas' per-kernel resource report
//! (registers, spill stores/loads, stack, shared memory) into the program log, parsed by
//! [`CompiledModule::resource_usage`]. No GPU is needed to compile: only libnvrtc (and its builtins
//! library) and the CUDA headers (`cuda_bf16.h` …).
//!
//! Cache: `<cache dir>/cuda-kernels/<file stem>-<arch>-<key>.cubin` (+ `.log`), where the key hashes the
//! full source, the options, the NVRTC version and a caller salt (the driver version); the cache dir is
//! the one of the model cache (`$LLMSERVE_CACHE_DIR`, else `$XDG_CACHE_HOME/llmserve`, else
//! `~/.cache/llmserve`). Files are written to a temporary name and renamed, so concurrent processes never
//! see a partial file. A cache that can't be read or written only costs a recompile.

use std::ffi::{c_char, CString};
use std::fmt;
use std::path::{Path, PathBuf};

use cudarc::nvrtc::{result as nvrtc, sys as nvrtc_sys};
use sha2::{Digest, Sha256};

use super::error::CudaKernelError;
use super::sources::KernelSource;

/// A real GPU architecture, `sm_{major}{minor}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GpuArch {
    pub major: u32,
    pub minor: u32,
}

impl GpuArch {
    /// Ampere A100.
    pub const SM80: GpuArch = GpuArch { major: 8, minor: 0 };
    /// Hopper H100 / H200.
    pub const SM90: GpuArch = GpuArch { major: 9, minor: 0 };
}

impl fmt::Display for GpuArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sm_{}{}", self.major, self.minor)
    }
}

/// How to compile.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub arch: GpuArch,
    /// Directories searched for `#include <cuda_bf16.h>`.
    pub include_dirs: Vec<PathBuf>,
    /// Where compiled modules are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Extra cache-key input (e.g. the driver version): a different salt never reuses a module.
    pub cache_salt: String,
    /// Ask ptxas for its resource report (`--ptxas-options=-v`); costs nothing measurable.
    pub ptxas_verbose: bool,
}

impl CompileOptions {
    /// Options for `arch` with the CUDA headers from [`find_cuda_include`] and the default cache.
    pub fn for_arch(arch: GpuArch) -> Result<CompileOptions, CudaKernelError> {
        let include = find_cuda_include().map_err(|searched| CudaKernelError::HeadersNotFound { searched })?;
        Ok(CompileOptions {
            arch,
            include_dirs: vec![include],
            cache_dir: Some(crate::cache_dir::cache_dir().join("cuda-kernels")),
            cache_salt: String::new(),
            ptxas_verbose: true,
        })
    }

    /// The NVRTC command line.
    pub fn nvrtc_args(&self) -> Vec<String> {
        let mut args = vec![format!("--gpu-architecture={}", self.arch), "--std=c++17".to_string()];
        args.extend(self.include_dirs.iter().map(|d| format!("--include-path={}", d.display())));
        if self.ptxas_verbose {
            args.push("--ptxas-options=-v".to_string());
        }
        args
    }
}

/// One compiled kernel file.
#[derive(Clone, Debug)]
pub struct CompiledModule {
    pub file: &'static str,
    pub arch: GpuArch,
    /// The CUBIN image, loadable with `CudaContext::load_module(Ptx::from_binary(..))`.
    pub cubin: Vec<u8>,
    /// NVRTC's program log (warnings and, with `ptxas_verbose`, the ptxas resource report).
    pub log: String,
    /// Whether the module came from the on-disk cache.
    pub from_cache: bool,
}

/// ptxas' resource report for one kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelResources {
    pub kernel: String,
    pub registers: u32,
    pub stack_bytes: u32,
    pub spill_store_bytes: u32,
    pub spill_load_bytes: u32,
    pub shared_bytes: u32,
}

impl KernelResources {
    pub fn spills(&self) -> bool {
        self.spill_store_bytes > 0 || self.spill_load_bytes > 0
    }
}

impl CompiledModule {
    /// Per-kernel resources parsed from the ptxas report in the log (empty without `ptxas_verbose`).
    pub fn resource_usage(&self) -> Vec<KernelResources> {
        parse_ptxas_report(&self.log)
    }
}

/// Parses ptxas `-v` output:
/// ```text
/// ptxas info    : Compiling entry function 'rms_norm' for 'sm_90'
/// ptxas info    : Function properties for rms_norm
///     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
/// ptxas info    : Used 16 registers, used 1 barriers, 128 bytes smem, 400 bytes cmem[0]
/// ```
pub fn parse_ptxas_report(log: &str) -> Vec<KernelResources> {
    fn number_before(line: &str, unit: &str) -> Option<u32> {
        let at = line.find(unit)?;
        line[..at].split(|c: char| !c.is_ascii_digit()).rfind(|s| !s.is_empty())?.parse().ok()
    }
    let mut out: Vec<KernelResources> = Vec::new();
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or_default();
            out.push(KernelResources { kernel: name.to_string(), ..Default::default() });
        } else if let Some(k) = out.last_mut() {
            if line.contains("bytes stack frame") {
                k.stack_bytes = number_before(line, "bytes stack frame").unwrap_or(0);
                k.spill_store_bytes = number_before(line, "bytes spill stores").unwrap_or(0);
                k.spill_load_bytes = number_before(line, "bytes spill loads").unwrap_or(0);
            } else if line.contains("Used ") && line.contains(" registers") {
                k.registers = number_before(line, " registers").unwrap_or(0);
                k.shared_bytes = number_before(line, " bytes smem").unwrap_or(0);
            }
        }
    }
    out
}

/// Whether libnvrtc can be loaded (checked before any NVRTC call: cudarc panics on a missing library).
pub fn is_nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the candidate library names; no NVRTC function is called.
    unsafe { nvrtc_sys::is_culib_present() }
}

fn ensure_nvrtc() -> Result<(), CudaKernelError> {
    if is_nvrtc_available() {
        Ok(())
    } else {
        Err(CudaKernelError::LibraryMissing {
            library: "libnvrtc",
            hint: "install the CUDA toolkit or run scripts/install-nvrtc.sh and put its lib dir on LD_LIBRARY_PATH",
        })
    }
}

/// NVRTC's (major, minor) version.
pub fn nvrtc_version() -> Result<(i32, i32), CudaKernelError> {
    ensure_nvrtc()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present (checked above); both pointers are valid for the call.
    let status = unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) };
    status.result().map_err(|e| CudaKernelError::Compile {
        file: "-",
        arch: "-".into(),
        status: format!("nvrtcVersion: {e:?}"),
        log: String::new(),
    })?;
    Ok((major, minor))
}

/// The first directory holding `cuda_bf16.h`: `$LLMSERVE_CUDA_INCLUDE`, `$CUDA_PATH/include`,
/// `$CUDA_HOME/include`, `/usr/local/cuda/include`, `/opt/cuda/include`, `/usr/include`. On failure, the
/// directories searched.
pub fn find_cuda_include() -> Result<PathBuf, Vec<PathBuf>> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("LLMSERVE_CUDA_INCLUDE").filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(d));
    }
    for var in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(d) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            candidates.push(PathBuf::from(d).join("include"));
        }
    }
    candidates.extend(["/usr/local/cuda/include", "/opt/cuda/include", "/usr/include"].map(PathBuf::from));
    match candidates.iter().find(|d| d.join("cuda_bf16.h").is_file()) {
        Some(d) => Ok(d.clone()),
        None => Err(candidates),
    }
}

/// Compiles one kernel file (or takes it from the cache).
pub fn compile(src: &KernelSource, opts: &CompileOptions) -> Result<CompiledModule, CudaKernelError> {
    let (major, minor) = nvrtc_version()?;
    let full = src.full_source();
    let args = opts.nvrtc_args();
    let cache_path = opts.cache_dir.as_ref().map(|dir| {
        let mut h = Sha256::new();
        h.update(full.as_bytes());
        for a in &args {
            h.update(a.as_bytes());
            h.update([0]);
        }
        h.update(format!("nvrtc {major}.{minor}; {}", opts.cache_salt).as_bytes());
        let key: String = h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
        let stem = src.file.trim_end_matches(".cu");
        dir.join(format!("{stem}-{}-{key}.cubin", opts.arch))
    });
    if let Some(path) = &cache_path {
        if let Ok(cubin) = std::fs::read(path) {
            if !cubin.is_empty() {
                let log = std::fs::read_to_string(path.with_extension("log")).unwrap_or_default();
                return Ok(CompiledModule { file: src.file, arch: opts.arch, cubin, log, from_cache: true });
            }
        }
    }
    let (cubin, log) = compile_uncached(src.file, &full, &args, opts.arch)?;
    if let Some(path) = &cache_path {
        // Best effort: a failed cache write only means compiling again next time.
        let _ = write_atomic(&path.with_extension("log"), log.as_bytes());
        let _ = write_atomic(path, &cubin);
    }
    Ok(CompiledModule { file: src.file, arch: opts.arch, cubin, log, from_cache: false })
}

/// Destroys an NVRTC program when dropped.
struct Program(nvrtc_sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the program was created by nvrtcCreateProgram and is destroyed exactly once, here.
        let _ = unsafe { nvrtc::destroy_program(self.0) };
    }
}

fn c_chars_to_string(v: &[c_char]) -> String {
    let bytes: Vec<u8> = v.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn compile_uncached(file: &'static str, full: &str, args: &[String], arch: GpuArch) -> Result<(Vec<u8>, String), CudaKernelError> {
    let fail = |status: String, log: String| CudaKernelError::Compile { file, arch: arch.to_string(), status, log };
    let src = CString::new(full).map_err(|_| fail("source contains a NUL byte".into(), String::new()))?;
    let name = CString::new(file).map_err(|_| fail("file name contains a NUL byte".into(), String::new()))?;
    let prog = Program(nvrtc::create_program(&src, Some(&name)).map_err(|e| fail(format!("create: {e:?}"), String::new()))?);
    // SAFETY: `prog.0` is a live program (destroyed only by `Program::drop`); `src`/`name` outlive it.
    let status = unsafe { nvrtc::compile_program(prog.0, args) };
    // SAFETY: as above.
    let log = unsafe { nvrtc::get_program_log(prog.0) }.map(|l| c_chars_to_string(&l)).unwrap_or_default();
    if let Err(e) = status {
        return Err(fail(format!("{e:?}"), log));
    }
    let mut size = 0usize;
    // SAFETY: live program, valid out pointer.
    unsafe { nvrtc_sys::nvrtcGetCUBINSize(prog.0, &mut size) }
        .result()
        .map_err(|e| fail(format!("nvrtcGetCUBINSize: {e:?}"), log.clone()))?;
    if size == 0 {
        return Err(fail("NVRTC produced no CUBIN (is the arch a real sm_XY?)".into(), log));
    }
    let mut cubin = vec![0u8; size];
    // SAFETY: live program; the buffer holds exactly the `size` bytes NVRTC reported.
    unsafe { nvrtc_sys::nvrtcGetCUBIN(prog.0, cubin.as_mut_ptr().cast()) }
        .result()
        .map_err(|e| fail(format!("nvrtcGetCUBIN: {e:?}"), log.clone()))?;
    Ok((cubin, log))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{nanos}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ptxas_report() {
        let log = "ptxas info    : 0 bytes gmem\n\
                   ptxas info    : Compiling entry function 'rms_norm' for 'sm_90'\n\
                   ptxas info    : Function properties for rms_norm\n\
                   \x20   8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
                   ptxas info    : Used 40 registers, used 1 barriers, 128 bytes smem, 400 bytes cmem[0]\n\
                   ptxas info    : Compiling entry function 'x' for 'sm_90'\n\
                   ptxas info    : Function properties for x\n\
                   \x20   0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
                   ptxas info    : Used 7 registers, 380 bytes cmem[0]\n";
        let r = parse_ptxas_report(log);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            KernelResources {
                kernel: "rms_norm".into(),
                registers: 40,
                stack_bytes: 8,
                spill_store_bytes: 4,
                spill_load_bytes: 12,
                shared_bytes: 128
            }
        );
        assert!(r[0].spills());
        assert_eq!((r[1].registers, r[1].shared_bytes, r[1].spills()), (7, 0, false));
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("llmserve-kernels-cache-test-{}", std::process::id()));
        let p = dir.join("a.cubin");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn args_name_the_arch_and_headers() {
        let o = CompileOptions {
            arch: GpuArch::SM90,
            include_dirs: vec![PathBuf::from("/x/include")],
            cache_dir: None,
            cache_salt: String::new(),
            ptxas_verbose: true,
        };
        assert_eq!(
            o.nvrtc_args(),
            vec!["--gpu-architecture=sm_90", "--std=c++17", "--include-path=/x/include", "--ptxas-options=-v"]
        );
    }
}
