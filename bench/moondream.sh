#!/usr/bin/env bash
# bench/moondream.sh: POST /v1/detect through nginx -> vkv-api -> queue ->
# vkv-worker (CenterNet on the first Vulkan device; lavapipe when there is
# no GPU) with the body the official client sends (JPEG q95 data URL).
#
# Prints requests/s and p50/p90/p99 latency at concurrency 1 and 2, the
# medians of the server's own metrics, and the model's share of a call:
# inference_ms / client latency.  Target: everything outside the model
# (HTTP, JSON, base64, queue, decode, resize, decode of the heat map)
# <= 10% of a detect call.  The reference for the model alone is
# `vkv bench centernet` (batch 1) in the same run.
#
#   bash bench/moondream.sh            MD_SECONDS=20 MD_IMAGE=var/testdata/images/scenetext01.jpg
set -uo pipefail
cd "${VKV_ROOT:-$(dirname "$0")/..}"
BIN=${BIN:-build/bin}
SECS=${MD_SECONDS:-20}
IMAGE=${MD_IMAGE:-var/testdata/images/scenetext01.jpg}
T=${VKV_TEST_TMP:-$(mktemp -d)}/bench-moondream
rm -rf "$T"; mkdir -p "$T"
for b in vkv-api vkv-admin vkv-worker vkv; do
  [[ -x $BIN/$b ]] || { echo "bench moondream: $BIN/$b is not built"; exit 1; }
done
[[ -d var/md-client/node_modules/sharp ]] || {
  mkdir -p var/md-client && cp tests/moondream/package.json tests/moondream/package-lock.json var/md-client/ &&
  (cd var/md-client && timeout 300 npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) ||
  { echo "bench moondream: npm ci of the client failed"; exit 1; }
}

source tests/lib/svc.sh
svc_db "$T" >/dev/null || exit 1
"$BIN/vkv-admin" tenant create bench >/dev/null
KEY=$("$BIN/vkv-admin" key create bench | tail -1)
mkdir -p "$T/models"
cp models/centernet.json "$T/models/"
export VKV_MODELS_DIR=$T/models VKV_API_THREADS=8 VKV_WAIT_TIMEOUT_MS=120000 VKV_LOG_LEVEL=warn
svc_bg "$T/worker.log" "$BIN/vkv-worker"
svc_api "$T" >/dev/null || exit 1

DEV=$("$BIN/vkv" devices 2>/dev/null | python3 -c 'import json,sys
try:
    d = json.load(sys.stdin); d = d if isinstance(d, list) else d.get("devices", [])
    print(d[0].get("name", "?") if d else "?")
except Exception: print("?")')
echo "device: $DEV; image: $IMAGE; $SECS s per run"

# the model alone, same process kind as the worker (batch 1)
VKV_MODELS_DIR= "$BIN/vkv" bench centernet --batch 1 --iters 3 2>&1 | tail -3 | sed 's/^/model alone (vkv bench): /'

# warm-up: loads the model into the worker, builds pipelines
node bench/moondream_load.mjs "$NGINX_URL" "$KEY" "$IMAGE" 1 60 3 >/dev/null

for c in 1 2; do
  line=$(node bench/moondream_load.mjs "$NGINX_URL" "$KEY" "$IMAGE" "$c" "$SECS")
  echo "detect c=$c: $line"
  python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); m = r["server_median"]
inf = m.get("inference_ms", float("nan")); p50 = r["p50_ms"]
if r["concurrency"] == 1:
    out = p50 - inf
    print(f"  model share of a detect call (c=1, medians): {inf:.1f} of {p50:.1f} ms = "
          f"{100*inf/p50:.1f}%; outside the model {out:.1f} ms = {100*out/p50:.1f}% "
          f"(queue {m.get('queue_ms', float('nan')):.1f}, preprocess {m.get('preprocess_ms', float('nan')):.1f}, "
          f"postprocess {m.get('postprocess_ms', float('nan')):.1f} ms); target <= 10%")
PY
done
