#!/usr/bin/env bash
# bench/upscale.sh: ESRGAN-slim (esrgan-slim-x$SCALE) megapixels of output
# per second: `vkv upscale` on Vulkan (lavapipe here; 128-pixel tiles,
# overlap 12, tiling and the output conversion included, decode and
# encode not: the input and output are PPM) against @tensorflow/tfjs (CPU
# backend, the whole image at once, warm: the first of ITERS runs is not
# timed) on the same pixels in the same run.  Input: a SIDE x SIDE crop
# of a real photo (default 128, one tile; larger sides tile).
#   bash bench/upscale.sh                     (SCALE=2 SIDE=128 ITERS=2)
#   SCALE=4 SIDE=256 bash bench/upscale.sh
# Needs `make models testdata` and a built vkv.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
SCALE=${SCALE:-2}
SIDE=${SIDE:-128}
ITERS=${ITERS:-2}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export NODE_PATH=$PWD/var/ref/node_modules
"$BIN/vkv" run nsfw-mobilenet-v2 var/testdata/images/chelsea.png --cpu --dump-rgb "$T/p.ppm" >/dev/null ||
  { echo "upscale: cannot read the photo (make testdata)"; exit 1; }
python3 - "$T/p.ppm" "$T/in.ppm" "$SIDE" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
hdr = b.split(b'\n', 3)
w, h = map(int, hdr[1].split())
s = min(int(sys.argv[3]), w, h)
out = bytearray()
for y in range(s):
    out += hdr[3][(y * w) * 3:(y * w + s) * 3]
open(sys.argv[2], 'wb').write(b'P6\n%d %d\n255\n' % (s, s) + bytes(out))
PY
# the first run writes the packed graph; best of ITERS after it
"$BIN/vkv" upscale "esrgan-slim-x$SCALE" "$T/in.ppm" "$T/vk.ppm" >/dev/null || exit 1
best=0
for ((i = 0; i < ITERS; i++)); do
  r=$("$BIN/vkv" upscale "esrgan-slim-x$SCALE" "$T/in.ppm" "$T/vk.ppm") || exit 1
  best=$(node -e 'const r=JSON.parse(process.argv[1]);console.log(Math.max(r.mpix_per_s,+process.argv[2]))' "$r" "$best")
done
tf=$(node tests/ref/esrgan_ref.js "var/cache/models/esrgan-slim-x$SCALE" "$T/in.ppm" "$T/tf.ppm" \
       --iters "$ITERS" 2>/dev/null | tail -1) || { echo "upscale: tfjs failed"; exit 1; }
tfm=$(node -e 'console.log(JSON.parse(process.argv[1]).mpix_per_s)' "$tf")
d=$(python3 tests/ref/img_cmp.py "$T/vk.ppm" "$T/tf.ppm")
node -e '
const [s, side, vk, tf, d] = process.argv.slice(1);
console.log(`esrgan-slim-x${s} ${side}x${side} -> ${side*s}x${side*s}: vulkan ${(+vk).toFixed(4)} Mpx/s, ` +
  `tfjs-cpu ${(+tf).toFixed(4)} Mpx/s, ratio ${(vk / tf).toFixed(2)}x; outputs differ ${d}`);
' "$SCALE" "$SIDE" "$best" "$tfm" "$d"
