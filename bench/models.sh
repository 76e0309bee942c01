#!/usr/bin/env bash
# bench/models.sh: the models of models/*.json on our runtime (Vulkan; lavapipe
# where there is no GPU) beside the reference runtimes on the same input size
# in the same run: tfjs (@tensorflow/tfjs, CPU backend) for tfjs models,
# onnxruntime-node (CPU) for ONNX.  Per model: batch-1 latency (median),
# batched throughput, dispatches per inference, load time (packed graph +
# plan), weights on the device vs fp32 (f32 / f16 / i8).
# Ours runs the whole task minus decoding (RGB8 640x480 -> preprocessing on
# the device -> model); the references run the model alone.
#   bash bench/models.sh                 (ITERS=20 BATCH=8 by default)
#   MODELS="nsfw-mobilenet-v2" ITERS=10 bash bench/models.sh
# Needs `make models` (weights, var/ref) and a built vkv.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
ITERS=${ITERS:-20}
BATCH=${BATCH:-8}
MODELS=${MODELS:-nsfw-mobilenet-v2 blazeface-back-tfjs blazeface-back-onnx}
export NODE_PATH=$PWD/var/ref/node_modules
printf '%-22s %-8s %-34s %9s %10s %9s %9s %8s %s\n' model weights runtime "lat_ms" "ips@$BATCH" dispatch load_ms graph_ms "weights(MB, x fp32)"
for m in $MODELS; do
  man=models/$m.json
  size=$(node -e 'console.log(require("./'"$man"'").input.width)')
  fmt=$(node -e 'console.log(require("./'"$man"'").format)')
  file=var/cache/models/$m/$(node -e 'console.log(require("./'"$man"'").model)')
  for w in f32 f16 i8; do
    # the first load writes the packed graph; report the second (packed) load
    "$BIN/vkv" bench "$m" --weights $w --iters 1 --batch 1 >/dev/null 2>&1
    j=$("$BIN/vkv" bench "$m" --weights $w --iters "$ITERS" --batch "$BATCH" 2>&1) || { echo "$m $w: $j"; continue; }
    node -e '
      const j = JSON.parse(process.argv[1]);
      const pad = (s, n) => String(s).padEnd(n);
      console.log(pad(j.model, 22) + " " + pad(j.weights, 8) + " " + pad("vkv " + j.executor + " (" + j.device.split(" (")[0] + ")", 34) +
        String(j.latency_ms_median.toFixed(2)).padStart(10) + String(j.throughput_ips.toFixed(2)).padStart(11) +
        String(j.dispatches).padStart(10) + String(j.load_ms.toFixed(1)).padStart(9) + String(j.graph_ms.toFixed(1)).padStart(9) +
        "  " + (j.weight_bytes / 1048576).toFixed(2) + " MB, x" + j.weight_ratio.toFixed(3) + (j.packed ? "" : " (not packed)"));
    ' "$j"
  done
  kind=onnx; [[ $fmt == tfjs* ]] && kind=tfjs
  r=$(node tests/ref/ref_bench.js $kind "$file" "$size" "$ITERS" "$BATCH" 2>/dev/null) || { echo "$m: reference failed"; continue; }
  node -e '
    const j = JSON.parse(process.argv[1]);
    console.log(String(process.argv[2]).padEnd(22) + " f32      " + j.runtime.padEnd(34) + String(j.latency_ms_median.toFixed(2)).padStart(10) +
      String(j.throughput_ips.toFixed(2)).padStart(11) + "         -" + String(j.load_ms.toFixed(1)).padStart(9));
  ' "$r" "$m"
done
