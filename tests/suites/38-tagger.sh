#!/usr/bin/env bash
# 38-tagger: the multi-label tagger (task "tag", WD14 layout: an ONNX model
# with a BGR 0..255 NHWC input padded to a white centred square, sigmoid
# outputs, selected_tags.csv with categories and optional thresholds).
# No WD14 weights are on npm, so the model is a small random one that
# tests/models/tagger_model.py builds with python3-onnx in that layout.
#
#  1. test_tags: the CSV reader and the choice of tags (WD14's file as
#     shipped, quoting, row and category thresholds, ratings, the limits,
#     22 hostile tables refused with the line named)
#  2. fidelity: `vkv run` on Vulkan (lavapipe here) and on the CPU reference
#     against onnxruntime-node on the same pixels (decoded once by our
#     decoder, --dump-rgb), with the preprocessing done by @tensorflow/tfjs
#     and the tags chosen by tests/ref/tagger_ref.js: the same tags, order
#     and ratings on 9 real photos and drawings and 3 synthetic images
#     (wider, taller, smaller than the input: the padding), every score
#     within 3e-5 (measured 9.0e-6 on lavapipe, 2.2e-6 on the CPU reference,
#     our scores rounded to 6 decimals; printed as "# ... max |dscore|")
#  3. refusals at load: a table whose rows do not match the outputs, a
#     missing or bad table (its line named), a table path out of the model's
#     folder, pad_center on a face detector
# Needs `make testdata` and python3-onnx (scripts/install-deps.sh).
set -uo pipefail
BIN=${BIN:-build/bin}
VKV=$BIN/vkv
T=${VKV_TEST_TMP:-/tmp}/tagger
REF=tests/ref
export NODE_PATH=$PWD/var/ref/node_modules
rm -rf "$T" && mkdir -p "$T/ppm" "$T/img"
fail=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fail=1; }

# -- 1. the table ---------------------------------------------------------------
if "$BIN/test_tags" >"$T/unit.log" 2>&1; then
  ok "test_tags: $(grep -c '^ok' "$T/unit.log") checks"
else
  grep -E '^not ok' "$T/unit.log" | head -20
  nok "test_tags (log $T/unit.log)"
fi

# -- 2. fidelity ------------------------------------------------------------------
if ! /usr/bin/python3 tests/models/tagger_model.py "$T/m" >"$T/build.log" 2>&1; then
  cat "$T/build.log"; nok "tagger_model.py builds the test model (python3-onnx)"; exit 1
fi
ok "the test tagger built with python3-onnx"
export VKV_MANIFESTS=$T/m/manifests VKV_MODEL_CACHE=$T/m/cache
M=$T/m/cache/tiny-tagger
/usr/bin/python3 - "$T/img" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
for name, w, h in (('wide', 300, 90), ('tall', 70, 200), ('small', 50, 20)):
    im = Image.new('RGB', (w, h))
    im.putdata([((x * 7 + y) % 256, (y * 5) % 256, (x * y) % 256) for y in range(h) for x in range(w)])
    im.save('%s/%s.png' % (d, name))
PY
imgs=()
for n in grace_hopper.jpg astronaut.png messi5.jpg horse.png chelsea.png coffee.png baboon.jpg \
         fruits.jpg anime_input.png; do
  [[ -f var/testdata/images/$n ]] || { nok "var/testdata/images/$n missing (make testdata)"; exit 1; }
  imgs+=("var/testdata/images/$n")
done
imgs+=("$T/img/wide.png" "$T/img/tall.png" "$T/img/small.png")
if "$VKV" run tiny-tagger "${imgs[@]}" --dump-rgb "$T/ppm" >"$T/vk.jsonl" 2>"$T/vk.err"; then
  ok "vkv run tiny-tagger on Vulkan: ${#imgs[@]} images"
else
  cat "$T/vk.err"; nok "vkv run tiny-tagger on Vulkan"
fi
if "$VKV" run tiny-tagger "${imgs[@]}" --cpu >"$T/cpu.jsonl" 2>"$T/cpu.err"; then
  ok "vkv run tiny-tagger --cpu"
else
  cat "$T/cpu.err"; nok "vkv run tiny-tagger --cpu"
fi
ppms=()
for f in "${imgs[@]}"; do b=${f##*/}; ppms+=("$T/ppm/${b%.*}.ppm"); done
if node $REF/tagger_ref.js "$M/model.onnx" "$T/m/manifests/tiny-tagger.json" "$M/selected_tags.csv" \
     "${ppms[@]}" >"$T/ref.jsonl" 2>"$T/ref.err"; then
  node $REF/tags_compare.js "$T/ref.jsonl" "$T/vk.jsonl" "tagger vulkan-f32 vs onnxruntime" --tol 3e-5 || fail=1
  node $REF/tags_compare.js "$T/ref.jsonl" "$T/cpu.jsonl" "tagger cpu-ref vs onnxruntime" --tol 3e-5 || fail=1
  # the test is not vacuous: the images differ in their tags, ratings and characters occur
  if python3 - "$T/ref.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
sets = {tuple(t['tag'] for t in r['tags']) for r in rows}
n = sum(len(r['tags']) for r in rows)
ratings = {r['rating']['tag'] for r in rows}
print('# %d images, %d tags chosen, %d different tag lists, ratings %s' % (len(rows), n, len(sets), sorted(ratings)))
sys.exit(0 if len(sets) >= 3 and n >= 10 and all(r['tags'] for r in rows[:3]) else 1)
PY
  then ok "the reference's tags vary over the images"; else nok "the reference's tags do not vary"; fi
else
  cat "$T/ref.err"; nok "tagger_ref.js (onnxruntime-node)"
fi

# -- 3. refusals at load --------------------------------------------------------------
refuse() {  # refuse WHAT PATTERN MANIFEST-EDIT [CSV]
  local what=$1 pat=$2 edit=$3 csv=${4:-}
  rm -rf "$T/bad" && mkdir -p "$T/bad/manifests" "$T/bad/cache/tiny-tagger"
  cp "$M/model.onnx" "$T/bad/cache/tiny-tagger/"
  if [[ -n $csv ]]; then printf '%b' "$csv" >"$T/bad/cache/tiny-tagger/selected_tags.csv"
  else cp "$M/selected_tags.csv" "$T/bad/cache/tiny-tagger/"; fi
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); $edit; json.dump(m, open(sys.argv[2], 'w'))" \
    "$T/m/manifests/tiny-tagger.json" "$T/bad/manifests/tiny-tagger.json"
  local out rc
  out=$(VKV_MANIFESTS=$T/bad/manifests VKV_MODEL_CACHE=$T/bad/cache VKV_NO_PACK=1 \
        "$VKV" run tiny-tagger "${imgs[0]}" --cpu 2>&1); rc=$?
  if [[ -z $pat ]]; then
    if [[ $rc -eq 0 ]]; then ok "$what"; else nok "$what (rc $rc: $out)"; fi
  elif [[ $rc -ne 0 ]] && grep -q -- "$pat" <<<"$out"; then ok "refused: $what ($(tail -1 <<<"$out" | cut -c1-120))"
  else nok "refused: $what (rc $rc: $out)"; fi
}
refuse "a table with one row fewer than the outputs" "output 0 has 16 values per image, its tags file 15 rows" \
  "pass" 'name,category\ngeneral,9\nsensitive,9\nquestionable,9\nexplicit,9\na,0\nb,0\nc,0\nd,0\ne,0\nf,0\ng,0\nh,0\ni,0\nj,0\nk,4\n'
refuse "a table of 16 rows loads (the control for the refusals)" "" "pass"
rm -f "$T/bad/cache/tiny-tagger/selected_tags.csv"
out=$(VKV_MANIFESTS=$T/bad/manifests VKV_MODEL_CACHE=$T/bad/cache VKV_NO_PACK=1 "$VKV" run tiny-tagger "${imgs[0]}" --cpu 2>&1)
if [[ $? -ne 0 ]] && grep -q "selected_tags.csv" <<<"$out"; then ok "a missing table file is named"; else nok "missing table: $out"; fi
refuse "a bad table names its line" "tags line 3" "pass" 'name,category\ngeneral,9\n"open,0\n'
refuse "a table path out of the model folder" "a tagger needs" "m['tags']='../x.csv'"
refuse "a manifest without a table" "a tagger needs" "del m['tags']"
refuse "an unknown category in post.thresholds" "post.thresholds" "m['post']['thresholds']={'generic':0.3}"
refuse "a threshold over 1" "post.thresholds" "m['post']['thresholds']={'general':1.3}"
refuse "pad_center on a face detector" "pad_center is for classify and tag" "m['task']='detect_faces'"
refuse "an unknown colour order" "input color YUV" "m['input']['color']='YUV'"
exit $fail
