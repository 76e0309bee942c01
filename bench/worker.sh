#!/usr/bin/env bash
# bench/worker.sh: vkv-worker end to end through nginx (real PostgreSQL,
# vkv-api, nginx, one vkv-worker with the Vulkan engine; lavapipe unless
# VK_ICD_FILENAMES says otherwise).
#
#  1. images/s: an album of N images (POST /v1/batches, one request) of
#     nsfw-mobilenet-v2 classification, from the enqueue of the first job
#     to the finish of the last (database timestamps), with the worker at
#     --batch 1 and at --batch B; prints both and their ratio.
#  2. synchronous call overhead: M sequential POST /v1/classify calls to a
#     warm worker at --batch 1; overhead = client total (curl time_total)
#     minus the job's inference time (Server-Timing infer), p50 and p99,
#     with queue wait and decode shown beside it, and split by component.
#     Then the same calls with the worker's test engine (no model, same
#     image), printed as "[no-model reference]", and again with the test
#     engine sleeping as long as the model's inference p50 ("[idle
#     reference ...]": no CPU work, no decode in the worker; WB_NO_REF=1
#     skips both): what the path costs without the model's CPU beside it,
#     and what a gap that long costs the processes that wake after it.
#
#   bash bench/worker.sh                 N=32 B=8 M=40
#   WB_N=64 WB_BATCH=16 WB_M=100 bash bench/worker.sh
#   WB_PARTS=sync WB_IMAGE=var/testdata/images/HappyFish.jpg bash bench/worker.sh
#  3. (WB_PARTS=synctest, alone) the same synchronous round trip with no
#     model at all: a 16x16 PNG, the worker's test engine with no delay, so
#     total - inference is only API + queue + worker (the issue-15 target:
#     p50 <= 3 ms)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-/usr/share/vulkan/icd.d/lvp_icd.x86_64.json}
N=${WB_N:-32} BATCH=${WB_BATCH:-8} M=${WB_M:-40}
T=$(mktemp -d "${VKV_TEST_TMP:-/tmp}/bench-worker.XXXXXX")
chmod 755 "$T"
export VKV_TEST_TMP=$T VKV_LOG_LEVEL=warn
IMG=${WB_IMAGE:-var/testdata/images/grace_hopper.jpg}
PARTS=${WB_PARTS:-album sync}
# the real manifests plus one for the test engine (the no-model reference)
mkdir -p "$T/models"
cp models/*.json "$T/models/"
printf '{"name":"wk-test-a","task":"classify","format":"tfjs-graph"}\n' >"$T/models/wk-test-a.json"
export WK_MODELS_DIR=$T/models
if [[ $PARTS == synctest ]]; then
  python3 tests/integration/api_images.py "$T/img" >/dev/null
  IMG=${WB_TEST_IMAGE:-$T/img/ok.png}
else
  [[ -f $IMG && -d var/cache/models/nsfw-mobilenet-v2 ]] ||
    { echo "bench worker: run make models testdata first"; exit 1; }
fi

source tests/integration/worker_lib.sh
trap wk_stack_stop EXIT
wk_stack_start "$T/stack" >/dev/null || { echo "bench worker: stack did not start"; exit 1; }
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg); image: $IMG"

wk_batch_body "$T/album.json" classify nsfw-mobilenet-v2 "$N" "$IMG"
wk_job_body "$T/one.json" classify nsfw-mobilenet-v2 IMMEDIATE "$IMG"

# images/s of one album with the worker at --batch $1
album_rate() {
  wk_worker_start "b$1" --batch "$1"
  # warm: the model loads (and records its command buffers) before timing
  local w; w=$(wk_enqueue "$T/one.json"); wk_until 300 wk_idle
  local ids; mapfile -t ids < <(wk_enqueue_batch "$T/album.json")
  wk_until 900 wk_idle || { echo "bench worker: album did not finish"; return 1; }
  wk_jobs "${ids[0]}" "${ids[$((N - 1))]}" "$T/album-$1.json"
  wk_worker_stop "b$1" TERM
  python3 - "$T/album-$1.json" "$1" <<'PY'
import json, sys
from datetime import datetime
jobs = json.load(open(sys.argv[1]))
ts = lambda s: datetime.fromisoformat(s)
ok = [j for j in jobs if j["state"] == "succeeded"]
t0 = min(ts(j["enqueued_at"]) for j in jobs); t1 = max(ts(j["finished_at"]) for j in ok)
dt = (t1 - t0).total_seconds()
bs = max(j["timings"]["batch_size"] for j in ok)
inf = sorted(j["timings"]["inference_ms"] for j in ok)[len(ok) // 2]
print(f"{len(ok) / dt:.2f} {len(ok)} {dt:.3f} {bs} {inf:.1f}")
PY
}
if [[ " ${WB_PARTS:-album sync} " == *" album "* ]]; then
read -r r1 n1 d1 bs1 inf1 < <(album_rate 1)
read -r rb nb db bsb infb < <(album_rate "$BATCH")
echo "album of $N images, worker --batch 1:      $r1 images/s ($n1 ok in $d1 s, batch $bs1, inference p50 $inf1 ms per batch)"
echo "album of $N images, worker --batch $BATCH:      $rb images/s ($nb ok in $db s, batch up to $bsb, inference p50 $infb ms per batch)"
echo "batching ratio (batch $BATCH / batch 1): $(python3 -c "print(f'{$rb / $r1:.2f}x')")"

fi

# synchronous call overhead
[[ " $PARTS " == *" sync "* || $PARTS == synctest ]] || exit 0
sync_report() {
python3 - "$T/sync.txt" "$NGINX_URL" "$KEY" "$1" <<'PY'
import http.client, json, re, sys, urllib.parse
from datetime import datetime
u = urllib.parse.urlparse(sys.argv[2])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
ts = lambda s: datetime.fromisoformat(s)
label = sys.argv[4]
pre = "" if label == "sync" else f"[{label}] "
rows, split = [], []
for line in open(sys.argv[1]):
    total = float(line.split()[0]) * 1000
    d = dict((k, float(v)) for k, v in re.findall(r"(\w+);dur=([0-9.]+)", line))
    m = re.search(r"x-job-id: *([0-9]+)", line, re.I)
    if "infer" in d:
        rows.append((total, d["infer"], d.get("queue", 0), d.get("decode", 0)))
    if m and "infer" in d:
        c.request("GET", "/v1/jobs/" + m.group(1), headers={"Authorization": "Bearer " + sys.argv[3]})
        j = json.loads(c.getresponse().read())
        in_db = (ts(j["finished_at"]) - ts(j["enqueued_at"])).total_seconds() * 1000
        run = (ts(j["finished_at"]) - ts(j["started_at"])).total_seconds() * 1000
        # api_auth and api_image are newer stages (0 from older builds: the
        # key check is then inside api_in); api_image lies within api_in
        api = (d.get("api_body", 0) + d.get("api_auth", 0) + d.get("api_in", 0) +
               d.get("api_enqueue", 0) + d.get("api_wait", 0) + d.get("api_out", 0))
        # outside the job's life: API validation + enqueue, wake-up, reply;
        # inside: queue wait, and the worker's run minus inference
        split.append(dict(api=total - in_db, claim=in_db - run, worker=run - d["infer"],
                          model=d["infer"], wdecode=d.get("decode", 0), wpost=d.get("post", 0),
                          hop=total - api, api_body=d.get("api_body", 0),
                          api_in=d.get("api_auth", 0) + d.get("api_in", 0),
                          api_auth=d.get("api_auth", 0), api_image=d.get("api_image", 0),
                          api_rest=d.get("api_in", 0) - d.get("api_image", 0),
                          api_enqueue=d.get("api_enqueue", 0),
                          wake=d.get("api_enqueue", 0) + d.get("api_wait", 0) - in_db,
                          read=d.get("api_read", 0),
                          api_out=d.get("api_out", 0)))
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
ov = [t - i for t, i, q, dc in rows]
print(pre + f"sync POST /v1/classify x{len(rows)}: total p50 {pct([r[0] for r in rows], 50):.2f} ms, "
      f"inference p50 {pct([r[1] for r in rows], 50):.2f} ms")
p50 = pct(ov, 50)
print(pre + f"sync call overhead (total - inference): p50 {p50:.2f} ms, p99 {pct(ov, 99):.2f} ms "
      f"(queue wait p50 {pct([r[2] for r in rows], 50):.2f} ms, decode p50 {pct([r[3] for r in rows], 50):.2f} ms); "
      f"goal p50 <= 3 ms: {'met' if p50 <= 3 else 'NOT met'}")
if split:
    q = lambda k: pct([x[k] for x in split], 50)
    print(pre + f"overhead split, p50: API side (validate, enqueue, wake, reply) {q('api'):.2f} ms, "
          f"enqueue->claim {q('claim'):.2f} ms, worker run minus inference {q('worker'):.2f} ms, "
          f"model (inference) {q('model'):.2f} ms")
    print(pre + f"  API side in detail, p50: nginx + client hops {q('hop'):.2f} ms, body from nginx "
          f"{q('api_body'):.2f} ms, vkv-api in (auth, JSON, image validation) {q('api_in'):.2f} ms, "
          f"enqueue statement {q('api_enqueue'):.2f} ms, "
          f"job end -> API has the result {q('wake'):.2f} ms [its read after the notification "
          f"{q('read'):.2f}], reply {q('api_out'):.2f} ms")
    print(pre + f"  vkv-api in, p50: key check {q('api_auth'):.2f} ms, image validation decode "
          f"{q('api_image'):.2f} ms, the rest (body JSON, data URL, job spec, rate limit) "
          f"{q('api_rest'):.2f} ms")
    print(pre + f"  worker in detail, p50: image decode {q('wdecode'):.2f} ms, postprocess {q('wpost'):.2f} ms "
          f"(both inside 'worker run minus inference')")
PY
}

# M sequential calls of body $1 to the worker named sync -> $T/sync.txt
sync_calls() {
  for ((i = 0; i < 3; i++)); do wk_post /v1/classify "$1"; done   # warm
  : >"$T/sync.txt"
  for ((i = 0; i < M; i++)); do
    curl -s -o /dev/null -D "$T/h.txt" -w '%{time_total}\n' -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' --data-binary @"$1" \
      "$NGINX_URL/v1/classify" >"$T/t.txt"
    st=$(grep -i -e '^server-timing:' -e '^x-job-id:' "$T/h.txt" | tr -d '\r' | tr '\n' ' ')
    echo "$(cat "$T/t.txt") $st" >>"$T/sync.txt"
  done
}
gpu_of_sync() { wk_get /v1/gpus; wk_json "$BODY" '[g["device"]["name"] for g in j["gpus"] if g["name"] == "sync"][0]'; }
mime=image/png; [[ $IMG == *.jpg ]] && mime=image/jpeg
{ printf '{"model":"wk-test-a","image_url":"data:%s;base64,' $mime; base64 -w0 "$IMG"; printf '"}'; } >"$T/cls-test.json"
# the no-model reference: the same path and image with the test engine
sync_test() {
  wk_worker_start sync --batch 1 --engine test --test-models wk-test-a --test-delay-ms "${WB_TEST_DELAY_MS:-0}"
  sync_calls "$T/cls-test.json"
  echo "# device: $(gpu_of_sync)"
  wk_worker_stop sync TERM
}
if [[ $PARTS == synctest ]]; then
  sync_test
  sync_report "sync"
else
  wk_worker_start sync --batch 1
  { printf '{"image_url":"data:image/jpeg;base64,'; base64 -w0 "$IMG"; printf '"}'; } >"$T/cls.json"
  sync_calls "$T/cls.json"
  echo "# device: $(gpu_of_sync)"
  wk_worker_stop sync TERM
  sync_report "sync"
  if [[ ${WB_NO_REF:-0} != 1 ]]; then
    # the model's inference p50, whole ms, before sync_test overwrites the calls
    idle=$(python3 -c 'import re, sys
v = sorted(float(m) for m in re.findall(r"infer;dur=([0-9.]+)", open(sys.argv[1]).read()))
print(round(v[len(v) // 2]) if v else 0)' "$T/sync.txt")
    sync_test
    sync_report "no-model reference"
    WB_TEST_DELAY_MS=$idle sync_test
    sync_report "idle reference, the test engine sleeping ${idle} ms"
  fi
fi
exit 0
