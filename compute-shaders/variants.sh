#!/usr/bin/env bash
# variants.sh: prints the shader variant table that runtime/module.mk
# compiles, one "<spv name>:<source>:<defines>" word per variant (defines
# separated by commas), from the shaders themselves: each
#   // vkv-variant: <spv name> [DEF=V,DEF=V]
# line of compute-shaders/<source>.comp is one variant; a shader without
# such a line is one variant named after its file, with no defines.  So a
# new kernel needs no Makefile edit.
set -euo pipefail
cd "$(dirname "$0")"
for f in *.comp; do
  src=${f%.comp}
  lines=$(grep -E '^// vkv-variant: ' "$f" || true)
  if [[ -z $lines ]]; then
    printf '%s:%s: ' "$src" "$src"
    continue
  fi
  while read -r _ _ name defs; do
    printf '%s:%s:%s ' "$name" "$src" "${defs:-}"
  done <<<"$lines"
done
echo
