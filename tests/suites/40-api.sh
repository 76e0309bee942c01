#!/usr/bin/env bash
# 40-api: vkv-api through a real nginx (tests/lib/nginx_tmp.sh) and a real
# PostgreSQL (tests/lib/pg_tmp.sh), two vkv-api processes, loopback only.
#
#  1. a table of bad inputs: each must get its exact status and error code
#     AND write nothing (rows of jobs + job_history + batches + tenants
#     counted before and after);
#  2. vkv-api's own limits, bypassing nginx with a raw FastCGI client;
#  3. happy paths: enqueue (JSON, multipart), get, list + pages + filters,
#     idempotency, cancel, batches, queue, pause/resume, SSE framing,
#     ?wait=, health, metrics, models, gpus; per-key rate limiting;
#  4. PostgreSQL stopped: 503 + Retry-After; restarted: the API recovers.
# Every wait is bounded.  Prints "ok - ..." / "not ok - ..." lines.
set -uo pipefail
cd "${VKV_ROOT:-$(pwd)}"
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-$(mktemp -d)}/api
rm -rf "$T"; mkdir -p "$T"

pass=0; fail=0
ok()  { echo "ok - $*"; pass=$((pass + 1)); }
nok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { # check COND_STATUS MESSAGE [DETAIL]
  if [[ $1 == 0 ]]; then ok "$2"; else nok "$2${3:+ ($3)}"; fi
}

for b in vkv-api vkv-admin api_fcgi_call api_test_worker api_jget; do
  if [[ ! -x $BIN/$b ]]; then nok "binary $BIN/$b is built"; exit 1; fi
done

source tests/lib/pg_tmp.sh
source tests/lib/nginx_tmp.sh

API_PIDS=()
cleanup() {
  nginx_tmp_stop
  [[ -n ${NG2_PID:-} ]] && { kill -QUIT "$NG2_PID" 2>/dev/null; wait "$NG2_PID" 2>/dev/null; }
  local p
  for p in "${API_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${API_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [[ -n ${PSQL_PID:-} ]] && kill "$PSQL_PID" 2>/dev/null
  pg_tmp_stop
}
trap cleanup EXIT

pg_tmp_start || { nok "PostgreSQL starts"; exit 1; }
pg_tmp_migrate >"$T/migrate.log" 2>&1 || { nok "migrations apply"; cat "$T/migrate.log"; exit 1; }

# --- tenants and keys (vkv-admin prints a key once, on its last line) ---
"$BIN/vkv-admin" tenant create alice >/dev/null && "$BIN/vkv-admin" tenant create bob >/dev/null &&
  "$BIN/vkv-admin" tenant create ops >/dev/null
KA=$("$BIN/vkv-admin" key create alice | tail -1)
KB=$("$BIN/vkv-admin" key create bob | tail -1)
KADM=$("$BIN/vkv-admin" key create ops --admin | tail -1)
if [[ -z $KA || -z $KB || -z $KADM || $KA == "$KB" ]]; then
  nok "vkv-admin creates tenants and keys"; exit 1
fi
ok "vkv-admin creates tenants and keys"

# --- models: a fixed catalogue, independent of models/ ---
mkdir -p "$T/models"
echo '{"name":"centernet","task":"detect","format":"tfjs-graph","source":{"version":"3.0.4"}}' >"$T/models/centernet.json"
echo '{"name":"tagger","task":["classify","tag"],"format":"onnx","description":"test tagger","version":"2.0.1"}' >"$T/models/tagger.json"
for m in m-sse m-fail m-wait m-none m-timeout m-cancel m-bytes m-deadline; do
  echo "{\"name\":\"$m\",\"task\":\"detect\",\"format\":\"tfjs-graph\"}" >"$T/models/$m.json"
done
python3 tests/integration/api_images.py "$T/img"

# --- vkv-api x2 + nginx ---
export VKV_MODELS_DIR=$T/models VKV_API_THREADS=4 VKV_MAX_BODY_BYTES=1048576 \
       VKV_MAX_IMAGE_BYTES=200000 VKV_WAIT_TIMEOUT_MS=4000 VKV_LOG_LEVEL=info
for i in 1 2; do
  VKV_API_SOCKET=$T/api$i.sock "$BIN/vkv-api" >"$T/api$i.log" 2>&1 &
  API_PIDS+=($!)
done
for i in $(seq 1 50); do [[ -S $T/api1.sock && -S $T/api2.sock ]] && break; sleep 0.1; done
[[ -S $T/api1.sock && -S $T/api2.sock ]] || { nok "vkv-api listens"; tail "$T"/api*.log; exit 1; }
nginx_tmp_start "$T/nginx" "$T/api1.sock" "$T/api2.sock" || { nok "nginx starts"; exit 1; }
ok "vkv-api x2 and nginx start"
U=$NGINX_URL

# --- helpers ---
# req METHOD PATH [curl args...]: sets STATUS; body in $T/body, headers in $T/hdr
req() {
  local m=$1 p=$2; shift 2
  STATUS=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' --max-time 20 -H 'Expect:' \
           -X "$m" "$@" "$U$p")
}
# jget PATH: a field of the last body (dotted path, list index as number)
jget() { "$BIN/api_jget" "$T/body" "$1"; }
# jids: the ids of the jobs array of the last body, one per line
jids() { local i; for i in $(seq 0 999); do local v; v=$(jget "jobs.$i.id"); [[ -n $v ]] || break; echo "$v"; done; }
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
# one psql for all the counts (starting psql costs ~0.5 s on a loaded machine)
coproc PSQL { psql -XAtq 2>&1; }
rows() {
  echo "select (select count(*) from jobs) + (select count(*) from job_history)
          + (select count(*) from batches) + (select count(*) from tenants);" >&"${PSQL[1]}"
  local line; read -r -t 10 line <&"${PSQL[0]}"; echo "$line"
}
AJ=(-H "Authorization: Bearer $KA" -H 'Content-Type: application/json')
durl() { cat "$T/img/$1.durl"; }

# bad NAME STATUS CODE METHOD PATH [curl args...]
bad() {
  local name=$1 want=$2 code=$3; shift 3
  local before after got
  before=$(rows)
  req "$@"
  after=$(rows)
  got=$(jget error.code)
  if [[ $STATUS == "$want" && $got == "$code" && $before == "$after" ]]; then
    ok "bad input: $name -> $want $code, nothing written"
  else
    nok "bad input: $name -> want $want $code, got $STATUS $got, rows $before -> $after: $(head -c 300 "$T/body")"
  fi
}

OKJ="{\"task\":\"detect\",\"image_url\":\"$(durl ok.png)\"}"

# --- one real job of alice, whose id others must not reach ---
req POST /v1/jobs "${AJ[@]}" -d "$OKJ"
JA=$(jget id)
[[ $STATUS == 202 && $JA =~ ^[0-9]+$ ]]; check $? "POST /v1/jobs answers 202 with an id" "$STATUS $(cat "$T/body")"

# ===================== 1. the bad-input table ==========================
bad "no key" 401 missing_key POST /v1/jobs -H 'Content-Type: application/json' -d "$OKJ"
bad "empty X-Moondream-Auth" 401 empty_key POST /v1/jobs -H 'X-Moondream-Auth;' \
    -H 'Content-Type: application/json' -d "$OKJ"
bad "unknown key" 401 invalid_key POST /v1/jobs -H 'Authorization: Bearer vkv_nope' \
    -H 'Content-Type: application/json' -d "$OKJ"
bad "unknown Moondream key" 401 invalid_key GET /v1/jobs -H 'X-Moondream-Auth: not-a-key'
bad "Basic instead of Bearer" 401 invalid_auth_header GET /v1/jobs -H 'Authorization: Basic YTpi'
bad "revoked-looking key with spaces" 401 invalid_key GET /v1/jobs -H "Authorization: Bearer x$KA"
bad "bad json" 400 invalid_json POST /v1/jobs "${AJ[@]}" -d '{"task":'
bad "json array body" 400 body_not_object POST /v1/jobs "${AJ[@]}" -d '[1,2]'
bad "empty json body" 400 invalid_json POST /v1/jobs -H "Authorization: Bearer $KA" \
    -H 'Content-Type: application/json' -d ''
bad "duplicate json keys" 400 invalid_json POST /v1/jobs "${AJ[@]}" -d '{"task":"detect","task":"detect"}'
bad "text/plain body" 415 unsupported_media_type POST /v1/jobs -H "Authorization: Bearer $KA" \
    -H 'Content-Type: text/plain' -d "$OKJ"
bad "no content type" 415 unsupported_media_type POST /v1/jobs -H "Authorization: Bearer $KA" \
    -H 'Content-Type:' --data-binary "$OKJ"
bad "missing task" 400 missing_field POST /v1/jobs "${AJ[@]}" -d "{\"image_url\":\"$(durl ok.png)\"}"
bad "task is a number" 400 invalid_field POST /v1/jobs "${AJ[@]}" -d '{"task":7}'
bad "unknown task" 400 unknown_task POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"paint\",\"image_url\":\"$(durl ok.png)\"}"
bad "unknown model" 400 unknown_model POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"gpt\",\"image_url\":\"$(durl ok.png)\"}"
bad "model of another task" 400 unknown_model POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"tagger\",\"image_url\":\"$(durl ok.png)\"}"
bad "model is an object" 400 invalid_field POST /v1/jobs "${AJ[@]}" -d '{"task":"detect","model":{}}'
bad "tier 7" 400 invalid_tier POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"tier\":7,\"image_url\":\"$(durl ok.png)\"}"
bad "tier -1" 400 invalid_tier POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"tier\":-1,\"image_url\":\"$(durl ok.png)\"}"
bad "tier URGENT" 400 invalid_tier POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"tier\":\"URGENT\",\"image_url\":\"$(durl ok.png)\"}"
bad "tier 2.5" 400 invalid_tier POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"tier\":2.5,\"image_url\":\"$(durl ok.png)\"}"
bad "X-Priority bogus" 400 invalid_tier POST /v1/jobs "${AJ[@]}" -H 'X-Priority: soon' -d "$OKJ"
bad "tier and priority together" 400 conflicting_fields POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"tier\":1,\"priority\":1,\"image_url\":\"$(durl ok.png)\"}"
bad "caption: tier and priority together" 400 conflicting_fields POST /v1/caption "${AJ[@]}" -d "{\"tier\":\"PRELOAD\",\"priority\":0,\"image_url\":\"$(durl ok.png)\"}"
bad "caption: priority 9" 400 invalid_tier POST /v1/caption "${AJ[@]}" -d "{\"priority\":9,\"image_url\":\"$(durl ok.png)\"}"
bad "priority true" 400 invalid_tier POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"priority\":true,\"image_url\":\"$(durl ok.png)\"}"
bad "params is an array" 400 invalid_field POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"params\":[1],\"image_url\":\"$(durl ok.png)\"}"
bad "deadline_ms negative" 400 invalid_field POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"deadline_ms\":-5,\"image_url\":\"$(durl ok.png)\"}"
bad "deadline_ms a string" 400 invalid_field POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"deadline_ms\":\"soon\",\"image_url\":\"$(durl ok.png)\"}"
bad "unknown field" 400 unknown_field POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"colour\":1,\"image_url\":\"$(durl ok.png)\"}"
bad "image_url a number" 400 invalid_field POST /v1/jobs "${AJ[@]}" -d '{"task":"detect","image_url":5}'
bad "no image" 400 missing_field POST /v1/jobs "${AJ[@]}" -d '{"task":"detect"}'
bad "data url without comma" 400 invalid_data_url POST /v1/jobs "${AJ[@]}" -d '{"task":"detect","image_url":"data:image/png;base64"}'
bad "bad base64" 400 invalid_base64 POST /v1/jobs "${AJ[@]}" -d '{"task":"detect","image_url":"data:image/png;base64,@@@@"}'
bad "data url of text/plain" 415 unsupported_image_type POST /v1/jobs "${AJ[@]}" -d '{"task":"detect","image_url":"data:text/plain;base64,aGVsbG8="}'
bad "http url instead of data url" 400 invalid_base64 POST /v1/jobs "${AJ[@]}" -d '{"task":"detect","image_url":"http://example.com/a.png"}'
bad "truncated png" 400 invalid_image POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"image_url\":\"$(durl trunc.png)\"}"
bad "corrupt png" 400 invalid_image POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"image_url\":\"$(durl corrupt.png)\"}"
bad "gif" 415 unsupported_image_type POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"image_url\":\"$(durl tiny.gif)\"}"
bad "random bytes as image" 415 unsupported_image_type POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"image_url\":\"$(durl notimage.bin)\"}"
bad "png declaring 60000x60000" 413 image_too_large POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"image_url\":\"$(durl huge.png)\"}"
{ printf '{"task":"detect","image_url":"'; durl big.png; printf '"}'; } >"$T/bigimg.json"
bad "image over VKV_MAX_IMAGE_BYTES" 413 image_too_large POST /v1/jobs "${AJ[@]}" --data-binary @"$T/bigimg.json"
head -c 1200000 /dev/zero | tr '\0' 'a' >"$T/huge.body"
bad "body over client_max_body_size (nginx)" 413 body_too_large POST /v1/jobs "${AJ[@]}" --data-binary @"$T/huge.body"
bad "negative Content-Length (nginx)" 400 bad_request POST /v1/jobs "${AJ[@]}" -H 'Content-Length: -1' -d ''
bad "Idempotency-Key of 300 bytes" 400 invalid_idempotency_key POST /v1/jobs "${AJ[@]}" \
    -H "Idempotency-Key: $(head -c 300 /dev/zero | tr '\0' k)" -d "$OKJ"
bad "bob reads alice's job" 404 not_found GET "/v1/jobs/$JA" -H "Authorization: Bearer $KB"
bad "bob cancels alice's job" 404 not_found DELETE "/v1/jobs/$JA" -H "Authorization: Bearer $KB"
bad "bob streams alice's job" 404 not_found GET "/v1/jobs/$JA/events" -H "Authorization: Bearer $KB"
bad "job id not a number" 404 not_found GET /v1/jobs/abc -H "Authorization: Bearer $KA"
bad "job id that does not exist" 404 not_found GET /v1/jobs/999999999 -H "Authorization: Bearer $KA"
bad "PUT /v1/jobs" 405 method_not_allowed PUT /v1/jobs "${AJ[@]}" -d "$OKJ"
bad "POST /v1/health" 405 method_not_allowed POST /v1/health "${AJ[@]}" -d '{}'
bad "unknown route" 404 not_found GET /v1/nothing-here -H "Authorization: Bearer $KA"
bad "pause with a tenant key" 403 admin_required POST /v1/admin/tiers/0/pause -H "Authorization: Bearer $KA"
bad "pause tier 9" 400 invalid_tier POST /v1/admin/tiers/9/pause -H "Authorization: Bearer $KADM"
bad "list with state=bogus" 400 invalid_query GET '/v1/jobs?state=bogus' -H "Authorization: Bearer $KA"
bad "list with limit=0" 400 invalid_query GET '/v1/jobs?limit=0' -H "Authorization: Bearer $KA"
bad "list with tier=9" 400 invalid_tier GET '/v1/jobs?tier=9' -H "Authorization: Bearer $KA"
bad "wait=0" 400 invalid_query POST '/v1/jobs?wait=0' "${AJ[@]}" -d "$OKJ"
bad "multipart without boundary" 400 invalid_multipart POST /v1/jobs -H "Authorization: Bearer $KA" \
    -H 'Content-Type: multipart/form-data' --data-binary 'x'
bad "multipart with a corrupt image" 400 invalid_image POST /v1/jobs -H "Authorization: Bearer $KA" \
    -F task=detect -F "image=@$T/img/corrupt.png;type=image/png"
bad "multipart with a non-json params" 400 invalid_json POST /v1/jobs -H "Authorization: Bearer $KA" \
    -F task=detect -F 'params={oops' -F "image=@$T/img/ok.png;type=image/png"
bad "batch without images" 400 missing_field POST /v1/batches "${AJ[@]}" -d '{"task":"detect","images":[]}'
bad "batch images not an array" 400 invalid_field POST /v1/batches "${AJ[@]}" -d '{"task":"detect","images":"x"}'
bad "batch with one corrupt image among good ones" 400 invalid_image POST /v1/batches "${AJ[@]}" \
    -d "{\"task\":\"detect\",\"images\":[\"$(durl ok.png)\",\"$(durl trunc.png)\",\"$(durl ok2.png)\"]}"
bad "batch of an unknown task" 400 unknown_task POST /v1/batches "${AJ[@]}" -d "{\"task\":\"paint\",\"images\":[\"$(durl ok.png)\"]}"

# ============ 2. vkv-api's own limits, without nginx ====================
# fcgi_bad NAME STATUS CODE BODYFILE PARAMS...
fcgi_bad() {
  local name=$1 want=$2 code=$3 bodyf=$4; shift 4
  local before after out st got
  before=$(rows)
  out=$("$BIN/api_fcgi_call" "$T/api1.sock" "$bodyf" "$@")
  after=$(rows)
  st=$(printf '%s' "$out" | sed -n 's/^Status: \([0-9]*\).*/\1/p' | head -1)
  printf '%s' "$out" | sed '1,/^\r\{0,1\}$/d' >"$T/body"
  got=$(jget error.code)
  if [[ $st == "$want" && $got == "$code" && $before == "$after" ]]; then
    ok "vkv-api alone: $name -> $want $code, nothing written"
  else
    nok "vkv-api alone: $name -> want $want $code, got '$st' '$got', rows $before -> $after: $(printf '%s' "$out" | head -c 300)"
  fi
}
printf '%s' "$OKJ" >"$T/okj.json"
P=(REQUEST_METHOD=POST REQUEST_URI=/v1/jobs CONTENT_TYPE=application/json "HTTP_AUTHORIZATION=Bearer $KA")
fcgi_bad "CONTENT_LENGTH=-1" 400 invalid_content_length "$T/okj.json" "${P[@]}" CONTENT_LENGTH=-1
fcgi_bad "CONTENT_LENGTH=12abc" 400 invalid_content_length "$T/okj.json" "${P[@]}" CONTENT_LENGTH=12abc
fcgi_bad "CONTENT_LENGTH over the limit" 413 body_too_large "$T/okj.json" "${P[@]}" CONTENT_LENGTH=99999999999
fcgi_bad "CONTENT_LENGTH overflowing 64 bits" 400 invalid_content_length "$T/okj.json" "${P[@]}" \
    CONTENT_LENGTH=999999999999999999999999
fcgi_bad "CONTENT_LENGTH longer than the body" 400 body_incomplete "$T/okj.json" "${P[@]}" CONTENT_LENGTH=5000
fcgi_bad "no CONTENT_LENGTH (empty body)" 400 invalid_json "$T/okj.json" "${P[@]}"
fcgi_bad "no REQUEST_METHOD" 400 invalid_request "$T/okj.json" REQUEST_URI=/v1/jobs CONTENT_LENGTH=2
fcgi_bad "percent-encoded NUL in the path" 400 invalid_request - REQUEST_METHOD=GET REQUEST_URI=/v1/jobs/%00 \
    "HTTP_AUTHORIZATION=Bearer $KA"
n=$(wc -c <"$T/okj.json")
out=$("$BIN/api_fcgi_call" "$T/api1.sock" "$T/okj.json" "${P[@]}" CONTENT_LENGTH="$n")
[[ $(printf '%s' "$out" | head -1) == *"Status: 202"* ]]; check $? "vkv-api alone: a correct CONTENT_LENGTH is accepted (202)" "$(printf '%s' "$out" | head -c 200)"

# ===================== 3. happy paths ===================================
# no worker runs any catalogue model here: degraded (it said ok before);
# without a key no internals, with one the workers and the models
req GET /v1/health
[[ $STATUS == 200 && $(jget status) == degraded && $(jget db) == up && -n $(jget reason) ]]
check $? "health without workers: 200 degraded, db up, a reason" "$STATUS $(cat "$T/body")"
! grep -q '"workers' "$T/body"; check $? "public health shows no workers, pids or devices" "$(cat "$T/body")"
req GET /v1/health -H "Authorization: Bearer $KA"
[[ $STATUS == 200 && $(jget workers_up) == 0 && $(jget models_unservable.0) != "" ]] && grep -q '"centernet"' "$T/body"
check $? "health with a key: workers_up and the unservable models (centernet among them)" "$STATUS $(head -c 300 "$T/body")"
req GET /v1/health -H "Authorization: Bearer vkv_nope"
[[ $STATUS == 401 ]]; check $? "health with a bad key: 401 (not the public view)" "$STATUS"

req GET "/v1/jobs/$JA" -H "Authorization: Bearer $KA"
[[ $STATUS == 200 && $(jget id) == "$JA" && $(jget state) == queued && $(jget task) == detect && $(jget model) == centernet ]]
check $? "GET /v1/jobs/{id}: alice sees her queued job with the default model" "$(head -c 300 "$T/body")"

req GET "/v1/jobs/$JA" -H "X-Moondream-Auth: $KA"
[[ $STATUS == 200 && $(jget id) == "$JA" ]]; check $? "X-Moondream-Auth works like Bearer"

r0=$(rows)
req POST /v1/jobs "${AJ[@]}" -H 'Idempotency-Key: album-7-photo-1' -d "$OKJ"
I1=$(jget id); s1=$STATUS
req POST /v1/jobs "${AJ[@]}" -H 'Idempotency-Key: album-7-photo-1' -d "$OKJ"
I2=$(jget id); s2=$STATUS; rep=$(jget idempotent_replay)
[[ $s1 == 202 && $s2 == 200 && -n $I1 && $I1 == "$I2" && $rep == true && $(rows) == $((r0 + 1)) ]]
check $? "Idempotency-Key: the same key gives the same job, written once" "$s1 $s2 $I1 $I2 $rep"
req POST /v1/jobs -H "Authorization: Bearer $KB" -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: album-7-photo-1' -d "$OKJ"
[[ $STATUS == 202 && $(jget id) != "$I1" ]]; check $? "Idempotency-Key: another tenant's same key is another job"

req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"tier\":\"IMMEDIATE\",\"params\":{\"k\":1},\"image_url\":\"$(durl ok2.png)\"}"
JI=$(jget id)
[[ $STATUS == 202 && $(jget tier) == 3 && $(jget tier_name) == IMMEDIATE ]]; check $? "tier by name: IMMEDIATE is 3"
req POST /v1/jobs "${AJ[@]}" -H 'X-Priority: 0' -d "$OKJ"
[[ $STATUS == 202 && $(jget tier) == 0 ]]; check $? "X-Priority: 0 gives BACKGROUND"
req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"tier\":null,\"image_url\":\"$(durl ok.png)\"}"
[[ $STATUS == 202 && $(jget tier) == 2 ]]; check $? "tier null is the route's default (INTERACTIVE for /v1/jobs)" "$STATUS $(head -c 200 "$T/body")"
req POST /v1/jobs "${AJ[@]}" -H 'X-Priority: 0' -d "{\"task\":\"detect\",\"priority\":\"preload\",\"image_url\":\"$(durl ok.png)\"}"
[[ $STATUS == 202 && $(jget tier) == 1 ]]; check $? "a body priority wins over X-Priority" "$STATUS $(head -c 200 "$T/body")"
req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"classify\",\"model\":\"tagger\",\"tier\":1,\"image_url\":\"$(durl ok.png)\"}"
[[ $STATUS == 202 && $(jget model) == tagger && $(jget tier) == 1 ]]; check $? "explicit model and numeric tier"
req POST /v1/jobs -H "Authorization: Bearer $KA" -F task=detect -F tier=PRELOAD -F 'params={"a":1}' \
    -F "image=@$T/img/ok.png;type=image/png"
JM=$(jget id)
[[ $STATUS == 202 && $(jget tier) == 1 && -n $JM ]]; check $? "multipart/form-data upload: 202" "$STATUS $(head -c 200 "$T/body")"
req GET "/v1/jobs/$JM" -H "Authorization: Bearer $KA"
[[ $(jget params.a) == 1 ]]; check $? "multipart params are stored as JSON"

req GET '/v1/jobs?tier=3' -H "Authorization: Bearer $KA"
[[ $STATUS == 200 && $(jget jobs.0.id) == "$JI" && -z $(jget jobs.1.id) ]]; check $? "list filtered by tier" "$(head -c 300 "$T/body")"
req GET '/v1/jobs?limit=2' -H "Authorization: Bearer $KA"
p1a=$(jget jobs.0.id); p1b=$(jget jobs.1.id); cur=$(jget next_cursor)
req GET "/v1/jobs?limit=2&cursor=$cur" -H "Authorization: Bearer $KA"
p2a=$(jget jobs.0.id)
[[ -n $cur && -n $p1b && -n $p2a && $p2a -lt $p1b && $p1a -gt $p1b ]]; check $? "list pages: newest first, cursor continues" "$p1a $p1b $cur $p2a"
req GET '/v1/jobs?limit=500' -H "Authorization: Bearer $KB"
[[ $STATUS == 200 && -n $(jget jobs.0.id) ]] && ! jids | grep -qx "$JA"
check $? "bob's list does not show alice's jobs"

req DELETE "/v1/jobs/$JI" -H "Authorization: Bearer $KA"
[[ $STATUS == 200 && $(jget state) == canceled ]]; check $? "DELETE a queued job: canceled" "$STATUS $(cat "$T/body")"
req DELETE "/v1/jobs/$JI" -H "Authorization: Bearer $KA"
[[ $STATUS == 409 && $(jget error.code) == job_final ]]; check $? "DELETE again: 409 job_final"
req GET "/v1/jobs/$JI" -H "Authorization: Bearer $KA"
[[ $(jget state) == canceled ]]; check $? "a canceled job reads canceled"
req GET "/v1/jobs/$JA" -H "Authorization: Bearer $KA"
[[ $(jget state) == queued ]]; check $? "bob's cancel attempt left alice's job queued"

req POST /v1/batches "${AJ[@]}" -d "{\"task\":\"detect\",\"label\":\"holiday\",\"images\":[\"$(durl ok.png)\",{\"image_url\":\"$(durl ok2.png)\",\"params\":{\"n\":2}},\"$(durl ok.png)\"]}"
BID=$(jget id)
[[ $STATUS == 202 && $(jget total) == 3 && $(jget tier_name) == BACKGROUND && -n $(jget job_ids.2) ]]
check $? "POST /v1/batches: 3 jobs at BACKGROUND" "$STATUS $(head -c 300 "$T/body")"
# the group enqueue writes the three in one statement: ids in the images'
# order, each job its own params and input, a thumbnail each, fair keys a
# quantum apart (as three enqueues in a row), all in the batch
J0=$(jget job_ids.0) J1=$(jget job_ids.1) J2=$(jget job_ids.2)
grp=$(psql -XAtq -F' ' -c "SELECT string_agg(coalesce(params->>'n', '-'), ',' ORDER BY id),
         string_agg(md5(input), ',' ORDER BY id),
         count(DISTINCT t.job_id), count(*) FILTER (WHERE batch_id = $BID),
         bool_and(fair_key - lag_fk = (SELECT fair_quantum_ms FROM queue_settings) OR lag_fk IS NULL)
    FROM (SELECT j.*, lag(fair_key) OVER (ORDER BY id) AS lag_fk FROM jobs j
           WHERE id IN ($J0, $J1, $J2)) j LEFT JOIN job_thumbs t ON t.job_id = j.id")
read -r gparams ginputs gthumbs gbatch gfair <<<"$grp"
i0=$(python3 -c 'import hashlib,base64,sys; print(hashlib.md5(open(sys.argv[1],"rb").read()).hexdigest())' "$T/img/ok.png")
i1=$(python3 -c 'import hashlib,base64,sys; print(hashlib.md5(open(sys.argv[1],"rb").read()).hexdigest())' "$T/img/ok2.png")
((J0 < J1 && J1 < J2)) && [[ $gparams == "-,2,-" && $ginputs == "$i0,$i1,$i0" && $gthumbs == 3 && $gbatch == 3 && $gfair == t ]]
check $? "group enqueue: ids in order, params -,2,- ($gparams), inputs in order, $gthumbs thumbnails, $gbatch in the batch, fair keys a quantum apart ($gfair)" "$grp"
req GET "/v1/batches/$BID" -H "Authorization: Bearer $KA"
[[ $STATUS == 200 && $(jget total) == 3 && $(jget counts.queued) == 3 ]]; check $? "GET /v1/batches/{id}: progress counts" "$(head -c 300 "$T/body")"
req GET "/v1/batches/$BID" -H "Authorization: Bearer $KB"
[[ $STATUS == 404 ]]; check $? "another tenant's batch is 404"
req GET "/v1/jobs?batch_id=$BID" -H "Authorization: Bearer $KA"
[[ -n $(jget jobs.2.id) && -z $(jget jobs.3.id) ]]; check $? "list by batch_id"
req POST /v1/batches -H "Authorization: Bearer $KA" -F task=detect -F "images=@$T/img/ok.png;type=image/png" \
    -F "images=@$T/img/ok2.png;type=image/png"
[[ $STATUS == 202 && $(jget total) == 2 ]]; check $? "multipart batch of 2 files" "$STATUS $(head -c 200 "$T/body")"

req GET /v1/queue -H "Authorization: Bearer $KA"
[[ $STATUS == 200 && -n $(jget tiers.3.name) ]]; check $? "GET /v1/queue: four tiers" "$(head -c 300 "$T/body")"
req POST /v1/admin/tiers/BACKGROUND/pause -H "Authorization: Bearer $KADM"
[[ $STATUS == 200 && $(jget paused) == true && $(jget tier) == 0 ]]; check $? "admin pauses BACKGROUND"
req GET /v1/queue -H "Authorization: Bearer $KA"
[[ $(jget paused) == "[0]" ]]; check $? "the queue shows tier 0 paused" "$(head -c 300 "$T/body")"
req POST /v1/admin/tiers/0/resume -H "Authorization: Bearer $KADM"
[[ $STATUS == 200 && $(jget paused) == false ]]; check $? "admin resumes tier 0"
req GET /v1/queue -H "Authorization: Bearer $KA"
[[ $(jget paused) == "[]" ]]; check $? "no tier paused after resume"

req GET /metrics
[[ $STATUS == 200 && $(hdr Content-Type) == text/plain* ]] && grep -q '^vkv_queue_depth{' "$T/body" &&
  grep -Eq '^vkv_jobs(_total)?\{state="succeeded"\} [0-9]' "$T/body"
check $? "GET /metrics: Prometheus text with queue depth and jobs by state"
req GET /v1/models -H "Authorization: Bearer $KA"
[[ $STATUS == 200 ]] && grep -q '"centernet"' "$T/body"; check $? "GET /v1/models lists the manifests"
req GET /v1/gpus -H "Authorization: Bearer $KA"
[[ $STATUS == 200 && $(jget gpus) == \[* ]]; check $? "GET /v1/gpus answers the worker registry"

# --- SSE: queued -> running -> done, and failed ---
req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"m-sse\",\"image_url\":\"$(durl ok.png)\"}"
JS=$(jget id)
curl -s -N -D "$T/sse.hdr" --max-time 12 -H "Authorization: Bearer $KA" "$U/v1/jobs/$JS/events" >"$T/sse.out" &
CURL=$!
sleep 0.5
"$BIN/api_test_worker" run m-sse 1500 '{"objects":[{"label":"cat"}]}' >"$T/worker.out" 2>&1
wait $CURL
ev=$(grep '^event: ' "$T/sse.out" | cut -d' ' -f2 | tr '\n' ' ')
[[ $ev == "queued running done " ]]; check $? "SSE: events queued, running, done in order" "$ev"
awk '/^event: /{getline d; if (d !~ /^data: \{/) bad=1} END{exit bad}' "$T/sse.out" &&
  [[ $(grep -c '^$' "$T/sse.out") -ge 3 ]]
check $? "SSE: each event is 'event:' + 'data: {json}' + blank line"
grep -qi '^content-type: text/event-stream' "$T/sse.hdr"; check $? "SSE: content type text/event-stream"
grep '^data: ' "$T/sse.out" | tail -1 | grep -q '"label":"cat"'; check $? "SSE: the done event carries the result"
curl -s -N --max-time 5 -H "Authorization: Bearer $KA" "$U/v1/jobs/$JS/events" >"$T/sse2.out"
[[ $(grep '^event: ' "$T/sse2.out" | tr '\n' ' ') == "event: done " ]]; check $? "SSE on a finished job: one done event, then the stream ends"

req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"m-fail\",\"image_url\":\"$(durl ok.png)\"}"
JF=$(jget id)
curl -s -N --max-time 12 -H "Authorization: Bearer $KA" "$U/v1/jobs/$JF/events" >"$T/sse3.out" &
CURL=$!
sleep 0.3
"$BIN/api_test_worker" fail m-fail "model exploded" >/dev/null 2>&1
wait $CURL
grep -q '^event: failed' "$T/sse3.out" && grep -q 'model exploded' "$T/sse3.out"
check $? "SSE: a failed job ends with a failed event carrying the error"

req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"m-timeout\",\"image_url\":\"$(durl ok.png)\"}"
JT=$(jget id)
t0=$(date +%s%N)
curl -s -N --max-time 15 -H "Authorization: Bearer $KA" "$U/v1/jobs/$JT/events" >"$T/sse4.out"
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q '^event: timeout' "$T/sse4.out" && ((dt >= 3500 && dt < 9000))
check $? "SSE: a stream is bounded by VKV_WAIT_TIMEOUT_MS (ends with a timeout event)" "${dt} ms"

# --- synchronous form ---
( sleep 0.3; "$BIN/api_test_worker" run m-wait 200 '{"label":"dog"}' >/dev/null 2>&1 ) &
WK=$!
req POST '/v1/jobs?wait=4000' "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"m-wait\",\"image_url\":\"$(durl ok.png)\"}"
wait $WK
[[ $STATUS == 200 && $(jget state) == succeeded && $(jget result.label) == dog ]]
check $? "POST /v1/jobs?wait=: answers with the finished job" "$STATUS $(head -c 300 "$T/body")"
req POST '/v1/jobs?wait=600' "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"m-none\",\"image_url\":\"$(durl ok.png)\"}"
[[ $STATUS == 504 && $(jget error.code) == timeout ]]; check $? "?wait= times out with 504 timeout"
n=$(psql -XAtqc "select count(*) from job_history where model = 'm-none' and state = 'canceled'")
[[ $n == 1 ]]; check $? "a timed-out synchronous call cancels its job" "$n"

# --- concurrency: more clients than threads (2 x 4) and cached connections ---
r0=$(rows)
seq 1 24 | xargs -P 12 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 \
  -H "Authorization: Bearer $KA" -H 'Content-Type: application/json' -H 'Expect:' \
  --data-binary @"$T/okj.json" "$U/v1/jobs" >"$T/par.out"
[[ $(grep -c '^202$' "$T/par.out") == 24 && $(rows) == $((r0 + 24)) ]]
check $? "24 concurrent enqueues over 12 connections: all 202, 24 rows" "$(sort "$T/par.out" | uniq -c | tr '\n' ' ')"

# --- cancel of a running job, binary results, deadlines ---
req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"m-cancel\",\"image_url\":\"$(durl ok.png)\"}"
JC=$(jget id)
"$BIN/api_test_worker" run m-cancel 2500 '{"late":true}' >"$T/wk-cancel.out" 2>&1 &
WK=$!
st=""
for i in $(seq 1 40); do
  req GET "/v1/jobs/$JC" -H "Authorization: Bearer $KA"; st=$(jget state)
  [[ $st == running ]] && break
  sleep 0.1
done
req DELETE "/v1/jobs/$JC" -H "Authorization: Bearer $KA"
[[ $st == running && $STATUS == 200 && $(jget state) == cancel_requested ]]
check $? "DELETE a running job: cancel_requested (the worker is told)" "$st $STATUS $(cat "$T/body")"
wait $WK
req GET "/v1/jobs/$JC" -H "Authorization: Bearer $KA"
[[ $(jget cancel_requested) == true || $(jget state) == canceled ]]; check $? "the running job carries the cancel request" "$(head -c 300 "$T/body")"

req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"m-bytes\",\"image_url\":\"$(durl ok.png)\"}"
JBY=$(jget id)
"$BIN/api_test_worker" bytes m-bytes image/x-test 'binary-result-42' >/dev/null 2>&1
req GET "/v1/jobs/$JBY/result" -H "Authorization: Bearer $KA"
[[ $STATUS == 200 && $(hdr Content-Type) == image/x-test && $(cat "$T/body") == binary-result-42 ]]
check $? "GET /v1/jobs/{id}/result: the binary result with its content type" "$STATUS $(hdr Content-Type)"
req GET "/v1/jobs/$JBY/result" -H "Authorization: Bearer $KB"
[[ $STATUS == 404 ]]; check $? "another tenant's binary result is 404"

req POST /v1/jobs "${AJ[@]}" -d "{\"task\":\"detect\",\"model\":\"m-deadline\",\"deadline_ms\":200,\"image_url\":\"$(durl ok.png)\"}"
JD=$(jget id)
sleep 0.5
"$BIN/api_test_worker" maintain >/dev/null 2>&1
req GET "/v1/jobs/$JD" -H "Authorization: Bearer $KA"
[[ $(jget state) == expired ]]; check $? "deadline_ms: a job not started in time ends expired" "$(jget state)"

# --- rate limit per key (a second nginx with 1 r/min, burst 1) ---
mkdir -p "$T/nginx-rl"
NG1_PID=$NGINX_PID NG1_URL=$U
NGINX_PORT= NGINX_RATE=1r/m VKV_RATE_BURST=1 nginx_tmp_start "$T/nginx-rl" "$T/api1.sock"
NG2_PID=$NGINX_PID; U2=$NGINX_URL; NGINX_PID=$NG1_PID; U=$NG1_URL
codes=""
for i in $(seq 1 10); do
  c=$(curl -s -o "$T/rl.body" -D "$T/rl.hdr" -w '%{http_code}' -H "Authorization: Bearer $KA" "$U2/v1/queue")
  codes+="$c "
  [[ $c == 429 ]] && break
done
grep -qi '^retry-after: 1' "$T/rl.hdr" && grep -q '"rate_limited"' "$T/rl.body" && [[ $codes == "200 "*"429 " ]]
check $? "per-key rate limit: 429 rate_limited with Retry-After" "$codes"
c2=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KB" "$U2/v1/queue")
[[ $c2 == 200 ]]; check $? "per-key rate limit: another key is not limited" "$c2"
kill -QUIT "$NG2_PID" 2>/dev/null; wait "$NG2_PID" 2>/dev/null; NG2_PID=

# Moondream Station drop-in: /health, /v1/models fields, /v1/stats
source tests/integration/api_station.sh

# ===================== 4. PostgreSQL restart ============================
runuser -u postgres -- "$PG_TMP_BINDIR/pg_ctl" -D "$PG_TMP_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1
req GET /v1/health
[[ $STATUS == 503 && $(hdr Retry-After) == 1 && $(jget db) == down ]]; check $? "PostgreSQL down: health 503 + Retry-After" "$STATUS $(cat "$T/body")"
req POST /v1/jobs "${AJ[@]}" -d "$OKJ"
[[ $STATUS == 503 && -n $(hdr Retry-After) && $(jget error.code) == db_unavailable ]]
check $? "PostgreSQL down: POST /v1/jobs 503 db_unavailable + Retry-After" "$STATUS $(cat "$T/body")"
req GET "/v1/jobs/$JA" -H "Authorization: Bearer $KA"
[[ $STATUS == 503 ]]; check $? "PostgreSQL down: GET 503" "$STATUS"
pg_tmp__pg_ctl_start || nok "PostgreSQL restarts"
healthy=0
for i in $(seq 1 40); do
  req GET /v1/health
  [[ $STATUS == 200 ]] && { healthy=1; break; }
  sleep 0.25
done
((healthy)); check $? "PostgreSQL back: health 200 again"
# every thread of both processes reconnects: a streak of 16 successes
streak=0
for i in $(seq 1 60); do
  req POST /v1/jobs "${AJ[@]}" -d "$OKJ"
  if [[ $STATUS == 202 ]]; then streak=$((streak + 1)); else streak=0; fi
  ((streak >= 16)) && break
done
((streak >= 16)); check $? "PostgreSQL back: enqueue works on every thread (16 in a row)" "streak $streak after $i"

grep -q 'level=error' "$T/api1.log" "$T/api2.log" && nok "no error lines in the vkv-api logs: $(grep -h 'level=error' "$T"/api*.log | head -3)" || ok "no error lines in the vkv-api logs"
echo "# $pass passed, $fail failed"
((fail == 0))
