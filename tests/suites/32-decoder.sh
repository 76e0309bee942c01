#!/usr/bin/env bash
# The decoder on the device (`vkv decode`: safetensors + config -> rt_dec on
# lavapipe, validation layers on) against the PyTorch reference
# (tests/ref/moondream_ref.py, float64) at the reduced config
# tests/ref/moondream_tiny.json, for three weight seeds: prefill logits,
# 6 teacher-forced decode steps, the last block's hidden states.
# Bounds (max |err| / max |ref logit|), a few times what was measured
# (lavapipe, 3 seeds): f32 1e-6 (measured 3.1e-7), f16 2e-3 (6.3e-4),
# i8 6e-2 (2.3e-2), q4 0.5 (0.19; the runtime's asymmetric groups of 32).
# st_upload: the safetensors converters' f16/i8/q4 output (import/st.h)
# uploaded as is and multiplied on the device, vs the same product here.
# Also weights saved as BF16 and F16 (the reference computes on the same
# rounded values), and --text through a tokenizer.json.
set -uo pipefail
rc=0
PY=/usr/bin/python3
T=${VKV_TEST_TMP:-/tmp}/32-decoder
mkdir -p "$T"
CFG=tests/ref/moondream_tiny.json
source tests/lib/vk_icd.sh
vk_icd_default
# a private pipeline cache (the default, ~/.cache/vkvision, is shared by every run on the machine)
export RT_VALIDATE=1 VKV_VAR_DIR=$T/var
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "not ok - python3-torch is not installed (scripts/install-deps.sh)"; exit 1
fi
# the safetensors converters' formats through the matmul kernels
echo "# $BIN/st_upload"
"$BIN/st_upload" || rc=1
IDS=5,17,42,99,7,250,3,11
ref() { # seed dtype
  "$PY" tests/ref/moondream_ref.py --config $CFG --seed "$1" --dtype "$2" --parts text \
    --save "$T/w$1$2.safetensors" --text $IDS --prefix 4 --generate 6 --out "$T/ref$1$2.json"
}
forced() { "$PY" -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['text']['generated'])))" "$1"; }
for seed in 1 2 3; do
  ref $seed f32 || { echo "not ok - reference seed $seed"; rc=1; continue; }
  F=$(forced "$T/ref${seed}f32.json")
  for w in f32:1e-6 f16:2e-3 i8:6e-2 q4:0.5; do
    wt=${w%%:*} bound=${w#*:}
    extra=(); [[ $wt == f32 ]] && extra=(--hidden)
    if "$BIN/vkv" decode "$T/w${seed}f32.safetensors" --config $CFG --ids $IDS --prefix 4 \
         --generate 6 --force "$F" --wtype $wt --hidden >"$T/vkv$seed$wt.json" 2>"$T/vkv$seed$wt.err"; then
      "$PY" tests/ref/dec_compare.py "$T/ref${seed}f32.json" "$T/vkv$seed$wt.json" \
        "seed $seed $wt" "$bound" "${extra[@]}" || rc=1
    else
      echo "not ok - vkv decode seed $seed $wt: $(tail -1 "$T/vkv$seed$wt.err")"; rc=1
    fi
  done
done
# greedy generation without forcing picks the reference's tokens (f32, f16)
for seed in 1 2 3; do
  for w in f32:1e-6 f16:2e-3; do
    wt=${w%%:*} bound=${w#*:}
    "$BIN/vkv" decode "$T/w${seed}f32.safetensors" --config $CFG --ids $IDS --prefix 4 \
      --generate 6 --wtype $wt >"$T/greedy$seed$wt.json" &&
      "$PY" tests/ref/dec_compare.py "$T/ref${seed}f32.json" "$T/greedy$seed$wt.json" \
        "greedy seed $seed $wt" "$bound" --same-tokens || rc=1
  done
done
for d in bf16 f16; do
  ref 2 $d || { echo "not ok - reference $d"; rc=1; continue; }
  "$BIN/vkv" decode "$T/w2$d.safetensors" --config $CFG --ids $IDS --prefix 4 --generate 6 \
    >"$T/vkv2$d.json" &&
    "$PY" tests/ref/dec_compare.py "$T/ref2$d.json" "$T/vkv2$d.json" "$d weights file, f32 compute" \
      1e-6 --same-tokens || rc=1
done
# --text: the prompt goes through the tokenizer (a byte-level BPE built here)
TK=$T/tok
mkdir -p "$TK"
if bash tests/import/tok_fetch.sh && node tests/import/tok_ref.mjs train tests/import/tok_corpus.json "$TK"; then
  echo '["A photo of a cat"]' >"$TK/prompt.json"
  node tests/import/tok_ref.mjs encode "$TK/regex-str.json" "$TK/prompt.json" >"$TK/prompt.ref"
  want=$("$PY" -c "import json,sys; print(','.join(map(str, json.loads(open(sys.argv[1]).readline())['ids'])))" "$TK/prompt.ref")
  ref 1 f32 >/dev/null
  "$PY" tests/ref/moondream_ref.py --config $CFG --weights "$T/w1f32.safetensors" --text "$want" \
    --generate 4 --no-hidden --out "$T/reftext.json"
  if "$BIN/vkv" decode "$T/w1f32.safetensors" --config $CFG --text "A photo of a cat" \
       --tokenizer "$TK/regex-str.json" --generate 4 >"$T/vkvtext.json"; then
    "$PY" tests/ref/dec_compare.py "$T/reftext.json" "$T/vkvtext.json" "--text via tokenizer.json" \
      1e-6 --same-tokens || rc=1
  else
    echo "not ok - vkv decode --text"; rc=1
  fi
else
  echo "not ok - tokenizer for the --text test"; rc=1
fi
# bad input: clear errors, exit 1
if "$BIN/vkv" decode "$T/w1f32.safetensors" --config $CFG --ids 5,9999 2>"$T/bad.err"; then
  echo "not ok - an id past the vocabulary is refused"; rc=1
else
  echo "ok - an id past the vocabulary is refused: $(head -1 "$T/bad.err")"
fi
if "$BIN/vkv" decode "$T/w1f32.safetensors" --ids 1 \
     --config '{"text":{"dim":256,"n_heads":4,"n_layers":2,"ff_dim":256,"vocab_size":768,"max_context":64}}' 2>"$T/bad2.err"; then
  echo "not ok - weights that do not fit the config are refused"; rc=1
else
  echo "ok - weights that do not fit the config are refused: $(head -1 "$T/bad2.err")"
fi
exit $rc
