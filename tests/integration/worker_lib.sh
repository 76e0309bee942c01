# tests/integration/worker_lib.sh: helpers of tests/suites/50-worker.sh and
# bench/worker.sh: a throw-away stack (PostgreSQL via pg_tmp.sh, vkv-api,
# nginx via nginx_tmp.sh), workers started and stopped by name, JSON
# helpers and bounded polling.  Source it; every wait is bounded.
#
#   wk_stack_start DIR      cluster + migrations + tenant/key + api + nginx
#                           (sets KEY, NGINX_URL; models from $WK_MODELS_DIR)
#   wk_worker_start NAME [vkv-worker args...]   (env passes through)
#   wk_worker_stop NAME [SIGNAL]                 waits for the exit, sets WK_RC
#   wk_post PATH FILE       POST a JSON file; sets HTTP and BODY (file)
#   wk_get PATH             GET; sets HTTP and BODY
#   wk_until SECONDS CMD... polls CMD every 0.1 s until it succeeds
#   wk_json FILE EXPR       python expression over j (the parsed file)
#   wk_stack_stop           stops workers, nginx, api, cluster

source tests/lib/pg_tmp.sh
source tests/lib/nginx_tmp.sh

BIN=${BIN:-build/bin}
declare -A WK_PID=()
WK_API_PID=

wk_json() {
  python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
r = eval(sys.argv[2])
if isinstance(r, bool): r = "1" if r else "0"
elif isinstance(r, (dict, list)): r = json.dumps(r, sort_keys=True)
print(r)' "$1" "$2"
}

wk_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while ((SECONDS < end)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

wk_stack_start() {
  WK_DIR=$1
  mkdir -p "$WK_DIR"
  pg_tmp_start || return 1
  pg_tmp_migrate >"$WK_DIR/migrate.log" 2>&1 || { cat "$WK_DIR/migrate.log"; return 1; }
  "$BIN/vkv-admin" tenant create wk >/dev/null || return 1
  KEY=$("$BIN/vkv-admin" key create wk 2>/dev/null) || return 1
  [[ -n $KEY ]] || return 1
  export VKV_MODELS_DIR=${WK_MODELS_DIR:-models}
  export VKV_API_SOCKET=$WK_DIR/api.sock
  export VKV_API_THREADS=${VKV_API_THREADS:-8}
  "$BIN/vkv-api" >"$WK_DIR/api.log" 2>&1 &
  WK_API_PID=$!
  wk_until 10 test -S "$VKV_API_SOCKET" || { echo "# vkv-api did not start"; tail "$WK_DIR/api.log"; return 1; }
  nginx_tmp_start "$WK_DIR/nginx" "$VKV_API_SOCKET" || return 1
}

wk_stack_stop() {
  local n
  for n in "${!WK_PID[@]}"; do
    kill -9 "${WK_PID[$n]}" 2>/dev/null
    wait "${WK_PID[$n]}" 2>/dev/null
  done
  WK_PID=()
  nginx_tmp_stop 2>/dev/null
  if [[ -n $WK_API_PID ]]; then
    kill "$WK_API_PID" 2>/dev/null
    wait "$WK_API_PID" 2>/dev/null
    WK_API_PID=
  fi
  pg_tmp_stop
}

wk_worker_start() {
  local name=$1; shift
  "$BIN/vkv-worker" --name "$name" "$@" >>"$WK_DIR/worker-$name.log" 2>&1 &
  WK_PID[$name]=$!
}

# stops a worker with SIGNAL (default TERM) and waits at most 30 s; WK_RC
wk_worker_stop() {
  local name=$1 sig=${2:-TERM} pid=${WK_PID[$1]:-}
  WK_RC=
  [[ -n $pid ]] || return 1
  kill -"$sig" "$pid" 2>/dev/null
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"; wait "$pid" 2>/dev/null; WK_RC=timeout
  else
    wait "$pid"; WK_RC=$?
  fi
  unset "WK_PID[$name]"
}

wk_post() {
  BODY=$WK_DIR/body.$BASHPID
  HTTP=$(curl -s -o "$BODY" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' ${WK_HEADERS:+-H "$WK_HEADERS"} \
    --data-binary @"$2" "$NGINX_URL$1")
}

wk_get() {
  BODY=$WK_DIR/body.$BASHPID
  HTTP=$(curl -s -o "$BODY" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$NGINX_URL$1")
}

# writes a job body: wk_job_body OUT TASK MODEL TIER IMAGE
wk_job_body() {
  local mime=image/jpeg
  [[ $5 == *.png ]] && mime=image/png
  { printf '{"task":"%s","model":"%s","tier":"%s","image_url":"data:%s;base64,' "$2" "$3" "$4" "$mime"
    base64 -w0 "$5"
    printf '"}'; } >"$1"
}

# writes an album body of N copies of IMAGE: wk_batch_body OUT TASK MODEL N IMAGE
wk_batch_body() {
  local mime=image/jpeg i b64
  [[ $5 == *.png ]] && mime=image/png
  b64=$(base64 -w0 "$5")
  { printf '{"task":"%s","model":"%s","images":[' "$2" "$3"
    for ((i = 0; i < $4; i++)); do
      ((i)) && printf ','
      printf '"data:%s;base64,%s"' "$mime" "$b64"
    done
    printf ']}'; } >"$1"
}

# enqueues a job body file; prints the job id (no JSON tool: a regex)
wk_enqueue() {
  wk_post /v1/jobs "$1"
  [[ $HTTP == 202 && $(<"$BODY") =~ \"id\"\ *:\ *([0-9]+) ]] ||
    { echo "# POST /v1/jobs -> $HTTP $(head -c 300 "$BODY")" >&2; return 1; }
  echo "${BASH_REMATCH[1]}"
}

# enqueues an album; prints its job ids, one per line
wk_enqueue_batch() {
  wk_post /v1/batches "$1"
  [[ $HTTP == 202 ]] || { echo "# POST /v1/batches -> $HTTP $(head -c 300 "$BODY")" >&2; return 1; }
  grep -o '"job_ids" *: *\[[0-9, ]*\]' "$BODY" | grep -o '[0-9]\+'
}

# job state of id (GET /v1/jobs/ID), by regex
wk_state() {
  wk_get "/v1/jobs/$1"
  [[ $HTTP == 200 && $(<"$BODY") =~ \"state\"\ *:\ *\"([a-z_]+)\" ]] && echo "${BASH_REMATCH[1]}"
}

# 0 when no job of the stack is queued or running: GET /v1/queue counts both
# in one statement (two list queries could straddle a requeue)
wk_idle() {
  wk_get /v1/queue || return 1
  [[ $HTTP == 200 && $("$BIN/api_jget" "$BODY" queued) == 0 &&
     $("$BIN/api_jget" "$BODY" running) == 0 ]]
}

# 0 when every id given is final
wk_all_final() {
  local id s
  for id in "$@"; do
    s=$(wk_state "$id")
    [[ $s == succeeded || $s == failed || $s == canceled || $s == expired ]] || return 1
  done
}

# writes the job JSON of ids LO..HI as one JSON list into OUT (one process)
wk_jobs() {
  python3 - "$NGINX_URL" "$KEY" "$1" "$2" "$3" <<'PY'
import http.client, json, sys, urllib.parse
url, key, lo, hi, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
jobs = []
for i in range(lo, hi + 1):
    c.request("GET", f"/v1/jobs/{i}", headers={"Authorization": "Bearer " + key})
    r = c.getresponse(); b = r.read()
    if r.status == 200:
        jobs.append(json.loads(b))
json.dump(jobs, open(out, "w"))
PY
}
