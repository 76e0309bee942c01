#!/usr/bin/env bash
# Moondream 2 (vlm/) at full size with random weights in the official
# layout (tests/ref/moondream_ref.py, bf16, all of vision + text + region,
# 1.93 B parameters; written once into var/bench/md2-full/, ~3.9 GB), on the
# first Vulkan device (lavapipe when there is no GPU): for each weight
# format, load time and device bytes, then a short caption of a small photo
# (any side <= 378 px: 2 crops) capped at VLM_TOKENS tokens (random weights
# never say eos, so exactly that many): vision encoder ms per crop, the
# [bos] + 729-position image prefill, prompt + decode ms per token.
# Reference in the same run: the decode step's weight bytes per token over
# its time, against the copy bandwidth vkv-tf-bench measures (micro copy).
# Knobs: VLM_WEIGHTS ("i8 q4"), VLM_TOKENS (64), VLM_IMAGE.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
PY=/usr/bin/python3
source tests/lib/vk_icd.sh
vk_icd_default
export VKV_VAR_DIR=${VKV_TEST_TMP:-/tmp}/vlm-bench-var
# one command buffer runs the whole vision encoder: minutes on lavapipe at full size
export VKV_RT_TIMEOUT_MS=${VKV_RT_TIMEOUT_MS:-1800000}
D=var/bench/md2-full
mkdir -p "$D"
if [[ ! -s $D/model.safetensors ]]; then
  echo "# writing full-size random weights into $D (once)"
  "$PY" tests/ref/moondream_ref.py --parts text,vision,region --dtype bf16 \
    --save "$D/model.safetensors.tmp" && mv "$D/model.safetensors.tmp" "$D/model.safetensors" ||
    { echo "bench vlm: weights not written"; exit 1; }
fi
[[ -s $D/tokenizer.json ]] || "$PY" tests/ref/md_tok_gen.py starmie "$D/tokenizer.json"
echo 2025-06-21 >"$D/revision"
IMG=${VLM_IMAGE:-var/testdata/images/chelsea.png}
rc=0
for w in ${VLM_WEIGHTS:-i8 q4}; do
  out=$("$BIN/vkv" md caption "$D" "$IMG" --length short --max-tokens "${VLM_TOKENS:-64}" \
        --weights "$w") || { echo "bench vlm: vkv md ($w) failed"; rc=1; continue; }
  "$PY" - "$w" "$out" <<'PYEOF'
import json, sys
w, r = sys.argv[1], json.loads(sys.argv[2])
m, n = r["metrics"], len(r["tokens"])
print(json.dumps({"bench": "moondream2_caption", "weights": w, "load_ms": round(m["load_ms"]),
                  "device_mib": round(m["device_bytes"] / 2**20), "crops": m["crops"],
                  "vision_ms_per_crop": round(m["vision_ms"] / m["crops"]),
                  "image_prefill_ms": round(m["prefix_ms"]), "tokens": n,
                  "generate_ms": round(m["generate_ms"]),
                  "ms_per_token": round(m["generate_ms"] / max(n, 1), 1),
                  "caption_end_to_end_ms": round(m["total_ms"])}))
PYEOF
done
exit $rc
