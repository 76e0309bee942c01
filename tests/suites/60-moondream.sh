#!/usr/bin/env bash
# 60-moondream: the Moondream-compatible API (fcgi/handlers/h_moondream.c).
#
#  1. unit: CenterNet CPU decode + mask outline (test_md_decode), object
#     names -> COCO classes (test_md_objects);
#  2. the official `moondream` npm client (0.2.0, tests/moondream/package.json)
#     through a real nginx + vkv-api + PostgreSQL, "surface" mode: jobs are
#     completed by tests/integration/api_test_worker, so routes, matching,
#     filtering, points, SSE framing and every error path are checked
#     without a model;
#  3. "real" mode: vkv-worker runs CenterNet on lavapipe; the client must
#     find people and a car in a street scene and the cup on the coffee
#     table, and every box must agree with @tensorflow/tfjs running the
#     same model on the same decoded pixels (IoU >= 0.9, |score| <= 0.02)
#     on 10 real photos (tests/moondream/md_compare.mjs).
# Every wait is bounded; all servers are stopped on exit.
set -uo pipefail
cd "${VKV_ROOT:-$(pwd)}"
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-$(mktemp -d)}/moondream
rm -rf "$T"; mkdir -p "$T"

pass=0; fail=0
ok()  { echo "ok - $*"; pass=$((pass + 1)); }
nok() { echo "not ok - $*"; fail=$((fail + 1)); }

# ---- 1. unit ------------------------------------------------------------
for t in test_md_decode test_md_objects; do
  if [[ -x $BIN/$t ]]; then
    "$BIN/$t" || true   # its own ok/not ok lines are counted by the runner
  else
    nok "unit binary $BIN/$t is built"
  fi
done

# ---- the pinned client ----------------------------------------------------
MDC=var/md-client
if ! cmp -s tests/moondream/package-lock.json "$MDC/package-lock.json" 2>/dev/null ||
   [[ ! -d $MDC/node_modules/moondream ]]; then
  mkdir -p "$MDC"
  cp tests/moondream/package.json tests/moondream/package-lock.json "$MDC/"
  (cd "$MDC" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund >"$T/npm.log" 2>&1) ||
    { nok "npm ci of the moondream client"; tail -20 "$T/npm.log"; exit 1; }
fi
ok "moondream@0.2.0 client installed in $MDC"

for b in vkv-api vkv-admin api_test_worker; do
  [[ -x $BIN/$b ]] || { nok "binary $BIN/$b is built"; exit 1; }
done
IMAGES=var/testdata/images
[[ -f $IMAGES/scenetext01.jpg && -f $IMAGES/coffee.png ]] ||
  { nok "test images in $IMAGES (make testdata)"; exit 1; }

# ---- servers --------------------------------------------------------------
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

pg_tmp_start || { nok "PostgreSQL starts"; exit 1; }
pg_tmp_migrate >"$T/migrate.log" 2>&1 || { nok "migrations apply"; cat "$T/migrate.log"; exit 1; }
"$BIN/vkv-admin" tenant create mdtest >/dev/null
KEY=$("$BIN/vkv-admin" key create mdtest | tail -1)
[[ -n $KEY ]] || { nok "vkv-admin creates a key"; exit 1; }

mkdir -p "$T/models"
cp models/centernet.json models/selfie.json "$T/models/"
export VKV_MODELS_DIR=$T/models VKV_API_THREADS=4 VKV_WAIT_TIMEOUT_MS=60000 VKV_LOG_LEVEL=info
VKV_API_SOCKET=$T/api.sock "$BIN/vkv-api" >"$T/api.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [[ -S $T/api.sock ]] && break; sleep 0.1; done
[[ -S $T/api.sock ]] || { nok "vkv-api listens"; tail "$T/api.log"; exit 1; }
nginx_tmp_start "$T/nginx" "$T/api.sock" || { nok "nginx starts"; exit 1; }
ok "PostgreSQL, vkv-api and nginx start"

# ---- 2. surface -----------------------------------------------------------
MD_URL=$NGINX_URL MD_KEY=$KEY MD_MODE=surface MD_IMAGES=$IMAGES \
  MD_TEST_WORKER=$BIN/api_test_worker MD_CLIENT_MODULES=$MDC/node_modules \
  timeout 300 node tests/moondream/moondream_client.mjs 2>&1 | sed 's/^\(not \)\?ok - /&surface: /'
[[ ${PIPESTATUS[0]} == 0 ]] && ok "surface client test exits 0" || nok "surface client test exits 0"
