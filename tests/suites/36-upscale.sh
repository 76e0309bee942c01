#!/usr/bin/env bash
# 36-upscale: ESRGAN-slim x2/x3/x4/x8 (@upscalerjs/esrgan-slim@1.0.0, Keras
# layers models) through `vkv upscale` on Vulkan (lavapipe here).
#
#  1. golden: the package's own assets/fixture.png (128x128) against its
#     assets/samples/{2x,3x,4x}/result.png: every channel value within 1
#     (measured: max 1, a handful of values; the same outputs as tfjs);
#     x8 (no sample shipped): runs on a 40x30 image, 320x240 out
#  2. tfjs: @tensorflow/tfjs (CPU) on the same model and pixels, a crop of a
#     real photo (96x72, x2): our TILED run (48-pixel tiles, so 3x2 tiles
#     and seams) within 1 of tfjs's untiled one everywhere (measured max 1:
#     float rounding at .5 in a few values)
#  3. seams: the fixture in 48-pixel tiles (5x5 tiles) against the untiled
#     run: identical (measured max 0; bound 1)
#  4. an image lower than a tile (150x60: padded) and odd sizes: the right
#     output size as PNG and WebP; a request over the output limit fails
#     with image_too_large
# Needs `make models testdata` (make test runs them).
set -uo pipefail
BIN=${BIN:-build/bin}
VKV=$BIN/vkv
T=${VKV_TEST_TMP:-/tmp}/upscale
export NODE_PATH=$PWD/var/ref/node_modules
rm -rf "$T" && mkdir -p "$T"
fail=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fail=1; }
CMP="python3 tests/ref/img_cmp.py"

for s in 2 3 4 8; do
  [[ -f var/cache/models/esrgan-slim-x$s/model.json ]] || { nok "esrgan-slim-x$s missing (make models)"; exit 1; }
done
FIX=var/cache/models/esrgan-slim-x2/fixture.png

# -- 1. golden ----------------------------------------------------------------
for s in 2 3 4; do
  M=var/cache/models/esrgan-slim-x$s
  if "$VKV" upscale esrgan-slim-x$s "$FIX" "$T/x$s.ppm" >"$T/x$s.json" 2>"$T/x$s.err" &&
     r=$($CMP "$T/x$s.ppm" "$M/result.png" --max 1); then
    ok "x$s golden within 1 LSB: $r"
  else
    nok "x$s golden: ${r:-} $(cat "$T/x$s.err")"
  fi
done
# x8 on a 40x30 image (one 48-pixel tile: x8 tiles are 48 and slow on lavapipe)
python3 - "$T/tiny.ppm" <<'PY'
import sys
w, h = 40, 30
px = bytes(((x * 9 + y * 5 + c * 60) % 256) for y in range(h) for x in range(w) for c in range(3))
open(sys.argv[1], 'wb').write(b'P6\n%d %d\n255\n' % (w, h) + px)
PY
if "$VKV" upscale esrgan-slim-x8 "$T/tiny.ppm" "$T/x8.png" >"$T/x8.json" 2>"$T/x8.err" &&
   grep -q '"out_width":320,"out_height":240' "$T/x8.json"; then
  ok "x8 runs: 40x30 -> 320x240"
else
  nok "x8: $(cat "$T/x8.json" "$T/x8.err")"
fi

# the same model with 48-pixel tiles (VKV_NO_PACK: the pack is per tile size)
sed 's/"height": 128/"height": 48/; s/"width": 128/"width": 48/' models/esrgan-slim-x2.json \
  >"$T/x2-t48.json"

# -- 2. tfjs on a real photo ----------------------------------------------------
PHOTO=var/testdata/images/chelsea.png
if [[ ! -f $PHOTO ]]; then
  nok "$PHOTO missing (make testdata)"
elif [[ ! -d var/ref/node_modules/@tensorflow/tfjs ]]; then
  nok "reference runtimes missing (make models)"
else
  "$VKV" run nsfw-mobilenet-v2 "$PHOTO" --cpu --dump-rgb "$T/photo.ppm" >/dev/null 2>&1
  python3 - "$T/photo.ppm" "$T/crop.ppm" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
hdr = b.split(b'\n', 3)
w, h = map(int, hdr[1].split())
px = hdr[3]
x0, y0, cw, ch = 180, 60, 96, 72   # the cat's face: edges and fur
out = bytearray()
for y in range(y0, y0 + ch):
    out += px[(y * w + x0) * 3:(y * w + x0 + cw) * 3]
open(sys.argv[2], 'wb').write(b'P6\n%d %d\n255\n' % (cw, ch) + bytes(out))
PY
  if VKV_NO_PACK=1 "$VKV" upscale "$T/x2-t48.json" "$T/crop.ppm" "$T/crop-vk.ppm" >/dev/null 2>"$T/crop.err" &&
     node tests/ref/esrgan_ref.js var/cache/models/esrgan-slim-x2 "$T/crop.ppm" "$T/crop-tf.ppm" \
       >/dev/null 2>"$T/tf.err" &&
     r=$($CMP "$T/crop-vk.ppm" "$T/crop-tf.ppm" --max 1); then
    ok "x2 tiled (48-px tiles) vs tfjs untiled on a 96x72 photo crop, within 1: $r"
  else
    nok "tfjs comparison: ${r:-} $(cat "$T/crop.err" "$T/tf.err" 2>/dev/null | tail -3)"
  fi
fi

# -- 3. seams -----------------------------------------------------------------------
if VKV_NO_PACK=1 "$VKV" upscale "$T/x2-t48.json" "$FIX" "$T/x2-tiled.ppm" >/dev/null 2>"$T/t.err" &&
   r=$($CMP "$T/x2-tiled.ppm" "$T/x2.ppm" --max 1); then
  ok "x2 in 48-px tiles (5x5) equals the untiled run: $r"
else
  nok "seams: ${r:-} $(cat "$T/t.err")"
fi

# -- 4. sizes, formats, limit -------------------------------------------------------
python3 - "$T/small.ppm" <<'PY'
import sys
w, h = 150, 60
px = bytes(((x * 7 + y * 3) % 256) for y in range(h) for x in range(w) for _ in range(3))
open(sys.argv[1], 'wb').write(b'P6\n%d %d\n255\n' % (w, h) + px)
PY
if "$VKV" upscale esrgan-slim-x3 "$T/small.ppm" "$T/small.png" >"$T/small.json" 2>&1 &&
   grep -q '"out_width":450,"out_height":180' "$T/small.json" &&
   [[ $(head -c 8 "$T/small.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]; then
  ok "150x60 (lower than a tile) x3 -> 450x180 PNG"
else
  nok "small image: $(cat "$T/small.json")"
fi
if "$VKV" upscale esrgan-slim-x2 "$T/small.ppm" "$T/small.webp" --quality 80 >/dev/null 2>&1 &&
   [[ $(head -c 4 "$T/small.webp") == RIFF ]]; then
  ok "WebP output"
else
  nok "WebP output"
fi
python3 - "$T/big.ppm" <<'PY'
import sys
w, h = 1100, 1000
open(sys.argv[1], 'wb').write(b'P6\n%d %d\n255\n' % (w, h) + bytes(w * h * 3))
PY
if "$VKV" upscale esrgan-slim-x8 "$T/big.ppm" "$T/big.png" >/dev/null 2>"$T/big.err"; then
  nok "1100x1000 x8 (70 Mpx) was accepted"
elif grep -q image_too_large "$T/big.err"; then
  ok "over the output limit: image_too_large"
else
  nok "over the output limit: $(cat "$T/big.err")"
fi
exit $fail
