#!/usr/bin/env bash
# The GPU goals of issue 15, on the first Vulkan device that is not a CPU
# one, each printed beside its goal:
#   - MobileNetV2 (nsfw-mobilenet-v2, real weights) batch 1 end to end
#     <= 0.5 ms: `vkv bench` latency, i.e. RGB8 pixels written to the
#     staging buffer, preprocessing, the model, the probabilities read back
#     (a 224x224 image, the model's input size, and a 640x480 one);
#   - >= 20,000 images/s batched (BATCH images per run, default 256, the
#     224x224 image);
# in f32 and f16 weights, and f16 weights with the GEMMs in fp16
# arithmetic ("f16+fp16math", VKV_RT_FP16_MATH=1, where the device has
# shaderFloat16; off by default, it costs accuracy: runtime/README.md),
# with the kernel family the device gets by default (runtime/README.md
# "Kernel families") and, for comparison, the CPU-device family forced
# (VKV_RT_KERNELS=cpu).
# Then each kernel's arithmetic rate as a share of the device's peak
# multiply-add rate, measured in the same run (`vkv-tf-bench limits`).
# The goals are an H100's; the device's name is printed with the figures.
#
# With no GPU (lavapipe only) it prints one counted "# SKIP" line and
# succeeds.  VKV_GPU_BENCH_ANY=1 runs it on the first device whatever its
# type (to check this script on lavapipe: those are not GPU figures).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
export VKV_VAR_DIR=${VKV_TEST_TMP:-/tmp}/gpu-bench-var
ITERS=${ITERS:-200} BATCH=${BATCH:-256}
mkdir -p "$VKV_VAR_DIR"
devs=$("$BIN/vkv" devices) || { echo "vkv devices failed"; exit 1; }
# "uuid<TAB>type<TAB>name" of the device to measure, or nothing
pick=$(python3 -c '
import json, os, sys
ds = json.loads(sys.argv[1])["devices"]
any_ok = os.environ.get("VKV_GPU_BENCH_ANY") == "1"
for d in ds:
    if d["type"] != "cpu" or any_ok:
        print("%s\t%s\t%s\t%s\t%s" % (d["uuid"], d["type"], d["name"], d["fp16"], d["cooperative_matrix"]))
        break
' "$devs") || { echo "cannot read vkv devices: $(head -c 300 <<<"$devs")"; exit 1; }
if [[ -z $pick ]]; then
  names=$(python3 -c 'import json,sys; print(", ".join(d["name"] + " (" + d["type"] + ")" for d in json.loads(sys.argv[1])["devices"]))' "$devs")
  echo "# SKIP gpu: no GPU here, only $names: MobileNetV2 batch 1 <= 0.5 ms and >= 20000 images/s batched need one (an H100)"
  exit 0
fi
IFS=$'\t' read -r uuid type name fp16 coop <<<"$pick"
echo "device: $name ($type), shaderFloat16 $fp16, cooperative matrix $coop (no cooperative-matrix kernel in this build)"
[[ -f models/nsfw-mobilenet-v2.json && -d var/cache/models/nsfw-mobilenet-v2 ]] ||
  { echo "nsfw-mobilenet-v2 missing (make models)"; exit 1; }
# a 224x224 RGB image (P6), the model's input size
img=$VKV_VAR_DIR/gpu-bench-224.ppm
python3 -c '
import sys
w = h = 224
px = bytes(((x * (k + 1) + y * (3 - k)) & 255) for y in range(h) for x in range(w) for k in range(3))
open(sys.argv[1], "wb").write(b"P6\n%d %d\n255\n" % (w, h) + px)
' "$img" || exit 1

field() { sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p" <<<"$2"; }
rc=0
modes=(f32 f16)
[[ $fp16 == True ]] && modes+=(f16+fp16math)
for fam in auto cpu; do
  for w in "${modes[@]}"; do
    [[ $fam == cpu && $w == f16+fp16math ]] && continue # a GPU-family switch
    for im in 224 640; do
      args=(--device "$uuid" --weights "${w%%+*}" --iters "$ITERS" --batch "$BATCH")
      [[ $im == 224 ]] && args+=(--image "$img")
      math=0
      [[ $w == *fp16math ]] && math=1
      out=$(VKV_RT_KERNELS=$fam VKV_RT_FP16_MATH=$math "$BIN/vkv" bench nsfw-mobilenet-v2 "${args[@]}" 2>&1 | tail -1)
      lat=$(field latency_ms_min "$out") med=$(field latency_ms_median "$out")
      ips=$(field throughput_ips "$out") b=$(field batch "$out")
      if [[ -z $lat || -z $ips ]]; then
        echo "vkv bench nsfw-mobilenet-v2 ${args[*]} (VKV_RT_KERNELS=$fam) failed: $(head -c 400 <<<"$out")"
        rc=1
        continue
      fi
      fam_name=$fam
      [[ $fam == auto ]] && fam_name="default ($([[ $type == cpu ]] && echo cpu || echo gpu))"
      awk -v f="$fam_name" -v w="$w" -v im="$im" -v lat="$lat" -v med="$med" -v ips="$ips" -v b="$b" 'BEGIN {
        size = im == 224 ? "224x224" : "640x480"
        printf "MobileNetV2 %s, kernels %s, %s image: batch 1 end to end min %.3f ms, median %.3f ms = %.2fx the goal 0.5 ms%s\n",
               w, f, size, lat, med, med / 0.5, (med <= 0.5 ? " (met)" : " (not met)")
        if (im == 224)
          printf "MobileNetV2 %s, kernels %s, %s image: batch %d %.0f images/s = %.2fx the goal 20000%s\n",
                 w, f, size, b, ips, ips / 20000, (ips >= 20000 ? " (met)" : " (not met)")
      }'
    done
  done
done
# the device's peak multiply-add rate, then each kernel's share of it
lim=$(RT_DEVICE=$uuid "$BIN/vkv-tf-bench" limits --iters 10) || { echo "vkv-tf-bench limits failed"; exit 1; }
echo "$lim"
peak=$(sed -nE 's/.*"bench":"peak_fma".*"gflops":([0-9.]+).*/\1/p' <<<"$lim")
[[ -n $peak ]] || { echo "no peak_fma line"; exit 1; }
# (vkv bench runs 2 warm-ups, ITERS runs at batch 1, then ITERS/4 at
# --batch: each run's profile ends with a "profile total" line, so the
# batched runs are the last ITERS/4 blocks)
for w in "${modes[@]}"; do
  math=0
  [[ $w == *fp16math ]] && math=1
  prof=$(VKV_RT_PROFILE=1 VKV_RT_FP16_MATH=$math "$BIN/vkv" bench nsfw-mobilenet-v2 --device "$uuid" --weights "${w%%+*}" \
    --iters 20 --batch "$BATCH" --image "$img" 2>&1 >/dev/null)
  for b in 1 "$BATCH"; do
    awk -v peak="$peak" -v w="$w" -v b="$b" '
      /^profile / { run[NR] = nrun; line[NR] = $0; if ($2 == "total") nrun++ }
      END {
        lo = b == 1 ? 2 : nrun - 5; hi = b == 1 ? nrun - 6 : nrun - 1
        for (i = 1; i <= NR; i++) {
          if (!(i in line) || run[i] < lo || run[i] > hi) continue
          split(line[i], f, / +/)
          if (f[2] == "total") { if (!tot || f[5] < tot) tot = f[5]; continue }
          if (line[i] !~ / GFLOP\/s$/) continue
          k = f[2]; if (!(k in us) || f[5] < us[k]) { us[k] = f[5]; g[k] = f[7]; n[k] = f[3] }
        }
        if (!tot) { print "no profile lines (VKV_RT_PROFILE)"; exit 1 }
        for (k in us)
          printf "kernel %-16s MobileNetV2 %s batch %s: %2d dispatches, best %9.1f us, %8.1f GFLOP/s = %.3f of peak (%.0f GFLOP/s), %.2f of the best total %.1f us\n",
                 k, w, b, n[k], us[k], g[k], g[k] / peak, peak, us[k] / tot, tot
      }' <<<"$prof" || rc=1
  done
done
exit $rc
