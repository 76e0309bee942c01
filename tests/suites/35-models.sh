#!/usr/bin/env bash
# 35-models: the real models against their reference runtimes (issue 4).
#
#  1. hostile model files: corrupt, truncated, huge shapes, wrong offsets
#     (test_models_hostile: clear errors, never a crash)
#  2. fidelity on 12 real photos and drawings from the Debian image
#     packages (var/testdata, scripts/fetch-testdata.sh), decoded ONCE by
#     our decoder into PPM files that both sides read:
#       - nsfw MobileNetV2 on Vulkan (lavapipe here) vs nsfwjs@4.4.0 on
#         @tensorflow/tfjs (CPU backend): same top-1, every probability
#         within 2e-4 (5.4e-5 measured)
#       - BlazeFace from the tfjs graph AND the ONNX file, on Vulkan, vs
#         onnxruntime-node: same faces, IoU >= 0.999, scores within 2e-6,
#         the 6 landmarks within 5e-5 box widths (bounds a few times the
#         measured figures, stated where each check runs)
#     - faces: BlazeFace faces aligned and cropped by us (`vkv run faces
#       --dump-faces`), FaceRes (age, gender, descriptor) and the emotion
#       model on Vulkan vs the same human-models graphs on tfjs over the
#       same crops (tests/ref/faces_ref.js): bounds stated at the check
#  3. quantisation: int8 and fp16 weights vs fp32 on 6 images (CPU
#     reference executor, whose weights are rounded exactly as the
#     device's; one Vulkan int8 run checks that): bounds and measured
#     figures are stated at each check below.  Deltas print as "# ...".
# Needs `make models testdata` (make test runs them).
set -uo pipefail
BIN=${BIN:-build/bin}
VKV=$BIN/vkv
T=${VKV_TEST_TMP:-/tmp}/models
REF=tests/ref
export NODE_PATH=$PWD/var/ref/node_modules
rm -rf "$T" && mkdir -p "$T/ppm"
fail=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fail=1; }

# -- 1. hostile files ---------------------------------------------------------
if [[ -x $BIN/test_models_hostile ]]; then
  if "$BIN/test_models_hostile" var/cache/models >"$T/hostile.log" 2>&1; then
    grep -E '^(ok|not ok|#)' "$T/hostile.log" | tail -3
    ok "hostile model files: $(grep -c '^ok' "$T/hostile.log") checks"
  else
    grep -E '^not ok' "$T/hostile.log" | head -20; tail -5 "$T/hostile.log"
    nok "hostile model files (log $T/hostile.log)"
  fi
else
  nok "test_models_hostile not built"
fi

# -- 2. fidelity ---------------------------------------------------------------
IMAGES=(grace_hopper.jpg astronaut.png chelsea.png coffee.png messi5.jpg rocket.jpg
        starry_night.jpg HappyFish.jpg anime_input.png baboon.jpg horse.png scenetext01.jpg)
paths=()
for i in "${IMAGES[@]}"; do
  f=var/testdata/images/$i
  [[ -f $f ]] || { nok "test image $f missing (make testdata)"; continue; }
  paths+=("$f")
done
for m in nsfw-mobilenet-v2 blazeface-back-tfjs blazeface-back-onnx faceres emotion; do
  [[ -d var/cache/models/$m ]] || nok "model $m missing (make models)"
done
[[ -d var/ref/node_modules/onnxruntime-node ]] || nok "reference runtimes missing (make models)"
((${#paths[@]} >= 10)) || { nok "fewer than 10 test images"; exit 1; }

if "$VKV" run blazeface-back-onnx "${paths[@]}" --cpu --dump-rgb "$T/ppm" >/dev/null 2>"$T/decode.err"; then
  ok "decoded ${#paths[@]} images to PPM for both sides"
else
  cat "$T/decode.err"; nok "decoding the test images"; exit 1
fi
PPM=("$T"/ppm/*.ppm)

run() { # out model args...
  local out=$1; shift
  local t0=$SECONDS
  if "$VKV" run "$@" >"$out" 2>"$out.err"; then
    echo "# vkv run $* ($((SECONDS - t0)) s)" | sed "s|$T/ppm/[^ ]*||g" | tr -s ' '
  else
    cat "$out.err"; nok "vkv run $1 ${*: -1}"; : >"$out"
  fi
}
run "$T/nsfw.vk.jsonl" nsfw-mobilenet-v2 "${PPM[@]}"
run "$T/bft.vk.jsonl" blazeface-back-tfjs "${PPM[@]}"
run "$T/bfo.vk.jsonl" blazeface-back-onnx "${PPM[@]}"
mkdir -p "$T/crops"
run "$T/faces.vk.jsonl" faces "${PPM[@]}" --dump-faces "$T/crops"
# the GPU kernel family (shared-memory GEMM, runtime/README.md "Kernel
# families") forced on this device: held to the same bounds below
VKV_RT_KERNELS=gpu run "$T/nsfw.gpu.jsonl" nsfw-mobilenet-v2 "${PPM[@]}"
VKV_RT_KERNELS=gpu run "$T/bfo.gpu.jsonl" blazeface-back-onnx "${PPM[@]}"

# the references depend only on the pixels, the pinned runtimes and the
# weights: their output is cached under var/cache/ref by a hash of all that
refrun() { # out script args...
  local out=$1; shift
  local key
  local d
  d=$(dirname "$2")
  key=$(cat "${PPM[@]}" "$REF/$1" "$REF/ppm.js" "$REF/package-lock.json" \
        $(find "$d" -maxdepth 1 -type f ! -name '*.vkvpack' ! -name '.*' | sort) 2>/dev/null |
        sha256sum | cut -c1-16)
  local c=var/cache/ref/${1%.js}-$key.jsonl
  if [[ -s $c ]]; then cp "$c" "$out"; echo "# $1: cached ($c)"; return 0; fi
  if node "$REF/$1" "${@:2}" "${PPM[@]}" >"$out" 2>"$out.err"; then
    mkdir -p var/cache/ref && cp "$out" "$c"
  else
    tail -5 "$out.err"; nok "$1 reference failed"
  fi
}
t0=$SECONDS
refrun "$T/nsfw.ref.jsonl" nsfw_ref.js var/cache/models/nsfw-mobilenet-v2/model.json
refrun "$T/face.ref.jsonl" blazeface_ref.js \
  var/cache/models/blazeface-back-onnx/face_detection_back_256x256_barracuda.onnx models/blazeface-back-onnx.json
CROPS=("$T"/crops/*.ppm)
if [[ -e ${CROPS[0]} ]]; then
  # keyed by the crops (our alignment) and the two models' files
  key=$(cat "${CROPS[@]}" "$REF/faces_ref.js" "$REF/ppm.js" "$REF/package-lock.json" \
        var/cache/models/faceres/faceres.* var/cache/models/emotion/emotion.* | sha256sum | cut -c1-16)
  c=var/cache/ref/faces_ref-$key.jsonl
  if [[ -s $c ]]; then
    cp "$c" "$T/faces.ref.jsonl"; echo "# faces_ref.js: cached ($c)"
  elif node "$REF/faces_ref.js" var/cache/models "${CROPS[@]}" >"$T/faces.ref.jsonl" 2>"$T/faces.ref.err"; then
    mkdir -p var/cache/ref && cp "$T/faces.ref.jsonl" "$c"
  else
    tail -5 "$T/faces.ref.err"; nok "faces_ref.js reference failed"
  fi
else
  nok "vkv run faces wrote no face crops"
fi
echo "# references: $((SECONDS - t0)) s"

# Bounds are a few times the figures measured on lavapipe (2026-12-07, 12
# images; the "# ... worst" lines print them every run).  They were 100x
# looser (|dp| 0.01, IoU 0.95), so a 100x regression passed.
# nsfw f32 vs nsfwjs: max |dp| 5.4e-5 measured, bound 2e-4
node $REF/compare.js nsfw "$T/nsfw.ref.jsonl" "$T/nsfw.vk.jsonl" "nsfw vulkan-f32 vs nsfwjs" --tol 2e-4 || fail=1
node $REF/compare.js nsfw "$T/nsfw.ref.jsonl" "$T/nsfw.gpu.jsonl" "nsfw vulkan-f32 GPU kernel family vs nsfwjs" --tol 2e-4 || fail=1
# BlazeFace f32 vs onnxruntime: IoU 1.0000, |ds| 4.3e-7, landmarks 7.2e-6
# box widths measured; bounds IoU 0.999, 2e-6, 5e-5 (landmarks were never
# compared)
node $REF/compare.js faces "$T/face.ref.jsonl" "$T/bft.vk.jsonl" "blazeface tfjs-import vulkan-f32 vs onnxruntime" \
  --iou 0.999 --score 2e-6 --lm 5e-5 || fail=1
node $REF/compare.js faces "$T/face.ref.jsonl" "$T/bfo.vk.jsonl" "blazeface onnx-import vulkan-f32 vs onnxruntime" \
  --iou 0.999 --score 2e-6 --lm 5e-5 || fail=1
node $REF/compare.js faces "$T/face.ref.jsonl" "$T/bfo.gpu.jsonl" "blazeface onnx-import vulkan-f32 GPU kernel family vs onnxruntime" \
  --iou 0.999 --score 2e-6 --lm 5e-5 || fail=1
# Face attributes f32 vs tfjs on the same crops (2026-12-07, the 6 faces
# BlazeFace finds in the 12 images, lavapipe): descriptor components
# (L2-normalised) 1.3e-6 measured, bound 5e-6; P(male) 3.6e-7 and each
# expression probability 6.0e-7 measured, bound 2e-6, same top expression;
# age identical measured, bound 0.2 years (rounded to 0.1 as human rounds
# it, so one step may flip).  Our JSON holds 6 significant digits, which is
# most of what is measured.
node $REF/faces_compare.js "$T/faces.ref.jsonl" "$T/faces.vk.jsonl" "faces vulkan-f32 vs tfjs" \
  --desc 5e-6 --age 0.2 --male 2e-6 --emo 2e-6 || fail=1

# -- 3. quantisation (6 of the images) ------------------------------------------
Q=()
for n in grace_hopper astronaut messi5 horse anime_input chelsea; do Q+=("$T/ppm/$n.ppm"); done
for w in f32 f16 i8; do
  run "$T/nsfw.cpu.$w.jsonl" nsfw-mobilenet-v2 "${Q[@]}" --cpu --weights $w
  run "$T/bfo.cpu.$w.jsonl" blazeface-back-onnx "${Q[@]}" --cpu --weights $w
done
# CPU reference f32 vs nsfwjs: 5.3e-5 measured, bound 2e-4
node $REF/compare.js nsfw "$T/nsfw.ref.jsonl" "$T/nsfw.cpu.f32.jsonl" "nsfw cpu-ref-f32 vs nsfwjs" \
  --tol 2e-4 --subset || fail=1
# f16 weights: 1.5e-2 measured, bound 0.05
node $REF/compare.js nsfw "$T/nsfw.cpu.f32.jsonl" "$T/nsfw.cpu.f16.jsonl" "nsfw f16 vs f32" --tol 0.05 || fail=1
# int8 weights: 0.126 measured, bound 0.25; top-1 kept unless fp32 itself
# is a near tie (margin <= 0.3; horse: 0.139)
node $REF/compare.js nsfw "$T/nsfw.cpu.f32.jsonl" "$T/nsfw.cpu.i8.jsonl" "nsfw i8 vs f32" \
  --tol 0.25 --margin 0.3 || fail=1
# BlazeFace f16 weights: identical output measured (IoU 1, |ds| 0,
# landmarks 0); bounds allow only summation-order noise
node $REF/compare.js faces "$T/bfo.cpu.f32.jsonl" "$T/bfo.cpu.f16.jsonl" "blazeface f16 vs f32" \
  --iou 0.9999 --score 1e-5 --lm 1e-5 || fail=1
# BlazeFace is sensitive to int8 weights (models/README.md), stated as
# measured: matched faces IoU >= 0.862, |ds| <= 0.137, landmarks <= 0.174
# box widths (bounds 0.8, 0.3, 0.35), and int8 finds a face that fp32 does
# not on chelsea (a cat; score 0.697, above the 0.5 threshold): at most 1
# face on one side only over the 6 images.  The old `--near 0.7` window let
# that extra face pass as "near the threshold".
node $REF/compare.js faces "$T/bfo.cpu.f32.jsonl" "$T/bfo.cpu.i8.jsonl" "blazeface i8 vs f32" \
  --iou 0.8 --score 0.3 --lm 0.35 --max-unmatched 1 || fail=1
# fp16 arithmetic (VKV_RT_FP16_MATH=1, GPU kernel family forced) on the
# same fp16 weights vs the CPU reference's fp32 arithmetic (lavapipe,
# 2026-12-07): nsfw max |dp| 1.25e-2 measured, bound 0.05 (the f16-weight
# bound); BlazeFace worst IoU 0.936, |ds| 1.9e-4, landmarks 0.059 box
# widths (chelsea's cat face), bounds 0.85, 1e-3, 0.15.  Off by default
# for that reason (runtime/README.md).
if grep -q '"fp16": *true' <<<"$("$VKV" devices)"; then
  VKV_RT_KERNELS=gpu VKV_RT_FP16_MATH=1 run "$T/nsfw.h16.jsonl" nsfw-mobilenet-v2 "${Q[@]}" --weights f16
  VKV_RT_KERNELS=gpu VKV_RT_FP16_MATH=1 run "$T/bfo.h16.jsonl" blazeface-back-onnx "${Q[@]}" --weights f16
  node $REF/compare.js nsfw "$T/nsfw.cpu.f16.jsonl" "$T/nsfw.h16.jsonl" "nsfw f16 weights, fp16 arithmetic vs fp32" \
    --tol 0.05 || fail=1
  node $REF/compare.js faces "$T/bfo.cpu.f16.jsonl" "$T/bfo.h16.jsonl" "blazeface f16 weights, fp16 arithmetic vs fp32" \
    --iou 0.85 --score 1e-3 --lm 0.15 || fail=1
else
  echo "# SKIP fp16 arithmetic: device 0 has no shaderFloat16"
fi
# the device computes what the CPU reference computes with the same rounded
# weights: 0 measured (identical), bound 1e-5
run "$T/nsfw.vk.i8.jsonl" nsfw-mobilenet-v2 "${Q[@]:0:2}" --weights i8
node $REF/compare.js nsfw "$T/nsfw.cpu.i8.jsonl" "$T/nsfw.vk.i8.jsonl" "nsfw vulkan-i8 vs cpu-ref-i8" \
  --tol 1e-5 --subset || fail=1

# -- 4. CLI behaviour ------------------------------------------------------------
out=$("$VKV" run nsfw-mobilenet-v2 /nonexistent.jpg --cpu 2>&1); rc=$?
[[ $rc != 0 && $out == *"could not open"* ]] && ok "vkv run: missing image is a clear error" ||
  nok "vkv run missing image: rc $rc: $out"
out=$("$VKV" run no-such-model "${PPM[0]}" --cpu 2>&1); rc=$?
[[ $rc != 0 && $out == *"cannot load model"* ]] && ok "vkv run: unknown model is a clear error" ||
  nok "vkv run unknown model: rc $rc: $out"
"$VKV" run nsfw-mobilenet-v2 "${PPM[0]}" --weights f8 >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] && ok "vkv run: bad --weights is a usage error" || nok "vkv run --weights f8: rc $rc"
out=$("$VKV" bench blazeface-back-onnx --cpu --iters 2 --batch 2 2>&1); rc=$?
if [[ $rc == 0 ]] && node -e 'const j=JSON.parse(process.argv[1]); if(!(j.load_ms>0&&j.latency_ms_median>0&&j.dispatches>0&&j.throughput_ips>0)) process.exit(1)' "$out"; then
  ok "vkv bench prints load time, latency, throughput and dispatches"
else
  nok "vkv bench: rc $rc: $out"
fi
exit $fail
