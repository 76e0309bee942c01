/*
 * rt_dec.c: the decoder-only language model and its decoding loop (see
 * rt_dec.h).  Weights: one rt_tf_weight per linear; LayerNorm parameters,
 * kept on the host until rt_dec_ready, then in one small device buffer.
 * A run owns its KV cache, its activations (sized for max_t positions),
 * the recorded decode step and the last recorded prefill (re-recorded only
 * when t or prefix change).
 */
#include "runtime/tfm/rt_dec.h"
#include "common/cm.h"
#include "runtime/tfm/rt_sample.h"
#include "runtime/tfm/rt_tf_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { L_QKV = 0, L_PROJ, L_FC1, L_FC2, L_N };
enum { P_LN_W = 0, P_LN_B, P_N }; /* per-layer small params */

struct rt_dec {
    struct rt_device *dev;
    struct rt_dec_config c;
    int wtype, etype;
    uint32_t hd;
    struct rt_tf_weight wte, lm_head, *lin; /* lin[layer * L_N + k] */
    float *small;                           /* host: per layer ln w, b; then post_ln w, b */
    float **bias;                           /* host: pending biases per linear (+ lm_head last) */
    uint8_t *set;                           /* which tensors were set (see tensor_index) */
    int n_tensors;
    struct rt_tf_buf *params; /* device: small params, rope table */
    uint64_t small_off, cs_off;
    int ready;
};

struct rt_dec_run {
    struct rt_dec *m;
    struct rt_kv *kv;
    uint32_t max_t, last_t;
    struct rt_tf_buf *x, *h, *qkv, *q, *att, *ff, *hl, *logits,
        *host; /* host: state, ids, logits */
    uint64_t host_ids, host_logits;
    struct rt_tf_seq *step, *pre;
    uint32_t pre_t, pre_prefix;
    struct rt_dec_stats st;
};

struct rt_dec_config rt_dec_config_moondream2(void)
{
    return (struct rt_dec_config){2048, 24, 32, 8192, 51200, 2048, 32, 10000.0f, 1e-5f, 0};
}

const struct rt_dec_config *rt_dec_config(const struct rt_dec *m)
{
    return &m->c;
}

int rt_dec_init(struct rt_device *d, const struct rt_dec_config *c, int wtype, struct rt_dec **out,
                struct err *e)
{
    if (c->n_heads == 0 || c->dim % c->n_heads != 0 || c->n_layers == 0 || c->vocab == 0 ||
        c->max_context == 0 || c->ff_dim == 0 || c->dim % 32 != 0 || c->ff_dim % 32 != 0 ||
        wtype < 0 || wtype > 3 || c->n_layers > 256 || c->max_context > 4096 || c->dim > 16384 ||
        c->ff_dim > 65536 || c->vocab > (1u << 20) || c->n_heads > 1024 || !(c->ln_eps > 0) ||
        !(c->rope_theta > 0))
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_config",
                       "invalid decoder config (dim %u, heads %u, layers %u, context %u)", c->dim,
                       c->n_heads, c->n_layers, c->max_context);
    uint32_t hd = c->dim / c->n_heads;
    if ((hd != 64 && hd != 72) || c->rot_dim > hd || c->rot_dim % 2 != 0)
        return err_set(e, RT_UNSUPPORTED, ERR_INVALID, "unsupported_config",
                       "head size %u / rotary %u unsupported (head size 64 or 72)", hd, c->rot_dim);
    struct rt_dec *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a model");
    m->dev = d;
    m->c = *c;
    m->c.kv_f16 = c->kv_f16 != 0;
    m->hd = hd;
    m->wtype = wtype;
    m->etype = wtype == RT_TF_F32 ? RT_TF_F32 : (wtype == RT_TF_I8 ? RT_TF_I8 : RT_TF_F16);
    m->lin = calloc((size_t)c->n_layers * L_N, sizeof(*m->lin));
    m->small = calloc((size_t)(c->n_layers + 1) * 2 * c->dim, sizeof(float));
    m->bias = calloc((size_t)c->n_layers * L_N + 1, sizeof(float *));
    m->n_tensors = (int)c->n_layers * 10 + 5;
    m->set = calloc((size_t)m->n_tensors, 1);
    if (m->lin == NULL || m->small == NULL || m->bias == NULL || m->set == NULL) {
        rt_dec_free(m);
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a model");
    }
    *out = m;
    return 0;
}

void rt_dec_free(struct rt_dec *m)
{
    if (m == NULL)
        return;
    if (m->lin != NULL)
        for (uint32_t i = 0; i < m->c.n_layers * L_N; i++)
            rt_tf_weight_free(m->dev, &m->lin[i]);
    rt_tf_weight_free(m->dev, &m->wte);
    rt_tf_weight_free(m->dev, &m->lm_head);
    if (m->bias != NULL)
        for (uint32_t i = 0; i <= m->c.n_layers * L_N; i++)
            free(m->bias[i]);
    rt_tf_buf_free(m->dev, m->params);
    free(m->lin);
    free(m->small);
    free(m->bias);
    free(m->set);
    free(m);
}

/* a linear's (n, k) by kind */
static void lin_shape(const struct rt_dec_config *c, int k, uint32_t *n, uint32_t *kk)
{
    static const int mul_n[] = {3, 1, 0, 1};
    *n = k == L_FC1 ? c->ff_dim : c->dim * (uint32_t)mul_n[k];
    *kk = k == L_FC2 ? c->ff_dim : c->dim;
}

int rt_dec_tensor_set(struct rt_dec *m, const char *name, const float *data, uint64_t n,
                      struct err *e)
{
    const struct rt_dec_config *c = &m->c;
    if (strncmp(name, "model.text.", 11) == 0)
        name += 11;
    static const char *lin_names[] = {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"};
    uint64_t want = 0;
    int idx = -1, rc = 0;
    unsigned layer = 0;
    char rest[64];
    if (strcmp(name, "wte") == 0) {
        idx = m->n_tensors - 5;
        want = (uint64_t)c->vocab * c->dim;
        if (n == want) {
            rt_tf_weight_free(m->dev, &m->wte);
            rc = rt_tf_weight_upload(m->dev, m->etype, c->vocab, c->dim, data, NULL, &m->wte, e);
        }
    } else if (strcmp(name, "lm_head.weight") == 0) {
        idx = m->n_tensors - 4;
        want = (uint64_t)c->vocab * c->dim;
        if (n == want) {
            rt_tf_weight_free(m->dev, &m->lm_head);
            rc =
                rt_tf_weight_upload(m->dev, m->wtype, c->vocab, c->dim, data, NULL, &m->lm_head, e);
        }
    } else if (strcmp(name, "lm_head.bias") == 0) {
        idx = m->n_tensors - 3;
        want = c->vocab;
        if (n == want) {
            float **b = &m->bias[c->n_layers * L_N];
            free(*b);
            if ((*b = malloc((size_t)n * 4)) == NULL)
                return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                               "could not keep a bias");
            memcpy(*b, data, (size_t)n * 4);
        }
    } else if (strcmp(name, "post_ln.weight") == 0 || strcmp(name, "post_ln.bias") == 0) {
        int isb = name[8] == 'b';
        idx = m->n_tensors - 2 + isb;
        want = c->dim;
        if (n == want)
            memcpy(m->small + ((size_t)c->n_layers * 2 + (size_t)isb) * c->dim, data,
                   (size_t)n * 4);
    } else if (sscanf(name, "blocks.%u.%63s", &layer, rest) == 2 && layer < c->n_layers) {
        if (strcmp(rest, "ln.weight") == 0 || strcmp(rest, "ln.bias") == 0) {
            int isb = rest[3] == 'b';
            idx = (int)layer * 10 + isb;
            want = c->dim;
            if (n == want)
                memcpy(m->small + ((size_t)layer * 2 + (size_t)isb) * c->dim, data, (size_t)n * 4);
        }
        for (int k = 0; k < L_N; k++) {
            size_t ln = strlen(lin_names[k]);
            if (strncmp(rest, lin_names[k], ln) != 0 || rest[ln] != '.')
                continue;
            uint32_t wn, wk;
            lin_shape(c, k, &wn, &wk);
            struct rt_tf_weight *w = &m->lin[layer * L_N + (uint32_t)k];
            if (strcmp(rest + ln, ".weight") == 0) {
                idx = (int)layer * 10 + 2 + 2 * k;
                want = (uint64_t)wn * wk;
                if (n == want) {
                    rt_tf_weight_free(m->dev, w);
                    rc = rt_tf_weight_upload(m->dev, m->wtype, wn, wk, data, NULL, w, e);
                }
            } else if (strcmp(rest + ln, ".bias") == 0) {
                idx = (int)layer * 10 + 3 + 2 * k;
                want = wn;
                float **b = &m->bias[layer * L_N + (uint32_t)k];
                if (n == want) {
                    free(*b);
                    if ((*b = malloc((size_t)n * 4)) == NULL)
                        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                                       "could not keep a bias");
                    memcpy(*b, data, (size_t)n * 4);
                }
            }
        }
    }
    if (idx < 0)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_weights", "unknown tensor %s",
                       name);
    if (n != want)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_weights",
                       "tensor %s has %llu elements, expected %llu", name, (unsigned long long)n,
                       (unsigned long long)want);
    if (rc < 0)
        return rc;
    m->set[idx] = 1;
    m->ready = 0;
    return 0;
}

int rt_dec_ready(struct rt_dec *m, struct err *e)
{
    const struct rt_dec_config *c = &m->c;
    for (int i = 0; i < m->n_tensors; i++)
        if (!m->set[i])
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_weights",
                           "decoder tensor %d of %d was never set", i, m->n_tensors);
    /* biases into the weights' bias regions */
    for (uint32_t i = 0; i <= c->n_layers * L_N; i++) {
        struct rt_tf_weight *w = i < c->n_layers * L_N ? &m->lin[i] : &m->lm_head;
        int rc = rt_tf_buf_write(m->dev, w->buf, w->bias.off, m->bias[i], (uint64_t)w->n * 4, e);
        if (rc < 0)
            return rc;
    }
    uint64_t small = (uint64_t)(c->n_layers + 1) * 2 * c->dim * 4;
    uint64_t cs = (uint64_t)c->max_context * (c->rot_dim / 2) * 8;
    m->small_off = 0;
    m->cs_off = (small + 255) / 256 * 256;
    rt_tf_buf_free(m->dev, m->params);
    m->params = NULL;
    int rc = rt_tf_buf_init(m->dev, m->cs_off + cs + 16, 0, &m->params, e);
    if (rc < 0)
        return rc;
    float *table = malloc((size_t)cs + 16);
    if (table == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not build the rotary table");
    rt_tfr_rope_table(table, c->max_context, c->rot_dim, c->rope_theta);
    rc = rt_tf_buf_write(m->dev, m->params, m->small_off, m->small, small, e);
    if (rc == 0 && cs > 0)
        rc = rt_tf_buf_write(m->dev, m->params, m->cs_off, table, cs, e);
    free(table);
    if (rc == 0)
        m->ready = 1;
    return rc;
}

uint64_t rt_dec_device_bytes(const struct rt_dec *m)
{
    uint64_t b = m->wte.bytes + m->lm_head.bytes + (m->params ? m->params->b.size : 0);
    for (uint32_t i = 0; i < m->c.n_layers * L_N; i++)
        b += m->lin[i].bytes;
    return b;
}

/* ---- runs ---------------------------------------------------------------------- */

static struct rt_tf_ref small_ref(const struct rt_dec *m, uint32_t row)
{
    return rt_tf_sub(rt_tf_whole(m->params), m->small_off + (uint64_t)row * m->c.dim * 4,
                     (uint64_t)m->c.dim * 4);
}

static struct rt_tf_ref cs_ref(const struct rt_dec *m)
{
    uint64_t cs = (uint64_t)m->c.max_context * (m->c.rot_dim / 2) * 8;
    return rt_tf_sub(rt_tf_whole(m->params), m->cs_off, cs ? cs : 16);
}

void rt_dec_run_free(struct rt_dec_run *r)
{
    if (r == NULL)
        return;
    struct rt_device *d = r->m->dev;
    rt_tf_seq_free(r->step);
    rt_tf_seq_free(r->pre);
    struct rt_tf_buf *b[] = {r->x, r->h, r->qkv, r->q, r->att, r->ff, r->hl, r->logits, r->host};
    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
        rt_tf_buf_free(d, b[i]);
    rt_kv_free(r->kv);
    free(r);
}

struct rt_kv *rt_dec_run_kv(struct rt_dec_run *r)
{
    return r->kv;
}

uint64_t rt_dec_run_device_bytes(const struct rt_dec_run *r)
{
    uint64_t b = r->kv->buf->b.size;
    const struct rt_tf_buf *bs[] = {r->x, r->h, r->qkv, r->q, r->att, r->ff, r->hl, r->logits};
    for (size_t i = 0; i < sizeof(bs) / sizeof(bs[0]); i++)
        b += bs[i]->b.size;
    return b;
}

struct rt_dec_stats rt_dec_run_stats(const struct rt_dec_run *r)
{
    return r->st;
}

/* records one pass over t positions; last row -> logits */
static int record(struct rt_dec_run *r, struct rt_tf_seq *s, uint32_t t, uint32_t prefix,
                  struct err *e)
{
    struct rt_dec *m = r->m;
    const struct rt_dec_config *c = &m->c;
    uint32_t D = c->dim;
    struct rt_tf_ref x = rt_tf_whole(r->x), h = rt_tf_whole(r->h), qkv = rt_tf_whole(r->qkv),
                     q = rt_tf_whole(r->q), att = rt_tf_whole(r->att), ff = rt_tf_whole(r->ff),
                     host = rt_tf_whole(r->host);
    struct rt_tf_ref state = rt_tf_sub(host, 0, 16),
                     ids = rt_tf_sub(host, r->host_ids, r->max_t * 4);
    int rc = rt_tf_embed(s, &m->wte, ids, 0, t, x, D, e);
    for (uint32_t l = 0; l < c->n_layers && rc == 0; l++) {
        const struct rt_tf_weight *w = &m->lin[l * L_N];
        struct rt_tf_ref kc = rt_kv_ref(r->kv, l, 0), vc = rt_kv_ref(r->kv, l, 1);
        rc = rt_tf_layernorm(s, x, D, small_ref(m, 2 * l), small_ref(m, 2 * l + 1), h, D, t, D,
                             c->ln_eps, e);
        /* order for concurrency: qkv and fc1 both read h (no barrier between
         * them), then rope and fc2, then attention, then proj; the residual
         * gets fc2 before proj (x + m + a) */
        if (rc == 0)
            rc = rt_tf_linear(s, &w[L_QKV], h, D, qkv, 3 * D, t, RT_TF_ACT_NONE, 0, e);
        if (rc == 0)
            rc = rt_tf_linear(s, &w[L_FC1], h, D, ff, c->ff_dim, t, RT_TF_ACT_GELU_TANH, 0, e);
        if (rc == 0)
            rc = rt_tf_rope(s, qkv, 3 * D, cs_ref(m), state, 0, q, D, kc, vc, D, t, D, m->hd,
                            c->rot_dim, r->kv->cap, c->kv_f16, e);
        if (rc == 0)
            rc = rt_tf_linear(s, &w[L_FC2], ff, c->ff_dim, x, D, t, RT_TF_ACT_NONE, 1, e);
        if (rc == 0) {
            struct rt_tf_attn a = {
                .q = {q, 0, D, 0},
                .k = {kc, 0, D, 0},
                .v = {vc, 0, D, 0},
                .o = {att, 0, D, 0},
                .state = state,
                .st = 0,
                .t = t,
                .batch = 1,
                .heads = c->n_heads,
                .hd = m->hd,
                .prefix = prefix,
                .causal = 1,
                .scale = 1.0f / sqrtf((float)m->hd),
                .kv_f16 = c->kv_f16,
            };
            rc = rt_tf_attention(s, &a, e);
        }
        if (rc == 0)
            rc = rt_tf_linear(s, &w[L_PROJ], att, D, x, D, t, RT_TF_ACT_NONE, 1, e);
    }
    struct rt_tf_ref last = rt_tf_sub(x, (uint64_t)(t - 1) * D * 4, (uint64_t)D * 4);
    if (rc == 0 && last.off % m->dev->gpu.caps.min_storage_align != 0)
        rc = err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape", "dim %u misaligns rows",
                     D);
    if (rc == 0)
        rc = rt_tf_layernorm(s, last, D, small_ref(m, 2 * c->n_layers),
                             small_ref(m, 2 * c->n_layers + 1), rt_tf_whole(r->hl), D, 1, D,
                             c->ln_eps, e);
    if (rc == 0)
        rc = rt_tf_linear(s, &m->lm_head, rt_tf_whole(r->hl), D, rt_tf_whole(r->logits), c->vocab,
                          1, RT_TF_ACT_NONE, 0, e);
    if (rc == 0)
        rc = rt_tf_seq_copy(s, rt_tf_sub(rt_tf_whole(r->logits), 0, (uint64_t)c->vocab * 4),
                            rt_tf_sub(host, r->host_logits, (uint64_t)c->vocab * 4), e);
    if (rc == 0)
        rc = rt_tf_seq_end(s, e);
    return rc;
}

int rt_dec_run_init(struct rt_dec *m, uint32_t max_len, uint32_t max_t, uint64_t budget,
                    struct rt_dec_run **out, struct err *e)
{
    const struct rt_dec_config *c = &m->c;
    if (!m->ready)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "decoder weights not ready");
    if (max_len == 0 || max_len > c->max_context || max_t == 0 || max_t > max_len)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_INVALID, "too_long",
                       "run of %u positions (prefill %u) over the context of %u", max_len, max_t,
                       c->max_context);
    uint64_t D = c->dim, act = max_t * (D * 5 + c->ff_dim) * 4 + D * 4 + (uint64_t)c->vocab * 4;
    uint64_t need = rt_kv_bytes_for(c->n_layers, c->dim, max_len, c->kv_f16) + act;
    if (budget != 0 && need > budget)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "vram_budget",
                       "request needs %llu device bytes (KV cache for %u positions + "
                       "activations), over the budget of %llu",
                       (unsigned long long)need, max_len, (unsigned long long)budget);
    struct rt_dec_run *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate a run");
    r->m = m;
    r->max_t = max_t;
    r->host_ids = 256;
    r->host_logits = (256 + (uint64_t)max_t * 4 + 255) / 256 * 256;
    struct rt_device *d = m->dev;
    int rc = rt_kv_init(d, c->n_layers, c->dim, max_len, c->kv_f16, 0, &r->kv, e);
    struct {
        struct rt_tf_buf **b;
        uint64_t size;
        int host;
    } bs[] = {
        {&r->x, max_t * D * 4, 0},
        {&r->h, max_t * D * 4, 0},
        {&r->qkv, max_t * D * 12, 0},
        {&r->q, max_t * D * 4, 0},
        {&r->att, max_t * D * 4, 0},
        {&r->ff, (uint64_t)max_t * c->ff_dim * 4, 0},
        {&r->hl, D * 4, 0},
        {&r->logits, (uint64_t)c->vocab * 4, 0},
        {&r->host, r->host_logits + (uint64_t)c->vocab * 4, 1},
    };
    for (size_t i = 0; i < sizeof(bs) / sizeof(bs[0]) && rc == 0; i++) {
        if (bs[i].size > d->gpu.caps.max_storage_range)
            rc = err_set(e, RT_ERR_TOO_LARGE, ERR_INVALID, "too_long",
                         "prefill of %u positions needs a %llu-byte buffer (limit %llu)", max_t,
                         (unsigned long long)bs[i].size,
                         (unsigned long long)d->gpu.caps.max_storage_range);
        else
            rc = rt_tf_buf_init(d, bs[i].size, bs[i].host, bs[i].b, e);
    }
    if (rc == 0)
        rc = rt_tf_seq_init(d, &r->step, e);
    if (rc == 0)
        rc = record(r, r->step, 1, 0, e);
    if (rc < 0) {
        rt_dec_run_free(r);
        return rc;
    }
    r->st.step_dispatches = rt_tf_seq_dispatches(r->step);
    r->st.step_barriers = rt_tf_seq_barriers(r->step);
    *out = r;
    return 0;
}

static uint32_t *host_state(struct rt_dec_run *r)
{
    return (uint32_t *)r->host->b.map;
}

/* submits s for t positions and reads the logits; host/wait times into st */
static int run_seq(struct rt_dec_run *r, struct rt_tf_seq *s, uint32_t t, float *logits,
                   int is_step, double t0, struct err *e)
{
    double t1 = cm_now_ms();
    int rc = rt_tf_seq_kick(s, e);
    double t2 = cm_now_ms();
    if (rc == 0)
        rc = rt_tf_seq_wait(s, e);
    double t3 = cm_now_ms();
    if (rc < 0)
        return rc;
    r->kv->len += t;
    r->last_t = t;
    if (logits != NULL)
        memcpy(logits, (const char *)r->host->b.map + r->host_logits, (size_t)r->m->c.vocab * 4);
    double t4 = cm_now_ms();
    if (is_step) {
        r->st.steps++;
        r->st.step_ms += t4 - t0;
        r->st.wait_ms += t3 - t2;
        r->st.host_ms += (t2 - t0) + (t4 - t3);
        (void)t1;
    }
    return 0;
}

int rt_dec_prefill(struct rt_dec_run *r, const uint32_t *ids, const float *embeds, uint32_t t,
                   uint32_t prefix, float *logits, struct err *e)
{
    const struct rt_dec_config *c = &r->m->c;
    if (t == 0 || t > r->max_t || r->kv->len + t > r->kv->cap)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_INVALID, "too_long",
                       "prefill of %u positions after %u (run limits %u / %u)", t, r->kv->len,
                       r->max_t, r->kv->cap);
    uint32_t *st = host_state(r), *hid = (uint32_t *)((char *)r->host->b.map + r->host_ids);
    for (uint32_t i = 0; i < t; i++) {
        if (ids[i] == RT_DEC_EMBED) {
            if (embeds == NULL)
                return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_input",
                               "position %u takes an embedding but none was given", i);
            int rc = rt_tf_buf_write(r->m->dev, r->x, (uint64_t)i * c->dim * 4,
                                     embeds + (uint64_t)i * c->dim, (uint64_t)c->dim * 4, e);
            if (rc < 0)
                return rc;
        } else if (ids[i] >= c->vocab) {
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_input",
                           "token id %u >= vocab %u", ids[i], c->vocab);
        }
        hid[i] = ids[i];
    }
    st[0] = r->kv->len;
    if (r->pre == NULL || r->pre_t != t || r->pre_prefix != prefix) {
        rt_tf_seq_free(r->pre);
        r->pre = NULL;
        int rc = rt_tf_seq_init(r->m->dev, &r->pre, e);
        if (rc == 0)
            rc = record(r, r->pre, t, prefix, e);
        if (rc < 0) {
            rt_tf_seq_free(r->pre);
            r->pre = NULL;
            return rc;
        }
        r->pre_t = t;
        r->pre_prefix = prefix;
        r->st.prefill_dispatches = rt_tf_seq_dispatches(r->pre);
    }
    return run_seq(r, r->pre, t, logits, 0, cm_now_ms(), e);
}

int rt_dec_step(struct rt_dec_run *r, uint32_t id, float *logits, struct err *e)
{
    double t0 = cm_now_ms();
    if (id >= r->m->c.vocab)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_input", "token id %u >= vocab %u",
                       id, r->m->c.vocab);
    if (r->kv->len + 1 > r->kv->cap)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_INVALID, "too_long",
                       "KV cache full at %u positions", r->kv->cap);
    uint32_t *st = host_state(r);
    st[0] = r->kv->len;
    ((uint32_t *)((char *)r->host->b.map + r->host_ids))[0] = id;
    return run_seq(r, r->step, 1, logits, 1, t0, e);
}

int rt_dec_hidden(struct rt_dec_run *r, uint32_t rows, float *out, struct err *e)
{
    if (rows > r->last_t)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "hidden rows %u > %u", rows,
                       r->last_t);
    return rt_tf_buf_read(r->m->dev, r->x, 0, out, (uint64_t)rows * r->m->c.dim * 4, e);
}

static int is_in(uint32_t id, const uint32_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == id)
            return 1;
    return 0;
}

int rt_dec_generate(struct rt_dec_run *r, float *first_logits, const struct rt_dec_gen *g,
                    uint32_t *out, uint32_t cap, uint32_t *n_out, struct err *e)
{
    const struct rt_dec_config *c = &r->m->c;
    struct rt_sampler sm;
    int rc = rt_sample_init(&sm, c->vocab, g->seed, e);
    if (rc < 0)
        return rc;
    float *logits = first_logits;
    uint32_t n = 0;
    int end = 0;
    for (;;) {
        /* masking and sampling are host work of the step that follows */
        double t0 = cm_now_ms();
        for (int i = 0; i < g->n_suppress; i++)
            if (g->suppress[i] < c->vocab)
                logits[g->suppress[i]] = -INFINITY;
        uint32_t id = rt_sample_pick(&sm, logits, g->temperature, g->top_p);
        if (is_in(id, g->stop, g->n_stop)) {
            end = RT_DEC_END_STOP;
            break;
        }
        if (n < cap)
            out[n] = id;
        n++;
        if (g->on_token != NULL && g->on_token(g->ud, id) != 0) {
            end = RT_DEC_END_CALLBACK;
            break;
        }
        if (n >= g->max_tokens) {
            end = RT_DEC_END_LIMIT;
            break;
        }
        if (g->cancel != NULL && *g->cancel) {
            end = RT_DEC_END_CANCELLED;
            break;
        }
        if (r->kv->len >= r->kv->cap) {
            end = RT_DEC_END_CONTEXT;
            break;
        }
        double pick = cm_now_ms() - t0;
        if ((rc = rt_dec_step(r, id, logits, e)) < 0)
            break;
        r->st.host_ms += pick;
        r->st.step_ms += pick;
    }
    rt_sample_free(&sm);
    *n_out = n;
    return rc < 0 ? rc : end;
}

/* ---- batched decoding ----------------------------------------------------------- */

/* one decode step of several runs recorded as one submission: the linears
 * see n rows (each weight read once per step), rotary/KV write and
 * attention go per run to its own cache at its own position (state[i]) */
struct rt_dec_batch {
    struct rt_dec *m;
    uint32_t cap; /* rows the buffers hold */
    struct rt_tf_buf *x, *h, *qkv, *q, *att, *ff, *hl, *logits, *host;
    uint64_t host_ids, host_logits;
    struct rt_tf_seq *step;
    struct rt_dec_run *rec[RT_DEC_MAX_BATCH]; /* the runs step was recorded for */
    uint32_t n_rec;
};

void rt_dec_batch_free(struct rt_dec_batch *b)
{
    if (b == NULL)
        return;
    struct rt_device *d = b->m->dev;
    rt_tf_seq_free(b->step);
    struct rt_tf_buf *v[] = {b->x, b->h, b->qkv, b->q, b->att, b->ff, b->hl, b->logits, b->host};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        rt_tf_buf_free(d, v[i]);
    free(b);
}

int rt_dec_batch_init(struct rt_dec *m, uint32_t cap, struct rt_dec_batch **out, struct err *e)
{
    const struct rt_dec_config *c = &m->c;
    uint64_t D = c->dim;
    if (cap == 0 || cap > RT_DEC_MAX_BATCH)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                       "decode batch of %u (1..%d)", cap, RT_DEC_MAX_BATCH);
    /* per-run rows are bound at offsets of whole rows */
    uint64_t al = m->dev->gpu.caps.min_storage_align ? m->dev->gpu.caps.min_storage_align : 1;
    if ((D * 4) % al != 0 || (D * 12) % al != 0)
        return err_set(e, RT_UNSUPPORTED, ERR_UNAVAILABLE, "unsupported_shape",
                       "dim %u misaligns rows for a batched step", c->dim);
    struct rt_dec_batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory for a batch");
    b->m = m;
    b->cap = cap;
    b->host_ids = 256;
    b->host_logits = (256 + (uint64_t)cap * 4 + 255) / 256 * 256;
    struct {
        struct rt_tf_buf **p;
        uint64_t size;
        int host;
    } bs[] = {
        {&b->x, cap * D * 4, 0},
        {&b->h, cap * D * 4, 0},
        {&b->qkv, cap * D * 12, 0},
        {&b->q, cap * D * 4, 0},
        {&b->att, cap * D * 4, 0},
        {&b->ff, (uint64_t)cap * c->ff_dim * 4, 0},
        {&b->hl, cap * D * 4, 0},
        {&b->logits, (uint64_t)cap * c->vocab * 4, 0},
        {&b->host, b->host_logits + (uint64_t)cap * c->vocab * 4, 1},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(bs) / sizeof(bs[0]) && rc == 0; i++) {
        if (bs[i].size > m->dev->gpu.caps.max_storage_range)
            rc = err_set(e, RT_ERR_TOO_LARGE, ERR_UNAVAILABLE, "too_large",
                         "a decode batch of %u needs a %llu-byte buffer (limit %llu)", cap,
                         (unsigned long long)bs[i].size,
                         (unsigned long long)m->dev->gpu.caps.max_storage_range);
        else
            rc = rt_tf_buf_init(m->dev, bs[i].size, bs[i].host, bs[i].p, e);
    }
    if (rc < 0) {
        rt_dec_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void rt_dec_batch_reset(struct rt_dec_batch *b)
{
    rt_tf_seq_free(b->step);
    b->step = NULL;
    b->n_rec = 0;
}

uint64_t rt_dec_batch_device_bytes(const struct rt_dec_batch *b)
{
    uint64_t n = 0;
    const struct rt_tf_buf *v[] = {b->x, b->h, b->qkv, b->q, b->att, b->ff, b->hl, b->logits};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        n += v[i]->b.size;
    return n;
}

/* records one step of runs[0..n) (the same pass as record() with t = 1
 * per run, the rows side by side) */
static int record_batch(struct rt_dec_batch *b, struct rt_dec_run *const *runs, uint32_t n,
                        struct err *e)
{
    struct rt_dec *m = b->m;
    const struct rt_dec_config *c = &m->c;
    uint32_t D = c->dim;
    rt_tf_seq_free(b->step);
    b->step = NULL;
    b->n_rec = 0;
    int rc = rt_tf_seq_init(m->dev, &b->step, e);
    if (rc < 0)
        return rc;
    struct rt_tf_seq *s = b->step;
    struct rt_tf_ref x = rt_tf_whole(b->x), h = rt_tf_whole(b->h), qkv = rt_tf_whole(b->qkv),
                     q = rt_tf_whole(b->q), att = rt_tf_whole(b->att), ff = rt_tf_whole(b->ff),
                     host = rt_tf_whole(b->host);
    struct rt_tf_ref state = rt_tf_sub(host, 0, 4 * RT_DEC_MAX_BATCH),
                     ids = rt_tf_sub(host, b->host_ids, (uint64_t)n * 4);
    rc = rt_tf_embed(s, &m->wte, ids, 0, n, x, D, e);
    for (uint32_t l = 0; l < c->n_layers && rc == 0; l++) {
        const struct rt_tf_weight *w = &m->lin[l * L_N];
        rc = rt_tf_layernorm(s, x, D, small_ref(m, 2 * l), small_ref(m, 2 * l + 1), h, D, n, D,
                             c->ln_eps, e);
        if (rc == 0)
            rc = rt_tf_linear(s, &w[L_QKV], h, D, qkv, 3 * D, n, RT_TF_ACT_NONE, 0, e);
        if (rc == 0)
            rc = rt_tf_linear(s, &w[L_FC1], h, D, ff, c->ff_dim, n, RT_TF_ACT_GELU_TANH, 0, e);
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            struct rt_kv *kv = runs[i]->kv;
            rc = rt_tf_rope(s, rt_tf_sub(qkv, (uint64_t)i * D * 12, (uint64_t)D * 12), 3 * D,
                            cs_ref(m), state, i, rt_tf_sub(q, (uint64_t)i * D * 4, (uint64_t)D * 4),
                            D, rt_kv_ref(kv, l, 0), rt_kv_ref(kv, l, 1), D, 1, D, m->hd, c->rot_dim,
                            kv->cap, c->kv_f16, e);
        }
        if (rc == 0)
            rc = rt_tf_linear(s, &w[L_FC2], ff, c->ff_dim, x, D, n, RT_TF_ACT_NONE, 1, e);
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            struct rt_kv *kv = runs[i]->kv;
            struct rt_tf_attn a = {
                .q = {q, i * D, D, 0},
                .k = {rt_kv_ref(kv, l, 0), 0, D, 0},
                .v = {rt_kv_ref(kv, l, 1), 0, D, 0},
                .o = {att, i * D, D, 0},
                .state = state,
                .st = i,
                .t = 1,
                .batch = 1,
                .heads = c->n_heads,
                .hd = m->hd,
                .prefix = 0,
                .causal = 1,
                .scale = 1.0f / sqrtf((float)m->hd),
                .kv_f16 = c->kv_f16,
            };
            rc = rt_tf_attention(s, &a, e);
        }
        if (rc == 0)
            rc = rt_tf_linear(s, &w[L_PROJ], att, D, x, D, n, RT_TF_ACT_NONE, 1, e);
    }
    if (rc == 0)
        rc = rt_tf_layernorm(s, x, D, small_ref(m, 2 * c->n_layers),
                             small_ref(m, 2 * c->n_layers + 1), rt_tf_whole(b->hl), D, n, D,
                             c->ln_eps, e);
    if (rc == 0)
        rc = rt_tf_linear(s, &m->lm_head, rt_tf_whole(b->hl), D, rt_tf_whole(b->logits), c->vocab,
                          n, RT_TF_ACT_NONE, 0, e);
    if (rc == 0)
        rc = rt_tf_seq_copy(s, rt_tf_sub(rt_tf_whole(b->logits), 0, (uint64_t)n * c->vocab * 4),
                            rt_tf_sub(host, b->host_logits, (uint64_t)n * c->vocab * 4), e);
    if (rc == 0)
        rc = rt_tf_seq_end(s, e);
    if (rc < 0) {
        rt_tf_seq_free(b->step);
        b->step = NULL;
        return rc;
    }
    memcpy(b->rec, runs, n * sizeof(runs[0]));
    b->n_rec = n;
    return 0;
}

int rt_dec_batch_step(struct rt_dec_batch *b, struct rt_dec_run *const *runs, uint32_t n,
                      const uint32_t *ids, float *logits, struct err *e)
{
    const struct rt_dec_config *c = &b->m->c;
    if (n == 0 || n > b->cap)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "batch step of %u runs (%u)", n,
                       b->cap);
    for (uint32_t i = 0; i < n; i++) {
        if (runs[i]->m != b->m || ids[i] >= c->vocab)
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_input",
                           "run %u: another model or token id %u >= vocab %u", i, ids[i], c->vocab);
        if (runs[i]->kv->len + 1 > runs[i]->kv->cap)
            return err_set(e, RT_ERR_TOO_LARGE, ERR_INVALID, "too_long",
                           "KV cache full at %u positions", runs[i]->kv->cap);
    }
    double t0 = cm_now_ms();
    if (b->step == NULL || b->n_rec != n || memcmp(b->rec, runs, n * sizeof(runs[0])) != 0) {
        int rc = record_batch(b, runs, n, e);
        if (rc < 0)
            return rc;
    }
    uint32_t *st = (uint32_t *)b->host->b.map;
    uint32_t *hid = (uint32_t *)((char *)b->host->b.map + b->host_ids);
    for (uint32_t i = 0; i < n; i++) {
        st[i] = runs[i]->kv->len;
        hid[i] = ids[i];
    }
    int rc = rt_tf_seq_submit(b->step, e);
    if (rc < 0)
        return rc;
    memcpy(logits, (const char *)b->host->b.map + b->host_logits, (size_t)n * c->vocab * 4);
    double dt = (cm_now_ms() - t0) / n;
    for (uint32_t i = 0; i < n; i++) {
        runs[i]->kv->len += 1;
        runs[i]->last_t = 0; /* the run's own activations do not hold this step */
        runs[i]->st.steps++;
        runs[i]->st.step_ms += dt;
    }
    return 0;
}

int rt_dec_generate_batch(struct rt_dec_batch *b, struct rt_dec_run *const *runs, uint32_t n,
                          float *const *first_logits, const struct rt_dec_gen *g,
                          uint32_t *const *out, uint32_t cap, uint32_t *n_out, int *end,
                          struct err *e)
{
    const struct rt_dec_config *c = &b->m->c;
    if (n == 0 || n > b->cap)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "batch of %u runs (%u)", n,
                       b->cap);
    struct rt_sampler sm[RT_DEC_MAX_BATCH];
    struct rt_dec_run *act[RT_DEC_MAX_BATCH];
    uint32_t who[RT_DEC_MAX_BATCH], ids[RT_DEC_MAX_BATCH];
    float *lg = malloc((size_t)n * c->vocab * 4);
    int rc = lg == NULL ? err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory") : 0;
    uint32_t ns = 0;
    for (; ns < n && rc == 0; ns++) {
        rc = rt_sample_init(&sm[ns], c->vocab, g[ns].seed, e);
        if (rc == 0) {
            memcpy(lg + (size_t)ns * c->vocab, first_logits[ns], (size_t)c->vocab * 4);
            n_out[ns] = 0;
            end[ns] = 0;
        }
    }
    if (rc < 0)
        ns--;
    /* row i of lg belongs to sequence who[i] (the active ones, in order) */
    uint32_t n_act = n;
    for (uint32_t i = 0; i < n; i++)
        who[i] = i;
    while (rc == 0 && n_act > 0) {
        uint32_t k = 0;
        for (uint32_t r = 0; r < n_act; r++) {
            uint32_t i = who[r];
            const struct rt_dec_gen *gi = &g[i];
            float *l = lg + (size_t)r * c->vocab;
            for (int j = 0; j < gi->n_suppress; j++)
                if (gi->suppress[j] < c->vocab)
                    l[gi->suppress[j]] = -INFINITY;
            uint32_t id = rt_sample_pick(&sm[i], l, gi->temperature, gi->top_p);
            if (is_in(id, gi->stop, gi->n_stop)) {
                end[i] = RT_DEC_END_STOP;
                continue;
            }
            if (n_out[i] < cap)
                out[i][n_out[i]] = id;
            n_out[i]++;
            if (gi->on_token != NULL && gi->on_token(gi->ud, id) != 0)
                end[i] = RT_DEC_END_CALLBACK;
            else if (n_out[i] >= gi->max_tokens)
                end[i] = RT_DEC_END_LIMIT;
            else if (gi->cancel != NULL && *gi->cancel)
                end[i] = RT_DEC_END_CANCELLED;
            else if (runs[i]->kv->len >= runs[i]->kv->cap)
                end[i] = RT_DEC_END_CONTEXT;
            if (end[i] != 0)
                continue;
            /* still going: its row moves up to k (rows only move down) */
            if (k != r)
                memmove(lg + (size_t)k * c->vocab, l, (size_t)c->vocab * 4);
            who[k] = i;
            act[k] = runs[i];
            ids[k] = id;
            k++;
        }
        n_act = k;
        if (n_act > 0)
            rc = rt_dec_batch_step(b, act, n_act, ids, lg, e);
    }
    for (uint32_t i = 0; i < ns; i++)
        rt_sample_free(&sm[i]);
    free(lg);
    /* the caller may free these runs now: a later run at the same address
     * must not replay a step bound to freed caches */
    rt_dec_batch_reset(b);
    return rc;
}
