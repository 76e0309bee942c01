# tests/lib/pg_tmp.sh: a throw-away PostgreSQL 15 cluster for one test
# (PostgreSQL::Test::Cluster in spirit).  Source it from a suite:
#
#   source tests/lib/pg_tmp.sh
#   pg_tmp_start            # initdb + start; exports PGHOST PGPORT PGUSER
#                           # PGDATABASE and VKV_PG_HOST/PORT/DB/USER/PASSWORD;
#                           # registers pg_tmp_stop on EXIT (keeps your trap)
#   pg_tmp_migrate          # "$BIN/vkv-admin" migrate: applies schema/migrations,
#                           # then schema/roles.sql as postgres (superuser part)
#   psql -XAtqc 'select 1'  # plain libpq clients find the cluster via PG*
#   pg_tmp_peer_allow ROLE  # lets the test runner connect as ROLE (peer)
#   pg_tmp_restart          # fast (clean) stop + start: clients are
#                           # disconnected, committed data stays
#   pg_tmp_stop             # stops the server and removes the directory
#
# Layout: PG_TMP_DIR=$(mktemp -d) (under VKV_TEST_TMP when set) owned by the
# postgres user: data/ (fsync=off, synchronous_commit=off; no trust: peer
# over the socket, see pg_tmp_peer_allow, SCRAM over TCP),
# sock/ (the unix socket directory = PGHOST), log.  The server listens on
# 127.0.0.1:PGPORT (a free port found by trying) and on the socket.  We run
# as root and PostgreSQL refuses root, so initdb/pg_ctl run as `postgres`
# via runuser.  Everything is bounded: start waits at most 30 s.
#
# Options (environment, before pg_tmp_start):
#   PG_TMP_CONF="key=value;key=value"  extra postgresql.conf lines
#   PG_TMP_DB=vkvision                 database created (default vkvision)

PG_TMP_BINDIR=${PG_TMP_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

pg_tmp__as_pg() { runuser -u postgres -- "$@"; }

pg_tmp__free_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 40000))
    # a port nobody listens on (connect fails) is taken as free
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

pg_tmp_start() {
  local base=${VKV_TEST_TMP:-/tmp}
  PG_TMP_DIR=$(mktemp -d "$base/pg_tmp.XXXXXX") || return 1
  chmod 755 "$PG_TMP_DIR"
  mkdir -p "$PG_TMP_DIR/sock"
  chown -R postgres:postgres "$PG_TMP_DIR"
  if ! pg_tmp__as_pg "$PG_TMP_BINDIR/initdb" -D "$PG_TMP_DIR/data" -U postgres \
      --auth-local=peer --auth-host=reject -E UTF8 --locale=C.UTF-8 >"$PG_TMP_DIR/initdb.log" 2>&1; then
    echo "# pg_tmp: initdb failed:"; sed 's/^/# /' "$PG_TMP_DIR/initdb.log" | tail -20
    return 1
  fi
  # no trust: over the socket, peer (the user running the tests and postgres
  # as postgres, and as the roles given to pg_tmp_peer_allow); over TCP,
  # SCRAM (a role needs a password)
  {
    echo "# tests/lib/pg_tmp.sh: no trust"
    echo "local all all peer map=pg_tmp"
    echo "host all all 127.0.0.1/32 scram-sha-256"
    echo "host all all ::1/128 scram-sha-256"
  } >"$PG_TMP_DIR/data/pg_hba.conf"
  PG_TMP_RUNNER=$(id -un)
  printf 'pg_tmp postgres postgres\npg_tmp %s postgres\n' "$PG_TMP_RUNNER" \
    >"$PG_TMP_DIR/data/pg_ident.conf"
  {
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "unix_socket_directories = '$PG_TMP_DIR/sock'"
    echo "listen_addresses = '127.0.0.1'"
    echo "max_connections = 200"
    echo "shared_buffers = 128MB"
    echo "log_min_messages = warning"
    echo "autovacuum_naptime = 5s"
    local IFS=';' kv
    for kv in ${PG_TMP_CONF:-}; do [[ -n $kv ]] && echo "$kv"; done
  } >>"$PG_TMP_DIR/data/postgresql.conf"
  local try
  for ((try = 0; try < 5; try++)); do
    PGPORT=$(pg_tmp__free_port) || return 1
    if pg_tmp__pg_ctl_start; then break; fi
    PGPORT=
  done
  if [[ -z $PGPORT ]]; then
    echo "# pg_tmp: could not start postgres:"; tail -20 "$PG_TMP_DIR/log" | sed 's/^/# /'
    return 1
  fi
  export PGHOST="$PG_TMP_DIR/sock" PGPORT PGUSER=postgres
  export PGDATABASE=${PG_TMP_DB:-vkvision}
  export VKV_PG_HOST=$PGHOST VKV_PG_PORT=$PGPORT VKV_PG_DB=$PGDATABASE \
         VKV_PG_USER=postgres VKV_PG_PASSWORD=
  "$PG_TMP_BINDIR/createdb" -h "$PGHOST" -p "$PGPORT" -U postgres "$PGDATABASE" || return 1
  # stop the server whatever happens, keeping the caller's EXIT trap
  local prev
  prev=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
  if [[ $prev != *pg_tmp_stop* ]]; then
    # shellcheck disable=SC2064
    trap "pg_tmp_stop; ${prev:-:}" EXIT
  fi
  return 0
}

# pg_tmp_peer_allow ROLE...: the user running the tests may connect as
# these (login) roles over the socket too (peer); reloads the server and
# waits (at most 5 s) until each role gets in, as a reload is asynchronous
pg_tmp_peer_allow() {
  [[ -n ${PG_TMP_DIR:-} ]] || return 1
  local r i
  for r in "$@"; do echo "pg_tmp $PG_TMP_RUNNER $r"; done >>"$PG_TMP_DIR/data/pg_ident.conf"
  pg_tmp__as_pg "$PG_TMP_BINDIR/pg_ctl" -D "$PG_TMP_DIR/data" reload >/dev/null || return 1
  for r in "$@"; do
    for ((i = 0; i < 50; i++)); do
      psql -XAtqw -U "$r" -c 'select 1' >/dev/null 2>&1 && break
      sleep 0.1
    done
    ((i < 50)) || return 1
  done
}

pg_tmp__pg_ctl_start() {
  pg_tmp__as_pg "$PG_TMP_BINDIR/pg_ctl" -D "$PG_TMP_DIR/data" -l "$PG_TMP_DIR/log" \
    -o "-p $PGPORT" -w -t 30 start >/dev/null 2>&1
}

pg_tmp_restart() {
  [[ -n ${PG_TMP_DIR:-} ]] || return 1
  pg_tmp__as_pg "$PG_TMP_BINDIR/pg_ctl" -D "$PG_TMP_DIR/data" -m fast -w \
    -t 30 stop >/dev/null 2>&1
  pg_tmp__pg_ctl_start
}

# stops the server (immediate: the data is thrown away) and removes the
# directory; safe to call twice
pg_tmp_stop() {
  [[ -n ${PG_TMP_DIR:-} && -d $PG_TMP_DIR ]] || return 0
  if [[ -f $PG_TMP_DIR/data/postmaster.pid ]]; then
    pg_tmp__as_pg "$PG_TMP_BINDIR/pg_ctl" -D "$PG_TMP_DIR/data" -m immediate -w \
      -t 30 stop >/dev/null 2>&1
  fi
  [[ -n ${PG_TMP_KEEP:-} ]] || rm -rf "$PG_TMP_DIR"
  PG_TMP_DIR=
}

# applies schema/migrations with the real CLI (what production does)
pg_tmp_migrate() {
  local root; root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  "${BIN:-build/bin}/vkv-admin" migrate &&
    psql -XAtq -U postgres -v ON_ERROR_STOP=1 -v u="${VKV_PG_USER:-postgres}" \
         -f "$root/schema/roles.sql" >/dev/null
}
