#!/usr/bin/env bash
# Installs NVRTC (the CUDA runtime compiler, a host library: no GPU needed) and the CUDA runtime headers
# (cuda_bf16.h, cuda_fp16.h, …) from PyPI wheels into a virtual environment, so the kernel compile test
# (`cargo test -p llmserve-kernels --features cuda --test cuda_compile`) can run on a machine without
# CUDA. Idempotent: a second run only prints the exports.
#
# Versions: the CUDA 13.0 wheels, matching the GPU machine (driver 580, CUDA 13.0, libnvrtc.so.13), so CI
# compiles with the same NVRTC/ptxas generation the kernels meet on the device. cudarc's `cuda-13000`
# feature finds both libnvrtc.so.13 and libnvrtc.so.12 at run time.
#
# Usage:   eval "$(scripts/install-nvrtc.sh)"      # installs (progress on stderr), exports on stdout
# Env:     NVRTC_VENV  the venv folder (default .venv-nvrtc at the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${NVRTC_VENV:-$root/.venv-nvrtc}
nvrtc_version=13.0.88
runtime_version=13.0.96
stamp="$venv/.llmserve-nvrtc-$nvrtc_version-$runtime_version"

if [[ ! -f "$stamp" ]]; then
    {
        echo "== installing nvidia-cuda-nvrtc==$nvrtc_version nvidia-cuda-runtime==$runtime_version into $venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "nvidia-cuda-nvrtc==$nvrtc_version" "nvidia-cuda-runtime==$runtime_version"
    } >&2
    touch "$stamp"
fi
# Keep the venv out of git without touching the repository's .gitignore.
[[ -f "$venv/.gitignore" ]] || echo '*' >"$venv/.gitignore"

# The wheels' layout differs between CUDA 12 (nvidia/cuda_nvrtc/lib, nvidia/cuda_runtime/include) and
# CUDA 13 (nvidia/cu13/lib, nvidia/cu13/include): locate the files instead of hard-coding either.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
lib=$(find "$site/nvidia" -name 'libnvrtc.so.*' -print -quit | xargs -r dirname)
include=$(find "$site/nvidia" -name 'cuda_bf16.h' -print -quit | xargs -r dirname)
if [[ -z "$lib" || -z "$include" ]]; then
    echo "install-nvrtc: libnvrtc.so.* or cuda_bf16.h not found under $site/nvidia" >&2
    exit 1
fi
# The versioned soname is what cudarc's loader asks for (libnvrtc.so.13); make sure it exists.
if ! compgen -G "$lib/libnvrtc.so.[0-9]*" >/dev/null; then
    echo "install-nvrtc: no versioned libnvrtc.so.N in $lib" >&2
    exit 1
fi
echo "export LD_LIBRARY_PATH=\"$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
echo "export LLMSERVE_CUDA_INCLUDE=\"$include\""
