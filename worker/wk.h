/*
 * wk.h: vkv-worker's internal interfaces (the worker is a program; nothing
 * outside worker/ includes this header).
 *
 * Layers, each testable on its own (tests/unit/test_wk.c drives the first
 * two with a fake engine that can be told to run out of memory):
 *
 *   wk_res    model residency: load on first use, LRU eviction inside a
 *             VRAM budget, load/unload counts and timings, bytes per model.
 *             Works over an abstract engine (struct wk_engine_ops).
 *   wk_batch  one claimed batch of jobs for one model: acquire the model,
 *             run it as one batch (in chunks of the loaded batch size),
 *             out-of-memory policy (evict and retry, halve, then give the
 *             jobs back as transient failures), cancel checkpoints.
 *   wk_eng_rt the real engine over the runtime (runtime/rt.h,
 *             tasks/rt_task.h): decode, preprocess, infer, postprocess.
 *   wk_main   the daemon: configuration, device, PostgreSQL, LISTEN/poll,
 *             claim, heartbeat thread, status, signals, exit codes.
 *
 * See worker/README.md.
 */
#ifndef VKV_WK_H
#define VKV_WK_H

#include "common/err.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* status codes: 0 ok, negative errors */
enum wk_status {
    WK_OK = 0,
    WK_ERR = -1,             /* generic; details in struct err */
    WK_ERR_OOM = -2,         /* device memory exhausted (load or run) */
    WK_ERR_DEVICE_LOST = -3, /* fatal to the process */
    WK_ERR_INPUT = -4,       /* one job's input is invalid (permanent) */
    WK_ERR_CANCELED = -5,    /* the job was canceled at a checkpoint */
    WK_SUSPENDED = -6,       /* a generation gave way to a higher tier (handed back) */
};

const char *wk_status_str(int status);

/* process exit codes (worker/README.md) */
enum {
    WK_EXIT_OK = 0,          /* SIGTERM/SIGINT: batch finished, leases released */
    WK_EXIT_CONFIG = 1,      /* bad configuration or command line */
    WK_EXIT_NO_DEVICE = 2,   /* the requested Vulkan device does not exist */
    WK_EXIT_DEVICE_LOST = 3, /* VK_ERROR_DEVICE_LOST: restart me */
    WK_EXIT_DB = 4,          /* PostgreSQL unusable for longer than allowed */
    WK_EXIT_INTERNAL = 5,    /* anything else that stops the loop */
};

#define WK_MODEL_NAME_LEN 64
#define WK_MAX_MODELS 64
#define WK_MAX_BATCH 256

/* ---- one job's input and outcome inside a batch ---- */

struct wk_item {
    /* in (borrowed from the claimed job, valid for the batch) */
    int64_t job_id;
    const unsigned char *input;
    size_t input_len;
    const char *params_json; /* may be NULL */
    /* in, optional: pixels already decoded (RGB8, rgb_w * rgb_h * 3 bytes,
     * borrowed); when set the engine runs them instead of decoding input,
     * so wk_analyze decodes a photo once for all its models */
    const unsigned char *rgb;
    int rgb_w, rgb_h;
    /* in, optional: an engine that generates text calls step after every
     * token with the answer so far (text[0..len), complete UTF-8
     * characters; NULL while reasoning) and its token ids.  Non-zero stops
     * the generation at this token boundary: the item ends WK_SUSPENDED
     * with resume_json.  Main thread; the item's job is in hand. */
    int (*step)(void *arg, struct wk_item *it, const char *text, size_t len, const uint32_t *ids,
                uint32_t n);
    void *step_arg;
    /* out */
    int status;        /* WK_OK, WK_ERR_INPUT, WK_ERR_OOM, WK_ERR_CANCELED, WK_SUSPENDED, WK_ERR */
    struct err err;    /* when status != WK_OK */
    char *result_json; /* new string, caller frees with free() */
    char *resume_json; /* WK_SUSPENDED: the answer's ids as a JSON array (new string, caller
                          frees), or NULL to start over */
    /* an image result (upscale): new buffer, caller frees with free(); its
     * MIME type is a static string; NULL/0 for JSON-only results */
    uint8_t *result_bytes;
    size_t result_len;
    const char *result_type;
    double decode_ms; /* decode + preprocess of this item */
    double infer_ms;  /* the batch's inference time (shared) */
    double post_ms;   /* postprocess of this item */
    int batch_size;   /* size of the chunk this item ran in */
    int done;         /* outcome decided */
};

/* ---- the engine: what the residency manager and the batch runner drive ---- */

struct wk_engine_ops {
    /*
     * Loads `model` for batches of up to max_batch images using at most
     * limit_bytes of device memory (0 = no limit).  Returns WK_OK with
     * *handle and *bytes (device bytes the loaded model holds), WK_ERR_OOM
     * when it does not fit, WK_ERR_DEVICE_LOST, or WK_ERR with e filled
     * (e->transient says whether another try may succeed).
     */
    int (*load)(void *ctx, const char *model, int max_batch, size_t limit_bytes, void **handle,
                size_t *bytes, struct err *e);
    /* releases a loaded model; handle may be NULL; cannot fail */
    void (*unload)(void *ctx, void *handle);
    /*
     * Runs items[0..n) (n <= the loaded max_batch) as one batch.  Items
     * whose own input is bad get status WK_ERR_INPUT and do not stop the
     * others.  Returns WK_OK (each item filled: result or its own error),
     * WK_ERR_OOM (no item filled), WK_ERR_DEVICE_LOST, or WK_ERR with e.
     */
    int (*run)(void *ctx, void *handle, int n, struct wk_item *items, struct err *e);
    /* (optional) device bytes in use by everything on the device, or 0 */
    size_t (*device_used)(void *ctx);
    /*
     * (optional) device bytes a loaded model holds now, for a model whose
     * working memory grows after load (Moondream's KV cache of the kept
     * image); called after each run; cannot fail
     */
    size_t (*model_bytes)(void *ctx, void *handle);
};

/* what the status heartbeat reports about the device (engine-filled) */
struct wk_devinfo {
    char name[256];
    char driver[256];
    char uuid[40];
    char type[16];
    uint32_t vendor_id, device_id;
    int index;
    uint64_t vram_total;  /* DEVICE_LOCAL heaps */
    int has_budget;       /* VK_EXT_memory_budget present */
    uint64_t heap_budget; /* from VK_EXT_memory_budget */
    uint64_t heap_usage;  /* from VK_EXT_memory_budget, at query time */
};

/* an engine instance: its ops, its state and the models it can run */
struct wk_engine {
    const struct wk_engine_ops *ops;
    void *ctx;
    const char *kind; /* "vulkan" or "test" */
    int n_models;
    char models[WK_MAX_MODELS][WK_MODEL_NAME_LEN];
    int model_batch[WK_MAX_MODELS]; /* batch limit per model */
    /* 1: the model generates text token by token (its jobs run one tier
     * at a time: a claimed job below the batch's highest tier is handed
     * back at once, uncharged) */
    int model_gen[WK_MAX_MODELS];
    /* refreshes *d (budget/usage change); cannot fail */
    void (*devinfo)(void *ctx, struct wk_devinfo *d);
    /* releases the engine (models must be unloaded first) */
    void (*destroy)(void *ctx);
};

/*
 * The test engine (worker/wk_eng_test.c, `vkv-worker --engine test`): no
 * device; a model "weighs" test_model_mb; a batch takes delay_ms; the
 * result is {"model","task","input_bytes","fnv1a"} of the input.  For the
 * queue/lease tests that must hold a job mid-run for a known time; never a
 * silent fallback for the Vulkan engine.  Models: names[0..n).
 */
int wk_eng_test_init(struct wk_engine *eng, const char *const *names, int n, int batch,
                     int delay_ms, int model_mb, int device_mb, struct err *e);

/*
 * The Vulkan engine (worker/wk_eng_rt.c): creates the device chosen by
 * selector (index, UUID or name substring) and registers every model of
 * models_dir whose task the runtime can run and whose files are present.
 * Returns WK_OK, or WK_ERR with e filled (no such device: e->code
 * "no_device").
 */
int wk_eng_rt_init(struct wk_engine *eng, const char *selector, const char *models_dir, int batch,
                   struct err *e);

/*
 * Moondream 2 in the Vulkan engine (worker/wk_eng_md.c, over vlm/md_task.h):
 * a manifest with "format": "moondream2" names a model directory
 * VKV_MODEL_CACHE/<name>/ (vlm/README.md) and "weights" (f32, f16, i8, q4;
 * default i8).  Each job's params carry "task" (caption, query, detect,
 * point) and the request's fields.  The captions and queries (without
 * reasoning) of a batch decode together, one decode step for all of them
 * (batched decoding, mdt_run_batch; the batch limit is the manifest's
 * "batch_limit", default 1, at most wk_md_batch_max()); detect, point and
 * reasoning run one at a time.  A caption or query calls the item's step hook after every token
 * (streaming, and the preemption test at token boundaries); params "resume_tokens" (set by
 * jq_job_suspend) continue a suspended answer.
 */
struct rt_device;
/*
 * loads dir on dev within limit device bytes (0: none) for the weights and
 * the kept image together; WK_OK with *handle and *bytes, WK_ERR_OOM, or
 * WK_ERR
 */
int wk_md_load(struct rt_device *dev, const char *dir, const char *weights, size_t limit,
               void **handle, size_t *bytes, struct err *e);
void wk_md_unload(void *handle);
/* device bytes of the weights and the kept image now */
size_t wk_md_bytes(void *handle);
/* runs items (a bad input fails only its item); WK_OK or a batch error */
int wk_md_run(void *handle, const void *img_limits, int n, struct wk_item *items, struct err *e);
/* the most jobs that decode together; cannot fail */
int wk_md_batch_max(void);

/*
 * Upscale jobs in the Vulkan engine (worker/wk_eng_up.c, over
 * tasks/rt_task_upscale.h): each item upscaled in tiles and encoded as its
 * params ask ({"format": "png"|"webp"|"jpeg", "quality"}); the encoding is
 * the item's result_bytes, at most max_result bytes (else the item fails
 * with result_too_large).  img_limits is a struct img_limits (the decode
 * limits).  WK_OK (every item filled: result or its own error), or
 * WK_ERR_OOM / WK_ERR_DEVICE_LOST / WK_ERR with e and no item filled.
 */
struct rt_task_model;
int wk_up_run(struct rt_task_model *m, const void *img_limits, size_t max_result, int n,
              struct wk_item *items, struct err *e);
/* reads an upscale job's params: *format an enum imgenc_format, *quality;
 * WK_OK or WK_ERR_INPUT with e ("invalid_params") */
int wk_up_params(const char *params_json, int *format, int *quality, struct err *e);

/* ---- wk_res: residency ---- */

struct wk_res_model {
    char name[WK_MODEL_NAME_LEN];
    void *handle;       /* NULL when not resident */
    size_t bytes;       /* device bytes while resident */
    int max_batch;      /* batch size it was loaded for */
    uint64_t last_used; /* LRU clock */
    int in_use;         /* pinned by the batch running on it */
    long loads, unloads, evictions, oom_events;
    double load_ms_total, last_load_ms, unload_ms_total;
};

struct wk_res {
    const struct wk_engine_ops *ops;
    void *ctx;
    size_t budget; /* bytes resident models may hold */
    struct wk_res_model models[WK_MAX_MODELS];
    int n_models; /* entries used (resident or not) */
    uint64_t clock;
    long loads, unloads, evictions, oom_events, load_failures;
    double load_ms_total, unload_ms_total;
    pthread_mutex_t mu; /* guards everything for wk_res_json() readers */
};

/* initialises r over the engine; budget in bytes (> 0); cannot fail */
void wk_res_init(struct wk_res *r, const struct wk_engine_ops *ops, void *ctx, size_t budget);
/* unloads every resident model; r stays usable */
void wk_res_free(struct wk_res *r);

/*
 * Makes `model` resident for batches of up to max_batch and pins it
 * (wk_res_release unpins).  Not resident: loads it within the budget;
 * out of memory: evicts the least recently used unpinned model and retries,
 * then halves max_batch down to 1.  Returns WK_OK with *out (borrowed;
 * valid until wk_res_release), WK_ERR_OOM with e filled (transient) when it
 * cannot fit even alone at batch 1, WK_ERR_DEVICE_LOST, or the engine's
 * error.  Main thread only.
 */
int wk_res_acquire(struct wk_res *r, const char *model, int max_batch, struct wk_res_model **out,
                   struct err *e);
/* unpins a model acquired by wk_res_acquire */
void wk_res_release(struct wk_res *r, struct wk_res_model *m);
/* evicts the LRU unpinned model other than keep; returns 1 if one went */
int wk_res_evict_one(struct wk_res *r, const struct wk_res_model *keep);
/* unloads m (it must not be pinned); counts an eviction when evict */
void wk_res_unload(struct wk_res *r, struct wk_res_model *m, int evict);
/* bytes held by resident models */
size_t wk_res_used(struct wk_res *r);
/* counts an out-of-memory event at run time against m */
void wk_res_note_oom(struct wk_res *r, struct wk_res_model *m);

/*
 * Returns a new JSON object text describing residency (caller frees with
 * free()): {"budget_bytes","used_bytes","loads","unloads","evictions",
 * "oom_events","load_ms_total","unload_ms_total","models":[{"model",
 * "bytes","max_batch","loads","unloads","evictions","last_load_ms"}]}.
 * Thread-safe (the heartbeat thread calls it).
 */
char *wk_res_json(struct wk_res *r);

/* ---- wk_batch: one batch ---- */

/*
 * Called between chunks (a checkpoint): marks canceled items
 * (status = WK_ERR_CANCELED, done = 1) and returns 1 when the worker must
 * stop the batch now (nothing more is started; unfinished items get
 * WK_ERR_CANCELED too and are released by the caller).  May be NULL.
 */
typedef int (*wk_checkpoint_fn)(void *arg, int n, struct wk_item *items);

/*
 * Runs items[0..n) of `model` as one batch (chunks of at most the loaded
 * batch size).  Out of memory at load: as wk_res_acquire.  Out of memory at
 * run: evicts every other unpinned model and retries, then halves the chunk
 * down to 1; an item that cannot run even alone gets WK_ERR_OOM with a
 * transient error (the caller requeues it for another device).  Every item
 * ends with done = 1.  Returns WK_OK, or WK_ERR_DEVICE_LOST (items not yet
 * done are left undone: the caller must not complete them).
 */
int wk_batch_run(struct wk_res *r, const char *model, int max_batch, int n, struct wk_item *items,
                 wk_checkpoint_fn cp, void *cp_arg);

/* ---- wk_analyze: several models on one decoded image ---- */

/* the model name analyze jobs are queued under (task "analyze") */
#define WK_ANALYZE_MODEL "analyze"
/* sub-tasks of one analyze job */
#define WK_ANALYZE_MAX_PARTS 8
/* what an analyze job's caption part asks the captioner (Moondream 2) when its params
 * carry no "caption" options (the published sampling defaults) */
#define WK_ANALYZE_CAPTION_PARAMS "{\"task\":\"caption\",\"length\":\"short\"}"
/* at most this many caption words become tags */
#define WK_CAPTION_TAGS 16
/* face-attribute tags (faces part): gender:<g> from this gender_score
 * (|2p-1|: p >= 0.75), expression:<e> from this emotion probability; age
 * brackets child < 13 <= teen < 20 <= adult < 65 <= senior (years) */
#define WK_TAG_GENDER_MIN 0.5
#define WK_TAG_EMOTION_MIN 0.5
#define WK_AGE_TEEN 13.0
#define WK_AGE_ADULT 20.0
#define WK_AGE_SENIOR 65.0
/* decoded pixels one analyze run holds at once; more photos run in turns */
#define WK_ANALYZE_DECODED_MAX ((size_t)256 << 20)

/*
 * Runs n analyze jobs (model WK_ANALYZE_MODEL).  Each job's params are
 * {"tasks": [task, ...], "models": {task: model}} (completed by vkv-api).
 * Each image is decoded once; then every (task, model) pair runs as one
 * wk_batch_run over the decoded pixels of the jobs that ask for it (so the
 * residency and out-of-memory policy are the ones of single-model jobs).
 * A job's result is {"model": "analyze", "tasks": [...], "results": {task:
 * the model's own result | {"model", "error": {"code", "message"}}},
 * "failed": [tasks], "tags": [...], "tag_details": [...], "image": {width,
 * height}, "timings_ms": {"decode", task: inference ms}}: a model that fails
 * (or is not installed on this worker) leaves its error in its slot and the
 * other results stand; the job fails only when every part failed (with the
 * first part's error).  A part canceled at a checkpoint cancels the job.
 * eng gives the models this worker runs and their batch limits (capped by
 * max_batch).  The decoded photos held at once stay within decoded_max
 * bytes (WK_ANALYZE_DECODED_MAX; one photo at least): jobs beyond run in
 * later turns, each turn as above.  Every item ends done, except after a lost device
 * (WK_ERR_DEVICE_LOST returned, as wk_batch_run).
 */
int wk_analyze_run(struct wk_res *r, const struct wk_engine *eng, int max_batch, size_t decoded_max,
                   int n, struct wk_item *items, wk_checkpoint_fn cp, void *cp_arg);

/*
 * The tags of an analyze result's "results" object (borrowed), by the rule
 * in worker/README.md: classify -> its top label lowercased (+ "nsfw" when
 * that is Porn, Hentai or Sexy); detect -> each object label once, most
 * frequent first; detect_faces -> "face" when any; faces -> "face", then
 * "gender:<g>" (gender_score >= WK_TAG_GENDER_MIN), "age:<bracket>"
 * (child, teen, adult, senior: WK_AGE_*), "expression:<emotion>"
 * (emotion_score >= WK_TAG_EMOTION_MIN), each group most faces first; ocr
 * -> "text" when it read any line (count: lines); tag -> the tagger's tags
 * as it chose them, then "rating:<its rating>" (+ "nsfw" when explicit or
 * questionable); caption -> the caption's words (lowercased, no stopwords,
 * 3 bytes or more, at most WK_CAPTION_TAGS).  Each tag once, the first
 * source wins.  Returns a new array of strings in *tags and a new array of
 * {"tag", "source", "count", "score"} in *details ("score" absent for
 * caption words) (caller decrefs both).  Cannot fail.
 */
void wk_analyze_tags(const json_t *results, json_t **tags, json_t **details);

#endif
