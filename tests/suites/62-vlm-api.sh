#!/usr/bin/env bash
# Moondream 2 through the service: nginx -> vkv-api -> PostgreSQL ->
# vkv-worker running the reduced random-weight Moondream 2 (vlm/) on
# lavapipe; the official moondream@0.2.0 client for caption and query,
# whole and streamed (token by token: several chunks before the job ends);
# greedy answers equal vkv md's on the same photo; /v1/analyze with a caption
# part gives that caption and its words as tags.
set -uo pipefail
cd "${VKV_ROOT:-$(pwd)}"
BIN=${BIN:-build/bin}
PY=/usr/bin/python3
T=${VKV_TEST_TMP:-$(mktemp -d)}/62-vlm-api
rm -rf "$T"; mkdir -p "$T"
IMAGES=var/testdata/images
MDC=var/md-client
for b in vkv-api vkv-admin vkv-worker vkv; do
  [[ -x $BIN/$b ]] || { echo "not ok - binary $BIN/$b is built"; exit 1; }
done
[[ -f $IMAGES/grace_hopper.jpg ]] || { echo "not ok - test images (make testdata)"; exit 1; }
if ! cmp -s tests/moondream/package-lock.json "$MDC/package-lock.json" 2>/dev/null ||
   [[ ! -d $MDC/node_modules/moondream ]]; then
  mkdir -p "$MDC"
  cp tests/moondream/package.json tests/moondream/package-lock.json "$MDC/"
  (cd "$MDC" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund >"$T/npm.log" 2>&1) ||
    { echo "not ok - npm ci of the moondream client"; exit 1; }
fi
source tests/lib/vk_icd.sh
vk_icd_default
source tests/lib/svc.sh

# the model directory, as an operator installs it (random weights, reduced sizes;
# a tokenizer whose filler tokens fall into words, for the caption tags below)
CACHE=$T/cache; M=$CACHE/moondream2
mkdir -p "$T/models"
svc_md_small "$M" tests/ref/md2_small.json starmie-words || { echo "not ok - reduced Moondream 2 written"; exit 1; }
cp vlm/moondream2.json "$T/models/"
echo "ok - reduced Moondream 2 installed in $M with its manifest"

# what the greedy answers must be (vkv md, same weights format as the manifest: i8)
IMG=$IMAGES/grace_hopper.jpg
cap=$("$BIN/vkv" md caption "$M" "$IMG" --max-tokens 6) &&
  cap64=$("$BIN/vkv" md caption "$M" "$IMG" --max-tokens 64) &&
  capB=$("$BIN/vkv" md caption "$M" "$IMAGES/chelsea.png" --length short --max-tokens 11) &&
  cap1=$("$BIN/vkv" md caption "$M" "$IMG" --max-tokens 1) &&
  ans=$("$BIN/vkv" md query "$M" "$IMG" --question "What is this?" --max-tokens 6) &&
  det=$("$BIN/vkv" md detect "$M" "$IMG" --object A --max-objects 2) &&
  pts=$("$BIN/vkv" md point "$M" "$IMG" --object A --max-objects 2) ||
  { echo "not ok - vkv md runs the installed model"; exit 1; }
"$PY" -c 'import json,sys; print(json.dumps({"caption": json.loads(sys.argv[1])["caption"],
  "caption1": json.loads(sys.argv[2])["caption"], "answer": json.loads(sys.argv[3])["answer"],
  "objects": json.loads(sys.argv[4])["objects"], "points": json.loads(sys.argv[5])["points"],
  "caption64": json.loads(sys.argv[6])["caption"], "captionB": json.loads(sys.argv[7])["caption"]}))' \
  "$cap" "$cap1" "$ans" "$det" "$pts" "$cap64" "$capB" >"$T/expect.json"

svc_db "$T" || { echo "not ok - PostgreSQL starts and the migrations apply"; exit 1; }
"$BIN/vkv-admin" tenant create vlm >/dev/null
KEY=$("$BIN/vkv-admin" key create vlm | tail -1)
export VKV_MODELS_DIR=$T/models VKV_MODEL_CACHE=$CACHE VKV_API_THREADS=12 \
  VKV_WAIT_TIMEOUT_MS=120000 VKV_LOG_LEVEL=info
svc_api "$T" || { echo "not ok - vkv-api listens and nginx starts"; exit 1; }
VKV_WORKER_NAME=vlm-worker svc_bg "$T/worker.log" "$BIN/vkv-worker"
for _ in $(seq 1 100); do grep -q "model moondream2" "$T/worker.log" && break; sleep 0.1; done
if grep -q "model moondream2: task moondream2, batch limit 4" "$T/worker.log"; then
  echo "ok - vkv-worker registers moondream2 (batch limit 4: batched decoding)"
else
  echo "not ok - vkv-worker registers moondream2"; tail -5 "$T/worker.log"; exit 1
fi
MD_URL=$NGINX_URL MD_KEY=$KEY MD_IMAGES=$IMAGES MD_CLIENT_MODULES=$MDC/node_modules \
  MD_EXPECT=$T/expect.json timeout 600 node tests/moondream/md2_client.mjs
rc=$?

# batched decoding through the API: four BACKGROUND requests queued while
# their tier is paused are claimed together and decode in one batch; each
# answer equals vkv md's one-by-one answer
A64=$(base64 -w0 "$IMG"); B64=$(base64 -w0 "$IMAGES/chelsea.png")
body() { # image-b64 mime extra-json
  printf '{"image_url":"data:%s;base64,%s","tier":"BACKGROUND",%s}' "$2" "$1" "$3"
}
"$BIN/vkv-admin" tier pause BACKGROUND >/dev/null
body "$A64" image/jpeg '"settings":{"temperature":0,"max_tokens":6}' >"$T/b1.json"
body "$A64" image/jpeg '"settings":{"temperature":0,"max_tokens":64}' >"$T/b2.json"
body "$B64" image/png '"length":"short","settings":{"temperature":0,"max_tokens":11}' >"$T/b3.json"
body "$A64" image/jpeg '"question":"What is this?","settings":{"temperature":0,"max_tokens":6}' >"$T/b4.json"
BP=()
for i in 1 2 3 4; do
  route=caption; ((i == 4)) && route=query
  curl -s -o "$T/b$i.out" -H "X-Moondream-Auth: $KEY" -H 'Content-Type: application/json' \
    --data-binary @"$T/b$i.json" "$NGINX_URL/v1/$route" &
  BP+=($!)
done
for _ in $(seq 1 100); do
  nq=$(curl -s -H "X-Moondream-Auth: $KEY" "$NGINX_URL/v1/jobs?state=queued&limit=10" |
    grep -o '"state": *"queued"' | wc -l)
  ((nq >= 4)) && break
  sleep 0.1
done
"$BIN/vkv-admin" tier resume BACKGROUND >/dev/null
for p in "${BP[@]}"; do wait "$p"; done
for i in 1 2 3 4; do
  id=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("job_id", 0))' "$T/b$i.out")
  curl -s -H "X-Moondream-Auth: $KEY" "$NGINX_URL/v1/jobs/$id"
  echo
done >"$T/bjobs.txt"
if "$PY" - "$T/expect.json" "$T" <<'PYEOF'
import json, sys
exp = json.load(open(sys.argv[1]))
want = [exp["caption"], exp["caption64"], exp["captionB"], exp["answer"]]
got = [json.load(open(f"{sys.argv[2]}/b{i}.out")) for i in (1, 2, 3, 4)]
texts = [g.get("caption", g.get("answer")) for g in got]
jobs = [json.loads(l) for l in open(f"{sys.argv[2]}/bjobs.txt") if l.strip()]
sizes = [j.get("result", {}).get("metrics", {}).get("batch") for j in jobs]
ok = texts == want and sizes == [4, 4, 4, 4]
print(("ok" if ok else "not ok") + " - four BACKGROUND requests decoded in one batch (metrics.batch %s), "
      "each answer equal to vkv md's one-by-one answer" % sizes)
if not ok:
    print("# got %s\n# want %s" % (texts, want))
sys.exit(0 if ok else 1)
PYEOF
then :; else rc=1; fi
((rc == 0)) || { echo "# worker log:"; tail -20 "$T/worker.log"; }

# ---- /v1/analyze with a caption part on the same model: the caption is
# /v1/caption's and vkv md's greedy caption of the photo, and the tags are
# its words by README's rule ("Photo analysis", Tags), with the stopwords
# read from worker/wk_analyze.c so the rule has one source
acheck() { # acheck "what" python-expression-over-j (file $T/an.json)
  if "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$T/an.json" "$2" 2>/dev/null; then
    echo "ok - $1"
  else
    echo "not ok - $1"; echo "# $(head -c 600 "$T/an.json")"; rc=1
  fi
}
for ph in "$IMG" "$IMAGES/chelsea.png"; do
  want=$("$BIN/vkv" md caption "$M" "$ph" --length short --max-tokens 12) ||
    { echo "not ok - vkv md caption $ph"; rc=1; continue; }
  echo "$want" >"$T/an-want.json"
  case $ph in *.png) mime=image/png ;; *) mime=image/jpeg ;; esac
  body "$(base64 -w0 "$ph")" "$mime" \
    '"tasks":["caption"],"caption":{"length":"short","settings":{"temperature":0,"max_tokens":12}}' |
    sed 's/"tier":"BACKGROUND",//' >"$T/an-b.json"
  curl -s -o "$T/an.json" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary @"$T/an-b.json" "$NGINX_URL/v1/analyze"
  body "$(base64 -w0 "$ph")" "$mime" '"length":"short","settings":{"temperature":0,"max_tokens":12}' |
    sed 's/"tier":"BACKGROUND",//' >"$T/cap-b.json"
  curl -s -o "$T/cap.json" -H "X-Moondream-Auth: $KEY" -H 'Content-Type: application/json' \
    --data-binary @"$T/cap-b.json" "$NGINX_URL/v1/caption"
  # the tag rule, from the caption (README: lowercased, ASCII letters and
  # digits plus bytes of other UTF-8 letters, words under 3 bytes and the
  # stopwords dropped, each once, at most 16)
  "$PY" - "$T/an-want.json" worker/wk_analyze.c >"$T/an-tags.json" <<'PY'
import json, re, sys
cap = json.load(open(sys.argv[1]))["caption"]
src = open(sys.argv[2]).read()
stop = set(re.findall(r'"([a-z]+)"', src.split("stopwords[] = {", 1)[1].split("NULL}", 1)[0]))
tags, w = [], b""
for c in cap.encode() + b"\0":
    if c >= 0x80 or chr(c).isascii() and chr(c).isalnum():
        w += bytes([c]).lower(); continue
    t = w.decode("utf-8", "replace")
    if 3 <= len(w) < 64 and t not in stop and t not in tags and len(tags) < 16:
        tags.append(t)
    w = b""
print(json.dumps({"caption": cap, "tags": tags, "stopwords": len(stop)}))
PY
  w=$(cat "$T/an-tags.json")
  n=$(basename "$ph")
  acheck "$n: /v1/analyze tasks [caption] (greedy, 12 tokens) answers the caption of vkv md caption --length short" \
    'j["results"]["caption"]["caption"] == '"$w"'["caption"] and j["failed"] == [] and j["tasks"] == ["caption"]'
  acheck "$n: ... and of /v1/caption with the same settings" \
    'j["results"]["caption"]["caption"] == json.load(open("'"$T/cap.json"'"))["caption"]'
  acheck "$n: ... its tags are the caption's words by the documented rule ($(echo "$w" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(len(j["tags"]), "of", repr(j["caption"][:60]), "-", j["stopwords"], "stopwords")'))" \
    'len(j["tags"]) >= 2 and j["tags"] == '"$w"'["tags"] and all(d["source"] == "caption" and "score" not in d for d in j["tag_details"]) and '"$w"'["stopwords"] > 50'
done
# the analyze job stored the resolved caption options
jid=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$T/an.json")
curl -s -o "$T/an.json" -H "Authorization: Bearer $KEY" "$NGINX_URL/v1/jobs/$jid"
acheck "the analyze job's params hold the resolved caption options" \
  'j["params"]["caption"] == {"length": "short", "settings": {"temperature": 0, "max_tokens": 12}}'
abad() { # abad "what" code body-fields
  printf '{"image_url":"data:image/jpeg;base64,%s",%s}' "$A64" "$3" >"$T/an-b.json"
  curl -s -o "$T/an.json" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary @"$T/an-b.json" "$NGINX_URL/v1/analyze"
  acheck "$1: 400 $2" 'j["error"]["code"] == "'"$2"'"'
}
abad "caption options without the caption task" invalid_field '"tasks":["detect_faces"],"caption":{"length":"short"}'
abad "caption.settings.temperature 3" invalid_field '"tasks":["caption"],"caption":{"settings":{"temperature":3}}'
abad "caption.length odd" invalid_field '"tasks":["caption"],"caption":{"length":"tiny"}'
abad "an unknown caption option" unknown_field '"tasks":["caption"],"caption":{"seed":1}'

# ---- residency: what /v1/gpus says about Moondream, and its out-of-memory path
fails=0
check() { # check "what" cmd...
  local what=$1; shift
  if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fails=$((fails + 1)); fi
}
gpu_of() { # gpu_of NAME -> $T/gpu-NAME.json (that worker's entry of GET /v1/gpus)
  curl -s --max-time 10 -H "Authorization: Bearer $KEY" "$NGINX_URL/v1/gpus" >"$T/gpus.json" &&
    "$PY" - "$T/gpus.json" "$1" "$T/gpu-$1.json" <<'PY'
import json, sys
w = [g for g in json.load(open(sys.argv[1]))["gpus"] if g["name"] == sys.argv[2]]
sys.exit(1) if not w else json.dump(w[0], open(sys.argv[3], "w"))
PY
}
gj() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
# the kept image's KV cache and activations count: the worker's resident
# bytes after a caption are vkv md's device_bytes on the same weights (the
# image positions, and so the cache, do not depend on the photo)
md_bytes=$(gj /dev/stdin 'j["metrics"]["device_bytes"]' <<<"$cap")
res_ok() {
  gpu_of vlm-worker &&
    [[ $(gj "$T/gpu-vlm-worker.json" '[(m["resident"], m["loads"], m["bytes"]) for m in j["device"]["resident"] if m["model"] == "moondream2"] == [(True, 1, '"$md_bytes"')]') == True ]]
}
for _ in $(seq 1 50); do res_ok && break; sleep 0.2; done # the heartbeat's next report
check "GET /v1/gpus: moondream2 resident, loaded once, $md_bytes bytes (weights + the kept image's KV cache)" res_ok
kill -TERM "$SVC_LAST"; wait "$SVC_LAST" 2>/dev/null

# 8 MiB cannot hold the weights (about 15 MiB in i8): the load is refused as
# out of memory, counted, the job fails after its attempts, the worker lives
VKV_VRAM_BUDGET_MB=8 VKV_WORKER_NAME=vlm-small svc_bg "$T/worker-small.log" "$BIN/vkv-worker"
"$PY" -c 'import base64,json,sys; print(json.dumps({"task":"caption","model":"moondream2",
  "tier":"BACKGROUND","params":{"task":"caption","length":"short","settings":{"max_tokens":2}},
  "image_url":"data:image/jpeg;base64,"+base64.b64encode(open(sys.argv[1],"rb").read()).decode()}))'   "$IMG" >"$T/small-job.json"
jid=$(curl -s --max-time 10 -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json'   --data-binary @"$T/small-job.json" "$NGINX_URL/v1/jobs" | tee "$T/small-post.json" |
  gj /dev/stdin 'j["id"]') || { echo "# POST /v1/jobs: $(head -c 300 "$T/small-post.json")"; }
state=
for _ in $(seq 1 600); do # bounded: 120 s
  curl -s --max-time 10 -H "Authorization: Bearer $KEY" "$NGINX_URL/v1/jobs/$jid" >"$T/small-get.json"
  state=$(gj "$T/small-get.json" 'j["state"]' 2>/dev/null)
  [[ $state == failed || $state == succeeded ]] && break
  sleep 0.2
done
check "budget below the weights: the caption job fails after its attempts ($state)" \
  test "$(gj "$T/small-get.json" 'j["state"] + " " + str(j["attempts"])')" = "failed 3"
check "... with a clear out-of-device-memory error" grep -q 'out of device memory' "$T/small-get.json"
oom_ok() {
  gpu_of vlm-small &&
    [[ $(gj "$T/gpu-vlm-small.json" 'j["device"]["oom_events"] >= 3 and j["device"]["load_failures"] >= 3 and j["device"]["vram_used_bytes"] == 0') == True ]]
}
for _ in $(seq 1 50); do oom_ok && break; sleep 0.2; done
check "... counted in GET /v1/gpus (oom_events, load_failures), nothing resident" oom_ok
check "... and the worker is still running" kill -0 "$SVC_LAST"
((fails == 0 && rc == 0))
