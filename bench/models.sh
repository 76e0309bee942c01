#!/usr/bin/env bash
# bench/models.sh: the models of models/*.json on our runtime (Vulkan; lavapipe
# where there is no GPU) beside the reference runtimes on the same input size
# in the same run: @tensorflow/tfjs (CPU backend) and @tensorflow/tfjs-backend-wasm
# (XNNPACK, WebAssembly SIMD; one thread: see tests/ref/ref_bench.js) for tfjs
# models, onnxruntime-node (CPU) for ONNX, and the ratios ours / the native
# engine (wasm, onnxruntime).  Per model: batch-1 latency (median, min, process
# CPU per inference),
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
MODELS=${MODELS:-nsfw-mobilenet-v2 blazeface-back-tfjs blazeface-back-onnx faceres emotion}
export NODE_PATH=$PWD/var/ref/node_modules
printf '%-22s %-8s %-52s %9s %8s %8s %10s %9s %9s %8s %s\n' model weights runtime "lat_ms" "min_ms" "cpu_ms" "ips@$BATCH" dispatch load_ms graph_ms "weights(MB, x fp32)"
# one row of the table from a JSON line of `vkv bench` or tests/ref/ref_bench.js
row() {
  node -e '
    const j = JSON.parse(process.argv[1]);
    const pad = (s, n) => String(s).padEnd(n), num = (v, n) => (v == null ? "-" : v.toFixed(2)).padStart(n);
    const rt = j.runtime || ("vkv " + j.executor + " (" + j.device.split(" (")[0] + ")");
    console.log(pad(j.model || process.argv[2], 22) + " " + pad(j.weights || "f32", 8) + " " + pad(rt, 52) +
      num(j.latency_ms_median, 10) + num(j.latency_ms_min, 9) + num(j.cpu_ms, 9) + num(j.throughput_ips, 11) +
      String(j.dispatches == null ? "-" : j.dispatches).padStart(10) + num(j.load_ms, 9) + num(j.graph_ms, 9) +
      (j.weight_bytes ? "  " + (j.weight_bytes / 1048576).toFixed(2) + " MB, x" + j.weight_ratio.toFixed(3) +
       (j.packed ? "" : " (not packed)") : ""));
  ' "$1" "${2:-}"
}
# ours / reference: median latency and CPU per inference (lavapipe spreads a
# run over both cores, the references here may use one: CPU time is the work)
ratio() {
  node -e '
    const a = JSON.parse(process.argv[1]), b = JSON.parse(process.argv[2]);
    let s = "  ratio " + process.argv[3] + " " + a.weights + " / " + b.runtime.split(" (")[0] + ": latency " +
      (a.latency_ms_median / b.latency_ms_median).toFixed(2) + "x, min " + (a.latency_ms_min / b.latency_ms_min).toFixed(2) +
      "x, cpu " + (a.cpu_ms / b.cpu_ms).toFixed(2) + "x";
    if (process.argv[4]) s += "; this reference / ncnn CPU MobileNetV2 (5.7 ms, measured once on this machine, ncnn not installable here): " +
      (b.latency_ms_median / 5.7).toFixed(2) + "x median, " + (b.latency_ms_min / 5.7).toFixed(2) + "x min";
    console.log(s);
  ' "$@"
}
for m in $MODELS; do
  man=models/$m.json
  size=$(node -e 'console.log(require("./'"$man"'").input.width)')
  ch=$(node -e 'console.log(require("./'"$man"'").input.channels || 3)')
  fmt=$(node -e 'console.log(require("./'"$man"'").format)')
  file=var/cache/models/$m/$(node -e 'console.log(require("./'"$man"'").model)')
  ours=()
  for w in f32 f16 i8; do
    # the first load writes the packed graph; report the second (packed) load
    "$BIN/vkv" bench "$m" --weights $w --iters 1 --batch 1 >/dev/null 2>&1
    j=$("$BIN/vkv" bench "$m" --weights $w --iters "$ITERS" --batch "$BATCH" 2>&1) || { echo "$m $w: $j"; continue; }
    row "$j"
    ours+=("$j")
  done
  # references: tfjs models on @tensorflow/tfjs (CPU backend) and on
  # tfjs-backend-wasm (XNNPACK, the native-engine anchor); ONNX on onnxruntime-node
  kinds=onnx; [[ $fmt == tfjs* ]] && kinds="tfjs tfjs-wasm"
  for kind in $kinds; do
    r=$(node tests/ref/ref_bench.js $kind "$file" "$size" "$ITERS" "$BATCH" "$ch" 2>/dev/null) || { echo "$m: reference $kind failed"; continue; }
    row "$r" "$m"
    [[ $kind == tfjs ]] && continue
    anchor=; [[ $m == nsfw-mobilenet-v2 ]] && anchor=1
    for j in "${ours[@]}"; do ratio "$j" "$r" "$m" "$anchor"; anchor=; done
  done
done
