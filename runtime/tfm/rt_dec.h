/*
 * rt_dec.h: a decoder-only language model on the device (prefix rt_dec_):
 * Phi-shaped blocks as in Moondream 2's text model (one LayerNorm per
 * block, attention and MLP in parallel on it, fused QKV with bias, rotary
 * embedding on the first rot_dim dims of each head, tanh-GELU MLP, final
 * LayerNorm, lm_head with bias), the decoding loop and its statistics.
 *
 *   rt_dec_init(dev, &cfg, RT_TF_I8, &m, &e);
 *   rt_dec_tensor_set(m, "blocks.0.attn.qkv.weight", data, n, &e); ...   (every tensor)
 *   rt_dec_ready(m, &e);
 *   rt_dec_run_init(m, max_len, max_prefill, budget, &r, &e);     (per request)
 *   rt_dec_prefill(r, ids, NULL, t, prefix, logits, &e);
 *   rt_dec_generate(r, logits, &gen, out, cap, &n, &e);
 *
 * The decode step is recorded once per run and replayed for every token:
 * the token id and position are written into small host-visible buffers
 * that the kernels read (no re-recording, no push constants per token).
 * A model and its runs are used by one thread at a time.
 */
#ifndef VKV_RT_DEC_H
#define VKV_RT_DEC_H

#include "runtime/tfm/rt_kv.h"

struct rt_dec_config {
    uint32_t dim, n_layers, n_heads, ff_dim, vocab, max_context, rot_dim;
    float rope_theta, ln_eps;
    int kv_f16; /* 1: the KV cache holds IEEE halves (half the bytes); 0: fp32 */
};

/* Moondream 2's text model: 2048, 24 layers, 32 heads, ff 8192, vocab
 * 51200, context 2048, rotary 32 of 64, theta 10000, eps 1e-5 */
struct rt_dec_config rt_dec_config_moondream2(void);

struct rt_dec;
struct rt_dec_run;

/*
 * Creates an empty model on d: weights of the blocks and lm_head stored as
 * wtype (enum rt_tf_wtype), the embedding table as f32 (wtype f32), i8
 * (i8) or f16 (f16, q4).  Head size dim/n_heads must be 64 or 72; limits:
 * dim <= 16384 and ff_dim multiples of 32, ff_dim <= 65536, vocab <= 2^20,
 * layers <= 256, context <= 4096 (RT_ERR_INVALID / RT_UNSUPPORTED otherwise).
 * Returns 0 and a new model in *out (caller frees with rt_dec_free after
 * its runs), or <0 with e set.
 */
int rt_dec_init(struct rt_device *d, const struct rt_dec_config *c, int wtype, struct rt_dec **out,
                struct err *e);
void rt_dec_free(struct rt_dec *m);

/*
 * Sets one tensor from n floats (borrowed for the call; nothing full-size
 * is kept on the host): names as Moondream 2's text model, with or without
 * the "model.text." prefix: wte, blocks.{i}.ln.{weight,bias},
 * blocks.{i}.attn.qkv.{weight,bias}, blocks.{i}.attn.proj.{weight,bias},
 * blocks.{i}.mlp.fc1.{weight,bias}, blocks.{i}.mlp.fc2.{weight,bias},
 * post_ln.{weight,bias}, lm_head.{weight,bias}; PyTorch shapes ([out, in]).
 * RT_ERR_INVALID for an unknown name or a wrong element count.
 */
int rt_dec_tensor_set(struct rt_dec *m, const char *name, const float *data, uint64_t n,
                      struct err *e);
/* checks every tensor was set and uploads the small ones; 0 or <0 */
int rt_dec_ready(struct rt_dec *m, struct err *e);
/* device bytes of the weights (and tables); cannot fail */
uint64_t rt_dec_device_bytes(const struct rt_dec *m);
const struct rt_dec_config *rt_dec_config(const struct rt_dec *m);

/*
 * Per-request state: a KV cache of max_len positions (<= max_context),
 * activations for prefills of up to max_t positions, the recorded decode
 * step.  budget: device bytes the KV cache + activations may take (0 = no
 * limit; RT_ERR_OOM, transient, above it).  Returns 0 and a new run in *out
 * (caller frees with rt_dec_run_free), or <0 with e set.
 */
int rt_dec_run_init(struct rt_dec *m, uint32_t max_len, uint32_t max_t, uint64_t budget,
                    struct rt_dec_run **out, struct err *e);
void rt_dec_run_free(struct rt_dec_run *r);
/* the run's KV cache (borrowed; snapshot/restore it with rt_kv_*) */
struct rt_kv *rt_dec_run_kv(struct rt_dec_run *r);
/* device bytes of the KV cache + activations; cannot fail */
uint64_t rt_dec_run_device_bytes(const struct rt_dec_run *r);

#define RT_DEC_EMBED UINT32_MAX /* an id meaning "take this row from embeds" */

/*
 * Runs t positions after the cached ones (ids[i] or, where ids[i] ==
 * RT_DEC_EMBED, the row embeds[i*dim ..] — image features), writing their
 * keys and values into the cache.  Positions < prefix (absolute) are seen
 * by every query; later ones causally.  logits (vocab floats, or NULL)
 * receives the last position's logits.  RT_ERR_TOO_LARGE when t > max_t
 * or the cache would overflow; RT_ERR_INVALID for an id >= vocab.
 */
int rt_dec_prefill(struct rt_dec_run *r, const uint32_t *ids, const float *embeds, uint32_t t,
                   uint32_t prefix, float *logits, struct err *e);
/* one position (token id) through the replayed step; logits as above */
int rt_dec_step(struct rt_dec_run *r, uint32_t id, float *logits, struct err *e);
/* the residual stream (before post_ln) of the last prefill's / step's rows:
 * out receives rows * dim floats (rows <= that call's t) */
int rt_dec_hidden(struct rt_dec_run *r, uint32_t rows, float *out, struct err *e);

enum rt_dec_end {
    RT_DEC_END_STOP = 1,  /* a stop token (not emitted) */
    RT_DEC_END_LIMIT,     /* max_tokens emitted */
    RT_DEC_END_CANCELLED, /* *cancel became non-zero between steps */
    RT_DEC_END_CALLBACK,  /* on_token returned non-zero */
    RT_DEC_END_CONTEXT,   /* the KV cache is full */
};

struct rt_dec_gen {
    uint32_t max_tokens;
    float temperature, top_p; /* temperature 0: argmax */
    uint64_t seed;
    const uint32_t *stop; /* ids that end generation */
    int n_stop;
    const uint32_t *suppress; /* ids whose logits are set to -inf every step */
    int n_suppress;
    int (*on_token)(void *ud, uint32_t id); /* streaming; non-zero stops */
    void *ud;
    const volatile int *cancel; /* checked between steps; NULL = never */
};

/*
 * Samples from first_logits (the prefill's, vocab floats; modified by
 * suppress), then steps until a stop token, the limit, cancellation, the
 * callback or a full cache.  Emitted ids go to out (up to cap) and the
 * callback.  Returns enum rt_dec_end (> 0) with *n_out set, or <0 with e.
 */
int rt_dec_generate(struct rt_dec_run *r, float *first_logits, const struct rt_dec_gen *g,
                    uint32_t *out, uint32_t cap, uint32_t *n_out, struct err *e);

/*
 * Batched decoding: one decode step of several runs of one model recorded
 * as one submission.  The linears see one row per run, so each weight is
 * read once per step for all of them; rotary embedding, KV write and
 * attention go to each run's own cache at its own position.  The step is
 * re-recorded only when the set of runs changes (a sequence ended).
 */
#define RT_DEC_MAX_BATCH 16
struct rt_dec_batch;
/* activations for up to cap runs (1..RT_DEC_MAX_BATCH) of m.  Returns 0 and
 * *out (free with rt_dec_batch_free before m), or <0 with e (RT_ERR_OOM,
 * RT_ERR_TOO_LARGE over the device's buffer range, RT_UNSUPPORTED when the
 * dim misaligns per-run rows) */
int rt_dec_batch_init(struct rt_dec *m, uint32_t cap, struct rt_dec_batch **out, struct err *e);
void rt_dec_batch_free(struct rt_dec_batch *b);
/* forgets the recorded step (its runs may be freed after); cannot fail */
void rt_dec_batch_reset(struct rt_dec_batch *b);
/* device bytes of the batch's activations; cannot fail */
uint64_t rt_dec_batch_device_bytes(const struct rt_dec_batch *b);
/* one position per run (ids[i] into runs[i], n <= cap, distinct runs of
 * b's model); logits receives n rows of vocab floats.  0 or <0 with e.
 * The step recorded for these runs is replayed while the same runs come
 * back: call rt_dec_batch_reset before freeing any of them. */
int rt_dec_batch_step(struct rt_dec_batch *b, struct rt_dec_run *const *runs, uint32_t n,
                      const uint32_t *ids, float *logits, struct err *e);
/*
 * rt_dec_generate for n runs at once: sequence i samples from
 * first_logits[i] with g[i] (its own seed, stops, limit, callback, cancel),
 * writes out[i] (up to cap) and gets n_out[i] and end[i] (enum rt_dec_end);
 * a sequence that ends leaves the batch, the others go on.  Greedy answers
 * equal rt_dec_generate's one by one.  Ends with rt_dec_batch_reset.  0, or <0 with e (device
 * errors end every sequence).
 */
int rt_dec_generate_batch(struct rt_dec_batch *b, struct rt_dec_run *const *runs, uint32_t n,
                          float *const *first_logits, const struct rt_dec_gen *g,
                          uint32_t *const *out, uint32_t cap, uint32_t *n_out, int *end,
                          struct err *e);

struct rt_dec_stats {
    uint32_t steps;          /* decode steps since rt_dec_run_init */
    double step_ms, host_ms; /* totals: wall per step, host part (record-free) */
    double wait_ms;          /* totals: time blocked on the device */
    int step_dispatches;     /* dispatches per decode step */
    int step_barriers;
    int prefill_dispatches; /* of the last prefill */
};
/* counters of the run; cannot fail */
struct rt_dec_stats rt_dec_run_stats(const struct rt_dec_run *r);

#endif
