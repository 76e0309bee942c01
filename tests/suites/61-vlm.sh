#!/usr/bin/env bash
# Moondream 2 on our runtime (vlm/): crops against Pillow on the photos of
# var/testdata/images (make testdata); the model against the PyTorch
# reference (tests/ref/moondream_ref.py) at reduced sizes.
set -uo pipefail
rc=0
PY=/usr/bin/python3
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-/tmp}/61-vlm
mkdir -p "$T"
if ! "$PY" -c 'import PIL, numpy' 2>/dev/null; then
  echo "not ok - python3-pil / python3-numpy are not installed (scripts/install-deps.sh)"
  exit 1
fi
imgs=(var/testdata/images/*.jpg var/testdata/images/*.png)
if [[ ! -f ${imgs[0]} ]]; then
  echo "not ok - no photos in var/testdata/images (make testdata)"
  exit 1
fi
rm -rf "$T/crops"
if "$PY" tests/ref/md_crops_ref.py "$T/crops" "${imgs[@]}"; then
  echo "ok - md_crops_ref.py wrote Pillow's crops of ${#imgs[@]} photos"
else
  echo "not ok - md_crops_ref.py"; rc=1
fi
"$BIN/md_crop_test" "$T/crops" || rc=1

# the model: random weights in the official layout at reduced sizes (text
# heads of 64, vision heads of 72, a 2x2 tiling), compared stage by stage
if [[ -z ${VK_ICD_FILENAMES:-} && -f /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]] &&
   ! ls /dev/nvidia0 /dev/dri/renderD* >/dev/null 2>&1; then
  export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
fi
export RT_VALIDATE=1 VKV_VAR_DIR=$T/var
[[ -f tests/lsan.supp ]] && export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
M=$T/small
mkdir -p "$M"
if "$PY" tests/ref/moondream_ref.py --config tests/ref/md2_small.json --parts text,vision,region \
     --save "$M/model.safetensors" --vision --tiling 2x2 --no-hidden --task caption,detect,point \
     --prompt 1,7235,476,2,100,3 --max-tokens 8 --max-objects 3 --save-pixels "$M/crops.f32" \
     --out "$M/ref.json"; then
  echo "ok - moondream_ref.py: reduced Moondream 2 (text, vision, region) and its outputs"
else
  echo "not ok - moondream_ref.py: reduced Moondream 2"; rc=1
fi
cp tests/ref/md2_small.json "$M/config.json"
"$BIN/md_model_test" "$M/model.safetensors" "$M/config.json" "$M/ref.json" "$M/crops.f32" || rc=1
exit $rc
