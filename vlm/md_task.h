/*
 * md_task.h: Moondream 2 tasks on a model directory (prefix mdt_): the
 * revision and its tokenizer, prompts per revision, caption (short /
 * normal / long), query (with or without reasoning), detect and point, and
 * the result JSON.  A model directory holds:
 *
 *   model.safetensors   the official 2025 weights (bf16), required
 *   tokenizer.json      the tokenizer of the revision, required:
 *                       2025-06-21: moondream/starmie-v1's tokenizer.json
 *                       2025-01-09 .. 2025-04-14: vikhyatk/moondream2's own
 *   config.json         optional, the published config form (md2.h)
 *   revision            optional, one line: 2025-06-21, 2025-04-14, ...
 *                       (else read from moondream.py when present, else
 *                       from the tokenizer)
 *
 * The 2025-06-21 revision's own repository ships the older GPT-2
 * tokenizer.json, which that revision no longer uses: given with it,
 * mdt_open fails naming the file that is needed.
 *
 * The last image is kept (its KV snapshot): a second request on the same
 * pixels skips the vision encoder and the prefix prefill.  One thread at a
 * time per model.
 */
#ifndef VKV_MD_TASK_H
#define VKV_MD_TASK_H

#include "vlm/md2.h"
#include "vlm/md_rev.h"

#include <jansson.h>

struct mdt_model;

/*
 * Opens dir (files above) on d with linears in wtype (enum rt_tf_wtype).
 * Returns 0 and *out (free with mdt_close), or <0 with e set: a missing
 * file, the wrong tokenizer for the revision, an unknown revision, a
 * tensor missing or misshapen.
 */
int mdt_open(struct rt_device *d, const char *dir, int wtype, struct mdt_model **out,
             struct err *e);
void mdt_close(struct mdt_model *m);
/* "2025-06-21" or the legacy revision named (static / borrowed) */
const char *mdt_revision(const struct mdt_model *m);
/* enum mdr_rev */
int mdt_rev(const struct mdt_model *m);
/*
 * Bounds the device bytes of the weights and the kept image together
 * (max_bytes 0: no limit).  Returns 0, or RT_ERR_OOM (transient, e set)
 * when the weights alone reach it; a later image whose KV cache and
 * activations do not fit in what is left fails its mdt_run with RT_ERR_OOM.
 */
int mdt_limit(struct mdt_model *m, uint64_t max_bytes, struct err *e);
/* device bytes of the weights and the kept image (KV cache, activations) */
uint64_t mdt_device_bytes(const struct mdt_model *m);
struct md2 *mdt_md2(struct mdt_model *m);

struct mdt_req {
    const char *task;     /* "caption", "query", "detect", "point" */
    const char *length;   /* caption: "short", "normal" (NULL), "long" */
    const char *question; /* query */
    const char *object;   /* detect, point */
    int reasoning;        /* query: think first (2025-06-21 only) */
    float temperature;    /* 0: greedy */
    float top_p;          /* 1: no nucleus cut */
    uint32_t max_tokens;  /* 0: 768 */
    uint32_t max_objects; /* 0: 50 */
    uint64_t seed;
    /* streaming: called with each piece of answer text (complete UTF-8
     * characters); non-zero stops */
    int (*on_text)(void *ud, const char *text);
    void *ud;
    const volatile int *cancel;
    /* called after every generated token with the answer so far: text[0..
     * len) (complete UTF-8 characters) and its ids, resumed ones included;
     * while reasoning with text NULL and the reasoning's ids (a suspended
     * reasoning cannot resume: it starts over).  Non-zero stops at this
     * token boundary with finish_reason "suspended".  May be NULL. */
    int (*on_step)(void *ud, const char *text, size_t len, const uint32_t *ids, uint32_t n);
    /* answer tokens an earlier, suspended run of this request generated:
     * prefilled after the prompt and kept at the head of the answer, so the
     * run continues (caption and query without reasoning; ignored
     * otherwise).  Borrowed; ids must be < the vocabulary. */
    const uint32_t *resume;
    uint32_t n_resume;
};

/*
 * Runs r on an RGB8 image (w x h, borrowed).  *result receives a new JSON
 * object: caption {"caption", "tokens", "finish_reason"}, query {"answer",
 * "tokens", "finish_reason"} (+ "reasoning", "reasoning_tokens"), detect
 * {"objects": [{x_min, y_min, x_max, y_max}]}, point {"points": [{x, y}]}.
 * Returns 0, or <0 with e (bad request fields: RT_ERR_INVALID, 400).
 */
int mdt_run(struct mdt_model *m, const uint8_t *rgb, int w, int h, const struct mdt_req *r,
            json_t **result, struct err *e);

/* an image of a batch: RGB8, w x h, borrowed */
struct mdt_image {
    const uint8_t *rgb;
    int w, h;
};
#define MDT_MAX_BATCH 8
/*
 * Runs n requests (n <= MDT_MAX_BATCH) as mdt_run would one by one, the
 * captions and queries without reasoning decoding together: each gets its
 * own image state (the first keeps the model's last image), its prompt is
 * prefilled, then every decode step runs all of them at once
 * (rt_dec_generate_batch; a sequence that ends leaves the batch).  Greedy
 * answers equal mdt_run's.  The rest (detect, point, reasoning, an image
 * state over the device memory) run one by one after.  Each result[i] (new
 * JSON, "metrics" with "batch": the sequences decoded together) or errs[i]
 * (status < 0: that request's own error).  Returns 0, or <0 with e for what
 * ends them all (RT_ERR_OOM, RT_ERR_DEVICE_LOST); results are NULL then.
 */
int mdt_run_batch(struct mdt_model *m, int n, const struct mdt_image *img, const struct mdt_req *r,
                  json_t **result, struct err *errs, struct err *e);

#endif
