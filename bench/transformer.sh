#!/usr/bin/env bash
# Transformer kernels and the decoder (runtime/tfm/) on the first Vulkan
# device (lavapipe when there is no GPU), against the device's own limits
# measured in the same run:
#   - copy bandwidth (vkCmdCopyBuffer) and peak multiply-add rate (tf_peak);
#   - one-row matmul (decode) at the 2B model's shapes (2048x6144, 2048x8192,
#     8192x2048, 2048x51200) in i8 / q4 / f16 as a fraction of the copy
#     bandwidth (weight bytes read per second; goal >= 0.70);
#   - many-row matmul (TF_M rows, prefill / vision) as a fraction of the peak
#     (goal >= 0.50);
#   - Moondream 2's full text decoder (24 layers, 2048, vocab 51200) with
#     random weights in i8 and q4: load time, device bytes, prefill of
#     TF_PREFILL positions, decode ms/token, host ms per step and its
#     fraction of the step (goal <= 0.05), dispatches and barriers per token,
#     host top-p sampling time.
# Knobs: TF_M (64), TF_ITERS (2), TF_PREFILL (32), TF_TOKENS (8), TF_LAYERS (24),
# TF_WEIGHTS ("i8 q4"), TF_PARTS ("micro decoder").
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
source tests/lib/vk_icd.sh
vk_icd_default
export VKV_VAR_DIR=${VKV_TEST_TMP:-/tmp}/rt-bench-var
out=$(mktemp)
rc=0
for part in ${TF_PARTS:-micro decoder}; do
  case $part in
  micro)
    "$BIN/vkv-tf-bench" micro --m "${TF_M:-64}" --iters "${TF_ITERS:-2}" | tee -a "$out" || rc=1 ;;
  decoder)
    for w in ${TF_WEIGHTS:-i8 q4}; do
      "$BIN/vkv-tf-bench" decoder --weights "$w" --layers "${TF_LAYERS:-24}" \
        --prefill "${TF_PREFILL:-32}" --tokens "${TF_TOKENS:-8}" | tee -a "$out" || rc=1
    done ;;
  esac
done
# summary: worst and best fractions against the goals
awk -F'"fraction_of_copy_bw":' '/linear_one_row/ { split($2, a, /[,}]/); v = a[1] + 0;
     if (n == 0 || v < lo) lo = v; if (v > hi) hi = v; n++ }
     END { if (n) printf "one-row matmul: %.3f .. %.3f of copy bandwidth (goal >= 0.70)\n", lo, hi }' "$out"
awk -F'"fraction_of_peak":' '/linear_many_rows/ { split($2, a, /[,}]/); v = a[1] + 0;
     if (n == 0 || v < lo) lo = v; if (v > hi) hi = v; n++ }
     END { if (n) printf "many-row matmul: %.3f .. %.3f of peak multiply-add rate (goal >= 0.50)\n", lo, hi }' "$out"
awk -F'"cpu_fraction_of_copy_bw":' '/linear_one_row/ { split($2, a, /[,}]/); v = a[1] + 0;
     if (n == 0 || v < lo) lo = v; if (v > hi) hi = v; n++ }
     END { if (n) printf "one-row matmul by CPU time: %.3f .. %.3f of copy bandwidth\n", lo, hi }' "$out"
awk -F'"cpu_fraction_of_peak":' '/linear_many_rows/ { split($2, a, /[,}]/); v = a[1] + 0;
     if (n == 0 || v < lo) lo = v; if (v > hi) hi = v; n++ }
     END { if (n) printf "many-row matmul by CPU time: %.3f .. %.3f of peak\n", lo, hi }' "$out"
grep '"bench":"decoder"' "$out" | sed -E 's/.*"weights":"([a-z0-9]+)".*"decode_ms_per_token":([0-9.]+).*"host_fraction":([0-9.]+),"dispatches_per_token":([0-9]+).*/decoder \1: \2 ms\/token, host \3 of the step (goal <= 0.05), \4 dispatches per token/'
rm -f "$out"
exit $rc
