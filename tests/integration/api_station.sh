# api_station.sh: Moondream Station drop-in checks, sourced by
# tests/suites/40-api.sh in its happy-path section (uses its req, jget,
# check, $T, $KA, $BIN).  Station's shapes (README "Moondream Station
# drop-in"): GET /health {status, server}; GET /v1/models entries with id,
# name, description, version; GET /v1/stats {workers, queue_size,
# max_queue_size, processing, timeouts, default_timeout, model, status,
# requests_processed}.  Every count is compared with the database's.

# shape: the exact key set and JSON types of a Station answer
station_shape() { # station_shape KIND: exits 0 when $T/body has Station's shape
  python3 - "$T/body" "$1" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); kind = sys.argv[2]
num = (int, float)
if kind == "health":
    ok = b == {"status": "ok", "server": "moondream-station"}
elif kind == "models":
    ms = b.get("models")
    ok = isinstance(ms, list) and len(ms) > 0 and all(
        all(isinstance(m.get(k), str) for k in ("id", "name", "description", "version"))
        and m["id"] == m["name"] for m in ms)
    # what the manifests say, beside our own fields
    t = [m for m in ms if m["id"] == "tagger"]
    ok = ok and len(t) == 1 and t[0]["description"] == "test tagger" and \
        t[0]["version"] == "2.0.1" and t[0]["tasks"] == ["classify", "tag"]
    c = [m for m in ms if m["id"] == "centernet"]
    ok = ok and len(c) == 1 and c[0]["version"] == "3.0.4" and c[0]["description"] == ""
elif kind == "stats":
    ints = ("workers", "queue_size", "max_queue_size", "processing", "timeouts",
            "requests_processed")
    ok = set(b) == set(ints) | {"default_timeout", "model", "status"} and \
        all(type(b[k]) is int and b[k] >= 0 for k in ints) and \
        isinstance(b["default_timeout"], num) and isinstance(b["model"], str) and \
        b["status"] in ("running", "stopped")
sys.exit(0 if ok else 1)
PY
}

req GET /health
[[ $STATUS == 200 ]] && station_shape health
check $? "Station: GET /health without a key is exactly {status: ok, server: moondream-station}" "$STATUS $(cat "$T/body")"
grep -qiE 'worker|db|tenant|queue' "$T/body" && nok "Station: /health shows no internals" || ok "Station: /health shows no internals"
req GET /health -H "Authorization: Bearer $KA"
[[ $STATUS == 200 ]] && station_shape health
check $? "Station: GET /health with a key has the same shape" "$STATUS"
req POST /health -H "Authorization: Bearer $KA"
[[ $STATUS == 405 && $(jget error.code) == method_not_allowed ]]; check $? "Station: POST /health is 405" "$STATUS"

req GET /v1/models -H "Authorization: Bearer $KA"
[[ $STATUS == 200 ]] && station_shape models
check $? "Station: /v1/models entries carry id, name, description, version (from the manifests)" "$(head -c 400 "$T/body")"

req GET /v1/stats
[[ $STATUS == 401 && $(jget error.code) == missing_key ]]; check $? "Station: /v1/stats needs a key" "$STATUS"

# the database's counts, in the same order as the answer's
db_stats() {
  psql -XAtqc "select (select count(*) from workers
                        where coalesce(device->>'state', '') not in ('stopped', 'device_lost')
                          and last_seen > now() - interval '30 seconds')
                  || ' ' || (select count(*) from jobs where state = 'queued')
                  || ' ' || (select count(*) from jobs where state = 'running')
                  || ' ' || (select count(*) from job_history where state in ('succeeded', 'failed'))
                  || ' ' || (select count(*) from job_history where state = 'expired')"
}
api_stats() { echo "$(jget workers) $(jget queue_size) $(jget processing) $(jget requests_processed) $(jget timeouts)"; }
stats_match() { # the answer equals the database before and after it (nothing moved meanwhile)
  local d1 d2 a
  for _ in 1 2 3 4 5; do
    d1=$(db_stats); req GET /v1/stats -H "Authorization: Bearer $KA"; a=$(api_stats); d2=$(db_stats)
    [[ $d1 == "$d2" ]] && break
  done
  [[ $STATUS == 200 && $d1 == "$d2" && $a == "$d1" ]] || { echo "# db $d1 / $d2, api $a" >&2; return 1; }
}
stats_match && station_shape stats
check $? "Station: /v1/stats has Station's shape and its counts equal the database's" "$(cat "$T/body")"
[[ $(jget max_queue_size) == "${VKV_TIER_DEPTH_LIMIT:-100000}" && $(jget default_timeout) == 4.0 && $(jget model) == centernet ]]
check $? "Station: /v1/stats max_queue_size, default_timeout (s) and model from the settings" "$(cat "$T/body")"
[[ $(jget workers) == 0 && $(jget status) == stopped ]]; check $? "Station: no worker up: status stopped" "$(cat "$T/body")"
# a worker appears, queued/finished counts move: the answer follows the database
psql -XAtqc "insert into workers (name, device, last_seen) values ('station-w1', '{\"state\":\"running\"}', now()),
             ('station-w2', '{\"state\":\"stopped\"}', now())" >/dev/null
req POST /v1/jobs "${AJ[@]}" -d "$OKJ"
stats_match && [[ $(jget workers) == 1 && $(jget status) == running ]]
check $? "Station: one worker up (the stopped one not counted): workers 1, status running; counts equal the database's" "$(cat "$T/body")"
psql -XAtqc "delete from workers where name like 'station-w%'" >/dev/null
