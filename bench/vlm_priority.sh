#!/usr/bin/env bash
# IMMEDIATE time-to-first-token under a BACKGROUND caption flood, against
# the same request on an idle worker (issue 11, "priority that holds when
# jobs take seconds").  The whole service (PostgreSQL, nginx, vkv-api, one
# vkv-worker) serves the reduced random-weight Moondream 2 of suite
# 62-vlm-api (tests/ref/md2_small.json) on the first Vulkan device
# (lavapipe here), so it runs in minutes.
#
#   idle:  a streamed IMMEDIATE caption (greedy, 8 tokens) of photo A while
#          nothing else runs (the worker's kept image is photo B, so the
#          vision encoder runs in both cases);
#   flood: VLM_FLOOD (6) BACKGROUND long captions of photo B (greedy,
#          VLM_BG_TOKENS (400) tokens, so each runs for many seconds)
#          queued; once one generates, the same IMMEDIATE request.
# TTFT = time to the first non-empty text chunk of the stream.  Each case
# VLM_REPS (3) times; medians printed.
# The bound (worker/README.md): one decode step + the worker's look at its
# notifications + the claim, plus the IMMEDIATE job's own vision encode
# and prefill.  Without preemption the IMMEDIATE job would wait for the
# running caption to finish (its remaining tokens x ms/token, printed).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
PY=/usr/bin/python3
source tests/lib/vk_icd.sh
vk_icd_default
source tests/lib/svc.sh
T=${VKV_TEST_TMP:-$(mktemp -d)}/vlm-priority
rm -rf "$T"; mkdir -p "$T"
FLOOD=${VLM_FLOOD:-6}
REPS=${VLM_REPS:-3}
A=var/testdata/images/grace_hopper.jpg
B=var/testdata/images/chelsea.png
[[ -f $A && -f $B ]] || { echo "bench vlm_priority: test images (make testdata)"; exit 1; }
CACHE=$T/cache; M=$CACHE/moondream2
mkdir -p "$M" "$T/models"
# suite 62's reduced model with a longer context, so a BACKGROUND caption
# can run for hundreds of tokens
"$PY" -c 'import json,sys; c=json.load(open("tests/ref/md2_small.json")); c["text"]["max_context"]=1024; json.dump(c, open(sys.argv[1], "w"))' "$T/config.json"
svc_md_small "$M" "$T/config.json" starmie || exit 1
cp vlm/moondream2.json "$T/models/"

svc_db "$T" || exit 1
"$BIN/vkv-admin" tenant create bench >/dev/null
KEY=$("$BIN/vkv-admin" key create bench | tail -1)
export VKV_MODELS_DIR=$T/models VKV_MODEL_CACHE=$CACHE VKV_API_THREADS=16 \
  VKV_WAIT_TIMEOUT_MS=600000 VKV_LOG_LEVEL=info VKV_LONG_PER_KEY=32 VKV_LONG_PER_TENANT=32
svc_api "$T" || exit 1
VKV_WORKER_NAME=bench-worker svc_bg "$T/worker.log" "$BIN/vkv-worker"
for _ in $(seq 1 100); do grep -q "model moondream2" "$T/worker.log" && break; sleep 0.1; done

b64() { base64 -w0 "$1"; }
body() { # image mime length tier tokens
  printf '{"image_url":"data:%s;base64,%s","length":"%s","tier":"%s","stream":true,"settings":{"temperature":0,"max_tokens":%d}}' \
    "$2" "$(b64 "$1")" "$3" "$4" "$5"
}
body "$A" image/jpeg short IMMEDIATE 8 >"$T/im.json"
body "$B" image/png long BACKGROUND "${VLM_BG_TOKENS:-400}" >"$T/bg.json"
body "$B" image/png short IMMEDIATE 2 >"$T/warm.json"
# post BODY -> "ttft total" in ms.  TTFT is the arrival of the first
# non-empty text chunk (data: {"chunk": "...", "completed": false}), read
# off the stream by Python: curl's time_starttransfer is the response
# headers, which the API sends before any text.
post() {
  "$PY" - "$1" "$NGINX_URL" "$KEY" <<'PYEOF'
import http.client, json, sys, time, urllib.parse
body = open(sys.argv[1], "rb").read()
u = urllib.parse.urlparse(sys.argv[2])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=900)
t0 = time.monotonic()
c.request("POST", "/v1/caption", body, {"X-Moondream-Auth": sys.argv[3],
          "Content-Type": "application/json"})
r = c.getresponse()
ttft = None
for line in r:
    line = line.strip()
    if not line.startswith(b"data:"):
        continue
    try:
        ev = json.loads(line[5:])
    except ValueError:
        continue
    if ttft is None and ev.get("chunk"):
        ttft = time.monotonic() - t0
    if ev.get("completed"):
        break
tot = time.monotonic() - t0
if r.status != 200 or ttft is None:
    sys.exit(f"status {r.status}, no text chunk")
print(f"{ttft * 1000:.1f} {tot * 1000:.1f}")
PYEOF
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

: >"$T/idle.txt"; : >"$T/flood.txt"
post "$T/im.json" >/dev/null # first use of photo A's crop layout: plans recorded once
for r in $(seq 1 "$REPS"); do
  post "$T/warm.json" >/dev/null # the kept image is B: A is encoded again
  post "$T/im.json" >>"$T/idle.txt"
done
for r in $(seq 1 "$REPS"); do
  post "$T/warm.json" >/dev/null
  FP=()
  for i in $(seq 1 "$FLOOD"); do
    post "$T/bg.json" >"$T/bg.$r.$i.txt" &
    FP+=($!)
  done
  # a BACKGROUND caption is generating: its first tokens were published
  n0=$(grep -c 'suspended after' "$T/worker.log")
  seen=0
  for _ in $(seq 1 600); do
    st=$(curl -s -H "X-Moondream-Auth: $KEY" "$NGINX_URL/v1/jobs?state=running&limit=1")
    # any JSON spacing: the list is PostgreSQL's json text ("state" : "running")
    [[ $st =~ \"state\"[[:space:]]*:[[:space:]]*\"running\" ]] && { seen=1; break; }
    sleep 0.05
  done
  ((seen)) || { echo "bench vlm_priority: no BACKGROUND caption was seen running (last answer: ${st:0:200})"; exit 1; }
  sleep 0.3
  post "$T/im.json" >>"$T/flood.txt"
  for p in "${FP[@]}"; do wait "$p"; done
  n1=$(grep -c 'suspended after' "$T/worker.log")
  echo "# flood rep $r: $((n1 - n0)) suspensions"
done
ms_tok=$("$PY" - "$T/worker.log" <<'PYEOF'
import re, sys
# the worker logs each batch's wall time (a batch of BACKGROUND captions,
# up to batch_limit of them decoding together, or the IMMEDIATE one)
walls = [float(m.group(1)) for m in re.finditer(r'batch of [0-9]+ moondream2 jobs in ([0-9.]+) ms', open(sys.argv[1]).read())]
print(f"{sorted(walls)[len(walls) // 2]:.0f}" if walls else "0")
PYEOF
)
it=$(cut -d' ' -f1 "$T/idle.txt" | median); itot=$(cut -d' ' -f2 "$T/idle.txt" | median)
ft=$(cut -d' ' -f1 "$T/flood.txt" | median); ftot=$(cut -d' ' -f2 "$T/flood.txt" | median)
sus=$(grep -c 'suspended after' "$T/worker.log")
done_bg=$(cat "$T"/bg.*.txt | wc -l)
echo "vlm_priority: IMMEDIATE caption (8 tokens, greedy), reduced Moondream 2, $(grep -o 'worker [^ ]* on [^,(]*' "$T/worker.log" | head -1 | sed 's/.* on //')"
printf '  idle worker:        TTFT median %8.1f ms, total %8.1f ms  (%s)\n' "$it" "$itot" "$(tr '\n' ';' <"$T/idle.txt")"
printf '  BACKGROUND flood:   TTFT median %8.1f ms, total %8.1f ms  (%s)\n' "$ft" "$ftot" "$(tr '\n' ';' <"$T/flood.txt")"
"$PY" -c "import sys; i,f=float(sys.argv[1]),float(sys.argv[2]); print(f'  ratio flood/idle TTFT: {f/i:.2f} (flood - idle: {f-i:.0f} ms)')" "$it" "$ft"
echo "  suspensions: $sus; BACKGROUND captions completed: $done_bg of $((FLOOD * REPS)); median worker batch wall (BACKGROUND captions decoding together, or the IMMEDIATE one): $ms_tok ms"
fails=$(grep -c 'level=error' "$T/worker.log")
((done_bg == FLOOD * REPS && sus >= REPS)) || { echo "bench vlm_priority: not every BACKGROUND caption completed or no suspension ($fails errors)"; exit 1; }
