#!/usr/bin/env bash
# bench/ocr.sh: PP-OCRv4 per photo (detection, the 0/180 classifier on
# every line, recognition of every line; decode and the DB/CTC
# post-processing excluded on the reference side, included on ours):
# `vkv bench ppocr-v4` on Vulkan (lavapipe here; every graph shape the photo
# needs is planned by the untimed first run) against onnxruntime-node (CPU
# execution provider) running the same three ONNX files on the very inputs
# our pipeline made for that photo (tests/ref/ocr_ref.js bench), in the same
# run.  Prints the medians, process CPU per photo (all threads) on both
# sides, and the ratios of both: on a loaded machine the CPU ratio is the
# steadier one (lavapipe's threads wait for cores).
#   bash bench/ocr.sh                          (ITERS=3, two photos)
#   OCR_IMAGES="scenetext02.jpg" bash bench/ocr.sh
# Needs `make models testdata` and a built vkv.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
ITERS=${ITERS:-3}
M=var/cache/models/ppocr-v4
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export NODE_PATH=$PWD/var/ref/node_modules
[[ -f $M/ppocr_keys_v1.txt ]] || { echo "ocr: model missing (make models)"; exit 1; }
for img in ${OCR_IMAGES:-scenetext01.jpg page.png}; do
  f=var/testdata/images/$img
  [[ -f $f ]] || { echo "ocr: $f missing (make testdata)"; exit 1; }
  mkdir -p "$T/$img"
  "$BIN/vkv" run ppocr-v4 "$f" --ocr-dump "$T/$img" >/dev/null || { echo "ocr: vkv run failed"; exit 1; }
  vk=$("$BIN/vkv" bench ppocr-v4 --image "$f" --iters "$ITERS") || { echo "ocr: vkv bench failed"; exit 1; }
  ref=$(node tests/ref/ocr_ref.js bench "$M" "$T/$img" "$ITERS") || { echo "ocr: onnxruntime-node failed"; exit 1; }
  node -e '
const [img, vk, ref] = process.argv.slice(1);
const v = JSON.parse(vk), r = JSON.parse(ref);
console.log(`ppocr-v4 ${img} (${v.image[0]}x${v.image[1]}, ${v.lines} lines): vulkan ${v.latency_ms_median.toFixed(0)} ms ` +
  `(min ${v.latency_ms_min.toFixed(0)}, CPU ${v.cpu_ms.toFixed(0)} ms, first run ${v.first_ms.toFixed(0)} ms, ` +
  `${v.executors} graph shapes), onnxruntime-node ${r.ms_median.toFixed(0)} ms (min ${r.ms_min.toFixed(0)}, ` +
  `CPU ${r.cpu_ms.toFixed(0)} ms), ratio ${(v.latency_ms_median / r.ms_median).toFixed(2)}x wall, ` +
  `${(v.cpu_ms / r.cpu_ms).toFixed(2)}x CPU`);
' "$img" "$vk" "$ref"
done
