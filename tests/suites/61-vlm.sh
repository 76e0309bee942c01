#!/usr/bin/env bash
# Moondream 2 on our runtime (vlm/): crops against Pillow on the photos of
# var/testdata/images (make testdata); the model against the PyTorch
# reference (tests/ref/moondream_ref.py) at reduced sizes.
set -uo pipefail
rc=0
PY=/usr/bin/python3
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-/tmp}/61-vlm
mkdir -p "$T"
if ! "$PY" -c 'import PIL, numpy' 2>/dev/null; then
  echo "not ok - python3-pil / python3-numpy are not installed (scripts/install-deps.sh)"
  exit 1
fi
imgs=(var/testdata/images/*.jpg var/testdata/images/*.png)
if [[ ! -f ${imgs[0]} ]]; then
  echo "not ok - no photos in var/testdata/images (make testdata)"
  exit 1
fi
rm -rf "$T/crops"
if "$PY" tests/ref/md_crops_ref.py "$T/crops" "${imgs[@]}"; then
  echo "ok - md_crops_ref.py wrote Pillow's crops of ${#imgs[@]} photos"
else
  echo "not ok - md_crops_ref.py"; rc=1
fi
"$BIN/md_crop_test" "$T/crops" || rc=1

# the model: random weights in the official layout at reduced sizes (text
# heads of 64, vision heads of 72, a 2x2 tiling), compared stage by stage
source tests/lib/vk_icd.sh
vk_icd_default
export RT_VALIDATE=1 VKV_VAR_DIR=$T/var
[[ -f tests/lsan.supp ]] && export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
M=$T/small
mkdir -p "$M"
if "$PY" tests/ref/moondream_ref.py --config tests/ref/md2_small.json --parts text,vision,region \
     --save "$M/model.safetensors" --vision --tiling 2x2 --no-hidden --task caption,detect,point \
     --prompt 1,7235,476,2,100,3 --max-tokens 8 --max-objects 3 --save-pixels "$M/crops.f32" \
     --out "$M/ref.json"; then
  echo "ok - moondream_ref.py: reduced Moondream 2 (text, vision, region) and its outputs"
else
  echo "not ok - moondream_ref.py: reduced Moondream 2"; rc=1
fi
cp tests/ref/md2_small.json "$M/config.json"
"$BIN/md_model_test" "$M/model.safetensors" "$M/config.json" "$M/ref.json" "$M/crops.f32" || rc=1

# the whole path on a photo: Pillow's crops -> the reference, against vkv md
# (our decoder, crops, vision, prompt templates, generation, region head)
"$PY" tests/ref/md_tok_gen.py starmie "$M/tokenizer.json" &&
  "$PY" tests/ref/md_tok_gen.py gpt2 "$T/gpt2-tokenizer.json" || rc=1
# batched decoding: every request of a batch answers what it answers alone
for w in f32 i8; do "$BIN/md_batch_test" "$M" $w || rc=1; done
IMG=var/testdata/images/grace_hopper.jpg
rm -rf "$T/pc" && "$PY" tests/ref/md_crops_ref.py --crop 36 --patch 4 --margin 2 "$T/pc" "$IMG"
til=$("$PY" -c 'import struct,sys; w,h,a,b=struct.unpack("<4i",open(sys.argv[1],"rb").read(16)); print("%dx%d"%(a,b))' "$T/pc/0.rgb")
declare -A PROMPT=([caption]=1,32708,2,6382,3 [detect]=1,7235,476,2,42,75,3 [point]=1,2581,2,42,75,3)
for task in caption detect point; do
  "$PY" tests/ref/moondream_ref.py --config "$M/config.json" --weights "$M/model.safetensors" \
    --vision --pixels "$T/pc/0.f32" --tiling "$til" --no-hidden --task "$task" \
    --prompt "${PROMPT[$task]}" --max-tokens 6 --max-objects 2 --out "$T/photo_$task.json" || rc=1
  args=(--weights f32 --max-tokens 6 --max-objects 2)
  # " A" encodes to byte tokens 42 (space) and 75 (A) with the generated starmie-shaped file
  [[ $task != caption ]] && args+=(--object A)
  if "$BIN/vkv" md "$task" "$M" "$IMG" "${args[@]}" >"$T/vkv_$task.json"; then
    if "$PY" - "$T/photo_$task.json" "$T/vkv_$task.json" "$task" <<'PYEOF'
import json, sys
ref = json.load(open(sys.argv[1]))[sys.argv[3]]
got = json.load(open(sys.argv[2]))
t = sys.argv[3]
if t == "caption":
    ok = got["tokens"] == ref["tokens"]
    print("%s - vkv md caption on a %s photo: greedy tokens %s equal the reference's %s"
          % ("ok" if ok else "not ok", "real", got["tokens"], ref["tokens"]))
else:
    key = "objects" if t == "detect" else "points"
    a, b = got[key], ref["objects"]
    d = max([abs(x[k] - y[k]) for x, y in zip(a, b) for k in y] + [0])
    ok = len(a) == len(b) and d <= 1e-6
    print("%s - vkv md %s on a real photo: %d objects equal the reference's (max difference %.3g)"
          % ("ok" if ok else "not ok", t, len(a), d))
sys.exit(0 if ok else 1)
PYEOF
    then :; else rc=1; fi
  else
    echo "not ok - vkv md $task failed: $(cat "$T/vkv_$task.json")"; rc=1
  fi
done
# revisions and tokenizers: 2025-06-21 with the GPT-2 tokenizer.json of its own repository
# (or none) is refused naming the starmie-v1 file; a GPT-2 tokenizer alone means the legacy
# prompts
for case in wrong none legacy; do
  D=$T/dir-$case
  rm -rf "$D" && mkdir -p "$D"
  ln -s "$M/model.safetensors" "$D/model.safetensors"
  cp "$M/config.json" "$D/config.json"
  [[ $case != none ]] && cp "$T/gpt2-tokenizer.json" "$D/tokenizer.json"
  [[ $case != legacy ]] && echo 2025-06-21 >"$D/revision"
  out=$("$BIN/vkv" md caption "$D" "$IMG" --weights f32 --max-tokens 2 2>&1)
  st=$?
  if [[ $case == legacy ]]; then
    if ((st == 0)) && [[ $out == *'"revision":"2025-04-14"'* ]]; then
      echo "ok - a GPT-2 tokenizer without a revision file runs with the legacy prompts"
    else
      echo "not ok - legacy tokenizer: $out"; rc=1
    fi
  elif ((st == 1)) && [[ $out == *"starmie-v1"* && $out == *"huggingface.co/moondream/starmie-v1"* ]]; then
    echo "ok - revision 2025-06-21 with tokenizer '$case' refused, naming the file needed: $out"
  else
    echo "not ok - revision 2025-06-21 with tokenizer '$case' gave ($st): $out"; rc=1
  fi
done
exit $rc
