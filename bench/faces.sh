#!/usr/bin/env bash
# bench/faces.sh: the face search over a tenant of FACES_N (default 100,000)
# descriptors, through nginx + vkv-api, against the exact search in SQL
# (face_distance, ORDER BY ... LIMIT: what an operator without pgvector
# would run) on the same rows in the same run.  Prints: the first search
# (loads the tenant's int8 matrix from PostgreSQL), ms per warm query (HTTP
# round trip and the API's own search_ms), the SQL scan's ms per query,
# the ratio, and whether the top 10 of both are the same faces.
# Descriptors are made in SQL (FaceRes-like: ReLU of a centred random
# value, so about half zeros, L2-normalised); a model is not needed.
#   FACES_N=100000 FACES_Q=50 FACES_SQL_Q=3 bash bench/faces.sh
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
N=${FACES_N:-100000}
Q=${FACES_Q:-50}
SQLQ=${FACES_SQL_Q:-3}
T=$(mktemp -d)
source tests/integration/worker_lib.sh
trap 'wk_stack_stop; rm -rf "$T"' EXIT
wk_stack_start "$T/stack" >/dev/null || { echo "stack did not start"; exit 1; }
tid=$(psql -XAtqc "select id from tenants where name = 'wk'")
t0=$(date +%s.%N)
# a correlated subquery (g in it) makes one descriptor per row
psql -XAtq -v ON_ERROR_STOP=1 <<SQL || exit 1
INSERT INTO faces (tenant_id, job_id, face_index, box, descriptor)
SELECT $tid, g, 0, '{"x_min":0,"y_min":0,"x_max":1,"y_max":1}',
       (SELECT array_agg((x / sqrt(s))::real)
          FROM (SELECT x, sum(x * x) OVER () s
                  FROM (SELECT greatest(random() - 0.5, 0) x FROM generate_series(1, 1024) i
                         WHERE g > 0) a) b)
  FROM generate_series(1, $N) g;
ANALYZE faces;
SQL
echo "# $N descriptors inserted in $(python3 -c "import time; print(round(time.time() - $t0, 1))") s"
ids=($(psql -XAtqc "select id from faces order by random() limit $Q"))

search() { # face_id -> BODY
  printf '{"face_id":%s,"limit":10}' "$1" >"$T/q.json"
  wk_post /v1/faces/similar "$T/q.json"
  [[ $HTTP == 200 ]] || { echo "search failed: $HTTP $(head -c 300 "$BODY")"; exit 1; }
}
t0=$(date +%s.%N); search "${ids[0]}"; t1=$(date +%s.%N)
first_ms=$(python3 -c "print(round(($t1 - $t0) * 1000, 1))")
searched=$("$BIN/api_jget" "$BODY" searched)
: >"$T/api.txt"
for id in "${ids[@]}"; do
  t0=$(date +%s.%N); search "$id"; t1=$(date +%s.%N)
  echo "$id $(python3 -c "print(($t1 - $t0) * 1000)") $("$BIN/api_jget" "$BODY" search_ms) $(python3 -c "
import json, sys; print(','.join(str(m['face_id']) for m in json.load(open('$BODY'))['matches']))")" >>"$T/api.txt"
done
# the SQL reference on the first SQLQ queries
: >"$T/sql.txt"
for id in "${ids[@]:0:$SQLQ}"; do
  t0=$(date +%s.%N)
  top=$(psql -XAtqc "select string_agg(id::text, ',') from (select f.id from faces f,
          (select descriptor d from faces where id = $id) q
          where f.tenant_id = $tid and f.id <> $id
          order by face_distance(f.descriptor, q.d), f.id limit 10) s")
  t1=$(date +%s.%N)
  echo "$id $(python3 -c "print(($t1 - $t0) * 1000)") $top" >>"$T/sql.txt"
done
python3 - "$T" "$N" "$searched" "$first_ms" <<'PY'
import statistics, sys
t, n, searched, first = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
api = {l.split()[0]: l.split() for l in open(f"{t}/api.txt")}
sql = [l.split() for l in open(f"{t}/sql.txt")]
http = statistics.median(float(v[1]) for v in api.values())
own = statistics.median(float(v[2]) for v in api.values())
sq = statistics.median(float(v[1]) for v in sql)
same = sum(1 for v in sql if len(v) > 2 and api[v[0]][3] == v[2])
print(f"faces: {n} descriptors (searched {searched}); first search (loads the matrix) {first} ms")
print(f"faces: warm search median {http:.1f} ms per query through nginx ({own:.1f} ms in vkv-api), {len(api)} queries")
print(f"faces: exact SQL scan (face_distance ORDER BY LIMIT 10) median {sq:.0f} ms per query, {len(sql)} queries")
print(f"faces: ratio SQL / API {sq / http:.0f}x; top 10 identical to the SQL scan's on {same}/{len(sql)}")
PY
