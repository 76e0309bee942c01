#!/usr/bin/env bash
# Importers against outside references: the PyTorch reference program
# (tests/ref/moondream_ref.py, Debian's python3-torch under /usr/bin/python3)
# checks its own pieces against torch.nn, writes reduced Moondream-shaped
# weights in BF16, F16 and F32, and the safetensors reader opens and converts
# every tensor of each.
set -uo pipefail
rc=0
PY=/usr/bin/python3
T=${VKV_TEST_TMP:-/tmp}/12-import
mkdir -p "$T"
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "not ok - python3-torch is not installed (scripts/install-deps.sh)"
  exit 1
fi
"$PY" tests/ref/moondream_ref.py --self-test || rc=1
for d in bf16 f16 f32; do
  if "$PY" tests/ref/moondream_ref.py --config tests/ref/moondream_tiny.json --dtype "$d" \
       --save "$T/tiny_$d.safetensors" --text 1,2,3 --no-hidden --out "$T/tiny_$d.json"; then
    echo "ok - moondream_ref writes tiny $d weights"
  else
    echo "not ok - moondream_ref writes tiny $d weights"; rc=1
  fi
done
"$BIN/test_st" "$T"/tiny_{bf16,f16,f32}.safetensors | grep -v '^ok - [^/]' || rc=1
exit $rc
