#!/usr/bin/env bash
# 52-remote-worker: a vkv-worker on "another host".  The worker runs in its
# own network namespace, joined to the host namespace by a veth pair; the
# throw-away cluster listens on the host end of the pair and accepts that
# subnet only as `hostssl ... scram-sha-256`.  The worker connects by host
# name (db.vkv.test, from the namespace's own /etc/hosts) with
# sslmode=verify-full against a CA made here with openssl, its password in
# a libpq password file, channel_binding=require.  Asserts: the job it
# claims completes; its connections come from the namespace's address, are
# TLS and were authenticated by SCRAM (server log), never trust; a plain
# connection, a wrong CA, a host name the certificate does not carry, no
# password and a wrong password are all refused.
#
# Needs root (network namespaces, veth); CI runs as root.  Where a
# namespace cannot be made, the suite fails: it never passes silently.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/bin}
T=$(mktemp -d "${VKV_TEST_TMP:-/tmp}/remote.XXXXXX")
chmod 755 "$T"
export VKV_TEST_TMP=$T VKV_LOG_LEVEL=info

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }

NS=vkv-$$            # namespace; /etc/netns/$NS/hosts is its /etc/hosts
VH=vkv$$h VN=vkv$$n  # veth ends (host, namespace), <= 15 characters
NET=10.$((200 + RANDOM % 50)).$((RANDOM % 256))
HOSTIP=$NET.1 NSIP=$NET.2 DBNAME=db.vkv.test

source tests/integration/worker_lib.sh
cleanup() {
  wk_stack_stop
  ip netns del "$NS" 2>/dev/null      # takes the veth pair with it
  ip link del "$VH" 2>/dev/null
  rm -rf "/etc/netns/$NS"
}
trap cleanup EXIT

# ------------------------------------------------------- network namespace
if ! { ip netns add "$NS" && ip link add "$VH" type veth peer name "$VN" &&
       ip link set "$VN" netns "$NS" && ip addr add "$HOSTIP/30" dev "$VH" &&
       ip link set "$VH" up && ip -n "$NS" addr add "$NSIP/30" dev "$VN" &&
       ip -n "$NS" link set "$VN" up && ip -n "$NS" link set lo up; } 2>"$T/netns.err"; then
  nok "a network namespace with a veth pair can be made (root, iproute2): $(head -c 300 "$T/netns.err")"
  exit 1
fi
mkdir -p "/etc/netns/$NS"
echo "$HOSTIP $DBNAME" >"/etc/netns/$NS/hosts"
ip netns exec "$NS" ip -4 -o addr show | grep -v " lo " | grep -q "inet $NSIP/30"
check "the namespace has its own veth address $NSIP" test $? -eq 0
ip netns exec "$NS" getent hosts "$DBNAME" | grep -q "^$HOSTIP "
check "$DBNAME resolves to $HOSTIP inside the namespace only" test $? -eq 0

# ------------------------------------------------------------ certificates
P=$T/pki
mkdir -p "$P"
mkca() { # mkca NAME: a self-signed CA
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vkv test $1" \
    -keyout "$P/$1.key" -out "$P/$1.crt" >/dev/null 2>&1
}
mkca ca && mkca otherca &&
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$DBNAME" -keyout "$P/server.key" \
    -out "$P/server.csr" >/dev/null 2>&1 &&
  printf 'subjectAltName=DNS:%s\n' "$DBNAME" >"$P/ext" &&
  openssl x509 -req -in "$P/server.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial \
    -days 2 -extfile "$P/ext" -out "$P/server.crt" >/dev/null 2>&1
check "openssl made a CA, a second CA and a server certificate for $DBNAME" test $? -eq 0
chown postgres:postgres "$P/server.key" "$P/server.crt" && chmod 600 "$P/server.key"
chmod 755 "$P"

# ------------------------------------------------------------------ stack
M=$T/models
mkdir -p "$M"
printf '{"name":"wk-test-a","task":"classify","format":"tfjs-graph"}\n' >"$M/wk-test-a.json"
export WK_MODELS_DIR=$M
export PG_TMP_CONF="ssl=on;ssl_cert_file='$P/server.crt';ssl_key_file='$P/server.key';listen_addresses='127.0.0.1,$HOSTIP';log_connections=on;password_encryption='scram-sha-256'"
if ! wk_stack_start "$T/stack"; then
  nok "stack (PostgreSQL with TLS on $HOSTIP, vkv-api, nginx) starts"
  exit 1
fi
ok "stack (PostgreSQL with TLS on $HOSTIP, vkv-api, nginx) starts"
ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/$HOSTIP/$PGPORT" 2>/dev/null
check "the namespace reaches PostgreSQL at $HOSTIP:$PGPORT over the veth pair" test $? -eq 0
ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PGPORT" 2>/dev/null
check "but not the host's loopback (another host, as far as it can tell)" test $? -ne 0
# the namespace's subnet: TLS + SCRAM only (the host's own lines stay:
# loopback and the socket, as in development)
PASS=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
echo "hostssl all all $NET.0/30 scram-sha-256" >>"$PG_TMP_DIR/data/pg_hba.conf"
psql -XAtq -v ON_ERROR_STOP=1 -v p="$PASS" >/dev/null <<'SQL'
ALTER ROLE postgres PASSWORD :'p';
SELECT pg_reload_conf();
SQL
check "the service role has a SCRAM password" test \
  "$(psql -XAtqc "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'postgres'")" = "SCRAM-SHA-256\$"
PF=$T/worker.pgpass
echo "$DBNAME:$PGPORT:$PGDATABASE:postgres:$PASS" >"$PF"
chmod 600 "$PF"

# libpq from the namespace: ARGS are connection keywords; prints the error
nsq() {
  ip netns exec "$NS" env -u PGHOST -u PGPASSWORD -u PGPASSFILE \
    psql -XAtqw "$* port=$PGPORT dbname=$PGDATABASE user=postgres connect_timeout=5" \
    -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1
}
out=$(nsq "host=$DBNAME sslmode=verify-full sslrootcert=$P/ca.crt passfile=$PF channel_binding=require")
check "psql from the namespace: verify-full + SCRAM (channel binding) connects over TLS ($out)" \
  test "$out" = t
out=$(nsq "host=$DBNAME sslmode=disable passfile=$PF")
check "a plain (non-TLS) connection is refused (${out:0:120})" \
  grep -q 'no pg_hba.conf entry.*no encryption' <<<"$out"
out=$(nsq "host=$DBNAME sslmode=verify-full sslrootcert=$P/otherca.crt passfile=$PF")
check "a server certificate from another CA is refused (${out:0:120})" \
  grep -q 'certificate verify failed' <<<"$out"
out=$(nsq "host=$HOSTIP sslmode=verify-full sslrootcert=$P/ca.crt passfile=$PF")
check "a host name the certificate does not carry is refused (${out:0:120})" \
  grep -q 'does not match host name' <<<"$out"
: >"$T/empty.pgpass"; chmod 600 "$T/empty.pgpass"
out=$(nsq "host=$DBNAME sslmode=verify-full sslrootcert=$P/ca.crt passfile=$T/empty.pgpass")
check "no password: refused, so trust is not in use (${out:0:120})" \
  grep -q 'no password supplied' <<<"$out"
out=$(nsq "host=$DBNAME sslmode=verify-full sslrootcert=$P/ca.crt password=wrong$PASS")
check "a wrong password is refused (${out:0:120})" \
  grep -q 'password authentication failed' <<<"$out"

# ------------------------------------------------------ the remote worker
IMG=var/testdata/images/HappyFish.jpg
[[ -f $IMG ]] || IMG=$(ls var/testdata/images/*.jpg | head -1)
wk_job_body "$T/job.json" classify wk-test-a INTERACTIVE "$IMG"
id=$(wk_enqueue "$T/job.json")
check "a job is enqueued through nginx on the host" test -n "$id"
# the worker sees none of the host's settings: only the remote ones
ip netns exec "$NS" env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
  VKV_PG_HOST=$DBNAME VKV_PG_PORT=$PGPORT VKV_PG_DB=$PGDATABASE VKV_PG_USER=postgres \
  VKV_PG_PASSWORD= VKV_PG_PASSFILE=$PF VKV_PG_SSLMODE=verify-full \
  VKV_PG_SSLROOTCERT=$P/ca.crt VKV_PG_CHANNEL_BINDING=require \
  "$BIN/vkv-worker" --name remote --engine test --test-models wk-test-a \
  --test-delay-ms 50 >"$T/stack/worker-remote.log" 2>&1 &
WK_PID[remote]=$!
done_() { [[ $(wk_state "$id") == succeeded ]]; }
wk_until 60 done_
check "the remote worker claimed and completed the job (state $(wk_state "$id"))" done_
wk_get "/v1/jobs/$id"
check "the job records the remote worker" grep -q '"remote' "$BODY"

# every connection of the worker: from the namespace's address, TLS
read -r n nssl < <(psql -XAtq -F' ' -c "SELECT count(*), count(*) FILTER (WHERE s.ssl)
   FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
  WHERE a.client_addr = '$NSIP'")
check "the worker's $n connections come from $NSIP, $nssl of them TLS" \
  test "${n:-0}" -ge 2 -a "${nssl:-0}" = "${n:-0}"
# the server's log_connections lines, per backend pid: every connection
# authorized from the namespace was authenticated by SCRAM and is TLS
# (a trust connection logs "authorized" with no "authenticated" line)
read -r na nscram nssl < <(awk -v ip="$NSIP" '
  match($0, /\[[0-9]+\]/) { pid = substr($0, RSTART, RLENGTH) }
  /connection received: host=/ && index($0, "host=" ip " ") { ns[pid] = 1 }
  /connection authenticated: .*method=scram-sha-256/ { scram[pid] = 1 }
  /connection authorized:/ && ns[pid] { a++; if (scram[pid]) s++; if (/SSL enabled/) l++ }
  END { print a + 0, s + 0, l + 0 }' "$PG_TMP_DIR/log")
check "server log: $na connections authorized from $NSIP, $nscram by SCRAM, $nssl with TLS (none by trust)" \
  test "$na" -ge 3 -a "$nscram" = "$na" -a "$nssl" = "$na"
wk_worker_stop remote TERM
check "the remote worker exits 0 on SIGTERM" test "$WK_RC" = 0

# a worker given the wrong CA never gets in (it keeps retrying; no claim)
wk_job_body "$T/job2.json" classify wk-test-a INTERACTIVE "$IMG"
id2=$(wk_enqueue "$T/job2.json")
ip netns exec "$NS" env -u PGHOST VKV_PG_HOST=$DBNAME VKV_PG_PORT=$PGPORT VKV_PG_DB=$PGDATABASE \
  VKV_PG_USER=postgres VKV_PG_PASSWORD= VKV_PG_PASSFILE=$PF VKV_PG_SSLMODE=verify-full \
  VKV_PG_SSLROOTCERT=$P/otherca.crt "$BIN/vkv-worker" --name wrongca --engine test \
  --test-models wk-test-a --test-delay-ms 50 >"$T/stack/worker-wrongca.log" 2>&1 &
WK_PID[wrongca]=$!
wk_until 10 grep -q 'certificate verify failed' "$T/stack/worker-wrongca.log"
check "a worker with the wrong CA is refused: $(grep -o 'certificate verify failed' "$T/stack/worker-wrongca.log" | head -1)" \
  grep -q 'certificate verify failed' "$T/stack/worker-wrongca.log"
grep -q 'certificate verify failed' "$T/stack/worker-wrongca.log" ||
  sed 's/^/# wrongca: /' "$T/stack/worker-wrongca.log" | tail -5
sleep 1
check "and its job stays queued ($(wk_state "$id2"))" test "$(wk_state "$id2")" = queued
wk_worker_stop wrongca TERM
exit 0
