/*
 * rt_tf_conform.c: conformance of the transformer kernels (runtime/tfm/)
 * against their CPU references (rt_tf_ref.c) on the device (lavapipe with
 * the validation layers in suite 30-runtime): every op at reduced sizes
 * with odd shapes, each weight type, both attention kernels and both head
 * sizes, masks, replays of one recording with new device-side positions.
 * Tolerances are the measured maximum errors times a margin of a few
 * (printed as "# op: max err ... tol ..."); a validation error fails.
 *
 *   rt_tf_conform [-v]
 */
#include "runtime/tfm/rt_tf.h"
#include "runtime/tfm/rt_tf_ref.h"
#include "runtime/ir/rt_ir.h"
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
static uint32_t rng = 7;
static struct rt_tf_buf *bufs[256];
static int n_bufs;

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

/* a device buffer holding n floats (copied from h when not NULL, else zero) */
static struct rt_tf_ref dbuf(const float *h, size_t n)
{
    struct err e = {0};
    struct rt_tf_buf *b = NULL;
    size_t bytes = n * 4 < 16 ? 16 : n * 4;
    if (rt_tf_buf_init(dev, bytes, 0, &b, &e) < 0) {
        printf("# buffer: %s\n", e.msg);
        exit(1);
    }
    bufs[n_bufs++] = b;
    if (h != NULL)
        rt_tf_buf_write(dev, b, 0, h, n * 4, &e);
    else {
        float *z = calloc(n + 4, 4);
        rt_tf_buf_write(dev, b, 0, z, n * 4, &e);
        free(z);
    }
    return rt_tf_sub(rt_tf_whole(b), 0, bytes);
}

static void get(struct rt_tf_ref r, float *h, size_t n)
{
    struct err e = {0};
    rt_tf_buf_read(dev, r.buf, r.off, h, n * 4, &e);
}

static void free_bufs(void)
{
    for (int i = 0; i < n_bufs; i++)
        rt_tf_buf_free(dev, bufs[i]);
    n_bufs = 0;
}

static float max_err(const float *a, const float *b, size_t n, float *refmax)
{
    float m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m))
            m = d; /* NaN propagates as a failure */
        r = fabsf(b[i]) > r ? fabsf(b[i]) : r;
    }
    if (refmax)
        *refmax = r;
    return m;
}

static void check(const char *what, const float *got, const float *ref, size_t n, float tol)
{
    float rm;
    float m = max_err(got, ref, n, &rm);
    printf("# %s: max err %.3g (max |ref| %.3g) tol %.3g\n", what, m, rm, tol);
    TH_CHECK(m <= tol, "%s matches the reference", what);
}

/* runs one recorded sequence: begin, fn, end, submit */
#define RUN(body)                                                                                  \
    do {                                                                                           \
        struct err e_ = {0};                                                                       \
        struct rt_tf_seq *s_ = NULL;                                                               \
        int rc_ = rt_tf_seq_init(dev, &s_, &e_);                                                   \
        struct rt_tf_seq *s = s_;                                                                  \
        struct err *e = &e_;                                                                       \
        if (rc_ == 0)                                                                              \
            rc_ = (body);                                                                          \
        if (rc_ == 0)                                                                              \
            rc_ = rt_tf_seq_end(s_, &e_);                                                          \
        if (rc_ == 0)                                                                              \
            rc_ = rt_tf_seq_submit(s_, &e_);                                                       \
        if (rc_ < 0)                                                                               \
            printf("# run failed: %s\n", e_.msg);                                                  \
        TH_CHECK(rc_ == 0, "recorded and ran: %s", #body);                                         \
        rt_tf_seq_free(s_);                                                                        \
        (void)s;                                                                                   \
        (void)e;                                                                                   \
    } while (0)

static void t_layernorm(void)
{
    uint32_t dims[2] = {2048, 1152};
    for (int c = 0; c < 2; c++) {
        uint32_t rows = 5, dim = dims[c], ldx = dim + 4 * c, ldy = dim;
        float *x = rnd((size_t)rows * ldx, -3, 5), *w = rnd(dim, 0.5f, 1.5f), *b = rnd(dim, -1, 1);
        float *ref = calloc((size_t)rows * ldy, 4), *got = calloc((size_t)rows * ldy, 4);
        struct rt_tf_ref X = dbuf(x, (size_t)rows * ldx), W = dbuf(w, dim), B = dbuf(b, dim),
                         Y = dbuf(NULL, (size_t)rows * ldy);
        RUN(rt_tf_layernorm(s, X, ldx, W, B, Y, ldy, rows, dim, 1e-5f, e));
        get(Y, got, (size_t)rows * ldy);
        rt_tfr_layernorm(x, ldx, w, b, ref, ldy, rows, dim, 1e-5f);
        check(c ? "layernorm 5x1152 (ld 1156)" : "layernorm 5x2048", got, ref, (size_t)rows * ldy,
              3e-6f);
        free(x), free(w), free(b), free(ref), free(got);
    }
}

static void t_eltwise(void)
{
    uint32_t n = 1003, nb = 17;
    float *a = rnd(n, -6, 6), *b = rnd(nb, -1, 1), *ref = calloc(n, 4), *got = calloc(n, 4);
    struct rt_tf_ref A = dbuf(a, n), B = dbuf(b, nb), Y = dbuf(NULL, n);
    static const char *names[] = {"add (broadcast)", "gelu tanh", "gelu erf"};
    static const float tol[] = {1e-6f, 2e-6f, 2e-6f};
    for (int op = 0; op < 3; op++) {
        RUN(rt_tf_eltwise(s, op, A, B, nb, Y, n, e));
        get(Y, got, n);
        for (uint32_t i = 0; i < n; i++)
            ref[i] = op == 0 ? a[i] + b[i % nb]
                             : (op == 1 ? rt_tfr_gelu_tanh(a[i]) : rt_tfr_gelu_erf(a[i]));
        check(names[op], got, ref, n, tol[op]);
    }
    free(a), free(b), free(ref), free(got);
}

static void t_softmax(void)
{
    /* a prefix-LM row block: queries 28..39 over 40 keys, prefix 30; then plain rows */
    struct {
        uint32_t rows, len, t, pos0, prefix;
        int causal;
        float scale;
        const char *what;
    } c[] = {{12, 40, 12, 28, 30, 1, 1.0f, "softmax prefix-LM mask (t 12, pos0 28, prefix 30)"},
             {3, 700, 3, 697, 0, 0, 2.0f, "softmax 3x700 scale 2 (temperature 0.5)"},
             {6, 9, 6, 3, 0, 1, 1.0f, "softmax causal"}};
    for (int k = 0; k < 3; k++) {
        size_t n = (size_t)c[k].rows * c[k].len;
        float *x = rnd(n, -8, 8), *ref = calloc(n, 4), *got = calloc(n, 4);
        struct rt_tf_ref X = dbuf(x, n), Y = dbuf(NULL, n);
        RUN(rt_tf_softmax(s, X, Y, c[k].rows, c[k].len, c[k].len, c[k].t, c[k].pos0, c[k].prefix,
                          c[k].causal, c[k].scale, e));
        get(Y, got, n);
        rt_tfr_softmax(x, ref, c[k].rows, c[k].len, c[k].len, c[k].t, c[k].pos0, c[k].prefix,
                       c[k].causal, c[k].scale);
        check(c[k].what, got, ref, n, 5e-7f);
        free(x), free(ref), free(got);
    }
}

static void t_linear(void)
{
    struct {
        uint32_t m, n, k;
        int act, acc;
    } c[] = {{1, 100, 256, 0, 0},
             {1, 200, 512, 1, 1},
             {3, 72, 64, 2, 0},
             {37, 130, 96, 1, 0},
             {9, 64, 1024, 0, 1}};
    /* tolerances: measured max error x ~4 (fp32 accumulation over k terms) */
    for (int type = 0; type < 4; type++)
        for (int k = 0; k < 5; k++) {
            uint32_t m = c[k].m, n = c[k].n, K = c[k].k, ldx = K, ldy = n + 3;
            float *x = rnd((size_t)m * ldx, -1, 1), *w = rnd((size_t)n * K, -0.5f, 0.5f);
            float *bias = rnd(n, -1, 1), *wr = malloc((size_t)n * K * 4);
            float *y0 = rnd((size_t)m * ldy, -1, 1), *ref = malloc((size_t)m * ldy * 4);
            float *got = calloc((size_t)m * ldy, 4);
            memcpy(ref, y0, (size_t)m * ldy * 4);
            struct err ue = {0};
            struct rt_tf_weight W;
            int rc = rt_tf_weight_upload(dev, type, n, K, w, bias, &W, &ue);
            TH_CHECK(rc == 0, "weight %ux%u uploaded as %s: %s", n, K, rt_tf_wtype_name(type),
                     ue.msg);
            struct rt_tf_ref X = dbuf(x, (size_t)m * ldx), Y = dbuf(y0, (size_t)m * ldy);
            RUN(rt_tf_linear(s, &W, X, ldx, Y, ldy, m, c[k].act, c[k].acc, e));
            get(Y, got, (size_t)m * ldy);
            rt_tfr_round_weight(type, w, n, K, wr);
            rt_tfr_linear(x, ldx, wr, bias, ref, ldy, m, n, K, c[k].act, c[k].acc);
            char what[128];
            snprintf(what, sizeof(what), "linear %s m %u n %u k %u act %d acc %d (%s kernel)",
                     rt_tf_wtype_name(type), m, n, K, c[k].act, c[k].acc, m <= 4 ? "mv" : "mm");
            check(what, got, ref, (size_t)m * ldy, 8e-7f * sqrtf((float)K));
            /* the accuracy cost of the storage type, against the fp32 weights */
            if (k == 4) {
                float *r32 = malloc((size_t)m * ldy * 4);
                memcpy(r32, y0, (size_t)m * ldy * 4);
                rt_tfr_linear(x, ldx, w, bias, r32, ldy, m, n, K, c[k].act, c[k].acc);
                float rm, d = max_err(got, r32, (size_t)m * ldy, &rm);
                printf("# linear %s vs fp32 weights (k %u): max err %.3g (max |ref| %.3g)\n",
                       rt_tf_wtype_name(type), K, d, rm);
                free(r32);
            }
            rt_tf_weight_free(dev, &W);
            free(x), free(w), free(bias), free(wr), free(y0), free(ref), free(got);
        }
}

/* pre-quantised symmetric q4 (the safetensors converter's layout: zero 8) and int8 */
static void t_linear_raw(void)
{
    uint32_t m = 2, n = 70, K = 256, G = 64;
    uint8_t *q = malloc((size_t)n * K / 2);
    float *sc = rnd((size_t)n * K / G, 0.01f, 0.1f), *x = rnd((size_t)m * K, -1, 1);
    float *wr = malloc((size_t)n * K * 4), *ref = calloc((size_t)m * n, 4),
          *got = calloc((size_t)m * n, 4);
    for (size_t i = 0; i < (size_t)n * K / 2; i++) {
        rng = rng * 1664525u + 1013904223u;
        q[i] = (uint8_t)(rng >> 24);
    }
    for (size_t i = 0; i < (size_t)n * K; i++) {
        int u = (q[i / 2] >> (4 * (i % 2))) & 15;
        wr[i] = (float)(u - 8) * sc[i / G];
    }
    struct err e0 = {0};
    struct rt_tf_weight W;
    TH_CHECK(rt_tf_weight_upload_raw(dev, RT_TF_Q4, n, K, G, q, sc, NULL, NULL, &W, &e0) == 0,
             "raw q4 (group 64, symmetric) uploaded: %s", e0.msg);
    struct rt_tf_ref X = dbuf(x, (size_t)m * K), Y = dbuf(NULL, (size_t)m * n);
    for (int mm = 0; mm < 2; mm++) {
        dev->opts.tf_linear = mm ? 2 : 1; /* mm : mv */
        RUN(rt_tf_linear(s, &W, X, K, Y, n, m, 0, 0, e));
        get(Y, got, (size_t)m * n);
        rt_tfr_linear(x, K, wr, NULL, ref, n, m, n, K, 0, 0);
        check(mm ? "linear raw q4 g64 symmetric (mm kernel)"
                 : "linear raw q4 g64 symmetric (mv kernel)",
              got, ref, (size_t)m * n, 8e-7f * 16);
    }
    dev->opts.tf_linear = 0;
    /* x in a host-visible buffer (no texel-buffer usage): storage-buffer path */
    struct rt_tf_buf *hb = NULL;
    rt_tf_buf_init(dev, (uint64_t)m * K * 4, 1, &hb, &e0);
    rt_tf_buf_write(dev, hb, 0, x, (uint64_t)m * K * 4, &e0);
    RUN(rt_tf_linear(s, &W, rt_tf_whole(hb), K, Y, n, m, 0, 0, e));
    get(Y, got, (size_t)m * n);
    check("linear with x in a host-visible buffer", got, ref, (size_t)m * n, 8e-7f * 16);
    rt_tf_buf_free(dev, hb);
    rt_tf_weight_free(dev, &W);
    struct rt_tf_weight W8;
    int8_t *q8 = malloc((size_t)n * K);
    for (size_t i = 0; i < (size_t)n * K; i++) {
        q8[i] = (int8_t)((int)(q[i / 2]) - 128);
        wr[i] = (float)q8[i] * sc[i / K];
    }
    TH_CHECK(rt_tf_weight_upload_raw(dev, RT_TF_I8, n, K, 0, q8, sc, NULL, NULL, &W8, &e0) == 0,
             "raw int8 uploaded: %s", e0.msg);
    RUN(rt_tf_linear(s, &W8, X, K, Y, n, m, 0, 0, e));
    get(Y, got, (size_t)m * n);
    rt_tfr_linear(x, K, wr, NULL, ref, n, m, n, K, 0, 0);
    check("linear raw int8", got, ref, (size_t)m * n, 8e-7f * 16 * 10);
    rt_tf_weight_free(dev, &W8);
    free(q), free(q8), free(sc), free(x), free(wr), free(ref), free(got);
}

/* weights split by rows into parts (as a 51200-row head is under lavapipe's
 * 128 MiB binding limit), forced small here */
static void t_parts(void)
{
    uint32_t m = 2, n = 300, K = 64;
    float *x = rnd((size_t)m * K, -1, 1), *w = rnd((size_t)n * K, -1, 1), *b = rnd(n, -1, 1);
    float *wr = malloc((size_t)n * K * 4), *ref = calloc((size_t)m * n, 4),
          *got = calloc((size_t)m * n, 4);
    dev->opts.tf_part_bytes = 16384; /* 64 f32 rows of 64 */
    for (int type = 0; type < 4; type++) {
        struct err e0 = {0};
        struct rt_tf_weight W;
        int rc = rt_tf_weight_upload(dev, type, n, K, w, b, &W, &e0);
        TH_CHECK(rc == 0 && (type != RT_TF_F32 || W.n_parts == 5), "%s weight in %d parts: %s",
                 rt_tf_wtype_name(type), W.n_parts, e0.msg);
        struct rt_tf_ref X = dbuf(x, (size_t)m * K), Y = dbuf(NULL, (size_t)m * n);
        rt_tfr_round_weight(type, w, n, K, wr);
        for (int mm = 0; mm < 2; mm++) {
            dev->opts.tf_linear = mm ? 2 : 1; /* mm : mv */
            RUN(rt_tf_linear(s, &W, X, K, Y, n, m, 0, 0, e));
            get(Y, got, (size_t)m * n);
            rt_tfr_linear(x, K, wr, b, ref, n, m, n, K, 0, 0);
            char what[80];
            snprintf(what, sizeof(what), "linear %s in %d parts (%s kernel)",
                     rt_tf_wtype_name(type), W.n_parts, mm ? "mm" : "mv");
            check(what, got, ref, (size_t)m * n, 8e-7f * 8);
        }
        dev->opts.tf_linear = 0;
        if (type < 3) {
            uint32_t ids[4] = {0, 63, 64, 299};
            float out[4 * 64], want[4 * 64];
            struct rt_tf_ref I = dbuf((const float *)ids, 4), E = dbuf(NULL, 4 * 64);
            RUN(rt_tf_embed(s, &W, I, 0, 4, E, K, e));
            get(E, out, 4 * 64);
            for (int i = 0; i < 4; i++)
                memcpy(want + i * 64, wr + (size_t)ids[i] * K, 64 * 4);
            check(type == 0
                      ? "embedding f32 across parts"
                      : (type == 1 ? "embedding f16 across parts" : "embedding i8 across parts"),
                  out, want, 4 * 64, 1e-6f);
        }
        rt_tf_weight_free(dev, &W);
    }
    dev->opts.tf_part_bytes = 0;
    free(x), free(w), free(b), free(wr), free(ref), free(got);
}

static void t_attention(void)
{
    struct {
        uint32_t hd, batch, heads, t, pos0, prefix;
        int causal;
        const char *what;
    } c[] = {
        {72, 2, 3, 70, 0, 0, 0, "attention h72 vision (2 images x 70 tokens, both ways)"},
        {64, 1, 2, 70, 0, 20, 1, "attention h64 prefix-LM (prefix 20, 70 tokens)"},
        {64, 1, 3, 9, 30, 25, 1, "attention h64 prefill after a cached prefix (pos0 30)"},
        {72, 1, 2, 5, 0, 0, 1, "attention h72 causal"},
        {64, 1, 4, 1, 100, 0, 1, "attention h64 decode (one query, 101 keys)"},
        {72, 1, 2, 1, 40, 0, 1, "attention h72 decode (one query, 41 keys)"},
    };
    for (int k = 0; k < 6; k++) {
        uint32_t hd = c[k].hd, B = c[k].batch, H = c[k].heads, T = c[k].t, P0 = c[k].pos0;
        uint32_t D = H * hd, L = P0 + T;
        /* q: fused qkv rows (ld 3D) like the vision path; k/v: cache rows (ld D) */
        size_t nq = (size_t)B * T * 3 * D, nkv = (size_t)B * L * D, no = (size_t)B * T * D;
        float *q = rnd(nq, -1, 1), *kk = rnd(nkv, -1, 1), *vv = rnd(nkv, -1, 1);
        float *ref = calloc(no, 4), *got = calloc(no, 4);
        uint32_t st[2] = {0, P0};
        struct rt_tf_ref Q = dbuf(q, nq), K = dbuf(kk, nkv), V = dbuf(vv, nkv), O = dbuf(NULL, no),
                         S = dbuf((const float *)st, 2);
        struct rt_tf_attn a = {
            .q = {Q, 0, 3 * D, T * 3 * D},
            .k = {K, 0, D, L * D},
            .v = {V, 0, D, L * D},
            .o = {O, 0, D, T * D},
            .state = S,
            .st = 1,
            .t = T,
            .batch = B,
            .heads = H,
            .hd = hd,
            .prefix = c[k].prefix,
            .causal = c[k].causal,
            .scale = 1.0f / sqrtf((float)hd),
        };
        RUN(rt_tf_attention(s, &a, e));
        get(O, got, no);
        rt_tfr_attention((struct rt_tfr_view){q, 0, 3 * D, T * 3 * D},
                         (struct rt_tfr_view){kk, 0, D, L * D},
                         (struct rt_tfr_view){vv, 0, D, L * D}, ref, 0, D, T * D, P0, T, B, H, hd,
                         c[k].prefix, c[k].causal, a.scale);
        check(c[k].what, got, ref, no, 6e-7f);
        free(q), free(kk), free(vv), free(ref), free(got);
    }
}

static void t_rope(void)
{
    uint32_t T = 5, hd = 64, H = 3, D = H * hd, rot = 32, maxp = 64, P0 = 7, ld = 3 * D;
    float *qkv = rnd((size_t)T * ld, -2, 2), *cs = malloc((size_t)maxp * rot / 2 * 8);
    rt_tfr_rope_table(cs, maxp, rot, 10000.0);
    size_t nc = (size_t)maxp * D;
    float *rq = calloc((size_t)T * D, 4), *rk = calloc(nc, 4), *rv = calloc(nc, 4);
    float *gq = calloc((size_t)T * D, 4), *gk = calloc(nc, 4), *gv = calloc(nc, 4);
    uint32_t st[1] = {P0};
    struct rt_tf_ref X = dbuf(qkv, (size_t)T * ld), C = dbuf(cs, (size_t)maxp * rot),
                     S = dbuf((const float *)st, 1), Q = dbuf(NULL, (size_t)T * D),
                     K = dbuf(NULL, nc), V = dbuf(NULL, nc);
    RUN(rt_tf_rope(s, X, ld, C, S, 0, Q, D, K, V, D, T, D, hd, rot, maxp, 0, e));
    get(Q, gq, (size_t)T * D);
    get(K, gk, nc);
    get(V, gv, nc);
    rt_tfr_rope(qkv, ld, cs, P0, rq, D, rk, rv, D, T, D, hd, rot, maxp);
    check("rope q (rot 32 of 64, pos 7..11)", gq, rq, (size_t)T * D, 1e-6f);
    check("rope k into cache rows 7..11", gk, rk, nc, 1e-6f);
    check("rope v into cache rows 7..11", gv, rv, nc, 0);
    /* the interleaving of the published code, by hand for head 0, pos 7, pair 1 */
    float f = (float)(1.0 / pow(10000.0, 2.0 / 32)), an = 7.0f * f;
    float r = qkv[1], m = qkv[16 + 1];
    float want0 = r * cosf(an) - m * sinf(an), want1 = r * sinf(an) + m * cosf(an);
    TH_CHECK(fabsf(gq[2] - want0) < 1e-5f && fabsf(gq[3] - want1) < 1e-5f,
             "rotated dims are interleaved: out[2] = r1 cos - m1 sin, out[3] = r1 sin + m1 cos");
    TH_CHECK(gq[40] == qkv[40], "dims past the rotary part pass through");
    free(qkv), free(cs), free(rq), free(rk), free(rv), free(gq), free(gk), free(gv);
}

/* halves of n floats (two per uint) and the floats they hold */
static void to_half(const float *f, size_t n, uint16_t *h, float *back)
{
    for (size_t i = 0; i < n; i++) {
        h[i] = rt_f32_to_f16(f[i]);
        back[i] = rt_f16_to_f32(h[i]);
    }
}

static void t_kv_f16(void)
{
    /* rotary + KV write into an fp16 cache */
    uint32_t T = 3, hd = 64, H = 2, D = H * hd, rot = 32, maxp = 16, P0 = 5, ld = 3 * D;
    float *qkv = rnd((size_t)T * ld, -2, 2), *cs = malloc((size_t)maxp * rot / 2 * 8);
    rt_tfr_rope_table(cs, maxp, rot, 10000.0);
    size_t nc = (size_t)maxp * D;
    float *rq = calloc((size_t)T * D, 4), *rk = calloc(nc, 4), *rv = calloc(nc, 4);
    float *gq = calloc((size_t)T * D, 4), *gk = calloc(nc, 4), *gv = calloc(nc, 4);
    uint16_t *hk = calloc(nc, 2), *hv = calloc(nc, 2), *tmp = calloc(nc, 2);
    uint32_t st[1] = {P0};
    struct rt_tf_ref X = dbuf(qkv, (size_t)T * ld), C = dbuf(cs, (size_t)maxp * rot),
                     S = dbuf((const float *)st, 1), Q = dbuf(NULL, (size_t)T * D),
                     K = dbuf(NULL, nc / 2), V = dbuf(NULL, nc / 2);
    RUN(rt_tf_rope(s, X, ld, C, S, 0, Q, D, K, V, D, T, D, hd, rot, maxp, 1, e));
    get(Q, gq, (size_t)T * D);
    get(K, (float *)hk, nc / 2);
    get(V, (float *)hv, nc / 2);
    for (size_t i = 0; i < nc; i++)
        gk[i] = rt_f16_to_f32(hk[i]), gv[i] = rt_f16_to_f32(hv[i]);
    rt_tfr_rope(qkv, ld, cs, P0, rq, D, rk, rv, D, T, D, hd, rot, maxp);
    to_half(rk, nc, tmp, rk);
    to_half(rv, nc, tmp, rv);
    check("rope q with an fp16 cache", gq, rq, (size_t)T * D, 1e-6f);
    check("rope k into an fp16 cache (vs the reference rounded to halves)", gk, rk, nc, 0);
    check("rope v into an fp16 cache", gv, rv, nc, 0);
    free(qkv), free(cs), free(rq), free(rk), free(rv), free(gq), free(gk), free(gv), free(hk),
        free(hv), free(tmp);
    /* attention reading halves: prefill after a cached prefix, and decode */
    struct {
        uint32_t hd, heads, t, pos0, prefix;
        const char *what;
    } c[] = {{64, 2, 9, 30, 25, "attention h64 prefill, fp16 KV"},
             {72, 2, 7, 3, 0, "attention h72 prefill, fp16 KV"},
             {64, 3, 1, 77, 0, "attention h64 decode, fp16 KV"},
             {72, 2, 1, 50, 0, "attention h72 decode, fp16 KV"}};
    for (int k = 0; k < 4; k++) {
        uint32_t H2 = c[k].heads, hd2 = c[k].hd, D2 = H2 * hd2, T2 = c[k].t, L = c[k].pos0 + T2;
        size_t nq = (size_t)T2 * D2, nkv = (size_t)L * D2;
        float *q = rnd(nq, -1, 1), *kk = rnd(nkv, -1, 1), *vv = rnd(nkv, -1, 1);
        uint16_t *kh = calloc(nkv + 2, 2), *vh = calloc(nkv + 2, 2);
        to_half(kk, nkv, kh, kk);
        to_half(vv, nkv, vh, vv);
        float *ref = calloc(nq, 4), *got = calloc(nq, 4);
        uint32_t st2[1] = {c[k].pos0};
        struct rt_tf_ref Qb = dbuf(q, nq), Kb = dbuf((const float *)kh, (nkv + 1) / 2),
                         Vb = dbuf((const float *)vh, (nkv + 1) / 2), Ob = dbuf(NULL, nq),
                         Sb = dbuf((const float *)st2, 1);
        struct rt_tf_attn a = {.q = {Qb, 0, D2, 0},
                               .k = {Kb, 0, D2, 0},
                               .v = {Vb, 0, D2, 0},
                               .o = {Ob, 0, D2, 0},
                               .state = Sb,
                               .st = 0,
                               .t = T2,
                               .batch = 1,
                               .heads = H2,
                               .hd = hd2,
                               .prefix = c[k].prefix,
                               .causal = 1,
                               .scale = 1.0f / sqrtf((float)hd2),
                               .kv_f16 = 1};
        RUN(rt_tf_attention(s, &a, e));
        get(Ob, got, nq);
        rt_tfr_attention((struct rt_tfr_view){q, 0, D2, 0}, (struct rt_tfr_view){kk, 0, D2, 0},
                         (struct rt_tfr_view){vv, 0, D2, 0}, ref, 0, D2, 0, c[k].pos0, T2, 1, H2,
                         hd2, c[k].prefix, 1, a.scale);
        check(c[k].what, got, ref, nq, 6e-7f);
        free(q), free(kk), free(vv), free(kh), free(vh), free(ref), free(got);
    }
}

static void t_embed(void)
{
    uint32_t V = 300, Dm = 64, T = 6, ids[6] = {0, 299, 5, 5, 150, 1};
    float *tab = rnd((size_t)V * Dm, -1, 1), *tr = malloc((size_t)V * Dm * 4);
    float *got = calloc((size_t)T * Dm, 4), *ref = calloc((size_t)T * Dm, 4);
    for (int type = 0; type < 3; type++) {
        struct err ue = {0};
        struct rt_tf_weight W;
        TH_CHECK(rt_tf_weight_upload(dev, type, V, Dm, tab, NULL, &W, &ue) == 0, "table uploaded");
        struct rt_tf_ref I = dbuf((const float *)ids, T), X = dbuf(NULL, (size_t)T * Dm);
        RUN(rt_tf_embed(s, &W, I, 0, T, X, Dm, e));
        get(X, got, (size_t)T * Dm);
        rt_tfr_round_weight(type, tab, V, Dm, tr);
        for (uint32_t t = 0; t < T; t++)
            memcpy(ref + t * Dm, tr + (size_t)ids[t] * Dm, Dm * 4);
        char what[64];
        snprintf(what, sizeof(what), "embedding lookup %s", rt_tf_wtype_name(type));
        check(what, got, ref, (size_t)T * Dm, 1e-6f);
        rt_tf_weight_free(dev, &W);
    }
    struct err e = {0};
    struct rt_tf_weight W;
    rt_tf_weight_upload(dev, RT_TF_Q4, V, Dm, tab, NULL, &W, &e);
    struct rt_tf_ref I = dbuf((const float *)ids, T), X = dbuf(NULL, (size_t)T * Dm);
    struct rt_tf_seq *s = NULL;
    rt_tf_seq_init(dev, &s, &e);
    TH_CHECK(rt_tf_embed(s, &W, I, 0, T, X, Dm, &e) == RT_UNSUPPORTED,
             "a q4 embedding table is refused: %s", e.msg);
    rt_tf_seq_end(s, &e);
    rt_tf_seq_free(s);
    rt_tf_weight_free(dev, &W);
    free(tab), free(tr), free(got), free(ref);
}

static void t_pool(void)
{
    uint32_t c[][4] = {{46, 84, 27, 27}, {65, 65, 27, 27}, {5, 7, 3, 2}};
    for (int k = 0; k < 3; k++) {
        uint32_t N = 2, Hh = c[k][0], Ww = c[k][1], C = 3, OH = c[k][2], OW = c[k][3];
        size_t ni = (size_t)N * Hh * Ww * C, no = (size_t)N * OH * OW * C;
        float *x = rnd(ni, -1, 1), *ref = calloc(no, 4), *got = calloc(no, 4);
        struct rt_tf_ref X = dbuf(x, ni), Y = dbuf(NULL, no);
        RUN(rt_tf_pool(s, X, Y, N, Hh, Ww, C, OH, OW, e));
        get(Y, got, no);
        rt_tfr_pool(x, ref, N, Hh, Ww, C, OH, OW);
        char what[64];
        snprintf(what, sizeof(what), "adaptive avg pool %ux%u -> %ux%u", Hh, Ww, OH, OW);
        check(what, got, ref, no, 4e-7f);
        free(x), free(ref), free(got);
    }
    /* PyTorch's bins by hand: 5 rows -> 3: [0,2), [1,4), [3,5) */
    float x[5] = {1, 2, 3, 4, 5}, y[3];
    rt_tfr_pool(x, y, 1, 5, 1, 1, 3, 1);
    TH_CHECK(y[0] == 1.5f && y[1] == 3.0f && y[2] == 4.5f, "bins floor(i*h/oh)..ceil((i+1)*h/oh)");
}

static void t_copy(void)
{
    /* concatenation of [4][3] and [4][5] into [4][8], then a transpose of [3][4] */
    float a[12], b[20], ref[32] = {0}, got[32];
    for (int i = 0; i < 12; i++)
        a[i] = (float)i;
    for (int i = 0; i < 20; i++)
        b[i] = 100.0f + (float)i;
    struct rt_tf_ref A = dbuf(a, 12), Bf = dbuf(b, 20), Y = dbuf(NULL, 32);
    uint32_t da[4] = {1, 1, 4, 3}, sa[4] = {0, 0, 3, 1}, dsa[4] = {0, 0, 8, 1};
    uint32_t db[4] = {1, 1, 4, 5}, sb[4] = {0, 0, 5, 1}, dsb[4] = {0, 0, 8, 1};
    RUN(rt_tf_copy(s, A, Y, da, sa, dsa, 0, 0, e) || rt_tf_copy(s, Bf, Y, db, sb, dsb, 0, 3, e));
    get(Y, got, 32);
    rt_tfr_copy(a, ref, da, sa, dsa, 0, 0);
    rt_tfr_copy(b, ref, db, sb, dsb, 0, 3);
    check("concat [4][3] + [4][5] -> [4][8]", got, ref, 32, 0);
    TH_CHECK(got[3] == 100.0f && got[8] == 3.0f, "concat places the second part after the first");
    uint32_t dt[4] = {1, 1, 4, 3}, st[4] = {0, 0, 1, 4}, dst[4] = {0, 0, 3, 1};
    RUN(rt_tf_copy(s, A, Y, dt, st, dst, 0, 0, e));
    get(Y, got, 12);
    float tr[12];
    rt_tfr_copy(a, tr, dt, st, dst, 0, 0);
    check("strided copy (transpose 3x4)", got, tr, 12, 0);
}

static void t_fourier(void)
{
    uint32_t M = 2, I = 2, F = 256;
    float *x = rnd(M * I, 0, 1), *w = rnd(I * F, -3, 3), *ref = calloc(M * 2 * F, 4),
          *got = calloc(M * 2 * F, 4);
    struct rt_tf_ref X = dbuf(x, M * I), W = dbuf(w, I * F), Y = dbuf(NULL, M * 2 * F);
    RUN(rt_tf_fourier(s, X, W, Y, M, I, F, e));
    get(Y, got, M * 2 * F);
    rt_tfr_fourier(x, w, ref, M, I, F);
    /* the angle reaches ~40 rad: fp32 argument error ~4e-6 times the slope 1 */
    check("fourier features 2x2 -> 2x512", got, ref, M * 2 * F, 8e-6f);
    free(x), free(w), free(ref), free(got);
}

static void t_argmax(void)
{
    uint32_t rows = 3, len = 51200;
    float *x = rnd((size_t)rows * len, -5, 5);
    x[7] = 9;
    x[40000] = 9; /* tie: the first wins */
    x[len + 3] = NAN;
    x[len + 51199] = 7;
    for (uint32_t j = 0; j < len; j++)
        x[2 * len + j] = -INFINITY;
    x[2 * len + 100] = -1e30f;
    uint32_t got[3] = {0};
    struct rt_tf_ref X = dbuf(x, (size_t)rows * len), O = dbuf(NULL, 4);
    RUN(rt_tf_argmax(s, X, O, rows, len, len, 1, e));
    float tmp[4];
    get(O, tmp, 4);
    memcpy(got, tmp + 1, 12);
    for (uint32_t r = 0; r < rows; r++)
        TH_EQ_INT(got[r], rt_tfr_argmax(x + (size_t)r * len, len), "argmax row %u", r);
    TH_EQ_INT(got[0], 7, "argmax: the first of two equal maxima");
    TH_EQ_INT(got[1], 51199, "argmax: NaN never wins");
    TH_EQ_INT(got[2], 100, "argmax among -inf");
    free(x);
}

static void t_replay(void)
{
    /* one recording replayed with new positions in the state buffer: the
     * decode step's contract (nothing recorded depends on the position) */
    uint32_t H = 2, hd = 64, D = H * hd, maxp = 16, rot = 32;
    float *qkv = rnd(3 * D, -1, 1), *cs = malloc((size_t)maxp * rot / 2 * 8);
    rt_tfr_rope_table(cs, maxp, rot, 10000.0);
    struct rt_tf_ref X = dbuf(qkv, 3 * D), C = dbuf(cs, (size_t)maxp * rot), Q = dbuf(NULL, D),
                     K = dbuf(NULL, (size_t)maxp * D), V = dbuf(NULL, (size_t)maxp * D),
                     O = dbuf(NULL, D);
    struct err e = {0};
    struct rt_tf_buf *stb = NULL;
    rt_tf_buf_init(dev, 16, 1, &stb, &e);
    uint32_t *st = stb->b.map;
    struct rt_tf_ref S = rt_tf_whole(stb);
    struct rt_tf_seq *s = NULL;
    struct rt_tf_attn a = {.q = {Q, 0, D, 0},
                           .k = {K, 0, D, 0},
                           .v = {V, 0, D, 0},
                           .o = {O, 0, D, 0},
                           .state = S,
                           .st = 0,
                           .t = 1,
                           .batch = 1,
                           .heads = H,
                           .hd = hd,
                           .causal = 1,
                           .scale = 0.125f};
    int rc = rt_tf_seq_init(dev, &s, &e);
    if (rc == 0)
        rc = rt_tf_rope(s, X, 3 * D, C, S, 0, Q, D, K, V, D, 1, D, hd, rot, maxp, 0, &e);
    if (rc == 0)
        rc = rt_tf_attention(s, &a, &e);
    if (rc == 0)
        rc = rt_tf_seq_end(s, &e);
    int ok = rc == 0;
    float *kc = calloc((size_t)maxp * D, 4), *vc = calloc((size_t)maxp * D, 4), q[256], o[256];
    float got[256];
    for (uint32_t pos = 0; pos < 5 && ok; pos++) {
        st[0] = pos;
        ok = rt_tf_seq_submit(s, &e) == 0;
        rt_tfr_rope(qkv, 3 * D, cs, pos, q, D, kc, vc, D, 1, D, hd, rot, maxp);
        rt_tfr_attention((struct rt_tfr_view){q, 0, D, 0}, (struct rt_tfr_view){kc, 0, D, 0},
                         (struct rt_tfr_view){vc, 0, D, 0}, o, 0, D, 0, pos, 1, 1, H, hd, 0, 1,
                         0.125f);
        get(O, got, D);
        float m = max_err(got, o, D, NULL);
        ok = ok && m < 6e-7f;
    }
    TH_CHECK(ok, "one recording replayed at positions 0..4 matches the reference: %s", e.msg);
    TH_EQ_INT(rt_tf_seq_dispatches(s), 2, "two dispatches recorded once");
    rt_tf_seq_free(s);
    rt_tf_buf_free(dev, stb);
    free(qkv), free(cs), free(kc), free(vc);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct err e = {0};
    if (env_device_create(getenv("RT_DEVICE"), &dev, &e) < 0) {
        printf("# no Vulkan device: %s\n", e.msg);
        TH_CHECK(0, "device created");
        return th_done();
    }
    printf("# device: %s\n", rt_device_caps(dev)->name);
    t_layernorm();
    t_eltwise();
    t_softmax();
    t_linear();
    t_linear_raw();
    t_parts();
    t_attention();
    t_rope();
    t_kv_f16();
    t_embed();
    t_pool();
    t_copy();
    t_fourier();
    t_argmax();
    t_replay();
    free_bufs();
    TH_EQ_INT(rt_device_validation_errors(dev), 0, "no validation-layer errors");
    rt_device_destroy(dev);
    return th_done();
}
