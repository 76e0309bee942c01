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
#  5. upscale jobs through nginx + vkv-api + vkv-worker (lavapipe): POST
#     /v1/upscale answers 202, the job's PNG from GET /v1/jobs/{id}/result
#     is byte for byte the PNG of `vkv upscale` (part 1), 2x the size;
#     ?wait= answers WebP and JPEG (multipart) with their content types;
#     bad params are 400, an output over 64 Mpx 413 at submission, a result
#     over VKV_MAX_RESULT_BYTES fails the job with result_too_large (413
#     synchronously); another tenant gets 404; a JSON result keeps
#     application/json; /v1/health stays ok with the upscale models served
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
  if "$VKV" upscale esrgan-slim-x$s "$FIX" "$T/x$s.png" >"$T/x$s.json" 2>"$T/x$s.err" &&
     r=$($CMP "$T/x$s.png" "$M/result.png" --max 1); then
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

# the same model with 48-pixel tiles (VKV_NO_PACK: the pack is per tile size); a model is
# named by its manifest's file, so the copy keeps the name esrgan-slim-x2 in a folder of its own
mkdir -p "$T/t48"
sed 's/"height": 128/"height": 48/; s/"width": 128/"width": 48/' models/esrgan-slim-x2.json \
  >"$T/t48/esrgan-slim-x2.json"

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
  if VKV_NO_PACK=1 "$VKV" upscale "$T/t48/esrgan-slim-x2.json" "$T/crop.ppm" "$T/crop-vk.ppm" >/dev/null 2>"$T/crop.err" &&
     node tests/ref/esrgan_ref.js var/cache/models/esrgan-slim-x2 "$T/crop.ppm" "$T/crop-tf.ppm" \
       >/dev/null 2>"$T/tf.err" &&
     r=$($CMP "$T/crop-vk.ppm" "$T/crop-tf.ppm" --max 1); then
    ok "x2 tiled (48-px tiles) vs tfjs untiled on a 96x72 photo crop, within 1: $r"
  else
    nok "tfjs comparison: ${r:-} $(cat "$T/crop.err" "$T/tf.err" 2>/dev/null | tail -3)"
  fi
fi

# -- 3. seams -----------------------------------------------------------------------
if VKV_NO_PACK=1 "$VKV" upscale "$T/t48/esrgan-slim-x2.json" "$FIX" "$T/x2-tiled.ppm" >/dev/null 2>"$T/t.err" &&
   r=$($CMP "$T/x2-tiled.ppm" "$T/x2.png" --max 1); then
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

# -- 5. upscale jobs through the API ----------------------------------------------------
source tests/integration/worker_lib.sh
trap 'wk_stack_stop' EXIT
export VKV_WAIT_TIMEOUT_MS=300000
if ! wk_stack_start "$T/stack"; then
  nok "stack (PostgreSQL, vkv-api, nginx) starts"
  exit 1
fi
wk_worker_start w1 --device 0
wk_until 60 grep -qs 'worker w1 on' "$T/stack/worker-w1.log" || nok "vkv-worker starts"
"$BIN/vkv-admin" tenant create other >/dev/null && KEY2=$("$BIN/vkv-admin" key create other 2>/dev/null)
# up PATH FIELDS: POST a JSON body {FIELDS, "image_url": the fixture}; sets HTTP, BODY, HDRS
up() {
  { printf '{%s"image_url":"data:image/png;base64,' "${2:+$2,}"; base64 -w0 "$FIX"; printf '"}'; } >"$T/up.json"
  BODY=$T/up.out HDRS=$T/up.hdr
  HTTP=$(curl -s -D "$HDRS" -o "$BODY" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary @"$T/up.json" "$NGINX_URL$1")
}
hdr() { grep -i "^$1:" "$HDRS" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
jobdone() { local s; s=$(wk_state "$1"); [[ $s == succeeded || $s == failed ]]; }
jobs_n() { psql -XAtqc "select (select count(*) from jobs) + (select count(*) from job_history)"; }

up /v1/upscale '"scale":2'
id=$(wk_json "$BODY" 'j["id"]' 2>/dev/null)
if [[ $HTTP == 202 && $(wk_json "$BODY" 'j["model"] + " " + j["result_url"]') == "esrgan-slim-x2 /v1/jobs/$id/result" ]]; then
  ok "POST /v1/upscale (scale 2) answers 202 with the job and its result_url"
else
  nok "POST /v1/upscale: $HTTP $(head -c 300 "$BODY")"
fi
t0=$(date +%s.%N)
wk_until 300 jobdone "$id" >/dev/null
t1=$(date +%s.%N)
wk_get "/v1/jobs/$id"; cp "$BODY" "$T/job.json"
if [[ $(wk_json "$T/job.json" 'j["state"] + " " + str(j["result"]["out_width"]) + "x" + str(j["result"]["out_height"]) + " " + j["result"]["content_type"] + " " + str(j["has_result_bytes"])') == "succeeded 256x256 image/png True" ]]; then
  ok "the job succeeded: 128x128 -> 256x256, image/png, result bytes stored"
else
  nok "upscale job: $(head -c 400 "$T/job.json")"
fi
HTTP=$(curl -s -D "$T/res.hdr" -o "$T/api-x2.png" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$NGINX_URL/v1/jobs/$id/result")
if [[ $HTTP == 200 ]] && grep -qi '^content-type: image/png' "$T/res.hdr" && cmp -s "$T/api-x2.png" "$T/x2.png" &&
   r=$($CMP "$T/api-x2.png" "$T/x2.png" --max 0); then
  ok "GET /v1/jobs/{id}/result: image/png, byte for byte the PNG of vkv upscale ($r)"
else
  nok "result: $HTTP $(grep -i content-type "$T/res.hdr") $(cmp "$T/api-x2.png" "$T/x2.png" 2>&1 | head -1)"
fi
python3 -c "print('# upscale job through the API: %.1f s for 128x128 -> 256x256, %.4f Mpx/s out (enqueue to done: queue, decode, tiles, PNG)' % ($t1 - $t0, 256 * 256 / 1e6 / ($t1 - $t0)))"
HTTP=$(curl -s -o "$T/other.out" -w '%{http_code}' -H "Authorization: Bearer $KEY2" "$NGINX_URL/v1/jobs/$id/result")
if [[ $HTTP == 404 ]]; then ok "another tenant's GET /v1/jobs/{id}/result: 404"; else nok "another tenant: $HTTP $(head -c 200 "$T/other.out")"; fi

up '/v1/upscale?wait=300000' '"model":"esrgan-slim-x2","format":"webp","quality":80'
if [[ $HTTP == 200 && $(hdr content-type) == image/webp && $(head -c 4 "$BODY") == RIFF && -n $(hdr x-job-id) ]]; then
  ok "?wait= with format webp: 200 image/webp ($(stat -c %s "$BODY") bytes), X-Job-Id"
else
  nok "webp: $HTTP $(hdr content-type) $(head -c 200 "$BODY")"
fi
HTTP=$(curl -s -D "$T/j.hdr" -o "$T/api.jpg" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
  -F "image=@$FIX;type=image/png" -F scale=2 -F format=jpeg -F quality=85 "$NGINX_URL/v1/upscale?wait=300000")
sof=$(python3 - "$T/api.jpg" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
i = 2
while b[:2] == b'\xff\xd8' and i + 9 <= len(b):
    m, n = b[i + 1], struct.unpack('>H', b[i + 2:i + 4])[0]
    if m in (0xc0, 0xc1, 0xc2):
        h, w = struct.unpack('>HH', b[i + 5:i + 9])
        print(f"{w}x{h}")
        break
    i += 2 + n
PY
)
if [[ $HTTP == 200 ]] && grep -qi '^content-type: image/jpeg' "$T/j.hdr" && [[ $sof == 256x256 ]]; then
  ok "multipart ?wait= with format jpeg quality 85: 200 image/jpeg, 256x256"
else
  nok "jpeg: $HTTP $(grep -i content-type "$T/j.hdr") sof=$sof"
fi

n0=$(jobs_n)
up /v1/upscale '"format":"gif"'
if [[ $HTTP == 400 && $(wk_json "$BODY" 'j["error"]["code"]') == invalid_field ]]; then ok "format gif: 400 invalid_field"; else nok "format gif: $HTTP $(head -c 200 "$BODY")"; fi
up /v1/upscale '"scale":5'
if [[ $HTTP == 400 ]] && grep -q '\[2, 3, 4, 8\]' "$BODY"; then ok "scale 5: 400 naming the installed scales"; else nok "scale 5: $HTTP $(head -c 200 "$BODY")"; fi
up /v1/upscale '"model":"esrgan-slim-x4","scale":2'
if [[ $HTTP == 400 ]]; then ok "model x4 with scale 2: 400"; else nok "model/scale disagree: $HTTP"; fi
up /v1/upscale '"sharpen":true'
if [[ $HTTP == 400 && $(wk_json "$BODY" 'j["error"]["code"]') == unknown_field ]]; then ok "unknown field: 400 unknown_field"; else nok "unknown field: $HTTP"; fi
# an output over 64 Mpx: refused at submission
python3 - "$T/big.png" <<'PY'
import struct, sys, zlib
w, h = 4000, 3000
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
raw = zlib.compress(b''.join(b'\0' + bytes(w * 3) for _ in range(h)), 9)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) +
                              chunk(b'IDAT', raw) + chunk(b'IEND', b''))
PY
HTTP=$(curl -s -o "$T/big.out" -w '%{http_code}' -H "Authorization: Bearer $KEY" -F "image=@$T/big.png;type=image/png" -F scale=8 "$NGINX_URL/v1/upscale")
if [[ $HTTP == 413 && $(wk_json "$T/big.out" 'j["error"]["code"]') == image_too_large ]]; then
  ok "4000x3000 by 8 (768 Mpx out): 413 image_too_large at submission"
else
  nok "oversize output: $HTTP $(head -c 300 "$T/big.out")"
fi
if [[ $(jobs_n) == "$n0" ]]; then ok "no job written for the refused requests"; else nok "refused requests wrote jobs: $n0 -> $(jobs_n)"; fi

# a JSON result keeps application/json (a classify job)
{ printf '{"task":"classify","image_url":"data:image/png;base64,'; base64 -w0 "$FIX"; printf '"}'; } >"$T/cl.json"
wk_post '/v1/jobs?wait=300000' "$T/cl.json"; cp "$BODY" "$T/cl.job"; cid=$(wk_json "$T/cl.job" 'j["id"]')
HTTP=$(curl -s -D "$T/cl.hdr" -o "$T/cl.res" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$NGINX_URL/v1/jobs/$cid/result")
if [[ $HTTP == 200 ]] && grep -qi '^content-type: application/json' "$T/cl.hdr" &&
   [[ $(wk_json "$T/cl.res" 'j') == "$(wk_json "$T/cl.job" 'j["result"]')" ]]; then
  ok "a classify job's /result: its JSON result, application/json"
else
  nok "JSON result: $HTTP $(head -c 200 "$T/cl.res")"
fi

wk_get /v1/health
if [[ $(wk_json "$BODY" 'j["status"] + " " + json.dumps(j.get("models_unservable"))') == "ok []" ]]; then
  ok "/v1/health ok: every upscale model is served"
else
  nok "health: $(head -c 300 "$BODY")"
fi

# a result over VKV_MAX_RESULT_BYTES: a worker with a 20 kB limit
wk_worker_stop w1
VKV_MAX_RESULT_BYTES=20000 wk_worker_start w2 --device 0
wk_until 60 grep -qs 'worker w2 on' "$T/stack/worker-w2.log" || nok "vkv-worker w2 starts"
up /v1/upscale '"scale":2'
id=$(wk_json "$BODY" 'j["id"]')
wk_until 300 jobdone "$id" >/dev/null
wk_get "/v1/jobs/$id"
if [[ $(wk_json "$BODY" 'j["state"]') == failed ]] &&
   grep -q 'result_too_large: the 256x256 png is [0-9]* bytes, over the result limit of 20000' "$BODY"; then
  ok "a PNG over VKV_MAX_RESULT_BYTES: the job failed with result_too_large and the sizes"
else
  nok "result limit: $(head -c 400 "$BODY")"
fi
HTTP=$(curl -s -o "$T/r.out" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$NGINX_URL/v1/jobs/$id/result")
if [[ $HTTP == 409 ]]; then ok "its /result: 409 result_not_ready"; else nok "failed job /result: $HTTP"; fi
up '/v1/upscale?wait=300000' '"scale":2'
if [[ $HTTP == 413 && $(wk_json "$BODY" 'j["error"]["code"]') == result_too_large ]]; then
  ok "synchronously: 413 result_too_large"
else
  nok "sync result limit: $HTTP $(head -c 300 "$BODY")"
fi
exit $fail
