#!/usr/bin/env bash
# make run, end to end: scripts/run.sh starts PostgreSQL, vkv-api, the
# workers and nginx; GET /v1/health answers through nginx; SIGINT (Ctrl-C)
# leaves no process behind; a second run keeps the data (a queued job
# survives).  Workers are left out (--no-workers) so the job stays queued.
set -uo pipefail
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
source tests/lib/nginx_tmp.sh   # nginx_tmp_free_port
free_port() { nginx_tmp_free_port; }

dir=$VKV_TEST_TMP/run
mkdir -p "$dir" && chmod 755 "$dir"
export VKV_VAR_DIR=$dir/var VKV_HTTP_PORT=$(free_port) VKV_PG_PORT=$(free_port)
export VKV_PG_HOST=$dir/var/run VKV_API_PROCESSES=2
url=http://127.0.0.1:$VKV_HTTP_PORT

start_run() { # $1 log file [$2 run.sh option, default --no-workers]; sets
  # RUN_PID; waits (bounded) for the banner.  A shell's background job
  # ignores SIGINT: start run.sh in its own session with SIGINT restored, as
  # a terminal has it
  python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp("bash", ["bash", "scripts/run.sh"] + sys.argv[1:])' ${2---no-workers} >"$1" 2>&1 &
  RUN_PID=$!
  for _ in $(seq 1 300); do
    grep -q 'vkvision is up' "$1" && return 0
    kill -0 $RUN_PID 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
procs_of_run() { # every process whose command line names our var dir or
  # sockets, and every process left in run.sh's session (the orphan
  # `sleep 3600` of the idle loop named neither)
  { pgrep -f -- "$VKV_VAR_DIR"; [[ -n ${RUN_PID:-} ]] && pgrep -s "$RUN_PID"; } | sort -u | tr '\n' ' '
}
procs_left() { # procs_of_run once the stopped run's children have had up
  # to 5 s to finish exiting (one was seen still exiting right after run.sh
  # ended); an orphan (the old `sleep 3600`) is still there after it
  local l
  for _ in $(seq 1 50); do l=$(procs_of_run); [[ -z $l ]] && break; sleep 0.1; done
  echo "$l"
}
stop_run() { # SIGINT to the whole group, as a terminal's Ctrl-C does
  kill -INT -- -$RUN_PID 2>/dev/null
  for _ in $(seq 1 200); do kill -0 $RUN_PID 2>/dev/null || break; sleep 0.1; done
  ! kill -0 $RUN_PID 2>/dev/null
}

t=$(date +%s.%N)
check "first make run comes up (cluster created, migrated, banner printed)" start_run "$dir/run1.log"
echo "# first start took $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
key=$(head -1 "$VKV_VAR_DIR/default-tenant.key" 2>/dev/null)
check "the banner prints the API key" grep -q "API key.*$key" "$dir/run1.log"
code=$(curl -s -o "$dir/health.json" -w '%{http_code}' "$url/v1/health")
check "GET /v1/health through nginx answers 200 ($code)" test "$code" = 200
check "health reports PostgreSQL up" grep -q '"db" *: *"up"' "$dir/health.json"
check "the banner prints the dashboard's URL" grep -q "dashboard: $url/dashboard/" "$dir/run1.log"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/dashboard/")
check "the dashboard's page is served ($code)" test "$code" = 200
img=var/testdata/images/grace_hopper.jpg
body=$dir/job.json
printf '{"task":"classify","model":"nsfw-mobilenet-v2","tier":"BACKGROUND","image_url":"data:image/jpeg;base64,%s"}' \
  "$(base64 -w0 "$img")" >"$body"
code=$(curl -s -o "$dir/enq.json" -w '%{http_code}' -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' --data-binary @"$body" "$url/v1/jobs")
check "a job is enqueued through nginx (202, got $code)" test "$code" = 202
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/enq.json" 2>/dev/null)
check "Ctrl-C stops make run" stop_run
left=$(procs_left)
check "no process is left behind after Ctrl-C (left: ${left:-none})" test -z "$left"
check "nginx is gone from the port" bash -c "! curl -s -m 2 $url/v1/health >/dev/null"

t=$(date +%s.%N)
check "second make run comes up on the same data" start_run "$dir/run2.log"
echo "# second start took $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
check "the second run does not create a new cluster" bash -c "! grep -q 'creating the PostgreSQL cluster' $dir/run2.log"
code=$(curl -s -o "$dir/job.json" -w '%{http_code}' -H "Authorization: Bearer $key" "$url/v1/jobs/${id:-0}")
check "the queued job survived the restart (GET 200, got $code)" test "$code" = 200
check "it is still queued" grep -q '"state" *: *"queued"' "$dir/job.json"
# no trust (issue 9): the socket admits the operator by peer as postgres and
# the service role, anyone else only with a SCRAM password; the README's
# read-only login example as written
pq() { psql -XAtqw -h "$VKV_PG_HOST" -p "$VKV_PG_PORT" -d "${VKV_PG_DB:-vkvision}" "$@" 2>&1; }
check "pg_hba.conf has no trust line" bash -c "! grep -v '^#' '$VKV_VAR_DIR/pg/pg_hba.conf' | grep -qw trust"
out=$(pq -U vkvision -c 'select current_user')
check "the operator connects as the service role by peer ($out)" test "$out" = vkvision
out=$(runuser -u nobody -- psql -XAtqw -h "$VKV_PG_HOST" -p "$VKV_PG_PORT" -d postgres -U postgres -c 'select 1' 2>&1)
check "another OS user cannot connect as postgres (${out##*FATAL:  })" grep -q 'Peer authentication failed' <<<"$out"
pq -U vkvision -c "SELECT vkv_readonly_login('analyst')" >/dev/null
out=$(pq -U analyst -c 'select 1')
check "a read-only login without its password is refused (${out##*failed: })" grep -q 'no password supplied' <<<"$out"
pq -U vkvision -c "ALTER ROLE analyst PASSWORD 'analyst-pw'" >/dev/null
out=$(PGPASSWORD=analyst-pw pq -U analyst -c 'SELECT count(*) >= 0 FROM admin_wait_percentiles')
check "with its password (SCRAM) it reads the admin views ($out)" test "$out" = t
check "Ctrl-C stops the second run" stop_run
left=$(procs_left)
check "no process is left behind after the second Ctrl-C (left: ${left:-none})" test -z "$left"

# started in the background by a script (SIGINT ignored, as a service
# manager or `cmd &` in a script leaves it), in its own session so the
# test can find everything it started; then one signal to run.sh alone
start_bg() { # $1 log: sets RUN_PID (run.sh, also the session id)
  setsid bash -c 'bash scripts/run.sh --no-workers >"$1" 2>&1 & echo $! >"$1.pid"; wait' _ "$1" &
  for _ in $(seq 1 300); do
    RUN_PID=$(cat "$1.pid" 2>/dev/null)
    grep -q 'vkvision is up' "$1" && return 0
    sleep 0.2
  done
  return 1
}
stop_one() { # $1 signal, to run.sh only
  kill "-$1" "$RUN_PID" 2>/dev/null
  for _ in $(seq 1 200); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$RUN_PID" 2>/dev/null
}
for sig in INT TERM; do
  check "run.sh started in the background (SIGINT ignored) comes up" start_bg "$dir/run-bg-$sig.log"
  check "SIG$sig to run.sh alone stops it" stop_one "$sig"
  sleep 0.5
  left=$(procs_left)
  check "no process is left behind after SIG$sig to the background run.sh (left: ${left:-none})" test -z "$left"
  pgleft=$(pgrep -f -- "postgres.*$VKV_VAR_DIR/pg" | tr '\n' ' ')
  check "PostgreSQL was stopped too (left: ${pgleft:-none})" test -z "$pgleft"
done

# with a worker, and VKV_VAR_DIR outside the checkout (as the README
# advises): the worker must find the models `make models` fetched into
# var/cache/models (it read $VKV_VAR_DIR/cache/models: no models, jobs
# accepted and ending in 504), and health says ok only then
check "make run with workers comes up" start_run "$dir/run-w.log" ""
hs="" ; for _ in $(seq 1 150); do
  curl -s -o "$dir/health-w.json" -H "Authorization: Bearer $key" "$url/v1/health"
  hs=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["status"], d.get("workers_up"), len(d.get("models_unservable", [1])))' "$dir/health-w.json" 2>/dev/null)
  [[ $hs == "ok "[1-9]*" 0" ]] && break
  sleep 0.2
done
check "with a worker up, health is ok and every catalogue model is servable ($hs)" test "${hs%% *}" = ok
check "the worker's log names the models it found" grep -q "centernet" "$dir/var/log/worker-0.log"
check "Ctrl-C stops the run with workers" stop_run
left=$(procs_left)
check "no process is left behind (left: ${left:-none})" test -z "$left"

# the banner says "is up" only when /v1/health answered: a vkv-api that
# exits at once (status 1: not restarted) leaves nginx without a backend
fake=$dir/fakebin; rm -rf "$fake"; mkdir -p "$fake"
for b in build/bin/*; do ln -s "$PWD/$b" "$fake/"; done
rm "$fake/vkv-api"; printf '#!/bin/sh\ncase "$1" in --check-config) exit 0;; esac\nexit 1\n' >"$fake/vkv-api"
chmod +x "$fake/vkv-api"
BIN=$fake VKV_RUN_HEALTH_WAIT_S=3 setsid bash -c 'bash scripts/run.sh --no-workers >"$1" 2>&1 & echo $! >"$1.pid"; wait' _ "$dir/run-bad.log" &
for _ in $(seq 1 300); do grep -q 'vkvision is' "$dir/run-bad.log" && break; sleep 0.2; done
RUN_PID=$(cat "$dir/run-bad.log.pid")
check "with no vkv-api the banner says NOT healthy" grep -q 'vkvision is NOT healthy' "$dir/run-bad.log"
check "... and never 'is up'" bash -c "! grep -q 'vkvision is up' '$dir/run-bad.log'"
check "SIGTERM stops that run too" stop_one TERM
left=$(procs_left)
check "no process is left behind (left: ${left:-none})" test -z "$left"
exit 0
