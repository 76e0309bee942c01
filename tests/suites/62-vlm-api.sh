#!/usr/bin/env bash
# Moondream 2 through the service: nginx -> vkv-api -> PostgreSQL ->
# vkv-worker running the reduced random-weight Moondream 2 (vlm/) on
# lavapipe; the official moondream@0.2.0 client for caption and query,
# whole and streamed (token by token: several chunks before the job ends);
# greedy answers equal vkv md's on the same photo.
set -uo pipefail
cd "${VKV_ROOT:-$(pwd)}"
BIN=${BIN:-build/bin}
PY=/usr/bin/python3
T=${VKV_TEST_TMP:-$(mktemp -d)}/62-vlm-api
rm -rf "$T"; mkdir -p "$T"
IMAGES=var/testdata/images
MDC=var/md-client
for b in vkv-api vkv-admin vkv-worker vkv; do
  [[ -x $BIN/$b ]] || { echo "not ok - binary $BIN/$b is built"; exit 1; }
done
[[ -f $IMAGES/grace_hopper.jpg ]] || { echo "not ok - test images (make testdata)"; exit 1; }
if ! cmp -s tests/moondream/package-lock.json "$MDC/package-lock.json" 2>/dev/null ||
   [[ ! -d $MDC/node_modules/moondream ]]; then
  mkdir -p "$MDC"
  cp tests/moondream/package.json tests/moondream/package-lock.json "$MDC/"
  (cd "$MDC" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund >"$T/npm.log" 2>&1) ||
    { echo "not ok - npm ci of the moondream client"; exit 1; }
fi
if [[ -z ${VK_ICD_FILENAMES:-} && -f /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]] &&
   ! ls /dev/nvidia0 /dev/dri/renderD* >/dev/null 2>&1; then
  export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
fi

# the model directory, as an operator installs it (random weights, reduced sizes)
CACHE=$T/cache; M=$CACHE/moondream2
mkdir -p "$M" "$T/models"
"$PY" tests/ref/moondream_ref.py --config tests/ref/md2_small.json --parts text,vision,region \
  --save "$M/model.safetensors" >/dev/null &&
  "$PY" tests/ref/md_tok_gen.py starmie "$M/tokenizer.json" ||
  { echo "not ok - reduced Moondream 2 written"; exit 1; }
cp tests/ref/md2_small.json "$M/config.json"
echo 2025-06-21 >"$M/revision"
cp vlm/moondream2.json "$T/models/"
echo "ok - reduced Moondream 2 installed in $M with its manifest"

# what the greedy answers must be (vkv md, same weights format as the manifest: i8)
IMG=$IMAGES/grace_hopper.jpg
cap=$("$BIN/vkv" md caption "$M" "$IMG" --max-tokens 6) &&
  cap64=$("$BIN/vkv" md caption "$M" "$IMG" --max-tokens 64) &&
  cap1=$("$BIN/vkv" md caption "$M" "$IMG" --max-tokens 1) &&
  ans=$("$BIN/vkv" md query "$M" "$IMG" --question "What is this?" --max-tokens 6) &&
  det=$("$BIN/vkv" md detect "$M" "$IMG" --object A --max-objects 2) &&
  pts=$("$BIN/vkv" md point "$M" "$IMG" --object A --max-objects 2) ||
  { echo "not ok - vkv md runs the installed model"; exit 1; }
"$PY" -c 'import json,sys; print(json.dumps({"caption": json.loads(sys.argv[1])["caption"],
  "caption1": json.loads(sys.argv[2])["caption"], "answer": json.loads(sys.argv[3])["answer"],
  "objects": json.loads(sys.argv[4])["objects"], "points": json.loads(sys.argv[5])["points"],
  "caption64": json.loads(sys.argv[6])["caption"]}))' \
  "$cap" "$cap1" "$ans" "$det" "$pts" "$cap64" >"$T/expect.json"

source tests/lib/pg_tmp.sh
source tests/lib/nginx_tmp.sh
PIDS=()
cleanup() {
  nginx_tmp_stop
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  pg_tmp_stop
}
trap cleanup EXIT
pg_tmp_start || { echo "not ok - PostgreSQL starts"; exit 1; }
pg_tmp_migrate >"$T/migrate.log" 2>&1 || { echo "not ok - migrations apply"; exit 1; }
"$BIN/vkv-admin" tenant create vlm >/dev/null
KEY=$("$BIN/vkv-admin" key create vlm | tail -1)
export VKV_MODELS_DIR=$T/models VKV_MODEL_CACHE=$CACHE VKV_API_THREADS=4 \
  VKV_WAIT_TIMEOUT_MS=120000 VKV_LOG_LEVEL=info
VKV_API_SOCKET=$T/api.sock "$BIN/vkv-api" >"$T/api.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [[ -S $T/api.sock ]] && break; sleep 0.1; done
nginx_tmp_start "$T/nginx" "$T/api.sock" || { echo "not ok - nginx starts"; exit 1; }
VKV_WORKER_NAME=vlm-worker "$BIN/vkv-worker" >"$T/worker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "model moondream2" "$T/worker.log" && break; sleep 0.1; done
if grep -q "model moondream2: task moondream2, batch limit 1" "$T/worker.log"; then
  echo "ok - vkv-worker registers moondream2"
else
  echo "not ok - vkv-worker registers moondream2"; tail -5 "$T/worker.log"; exit 1
fi
MD_URL=$NGINX_URL MD_KEY=$KEY MD_IMAGES=$IMAGES MD_CLIENT_MODULES=$MDC/node_modules \
  MD_EXPECT=$T/expect.json timeout 600 node tests/moondream/md2_client.mjs
rc=$?
((rc == 0)) || { echo "# worker log:"; tail -20 "$T/worker.log"; }
exit $rc
