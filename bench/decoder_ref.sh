#!/usr/bin/env bash
# The decoder at Moondream 2's full text sizes (dim 2048, 32 heads, ff 8192,
# vocab 51200) but 2 layers, against the PyTorch reference: random BF16
# weights (as Moondream ships them, 621 MB) written by
# tests/ref/moondream_ref.py (float64 forward), then `vkv decode` in each
# weight type, teacher-forced with the reference's tokens, prefix 3.
# Prints max |err| / max |ref logit| over the prefill and 3 steps and fails
# above the bounds (f32 1e-4 as the issue asks; measured on lavapipe:
# f32 4.4e-7, f16 4.0e-7 (BF16 values are exact in f16), i8 2.0e-2,
# q4 0.14).  Too heavy for make test (2 min of reference, ~25 s per type).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-/tmp}/bench-decoder-ref
mkdir -p "$T"
PY=/usr/bin/python3
CFG='{"text":{"n_layers":2}}'
IDS=50256,24564,4892,262,2939,13,198,198
source tests/lib/vk_icd.sh
vk_icd_default
export VKV_VAR_DIR=$T/var
start=$(date +%s)
"$PY" tests/ref/moondream_ref.py --config "$CFG" --parts text --seed 5 --dtype bf16 \
  --save "$T/w.safetensors" --text $IDS --prefix 3 --generate 3 --no-hidden --out "$T/ref.json" ||
  { echo "reference failed"; exit 1; }
echo "reference (PyTorch float64, 2 full-size layers): $(( $(date +%s) - start )) s"
F=$("$PY" -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['text']['generated'])))" "$T/ref.json")
rc=0
for w in f32:1e-4 f16:1e-4 i8:6e-2 q4:0.5; do
  wt=${w%%:*} bound=${w#*:}
  s=$(date +%s%N)
  if "$BIN/vkv" decode "$T/w.safetensors" --config "$CFG" --ids $IDS --prefix 3 --generate 3 \
       --force "$F" --wtype "$wt" >"$T/vkv_$wt.json"; then
    echo "vkv decode $wt: $(( ($(date +%s%N) - s) / 1000000 )) ms (load + prefill 8 + 3 steps)"
    "$PY" tests/ref/dec_compare.py "$T/ref.json" "$T/vkv_$wt.json" "full-size 2 layers $wt" "$bound" \
      | grep -v ' - full-size 2 layers [a-z0-9]*: \(same prompt\|logits of\)' || rc=1
  else
    echo "vkv decode $wt failed"; rc=1
  fi
done
# greedy, not forced: the device picks the reference's tokens
"$BIN/vkv" decode "$T/w.safetensors" --config "$CFG" --ids $IDS --prefix 3 --generate 3 \
  --wtype f32 >"$T/vkv_greedy.json" &&
  "$PY" tests/ref/dec_compare.py "$T/ref.json" "$T/vkv_greedy.json" "full-size 2 layers greedy f32" \
    1e-4 --same-tokens | grep 'greedy tokens' || rc=1
rm -f "$T/w.safetensors"
exit $rc
