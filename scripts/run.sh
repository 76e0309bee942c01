#!/usr/bin/env bash
# make run: the whole service in the foreground on one machine.
#
#   PostgreSQL  cluster in $VKV_VAR_DIR/pg (created and migrated on first run,
#               kept afterwards: queued jobs survive a restart), unix socket
#               only, in $VKV_VAR_DIR/run, port $VKV_PG_PORT
#   vkv-api     $VKV_API_PROCESSES processes, one FastCGI socket each,
#               restarted if they die
#   vkv-worker  one per Vulkan device (lavapipe when there is no GPU),
#               restarted when they exit non-zero (device lost, crash)
#   nginx       on $VKV_HTTP_ADDR:$VKV_HTTP_PORT (127.0.0.1:8080)
#
# Prints the API's URL, the dashboard's (nginx serves build/web under
# /dashboard/), the local default tenant's API key and a curl example.
# Ctrl-C (or SIGTERM) stops every process it started, also when started in
# the background by a script or service manager (SIGINT ignored: see below).
# The banner says "is up" only once GET /v1/health answered 200 through
# nginx (within VKV_RUN_HEALTH_WAIT_S, 30 s); else it says what failed.
# Options: --api-only (no workers, e.g. on an API host), --no-workers.
set -euo pipefail
# A background job of a non-interactive shell starts with SIGINT and
# SIGQUIT ignored, and bash cannot trap a signal ignored at entry: the
# script kept running (and PostgreSQL with it) while its children, which
# reset their handlers, stopped.  Re-exec once with the default handlers.
if [[ -z ${VKV_RUN_SIGNALS_RESET:-} ]]; then
  export VKV_RUN_SIGNALS_RESET=1
  exec env --default-signal=INT,QUIT bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-build/bin}
BIN=$(cd "$BIN" && pwd)
want_workers=1
for a in "$@"; do
  case $a in
    --api-only|--no-workers) want_workers=0 ;;
    *) echo "run.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

export VKV_VAR_DIR=$(realpath -m "${VKV_VAR_DIR:-var}")
VAR=$VKV_VAR_DIR
export VKV_PG_PORT=${VKV_PG_PORT:-5488}
export VKV_PG_HOST=${VKV_PG_HOST:-$VAR/run}
[[ $VKV_PG_HOST == /* ]] || VKV_PG_HOST=$(realpath -m "$VKV_PG_HOST")
export VKV_PG_DB=${VKV_PG_DB:-vkvision} VKV_PG_USER=${VKV_PG_USER:-vkvision}
export VKV_HTTP_ADDR=${VKV_HTTP_ADDR:-127.0.0.1} VKV_HTTP_PORT=${VKV_HTTP_PORT:-8080}
# the model cache is where `make models` put it (scripts/fetch_models.js:
# VKV_MODEL_CACHE, default var/cache/models in the checkout), whatever
# VKV_VAR_DIR is: deriving it from VKV_VAR_DIR started workers with no models
export VKV_MODEL_CACHE=$(realpath -m "${VKV_MODEL_CACHE:-$ROOT/var/cache/models}")
export VKV_MODELS_DIR=$(realpath -m "${VKV_MODELS_DIR:-models}")
nproc_api=${VKV_API_PROCESSES:-2}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
LOG=$VAR/log
mkdir -p "$VAR/run" "$LOG"

say() { printf '[run] %s\n' "$*"; }
t0=$(date +%s.%N)

# validate the configuration once, up front, like nginx -t
"$BIN/vkv-api" --check-config >/dev/null || { echo "run.sh: invalid configuration" >&2; exit 1; }

# ---- stopping: every process this script starts, in reverse order
pids=()
stopping=0
pg_started=0
idle_pid=
stop_all() {
  ((stopping)) && return 0
  stopping=1
  say "stopping"
  local p
  # the foreground sleep too: it was left behind as an orphan
  [[ -n $idle_pid ]] && kill -TERM "$idle_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  # give workers time to finish the batch in hand (or release its leases)
  for _ in $(seq 1 100); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [[ -n ${NGINX_PID:-} ]] && nginx_tmp_stop >/dev/null 2>&1 || true
  if ((pg_started)); then
    as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  say "stopped"
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# ---- PostgreSQL: our own cluster, run as the postgres user (it refuses root)
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$VAR"; then
  echo "run.sh: the postgres user cannot reach $VAR (a parent directory is not" \
       "world-executable); set VKV_VAR_DIR to a directory it can reach" >&2
  exit 1
fi
if [[ ! -f $VAR/pg/PG_VERSION ]]; then
  say "creating the PostgreSQL cluster in $VAR/pg"
  mkdir -p "$VAR/pg"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$VAR/pg" "$VAR/run" "$LOG"
  as_pg "$PGBIN/initdb" -D "$VAR/pg" -U postgres --auth-local=peer --auth-host=reject -E UTF8 --locale=C.UTF-8 \
    >"$LOG/initdb.log" 2>&1 || { cat "$LOG/initdb.log"; exit 1; }
  cat >>"$VAR/pg/postgresql.conf" <<CONF
# vkvision (make run): unix socket only
listen_addresses = ''
unix_socket_directories = '$VKV_PG_HOST'
max_connections = 200
autovacuum_naptime = 10s
CONF
fi
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$VAR/run" "$LOG"
# who may connect, written at every start (a cluster made before had trust):
# over the socket, peer -- the OS user who runs this script (and postgres)
# as postgres and as the service role, nobody else as them; any other role
# (the read-only logins of vkv_readonly_login) with its SCRAM password
me=$(id -un)
cat >"$VAR/pg/pg_hba.conf" <<HBA
# written by scripts/run.sh at every start; no trust
local all postgres,$VKV_PG_USER peer map=vkv
local all all scram-sha-256
HBA
{
  echo "# written by scripts/run.sh at every start: OS user -> PostgreSQL role"
  echo "vkv postgres postgres"
  echo "vkv postgres $VKV_PG_USER"
  echo "vkv $me postgres"
  echo "vkv $me $VKV_PG_USER"
} >"$VAR/pg/pg_ident.conf"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$VAR/pg/pg_hba.conf" "$VAR/pg/pg_ident.conf"
if as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" status >/dev/null 2>&1; then
  as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" reload >/dev/null
else
  as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" -l "$LOG/postgresql.log" -o "-p $VKV_PG_PORT" -w -t 60 \
    start >/dev/null || { tail -20 "$LOG/postgresql.log"; exit 1; }
  pg_started=1
fi
psql_pg() { "$PGBIN/psql" -XAtq -h "$VKV_PG_HOST" -p "$VKV_PG_PORT" -U postgres "$@"; }
if [[ -z $(psql_pg -d postgres -c "select 1 from pg_roles where rolname = '$VKV_PG_USER'") ]]; then
  echo 'create role :"u" login createrole' | psql_pg -d postgres -v u="$VKV_PG_USER"
fi
if [[ -z $(psql_pg -d postgres -c "select 1 from pg_database where datname = '$VKV_PG_DB'") ]]; then
  echo 'create database :"d" owner :"u"' | psql_pg -d postgres -v u="$VKV_PG_USER" -v d="$VKV_PG_DB"
fi
"$BIN/vkv-admin" migrate
# what only a superuser may take from PUBLIC (large objects, advisory
# locks, pg_notify), so that vkv_readonly reads views and nothing else
psql_pg -d "$VKV_PG_DB" -v ON_ERROR_STOP=1 -v u="$VKV_PG_USER" -f "$ROOT/schema/roles.sql" >/dev/null

# ---- the local default tenant: its key is shown once by vkv-admin and kept
# (mode 600) in var/ so later runs can print it again; production keys are
# never written anywhere but the hashed column
KEYFILE=$VAR/default-tenant.key
if [[ ! -s $KEYFILE ]]; then
  "$BIN/vkv-admin" tenant create default >/dev/null 2>&1 || true
  (umask 077; "$BIN/vkv-admin" key create default --admin >"$KEYFILE.tmp" 2>/dev/null)
  mv "$KEYFILE.tmp" "$KEYFILE"
fi
KEY=$(head -1 "$KEYFILE")

# supervise NAME NO_RESTART_CODES CMD...: runs CMD, restarts it after a
# failure (1 s back-off, doubling to 30 s) unless it exits 0 or with one of
# the listed codes (configuration errors: restarting cannot help)
supervise() {
  local name=$1 stopcodes=$2; shift 2
  (
    child=
    trap '[[ -n $child ]] && kill -TERM $child 2>/dev/null; wait $child 2>/dev/null; exit 0' TERM INT
    delay=1
    while :; do
      "$@" >>"$LOG/$name.log" 2>&1 &
      child=$!
      rc=0; wait $child || rc=$?
      child=
      if ((rc == 0)) || [[ " $stopcodes " == *" $rc "* ]]; then
        echo "[run] $name exited with status $rc; not restarting (see $LOG/$name.log)" >&2
        exit 0
      fi
      echo "[run] $name exited with status $rc; restarting in ${delay}s" >&2
      # in the background and waited for, so TERM ends it (and the back-off)
      sleep $delay &
      child=$!
      wait $child || true
      child=
      delay=$((delay * 2 > 30 ? 30 : delay * 2))
    done
  ) &
  pids+=($!)
}

socks=()
for ((i = 0; i < nproc_api; i++)); do
  s=$VAR/run/api-$i.sock
  socks+=("$s")
  VKV_API_SOCKET=$s supervise "api-$i" "1" "$BIN/vkv-api"
done

ndev=0
if ((want_workers)); then
  # lavapipe when the machine has no GPU: the loader picks every ICD it
  # finds, so only pin lavapipe when no other device is present
  ndev=$("$BIN/vkv" devices 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("devices",[])))' 2>/dev/null || echo 0)
  if ((ndev == 0)); then
    say "no Vulkan device found (is mesa-vulkan-drivers installed?); starting no workers"
  fi
  for ((d = 0; d < ndev; d++)); do
    supervise "worker-$d" "1 2" "$BIN/vkv-worker" --device "$d"
  done
fi

for s in "${socks[@]}"; do
  for _ in $(seq 1 100); do [[ -S $s ]] && break; sleep 0.05; done
done
source "$ROOT/tests/lib/nginx_tmp.sh"
# the dashboard's static files, as make copied them (web/module.mk)
export VKV_WEB_ROOT=${VKV_WEB_ROOT:-$(realpath -m "${B:-build}/web")}
NGINX_ADDR=$VKV_HTTP_ADDR NGINX_PORT=$VKV_HTTP_PORT nginx_tmp_start "$VAR/nginx" "${socks[@]}"

URL="http://$VKV_HTTP_ADDR:$VKV_HTTP_PORT"
healthy=0 hcode=000
deadline=$(( $(date +%s) + ${VKV_RUN_HEALTH_WAIT_S:-30} ))
while (( $(date +%s) < deadline )); do
  hcode=$(curl -s -o "$VAR/run/health.json" -w '%{http_code}' -m 2 "$URL/v1/health" 2>/dev/null) || true
  [[ $hcode == 200 ]] && { healthy=1; break; }
  sleep 0.2
done
ready=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if ((!healthy)); then
  cat <<TXT

  vkvision is NOT healthy after ${ready}s: GET $URL/v1/health answered $hcode
  $(head -c 300 "$VAR/run/health.json" 2>/dev/null)
  the processes keep running (and are restarted); see the logs in $LOG/
  Ctrl-C stops everything.
TXT
else
# an image that exists in every checkout (make run fetches no test photos)
DEMO_IMG=$ROOT/tests/fuzz/corpus/image/jpeg-baseline.jpg
hstatus=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("status","?"))' "$VAR/run/health.json" 2>/dev/null || echo "?")
cat <<TXT

  vkvision is up in ${ready}s: $URL   ($nproc_api API processes, $ndev workers; health: $hstatus)
  dashboard: $URL/dashboard/   (sign in by pasting the API key)
  API key (local default tenant, admin): $KEY
  logs: $LOG/

  curl -s -H "Authorization: Bearer $KEY" $URL/v1/health
  curl -s -H "Authorization: Bearer $KEY" -F task=classify -F model=nsfw-mobilenet-v2 \\
       -F tier=IMMEDIATE -F image=@$DEMO_IMG $URL/v1/jobs
  (any JPEG, PNG or WebP of yours in place of the example image; the upload is
  multipart, so its size is not limited by the shell's argument length)

  Ctrl-C stops everything.
TXT
fi
# stay in the foreground until Ctrl-C; children are supervised.  The sleep
# is remembered so that stopping kills it (it was left as an orphan)
while :; do
  sleep 3600 &
  idle_pid=$!
  wait $idle_pid || true
done
