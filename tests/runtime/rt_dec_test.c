/*
 * rt_dec_test.c: the decoder and its decoding loop (runtime/tfm/rt_dec.c)
 * against a CPU reference decoder built from the kernels' references, at
 * reduced sizes, for every weight type: prefill logits and hidden states,
 * replayed decode steps, greedy generation, stop tokens, the token limit,
 * cancellation, the streaming callback, KV snapshot/restore (a second
 * question about the same prefix), the VRAM budget, and the sampler
 * (seeded, top-p nucleus, temperature frequencies).  Tolerances are the
 * measured errors times a few (printed).
 */
#include "runtime/tfm/rt_dec.h"
#include "runtime/tfm/rt_sample.h"
#include "runtime/tfm/rt_tf_ref.h"
#include "tests/lib/th.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *env_get(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

/* a device with the runtime's settings from the environment (RT_VALIDATE, ...) */
static int env_device_create(const char *selector, struct rt_device **dev, struct err *e)
{
    struct rt_device_opts o = rt_device_opts_default();
    int rc = rt_device_opts_read(&o, env_get, NULL, e);
    o.selector = selector;
    return rc < 0 ? rc : rt_device_create(&o, dev, e);
}

static struct rt_device *dev;
static uint32_t rng = 99;

static float frand(float lo, float hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(rng >> 8) / (float)(1u << 24);
}

static float *rnd(size_t n, float lo, float hi)
{
    float *p = malloc(n * sizeof(float) + 16);
    for (size_t i = 0; i < n; i++)
        p[i] = frand(lo, hi);
    return p;
}

/* ---- a CPU reference decoder (weights rounded as the device holds them) ---- */

struct ref {
    struct rt_dec_config c;
    float *wte, *post_w, *post_b, *head_w, *head_b;
    float *ln_w[8], *ln_b[8], *w[8][4], *b[8][4];
};

static void ref_free(struct ref *r)
{
    free(r->wte), free(r->post_w), free(r->post_b), free(r->head_w), free(r->head_b);
    for (uint32_t l = 0; l < r->c.n_layers; l++) {
        free(r->ln_w[l]), free(r->ln_b[l]);
        for (int k = 0; k < 4; k++)
            free(r->w[l][k]), free(r->b[l][k]);
    }
}

/* sets a tensor on the model and keeps its rounded copy for the reference */
static float *put(struct rt_dec *m, const char *name, uint64_t n, uint32_t rows, uint32_t cols,
                  int round_type, float scale)
{
    struct err e = {0};
    float *w = rnd(n, -scale, scale);
    int rc = rt_dec_tensor_set(m, name, w, n, &e);
    if (rc < 0)
        printf("# %s: %s\n", name, e.msg);
    if (round_type > 0) {
        float *r = malloc(n * sizeof(float));
        rt_tfr_round_weight(round_type, w, rows, cols, r);
        free(w);
        return r;
    }
    return w;
}

static struct rt_dec *build(const struct rt_dec_config *c, int wtype, struct ref *R)
{
    struct err e = {0};
    struct rt_dec *m = NULL;
    if (rt_dec_init(dev, c, wtype, &m, &e) < 0) {
        printf("# init: %s\n", e.msg);
        return NULL;
    }
    memset(R, 0, sizeof(*R));
    R->c = *c;
    uint32_t D = c->dim, F = c->ff_dim, V = c->vocab;
    int et = wtype == RT_TF_F32 ? 0 : (wtype == RT_TF_I8 ? 2 : 1);
    char nm[64];
    R->wte = put(m, "model.text.wte", (uint64_t)V * D, V, D, et, 1.0f);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        uint32_t n[4] = {3 * D, D, F, D}, k[4] = {D, D, D, F};
        static const char *ln[4] = {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"};
        snprintf(nm, sizeof(nm), "blocks.%u.ln.weight", l);
        R->ln_w[l] = rnd(D, 0.8f, 1.2f);
        rt_dec_tensor_set(m, nm, R->ln_w[l], D, &e);
        snprintf(nm, sizeof(nm), "blocks.%u.ln.bias", l);
        R->ln_b[l] = rnd(D, -0.1f, 0.1f);
        rt_dec_tensor_set(m, nm, R->ln_b[l], D, &e);
        for (int j = 0; j < 4; j++) {
            snprintf(nm, sizeof(nm), "blocks.%u.%s.weight", l, ln[j]);
            R->w[l][j] =
                put(m, nm, (uint64_t)n[j] * k[j], n[j], k[j], wtype, 1.5f / sqrtf((float)k[j]));
            snprintf(nm, sizeof(nm), "model.text.blocks.%u.%s.bias", l, ln[j]);
            R->b[l][j] = put(m, nm, n[j], 1, n[j], 0, 0.1f);
        }
    }
    R->post_w = rnd(D, 0.8f, 1.2f);
    R->post_b = rnd(D, -0.1f, 0.1f);
    rt_dec_tensor_set(m, "post_ln.weight", R->post_w, D, &e);
    rt_dec_tensor_set(m, "post_ln.bias", R->post_b, D, &e);
    R->head_w = put(m, "lm_head.weight", (uint64_t)V * D, V, D, wtype, 2.0f / sqrtf((float)D));
    R->head_b = put(m, "lm_head.bias", V, 1, V, 0, 0.1f);
    if (rt_dec_ready(m, &e) < 0) {
        printf("# ready: %s\n", e.msg);
        rt_dec_free(m);
        return NULL;
    }
    return m;
}

/* full forward over T positions (ids or embeds rows), all logits [T][V] and
 * the residual stream x [T][D] */
static void ref_forward(const struct ref *R, const uint32_t *ids, const float *embeds, uint32_t T,
                        uint32_t prefix, float *logits, float *xout)
{
    const struct rt_dec_config *c = &R->c;
    uint32_t D = c->dim, F = c->ff_dim, V = c->vocab, hd = D / c->n_heads;
    float *x = calloc((size_t)T * D, 4), *h = calloc((size_t)T * D, 4),
          *qkv = calloc((size_t)T * 3 * D, 4), *q = calloc((size_t)T * D, 4),
          *kc = calloc((size_t)c->max_context * D, 4), *vc = calloc((size_t)c->max_context * D, 4),
          *att = calloc((size_t)T * D, 4), *ff = calloc((size_t)T * F, 4),
          *cs = calloc((size_t)c->max_context * c->rot_dim + 2, 4);
    rt_tfr_rope_table(cs, c->max_context, c->rot_dim, c->rope_theta);
    for (uint32_t t = 0; t < T; t++)
        memcpy(x + (size_t)t * D,
               ids[t] == RT_DEC_EMBED ? embeds + (size_t)t * D : R->wte + (size_t)ids[t] * D,
               D * 4);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        rt_tfr_layernorm(x, D, R->ln_w[l], R->ln_b[l], h, D, T, D, c->ln_eps);
        rt_tfr_linear(h, D, R->w[l][0], R->b[l][0], qkv, 3 * D, T, 3 * D, D, 0, 0);
        rt_tfr_rope(qkv, 3 * D, cs, 0, q, D, kc, vc, D, T, D, hd, c->rot_dim, c->max_context);
        rt_tfr_attention((struct rt_tfr_view){q, 0, D, 0}, (struct rt_tfr_view){kc, 0, D, 0},
                         (struct rt_tfr_view){vc, 0, D, 0}, att, 0, D, 0, 0, T, 1, c->n_heads, hd,
                         prefix, 1, 1.0f / sqrtf((float)hd));
        rt_tfr_linear(att, D, R->w[l][1], R->b[l][1], x, D, T, D, D, 0, 1);
        rt_tfr_linear(h, D, R->w[l][2], R->b[l][2], ff, F, T, F, D, 1, 0);
        rt_tfr_linear(ff, F, R->w[l][3], R->b[l][3], x, D, T, D, F, 0, 1);
    }
    if (xout)
        memcpy(xout, x, (size_t)T * D * 4);
    rt_tfr_layernorm(x, D, R->post_w, R->post_b, h, D, T, D, c->ln_eps);
    rt_tfr_linear(h, D, R->head_w, R->head_b, logits, V, T, V, D, 0, 0);
    free(x), free(h), free(qkv), free(q), free(kc), free(vc), free(att), free(ff), free(cs);
}

static float maxdiff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

static const struct rt_dec_config tiny = {128, 2, 2, 256, 320, 64, 32, 10000.0f, 1e-5f, 0};

static void t_forward(int wtype, const struct rt_dec_config *c, float tol)
{
    struct ref R;
    struct rt_dec *m = build(c, wtype, &R);
    TH_CHECK(m != NULL, "%s decoder built (dim %u, head %u, %s KV cache)", rt_tf_wtype_name(wtype),
             c->dim, c->dim / c->n_heads, c->kv_f16 ? "fp16" : "fp32");
    if (m == NULL)
        return;
    uint32_t T = 16, T0 = 10, P = 4, ids[16], V = c->vocab, D = c->dim;
    for (uint32_t i = 0; i < T; i++)
        ids[i] = (i * 37 + 5) % V;
    float *ref = malloc((size_t)T * V * 4), *xr = malloc((size_t)T * D * 4),
          *got = malloc((size_t)V * 4), *xg = malloc((size_t)T0 * D * 4);
    ref_forward(&R, ids, NULL, T, P, ref, xr);
    struct err e = {0};
    struct rt_dec_run *r = NULL;
    int rc = rt_dec_run_init(m, 48, 16, 0, &r, &e);
    TH_CHECK(rc == 0, "run created: %s", e.msg);
    if (rc == 0) {
        rc = rt_dec_prefill(r, ids, NULL, T0, P, got, &e);
        TH_CHECK(rc == 0, "prefill of %u (prefix %u): %s", T0, P, e.msg);
        float d = maxdiff(got, ref + (size_t)(T0 - 1) * V, V);
        rt_dec_hidden(r, T0, xg, &e);
        float dx = maxdiff(xg, xr, (size_t)T0 * D);
        printf("# %s%s: prefill logits max err %.3g, hidden %.3g (tol %.3g)\n",
               rt_tf_wtype_name(wtype), c->kv_f16 ? " kv f16" : "", d, dx, tol);
        TH_CHECK(d <= tol && dx <= tol, "%s prefill logits and hidden states match the reference",
                 rt_tf_wtype_name(wtype));
        float worst = 0;
        for (uint32_t t = T0; t < T && rc == 0; t++) {
            rc = rt_dec_step(r, ids[t], got, &e);
            float dd = maxdiff(got, ref + (size_t)t * V, V);
            worst = dd > worst ? dd : worst;
        }
        printf("# %s%s: decode steps logits max err %.3g\n", rt_tf_wtype_name(wtype),
               c->kv_f16 ? " kv f16" : "", worst);
        TH_CHECK(rc == 0 && worst <= tol, "%s: %u replayed decode steps match the reference",
                 rt_tf_wtype_name(wtype), T - T0);
        struct rt_dec_stats st = rt_dec_run_stats(r);
        printf("# dispatches per token %d, barriers %d, prefill dispatches %d\n",
               st.step_dispatches, st.step_barriers, st.prefill_dispatches);
        TH_EQ_INT(st.step_dispatches, 7 * (int)c->n_layers + 3,
                  "a decode step is 7 dispatches per layer + embed, post_ln, lm_head");
    }
    rt_dec_run_free(r);
    rt_dec_free(m);
    ref_free(&R);
    free(ref), free(xr), free(got), free(xg);
}

struct cb {
    int n, cancel_at, stop_at;
    volatile int cancel;
};

static int on_tok(void *ud, uint32_t id)
{
    struct cb *c = ud;
    (void)id;
    c->n++;
    if (c->cancel_at && c->n == c->cancel_at)
        c->cancel = 1;
    return c->stop_at && c->n == c->stop_at;
}

static void t_generate(void)
{
    struct ref R;
    struct rt_dec *m = build(&tiny, RT_TF_F32, &R);
    if (m == NULL) {
        TH_CHECK(0, "decoder built");
        return;
    }
    uint32_t V = tiny.vocab, D = tiny.dim;
    /* an image-like prefix: 6 embedding rows + BOS, attended both ways */
    uint32_t pre[7] = {
        RT_DEC_EMBED, RT_DEC_EMBED, RT_DEC_EMBED, RT_DEC_EMBED, RT_DEC_EMBED, RT_DEC_EMBED, 0};
    float *emb = rnd((size_t)7 * D, -1, 1);
    uint32_t q1[3] = {17, 42, 99}, q2[4] = {5, 250, 7, 3};
    uint32_t seq[64];
    float *ref = malloc((size_t)64 * V * 4), *lg = malloc((size_t)V * 4);
    struct err e = {0};
    struct rt_dec_run *r = NULL;
    TH_CHECK(rt_dec_run_init(m, 64, 8, 0, &r, &e) == 0, "run: %s", e.msg);
    if (r == NULL)
        return;
    /* greedy reference: full recompute per token */
    memcpy(seq, pre, sizeof(pre));
    memcpy(seq + 7, q1, sizeof(q1));
    uint32_t n = 10, greedy[8];
    float *embx = calloc((size_t)64 * D, 4);
    memcpy(embx, emb, (size_t)7 * D * 4);
    for (int i = 0; i < 8; i++) {
        ref_forward(&R, seq, embx, n, 7, ref, NULL);
        greedy[i] = rt_tfr_argmax(ref + (size_t)(n - 1) * V, V);
        seq[n++] = greedy[i];
    }
    int rc = rt_dec_prefill(r, pre, emb, 7, 7, NULL, &e);
    struct rt_kv_snap *snap = NULL;
    if (rc == 0)
        rc = rt_kv_snapshot(rt_dec_run_kv(r), &snap, &e);
    TH_CHECK(rc == 0 && snap != NULL && snap->len == 7,
             "prefix prefilled (embedding rows) and "
             "snapshotted: %s",
             e.msg);
    rc = rt_dec_prefill(r, q1, NULL, 3, 7, lg, &e);
    uint32_t out[16], got = 0;
    struct cb cbs = {0, 0, 0, 0};
    struct rt_dec_gen g = {
        .max_tokens = 8, .temperature = 0, .top_p = 1, .on_token = on_tok, .ud = &cbs};
    int end = rc == 0 ? rt_dec_generate(r, lg, &g, out, 16, &got, &e) : rc;
    TH_EQ_INT(end, RT_DEC_END_LIMIT, "greedy generation stops at the token limit");
    TH_CHECK(got == 8 && memcmp(out, greedy, sizeof(greedy)) == 0,
             "8 greedy tokens equal the reference's (%u %u %u %u ...)", out[0], out[1], out[2],
             out[3]);
    TH_EQ_INT(cbs.n, 8, "the streaming callback saw every token");
    /* restore the prefix: the same question again gives the same answer */
    uint32_t out2[16], got2 = 0;
    rc = rt_kv_restore(rt_dec_run_kv(r), snap, &e);
    TH_CHECK(rc == 0 && rt_dec_run_kv(r)->len == 7, "snapshot restored (len 7): %s", e.msg);
    rc = rt_dec_prefill(r, q1, NULL, 3, 7, lg, &e);
    g.on_token = NULL;
    end = rc == 0 ? rt_dec_generate(r, lg, &g, out2, 16, &got2, &e) : rc;
    TH_CHECK(end == RT_DEC_END_LIMIT && got2 == 8 && memcmp(out2, greedy, sizeof(greedy)) == 0,
             "after restore the same question gives the same 8 tokens");
    /* a second question about the same prefix equals a fresh full forward */
    rt_kv_restore(rt_dec_run_kv(r), snap, &e);
    rc = rt_dec_prefill(r, q2, NULL, 4, 7, lg, &e);
    memcpy(seq, pre, sizeof(pre));
    memcpy(seq + 7, q2, sizeof(q2));
    ref_forward(&R, seq, embx, 11, 7, ref, NULL);
    float d = maxdiff(lg, ref + (size_t)10 * V, V);
    printf("# second question after restore: logits max err %.3g\n", d);
    TH_CHECK(rc == 0 && d < 5e-6f, "a second question reuses the prefix: logits match a fresh "
                                   "forward");
    /* stop token, cancellation, callback stop */
    uint32_t stop[1] = {greedy[2]};
    rt_kv_restore(rt_dec_run_kv(r), snap, &e);
    rt_dec_prefill(r, q1, NULL, 3, 7, lg, &e);
    g.stop = stop;
    g.n_stop = 1;
    end = rt_dec_generate(r, lg, &g, out2, 16, &got2, &e);
    TH_CHECK(end == RT_DEC_END_STOP && got2 == 2, "a stop token ends generation, not emitted");
    g.n_stop = 0;
    struct cb cc = {0, 3, 0, 0};
    g.on_token = on_tok;
    g.ud = &cc;
    g.cancel = &cc.cancel;
    rt_kv_restore(rt_dec_run_kv(r), snap, &e);
    rt_dec_prefill(r, q1, NULL, 3, 7, lg, &e);
    uint32_t len0 = rt_dec_run_kv(r)->len;
    end = rt_dec_generate(r, lg, &g, out2, 16, &got2, &e);
    TH_CHECK(end == RT_DEC_END_CANCELLED && got2 == 3 && rt_dec_run_kv(r)->len == len0 + 2,
             "cancellation is seen between steps (3 tokens, 2 steps run)");
    struct cb cs = {0, 0, 2, 0};
    g.ud = &cs;
    g.cancel = NULL;
    rt_kv_restore(rt_dec_run_kv(r), snap, &e);
    rt_dec_prefill(r, q1, NULL, 3, 7, lg, &e);
    end = rt_dec_generate(r, lg, &g, out2, 16, &got2, &e);
    TH_CHECK(end == RT_DEC_END_CALLBACK && got2 == 2, "the callback can stop generation");
    /* suppressed ids are never drawn */
    uint32_t sup[1] = {greedy[0]};
    g.on_token = NULL;
    g.suppress = sup;
    g.n_suppress = 1;
    g.max_tokens = 1;
    rt_kv_restore(rt_dec_run_kv(r), snap, &e);
    rt_dec_prefill(r, q1, NULL, 3, 7, lg, &e);
    end = rt_dec_generate(r, lg, &g, out2, 16, &got2, &e);
    TH_CHECK(got2 == 1 && out2[0] != greedy[0], "a suppressed id is not drawn");
    /* the context limit and bad input */
    TH_EQ_INT(rt_dec_prefill(r, q1, NULL, 9, 7, lg, &e), RT_ERR_TOO_LARGE,
              "a prefill over max_t is refused");
    uint32_t bad[1] = {V};
    TH_EQ_INT(rt_dec_prefill(r, bad, NULL, 1, 0, lg, &e), RT_ERR_INVALID,
              "a token id >= vocab is refused");
    struct rt_dec_run *r2 = NULL;
    TH_EQ_INT(rt_dec_run_init(m, 64, 8, 100000, &r2, &e), RT_ERR_OOM,
              "a run over the VRAM budget is refused: %s", e.msg);
    rt_kv_snap_free(dev, snap);
    rt_dec_run_free(r);
    rt_dec_free(m);
    ref_free(&R);
    free(emb), free(ref), free(lg), free(embx);
}

static void t_sampler(void)
{
    struct err e = {0};
    struct rt_sampler a, b;
    float lg[4] = {logf(0.1f), logf(0.2f), logf(0.3f), logf(0.4f)};
    rt_sample_init(&a, 4, 42, &e);
    rt_sample_init(&b, 4, 42, &e);
    int same = 1, cnt[4] = {0};
    for (int i = 0; i < 200; i++)
        same &= rt_sample_pick(&a, lg, 0.7f, 0.9f) == rt_sample_pick(&b, lg, 0.7f, 0.9f);
    TH_CHECK(same, "the same seed draws the same tokens");
    for (int i = 0; i < 20000; i++)
        cnt[rt_sample_pick(&a, lg, 1.0f, 1.0f)]++;
    TH_CHECK(fabs(cnt[0] / 20000.0 - 0.1) < 0.015 && fabs(cnt[3] / 20000.0 - 0.4) < 0.015,
             "temperature 1 draws by the softmax (%d %d %d %d of 20000)", cnt[0], cnt[1], cnt[2],
             cnt[3]);
    memset(cnt, 0, sizeof(cnt));
    for (int i = 0; i < 20000; i++)
        cnt[rt_sample_pick(&a, lg, 1.0f, 0.5f)]++;
    TH_CHECK(cnt[0] == 0 && cnt[1] == 0 && fabs(cnt[3] / 20000.0 - 0.4 / 0.7) < 0.015,
             "top-p 0.5 keeps {0.4, 0.3} renormalised (%d %d %d %d)", cnt[0], cnt[1], cnt[2],
             cnt[3]);
    TH_EQ_INT(rt_sample_pick(&a, lg, 0, 1), 3, "temperature 0 is argmax");
    rt_sample_free(&a);
    rt_sample_free(&b);
    /* a 51200 vocabulary: every draw lies in the nucleus of a full sort */
    uint32_t V = 51200;
    float *big = rnd(V, -4, 4);
    struct rt_sampler s;
    rt_sample_init(&s, V, 7, &e);
    double *pr = malloc(V * sizeof(double)), mx = -1e30, sum = 0;
    for (uint32_t i = 0; i < V; i++)
        mx = big[i] > mx ? big[i] : mx;
    for (uint32_t i = 0; i < V; i++)
        sum += (pr[i] = exp((big[i] - mx) / 0.5));
    int ok = 1;
    for (int k = 0; k < 200 && ok; k++) {
        uint32_t id = rt_sample_pick(&s, big, 0.5f, 0.3f);
        double before = 0; /* mass strictly above id's probability */
        for (uint32_t i = 0; i < V; i++)
            if (pr[i] > pr[id] || (pr[i] == pr[id] && i < id))
                before += pr[i];
        ok = before <= 0.3 * sum * (1 + 1e-6);
    }
    TH_CHECK(ok, "top-p 0.3 over 51200 ids draws only inside the nucleus");
    rt_sample_free(&s);
    free(big);
    free(pr);
}

int main(void)
{
    struct err e = {0};
    if (env_device_create(getenv("RT_DEVICE"), &dev, &e) < 0) {
        printf("# no Vulkan device: %s\n", e.msg);
        TH_CHECK(0, "device created");
        return th_done();
    }
    /* measured (lavapipe): f32 ~1e-6, f16/i8/q4 the same order (weights
     * pre-rounded in the reference): tolerance ~5x */
    t_forward(RT_TF_F32, &tiny, 5e-6f);
    t_forward(RT_TF_F16, &tiny, 5e-6f);
    t_forward(RT_TF_I8, &tiny, 5e-6f);
    t_forward(RT_TF_Q4, &tiny, 5e-6f);
    struct rt_dec_config h72 = {288, 1, 4, 256, 320, 64, 32, 10000.0f, 1e-5f, 0};
    /* an fp16 KV cache: keys and values rounded to halves (measured 3.6e-4 logits, 6.2e-4
     * hidden) */
    struct rt_dec_config half = tiny;
    half.kv_f16 = 1;
    t_forward(RT_TF_F32, &half, 2e-3f);
    t_forward(RT_TF_F32, &h72, 5e-6f);
    t_generate();
    t_sampler();
    TH_EQ_INT(rt_device_validation_errors(dev), 0, "no validation-layer errors");
    rt_device_destroy(dev);
    return th_done();
}
