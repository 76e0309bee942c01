#!/usr/bin/env bash
# `vkv-admin model install | fetch | list` (admin/adm_model.c): Moondream 2
# from a directory and from a loopback hub in Hugging Face's layout
# (tests/vlm/hub_server.py), with a random reduced model in the official
# layout; every refusal leaves the model cache as it was.  Loopback only.
set -uo pipefail
rc=0
PY=/usr/bin/python3
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-/tmp}/63-install
rm -rf "$T" && mkdir -p "$T"
export VKV_MODEL_CACHE=$T/cache VKV_MODELS_DIR=$T/models VKV_VAR_DIR=$T/var
unset VKV_CONFIG_FILE HF_TOKEN
ADM=$BIN/vkv-admin
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; rc=1; }

# a reduced random model in the official layout, both tokenizer shapes
S=$T/src && mkdir -p "$S"
if ! "$PY" tests/ref/moondream_ref.py --config tests/ref/md2_small.json \
       --parts text,vision,region --save "$S/model.safetensors" >/dev/null; then
  echo "not ok - moondream_ref.py could not write the random model"; exit 1
fi
cp tests/ref/md2_small.json "$S/config.json"
"$PY" tests/ref/md_tok_gen.py starmie "$S/tokenizer.json" &&
  "$PY" tests/ref/md_tok_gen.py gpt2 "$T/gpt2.json" || { echo "not ok - md_tok_gen.py"; exit 1; }
SHA=$(sha256sum "$S/model.safetensors" | cut -d' ' -f1)
BAD=$(printf '%064d' 0)

# expect CODE CMD...: exit 1 and the machine code on stderr, nothing installed
expect() {
  local code=$1 what=$2; shift 2
  local before; before=$(cat "$VKV_MODEL_CACHE/moondream2/install.json" 2>/dev/null | md5sum)
  if "$@" >"$T/out" 2>"$T/err"; then
    nok "$what: accepted"; return
  fi
  local after; after=$(cat "$VKV_MODEL_CACHE/moondream2/install.json" 2>/dev/null | md5sum)
  if grep -q "($code)" "$T/err" && [[ $before == "$after" ]] &&
     ! ls -d "$VKV_MODEL_CACHE"/.moondream2.install-* >/dev/null 2>&1; then
    ok "$what: refused with $code, the cache unchanged"
  else
    nok "$what: expected $code and an unchanged cache"; cat "$T/err"
  fi
}

expect unpinned_revision "install without a pinned or given SHA-256" \
  "$ADM" model install moondream2 "$S"
[[ ! -e $VKV_MODEL_CACHE/moondream2 ]] || nok "a refused install left files"
expect sha256_mismatch "install with the wrong --sha256" \
  "$ADM" model install moondream2 "$S" --sha256 "$BAD"
expect unknown_model "install of a model other than moondream2" \
  "$ADM" model install nsfw "$S"
# 2025-06-21 with the GPT-2 tokenizer of its own repository
W=$T/wrongtok && mkdir -p "$W" && ln "$S/model.safetensors" "$W/" && cp "$T/gpt2.json" "$W/tokenizer.json"
echo 2025-06-21 >"$W/revision"
expect wrong_tokenizer "2025-06-21 with GPT-2's tokenizer.json" \
  "$ADM" model install moondream2 "$W" --unpinned
grep -q 'moondream/starmie-v1' "$T/err" && ok "the refusal names starmie-v1's tokenizer.json" ||
  nok "the refusal does not name starmie-v1"
# weights that are not Moondream 2
N=$T/notmd && mkdir -p "$N" && cp "$S/tokenizer.json" "$N/"
"$PY" - "$N/model.safetensors" <<'EOF'
import json, struct, sys
h = json.dumps({"conv.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"\0" * 8)
EOF
expect not_moondream2 "weights with a tensor outside vision/text/region" \
  "$ADM" model install moondream2 "$N" --unpinned
head -c 1000 "$S/model.safetensors" >"$N/model.safetensors"
expect invalid_safetensors "truncated weights" "$ADM" model install moondream2 "$N" --unpinned
expect unsupported_revision "an unknown --revision" \
  "$ADM" model install moondream2 "$S" --revision 2024-08-26 --unpinned

# accepted: the operator's digest, then a pinned one
if "$ADM" model install moondream2 "$S" --sha256 "$SHA" --weights f32 >"$T/out" 2>"$T/err" &&
   grep -q '"verified": "operator"' "$VKV_MODEL_CACHE/moondream2/install.json" &&
   cmp -s "$S/model.safetensors" "$VKV_MODEL_CACHE/moondream2/model.safetensors" &&
   [[ $(cat "$VKV_MODEL_CACHE/moondream2/revision") == 2025-06-21 ]] &&
   grep -q '"weights": "f32"' "$VKV_MODELS_DIR/moondream2.json" &&
   grep -q '"format": "moondream2"' "$VKV_MODELS_DIR/moondream2.json"; then
  ok "install with the operator's --sha256: files, revision, install.json and manifest"
else
  nok "install with --sha256"; cat "$T/err"
fi
grep -q 'sha256 model.safetensors' "$T/err" && ok "install prints progress" || nok "no progress lines"
echo "{\"2025-06-21\": {\"sha256\": \"$SHA\"}}" >"$T/pins.json"
echo "{\"2025-06-21\": {\"sha256\": \"$BAD\"}}" >"$T/badpins.json"
if "$ADM" model install moondream2 "$S" --pins "$T/pins.json" --copy >/dev/null 2>"$T/err" &&
   grep -q '"verified": "pinned"' "$VKV_MODEL_CACHE/moondream2/install.json"; then
  ok "install against a pinned digest (--pins), copied"
else
  nok "install with a pinned digest"; cat "$T/err"
fi
expect sha256_mismatch "install against a different pinned digest" \
  "$ADM" model install moondream2 "$S" --pins "$T/badpins.json"
if "$ADM" model list | "$PY" -c 'import json,sys; j=json.load(sys.stdin); assert j[0]["revision"]=="2025-06-21" and j[0]["verified"]=="pinned", j'; then
  ok "model list shows the installed revision and how it was verified"
else
  nok "model list"
fi

# the installed directory is one the loader opens (lavapipe)
source tests/lib/vk_icd.sh
vk_icd_default
if timeout 300 "$BIN/vkv" md caption "$VKV_MODEL_CACHE/moondream2" var/testdata/images/grace_hopper.jpg \
     --weights f32 --max-tokens 3 --temperature 0 >"$T/cap.json" 2>"$T/err" &&
   grep -q '"revision": *"2025-06-21"' "$T/cap.json"; then
  ok "vkv md captions with the installed model"
else
  nok "vkv md on the installed model"; tail -3 "$T/err"
fi

# fetch from a loopback hub
PF=$T/hub.port
"$PY" tests/vlm/hub_server.py "$PF" "$S/model.safetensors" "$S/tokenizer.json" "$T/gpt2.json" &
HUB=$!
trap 'kill $HUB 2>/dev/null' EXIT
for _ in $(seq 1 100); do [[ -s $PF ]] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat "$PF")
rm -rf "$VKV_MODEL_CACHE/moondream2"
if "$ADM" model fetch moondream2 --hub "$URL" --weights i8 >"$T/out" 2>"$T/err" &&
   grep -q '"verified": "hub"' "$VKV_MODEL_CACHE/moondream2/install.json" &&
   grep -q '"commit": "9a7d4024050840e001defacec2b00727e89149e6"' "$VKV_MODEL_CACHE/moondream2/install.json" &&
   cmp -s "$S/tokenizer.json" "$VKV_MODEL_CACHE/moondream2/tokenizer.json" &&
   cmp -s "$S/model.safetensors" "$VKV_MODEL_CACHE/moondream2/model.safetensors"; then
  ok "fetch: the pinned commit, weights verified by the hub's digest, starmie-v1's tokenizer"
else
  nok "fetch from the loopback hub"; cat "$T/err"
fi
echo corrupt >"$PF.mode"
expect sha256_mismatch "fetch of weights that differ from the hub's digest" \
  "$ADM" model fetch moondream2 --hub "$URL"
rm -f "$PF.mode"
echo cut >"$PF.mode"
rm -rf "$VKV_MODEL_CACHE"/.moondream2.fetch-*
expect hub_unreachable "fetch cut halfway" "$ADM" model fetch moondream2 --hub "$URL"
if "$ADM" model fetch moondream2 --hub "$URL" >"$T/out" 2>"$T/err" && grep -q resuming "$T/err" &&
   grep -q '"verified": "hub"' "$VKV_MODEL_CACHE/moondream2/install.json"; then
  ok "a second fetch resumes the cut download and installs"
else
  nok "resumed fetch"; cat "$T/err"
fi
expect hub_not_found "fetch of a revision the hub does not have" \
  "$ADM" model fetch moondream2 --hub "$URL" --revision 2025-04-14
echo moved >"$PF.mode"
echo '{"2025-06-21": {"commit": "1111111111111111111111111111111111111111"}}' >"$T/movedpins.json"
expect revision_moved "fetch when the hub's commit differs from the pinned one" \
  "$ADM" model fetch moondream2 --hub "$URL" --pins "$T/movedpins.json"
rm -f "$PF.mode"
expect hub_unreachable "fetch from a hub that is not there" \
  "$ADM" model fetch moondream2 --hub http://127.0.0.1:9
kill $HUB 2>/dev/null
exit $rc
