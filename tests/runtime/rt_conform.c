/*
 * rt_conform.c: op conformance of the Vulkan backend against the CPU
 * reference (test-backend-ops style).  For every op x variant (fp32 /
 * fp16 / int8 weights where the op has weights) x several small shapes
 * (odd sizes, stride 2, groups, asymmetric padding, broadcasting) it builds
 * a one-node graph, runs rt_ref_run on the quantised graph and
 * rt_plan_run on the device, and compares with a per-variant tolerance.
 * Then: a multi-node chain (fusion), batching (lazily recorded batch
 * sizes), smaller run shapes of a reserved plan (no re-plan), RGB8 preprocessing, the OOM limit,
 * and teardown.  Fails on any validation-layer error (RT_VALIDATE=1, set by suite 30-runtime).
 *
 *   rt_conform            all cases
 *   rt_conform -v         print every comparison
 */
#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"
#include "runtime/ref/rt_ref.h"
#include "tests/lib/th.h"

#include <math.h>
#include <stdint.h>
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
/* looser bounds while fp16 arithmetic is forced (VKV_RT_FP16_MATH=1); 0 = the defaults */
static float math_atol, math_rtol;
static int verbose;
static uint32_t rng = 12345;

static float frand(float lo, float hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(rng >> 8) / (float)(1u << 24);
}

static void fill(float *p, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = frand(lo, hi);
}

static const int64_t *S(int64_t a, int64_t b, int64_t c, int64_t d)
{
    static int64_t s[8][4];
    static int at;
    int64_t *r = s[at++ & 7];
    r[0] = a;
    r[1] = b;
    r[2] = c;
    r[3] = d;
    return r;
}

static int ndim_of(const int64_t *s)
{
    int n = 0;
    while (n < 4 && s[n] > 0)
        n++;
    return n;
}

static int in_id(struct rt_graph *g, const int64_t *s)
{
    struct err e = {0};
    return rt_graph_input_add(g, "x", ndim_of(s), s, &e);
}

static int const_id(struct rt_graph *g, const int64_t *s, float lo, float hi)
{
    struct err e = {0};
    int64_t n = 1;
    int nd = ndim_of(s);
    for (int i = 0; i < nd; i++)
        n *= s[i];
    float *d = malloc((size_t)n * sizeof(float));
    fill(d, n, lo, hi);
    int id = rt_graph_const_add(g, "c", nd, s, d, &e);
    free(d);
    return id;
}

static const char *wname(enum rt_weights w)
{
    return w == RT_WEIGHTS_F16 ? "f16" : (w == RT_WEIGHTS_I8 ? "i8" : "f32");
}

/*
 * Runs g on the reference (after quantising a copy like the plan does) and
 * on the device; returns 1 when every output matches within atol + rtol*|ref|.
 * *fp32_delta receives the max difference of the quantised result from the
 * fp32 reference (the accuracy cost of the weight type).
 */
static int compare(struct rt_graph *g, const struct rt_plan_opts *o, float atol, float rtol,
                   float *fp32_delta, const char *what)
{
    struct err e = {0};
    int ok = 1, nin = g->n_inputs, nout = g->n_outputs;
    float *in[8] = {0}, *ref[16] = {0}, *ref32[16] = {0}, *got[16] = {0};
    for (int i = 0; i < nin; i++) {
        int64_t n = rt_tensor_nelem(&g->tensors[g->inputs[i]]);
        in[i] = malloc((size_t)n * sizeof(float));
        fill(in[i], n, -1.0f, 1.0f);
    }
    for (int i = 0; i < nout; i++) {
        size_t n = (size_t)rt_tensor_nelem(&g->tensors[g->outputs[i]]);
        ref[i] = calloc(n, sizeof(float));
        ref32[i] = calloc(n, sizeof(float));
        got[i] = calloc(n, sizeof(float));
    }
    struct rt_graph *q = rt_graph_clone(g, &e);
    enum rt_dtype qt = o->weights == RT_WEIGHTS_F16  ? RT_DTYPE_F16
                       : o->weights == RT_WEIGHTS_I8 ? RT_DTYPE_I8
                                                     : RT_DTYPE_F32;
    struct rt_plan *p = NULL;
    if (rt_graph_quantize(q, qt, &e) < 0 || rt_ref_run(q, (const float *const *)in, ref, &e) < 0 ||
        rt_ref_run(g, (const float *const *)in, ref32, &e) < 0) {
        printf("# %s: reference failed: %s\n", what, e.msg);
        ok = 0;
        goto out;
    }
    if (rt_plan_create(dev, g, o, &p, &e) < 0) {
        printf("# %s: plan failed: %s\n", what, e.msg);
        ok = 0;
        goto out;
    }
    int batch = (int)g->tensors[g->inputs[0]].shape[0];
    if (g->tensors[g->inputs[0]].ndim == 0 || o->max_batch != batch)
        batch = o->max_batch;
    if (rt_plan_run(p, batch, (const float *const *)in, got, &e) < 0) {
        printf("# %s: run failed: %s\n", what, e.msg);
        ok = 0;
        goto out;
    }
    float maxerr = 0, maxd = 0;
    for (int i = 0; i < nout && ok; i++) {
        int64_t n = rt_tensor_nelem(&g->tensors[g->outputs[i]]);
        for (int64_t j = 0; j < n; j++) {
            float d = fabsf(got[i][j] - ref[i][j]);
            maxerr = fmaxf(maxerr, d);
            maxd = fmaxf(maxd, fabsf(ref[i][j] - ref32[i][j]));
            if (!(d <= atol + rtol * fabsf(ref[i][j]))) {
                printf("# %s: output %d [%lld] = %g, reference %g\n", what, i, (long long)j,
                       got[i][j], ref[i][j]);
                ok = 0;
                break;
            }
        }
    }
    if (verbose)
        printf("# %s: max err %g, dispatches %d\n", what, maxerr, rt_plan_dispatch_count(p));
    if (fp32_delta)
        *fp32_delta = maxd;
out:
    rt_plan_destroy(p);
    rt_graph_free(q);
    for (int i = 0; i < 8; i++)
        free(in[i]);
    for (int i = 0; i < 16; i++) {
        free(ref[i]);
        free(ref32[i]);
        free(got[i]);
    }
    return ok;
}

static void check(struct rt_graph *g, int out, enum rt_weights w, const char *what)
{
    struct err e = {0};
    if (out < 0) {
        TH_CHECK(0, "%s: graph build failed", what);
        rt_graph_free(g);
        return;
    }
    rt_graph_output_add(g, out, &e);
    struct rt_plan_opts o = rt_plan_opts_default();
    o.weights = w;
    o.max_batch = (int)g->tensors[g->inputs[0]].shape[0];
    float atol = 1e-4f, rtol = 1e-4f, delta = 0;
    if (w != RT_WEIGHTS_F32) {
        atol = 2e-4f;
        rtol = 1e-3f;
    }
    if (math_atol > 0) {
        atol = fmaxf(atol, math_atol);
        rtol = fmaxf(rtol, math_rtol);
    }
    char name[160];
    snprintf(name, sizeof(name), "%s [%s]", what, wname(w));
    int ok = compare(g, &o, atol, rtol, &delta, name);
    if (w != RT_WEIGHTS_F32)
        printf("# %s: accuracy delta of %s weights vs fp32: %.3g\n", what, wname(w), delta);
    TH_CHECK(ok, "%s", name);
    rt_graph_free(g);
}

/* ---- per-op cases ------------------------------------------------------- */

struct conv_case {
    int64_t n, h, w, c, kh, kw, co;
    int sh, sw, pt, pl, pb, pr, dil, groups, bias;
    enum rt_act act;
};

static const enum rt_weights weight_kinds[] = {RT_WEIGHTS_F32, RT_WEIGHTS_F16, RT_WEIGHTS_I8};

/* one conv case in weights w; with fp32 weights also with a fused residual add */
static void conv_case_run(const struct conv_case *c, enum rt_weights w)
{
    struct rt_graph *g = rt_graph_init();
    struct err e = {0};
    int in[3];
    in[0] = in_id(g, S(c->n, c->h, c->w, c->c));
    in[1] = const_id(g, S(c->kh, c->kw, c->c / c->groups, c->co), -0.5f, 0.5f);
    in[2] = c->bias ? const_id(g, S(c->co, 0, 0, 0), -0.2f, 0.2f) : -1;
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.conv =
        (struct rt_conv_attrs){c->sh, c->sw, c->dil, c->dil, c->pt, c->pl, c->pb, c->pr, c->groups};
    a.act = c->act;
    a.alpha = 0.1f;
    int y = rt_graph_node_add(g, RT_OP_CONV2D, in, c->bias ? 3 : 2, &a, "conv", &e);
    if (y < 0)
        printf("# %s\n", e.msg);
    char what[128];
    snprintf(what, sizeof(what), "conv2d %lldx%lldx%lldx%lld k%lldx%lld co%lld s%d g%d",
             (long long)c->n, (long long)c->h, (long long)c->w, (long long)c->c, (long long)c->kh,
             (long long)c->kw, (long long)c->co, c->sh, c->groups);
    check(g, y, w, what);
    if (w != RT_WEIGHTS_F32)
        return;
    /* the same conv with a residual ADD (+ relu) fused into it */
    g = rt_graph_init();
    int x2 = in_id(g, S(c->n, c->h, c->w, c->c));
    int w2 = const_id(g, S(c->kh, c->kw, c->c / c->groups, c->co), -0.5f, 0.5f);
    int ci[3] = {x2, w2, c->bias ? const_id(g, S(c->co, 0, 0, 0), -0.2f, 0.2f) : -1};
    a.act = RT_ACT_NONE;
    int cy = rt_graph_node_add(g, RT_OP_CONV2D, ci, c->bias ? 3 : 2, &a, "conv", &e);
    int r = cy < 0 ? -1 : rt_graph_input_add(g, "res", 4, g->tensors[cy].shape, &e);
    struct rt_attrs aa;
    memset(&aa, 0, sizeof(aa));
    aa.act = RT_ACT_RELU;
    int ad[2] = {r, cy};
    y = cy < 0 || r < 0 ? -1 : rt_graph_node_add(g, RT_OP_ADD, ad, 2, &aa, "add", &e);
    char w3[160];
    snprintf(w3, sizeof(w3), "%s + fused residual add", what);
    check(g, y, w, w3);
}

/* dense rows x k -> n with tanh, in weights w */
static void dense_case_run(int64_t rows, int64_t k, int64_t n, enum rt_weights w)
{
    struct rt_graph *g = rt_graph_init();
    struct err e = {0};
    int in[3] = {in_id(g, S(rows, k, 0, 0)), const_id(g, S(k, n, 0, 0), -0.5f, 0.5f),
                 const_id(g, S(n, 0, 0, 0), -0.5f, 0.5f)};
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.act = RT_ACT_TANH;
    int y = rt_graph_node_add(g, RT_OP_DENSE, in, 3, &a, "dense", &e);
    char what[64];
    snprintf(what, sizeof(what), "dense %lldx%lld->%lld", (long long)rows, (long long)k,
             (long long)n);
    check(g, y, w, what);
}

static void conv_cases(void)
{
    static const struct conv_case cs[] = {
        {1, 5, 5, 3, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, RT_ACT_NONE},
        {2, 7, 6, 5, 3, 2, 6, 2, 2, 1, 0, 0, 1, 1, 1, 1, RT_ACT_RELU6},
        {1, 9, 8, 3, 3, 3, 5, 1, 1, 2, 2, 2, 2, 2, 1, 0, RT_ACT_RELU},
        {1, 6, 6, 4, 3, 3, 6, 1, 2, 1, 1, 1, 1, 1, 2, 1, RT_ACT_LEAKY},
        {1, 8, 7, 8, 3, 3, 8, 1, 1, 1, 1, 1, 1, 1, 8, 1, RT_ACT_RELU6},       /* depthwise */
        {2, 9, 9, 6, 3, 3, 12, 2, 2, 0, 0, 1, 1, 1, 6, 1, RT_ACT_NONE},       /* dw x2, asym */
        {1, 9, 9, 20, 1, 1, 33, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6},     /* gemm, odd */
        {2, 8, 9, 19, 1, 1, 70, 1, 1, 0, 0, 0, 0, 1, 1, 0, RT_ACT_HARDSWISH}, /* gemm */
        {1, 3, 3, 8, 1, 1, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_SIGMOID},     /* small 1x1 */
        {1, 7, 7, 4, 1, 1, 4, 2, 2, 0, 0, 0, 0, 1, 1, 1, RT_ACT_NONE},        /* 1x1 stride 2 */
        {2, 6, 5, 8, 1, 1, 12, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6},      /* gemm vec4 */
        {1, 5, 7, 12, 3, 3, 12, 2, 2, 0, 0, 1, 1, 1, 12, 1, RT_ACT_RELU},     /* dw vec4 s2 */
        /* RGB input layers: several channel quads per invocation on CPU devices */
        {1, 11, 13, 3, 3, 3, 32, 2, 2, 0, 0, 1, 1, 1, 1, 1, RT_ACT_RELU6}, /* 8 quads */
        {2, 9, 10, 3, 5, 5, 24, 2, 2, 2, 2, 1, 1, 1, 1, 1, RT_ACT_NONE},   /* 6 quads */
        {1, 6, 7, 8, 3, 3, 32, 1, 1, 1, 1, 1, 1, 1, 2, 1, RT_ACT_LEAKY},   /* 2 groups of 4 */
        /* 6 and 12 channel quads (BlazeFace): the flat (block, quad) runs of
           dwconv/gemm on CPU devices, ragged column and row blocks */
        {2, 6, 11, 24, 3, 3, 24, 1, 1, 1, 1, 1, 1, 1, 24, 1, RT_ACT_NONE},  /* dw 6 quads */
        {1, 9, 7, 48, 5, 5, 48, 1, 1, 2, 2, 2, 2, 1, 48, 1, RT_ACT_RELU},   /* dw 12 quads */
        {2, 7, 9, 24, 1, 1, 24, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU},    /* gemm 6 blocks */
        {1, 5, 13, 48, 1, 1, 48, 1, 1, 0, 0, 0, 0, 1, 1, 0, RT_ACT_NONE},   /* gemm 12 blocks */
        {1, 4, 33, 24, 1, 1, 144, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6}, /* gemm 18 x 8 cols */
        /* N <= 24 on CPU devices: gemm_cw (constant weight indices, 8 / 7 / 6 rows
           per invocation), ragged last rows, K up to 96 */
        {1, 5, 11, 96, 1, 1, 24, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU}, /* K 96, 6 rows */
        {2, 3, 7, 12, 1, 1, 20, 1, 1, 0, 0, 0, 0, 1, 1, 0, RT_ACT_NONE},  /* N 20, 7 rows */
        {1, 4, 9, 16, 1, 1, 8, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6},  /* N 8, 8 rows */
        /* N % 4 != 0 on CPU devices: gemm_cw's NS path (BlazeFace's heads 16x16x96 -> 2
           and 8x8x96 -> 6; 2 and 1 rows, workgroups of 64 / 32), ragged rows, N 1 */
        {1, 16, 16, 96, 1, 1, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_NONE},
        {1, 8, 8, 96, 1, 1, 6, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_NONE},
        {2, 5, 7, 12, 1, 1, 3, 1, 1, 0, 0, 0, 0, 1, 1, 0, RT_ACT_RELU},
        {1, 37, 41, 8, 1, 1, 7, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_SIGMOID}, /* 8 rows */
        {1, 9, 9, 16, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6},
        /* one workgroup of 8-row gemm_tx blocks: 4 rows instead (8x8 maps) */
        {1, 8, 8, 96, 1, 1, 96, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU},
        {2, 3, 5, 96, 1, 1, 96, 1, 1, 0, 0, 0, 0, 1, 1, 0, RT_ACT_NONE},
        /* depthwise 3x3 stride 1 / 2 (dwconv3.comp on CPU devices): ragged row
           and column tiles, several workgroup rows, C % 8 != 0, batch 2 */
        {1, 19, 37, 16, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 16, 1, RT_ACT_RELU6},
        {2, 17, 13, 20, 3, 3, 20, 2, 2, 0, 0, 1, 1, 1, 20, 0, RT_ACT_NONE},
        {1, 7, 7, 40, 3, 3, 40, 1, 1, 1, 1, 1, 1, 1, 40, 1, RT_ACT_HARDSWISH},
        {1, 10, 9, 8, 3, 3, 8, 2, 2, 1, 1, 1, 1, 1, 8, 1, RT_ACT_RELU},
        {2, 9, 20, 12, 3, 3, 12, 1, 1, 0, 2, 2, 0, 1, 12, 1, RT_ACT_LEAKY},
    };
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
        for (int v = 0; v < 3; v++)
            conv_case_run(&cs[i], weight_kinds[v]);
    /* dense: small rows (direct) and >= 64 rows (gemm) */
    static const int64_t dn[][3] = {{1, 37, 13}, {70, 37, 13}, {3, 64, 129}, {5, 32, 16}};
    for (size_t i = 0; i < 4; i++)
        for (int v = 0; v < 3; v++)
            dense_case_run(dn[i][0], dn[i][1], dn[i][2], weight_kinds[v]);
}

/*
 * Run with the GPU kernel family forced (VKV_RT_KERNELS=gpu: gemm_sm.comp):
 * 1x1 layers of MobileNetV2 and BlazeFace, shapes whose M, N and K are not
 * multiples of the tiles (nor of 4: the scalar path), the batch-1
 * classifier, each in f32/f16/i8 weights and with a fused residual.
 */
static void gpu_gemm_cases(void)
{
    static const struct conv_case cs[] = {
        {1, 112, 112, 32, 1, 1, 16, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_NONE}, /* MNv2 project */
        {1, 56, 56, 24, 1, 1, 144, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6}, /* MNv2 expand */
        {1, 14, 14, 96, 1, 1, 576, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6},
        {1, 7, 7, 320, 1, 1, 1280, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6}, /* MNv2 last */
        {1, 64, 64, 24, 1, 1, 24, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU},   /* BlazeFace */
        {1, 16, 16, 96, 1, 1, 96, 1, 1, 0, 0, 0, 0, 1, 1, 0, RT_ACT_RELU},
        {1, 5, 7, 19, 1, 1, 37, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_HARDSWISH}, /* K, N odd */
        {3, 9, 11, 20, 1, 1, 130, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6},   /* N % 4 = 2 */
        {2, 9, 13, 36, 1, 1, 68, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_NONE},     /* K % 16 = 4 */
        {1, 2, 2, 64, 1, 1, 40, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU6},     /* 4 rows: gemv_sg */
        /* the tiles tile_pick takes for narrow layers with many rows */
        {1, 128, 128, 24, 1, 1, 24, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU},  /* 64x32 */
        {1, 128, 128, 32, 1, 1, 64, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_NONE},  /* 64x64 */
        {2, 128, 128, 32, 1, 1, 64, 1, 1, 0, 0, 0, 0, 1, 1, 0, RT_ACT_RELU6}, /* 128x64 */
    };
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
        for (int v = 0; v < 3; v++)
            conv_case_run(&cs[i], weight_kinds[v]);
    /* up to 4 rows: gemv_sg.comp (subgroups), N % 8 != 0 and K % 4 != 0 too */
    static const int64_t dn[][3] = {{1, 1280, 1000}, {4, 96, 35}, {2, 37, 64},
                                    {1, 1280, 5},    {7, 33, 7},  {130, 64, 20}};
    for (size_t i = 0; i < sizeof(dn) / sizeof(dn[0]); i++)
        for (int v = 0; v < 3; v++)
            dense_case_run(dn[i][0], dn[i][1], dn[i][2], weight_kinds[v]);
}

/*
 * ADD(conv, PAD(r)) with r zero-padded in its channels only (BlazeFace's
 * stride-2 blocks): the passes make r the conv's residual, read with its
 * own channel count (spec RESC of gemm / conv2d), the missing channels 0.
 * The reference runs the unoptimised PAD + ADD.  Channel counts cover the
 * vec4 residual reads (r % 4 == 0), the per-channel ones, the scalar
 * kernels and conv2d's several quads per invocation; a depthwise conv keeps
 * its PAD (dwconv has no narrow residual).
 */
static void pad_residual_cases(void)
{
    static const struct {
        struct conv_case c;
        int64_t rc;
    } cs[] = {
        {{2, 7, 9, 24, 1, 1, 48, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU}, 24}, /* gemm, flat */
        {{1, 5, 13, 16, 1, 1, 96, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_NONE}, 12},
        {{1, 6, 5, 8, 1, 1, 12, 1, 1, 0, 0, 0, 0, 1, 1, 0, RT_ACT_RELU6}, 6},   /* rc % 4 != 0 */
        {{1, 9, 9, 20, 1, 1, 33, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_NONE}, 20},  /* scalar gemm */
        {{1, 8, 7, 8, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1, RT_ACT_RELU}, 8},    /* conv2d vec4 */
        {{2, 6, 6, 5, 3, 3, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, RT_ACT_NONE}, 3},     /* conv2d scalar */
        {{1, 9, 10, 3, 5, 5, 24, 1, 1, 2, 2, 2, 2, 1, 1, 1, RT_ACT_NONE}, 13},  /* conv2d CQ */
        {{1, 8, 7, 24, 3, 3, 24, 1, 1, 1, 1, 1, 1, 1, 24, 1, RT_ACT_RELU}, 16}, /* dw: PAD */
        {{2, 6, 7, 16, 1, 1, 24, 1, 1, 0, 0, 0, 0, 1, 1, 1, RT_ACT_RELU}, 16},  /* gemm_cw */
    };
    static const enum rt_weights ws[] = {RT_WEIGHTS_F32, RT_WEIGHTS_F16, RT_WEIGHTS_I8};
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
        for (size_t v = 0; v < 3; v++) {
            const struct conv_case *c = &cs[i].c;
            struct rt_graph *g = rt_graph_init();
            struct err e = {0};
            int x = in_id(g, S(c->n, c->h, c->w, c->c));
            /* the residual first: the fusion needs it computed before the conv */
            int64_t oh = (c->h + c->pt + c->pb - c->dil * (c->kh - 1) - 1) / c->sh + 1;
            int64_t ow = (c->w + c->pl + c->pr - c->dil * (c->kw - 1) - 1) / c->sw + 1;
            int r = rt_graph_input_add(g, "res", 4, S(c->n, oh, ow, cs[i].rc), &e);
            struct rt_attrs a;
            memset(&a, 0, sizeof(a));
            a.ndim = 4;
            a.pad_after[3] = (int)(c->co - cs[i].rc);
            int pr = r < 0 ? -1 : rt_graph_node_add(g, RT_OP_PAD, &r, 1, &a, "pad", &e);
            int ci[3] = {x, const_id(g, S(c->kh, c->kw, c->c / c->groups, c->co), -0.5f, 0.5f),
                         c->bias ? const_id(g, S(c->co, 0, 0, 0), -0.2f, 0.2f) : -1};
            memset(&a, 0, sizeof(a));
            a.conv = (struct rt_conv_attrs){c->sh, c->sw, c->dil, c->dil,   c->pt,
                                            c->pl, c->pb, c->pr,  c->groups};
            int cy = rt_graph_node_add(g, RT_OP_CONV2D, ci, c->bias ? 3 : 2, &a, "conv", &e);
            memset(&a, 0, sizeof(a));
            a.act = c->act;
            int ad[2] = {cy, pr};
            int y = cy < 0 || pr < 0 ? -1 : rt_graph_node_add(g, RT_OP_ADD, ad, 2, &a, "add", &e);
            if (y < 0)
                printf("# %s\n", e.msg);
            char what[160];
            snprintf(what, sizeof(what),
                     "conv2d %lldx%lldx%lldx%lld k%lldx%lld co%lld g%d + channel-padded "
                     "residual of %lld",
                     (long long)c->n, (long long)c->h, (long long)c->w, (long long)c->c,
                     (long long)c->kh, (long long)c->kw, (long long)c->co, c->groups,
                     (long long)cs[i].rc);
            check(g, y, ws[v], what);
        }
    /* dense rows with a narrower residual: gemm (>= 64 rows) and the scalar path */
    static const int64_t dn[][4] = {{70, 32, 16, 12}, {3, 37, 13, 5}};
    for (size_t i = 0; i < 2; i++) {
        struct rt_graph *g = rt_graph_init();
        struct err e = {0};
        int x = in_id(g, S(dn[i][0], dn[i][1], 0, 0));
        int r = rt_graph_input_add(g, "res", 2, S(dn[i][0], dn[i][3], 0, 0), &e);
        struct rt_attrs a;
        memset(&a, 0, sizeof(a));
        a.ndim = 2;
        a.pad_after[1] = (int)(dn[i][2] - dn[i][3]);
        int pr = rt_graph_node_add(g, RT_OP_PAD, &r, 1, &a, "pad", &e);
        int in[3] = {x, const_id(g, S(dn[i][1], dn[i][2], 0, 0), -0.5f, 0.5f),
                     const_id(g, S(dn[i][2], 0, 0, 0), -0.5f, 0.5f)};
        memset(&a, 0, sizeof(a));
        int dy = rt_graph_node_add(g, RT_OP_DENSE, in, 3, &a, "dense", &e);
        memset(&a, 0, sizeof(a));
        a.act = RT_ACT_TANH;
        int ad[2] = {pr, dy};
        int y = dy < 0 || pr < 0 ? -1 : rt_graph_node_add(g, RT_OP_ADD, ad, 2, &a, "add", &e);
        char what[96];
        snprintf(what, sizeof(what), "dense %lldx%lld->%lld + channel-padded residual of %lld",
                 (long long)dn[i][0], (long long)dn[i][1], (long long)dn[i][2],
                 (long long)dn[i][3]);
        check(g, y, RT_WEIGHTS_F32, what);
    }
}

/*
 * A depthwise 3x3 and the 1x1 conv that reads it (MobileNet / BlazeFace
 * blocks), with the 1x1's residual (the block input, or a narrower one
 * zero-padded in its channels) and activations on both: on CPU devices with
 * texel buffers the plan fuses the pair into one dwpw.comp dispatch (fp32,
 * fp16 and int8 weights), checked by the dispatch count; elsewhere
 * (expect_dwpw 0) the same graphs run unfused.  Shapes: ragged last pixel
 * blocks (W % PX != 0), batch 2, stride 2 with asymmetric padding, 4 to 8
 * pixels per invocation, N up to 160 and C up to 192 (the channel loop is
 * rolled: any C), workgroups of 8, 16, 32 and 64 invocations with a ragged
 * last one, and pairs the plan leaves unfused (N 200 and 384: fewer than 4
 * pixels per invocation fit the accumulator bound).  BlazeFace's stride-2 blocks add the 2x2
 * stride-2 max-pool of the block input (pool): the fused 1x1 reads the pool's input and the pool
 * builds nothing (pf: folded), unless the input has an odd row count (the pool's floor drops a row)
 * or the pair is not fused.
 */
static int expect_dwpw;

static void dwpw_cases(void)
{
    static const struct {
        int64_t n, h, w, c, co;
        int s, pt, pl, pb, pr, dbias;
        enum rt_act dact, act;
        int64_t rc; /* residual channels: 0 none (else the block input when s 1, c == co) */
        int fused;  /* fused on a CPU device */
        int pool;   /* the residual is the 2x2 stride-2 max-pool of x (rc = c) */
        int pf;     /* ... folded into the fused 1x1's residual read */
    } cs[] = {
        {1, 9, 11, 24, 24, 1, 1, 1, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 24, 1, 0, 0}, /* BlazeFace */
        {2, 7, 13, 8, 12, 1, 1, 1, 1, 1, 1, RT_ACT_RELU6, RT_ACT_NONE, 0, 1, 0, 0},  /* 8 px */
        {1, 10, 9, 24, 48, 2, 0, 0, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 24, 1, 0,
         0},                                                                       /* s2, narrow */
        {1, 6, 5, 48, 96, 1, 1, 1, 1, 1, 0, RT_ACT_NONE, RT_ACT_RELU, 0, 1, 0, 0}, /* 8 px, 1 wg */
        {1, 6, 9, 48, 48, 1, 1, 1, 1, 1, 0, RT_ACT_NONE, RT_ACT_RELU, 48, 1, 0, 0},
        {1, 9, 8, 96, 24, 2, 0, 0, 1, 1, 1, RT_ACT_RELU6, RT_ACT_NONE, 0, 1, 0, 0},
        {2, 5, 17, 4, 4, 2, 1, 1, 1, 1, 1, RT_ACT_LEAKY, RT_ACT_HARDSWISH, 0, 1, 0, 0},
        {1, 11, 7, 16, 8, 1, 0, 2, 2, 0, 1, RT_ACT_RELU6, RT_ACT_NONE, 8, 1, 0, 0}, /* MNv2-like */
        {1, 6, 6, 96, 96, 1, 1, 1, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 96, 1, 0, 0},
        /* BlazeFace's 96-channel blocks: 16x16 (32 invocations: 4 workgroups
           of 8) and the stride-2 48 -> 96 with the narrow residual */
        {1, 16, 16, 96, 96, 1, 1, 1, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 96, 1, 0, 0},
        {1, 32, 32, 48, 96, 2, 0, 0, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 48, 1, 0, 0},
        /* 150 invocations: workgroups of 32, the last ragged; 200 at 64 */
        {1, 30, 37, 16, 24, 1, 1, 1, 1, 1, 1, RT_ACT_RELU, RT_ACT_NONE, 24, 1, 0, 0},
        {2, 20, 37, 8, 16, 1, 1, 1, 1, 1, 0, RT_ACT_NONE, RT_ACT_RELU6, 0, 1, 0, 0},
        /* MobileNetV2-like wide pairs: C 192 (48 loop trips), N 160 at 4 px */
        {1, 7, 9, 192, 32, 2, 0, 0, 1, 1, 1, RT_ACT_RELU6, RT_ACT_NONE, 0, 1, 0, 0},
        {1, 7, 7, 96, 160, 1, 1, 1, 1, 1, 1, RT_ACT_RELU6, RT_ACT_NONE, 0, 1, 0, 0},
        /* under 4 px per invocation: unfused */
        {1, 5, 6, 8, 200, 1, 1, 1, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 0, 0, 0, 0},
        {1, 4, 4, 16, 384, 1, 1, 1, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 0, 0, 0, 0},
        /* no residual, y as large as x: x dies at the depthwise in the graph, so
           without the plan's longer lifetime y would take x's bytes */
        {1, 12, 16, 24, 24, 1, 1, 1, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 0, 1, 0, 0},
        /* max-pooled residuals: channel-padded, full width at batch 2, an odd
           row count (not folded), an unfused pair (the pool stays) */
        {1, 10, 12, 24, 48, 2, 0, 0, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 24, 1, 1, 1},
        {2, 8, 14, 8, 8, 2, 1, 1, 1, 1, 0, RT_ACT_RELU6, RT_ACT_NONE, 8, 1, 1, 1},
        {1, 9, 10, 16, 32, 2, 0, 0, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 16, 1, 1, 0},
        {1, 8, 6, 16, 200, 2, 0, 0, 1, 1, 1, RT_ACT_NONE, RT_ACT_RELU, 16, 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
        for (int v = 0; v < 3; v++) {
            struct rt_graph *g = rt_graph_init();
            struct err e = {0};
            int x = in_id(g, S(cs[i].n, cs[i].h, cs[i].w, cs[i].c));
            int64_t oh = (cs[i].h + cs[i].pt + cs[i].pb - 3) / cs[i].s + 1;
            int64_t ow = (cs[i].w + cs[i].pl + cs[i].pr - 3) / cs[i].s + 1;
            struct rt_attrs a;
            int r = -1;
            if (cs[i].pool) {
                memset(&a, 0, sizeof(a));
                a.pool = (struct rt_pool_attrs){2, 2, 2, 2, 0, 0, 0, 0, 0};
                r = rt_graph_node_add(g, RT_OP_POOL_MAX, &x, 1, &a, "pool", &e);
            }
            if (cs[i].rc > 0 && cs[i].rc < cs[i].co) {
                /* computed before the pair, as in BlazeFace's stride-2 blocks */
                int ri = cs[i].pool
                             ? r
                             : rt_graph_input_add(g, "res", 4, S(cs[i].n, oh, ow, cs[i].rc), &e);
                memset(&a, 0, sizeof(a));
                a.ndim = 4;
                a.pad_after[3] = (int)(cs[i].co - cs[i].rc);
                r = ri < 0 ? -1 : rt_graph_node_add(g, RT_OP_PAD, &ri, 1, &a, "pad", &e);
            } else if (cs[i].rc > 0 && cs[i].c == cs[i].co && cs[i].s == 1) {
                r = x; /* the block input */
            } else if (cs[i].rc > 0 && !cs[i].pool) {
                r = rt_graph_input_add(g, "res", 4, S(cs[i].n, oh, ow, cs[i].rc), &e);
            }
            int di[3] = {x, const_id(g, S(3, 3, 1, cs[i].c), -0.5f, 0.5f),
                         cs[i].dbias ? const_id(g, S(cs[i].c, 0, 0, 0), -0.2f, 0.2f) : -1};
            memset(&a, 0, sizeof(a));
            a.conv = (struct rt_conv_attrs){cs[i].s,  cs[i].s,  1,        1,           cs[i].pt,
                                            cs[i].pl, cs[i].pb, cs[i].pr, (int)cs[i].c};
            a.act = cs[i].dact;
            a.alpha = 0.1f;
            int dy = rt_graph_node_add(g, RT_OP_CONV2D, di, cs[i].dbias ? 3 : 2, &a, "dw", &e);
            int pi[3] = {dy, const_id(g, S(1, 1, cs[i].c, cs[i].co), -0.5f, 0.5f),
                         const_id(g, S(cs[i].co, 0, 0, 0), -0.2f, 0.2f)};
            memset(&a, 0, sizeof(a));
            a.conv = (struct rt_conv_attrs){1, 1, 1, 1, 0, 0, 0, 0, 1};
            a.act = cs[i].rc > 0 ? RT_ACT_NONE : cs[i].act;
            int y = dy < 0 ? -1 : rt_graph_node_add(g, RT_OP_CONV2D, pi, 3, &a, "pw", &e);
            if (cs[i].rc > 0) {
                memset(&a, 0, sizeof(a));
                a.act = cs[i].act;
                int ad[2] = {y, r};
                y = y < 0 || r < 0 ? -1 : rt_graph_node_add(g, RT_OP_ADD, ad, 2, &a, "add", &e);
            }
            if (y < 0)
                printf("# %s\n", e.msg);
            char what[160];
            snprintf(what, sizeof(what),
                     "dw3x3 s%d %lldx%lldx%lldx%lld + 1x1 -> %lld, residual %lld%s", cs[i].s,
                     (long long)cs[i].n, (long long)cs[i].h, (long long)cs[i].w, (long long)cs[i].c,
                     (long long)cs[i].co, (long long)cs[i].rc, cs[i].pool ? " max-pooled" : "");
            if (y >= 0) {
                struct rt_plan_opts o = rt_plan_opts_default();
                o.weights = weight_kinds[v];
                o.max_batch = (int)cs[i].n;
                struct rt_plan *p = NULL;
                int want = expect_dwpw && cs[i].fused ? 1 : 2;
                want += cs[i].pool && !(expect_dwpw && cs[i].pf); /* the pool's own */
                if (rt_graph_output_add(g, y, &e) == 0 && rt_plan_create(dev, g, &o, &p, &e) == 0)
                    TH_CHECK(rt_plan_dispatch_count(p) == want, "%s [%s]: %d dispatches, want %d",
                             what, wname(weight_kinds[v]), rt_plan_dispatch_count(p), want);
                else
                    TH_CHECK(0, "%s: plan: %s", what, e.msg);
                rt_plan_destroy(p);
                g->n_outputs = 0; /* check() adds it again */
            }
            check(g, y, weight_kinds[v], what);
        }
}

static void elem_cases(void)
{
    static const int64_t sh[][2][4] = {
        {{2, 3, 4, 5}, {5, 0, 0, 0}},
        {{2, 3, 4, 5}, {2, 1, 4, 1}},
        {{1, 7, 0, 0}, {3, 1, 0, 0}},
        {{3, 1, 1, 6}, {3, 5, 4, 6}},
        /* binary.comp's index modes: same shape, one value (either side),
         * the last dim, with and without 4 elements per invocation */
        {{2, 3, 4, 8}, {2, 3, 4, 8}},
        {{3, 5, 7, 0}, {1, 0, 0, 0}},
        {{1, 0, 0, 0}, {4, 4, 6, 0}},
        {{2, 6, 4, 8}, {8, 0, 0, 0}},
        {{1, 1, 1, 8}, {2, 6, 4, 8}},
    };
    for (int op = RT_OP_ADD; op <= RT_OP_MIN; op++)
        for (size_t i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
            struct rt_graph *g = rt_graph_init();
            struct err e = {0};
            int in[2] = {in_id(g, sh[i][0]), const_id(g, sh[i][1], 0.5f, 1.5f)};
            struct rt_attrs a;
            memset(&a, 0, sizeof(a));
            a.act = (op == RT_OP_ADD && i == 1) ? RT_ACT_RELU : RT_ACT_NONE;
            int y = rt_graph_node_add(g, (enum rt_op)op, in, 2, &a, "bin", &e);
            char what[64];
            snprintf(what, sizeof(what), "%s broadcast case %zu", rt_op_name((enum rt_op)op), i);
            check(g, y, RT_WEIGHTS_F32, what);
        }
    for (int act = RT_ACT_RELU; act <= RT_ACT_SQRT; act++) {
        struct rt_graph *g = rt_graph_init();
        struct err e = {0};
        int x = in_id(g, S(3, 17, 0, 0));
        if (act == RT_ACT_SQRT) { /* a non-negative input: x * x */
            int xx[2] = {x, x};
            x = rt_graph_node_add(g, RT_OP_MUL, xx, 2, NULL, "square", &e);
        }
        struct rt_attrs a;
        memset(&a, 0, sizeof(a));
        a.act = (enum rt_act)act;
        a.alpha = act == RT_ACT_CLIP ? -0.3f : 0.2f;
        a.beta = act == RT_ACT_CLIP ? 0.6f : 0.5f;
        int y = rt_graph_node_add(g, RT_OP_ACT, &x, 1, &a, "act", &e);
        char what[64];
        snprintf(what, sizeof(what), "act %s", rt_act_name((enum rt_act)act));
        check(g, y, RT_WEIGHTS_F32, what);
    }
    {
        struct rt_graph *g = rt_graph_init();
        struct err e = {0};
        int in[3] = {in_id(g, S(2, 3, 3, 5)), const_id(g, S(5, 0, 0, 0), -2, 2),
                     const_id(g, S(5, 0, 0, 0), -1, 1)};
        struct rt_attrs a;
        memset(&a, 0, sizeof(a));
        a.act = RT_ACT_RELU;
        check(g, rt_graph_node_add(g, RT_OP_BATCHNORM, in, 3, &a, "bn", &e), RT_WEIGHTS_F32,
              "batchnorm + relu");
    }
}

/* pools; run again with VKV_NO_TEXEL=1 (pool.comp's storage-buffer paths) */
static void pool_cases(void)
{
    struct rt_attrs a;
    struct err e = {0};
    static const int pc[][7] = {/* kh kw sh sw pad(t,l,b,r as one) count_pad max */
                                {2, 2, 2, 2, 0, 0, 1},
                                {3, 3, 2, 2, 1, 0, 1},
                                {3, 3, 1, 1, 1, 0, 0},
                                {3, 2, 2, 1, 1, 1, 0},
                                {5, 5, 3, 3, 0, 0, 0}};
    for (size_t i = 0; i < 10; i++) {
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, S(2, 9, 8, i < 5 ? 3 : 8)); /* 8 channels: the vec4 kernel */
        memset(&a, 0, sizeof(a));
        const int *q = pc[i % 5];
        a.pool = (struct rt_pool_attrs){q[0], q[1], q[2], q[3], q[4], q[4], 0, q[4], q[5]};
        enum rt_op op = q[6] ? RT_OP_POOL_MAX : RT_OP_POOL_AVG;
        char what[64];
        snprintf(what, sizeof(what), "%s %dx%d/%d pad %d count_pad %d c%d", rt_op_name(op), q[0],
                 q[1], q[2], q[4], q[5], i < 5 ? 3 : 8);
        check(g, rt_graph_node_add(g, op, &x, 1, &a, "pool", &e), RT_WEIGHTS_F32, what);
    }
    /* square windows, stride <= 4 (pool_ch.comp on CPU devices: a channel per lane,
       4 columns per invocation): ragged column tiles, C % 8 != 0, batch 2 */
    static const int pq[][10] = {/* n h w c k s pad count_pad max */
                                 {2, 16, 21, 24, 2, 2, 0, 0, 1, 0},
                                 {1, 7, 9, 20, 3, 2, 1, 1, 0, 0},
                                 {1, 13, 11, 13, 3, 2, 1, 0, 0, 0},
                                 {2, 9, 17, 8, 4, 4, 0, 0, 1, 0},
                                 {1, 10, 37, 16, 3, 1, 1, 0, 1, 0}};
    for (size_t i = 0; i < sizeof(pq) / sizeof(pq[0]); i++) {
        const int *q = pq[i];
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, S(q[0], q[1], q[2], q[3]));
        memset(&a, 0, sizeof(a));
        a.pool = (struct rt_pool_attrs){q[4], q[4], q[5], q[5], q[6], q[6], q[6], q[6], q[7]};
        enum rt_op op = q[8] ? RT_OP_POOL_MAX : RT_OP_POOL_AVG;
        char what[96];
        snprintf(what, sizeof(what), "%s %dx%dx%dx%d k%d/%d pad %d count_pad %d", rt_op_name(op),
                 q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]);
        check(g, rt_graph_node_add(g, op, &x, 1, &a, "pool", &e), RT_WEIGHTS_F32, what);
    }
}

static void data_cases(void)
{
    struct rt_attrs a;
    struct err e = {0};
    pool_cases();
    static const int64_t ga[][4] = {{2, 5, 7, 9}, {1, 90, 91, 3}, {1, 1, 1, 130}};
    for (size_t i = 0; i < 3; i++) {
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, ga[i]);
        char what[64];
        snprintf(what, sizeof(what), "global_avg %lldx%lldx%lldx%lld", (long long)ga[i][0],
                 (long long)ga[i][1], (long long)ga[i][2], (long long)ga[i][3]);
        check(g, rt_graph_node_add(g, RT_OP_GLOBAL_AVG, &x, 1, NULL, "gavg", &e), RT_WEIGHTS_F32,
              what);
    }
    {
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, S(1, 3, 4, 2));
        memset(&a, 0, sizeof(a));
        a.ndim = 4;
        a.pad_before[1] = 1;
        a.pad_after[1] = 2;
        a.pad_before[2] = 0;
        a.pad_after[2] = 3;
        a.pad_before[3] = 1;
        a.pad_value = 0.25f;
        check(g, rt_graph_node_add(g, RT_OP_PAD, &x, 1, &a, "pad", &e), RT_WEIGHTS_F32,
              "pad asymmetric with value");
    }
    for (int axis = 1; axis <= 3; axis += 2) {
        struct rt_graph *g = rt_graph_init();
        int in[3] = {in_id(g, axis == 3 ? S(1, 3, 4, 2) : S(1, 2, 4, 5)),
                     in_id(g, axis == 3 ? S(1, 3, 4, 5) : S(1, 3, 4, 5)),
                     const_id(g, axis == 3 ? S(1, 3, 4, 1) : S(1, 1, 4, 5), -1, 1)};
        memset(&a, 0, sizeof(a));
        a.axis = axis == 3 ? -1 : 1;
        char what[64];
        snprintf(what, sizeof(what), "concat axis %d (2 inputs + constant)", axis);
        check(g, rt_graph_node_add(g, RT_OP_CONCAT, in, 3, &a, "cat", &e), RT_WEIGHTS_F32, what);
    }
    {
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, S(2, 3, 4, 5));
        memset(&a, 0, sizeof(a));
        a.ndim = 4;
        a.perm[0] = 0;
        a.perm[1] = 3;
        a.perm[2] = 1;
        a.perm[3] = 2;
        check(g, rt_graph_node_add(g, RT_OP_TRANSPOSE, &x, 1, &a, "tr", &e), RT_WEIGHTS_F32,
              "transpose NHWC->NCHW");
        g = rt_graph_init();
        x = in_id(g, S(3, 7, 0, 0));
        a.ndim = 2;
        a.perm[0] = 1;
        a.perm[1] = 0;
        check(g, rt_graph_node_add(g, RT_OP_TRANSPOSE, &x, 1, &a, "tr", &e), RT_WEIGHTS_F32,
              "transpose 2-D");
    }
    /* copy4d's VEC4 path: the last dim whole and a multiple of 4 (concat
     * along it at an offset of 4, along H, a transpose keeping it, a pad
     * and a slice of the outer dims) */
    {
        struct rt_graph *g = rt_graph_init();
        int in[2] = {in_id(g, S(1, 3, 4, 4)), in_id(g, S(1, 3, 4, 8))};
        memset(&a, 0, sizeof(a));
        a.axis = 3;
        check(g, rt_graph_node_add(g, RT_OP_CONCAT, in, 2, &a, "cat", &e), RT_WEIGHTS_F32,
              "concat channels 4 + 8 (vec4 copies)");
        g = rt_graph_init();
        int in3[3] = {in_id(g, S(1, 2, 4, 8)), in_id(g, S(1, 3, 4, 8)),
                      const_id(g, S(1, 1, 4, 8), -1, 1)};
        a.axis = 1;
        check(g, rt_graph_node_add(g, RT_OP_CONCAT, in3, 3, &a, "cat", &e), RT_WEIGHTS_F32,
              "concat axis 1, 8 channels (vec4 copies)");
        g = rt_graph_init();
        int x = in_id(g, S(2, 3, 5, 8));
        memset(&a, 0, sizeof(a));
        a.ndim = 4;
        a.perm[0] = 0;
        a.perm[1] = 2;
        a.perm[2] = 1;
        a.perm[3] = 3;
        check(g, rt_graph_node_add(g, RT_OP_TRANSPOSE, &x, 1, &a, "tr", &e), RT_WEIGHTS_F32,
              "transpose H<->W, 8 channels (vec4 copies)");
        g = rt_graph_init();
        x = in_id(g, S(1, 3, 4, 12));
        memset(&a, 0, sizeof(a));
        a.ndim = 4;
        a.pad_before[1] = 1;
        a.pad_after[2] = 2;
        a.pad_value = 0.5f;
        check(g, rt_graph_node_add(g, RT_OP_PAD, &x, 1, &a, "pad", &e), RT_WEIGHTS_F32,
              "pad H and W, 12 channels (vec4 copies)");
        g = rt_graph_init();
        x = in_id(g, S(2, 6, 3, 8));
        memset(&a, 0, sizeof(a));
        a.ndim = 4;
        a.slice_start[1] = 2;
        a.slice_end[1] = 5;
        a.slice_end[0] = a.slice_end[2] = a.slice_end[3] = 100;
        check(g, rt_graph_node_add(g, RT_OP_SLICE, &x, 1, &a, "sl", &e), RT_WEIGHTS_F32,
              "slice of H, 8 channels (vec4 copies)");
    }
    {
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, S(2, 3, 4, 5));
        memset(&a, 0, sizeof(a));
        a.ndim = 3;
        a.shape[0] = 0;
        a.shape[1] = -1;
        a.shape[2] = 10;
        check(g, rt_graph_node_add(g, RT_OP_RESHAPE, &x, 1, &a, "rs", &e), RT_WEIGHTS_F32,
              "reshape (aliased input -> output)");
    }
    for (int axis = -1; axis <= 1; axis += 2) {
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, S(2, 6, 3, 0));
        memset(&a, 0, sizeof(a));
        a.axis = axis;
        char what[64];
        snprintf(what, sizeof(what), "softmax axis %d", axis);
        check(g, rt_graph_node_add(g, RT_OP_SOFTMAX, &x, 1, &a, "sm", &e), RT_WEIGHTS_F32, what);
        g = rt_graph_init();
        x = in_id(g, S(2, 6, 3, 0));
        a.keepdims = axis > 0;
        snprintf(what, sizeof(what), "reduce_mean axis %d keepdims %d", axis, a.keepdims);
        check(g, rt_graph_node_add(g, RT_OP_REDUCE_MEAN, &x, 1, &a, "rm", &e), RT_WEIGHTS_F32,
              what);
    }
    static const int rz[][5] = {/* oh ow mode align half */
                                {9, 11, 1, 0, 0}, {9, 11, 1, 1, 0}, {9, 11, 1, 0, 1},
                                {3, 2, 1, 0, 1},  {9, 11, 0, 0, 0}, {9, 11, 0, 1, 0},
                                {3, 2, 0, 0, 1}};
    /* 3 channels: one per invocation; 8: the VEC4 path */
    for (size_t i = 0; i < 14; i++) {
        struct rt_graph *g = rt_graph_init();
        int ch = i < 7 ? 3 : 8;
        const int *z = rz[i % 7];
        int x = in_id(g, S(2, 5, 4, ch));
        memset(&a, 0, sizeof(a));
        a.resize = (struct rt_resize_attrs){z[0], z[1], z[2], z[3], z[4]};
        char what[80];
        snprintf(what, sizeof(what), "resize %s to %dx%d align %d half %d, %d channels",
                 z[2] ? "bilinear" : "nearest", z[0], z[1], z[3], z[4], ch);
        check(g, rt_graph_node_add(g, RT_OP_RESIZE, &x, 1, &a, "rz", &e), RT_WEIGHTS_F32, what);
    }
    {
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, S(2, 6, 5, 4));
        memset(&a, 0, sizeof(a));
        a.ndim = 4;
        a.slice_end[0] = 2;
        a.slice_start[1] = 1;
        a.slice_end[1] = -1;
        a.slice_start[2] = 2;
        a.slice_end[2] = 5;
        a.slice_start[3] = 1;
        a.slice_end[3] = 3;
        check(g, rt_graph_node_add(g, RT_OP_SLICE, &x, 1, &a, "sl", &e), RT_WEIGHTS_F32,
              "slice 4-D");
    }
    {
        struct rt_graph *g = rt_graph_init();
        int in[2] = {in_id(g, S(2, 3, 4, 0)), const_id(g, S(2, 4, 5, 0), -1, 1)};
        check(g, rt_graph_node_add(g, RT_OP_MATMUL, in, 2, NULL, "mm", &e), RT_WEIGHTS_F32,
              "matmul batched [2,3,4]x[2,4,5]");
        g = rt_graph_init();
        in[0] = in_id(g, S(2, 1, 3, 4));
        in[1] = const_id(g, S(3, 4, 6, 0), -1, 1);
        memset(&a, 0, sizeof(a));
        a.act = RT_ACT_RELU;
        check(g, rt_graph_node_add(g, RT_OP_MATMUL, in, 2, &a, "mm", &e), RT_WEIGHTS_F32,
              "matmul broadcast [2,1,3,4]x[3,4,6] + relu");
    }
}

/* conv -> bn -> relu6 -> dw -> add(residual) -> gavg -> dense -> softmax */
static struct rt_graph *chain_graph(int64_t batch, int *out)
{
    struct err e = {0};
    struct rt_graph *g = rt_graph_init();
    int x = in_id(g, S(batch, 12, 12, 3));
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.conv = (struct rt_conv_attrs){1, 1, 1, 1, 1, 1, 1, 1, 1};
    int in[3] = {x, const_id(g, S(3, 3, 3, 8), -0.5f, 0.5f)};
    int c1 = rt_graph_node_add(g, RT_OP_CONV2D, in, 2, &a, "conv1", &e);
    int bn[3] = {c1, const_id(g, S(8, 0, 0, 0), 0.5f, 1.5f),
                 const_id(g, S(8, 0, 0, 0), -0.1f, 0.1f)};
    int b1 = rt_graph_node_add(g, RT_OP_BATCHNORM, bn, 3, NULL, "bn1", &e);
    memset(&a, 0, sizeof(a));
    a.act = RT_ACT_RELU6;
    int r1 = rt_graph_node_add(g, RT_OP_ACT, &b1, 1, &a, "relu1", &e);
    memset(&a, 0, sizeof(a));
    a.conv = (struct rt_conv_attrs){1, 1, 1, 1, 1, 1, 1, 1, 8};
    int dw[3] = {r1, const_id(g, S(3, 3, 1, 8), -0.5f, 0.5f),
                 const_id(g, S(8, 0, 0, 0), -0.1f, 0.1f)};
    int d1 = rt_graph_node_add(g, RT_OP_CONV2D, dw, 3, &a, "dw", &e);
    memset(&a, 0, sizeof(a));
    a.conv = (struct rt_conv_attrs){1, 1, 1, 1, 0, 0, 0, 0, 1};
    int pw[3] = {d1, const_id(g, S(1, 1, 8, 8), -0.5f, 0.5f)};
    int p1 = rt_graph_node_add(g, RT_OP_CONV2D, pw, 2, &a, "pw", &e);
    int ad[2] = {p1, r1};
    int s1 = rt_graph_node_add(g, RT_OP_ADD, ad, 2, NULL, "res", &e);
    int ga = rt_graph_node_add(g, RT_OP_GLOBAL_AVG, &s1, 1, NULL, "gap", &e);
    memset(&a, 0, sizeof(a));
    a.ndim = 2;
    a.shape[0] = -1;
    a.shape[1] = 8;
    int fl = rt_graph_node_add(g, RT_OP_RESHAPE, &ga, 1, &a, "flat", &e);
    int de[3] = {fl, const_id(g, S(8, 5, 0, 0), -1, 1), const_id(g, S(5, 0, 0, 0), -1, 1)};
    int dn = rt_graph_node_add(g, RT_OP_DENSE, de, 3, NULL, "fc", &e);
    memset(&a, 0, sizeof(a));
    a.axis = -1;
    *out = rt_graph_node_add(g, RT_OP_SOFTMAX, &dn, 1, &a, "prob", &e);
    rt_graph_output_add(g, *out, &e);
    if (*out < 0)
        printf("# chain: %s\n", e.msg);
    return g;
}

static void chain_cases(void)
{
    int out;
    struct rt_graph *g = chain_graph(1, &out);
    struct rt_plan_opts o = rt_plan_opts_default();
    float delta;
    TH_CHECK(out >= 0 && compare(g, &o, 1e-5f, 1e-4f, NULL, "chain fp32"),
             "multi-node chain fp32 (bn folded, relu6 fused, residual, reshape alias)");
    struct err e = {0};
    struct rt_plan *p = NULL;
    if (rt_plan_create(dev, g, &o, &p, &e) == 0) {
        /* the depthwise + 1x1 pair is one dispatch on CPU devices (dwpw.comp) */
        int want = expect_dwpw ? 5 : 6;
        TH_CHECK(rt_plan_dispatch_count(p) == want && rt_plan_node_count(p) == 7,
                 "fusion leaves %d dispatches for 10 nodes (got %d dispatches, %d nodes)", want,
                 rt_plan_dispatch_count(p), rt_plan_node_count(p));
        TH_CHECK(rt_plan_barrier_count(p) <= rt_plan_dispatch_count(p),
                 "barriers only on hazards (%d)", rt_plan_barrier_count(p));
        printf("# chain: %zu device bytes, %zu weight bytes\n", rt_plan_device_bytes(p),
               rt_plan_weight_bytes(p));
    } else {
        TH_CHECK(0, "chain plan: %s", e.msg);
    }
    rt_plan_destroy(p);
    o.weights = RT_WEIGHTS_I8;
    TH_CHECK(compare(g, &o, 1e-4f, 1e-3f, &delta, "chain i8"), "multi-node chain int8 weights");
    printf("# chain int8: probability delta vs fp32 %.4f\n", delta);
    o.weights = RT_WEIGHTS_F16;
    TH_CHECK(compare(g, &o, 1e-4f, 1e-3f, &delta, "chain f16"), "multi-node chain fp16 weights");
    printf("# chain fp16: probability delta vs fp32 %.5f\n", delta);
    o.weights = RT_WEIGHTS_F32;
    o.no_fuse = 1;
    TH_CHECK(compare(g, &o, 1e-5f, 1e-4f, NULL, "chain unfused"), "multi-node chain unfused");
    rt_graph_free(g);

    /* batching: plan for 3, run 3 then 2 (recorded lazily) against the reference */
    g = chain_graph(3, &out);
    o = rt_plan_opts_default();
    o.max_batch = 3;
    p = NULL;
    float in[3 * 12 * 12 * 3], ref[15], got[15];
    fill(in, 3 * 12 * 12 * 3, -1, 1);
    const float *ins[1] = {in};
    float *refs[1] = {ref}, *gots[1] = {got};
    int ok = rt_ref_run(g, ins, refs, &e) == 0 && rt_plan_create(dev, g, &o, &p, &e) == 0;
    int ok3 = ok && rt_plan_run(p, 3, ins, gots, &e) == 0;
    for (int i = 0; i < 15 && ok3; i++)
        ok3 = fabsf(got[i] - ref[i]) < 1e-5f;
    TH_CHECK(ok3, "batch 3 of a max-batch-3 plan: %s", e.msg);
    memset(got, 0, sizeof(got));
    int ok2 = ok && rt_plan_run(p, 2, ins, gots, &e) == 0;
    for (int i = 0; i < 10 && ok2; i++)
        ok2 = fabsf(got[i] - ref[i]) < 1e-5f;
    TH_CHECK(ok2, "batch 2 of the same plan (lazily recorded): %s", e.msg);
    TH_CHECK(ok && rt_plan_run(p, 4, ins, gots, &e) == RT_ERR_INVALID,
             "batch over max_batch rejected: %s", e.msg);
    rt_plan_destroy(p);
    rt_graph_free(g);
}

/*
 * Runs plan p (reserved for g's shapes) at the smaller input shapes sh
 * and compares with the reference of g re-inferred at sh; 1 when every
 * output matches within 1e-5 + 1e-4*|ref|.
 */
static int run_at(struct rt_plan *p, const struct rt_graph *g, int64_t (*sh)[4], const char *what)
{
    struct err e = {0};
    int ok = 1;
    float *in[8] = {0}, *ref[16] = {0}, *got[16] = {0};
    int64_t oshape[16 * 4];
    const int64_t *shp[8];
    struct rt_graph *gs = rt_graph_clone(g, &e);
    if (gs == NULL || rt_graph_inputs_set(gs, (const int64_t(*)[4])sh, &e) < 0) {
        printf("# %s: reference shapes: %s\n", what, e.msg);
        rt_graph_free(gs);
        return 0;
    }
    for (int i = 0; i < gs->n_inputs; i++) {
        int64_t n = rt_tensor_nelem(&gs->tensors[gs->inputs[i]]);
        in[i] = malloc((size_t)n * sizeof(float));
        fill(in[i], n, -1.0f, 1.0f);
        shp[i] = sh[i];
    }
    for (int i = 0; i < gs->n_outputs; i++) {
        /* sized for the reserved shape: a run never writes more */
        size_t n = (size_t)rt_tensor_nelem(&g->tensors[g->outputs[i]]);
        ref[i] = calloc(n, sizeof(float));
        got[i] = calloc(n, sizeof(float));
    }
    if (rt_ref_run(gs, (const float *const *)in, ref, &e) < 0 ||
        rt_plan_run_shape(p, shp, (const float *const *)in, got, oshape, &e) < 0) {
        printf("# %s: %s\n", what, e.msg);
        ok = 0;
    }
    for (int i = 0; i < gs->n_outputs && ok; i++) {
        const struct rt_tensor *t = &gs->tensors[gs->outputs[i]];
        for (int d = 0; d < t->ndim && ok; d++)
            ok = oshape[i * 4 + d] == t->shape[d];
        if (!ok)
            printf("# %s: output %d dims differ from the reference's\n", what, i);
        int64_t n = rt_tensor_nelem(t);
        for (int64_t j = 0; j < n && ok; j++)
            if (!(fabsf(got[i][j] - ref[i][j]) <= 1e-5f + 1e-4f * fabsf(ref[i][j]))) {
                printf("# %s: output %d [%lld] = %g, reference %g\n", what, i, (long long)j,
                       got[i][j], ref[i][j]);
                ok = 0;
            }
    }
    rt_graph_free(gs);
    for (int i = 0; i < 8; i++)
        free(in[i]);
    for (int i = 0; i < 16; i++) {
        free(ref[i]);
        free(got[i]);
    }
    return ok;
}

/* a sequence model's shape: x[N,S,8] -> dense 8->12 + bias -> gelu -> + c[12] -> softmax */
static struct rt_graph *seq_graph(void)
{
    struct err e = {0};
    struct rt_graph *g = rt_graph_init();
    int x = in_id(g, S(2, 16, 8, 0));
    int de[3] = {x, const_id(g, S(8, 12, 0, 0), -1, 1), const_id(g, S(12, 0, 0, 0), -1, 1)};
    int d = rt_graph_node_add(g, RT_OP_DENSE, de, 3, NULL, "proj", &e);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.act = RT_ACT_GELU;
    int ge = rt_graph_node_add(g, RT_OP_ACT, &d, 1, &a, "gelu", &e);
    int ad[2] = {ge, const_id(g, S(12, 0, 0, 0), -1, 1)};
    int s = rt_graph_node_add(g, RT_OP_ADD, ad, 2, NULL, "shift", &e);
    memset(&a, 0, sizeof(a));
    a.axis = -1;
    int out = rt_graph_node_add(g, RT_OP_SOFTMAX, &s, 1, &a, "prob", &e);
    if (rt_graph_output_add(g, out, &e) < 0)
        printf("# seq graph: %s\n", e.msg);
    return g;
}

/* plans reserved at a worst shape run smaller ones without re-planning */
static void shape_cases(void)
{
    struct err e = {0};
    int out;
    /* images: reserved 3 x 12x12, run 2 crops of 7x9 and 1 of 12x12 */
    struct rt_graph *g = chain_graph(3, &out);
    struct rt_plan_opts o = rt_plan_opts_default();
    o.max_batch = 3;
    struct rt_plan *p = NULL;
    if (rt_plan_create(dev, g, &o, &p, &e) < 0) {
        TH_CHECK(0, "chain plan for shapes: %s", e.msg);
        rt_graph_free(g);
        return;
    }
    size_t bytes = rt_plan_device_bytes(p);
    int rec0 = rt_plan_record_count(p);
    TH_EQ_INT(rec0, 1, "the reserved shape is recorded at creation");
    int64_t sh[8][4] = {{2, 7, 9, 3}};
    TH_CHECK(run_at(p, g, sh, "chain at 2x7x9"), "chain reserved 3x12x12 runs 2x7x9");
    TH_EQ_INT(rt_plan_record_count(p), rec0 + 1, "a new shape is recorded once");
    TH_CHECK(run_at(p, g, sh, "chain at 2x7x9 again"), "chain 2x7x9 replayed");
    TH_EQ_INT(rt_plan_record_count(p), rec0 + 1, "the same shape is replayed, not recorded");
    int64_t sh1[8][4] = {{1, 12, 12, 3}};
    TH_CHECK(run_at(p, g, sh1, "chain at 1x12x12"), "chain at batch 1 through run_shape");
    TH_CHECK(rt_plan_device_bytes(p) == bytes, "device bytes unchanged by smaller runs (%zu)",
             bytes);
    int64_t big[4] = {3, 13, 12, 3};
    const int64_t *bigp[1] = {big};
    float dummy[1], *dout[1] = {dummy};
    const float *din[1] = {dummy};
    TH_EQ_INT(rt_plan_run_shape(p, bigp, din, dout, NULL, &e), RT_ERR_INVALID,
              "a dim over the reserved one is refused: %s", e.msg);
    rt_plan_destroy(p);
    rt_graph_free(g);

    /* sequences: reserved [2,16,8], run [1,5,8] and [2,1,8] */
    g = seq_graph();
    o = rt_plan_opts_default();
    o.max_batch = 2;
    p = NULL;
    if (rt_plan_create(dev, g, &o, &p, &e) < 0) {
        TH_CHECK(0, "sequence plan: %s", e.msg);
        rt_graph_free(g);
        return;
    }
    bytes = rt_plan_device_bytes(p);
    int64_t s5[8][4] = {{1, 5, 8}}, s1[8][4] = {{2, 1, 8}}, s16[8][4] = {{2, 16, 8}};
    TH_CHECK(run_at(p, g, s16, "seq at 2x16"), "sequence at the reserved length 16");
    TH_CHECK(run_at(p, g, s5, "seq at 1x5"), "sequence reserved 2x16 runs 1x5");
    TH_CHECK(run_at(p, g, s1, "seq at 2x1"), "sequence reserved 2x16 runs 2x1");
    TH_EQ_INT(rt_plan_record_count(p), 3, "one recording per shape (16, 5, 1)");
    TH_CHECK(rt_plan_device_bytes(p) == bytes, "sequence plan bytes unchanged");
    rt_plan_destroy(p);
    /* both backends of rt_exec take a run shape and agree */
    struct rt_exec *xv = NULL, *xr = NULL;
    e = (struct err){0};
    float sin[1 * 5 * 8], ov[1 * 5 * 12], orf[1 * 5 * 12];
    fill(sin, 40, -1, 1);
    int64_t s5d[4] = {1, 5, 8}, osv[4], osr[4];
    const int64_t *s5p[1] = {s5d};
    const float *sinp[1] = {sin};
    float *ovp[1] = {ov}, *orp[1] = {orf};
    int ok = rt_exec_create(dev, g, &o, &xv, &e) == 0 &&
             rt_exec_create(NULL, g, &o, &xr, &e) == 0 &&
             rt_exec_run_shape(xv, s5p, sinp, ovp, osv, &e) == 0 &&
             rt_exec_run_shape(xr, s5p, sinp, orp, osr, &e) == 0 && osv[1] == 5 && osr[1] == 5 &&
             osv[2] == 12 && osr[2] == 12;
    for (int i = 0; i < 60 && ok; i++)
        ok = fabsf(ov[i] - orf[i]) <= 1e-5f + 1e-4f * fabsf(orf[i]);
    TH_CHECK(ok, "rt_exec_run_shape: vulkan and cpu-reference agree at 1x5: %s", e.msg);
    rt_exec_destroy(xv);
    rt_exec_destroy(xr);
    rt_graph_free(g);

    /* a RESHAPE to a literal size does not shrink: refused, not misread */
    g = rt_graph_init();
    int x = in_id(g, S(2, 4, 4, 0));
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.ndim = 1;
    a.shape[0] = 32;
    out = rt_graph_node_add(g, RT_OP_RESHAPE, &x, 1, &a, "flat32", &e);
    int o2 = rt_graph_node_add(g, RT_OP_SOFTMAX, &out, 1, &(struct rt_attrs){.axis = -1}, "sm", &e);
    rt_graph_output_add(g, o2, &e);
    o = rt_plan_opts_default();
    o.max_batch = 2;
    p = NULL;
    int64_t sm[4] = {2, 2, 4};
    const int64_t *smp[1] = {sm};
    float buf[32] = {0}, res[32], *resp[1] = {res};
    const float *bufp[1] = {buf};
    TH_CHECK(rt_plan_create(dev, g, &o, &p, &e) == 0 &&
                 rt_plan_run_shape(p, smp, bufp, resp, NULL, &e) == RT_ERR_INVALID,
             "a literal reshape refuses a smaller shape: %s", e.msg);
    rt_plan_destroy(p);
    rt_graph_free(g);
}

/* RGB8 preprocessing shader vs resize + normalise on the CPU; an output
   width of 16 takes the shader's vec4 stores, 13 its per-value ones */
static void preprocess_cases(void)
{
    static const int md[][3] = {{1, 0, 0}, {1, 1, 0}, {1, 0, 1}, {0, 0, 0}};
    for (int mw = 0; mw < 8; mw++) {
        int m = mw % 4;
        struct err e = {0};
        int iw[2] = {37, 10}, ih[2] = {23, 31}, OH = 16, OW = mw < 4 ? 13 : 16;
        uint8_t *rgb[2];
        struct rt_image imgs[2];
        for (int i = 0; i < 2; i++) {
            rgb[i] = malloc((size_t)iw[i] * ih[i] * 3);
            for (int j = 0; j < iw[i] * ih[i] * 3; j++)
                rgb[i][j] = (uint8_t)((j * 37 + i * 11) % 256);
            imgs[i] = (struct rt_image){rgb[i], iw[i], ih[i]};
        }
        struct rt_graph *g = rt_graph_init();
        int x = in_id(g, S(2, OH, OW, 3));
        struct rt_attrs a;
        memset(&a, 0, sizeof(a));
        a.act = RT_ACT_NONE;
        int one = const_id(g, S(3, 0, 0, 0), 1, 1);
        int mi[2] = {x, one};
        int y = rt_graph_node_add(g, RT_OP_MUL, mi, 2, &a, "id", &e);
        rt_graph_output_add(g, y, &e);
        struct rt_plan_opts o = rt_plan_opts_default();
        o.max_batch = 2;
        o.pre.enabled = 1;
        o.pre.max_w = o.pre.max_h = 64;
        o.pre.bilinear = md[m][0];
        o.pre.align_corners = md[m][1];
        o.pre.half_pixel = md[m][2];
        o.pre.scale = 1.0f / 127.5f;
        float mean[3] = {1, 0.5f, 0}, sd[3] = {1, 2, 0.5f};
        memcpy(o.pre.mean, mean, sizeof(mean));
        memcpy(o.pre.std, sd, sizeof(sd));
        struct rt_plan *p = NULL;
        float got[2 * 16 * 16 * 3], want[2 * 16 * 16 * 3];
        float *gots[1] = {got};
        int ok =
            rt_plan_create(dev, g, &o, &p, &e) == 0 && rt_plan_run_rgb8(p, 2, imgs, gots, &e) == 0;
        /* CPU: each image through a RESIZE graph on float pixels, then normalise */
        for (int i = 0; i < 2 && ok; i++) {
            struct rt_graph *r = rt_graph_init();
            int rx = in_id(r, S(1, ih[i], iw[i], 3));
            memset(&a, 0, sizeof(a));
            a.resize = (struct rt_resize_attrs){OH, OW, md[m][0], md[m][1], md[m][2]};
            int ry = rt_graph_node_add(r, RT_OP_RESIZE, &rx, 1, &a, "rz", &e);
            rt_graph_output_add(r, ry, &e);
            float *fin = malloc((size_t)iw[i] * ih[i] * 3 * sizeof(float));
            for (int j = 0; j < iw[i] * ih[i] * 3; j++)
                fin[j] = rgb[i][j];
            const float *fins[1] = {fin};
            float *w = want + i * OH * OW * 3;
            float *ws[1] = {w};
            ok = rt_ref_run(r, fins, ws, &e) == 0;
            for (int j = 0; j < OH * OW * 3; j++)
                w[j] = (w[j] * o.pre.scale - mean[j % 3]) / sd[j % 3];
            free(fin);
            rt_graph_free(r);
        }
        float maxerr = 0;
        for (int j = 0; j < 2 * OH * OW * 3 && ok; j++)
            maxerr = fmaxf(maxerr, fabsf(got[j] - want[j]));
        TH_CHECK(ok && maxerr < 1e-3f,
                 "rgb8 preprocessing %s align %d half %d to %dx%d, 2 images of "
                 "different sizes (max err %g) %s",
                 md[m][0] ? "bilinear" : "nearest", md[m][1], md[m][2], OH, OW, maxerr, e.msg);
        rt_plan_destroy(p);
        rt_graph_free(g);
        free(rgb[0]);
        free(rgb[1]);
    }
}

/* graphs at the edges of the memory plan */
static void plan_edge_cases(void)
{
    struct err e = {0};
    /* an input nothing reads must not be uploaded over another tensor */
    struct rt_graph *g = rt_graph_init();
    int x = in_id(g, S(1, 64, 0, 0));
    rt_graph_input_add(g, "unused", 2, S(1, 4096, 0, 0), &e);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.act = RT_ACT_SIGMOID;
    int y = rt_graph_node_add(g, RT_OP_ACT, &x, 1, &a, "s", &e);
    a.act = RT_ACT_TANH;
    int z = rt_graph_node_add(g, RT_OP_ACT, &y, 1, &a, "t", &e);
    rt_graph_output_add(g, z, &e);
    rt_graph_output_add(g, y, &e);
    struct rt_plan_opts o = rt_plan_opts_default();
    TH_CHECK(compare(g, &o, 1e-6f, 1e-6f, NULL, "unused input"),
             "graph with an unused input and two outputs");
    rt_graph_free(g);
    /* an output that is a graph input (identity) next to a computed one */
    g = rt_graph_init();
    x = in_id(g, S(2, 3, 0, 0));
    a.act = RT_ACT_RELU;
    y = rt_graph_node_add(g, RT_OP_ACT, &x, 1, &a, "r", &e);
    rt_graph_output_add(g, x, &e);
    rt_graph_output_add(g, y, &e);
    o.max_batch = 2;
    TH_CHECK(compare(g, &o, 0, 0, NULL, "input as output"), "a graph input that is also an output");
    rt_graph_free(g);
}

static void limit_cases(void)
{
    int out;
    struct err e = {0};
    struct rt_graph *g = chain_graph(1, &out);
    struct rt_plan_opts o = rt_plan_opts_default();
    o.max_device_bytes = 4096;
    struct rt_plan *p = NULL;
    TH_EQ_INT(rt_plan_create(dev, g, &o, &p, &e), RT_ERR_OOM, "max_device_bytes -> RT_ERR_OOM");
    TH_CHECK(p == NULL && e.transient && strstr(e.msg, "limit 4096") != NULL, "clean OOM error: %s",
             e.msg);
    o.max_device_bytes = 0;
    o.max_batch = 0;
    TH_EQ_INT(rt_plan_create(dev, g, &o, &p, &e), RT_ERR_INVALID, "max_batch 0 rejected");
    rt_graph_free(g);
    struct rt_device *d2 = NULL;
    TH_CHECK(env_device_create("no-such-gpu-name", &d2, &e) == RT_ERR_INVALID && d2 == NULL,
             "unknown device selector: %s", e.msg);
}

/* a fresh device with the current environment's settings, for a pass of cases */
static int device_again(const char *what)
{
    struct err e = {0};
    rt_device_destroy(dev);
    dev = NULL;
    TH_CHECK(env_device_create(getenv("RT_DEVICE"), &dev, &e) == 0, "device (%s): %s", what, e.msg);
    if (dev != NULL)
        printf("# cases with %s\n", what);
    return dev != NULL;
}

/*
 * The GPU kernel family forced on this device (VKV_RT_KERNELS=gpu), as a
 * GPU gets it: every conv case, then the GEMM shapes with the per-layer
 * tile, with the largest tile forced (VKV_GEMM_TILE=4x2: 64 x 128 per
 * workgroup), and in fp16 arithmetic where the device has shaderFloat16.
 */
static void gpu_family_passes(void)
{
    setenv("VKV_RT_KERNELS", "gpu", 1);
    setenv("VKV_RT_FP16_MATH", "0", 1); /* fp32 arithmetic: the strict bounds */
    if (device_again("VKV_RT_KERNELS=gpu VKV_RT_FP16_MATH=0")) {
        conv_cases();
        pad_residual_cases();
        dwpw_cases();
        gpu_gemm_cases();
    }
    setenv("VKV_GEMM_TILE", "4x2", 1);
    if (device_again("VKV_RT_KERNELS=gpu VKV_RT_FP16_MATH=0 VKV_GEMM_TILE=4x2"))
        gpu_gemm_cases();
    unsetenv("VKV_GEMM_TILE");
    if (dev != NULL && rt_device_caps(dev)->fp16) {
        setenv("VKV_RT_FP16_MATH", "1", 1);
        /* fp16 products summed in fp16 over 16 terms, then in fp32: measured
           max |d| 0.012 (dense 1280 -> 1000), 2.5x under the bound's absolute
           part alone; K-wide fp16 sums would grow with K */
        math_atol = 3e-2f;
        math_rtol = 1e-2f;
        if (device_again("VKV_RT_KERNELS=gpu VKV_RT_FP16_MATH=1"))
            gpu_gemm_cases();
        math_atol = math_rtol = 0;
        unsetenv("VKV_RT_FP16_MATH");
    } else if (dev != NULL) {
        printf("# SKIP fp16-arithmetic GEMM: %s has no shaderFloat16\n", rt_device_caps(dev)->name);
    }
    unsetenv("VKV_RT_KERNELS");
    rt_device_destroy(dev);
    dev = NULL;
}

int main(int argc, char **argv)
{
    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    struct err e = {0};
    int n = rt_device_count(&e);
    TH_CHECK(n >= 1, "vulkan devices: %d %s", n, e.msg);
    if (n < 1)
        return th_done();
    TH_CHECK(env_device_create(getenv("RT_DEVICE"), &dev, &e) == 0, "device created: %s", e.msg);
    if (dev == NULL)
        return th_done();
    const struct rt_caps *c = rt_device_caps(dev);
    printf("# device %s (%s), subgroup %d, shared %u, storage range %llu\n", c->name, c->driver,
           c->subgroup_size, c->shared_mem, (unsigned long long)c->max_storage_range);
    conv_cases();
    pad_residual_cases();
    /* the fused pair on CPU devices with texel buffers, unfused with VKV_NO_DWPW=1 */
    const char *nodwpw = getenv("VKV_NO_DWPW");
    expect_dwpw = strcmp(c->type, "cpu") == 0 && (nodwpw == NULL || strcmp(nodwpw, "1") != 0);
    dwpw_cases();
    elem_cases();
    data_cases();
    chain_cases();
    expect_dwpw = 0;
    shape_cases();
    preprocess_cases();
    plan_edge_cases();
    limit_cases();
    rt_device_destroy(dev);
    /* the storage-buffer kernels too (the default picks texel-buffer variants) */
    setenv("VKV_NO_TEXEL", "1", 1);
    dev = NULL;
    TH_CHECK(env_device_create(getenv("RT_DEVICE"), &dev, &e) == 0,
             "device without texel "
             "buffers: %s",
             e.msg);
    if (dev != NULL) {
        printf("# conv/dense cases again with VKV_NO_TEXEL=1\n");
        conv_cases();
        pad_residual_cases();
        dwpw_cases();
        pool_cases();
        preprocess_cases(); /* the storage-buffer pixel reads */
        rt_device_destroy(dev);
    }
    unsetenv("VKV_NO_TEXEL");
    dev = NULL; /* destroyed above */
    gpu_family_passes();
    /* teardown: a fresh device with a plan, destroyed in order */
    {
        int out;
        struct rt_graph *g = chain_graph(1, &out);
        struct rt_device *d2 = NULL;
        struct rt_plan *p = NULL;
        struct rt_plan_opts o = rt_plan_opts_default();
        TH_CHECK(env_device_create(getenv("RT_DEVICE"), &d2, &e) == 0 &&
                     rt_plan_create(d2, g, &o, &p, &e) == 0,
                 "second device + plan: %s", e.msg);
        rt_plan_destroy(p);
        rt_device_destroy(d2);
        rt_graph_free(g);
    }
    int errs = rt_validation_errors_total();
    const char *v = getenv("RT_VALIDATE");
    if (v != NULL && strcmp(v, "1") == 0)
        TH_EQ_INT(errs, 0, "no validation-layer errors (RT_VALIDATE=1)");
    return th_done();
}
