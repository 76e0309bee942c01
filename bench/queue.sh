#!/usr/bin/env bash
# bench/queue.sh: the PostgreSQL queue, measured in a throw-away cluster
# (tests/lib/pg_tmp.sh: fsync=off, synchronous_commit=off; say so when
# quoting figures).  Prints figures, asserts nothing.
#   1. raw INSERT rate into the jobs table with pgbench (the reference for
#      the API's enqueue ratio, bench/api.sh) and jq_job_enqueue's rate;
#   2. claim+complete jobs/s: unbatched (claim 1, complete 1) and batched
#      (claim 32 or 128 of one model, complete_many), target >= 10,000/s;
#   3. IMMEDIATE wait under a BACKGROUND flood, target <= one service
#      time + 5 ms;
#   4. a synchronous call's end: completion start -> the waiting connection
#      has the job's JSON, with and without the waiter's wait channel
#      (migration 0011), alternated ABBA in one run (QUEUE_WAIT_N of each,
#      200; the completer waits 20 ms after the claim, like a short model).
#   bash bench/queue.sh                 (BIN=build/bin by default)
#   QUEUE_N=30000 QUEUE_WORKERS=2 bash bench/queue.sh   (the defaults)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
N=${QUEUE_N:-30000}
W=${QUEUE_WORKERS:-2}
source tests/lib/pg_tmp.sh
pg_tmp_start || { echo "bench queue: could not start PostgreSQL"; exit 1; }
"$BIN/vkv-admin" migrate >/dev/null 2>&1 || { echo "bench queue: migrate failed"; exit 1; }
echo "# cluster: PostgreSQL $(psql -XAtqc 'show server_version'), fsync=off, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"

# 1. raw INSERT (same table, same indexes, one row per statement) vs jq_job_enqueue
tid=$("$BIN/vkv-admin" tenant create bench-raw 2>/dev/null)
cat >"$PG_TMP_DIR/raw_insert.sql" <<SQL
INSERT INTO jobs (tenant_id, task, model, tier, fair_key, params)
VALUES ($tid, 'caption', 'm_raw', 0, 0, '{"length":"short"}');
SQL
raw=$("$PG_TMP_BINDIR/pgbench" -n -c "$W" -j "$W" -T 10 -M prepared -f "$PG_TMP_DIR/raw_insert.sql" 2>&1 \
      | awk '/^tps/ {print int($3); exit}')
echo "raw_insert_per_s=$raw clients=$W (pgbench -n -M prepared -T 10, INSERT INTO jobs)"
# the reference rows are not part of the queue's workload: remove them
psql -XAtqc "DELETE FROM jobs WHERE model = 'm_raw'" >/dev/null
psql -XAtqc "VACUUM ANALYZE jobs" >/dev/null
enq=$("$BIN/bench_queue" enqueue 20000 "$W")
echo "$enq"
e=$(sed -E 's/.*jobs_per_s=([0-9]+).*/\1/' <<<"$enq")
[[ -n $raw && $raw -gt 0 ]] && awk -v a="$e" -v b="$raw" \
  'BEGIN {printf "enqueue_vs_raw_insert=%.2f (jq_job_enqueue / pgbench INSERT)\n", a / b}'

# 2. claim + complete
"$BIN/bench_queue" drain 10000 "$W" 1
"$BIN/bench_queue" drain "$N" "$W" 32
"$BIN/bench_queue" drain "$N" "$((W * 2))" 128

# 3. IMMEDIATE under a BACKGROUND flood (service time 20 ms per batch)
"$BIN/bench_queue" flood 20 100 "$W"

# 4. a synchronous call's end: JSON in the notification vs notification + read
"$BIN/bench_queue" wait "${QUEUE_WAIT_N:-200}" 20
pg_tmp_stop
