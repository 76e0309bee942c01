#!/usr/bin/env bash
# bench/api.sh: enqueue rate through nginx + FastCGI (vkv-api) against the
# raw INSERT rate of the same PostgreSQL cluster (pgbench), as a ratio.
#
#   bash bench/api.sh            (or: make bench, bash bench/run.sh api)
# Also prints the same INSERT followed by pg_notify in one transaction, the
# ceiling of any enqueue that wakes workers with NOTIFY (jq_enqueue does).
# Settings: API_BENCH_SECONDS (10), API_BENCH_CONNS (8), API_BENCH_THREADS
# (vkv-api threads, 8).  Both sides use the same number of concurrent
# clients.  The job body is a JSON job with a 16x16 PNG data URL (~600
# bytes), validated (decoded) by vkv-api like any other.  Target (issue 3):
# enqueue >= 50% of the raw INSERT rate.  Prints figures; asserts nothing
# about speed (tests never time things), but fails when wrk saw errors.
# Also prints, per request of the single-job run, the CPU time PostgreSQL
# (postmaster + backends), vkv-api and nginx used (from /proc, clock-tick
# resolution, so only long runs are meaningful; every other process on
# the machine counts in none of them), the raw INSERT's PostgreSQL CPU per
# row for comparison, and the group enqueue's jobs per statement from
# vkv-api's /metrics.  vkv-api takes VKV_ENQUEUE_GROUP_MAX / _LEADERS /
# _WAIT_US from the environment (fcgi/README.md "Group enqueue").
set -uo pipefail
cd "${VKV_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
BIN=${BIN:-build/bin}
SECS=${API_BENCH_SECONDS:-10}
CONNS=${API_BENCH_CONNS:-8}
T=${VKV_TEST_TMP:-$(mktemp -d)}/bench-api
rm -rf "$T"; mkdir -p "$T"
for b in vkv-api vkv-admin; do
  [[ -x $BIN/$b ]] || { echo "bench api: $BIN/$b is not built"; exit 1; }
done
command -v wrk >/dev/null && command -v pgbench >/dev/null || { echo "bench api: needs wrk and pgbench"; exit 1; }

source tests/lib/pg_tmp.sh
source tests/lib/nginx_tmp.sh
API_PID=
cleanup() {
  nginx_tmp_stop
  [[ -n $API_PID ]] && { kill -TERM "$API_PID" 2>/dev/null; wait "$API_PID" 2>/dev/null; }
  pg_tmp_stop
}
trap cleanup EXIT

pg_tmp_start >/dev/null || exit 1
"$BIN/vkv-admin" migrate >/dev/null 2>&1 || { echo "bench api: migrate failed"; exit 1; }
"$BIN/vkv-admin" tenant create bench >/dev/null 2>&1
KEY=$("$BIN/vkv-admin" key create bench 2>/dev/null | tail -1)
mkdir -p "$T/models"
echo '{"name":"centernet","task":"detect","format":"tfjs-graph"}' >"$T/models/centernet.json"
python3 tests/integration/api_images.py "$T/img"
printf '{"task":"detect","model":"centernet","tier":"INTERACTIVE","image_url":"%s"}' \
  "$(cat "$T/img/ok.png.durl")" >"$T/body.json"
# the group enqueue: GROUP images in one POST /v1/batches (one transaction)
GROUP=${API_BENCH_GROUP:-50}
{ printf '{"task":"detect","model":"centernet","tier":"INTERACTIVE","images":['
  for ((i = 0; i < GROUP; i++)); do ((i)) && printf ','; printf '"%s"' "$(cat "$T/img/ok.png.durl")"; done
  printf ']}'; } >"$T/group.json"

export VKV_MODELS_DIR=$T/models VKV_API_THREADS=${API_BENCH_THREADS:-8} VKV_LOG_LEVEL=warn \
       VKV_TIER_DEPTH_LIMIT=100000000 VKV_RATE_LIMIT=1000000 VKV_RATE_BURST=1000000
VKV_API_SOCKET=$T/api.sock "$BIN/vkv-api" >"$T/api.log" 2>&1 &
API_PID=$!
for i in $(seq 1 50); do [[ -S $T/api.sock ]] && break; sleep 0.1; done
nginx_tmp_start "$T/nginx" "$T/api.sock" || exit 1
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" \
       -H 'Content-Type: application/json' --data-binary @"$T/body.json" "$NGINX_URL/v1/jobs")
[[ $code == 202 ]] || { echo "bench api: a test enqueue answered $code"; exit 1; }

# CPU time (clock ticks) of a process, its live children and its reaped
# children: PostgreSQL = the postmaster and its
# backends, nginx = master and workers
cpu_ticks() {
  local root=$1 p tot=0 s
  for p in $root $(pgrep -P "$root"); do
    s=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
    set -- $s
    tot=$((tot + ${12} + ${13}))
    # children that exited and were reaped (pgbench's backends)
    [[ $p == "$root" ]] && tot=$((tot + ${14} + ${15}))
  done
  echo $tot
}
PG_PID=$(head -1 "$PG_TMP_DIR/data/postmaster.pid" 2>/dev/null)
cpu_all() { echo "$(cpu_ticks "$PG_PID") $(cpu_ticks "$API_PID") $(cpu_ticks "$NGINX_PID")"; }

# 1. enqueue through nginx + vkv-api (a short warm-up first)
BODY_FILE=$T/body.json KEY=$KEY wrk -t2 -c"$CONNS" -d2s -s bench/api_post.lua "$NGINX_URL/v1/jobs" >/dev/null 2>&1
cpu0=$(cpu_all)
metric() { curl -s "$NGINX_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
st0=$(metric vkv_api_enqueue_statements_total); rows0=$(metric vkv_api_enqueue_rows_total)
sk0=$(metric vkv_api_auth_lookups_skipped_total)
BODY_FILE=$T/body.json KEY=$KEY wrk -t2 -c"$CONNS" -d"${SECS}s" -s bench/api_post.lua \
  --latency "$NGINX_URL/v1/jobs" >"$T/wrk.out" 2>&1
cpu1=$(cpu_all)
st1=$(metric vkv_api_enqueue_statements_total); rows1=$(metric vkv_api_enqueue_rows_total)
sk1=$(metric vkv_api_auth_lookups_skipped_total)
api_rps=$(awk '/^Requests\/sec/ {print $2}' "$T/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $5}' "$T/wrk.out")
errs=$(grep -c 'Socket errors' "$T/wrk.out")
p50=$(awk '$1 == "50%" {print $2}' "$T/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$T/wrk.out")

# 1b. the same images, GROUP per request (POST /v1/batches)
BODY_FILE=$T/group.json KEY=$KEY wrk -t2 -c"$CONNS" -d2s -s bench/api_post.lua "$NGINX_URL/v1/batches" >/dev/null 2>&1
BODY_FILE=$T/group.json KEY=$KEY wrk -t2 -c"$CONNS" -d"${SECS}s" -s bench/api_post.lua \
  "$NGINX_URL/v1/batches" >"$T/wrk-group.out" 2>&1
group_rps=$(awk '/^Requests\/sec/ {print $2}' "$T/wrk-group.out")
gnon2xx=$(awk '/Non-2xx/ {print $5}' "$T/wrk-group.out")
gerrs=$(grep -c 'Socket errors' "$T/wrk-group.out")

# 2. raw INSERT of the same row on the same cluster, same concurrency
pgbench -n -c"$CONNS" -j2 -T2 -f bench/api_insert.sql >/dev/null 2>&1
pgc0=$(cpu_ticks "$PG_PID")
pgbench -n -c"$CONNS" -j2 -T"$SECS" -f bench/api_insert.sql >"$T/pgbench.out" 2>&1
pgc1=$(cpu_ticks "$PG_PID")
raw_tps=$(awk '/^tps = / {print $3; exit}' "$T/pgbench.out")
# 3. the same INSERT + pg_notify: the ceiling of an enqueue that wakes workers
pgbench -n -c"$CONNS" -j2 -T"$SECS" -f bench/api_insert_notify.sql >"$T/pgbench2.out" 2>&1
notify_tps=$(awk '/^tps = / {print $3; exit}' "$T/pgbench2.out")

echo "# load $(cut -d' ' -f1 /proc/loadavg), $(nproc) cores; thumbnails: VKV_THUMB_SIDE=${VKV_THUMB_SIDE:-160 (default)}"
echo "api enqueue (POST /v1/jobs via nginx+FastCGI, $CONNS conns, ${SECS}s): ${api_rps:-?} req/s  p50 ${p50:-?}  p99 ${p99:-?}"
reqs=$(awk '/requests in/ {print $1}' "$T/wrk.out")
[[ -n ${reqs:-} && $reqs -gt 0 ]] && awk -v a="$cpu0" -v b="$cpu1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN {
  split(a, x, " "); split(b, y, " "); f = 1e6 / hz / n
  printf "  CPU per request: PostgreSQL %.0f us, vkv-api %.0f us, nginx %.0f us (clock ticks of %d ms)\n",
         (y[1] - x[1]) * f, (y[2] - x[2]) * f, (y[3] - x[3]) * f, 1000 / hz }'
[[ -n ${st1:-} && -n ${st0:-} ]] && awk -v s="$((st1 - st0))" -v r="$((rows1 - rows0))" 'BEGIN {
  printf "  group enqueue: %d statements for %d jobs, %.2f jobs per statement (VKV_ENQUEUE_GROUP_MAX=%s, VKV_ENQUEUE_GROUP_WAIT_US=%s)\n",
         s, r, s ? r / s : 0, ENVIRON["VKV_ENQUEUE_GROUP_MAX"] ? ENVIRON["VKV_ENQUEUE_GROUP_MAX"] : "64 default",
         ENVIRON["VKV_ENQUEUE_GROUP_WAIT_US"] ? ENVIRON["VKV_ENQUEUE_GROUP_WAIT_US"] : "0 default" }'
[[ -n ${sk1:-} && -n ${sk0:-} && -n ${reqs:-} && $reqs -gt 0 ]] &&
  echo "  key lookups left to the enqueue statement: $((sk1 - sk0)) of $reqs requests"
[[ -n ${group_rps:-} ]] && awk -v g="$group_rps" -v n="$GROUP" -v c="$CONNS" -v s="$SECS" 'BEGIN {
  printf "api group enqueue (POST /v1/batches, %d images each, %d conns, %ds): %.1f req/s = %.0f jobs/s\n", n, c, s, g, g * n }'
echo "raw INSERT (pgbench, same row, $CONNS clients, ${SECS}s):             ${raw_tps:-?} tps"
rawn=$(awk '/number of transactions actually processed/ {print $NF}' "$T/pgbench.out")
[[ -n ${rawn:-} && $rawn -gt 0 ]] && awk -v a="$pgc0" -v b="$pgc1" -v n="$rawn" -v hz="$(getconf CLK_TCK)" 'BEGIN {
  printf "  CPU per INSERT: PostgreSQL %.0f us\n", (b - a) * 1e6 / hz / n }'
echo "raw INSERT + pg_notify (pgbench, $CONNS clients, ${SECS}s):      ${notify_tps:-?} tps"
if [[ -n ${api_rps:-} && -n ${raw_tps:-} && -n ${notify_tps:-} ]]; then
  awk -v a="$api_rps" -v r="$raw_tps" -v n="$notify_tps" 'BEGIN {
    printf "ratio api/raw INSERT: %.2f (target >= 0.50)\n", a / r
    printf "ratio api/INSERT+NOTIFY: %.2f\n", a / n }'
fi
if [[ -n ${group_rps:-} && -n ${raw_tps:-} ]]; then
  awk -v g="$group_rps" -v n="$GROUP" -v r="$raw_tps" 'BEGIN {
    printf "ratio api group enqueue/raw INSERT: %.2f (target >= 0.50)\n", g * n / r }'
fi
if [[ -n ${gnon2xx:-} || $gerrs != 0 ]]; then
  echo "bench api: wrk saw errors on the group enqueue (non-2xx: ${gnon2xx:-0}):"; cat "$T/wrk-group.out"; exit 1
fi
if [[ -n ${non2xx:-} || $errs != 0 ]]; then
  echo "bench api: wrk saw errors (non-2xx: ${non2xx:-0}):"; cat "$T/wrk.out"; exit 1
fi
