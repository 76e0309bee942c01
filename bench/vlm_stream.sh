#!/usr/bin/env bash
# Moondream 2 serving through the whole service (nginx -> vkv-api ->
# PostgreSQL -> one vkv-worker) on the reduced random-weight model of suite
# 62-vlm-api (tests/ref/md2_small.json) on the first Vulkan device
# (lavapipe here), each figure against its reference in the same run:
#
#   stream vs whole: the same greedy caption (VLM_TOKENS, 48) streamed and
#     not; time to the first byte (streamed: the first chunk; whole: the
#     answer), end to end, tokens/s (the job's token count / end to end);
#   batch of N vs N single runs: N (VLM_N, 4) greedy captions of different
#     photos queued at once while BACKGROUND is paused, then released (the
#     worker claims them together: one decode step for all), against the
#     same N sent one after another; tokens/s of each and the ratio.
# Every case VLM_REPS (3) times, medians.  The worker keeps its last
# image, so each case alternates photos: every request encodes its image.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
PY=/usr/bin/python3
source tests/lib/vk_icd.sh
vk_icd_default
source tests/lib/svc.sh
T=${VKV_TEST_TMP:-$(mktemp -d)}/vlm-stream
rm -rf "$T"
mkdir -p "$T"
TOK=${VLM_TOKENS:-48}
N=${VLM_N:-4}
REPS=${VLM_REPS:-3}
IMGS=(var/testdata/images/grace_hopper.jpg var/testdata/images/chelsea.png
  var/testdata/images/baboon.jpg var/testdata/images/building.jpg
  var/testdata/images/HappyFish.jpg var/testdata/images/camera.png
  var/testdata/images/butterfly.png var/testdata/images/astronaut.png)
((N >= 2 && N <= ${#IMGS[@]})) || {
  echo "bench vlm_stream: VLM_N 2..${#IMGS[@]}"
  exit 1
}
for f in "${IMGS[@]}"; do [[ -f $f ]] || {
  echo "bench vlm_stream: $f missing (make testdata)"
  exit 1
}; done
CACHE=$T/cache
M=$CACHE/moondream2
mkdir -p "$T/models"
svc_md_small "$M" tests/ref/md2_small.json starmie || exit 1
# batch_limit N: the batch case decodes all N together
"$PY" -c 'import json,sys; m=json.load(open("vlm/moondream2.json")); m["batch_limit"]=int(sys.argv[1]); json.dump(m, open(sys.argv[2], "w"))' \
  "$N" "$T/models/moondream2.json"

svc_db "$T" || exit 1
"$BIN/vkv-admin" tenant create bench >/dev/null
KEY=$("$BIN/vkv-admin" key create bench | tail -1)
export VKV_MODELS_DIR=$T/models VKV_MODEL_CACHE=$CACHE VKV_API_THREADS=16 \
  VKV_WAIT_TIMEOUT_MS=600000 VKV_LOG_LEVEL=info VKV_LONG_PER_KEY=32 VKV_LONG_PER_TENANT=32
svc_api "$T" || exit 1
VKV_WORKER_NAME=bench-worker svc_bg "$T/worker.log" "$BIN/vkv-worker"
for _ in $(seq 1 100); do grep -q "model moondream2" "$T/worker.log" && break; sleep 0.1; done
grep -q "model moondream2: task moondream2, batch limit $N" "$T/worker.log" || {
  echo "bench vlm_stream: the worker did not register moondream2 with batch limit $N"
  tail -5 "$T/worker.log"
  exit 1
}

mime() { [[ $1 == *.png ]] && echo image/png || echo image/jpeg; }
body() { # image stream(true|false) tier -> a request body file
  local f=$T/body.$(basename "$1").$2.$3.json
  printf '{"image_url":"data:%s;base64,%s","stream":%s,"tier":"%s","settings":{"temperature":0,"max_tokens":%d}}' \
    "$(mime "$1")" "$(base64 -w0 "$1")" "$2" "$3" "$TOK" >"$f"
  echo "$f"
}
# body file, output file -> "ttfb_ms total_ms"
post() {
  curl -s -N -o "$2" -w '%{time_starttransfer} %{time_total}\n' -H 'Expect:' -H "X-Moondream-Auth: $KEY" \
    -H 'Content-Type: application/json' --data-binary @"$1" "$NGINX_URL/v1/caption" |
    awk '{printf "%.1f %.1f\n", $1 * 1000, $2 * 1000}'
}
# the job id in an answer (whole, or the final event of a stream)
job_of() {
  "$PY" - "$1" <<'PYEOF'
import json, sys
t = open(sys.argv[1]).read()
if t.lstrip().startswith("{"):
    print(json.loads(t).get("job_id", 0))
else:
    ev = [json.loads(l[5:]) for l in t.splitlines() if l.startswith("data:")]
    print(ev[-1].get("job_id", 0) if ev else 0)
PYEOF
}
ntok() { # job id -> generated tokens
  curl -s -H "X-Moondream-Auth: $KEY" "$NGINX_URL/v1/jobs/$1" |
    "$PY" -c 'import json,sys; print(len(json.load(sys.stdin).get("result", {}).get("tokens", [])))'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
now_ms() { date +%s%3N; }

# ---- streamed vs whole -------------------------------------------------
A=${IMGS[0]}
B=${IMGS[1]}
warm=$(body "$B" false IMMEDIATE)
: >"$T/stream.txt"
: >"$T/whole.txt"
for r in $(seq 1 "$REPS"); do
  for mode in true false; do
    post "$warm" "$T/warm.out" >/dev/null # the kept image is B: A is encoded
    f=$(body "$A" $mode IMMEDIATE)
    tm=$(post "$f" "$T/one.out")
    id=$(job_of "$T/one.out")
    n=$(ntok "$id")
    echo "$tm $n" >>"$T/$([[ $mode == true ]] && echo stream || echo whole).txt"
  done
done
col() { cut -d' ' -f"$2" "$1" | median; }
tps() { awk '{printf "%.2f\n", $3 / ($2 / 1000)}' "$1" | median; }

# ---- batch of N vs N single runs -----------------------------------------
: >"$T/single.txt"
: >"$T/batch.txt"
for r in $(seq 1 "$REPS"); do
  # N single runs, one after another
  t0=$(now_ms)
  tokens=0
  for i in $(seq 0 $((N - 1))); do
    f=$(body "${IMGS[$i]}" false BACKGROUND)
    post "$f" "$T/s.$i.out" >/dev/null
    tokens=$((tokens + $(ntok "$(job_of "$T/s.$i.out")")))
  done
  echo "$(($(now_ms) - t0)) $tokens" >>"$T/single.txt"
  # the same N queued together, released at once
  "$BIN/vkv-admin" tier pause BACKGROUND >/dev/null
  BP=()
  for i in $(seq 0 $((N - 1))); do
    f=$(body "${IMGS[$i]}" false BACKGROUND)
    post "$f" "$T/b.$i.out" >/dev/null &
    BP+=($!)
  done
  for _ in $(seq 1 200); do
    nq=$(curl -s -H "X-Moondream-Auth: $KEY" "$NGINX_URL/v1/jobs?state=queued&limit=20" |
      grep -o '"state": *"queued"' | wc -l)
    ((nq >= N)) && break
    sleep 0.1
  done
  t0=$(now_ms)
  "$BIN/vkv-admin" tier resume BACKGROUND >/dev/null
  for p in "${BP[@]}"; do wait "$p"; done
  dt=$(($(now_ms) - t0))
  tokens=0
  sizes=""
  for i in $(seq 0 $((N - 1))); do
    id=$(job_of "$T/b.$i.out")
    tokens=$((tokens + $(ntok "$id")))
    sizes+=$(curl -s -H "X-Moondream-Auth: $KEY" "$NGINX_URL/v1/jobs/$id" |
      "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("result", {}).get("metrics", {}).get("batch", 1), end=" ")')
  done
  echo "$dt $tokens" >>"$T/batch.txt"
  echo "# rep $r: batch sizes seen by the $N jobs: $sizes"
done

dev=$(grep -o 'worker [^ ]* on [^,(]*' "$T/worker.log" | head -1 | sed 's/.* on //')
echo "vlm_stream: reduced Moondream 2 (tests/ref/md2_small.json, i8), greedy captions of $TOK tokens at most, $dev, medians of $REPS"
printf '  streamed: first chunk %8.1f ms, end to end %8.1f ms, %6.2f tokens/s (%s tokens)\n' \
  "$(col "$T/stream.txt" 1)" "$(col "$T/stream.txt" 2)" "$(tps "$T/stream.txt")" "$(col "$T/stream.txt" 3)"
printf '  whole:    answer      %8.1f ms, end to end %8.1f ms, %6.2f tokens/s (%s tokens)\n' \
  "$(col "$T/whole.txt" 1)" "$(col "$T/whole.txt" 2)" "$(tps "$T/whole.txt")" "$(col "$T/whole.txt" 3)"
"$PY" -c "import sys; s,w,ts,tw=map(float,sys.argv[1:]); print(f'  ratio streamed/whole: time to first text {s/w:.2f}, tokens/s {ts/tw:.2f}')" \
  "$(col "$T/stream.txt" 1)" "$(col "$T/whole.txt" 1)" "$(tps "$T/stream.txt")" "$(tps "$T/whole.txt")"
st=$(awk '{printf "%.2f\n", $2 / ($1 / 1000)}' "$T/single.txt" | median)
bt=$(awk '{printf "%.2f\n", $2 / ($1 / 1000)}' "$T/batch.txt" | median)
printf '  %d single runs:  %8.0f ms for %s tokens, %6.2f tokens/s\n' "$N" "$(col "$T/single.txt" 1)" "$(col "$T/single.txt" 2)" "$st"
printf '  batch of %d:      %8.0f ms for %s tokens, %6.2f tokens/s\n' "$N" "$(col "$T/batch.txt" 1)" "$(col "$T/batch.txt" 2)" "$bt"
"$PY" -c "import sys; b,s=map(float,sys.argv[1:]); print(f'  ratio batch/single throughput: {b/s:.2f}')" "$bt" "$st"
