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
exit $rc
