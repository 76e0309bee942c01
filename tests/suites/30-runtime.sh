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
fi
exit $rc
