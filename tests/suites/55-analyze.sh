#!/usr/bin/env bash
# 55-analyze: photo analysis through nginx + vkv-api + a real vkv-worker on
# lavapipe (README "Photo analysis"):
#  1. POST /v1/analyze on real photos: the combined answer's result for each
#     model equals the result of a separate job of that task on the same
#     photo; the tags follow the documented rule;
#  2. a failing model (a manifest whose files are broken) keeps the other
#     models' results, its error in its slot; all models failing is a 500;
#  3. bad analyze requests: status, code, and no job written; a task whose
#     model is not installed (caption here) is 503 model_not_installed;
#  4. an album through /v1/batches (task analyze): progress polled while it
#     runs always has finished <= total and the counts add up to total; at
#     the end every photo's result equals its /v1/analyze answer.
# The catalogue has the test tagger (tests/models/tagger_model.py, WD14
# layout, python3-onnx): "tag" is in the default set, its result equals a
# separate tag job's and its tags and rating join the tags; GET /v1/models
# lists "analyze" among the tasks.
# Parts asked for by name: ocr on a scene-text photo has /v1/ocr's lines and
# the "text" tag, a broken OCR model keeps the other parts; faces on two
# portraits have /v1/faces's attributes and the face-attribute tags.
# Needs `make models testdata`.  Prints "ok - ..." / "not ok - ...".
set -uo pipefail
cd "${VKV_ROOT:-$(pwd)}"
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-$(mktemp -d)}/analyze
rm -rf "$T"; mkdir -p "$T"

pass=0; fail=0
ok()  { echo "ok - $*"; pass=$((pass + 1)); }
nok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { if [[ $1 == 0 ]]; then ok "$2"; else nok "$2${3:+ ($3)}"; fi; }

IMGS=var/testdata/images
CACHE=${VKV_MODEL_CACHE:-var/cache/models}
for f in grace_hopper.jpg messi5.jpg coffee.png chelsea.png scenetext01.jpg; do
  [[ -f $IMGS/$f ]] || { nok "test photo $IMGS/$f present (make testdata)"; exit 1; }
done
for m in nsfw-mobilenet-v2 centernet blazeface-back-onnx ppocr-v4 faceres emotion; do
  [[ -d $CACHE/$m ]] || { nok "model $m fetched (make models)"; exit 1; }
done

source tests/integration/worker_lib.sh
trap 'wk_stack_stop' EXIT

# the catalogue: our manifests plus "x-broken" (after nsfw-mobilenet-v2, so
# not the default classifier), a classifier whose weights
# file is missing from its (present) folder, so loading it fails for real
mkdir -p "$T/models" "$T/cache/x-broken"
cp models/*.json "$T/models/"
python3 - "$T/models" <<'PY'
import json, sys
m = json.load(open("models/nsfw-mobilenet-v2.json"))
m["name"] = "x-broken"; m["description"] = "a classifier whose files are missing (55-analyze)"
json.dump(m, open(sys.argv[1] + "/x-broken.json", "w"))
m = json.load(open("models/ppocr-v4.json"))
m["name"] = "x-broken-ocr"; m["description"] = "an OCR model whose files are missing (55-analyze)"
json.dump(m, open(sys.argv[1] + "/x-broken-ocr.json", "w"))
PY
mkdir -p "$T/cache/x-broken-ocr"
for d in "$CACHE"/*/; do ln -s "$(cd "$d" && pwd)" "$T/cache/$(basename "$d")"; done
/usr/bin/python3 tests/models/tagger_model.py "$T/tagger" >/dev/null ||
  { nok "the test tagger builds (python3-onnx)"; exit 1; }
cp "$T/tagger/manifests/tiny-tagger.json" "$T/models/"
mv "$T/tagger/cache/tiny-tagger" "$T/cache/"
export VKV_MODEL_CACHE=$T/cache WK_MODELS_DIR=$T/models VKV_WAIT_TIMEOUT_MS=300000
# under SANITIZE a CenterNet inference takes about a minute: the suite runs
# the fast models (classify, detect_faces) on fewer photos, asked for by
# "tasks"; the normal build runs the default set (with detect) on all
PHOTOS=(grace_hopper.jpg messi5.jpg coffee.png chelsea.png)
album=(grace_hopper.jpg messi5.jpg coffee.png chelsea.png grace_hopper.jpg coffee.png)
TASKS=(classify detect detect_faces tag) ASK= ALBUM_PARAMS=
if [[ -n ${SANITIZE:-} ]]; then
  PHOTOS=(grace_hopper.jpg coffee.png) album=(grace_hopper.jpg coffee.png grace_hopper.jpg coffee.png)
  TASKS=(classify detect_faces tag) ASK='"tasks":["classify","detect_faces","tag"]'
  ALBUM_PARAMS='"params":{"tasks":["classify","detect_faces","tag"]},'
  export VKV_RT_TIMEOUT_MS=400000
  echo "# SANITIZE build: tasks ${TASKS[*]} on ${#PHOTOS[@]} photos (detect: the normal build)"
fi
export AN_TASKS="${TASKS[*]}"

wk_stack_start "$T/stack" || { nok "stack starts"; exit 1; }
ok "stack (PostgreSQL, vkv-api, nginx) starts"
# batch 2: an album of 6 runs as 3 batches, so progress moves in steps
wk_worker_start w1 --device 0 --batch 2
wk_until 60 grep -q 'worker w1 on' "$T/stack/worker-w1.log" || nok "vkv-worker starts"

# body FILE IMAGE [EXTRA_JSON_FIELDS]: an /v1/analyze or /v1/jobs body
body() {
  local mime=image/jpeg
  [[ $2 == *.png ]] && mime=image/png
  { printf '{%s"image_url":"data:%s;base64,' "${3:+$3,}" "$mime"; base64 -w0 "$IMGS/$2"; printf '"}'; } >"$1"
}
rows() { psql -XAtqc "select (select count(*) from jobs) + (select count(*) from job_history)"; }

# ===================== 1. combined = separate ===========================
for photo in "${PHOTOS[@]}"; do
  body "$T/a.json" "$photo" "$ASK"
  wk_post /v1/analyze "$T/a.json"; cp "$BODY" "$T/an-$photo.json"
  [[ $HTTP == 200 ]]; check $? "$photo: POST /v1/analyze answers 200" "$HTTP $(head -c 300 "$BODY")"
  for task in "${TASKS[@]}"; do
    body "$T/j.json" "$photo" "\"task\":\"$task\""
    wk_post '/v1/jobs?wait=300000' "$T/j.json"; cp "$BODY" "$T/sep-$task-$photo.json"
  done
  python3 - "$T" "$photo" <<'PY'
import json, os, sys
t, photo = sys.argv[1], sys.argv[2]
tasks = os.environ["AN_TASKS"].split()
a = json.load(open(f"{t}/an-{photo}.json"))
bad = []
if a.get("tasks") != tasks or a.get("failed") != []:
    bad.append(f"tasks {a.get('tasks')} failed {a.get('failed')}")
for task in tasks:
    s = json.load(open(f"{t}/sep-{task}-{photo}.json"))
    if s.get("state") != "succeeded":
        bad.append(f"separate {task}: {s.get('state')} {s.get('error')}")
    elif a["results"].get(task) != s["result"]:
        bad.append(f"{task}: analyze {json.dumps(a['results'].get(task))[:200]} != separate {json.dumps(s['result'])[:200]}")
print("# " + "; ".join(bad) if bad else "# equal", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  check $? "$photo: each model's result in the combined answer equals its separate job's result"
  # the documented tag rule, recomputed from the results
  python3 - "$T/an-$photo.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); r = a["results"]
tags, det = [], []
def add(t):
    if t not in tags: tags.append(t)
top = r["classify"]["labels"][0]
add(top["label"].lower())
if top["label"].lower() in ("porn", "hentai", "sexy"): add("nsfw")
cnt = {}
for o in r.get("detect", {}).get("objects", []): cnt[o["label"]] = cnt.get(o["label"], 0) + 1
for l in sorted(cnt, key=lambda l: (-cnt[l], l)): add(l)
if r.get("detect_faces", {}).get("faces"): add("face")
tg = r.get("tag", {})
for t in tg.get("tags", []): add(t["tag"])
if "rating" in tg:
    add("rating:" + tg["rating"]["tag"])
    if tg["rating"]["tag"] in ("explicit", "questionable"): add("nsfw")
ok = a["tags"] == tags and [d["tag"] for d in a["tag_details"]] == tags and \
     all(d["count"] == cnt[d["tag"]] for d in a["tag_details"] if d["source"] == "detect") and \
     a["image"]["width"] > 0 and a["timings_ms"]["decode"] >= 0
print(f"# tags {a['tags']} expected {tags}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
  check $? "$photo: tags follow the rule (top class, COCO objects by count, face, the tagger's tags and rating)"
done
if [[ -z ${SANITIZE:-} ]]; then
  [[ $(wk_json "$T/an-grace_hopper.jpg.json" '"person" in j["tags"] and "face" in j["tags"]') == 1 ]]
  check $? "grace_hopper.jpg: tagged person and face" "$(wk_json "$T/an-grace_hopper.jpg.json" 'j["tags"]')"
  [[ $(wk_json "$T/an-coffee.png.json" '"cup" in j["tags"]') == 1 ]]
  check $? "coffee.png: tagged cup" "$(wk_json "$T/an-coffee.png.json" 'j["tags"]')"
fi

# ============ 1b. OCR and face attributes as analyze parts ================
# ocr: the same lines as /v1/ocr, the "text" tag; faces: the same faces and
# attributes as /v1/faces, the face-attribute tags by the documented cuts
# (worker/wk.h WK_TAG_*, WK_AGE_*); an OCR model that fails keeps the rest
tagrule() { # FILE: tags of the faces and ocr parts recomputed from the results
  python3 - "$1" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); r = a["results"]
tags, cnt = [], {}
def add(t, n):
    if t not in tags: tags.append(t); cnt[t] = n
top = r.get("classify", {}).get("labels", [{}])[0].get("label")
if top: add(top.lower(), 1)
faces = r.get("faces", {}).get("faces", [])
if faces:
    add("face", len(faces))
    def group(words):
        c = {}
        for w in words: c[w] = c.get(w, 0) + 1
        for w in sorted(c, key=lambda w: (-c[w], w)): add(w, c[w])
    group(["gender:" + f["gender"] for f in faces if f["gender_score"] >= 0.5])
    group(["age:" + ("child" if f["age"] < 13 else "teen" if f["age"] < 20 else
                     "adult" if f["age"] < 65 else "senior") for f in faces])
    group(["expression:" + f["emotion"] for f in faces if f["emotion_score"] >= 0.5])
lines = r.get("ocr", {}).get("lines", [])
if lines: add("text", len(lines))
ok = a["tags"] == tags and all(d["count"] == cnt[d["tag"]] for d in a["tag_details"])
print(f"# tags {a['tags']} expected {tags}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}
body "$T/a.json" scenetext01.jpg '"tasks":["classify","ocr"]'
wk_post /v1/analyze "$T/a.json"; cp "$BODY" "$T/an-ocr.json"
body "$T/o.json" scenetext01.jpg
wk_post /v1/ocr "$T/o.json"; cp "$BODY" "$T/sep-ocr.json"
python3 - "$T/an-ocr.json" "$T/sep-ocr.json" <<'PY'
import json, sys
a, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
o = a.get("results", {}).get("ocr", {})
ok = a.get("failed") == [] and o.get("model") == "ppocr-v4" and len(o.get("lines", [])) >= 5 and \
     o["lines"] == s.get("lines") and o["text"] == s.get("text") and o["image"] == s.get("image") and \
     "text" in a["tags"] and "ocr" in a["timings_ms"]
print(f"# analyze ocr {json.dumps(o)[:300]} /v1/ocr {json.dumps(s)[:300]}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
check $? "scenetext01.jpg: analyze's ocr part has /v1/ocr's lines and text; tagged text"
tagrule "$T/an-ocr.json"
check $? "scenetext01.jpg: tags follow the rule (text counts the lines)"
body "$T/a.json" chelsea.png '"tasks":["ocr"]'
wk_post /v1/analyze "$T/a.json"
[[ $HTTP == 200 && $(wk_json "$BODY" 'j["results"]["ocr"]["lines"] == [] and "text" not in j["tags"]') == 1 ]]
check $? "chelsea.png: no line read, no text tag" "$HTTP $(head -c 300 "$BODY")"
body "$T/a.json" scenetext01.jpg '"tasks":["classify","ocr"],"models":{"ocr":"x-broken-ocr"}'
wk_post /v1/analyze "$T/a.json"; cp "$BODY" "$T/an-ocr-broken.json"
python3 - "$T/an-ocr-broken.json" "$T/an-ocr.json" <<'PY'
import json, sys
a, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
o = a["results"]["ocr"]
ok = a["failed"] == ["ocr"] and o["model"] == "x-broken-ocr" and o["error"]["code"] != "" and \
     a["results"]["classify"] == ref["results"]["classify"] and "text" not in a["tags"]
print("# " + json.dumps(a)[:400], file=sys.stderr)
sys.exit(0 if ok else 1)
PY
check $? "a failing OCR model: 200, its error in its slot, classify's result kept and equal"
for photo in grace_hopper.jpg messi5.jpg; do
  body "$T/a.json" "$photo" '"tasks":["faces"]'
  wk_post /v1/analyze "$T/a.json"; cp "$BODY" "$T/an-faces-$photo.json"
  body "$T/f.json" "$photo"
  wk_post /v1/faces "$T/f.json"; cp "$BODY" "$T/sep-faces-$photo.json"
  python3 - "$T/an-faces-$photo.json" "$T/sep-faces-$photo.json" <<'PY'
import json, sys
a, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
keys = ("box", "score", "age", "gender", "gender_score", "emotion", "emotion_score", "emotions")
fa = [{k: f[k] for k in keys} for f in a.get("results", {}).get("faces", {}).get("faces", [])]
fs = [{k: f[k] for k in keys} for f in s.get("faces", [])]
ok = a.get("failed") == [] and len(fa) >= 1 and fa == fs and "face" in a["tags"] and \
     any(t.startswith("age:") for t in a["tags"])
print(f"# analyze {fa} /v1/faces {fs} tags {a.get('tags')}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
  check $? "$photo: analyze's faces part has /v1/faces's faces and attributes"
  tagrule "$T/an-faces-$photo.json"
  check $? "$photo: face-attribute tags follow the rule (gender, age bracket, expression)"
done

# ===================== 2. a failing model ===============================
body "$T/a.json" grace_hopper.jpg "${ASK:+$ASK,}\"models\":{\"classify\":\"x-broken\"}"
wk_post /v1/analyze "$T/a.json"; cp "$BODY" "$T/an-broken.json"
python3 - "$T" <<'PY'
import json, os, sys
t = sys.argv[1]
a = json.load(open(f"{t}/an-broken.json")); ref = json.load(open(f"{t}/an-grace_hopper.jpg.json"))
c = a["results"]["classify"]
others = [x for x in os.environ["AN_TASKS"].split() if x != "classify"]
ok = a["failed"] == ["classify"] and c["model"] == "x-broken" and \
     c["error"]["code"] == "model_unavailable" and "x-broken" in c["error"]["message"] and \
     all(a["results"][x] == ref["results"][x] for x in others) and \
     "neutral" not in a["tags"] and "face" in a["tags"]
print("# " + json.dumps(a)[:400], file=sys.stderr)
sys.exit(0 if ok else 1)
PY
check $? "a failing model: 200, its error in its slot, the other models' results kept and equal"
body "$T/a.json" grace_hopper.jpg '"tasks":["classify"],"models":{"classify":"x-broken"}'
wk_post /v1/analyze "$T/a.json"
[[ $HTTP == 500 && $("$BIN/api_jget" "$BODY" error.code) == inference_failed ]]
check $? "every model failing: 500 inference_failed" "$HTTP $(head -c 300 "$BODY")"
body "$T/a.json" coffee.png '"tasks":["detect_faces","classify"]'
wk_post /v1/analyze "$T/a.json"
[[ $HTTP == 200 && $(wk_json "$BODY" 'j["tasks"] == ["detect_faces", "classify"] and sorted(j["results"]) == ["classify", "detect_faces"]') == 1 ]]
check $? "tasks choose the models: only those run, in the order asked" "$HTTP $(head -c 300 "$BODY")"

# ===================== 3. bad requests ==================================
bad() { # bad NAME STATUS CODE PATH BODYFILE
  local before; before=$(rows)
  wk_post "$4" "$5"
  local got; got=$("$BIN/api_jget" "$BODY" error.code)
  [[ $HTTP == "$2" && $got == "$3" && $(rows) == "$before" ]]
  check $? "$1: $2 $3, nothing written" "$HTTP $got $(head -c 200 "$BODY")"
}
body "$T/b.json" coffee.png '"tasks":["upscale"]'; bad "not an analyze task" 400 unknown_task /v1/analyze "$T/b.json"
body "$T/b.json" coffee.png '"tasks":["caption"]'; bad "caption without a captioner installed" 503 model_not_installed /v1/analyze "$T/b.json"
body "$T/b.json" coffee.png '"tasks":["detect","detect"]'; bad "a task twice" 400 invalid_field /v1/analyze "$T/b.json"
body "$T/b.json" coffee.png '"tasks":5'; bad "tasks not a list" 400 invalid_field /v1/analyze "$T/b.json"
body "$T/b.json" coffee.png '"models":{"detect":"nsfw-mobilenet-v2"}'; bad "a model of another task" 400 unknown_model /v1/analyze "$T/b.json"
body "$T/b.json" coffee.png '"tasks":["detect"],"models":{"classify":"x-broken"}'; bad "models for a task not asked" 400 invalid_field /v1/analyze "$T/b.json"
body "$T/b.json" coffee.png '"task":"classify"'; bad "task field on /v1/analyze" 400 invalid_field /v1/analyze "$T/b.json"
printf '{"tasks":["detect"]}' >"$T/b.json"; bad "no image" 400 missing_field /v1/analyze "$T/b.json"
body "$T/b.json" coffee.png '"task":"analyze","model":"centernet"'; bad "/v1/jobs analyze with another model" 400 unknown_model /v1/jobs "$T/b.json"
body "$T/b.json" coffee.png '"task":"analyze","params":{"tasks":["detect"],"k":1}'; bad "/v1/jobs analyze with an unknown param" 400 unknown_field /v1/jobs "$T/b.json"

wk_get /v1/models
[[ $(wk_json "$BODY" '"analyze" in j["tasks"] and "tag" in j["tasks"] and any(m["name"] == "tiny-tagger" and m["tasks"] == ["tag"] for m in j["models"])') == 1 ]]
check $? "GET /v1/models: tasks list analyze and tag, the tagger is a model" "$(head -c 300 "$BODY")"
body "$T/b.json" coffee.png '"task":"nosuch"'; wk_post /v1/jobs "$T/b.json"
[[ $HTTP == 400 && $(grep -c '\\"analyze\\"' "$BODY") == 1 ]]
check $? "an unknown task: the valid tasks listed include analyze" "$HTTP $(head -c 300 "$BODY")"

# ===================== 4. an album ======================================
{ printf '{"task":"analyze",%s"images":[' "$ALBUM_PARAMS"
  i=0
  for p in "${album[@]}"; do
    ((i++)) && printf ','
    mime=image/jpeg; [[ $p == *.png ]] && mime=image/png
    printf '"data:%s;base64,' "$mime"; base64 -w0 "$IMGS/$p"; printf '"'
  done
  printf ']}'; } >"$T/album.json"
wk_post /v1/batches "$T/album.json"; cp "$BODY" "$T/album-resp.json"
BID=$("$BIN/api_jget" "$BODY" id)
[[ $HTTP == 202 && $("$BIN/api_jget" "$BODY" total) == ${#album[@]} && $("$BIN/api_jget" "$BODY" model) == analyze ]]
check $? "album of ${#album[@]} analyze jobs: 202 at BACKGROUND" "$HTTP $(head -c 300 "$BODY")"
polls=0 bounds=0 seen_mid=0 done=0
for i in $(seq 1 1800); do
  wk_get "/v1/batches/$BID"
  polls=$((polls + 1))
  fin=$("$BIN/api_jget" "$BODY" finished); tot=$("$BIN/api_jget" "$BODY" total)
  sum=0
  for st in queued running succeeded failed canceled expired; do
    sum=$((sum + $("$BIN/api_jget" "$BODY" "counts.$st")))
  done
  dn=0; [[ $("$BIN/api_jget" "$BODY" done) == true ]] && dn=1
  ((fin <= tot && sum == tot)) || { bounds=$((bounds + 1)); echo "# progress out of bounds: $(cat "$BODY")"; }
  ((fin > 0 && fin < tot)) && seen_mid=1
  ((dn == 1)) && { done=1; break; }
  sleep 0.2
done
((done && bounds == 0)); check $? "album progress: finished <= total and the counts add up to total in all $polls polls" "done=$done bounds=$bounds"
((seen_mid)); check $? "album progress was seen part-way (0 < finished < total)"
wk_json "$BODY" 'j["counts"]["succeeded"]' >"$T/succ"
[[ $(<"$T/succ") == ${#album[@]} && $(wk_json "$BODY" 'j["finished"]') == ${#album[@]} ]]
check $? "album: every job succeeded, finished == total" "$(cat "$BODY")"
ids=$(wk_json "$T/album-resp.json" '" ".join(map(str, j["job_ids"]))')
k=0 same=1
for id in $ids; do
  wk_get "/v1/jobs/$id"
  p=${album[$k]}
  [[ $(python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))["result"]; b = json.load(open(sys.argv[2]))
print(int(a["results"] == b["results"] and a["tags"] == b["tags"]))' "$BODY" "$T/an-$p.json" 2>/dev/null) == 1 ]] ||
    { same=0; echo "# album job $id ($p) differs from its /v1/analyze answer"; }
  k=$((k + 1))
done
((same)); check $? "album: each photo's result equals its /v1/analyze answer"
[[ $(grep -c "batch of [0-9]* analyze jobs" "$T/stack/worker-w1.log") -ge 1 ]]
check $? "the worker ran analyze jobs as batches" "$(grep 'analyze' "$T/stack/worker-w1.log" | tail -2)"

grep -q 'level=error' "$T/stack/api.log" && nok "no error lines in the vkv-api log: $(grep 'level=error' "$T/stack/api.log" | head -2)" || ok "no error lines in the vkv-api log"
echo "# $pass passed, $fail failed"
((fail == 0))
