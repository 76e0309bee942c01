#!/usr/bin/env bash
# bench/analyze.sh: POST /v1/analyze end to end against the sum of its
# models' separate calls, in the same run, through nginx (real PostgreSQL,
# vkv-api, nginx, one vkv-worker at --batch 1 on the Vulkan engine;
# lavapipe unless VK_ICD_FILENAMES says otherwise).
#
# For each round and photo, one after the other from one client: one
# /v1/analyze call (classify + detect + detect_faces on one decode), then
# the three separate synchronous jobs of the same tasks on the same photo
# (POST /v1/jobs?wait=).  Prints per photo the client time of the analyze
# call and of the three calls summed, the worker's decode time (once vs
# three times) and the ratio sum(analyze) / sum(separate) over everything
# (goal: <= 1.10).  The order alternates between rounds so neither side
# always runs on a warmer cache.
#
#   bash bench/analyze.sh                     4 photos x 3 rounds
#   AB_ROUNDS=5 AB_PHOTOS="grace_hopper.jpg coffee.png" bash bench/analyze.sh
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
source tests/lib/vk_icd.sh
vk_icd_default
ROUNDS=${AB_ROUNDS:-3}
PHOTOS=${AB_PHOTOS:-grace_hopper.jpg messi5.jpg coffee.png chelsea.png}
T=$(mktemp -d "${VKV_TEST_TMP:-/tmp}/bench-analyze.XXXXXX")
chmod 755 "$T"
export VKV_TEST_TMP=$T VKV_LOG_LEVEL=warn VKV_WAIT_TIMEOUT_MS=300000
for p in $PHOTOS; do
  [[ -f var/testdata/images/$p ]] || { echo "bench analyze: run make testdata first"; exit 1; }
done
for m in nsfw-mobilenet-v2 centernet blazeface-back-onnx; do
  [[ -d var/cache/models/$m ]] || { echo "bench analyze: run make models first"; exit 1; }
done

source tests/integration/worker_lib.sh
trap wk_stack_stop EXIT
wk_stack_start "$T/stack" >/dev/null || { echo "bench analyze: stack did not start"; exit 1; }
wk_worker_start a1 --batch 1
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg); device: lavapipe unless VK_ICD_FILENAMES; photos: $PHOTOS; rounds: $ROUNDS"

python3 - "$NGINX_URL" "$KEY" "$ROUNDS" $PHOTOS <<'PY'
import base64, http.client, json, statistics, sys, time, urllib.parse
url, key, rounds, photos = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
H = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
TASKS = ["classify", "detect", "detect_faces"]

def durl(p):
    mime = "image/png" if p.endswith(".png") else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(open("var/testdata/images/" + p, "rb").read()).decode()

def post(path, body):
    t0 = time.perf_counter()
    c.request("POST", path, json.dumps(body), H)
    r = c.getresponse(); b = json.loads(r.read())
    dt = (time.perf_counter() - t0) * 1000
    if r.status != 200:
        sys.exit(f"bench analyze: {path} -> {r.status} {json.dumps(b)[:300]}")
    return dt, b

def job(jid):
    c.request("GET", f"/v1/jobs/{jid}", headers=H)
    r = c.getresponse(); return json.loads(r.read())

def analyze(img):
    dt, b = post("/v1/analyze", {"image_url": img})
    assert b["failed"] == [], b["failed"]
    t = job(b["job_id"])["timings"]
    return dt, t["decode_ms"], t["inference_ms"]

def separate(img):
    tot = dec = inf = 0.0
    for task in TASKS:
        dt, b = post("/v1/jobs?wait=300000", {"task": task, "image_url": img})
        assert b["state"] == "succeeded", b
        tot += dt; dec += b["timings"]["decode_ms"]; inf += b["timings"]["inference_ms"]
    return tot, dec, inf

imgs = {p: durl(p) for p in photos}
# warm-up: every model loaded and its pipelines built before timing
analyze(imgs[photos[0]]); separate(imgs[photos[0]])
rows = {p: [] for p in photos}
for r in range(rounds):
    for p in photos:
        if r % 2 == 0:
            a = analyze(imgs[p]); s = separate(imgs[p])
        else:
            s = separate(imgs[p]); a = analyze(imgs[p])
        rows[p].append((a, s))
print(f"{'photo':<18} {'analyze ms':>11} {'sum of 3 ms':>12} {'ratio':>6}  {'decode 1x ms':>12} {'decode 3x ms':>12}  (medians over {rounds} rounds)")
SA = SS = 0.0
for p in photos:
    a = statistics.median(x[0][0] for x in rows[p]); s = statistics.median(x[1][0] for x in rows[p])
    da = statistics.median(x[0][1] for x in rows[p]); ds = statistics.median(x[1][1] for x in rows[p])
    SA += sum(x[0][0] for x in rows[p]); SS += sum(x[1][0] for x in rows[p])
    print(f"{p:<18} {a:11.1f} {s:12.1f} {a / s:6.3f}  {da:12.2f} {ds:12.2f}")
ia = sum(x[0][2] for p in photos for x in rows[p]); isum = sum(x[1][2] for p in photos for x in rows[p])
print(f"worker inference, all calls: analyze {ia:.0f} ms, separate {isum:.0f} ms ({ia / isum:.3f})")
print(f"RATIO analyze / sum of separate calls: {SA / SS:.3f} over {rounds * len(photos)} photos (goal <= 1.10: {'met' if SA / SS <= 1.10 else 'not met'})")
PY
