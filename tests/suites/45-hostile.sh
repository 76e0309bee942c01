#!/usr/bin/env bash
# 45-hostile: what an attacker sends, through real nginx, two vkv-api
# processes and PostgreSQL (loopback only).  Every hostile request must get
# a 4xx (never a 5xx) whose body is JSON with an error code and a request
# id, write no row, and crash nothing; work bombs must cost little API CPU.
# Ends with the tally line:
#   # tally: hostile inputs N, 5xx N, crashes N, rows written by rejected requests N
set -uo pipefail
cd "${VKV_ROOT:-$(pwd)}"
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-$(mktemp -d)}/hostile
rm -rf "$T"; mkdir -p "$T"

pass=0; fail=0
ok()  { echo "ok - $*"; pass=$((pass + 1)); }
nok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { if [[ $1 == 0 ]]; then ok "$2"; else nok "$2${3:+ ($3)}"; fi; }

for b in vkv-api vkv-admin api_jget; do
  [[ -x $BIN/$b ]] || { nok "binary $BIN/$b is built"; exit 1; }
done
source tests/lib/pg_tmp.sh
source tests/lib/nginx_tmp.sh

API_PIDS=()
cleanup() {
  nginx_tmp_stop
  local p
  for p in "${API_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${API_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  pg_tmp_stop
}
trap cleanup EXIT

pg_tmp_start || { nok "PostgreSQL starts"; exit 1; }
pg_tmp_migrate >"$T/migrate.log" 2>&1 || { nok "migrations apply"; cat "$T/migrate.log"; exit 1; }
"$BIN/vkv-admin" tenant create alice >/dev/null && "$BIN/vkv-admin" tenant create bob >/dev/null
KA=$("$BIN/vkv-admin" key create alice | tail -1)
KB=$("$BIN/vkv-admin" key create bob | tail -1)
[[ -n $KA && -n $KB ]] || { nok "tenants and keys"; exit 1; }

mkdir -p "$T/models"
echo '{"name":"centernet","task":"detect"}' >"$T/models/centernet.json"
python3 tests/integration/api_images.py "$T/img"
python3 tests/integration/hostile_inputs.py "$T/bomb"

export VKV_MODELS_DIR=$T/models VKV_API_THREADS=4 VKV_WAIT_TIMEOUT_MS=4000 VKV_LOG_LEVEL=info
for i in 1 2; do
  VKV_API_SOCKET=$T/api$i.sock "$BIN/vkv-api" >"$T/api$i.log" 2>&1 &
  API_PIDS+=($!)
done
for i in $(seq 1 50); do [[ -S $T/api1.sock && -S $T/api2.sock ]] && break; sleep 0.1; done
[[ -S $T/api1.sock && -S $T/api2.sock ]] || { nok "vkv-api listens"; exit 1; }
nginx_tmp_start "$T/nginx" "$T/api1.sock" "$T/api2.sock" || { nok "nginx starts"; exit 1; }
U=$NGINX_URL

coproc PSQL { psql -XAtq 2>&1; }
rows() {
  echo "select (select count(*) from jobs) + (select count(*) from job_history)
          + (select count(*) from batches) + (select count(*) from tenants)
          + (select count(*) from api_keys) + (select count(*) from pg_largeobject_metadata);" >&"${PSQL[1]}"
  local line; read -r -t 10 line <&"${PSQL[0]}"; echo "$line"
}
# CPU (ms) used so far by both vkv-api processes (utime + stime, 100 Hz ticks)
api_cpu_ms() {
  local p t=0
  for p in "${API_PIDS[@]}"; do
    read -r -a f <"/proc/$p/stat" 2>/dev/null || continue
    t=$((t + (f[13] + f[14]) * 1000 / $(getconf CLK_TCK)))
  done
  echo $t
}
jget() { "$BIN/api_jget" "$T/body" "$1"; }

N_TRIED=0 N_5XX=0 N_ROWS=0
# hostile NAME STATUS_REGEX CODE_REGEX then curl args (method and path included):
# 4xx matching, JSON error with code and request id, no row written, no 5xx
hostile() {
  local name=$1 want=$2 code=$3; shift 3
  local before after got rid
  before=$(rows)
  STATUS=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' --max-time 30 -H 'Expect:' "$@")
  after=$(rows)
  N_TRIED=$((N_TRIED + 1))
  [[ $STATUS == 5* || $STATUS == 000 ]] && N_5XX=$((N_5XX + 1))
  got=$(jget error.code); rid=$(jget error.request_id)
  if [[ $STATUS -ge 400 ]]; then N_ROWS=$((N_ROWS + after - before)); fi
  if [[ $STATUS =~ ^($want)$ && $got =~ ^($code)$ && -n $rid && $rid != - && $before == "$after" ]]; then
    ok "hostile: $name -> $STATUS $got, request id $rid, nothing written"
  else
    nok "hostile: $name -> want $want $code, got $STATUS '$got' id '$rid', rows $before -> $after: $(head -c 300 "$T/body" | tr -d '\0')"
  fi
}
AH=(-H "Authorization: Bearer $KA")

# ======================= 1. work bombs ====================================
# 10 GiB of compressed zeros behind a 16x16 PNG (10 MB upload): a valid
# image, so 202, but cheap: before, 53 s of API CPU (10 s on a quiet core)
c0=$(api_cpu_ms)
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 120 -H 'Expect:' "${AH[@]}" \
         -F task=detect -F "image=@$T/bomb/zero-bomb.png;type=image/png" "$U/v1/jobs")
c1=$(api_cpu_ms); N_TRIED=$((N_TRIED + 1)); [[ $STATUS == 5* ]] && N_5XX=$((N_5XX + 1))
[[ $STATUS == 202 && $((c1 - c0)) -lt 1500 ]]
check $? "16x16 png + 10 GiB of compressed zeros (10 MB upload): 202 with $((c1 - c0)) ms of API CPU (< 1500; the multipart copy and CRC only)" "$STATUS $(head -c 200 "$T/body")"

# 36 Mpx of black in 105 KB: refused once decoding used the request's CPU
# budget (VKV_MAX_DECODE_CPU_MS 500), or accepted when a fast machine
# decodes it within the budget; either way bounded
c0=$(api_cpu_ms)
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 60 -H 'Expect:' "${AH[@]}" \
         -F task=detect -F "image=@$T/bomb/mpx36.png;type=image/png" "$U/v1/jobs")
c1=$(api_cpu_ms); N_TRIED=$((N_TRIED + 1)); [[ $STATUS == 5* ]] && N_5XX=$((N_5XX + 1))
[[ $STATUS == 202 || ($STATUS == 413 && $(jget error.code) == image_too_costly) ]] && ((c1 - c0 < 1200))
check $? "36 Mpx png in 105 KB: $STATUS with $((c1 - c0)) ms of API CPU (< 1200: budget 500 + margin)" "$(head -c 200 "$T/body")"

# a 19 MB JSON body of 10 M numbers: refused before jansson builds it
c0=$(api_cpu_ms)
hostile "19 MB json array of numbers" 413 json_too_large -X POST "$U/v1/jobs" "${AH[@]}" \
  -H 'Content-Type: application/json' --data-binary @"$T/bomb/array19m.json"
c1=$(api_cpu_ms)
[[ $((c1 - c0)) -lt 1000 ]]; check $? "the 19 MB json array cost $((c1 - c0)) ms of API CPU (< 1000; was 4.6 s)"

# ======================= tally ==========================================
CRASHES=0
for p in "${API_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || CRASHES=$((CRASHES + 1)); done
kill -0 "$NGINX_PID" 2>/dev/null || CRASHES=$((CRASHES + 1))
grep -l "AddressSanitizer\|runtime error" "$T"/api*.log >/dev/null 2>&1 && CRASHES=$((CRASHES + 1))
((CRASHES == 0)); check $? "no vkv-api or nginx process died ($CRASHES)"
((N_5XX == 0)); check $? "no hostile input got a 5xx ($N_5XX of $N_TRIED)"
((N_ROWS == 0)); check $? "rejected requests wrote no row ($N_ROWS)"
echo "# tally: hostile inputs $N_TRIED, 5xx $N_5XX, crashes $CRASHES, rows written by rejected requests $N_ROWS"
((fail == 0))
