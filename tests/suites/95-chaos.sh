#!/usr/bin/env bash
# 95-chaos: faults under load, loopback only, bounded (about 2 minutes).
# Stack: PostgreSQL (pg_tmp), two vkv-api processes behind nginx, two
# workers on the test engine (no GPU).  tests/integration/chaos_load.py
# posts jobs continuously, each with its own Idempotency-Key, and logs
# every answer.  Faults, one after the other, each under that load:
#   1. kill -9 a worker holding a batch (a replacement starts at once)
#   2. kill -9 a vkv-api process (restarted after 1 s, as make run does)
#   3. restart PostgreSQL (fast shutdown + start)
#   4. reload nginx (SIGHUP)
# Then the load stops and every acknowledged job (202) must exist and have
# completed exactly once (one job_history row, succeeded, none left in
# jobs).  Prints the recovery time of each fault and the tally line:
#   # tally: chaos faults survived N of 4, acknowledged N, lost N, duplicated N, ...
set -uo pipefail
cd "${VKV_ROOT:-$(pwd)}"
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-$(mktemp -d)}/chaos
rm -rf "$T"; mkdir -p "$T"; chmod 755 "$T"

pass=0; fail=0
ok()  { echo "ok - $*"; pass=$((pass + 1)); }
nok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { if [[ $1 == 0 ]]; then ok "$2"; else nok "$2${3:+ ($3)}"; fi; }
now_ms() { date +%s%3N; }

for b in vkv-api vkv-admin vkv-worker; do
  [[ -x $BIN/$b ]] || { nok "binary $BIN/$b is built"; exit 1; }
done
source tests/lib/pg_tmp.sh
source tests/lib/nginx_tmp.sh

declare -A API_PID=() WK=()
LOAD_PID=
cleanup() {
  touch "$T/stop"
  [[ -n $LOAD_PID ]] && { kill "$LOAD_PID" 2>/dev/null; wait "$LOAD_PID" 2>/dev/null; }
  local p
  for p in "${WK[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  nginx_tmp_stop
  for p in "${API_PID[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  pg_tmp_stop
}
trap cleanup EXIT

pg_tmp_start || { nok "PostgreSQL starts"; exit 1; }
pg_tmp_migrate >"$T/migrate.log" 2>&1 || { nok "migrations apply"; exit 1; }
"$BIN/vkv-admin" tenant create chaos >/dev/null
KEY=$("$BIN/vkv-admin" key create chaos | tail -1)
mkdir -p "$T/models"
echo '{"name":"wk-test-a","task":"classify","format":"tfjs-graph"}' >"$T/models/wk-test-a.json"
python3 tests/integration/api_images.py "$T/img" >/dev/null
printf '{"task":"classify","model":"wk-test-a","tier":"INTERACTIVE","image_url":"%s"}' \
  "$(cat "$T/img/ok.png.durl")" >"$T/job.json"

export VKV_MODELS_DIR=$T/models VKV_API_THREADS=8 VKV_LOG_LEVEL=info \
       VKV_RATE_LIMIT=100000 VKV_RATE_BURST=100000 VKV_TIER_DEPTH_LIMIT=1000000
api_start() { # api_start N
  VKV_API_SOCKET=$T/api$1.sock "$BIN/vkv-api" >>"$T/api$1.log" 2>&1 &
  API_PID[$1]=$!
}
wk_start() { # wk_start NAME: the test engine, 60 ms per batch of up to 8
  "$BIN/vkv-worker" --name "$1" --engine test --test-models wk-test-a --test-delay-ms 60 \
    --batch 8 >>"$T/worker-$1.log" 2>&1 &
  WK[$1]=$!
}
api_start 1; api_start 2
for _ in $(seq 1 100); do [[ -S $T/api1.sock && -S $T/api2.sock ]] && break; sleep 0.1; done
nginx_tmp_start "$T/nginx" "$T/api1.sock" "$T/api2.sock" || { nok "nginx starts"; exit 1; }
wk_start w1; wk_start w2
ok "stack up: PostgreSQL, 2 vkv-api, nginx, 2 workers (test engine)"

python3 tests/integration/chaos_load.py "$NGINX_URL" "$KEY" "$T/job.json" "$T/load.log" "$T/stop" &
LOAD_PID=$!
sleep 3

SURVIVED=0
declare -A REC=()
# first 202 at or after time $1 (ms): prints its time, or nothing
first_ok_after() { awk -v t="$1" '$1 >= t && $2 == 202 { print $1; exit }' "$T/load.log"; }
# answers other than 202 between $1 and $2 (ms)
errors_between() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 != 202 { n++ } END { print n + 0 }' "$T/load.log"; }

# ---- 1. kill -9 a worker while it holds a batch
held=""
for _ in $(seq 1 100); do
  held=$(psql -XAtqc "select string_agg(id::text, ' ') from jobs where worker = 'w1' and state = 'running'")
  [[ -n $held ]] && break
  sleep 0.05
done
t0=$(now_ms)
kill -9 "${WK[w1]}"; wait "${WK[w1]}" 2>/dev/null; unset "WK[w1]"
wk_start w1b
rec=""
if [[ -n $held ]]; then
  ids="{${held// /,}}"
  for _ in $(seq 1 600); do   # 30 s: lease 10 s + requeue period 3 s + slack
    n=$(psql -XAtqc "select count(*) from job_history where id = any('$ids'::bigint[]) and state = 'succeeded'")
    [[ $n == $(wc -w <<<"$held") ]] && { rec=$(( $(now_ms) - t0 )); break; }
    sleep 0.05
  done
fi
[[ -n $held && -n $rec ]]
check $? "kill -9 of worker w1 holding jobs [$held]: all of them succeeded elsewhere ${rec:+after $rec ms}"
[[ -n $rec ]] && { SURVIVED=$((SURVIVED + 1)); REC[worker]=$rec; }
sleep 2

# ---- 2. kill -9 a vkv-api process; restarted after 1 s
t0=$(now_ms)
kill -9 "${API_PID[1]}"; wait "${API_PID[1]}" 2>/dev/null
sleep 1
api_start 1
for _ in $(seq 1 50); do [[ -S $T/api1.sock ]] && break; sleep 0.1; done
sleep 3
t1=$(now_ms)
errs=$(errors_between "$t0" "$t1")
# recovery: from the kill to the first success after the last failure of
# the window (to the first success when nothing failed)
last_err=$(awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b && $2 != 202 { l = $1 } END { print l + 0 }' "$T/load.log")
back=$(first_ok_after "$(( last_err > 0 ? last_err : t0 ))")
rec=$(( ${back:-$t0} - t0 ))
echo "# api kill at $t0, last failure ${last_err}, first success after it ${back:-none}"
ok_after=$(awk -v t="$t0" '$1 >= t && $2 == 202 { n++ } END { print n + 0 }' "$T/load.log")
((ok_after > 0)); check $? "kill -9 of vkv-api 1: requests kept succeeding ($ok_after in 4 s, $errs failed, recovered after $rec ms)"
((ok_after > 0)) && { SURVIVED=$((SURVIVED + 1)); REC[api]=$rec; }

# ---- 3. restart PostgreSQL under load
t0=$(now_ms)
pg_tmp_restart >/dev/null 2>&1
t1=$(now_ms)
first=""
for _ in $(seq 1 300); do first=$(first_ok_after "$t1"); [[ -n $first ]] && break; sleep 0.05; done
rec=$(( ${first:-0} > 0 ? first - t0 : -1 ))
[[ -n $first ]]; check $? "PostgreSQL restart (took $((t1 - t0)) ms): enqueues succeed again $rec ms after the restart began"
[[ -n $first ]] && { SURVIVED=$((SURVIVED + 1)); REC[postgres]=$rec; }
sleep 2

# ---- 4. reload nginx under load
t0=$(now_ms)
kill -HUP "$NGINX_PID"
sleep 3
t1=$(now_ms)
errs=$(errors_between "$t0" "$t1")
okn=$(awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b && $2 == 202 { n++ } END { print n + 0 }' "$T/load.log")
back=$(first_ok_after "$t0")
rec=$(( ${back:-$t0} - t0 ))
((okn > 0 && errs == 0)); check $? "nginx reload: $okn requests succeeded, $errs failed in the 3 s after SIGHUP"
((okn > 0)) && { SURVIVED=$((SURVIVED + 1)); REC[nginx]=$rec; }

# ---- the load stops; every acknowledged job must complete exactly once
touch "$T/stop"; wait "$LOAD_PID" 2>/dev/null; LOAD_PID=
awk '$2 == 202 { print $3 }' "$T/load.log" | sort -n >"$T/acked"
ACK=$(wc -l <"$T/acked")
DUPACK=$(uniq -d "$T/acked" | wc -l)
psql -XAtqc "create temp table a (id bigint)" -c "\\copy a from '$T/acked'" \
  -c "select 1" >/dev/null 2>&1
drained=0
for _ in $(seq 1 1200); do   # 60 s
  q=$(psql -XAtqc "select count(*) from jobs")
  [[ $q == 0 ]] && { drained=1; break; }
  sleep 0.05
done
((drained)); check $? "the queue drains after the load stops (left: $q)"
psql -XAtq -v ON_ERROR_STOP=1 >"$T/verdict" 2>&1 <<SQL
CREATE TEMP TABLE a (id bigint);
\\copy a from '$T/acked'
SELECT 'missing', count(*) FROM a WHERE NOT EXISTS (SELECT 1 FROM jobs_all j WHERE j.id = a.id);
SELECT 'not_succeeded', count(*) FROM a JOIN jobs_all j USING (id) WHERE j.state <> 'succeeded';
SELECT 'history_dups', count(*) FROM (SELECT id FROM job_history GROUP BY id HAVING count(*) > 1) d;
SELECT 'in_both', count(*) FROM jobs j JOIN job_history h USING (id);
SELECT 'idem_dups', count(*) FROM (SELECT idempotency_key FROM jobs_all
   WHERE idempotency_key LIKE 'chaos-%' GROUP BY idempotency_key HAVING count(*) > 1) d;
SELECT 'retried', count(*) FROM a JOIN job_history h USING (id) WHERE h.attempts > 1;
SELECT 'unacked_written', count(*) FROM jobs_all j WHERE j.idempotency_key LIKE 'chaos-%'
   AND NOT EXISTS (SELECT 1 FROM a WHERE a.id = j.id);
SQL
v() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$T/verdict"; }
LOST=$(v missing); NOTOK=$(v not_succeeded); DUP=$(( $(v history_dups) + $(v in_both) + $(v idem_dups) + DUPACK ))
[[ -n $LOST && $LOST == 0 ]]; check $? "every one of $ACK acknowledged jobs exists (missing: ${LOST:-?})" "$(head -c 300 "$T/verdict")"
[[ $NOTOK == 0 ]]; check $? "every acknowledged job succeeded (not: $NOTOK; $(v retried) ran twice after a fault)"
((DUP == 0)); check $? "no job completed twice or was stored twice ($DUP)"
((ACK >= 200)); check $? "the load was real: $ACK jobs acknowledged"
errs_total=$(awk '$2 != 202 { n++ } END { print n + 0 }' "$T/load.log")
n5=$(awk '$2 >= 500 { n++ } END { print n + 0 }' "$T/load.log")
bystatus=$(awk '$2 != 202 { c[$2]++ } END { for (s in c) printf "%s%s x%d", (n++ ? ", " : ""), s, c[s] }' "$T/load.log")
echo "# recovery: worker kill -9 ${REC[worker]:-none} ms (jobs in hand succeeded elsewhere)," \
     "vkv-api kill -9 ${REC[api]:-none} ms, PostgreSQL restart ${REC[postgres]:-none} ms," \
     "nginx reload ${REC[nginx]:-none} ms"
echo "# tally: chaos faults survived $SURVIVED of 4, acknowledged $ACK, lost ${LOST:-?}, duplicated $DUP," \
     "unacknowledged but stored $(v unacked_written), failed answers $errs_total (${bystatus:-none})"
((fail == 0))
