#!/usr/bin/env bash
# Runtime micro/macro benchmark: synthetic MobileNetV2-224 (real architecture,
# random weights) in fp32 / fp16 / int8 weights at batch 1 and 4, and a chain
# of 200 tiny dispatches (per-dispatch overhead), on the first Vulkan device
# (lavapipe when there is no GPU).  Prints the JSON lines of `vkv bench-ops`
# (wall min/median, process CPU per inference, dispatches, device bytes) and
# the int8/fp32 weight-size ratio.  No reference runtime here: the model
# benchmarks (bench/models.sh) compare real models with onnxruntime / tfjs.
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
