/*
 * adm_model.h: `vkv-admin model`, installing Moondream 2 into the model
 * cache (prefix adm_model_).
 *
 * install: a directory the operator downloaded (model.safetensors,
 * tokenizer.json, optional config.json and revision) is checked (the
 * safetensors header and its tensor names, the revision and its tokenizer
 * by the loader's own rule, vlm/md_rev.h, the SHA-256 of the weights) and
 * placed at $VKV_MODEL_CACHE/moondream2/ in one rename, with install.json
 * saying what was verified; the manifest goes to $VKV_MODELS_DIR.
 *
 * fetch: the same from a model hub (Hugging Face's HTTP layout: the
 * revision API for the commit and the weights' SHA-256, then resolve/ URLs),
 * resumable, verified against the hub's digest and any pinned one.
 */
#ifndef VKV_ADM_MODEL_H
#define VKV_ADM_MODEL_H

#include "common/err.h"

/* `vkv-admin model ARGS...` (argv[0] = "model"); returns the exit status */
int adm_model_main(int argc, char **argv);

#endif
