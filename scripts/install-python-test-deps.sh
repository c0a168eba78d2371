#!/usr/bin/env bash
# Installs the Python packages the HTTP conformance and load tests use (the official `openai` SDK, and
# httpx for the load test's streaming clients) into .venv-sdk (gitignored), once. Prints the venv's python path on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-sdk
OPENAI_VERSION=3.57.0
HTTPX_VERSION=0.28.1
if ! "$VENV/bin/python" -c "import openai, httpx, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION' or httpx.__version__ != '$HTTPX_VERSION')" 2>/dev/null; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "openai==$OPENAI_VERSION" "httpx==$HTTPX_VERSION" >&2
fi
echo "$PWD/$VENV/bin/python"
