#!/usr/bin/env bash
# Runtime micro/macro benchmark: synthetic MobileNetV2-224 (real architecture,
# random weights) in fp32 / fp16 / int8 weights at batch 1 and 4, and a chain
# of 200 tiny dispatches (per-dispatch overhead), on the first Vulkan device
# (lavapipe when there is no GPU).  Prints the JSON lines of `vkv bench-ops`
# (wall min/median, process CPU per inference, dispatches, device bytes) and
# the int8/fp32 weight-size ratio; then each convolution kernel's arithmetic
# rate (VKV_RT_PROFILE=1: device time and counted FLOPs per shader, best run)
# as a share of the device's peak multiply-add rate and beside its copy
# bandwidth, both measured in the same run (`vkv-tf-bench limits`), for
# MobileNetV2 and for BlazeFace (real model, `make models`).  No
# reference runtime here: the model benchmarks (bench/models.sh) compare real
# models with onnxruntime / tfjs.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
if [[ -z ${VK_ICD_FILENAMES:-} && -f /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]] &&
   ! ls /dev/nvidia0 /dev/dri/renderD* >/dev/null 2>&1; then
  export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
fi
export VKV_VAR_DIR=${VKV_TEST_TMP:-/tmp}/rt-bench-var
ITERS=${ITERS:-10}
"$BIN/vkv" devices | grep -E '"name"|"type"' || exit 1
out=$(mktemp)
for w in f32 f16 i8; do
  "$BIN/vkv" bench-ops --only mobilenetv2 --weights "$w" --iters "$ITERS" | tee -a "$out" || exit 1
done
"$BIN/vkv" bench-ops --only mobilenetv2 --batch 4 --iters "$((ITERS / 2 + 1))" | tee -a "$out" || exit 1
"$BIN/vkv" bench-ops --only chain --iters "$ITERS" | tee -a "$out" || exit 1
f32=$(grep '"weights":"f32"' "$out" | head -1 | sed -E 's/.*"weight_bytes":([0-9]+).*/\1/')
i8=$(grep '"weights":"i8"' "$out" | head -1 | sed -E 's/.*"weight_bytes":([0-9]+).*/\1/')
[[ -n $f32 && -n $i8 ]] && awk -v a="$i8" -v b="$f32" \
  'BEGIN { printf "int8 weights on the device: %.2fx of fp32 (%d / %d bytes)\n", a / b, a, b }'
rm -f "$out"
# the device's limits, then the kernels' share of the peak (wall-clock device
# time: on a shared CPU the best of ITERS runs is the comparable one)
lim=$("$BIN/vkv-tf-bench" limits --iters 10) || { echo "vkv-tf-bench limits failed"; exit 1; }
echo "$lim"
peak=$(echo "$lim" | sed -nE 's/.*"bench":"peak_fma".*"gflops":([0-9.]+).*/\1/p')
[[ -n $peak ]] || { echo "no peak_fma line"; exit 1; }
# per shader: best device time of ITERS runs, its GFLOP/s and share of the peak
shares() {
  awk -v peak="$peak" -v w="$2" -v m="$1" '
    /^profile / && / GFLOP\/s$/ { k = $2; if (!(k in us) || $5 < us[k]) { us[k] = $5; g[k] = $7; n[k] = $3 } }
    /^profile total/ { if (!tot || $5 < tot) tot = $5 }
    END {
      if (!tot) { print "no profile lines (VKV_RT_PROFILE)"; exit 1 }
      for (k in us)
        printf "kernel %-16s %s %s: %2d dispatches, best %8.1f us, %7.2f GFLOP/s = %.3f of peak (%.1f GFLOP/s), %.2f of the best total %.1f us\n",
               k, m, w, n[k], us[k], g[k], g[k] / peak, peak, us[k] / tot, tot
    }'
}
for w in f32 i8; do
  VKV_RT_PROFILE=1 "$BIN/vkv" bench-ops --only mobilenetv2 --weights "$w" --iters "$ITERS" 2>&1 >/dev/null |
    shares mobilenetv2 "$w" || exit 1
done
# the same on BlazeFace (real weights; 24-96 channels, where depthwise and
# narrow 1x1 convolutions are most of the time); needs `make models`
if [[ -f models/blazeface-back-onnx.json ]]; then
  for w in f32 i8; do
    prof=$(VKV_RT_PROFILE=1 "$BIN/vkv" bench blazeface-back-onnx --weights "$w" --iters "$ITERS" --batch 1 2>&1 >/dev/null) ||
      { echo "blazeface-back-onnx $w: failed (make models?): $(tail -c 300 <<<"$prof")"; exit 1; }
    shares blazeface-back-onnx "$w" <<<"$prof" || exit 1
  done
fi
