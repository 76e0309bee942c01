# vk_icd.sh: which Vulkan driver the suites and benches use.
#
#   source tests/lib/vk_icd.sh
#   vk_icd_default   VK_ICD_FILENAMES = Mesa's lavapipe when it is unset and
#                    the machine has no GPU device node, so a GPU machine
#                    keeps its own driver and a CPU-only one runs on
#                    lavapipe whatever other ICDs are installed
vk_icd_default() {
  local icd=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
  if [[ -z ${VK_ICD_FILENAMES:-} && -f $icd ]] &&
    ! ls /dev/nvidia0 /dev/dri/renderD* >/dev/null 2>&1; then
    export VK_ICD_FILENAMES=$icd
  fi
}
