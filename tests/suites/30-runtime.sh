#!/usr/bin/env bash
# Runtime: IR + CPU reference unit tests, then the Vulkan op conformance
# suite on lavapipe (or the first GPU) with the validation layers on.
set -uo pipefail
rc=0
echo "# $BIN/rt_test_ir"
"$BIN/rt_test_ir" || rc=1
if [[ -x $BIN/rt_conform ]]; then
  if [[ -z ${VK_ICD_FILENAMES:-} && -f /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]] &&
     ! ls /dev/nvidia0 /dev/dri/renderD* >/dev/null 2>&1; then
    export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
  fi
  export RT_VALIDATE=1 VKV_VAR_DIR=${VKV_TEST_TMP:-/tmp}/rt-var
  # Mesa's llvmpipe keeps some allocations until exit; see tests/lsan.supp
  [[ -f tests/lsan.supp ]] && export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
  echo "# $BIN/rt_conform"
  "$BIN/rt_conform" || rc=1
  echo "# $BIN/rt_tf_conform"
  "$BIN/rt_tf_conform" || rc=1
  echo "# $BIN/rt_dec_test"
  "$BIN/rt_dec_test" || rc=1
  # the decoder against the PyTorch reference (Debian's python3-torch)
  T=${VKV_TEST_TMP:-/tmp}/30-runtime
  mkdir -p "$T"
  if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "not ok - python3-torch is not installed (scripts/install-deps.sh)"; rc=1
  elif /usr/bin/python3 tests/ref/moondream_ref.py --parts text --seed 3 --dtype f32 \
      --config '{"text":{"dim":128,"n_heads":2,"n_layers":2,"ff_dim":256,"vocab_size":300,"max_context":64,"rot_dim":32}}' \
      --save "$T/dec.safetensors" --text 5,17,42,99,7,250,3,11 --prefix 3 --generate 5 \
      --out "$T/dec.json"; then
    echo "# $BIN/rt_dec_torch"
    "$BIN/rt_dec_torch" "$T/dec.safetensors" "$T/dec.json" || rc=1
  else
    echo "not ok - moondream_ref.py wrote the decoder reference"; rc=1
  fi
  # VKV_RT_PROFILE=1: per-shader device time, with GFLOP/s for the ops that
  # count their arithmetic (what bench/runtime-ops.sh compares with the peak)
  prof=$(VKV_RT_PROFILE=1 "$BIN/vkv" bench-ops --only mobilenetv2 --iters 1 2>&1 >/dev/null)
  if grep -qE '^profile gemm(_tx|_sm)?_f32 +[0-9]+ dispatches +[0-9.]+ us +[0-9.]+ GFLOP/s$' <<<"$prof" &&
     grep -qE '^profile preprocess|^profile total +[0-9]+ dispatches' <<<"$prof"; then
    echo "ok - VKV_RT_PROFILE=1 prints per-shader device time and GFLOP/s"
  else
    echo "not ok - VKV_RT_PROFILE=1 profile lines: $(head -c 400 <<<"$prof")"; rc=1
  fi
  # VKV_RT_PROFILE_DISPATCH=1 adds one line per dispatch (as many as the
  # 'profile total' lines of the runs count), convolutions with their node
  prof=$(VKV_RT_PROFILE=1 VKV_RT_PROFILE_DISPATCH=1 "$BIN/vkv" bench-ops --only mobilenetv2 --iters 1 2>&1 >/dev/null)
  nd=$(grep -c '^profile-dispatch ' <<<"$prof")
  tot=$(awk '/^profile total/ {s += $3} END {print s + 0}' <<<"$prof")
  if ((tot > 0 && nd == tot)) &&
     grep -qE '^profile-dispatch +0 [a-z0-9_]+ +[0-9]+x[0-9]+x[0-9]+ +[0-9.]+ us ' <<<"$prof" &&
     grep -qE '^profile-dispatch +[0-9]+ gemm(_tx|_sm)?_f32 +[0-9]+x[0-9]+x[0-9]+ +[0-9.]+ us +[0-9.]+ GFLOP/s [^ -]' <<<"$prof"; then
    echo "ok - VKV_RT_PROFILE_DISPATCH=1 prints one line per dispatch ($nd of $tot)"
  else
    echo "not ok - VKV_RT_PROFILE_DISPATCH=1: $nd lines for total '$tot': $(grep -m3 '^profile-dispatch' <<<"$prof" | head -c 400)"; rc=1
  fi
  # kernel family (VKV_RT_KERNELS): a CPU device keeps its kernels by default,
  # "gpu" forces the shared-memory GEMM (rt_conform checks its results), a
  # bad value is refused by name
  dflt=$(VKV_RT_PROFILE=1 "$BIN/vkv" bench-ops --only mobilenetv2 --iters 1 2>&1 >/dev/null)
  gpu=$(VKV_RT_KERNELS=gpu VKV_RT_PROFILE=1 "$BIN/vkv" bench-ops --only mobilenetv2 --iters 1 2>&1 >/dev/null)
  type=$("$BIN/vkv" devices | grep -m1 -oE '"type": *"[a-z]+"' | grep -oE '[a-z]+"$' | tr -d '"')
  if [[ $type == cpu ]] && ! grep -q '^profile gemm_sm' <<<"$dflt" &&
     grep -qE '^profile gemm(_tx)?_f32 ' <<<"$dflt"; then
    echo "ok - a CPU device keeps the CPU kernel family by default"
  elif [[ -n $type && $type != cpu ]] && grep -q '^profile gemm_sm' <<<"$dflt"; then
    echo "ok - a $type device takes the GPU kernel family by default"
  else
    echo "not ok - default kernel family on a '$type' device: $(grep '^profile gemm' <<<"$dflt" | head -c 300)"; rc=1
  fi
  # 34 1x1 convolutions on the tiled GEMM, the batch-1 classifier (1 row) on
  # the subgroup GEMV where the device has subgroup arithmetic
  sm=$(awk '$1 == "profile" && $2 == "gemm_sm_f32" {print $3; exit}' <<<"$gpu")
  gv=$(awk '$1 == "profile" && $2 == "gemv_sg_f32" {print $3; exit}' <<<"$gpu")
  if ((${sm:-0} + ${gv:-0} == 35 && ${sm:-0} >= 34)) && ! grep -qE '^profile gemm(_tx)?_f32 ' <<<"$gpu"; then
    echo "ok - VKV_RT_KERNELS=gpu runs MobileNetV2's 35 GEMMs on gemm_sm_f32 ($sm) and gemv_sg_f32 (${gv:-0})"
  else
    echo "not ok - VKV_RT_KERNELS=gpu: $(grep '^profile gemm' <<<"$gpu" | head -c 300)"; rc=1
  fi
  # depthwise 3x3: MobileNetV2's 17 on dwconv3 (13 stride 1, 4 stride 2) on a
  # CPU device with texel buffers (VKV_NO_DWPW=1: none fused with its 1x1), on
  # dwconv with VKV_NO_DW3=1 VKV_NO_DWPW=1; by default some run fused with the
  # 1x1 after them (dwpw), the others still on dwconv3
  nodw3=$(VKV_NO_DW3=1 VKV_NO_DWPW=1 VKV_RT_PROFILE=1 "$BIN/vkv" bench-ops --only mobilenetv2 --iters 1 2>&1 >/dev/null)
  nopw=$(VKV_NO_DWPW=1 VKV_RT_PROFILE=1 "$BIN/vkv" bench-ops --only mobilenetv2 --iters 1 2>&1 >/dev/null)
  cnt() { awk -v s="$1" '$1 == "profile" && $2 == s {print $3; exit}' <<<"$2"; }
  d1=$(cnt dwconv3_s1_f32 "$nopw") d2=$(cnt dwconv3_s2_f32 "$nopw")
  f1=$(cnt dwconv3_s1_f32 "$dflt") f2=$(cnt dwconv3_s2_f32 "$dflt")
  # dwpw_*: the unrolled kernel, dwpwr_*: the rolled one (rt_op_dwpw.c picks)
  u1=$(cnt dwpw_s1_f32 "$dflt") r1=$(cnt dwpwr_s1_f32 "$dflt")
  u2=$(cnt dwpw_s2_f32 "$dflt") r2=$(cnt dwpwr_s2_f32 "$dflt")
  p1=$((${u1:-0} + ${r1:-0})) p2=$((${u2:-0} + ${r2:-0}))
  if [[ $type == cpu && -z ${VKV_NO_TEXEL:-} ]]; then
    if [[ ${d1:-0} == 13 && ${d2:-0} == 4 ]] && ! grep -qE '^profile (dwconv(_tx)?|dwpwr?_s[12])_f32 ' <<<"$nopw" &&
       grep -qE '^profile dwconv(_tx)?_f32 +17 ' <<<"$nodw3" && ! grep -qE '^profile (dwconv3|dwpw)' <<<"$nodw3"; then
      echo "ok - MobileNetV2's depthwise 3x3 layers run on dwconv3 (${d1} + ${d2}) with VKV_NO_DWPW=1, on dwconv with VKV_NO_DW3=1 too"
    else
      echo "not ok - dwconv3 choice: VKV_NO_DWPW=1 '$(grep -E '^profile (dwconv|dwpw)' <<<"$nopw" | head -c 200)', VKV_NO_DW3=1 '$(grep -E '^profile (dwconv|dwpw)' <<<"$nodw3" | head -c 200)'"; rc=1
    fi
    if ((${p1:-0} + ${p2:-0} >= 1 && ${f1:-0} + ${p1:-0} == 13 && ${f2:-0} + ${p2:-0} == 4)) &&
       ! grep -qE '^profile dwconv(_tx)?_f32 ' <<<"$dflt"; then
      echo "ok - by default ${p1:-0} + ${p2:-0} of them run fused with their 1x1 (dwpw), ${f1:-0} + ${f2:-0} on dwconv3"
    else
      echo "not ok - dwpw choice: default '$(grep -E '^profile (dwconv|dwpw)' <<<"$dflt" | head -c 300)'"; rc=1
    fi
  else
    echo "ok - depthwise 3x3 on dwconv3 # SKIP a '$type' device${VKV_NO_TEXEL:+ with VKV_NO_TEXEL} keeps dwconv"
    echo "ok - depthwise 3x3 + 1x1 fused # SKIP a '$type' device${VKV_NO_TEXEL:+ with VKV_NO_TEXEL} does not fuse"
  fi
  bad=$(VKV_RT_KERNELS=fast "$BIN/vkv" bench-ops --only mobilenetv2 --iters 1 2>&1)
  if [[ $? -ne 0 ]] && grep -q 'invalid value for VKV_RT_KERNELS: "fast"' <<<"$bad"; then
    echo "ok - VKV_RT_KERNELS=fast is refused by name"
  else
    echo "not ok - VKV_RT_KERNELS=fast: $(head -c 300 <<<"$bad")"; rc=1
  fi
fi
exit $rc
