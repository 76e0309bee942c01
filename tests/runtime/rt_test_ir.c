/*
 * rt_test_ir.c: IR shape inference and validation, fp16/int8 helpers, the
 * graph passes and the CPU reference ops against hand-computed values.
 * Needs no GPU.  Run by tests/suites/30-runtime.sh.
 */
#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"
#include "runtime/ref/rt_ref.h"
#include "runtime/ops/rt_ops.h"
#include "tests/lib/th.h"

#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "runtime/ir/rt_synth.h"
#include "common/cm.h"
#include "common/cfg.h"

static int64_t S4[4];
static const int64_t *sh4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    S4[0] = a;
    S4[1] = b;
    S4[2] = c;
    S4[3] = d;
    return S4;
}

static void test_ir(void)
{
    struct err e = {0};
    struct rt_graph *g = rt_graph_init();
    int x = rt_graph_input_add(g, "x", 4, sh4(1, 7, 9, 4), &e);
    TH_EQ_INT(x, 0, "input id 0");
    float w[3 * 3 * 2 * 6] = {0};
    int wid = rt_graph_const_add(g, "w", 4, sh4(3, 3, 2, 6), w, &e);
    TH_CHECK(wid == 1, "const id");
    struct rt_attrs a = {0};
    a.conv.stride_h = 2;
    a.conv.stride_w = 2;
    a.conv.pad_t = 1;
    a.conv.pad_b = 0;
    a.conv.pad_l = 1;
    a.conv.pad_r = 1;
    a.conv.groups = 2;
    int in[2] = {x, wid};
    int y = rt_graph_node_add(g, RT_OP_CONV2D, in, 2, &a, "conv", &e);
    TH_CHECK(y > 0, "grouped strided conv accepted: %s", e.msg);
    if (y > 0) {
        /* H: (7+1-3)/2+1 = 3; W: (9+2-3)/2+1 = 5 */
        TH_EQ_INT(g->tensors[y].shape[1], 3, "conv out h");
        TH_EQ_INT(g->tensors[y].shape[2], 5, "conv out w");
        TH_EQ_INT(g->tensors[y].shape[3], 6, "conv out c");
        TH_EQ_INT(g->nodes[0].a.conv.dil_h, 1, "dilation 0 normalised to 1");
    }
    a.conv.groups = 3;
    TH_CHECK(rt_graph_node_add(g, RT_OP_CONV2D, in, 2, &a, "bad", &e) == RT_ERR_INVALID,
             "groups not dividing channels rejected: %s", e.msg);
    struct rt_attrs r = {0};
    r.ndim = 2;
    r.shape[0] = 1;
    r.shape[1] = -1;
    int rs = rt_graph_node_add(g, RT_OP_RESHAPE, &y, 1, &r, "flat", &e);
    TH_CHECK(rs > 0 && g->tensors[rs].shape[1] == 90, "reshape -1 inferred");
    r.shape[1] = 7;
    TH_CHECK(rt_graph_node_add(g, RT_OP_RESHAPE, &y, 1, &r, "bad", &e) < 0,
             "reshape with wrong count rejected: %s", e.msg);
    int bad_in = 99;
    TH_CHECK(rt_graph_node_add(g, RT_OP_ACT, &bad_in, 1, NULL, "x", &e) < 0,
             "unknown input id rejected");
    TH_CHECK(rt_graph_input_add(g, "huge", 4, sh4(1 << 20, 1 << 20, 1, 1), &e) == RT_ERR_TOO_LARGE,
             "huge shape rejected: %s", e.msg);
    TH_CHECK(rt_graph_input_add(g, "neg", 4, sh4(1, -3, 1, 1), &e) == RT_ERR_INVALID,
             "negative dim rejected");
    struct rt_attrs sl = {0};
    sl.ndim = 4;
    sl.slice_start[1] = -2;
    sl.slice_end[1] = 100;
    sl.slice_end[0] = 1;
    sl.slice_end[2] = 5;
    sl.slice_end[3] = 6;
    int s = rt_graph_node_add(g, RT_OP_SLICE, &y, 1, &sl, "slice", &e);
    TH_CHECK(s > 0 && g->tensors[s].shape[1] == 2, "slice with negative start clamps");
    sl.slice_end[0] = 1000; /* to the end of the batch, whatever it becomes */
    int s_all = rt_graph_node_add(g, RT_OP_SLICE, &y, 1, &sl, "slice_all", &e);
    TH_CHECK(s_all > 0 && g->tensors[s_all].shape[0] == 1, "slice to the end at batch 1");
    struct rt_attrs b = {0};
    int bin[2] = {y, wid};
    TH_CHECK(rt_graph_node_add(g, RT_OP_ADD, bin, 2, &b, "badadd", &e) < 0,
             "non-broadcastable add rejected: %s", e.msg);
    float bias[6] = {0};
    int bid = rt_graph_const_add(g, "b", 1, sh4(6, 0, 0, 0), bias, &e);
    bin[1] = bid;
    int add = rt_graph_node_add(g, RT_OP_ADD, bin, 2, &b, "add", &e);
    TH_CHECK(add > 0 && g->tensors[add].ndim == 4, "broadcast add [1,3,5,6]+[6]");
    TH_CHECK(rt_graph_output_add(g, add, &e) == 0, "output added");
    TH_CHECK(rt_graph_batch_set(g, 3, &e) == 0 && g->tensors[add].shape[0] == 3 &&
                 g->tensors[rs].shape[0] == 3 && g->tensors[rs].shape[1] == 90,
             "batch_set re-infers shapes, reshape batch follows");
    TH_CHECK(g->tensors[s_all].shape[0] == 3 && g->tensors[s].shape[0] == 1,
             "batch_set: a slice to the end follows the batch, a slice [0, 1) stays one wide");
    struct rt_graph *c = rt_graph_clone(g, &e);
    TH_CHECK(c != NULL && c->n_nodes == g->n_nodes && c->tensors[wid].data != g->tensors[wid].data,
             "clone is deep");
    rt_graph_free(c);
    rt_graph_free(g);
    TH_EQ_STR(rt_op_name(RT_OP_GLOBAL_AVG), "global_avg", "op name");
}

static void test_half(void)
{
    float v[] = {0.0f, 1.0f, -2.5f, 65504.0f, 1e-7f, 0.333333f, 1e6f};
    TH_EQ_INT(rt_f32_to_f16(1.0f), 0x3c00, "f16(1)");
    TH_EQ_INT(rt_f32_to_f16(-2.0f), 0xc000, "f16(-2)");
    TH_EQ_INT(rt_f32_to_f16(1e6f), 0x7c00, "f16 overflow -> inf");
    TH_EQ_INT(rt_f32_to_f16(5.96046448e-8f), 0x0001, "smallest subnormal");
    int ok = 1;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]) - 1; i++) {
        float r = rt_f16_to_f32(rt_f32_to_f16(v[i]));
        if (fabsf(r - v[i]) > fabsf(v[i]) * 1e-3f + 1e-7f)
            ok = 0;
    }
    TH_CHECK(ok, "f16 round trip within half precision");
    float w[6] = {1, -2, 0, 0.5f, 4, 0};
    float sc[3];
    rt_quant_scales(w, 6, 3, sc);
    TH_CHECK(fabsf(sc[0] - 1.0f / 127) < 1e-9f && fabsf(sc[1] - 4.0f / 127) < 1e-9f &&
                 sc[2] == 1.0f,
             "int8 per-channel scales");
}

/* builds x (input) [+ consts] -> op, runs the reference, compares with want */
static int near(const float *a, const float *b, int n, float tol)
{
    for (int i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= tol)) {
            printf("# [%d] = %g, expected %g\n", i, a[i], b[i]);
            return 0;
        }
    return 1;
}

struct cst {
    int ndim;
    int64_t shape[4];
    const float *data;
};

static int run1(enum rt_op op, int xnd, const int64_t *xs, const float *x, const struct cst *c,
                int nc, const struct rt_attrs *a, float *out, int nout)
{
    struct err e = {0};
    struct rt_graph *g = rt_graph_init();
    int in[RT_MAX_INPUTS];
    in[0] = rt_graph_input_add(g, "x", xnd, xs, &e);
    for (int i = 0; i < nc; i++)
        in[1 + i] = rt_graph_const_add(g, "c", c[i].ndim, c[i].shape, c[i].data, &e);
    int y = rt_graph_node_add(g, op, in, 1 + nc, a, "n", &e);
    int rc = -1;
    if (y >= 0 && rt_tensor_nelem(&g->tensors[y]) == nout) {
        rt_graph_output_add(g, y, &e);
        const float *ins[1] = {x};
        rc = rt_ref_run(g, ins, &out, &e);
    } else {
        printf("# %s: %s (y=%d)\n", rt_op_name(op), e.msg, y);
    }
    rt_graph_free(g);
    return rc;
}

static void test_ref_ops(void)
{
    float o[64];
    struct rt_attrs a;
    {
        float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, b[1] = {-13};
        struct cst c[2] = {{4, {2, 2, 1, 1}, w}, {1, {1}, b}};
        memset(&a, 0, sizeof(a));
        a.conv.stride_h = a.conv.stride_w = 1;
        a.act = RT_ACT_RELU;
        float want[4] = {0, 3, 11, 15};
        TH_CHECK(run1(RT_OP_CONV2D, 4, sh4(1, 3, 3, 1), x, c, 2, &a, o, 4) == 0 &&
                     near(o, want, 4, 1e-6f),
                 "ref conv2d 2x2 + bias + relu");
        a.act = 0;
        a.conv.stride_h = a.conv.stride_w = 2;
        a.conv.pad_t = a.conv.pad_l = 1;
        float want2[4] = {1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9};
        TH_CHECK(run1(RT_OP_CONV2D, 4, sh4(1, 3, 3, 1), x, c, 1, &a, o, 4) == 0 &&
                     near(o, want2, 4, 1e-6f),
                 "ref conv2d stride 2, top-left padding");
    }
    {
        float x[2] = {1, 2}, w[2] = {3, 4};
        struct cst c[1] = {{4, {1, 1, 1, 2}, w}};
        memset(&a, 0, sizeof(a));
        a.conv.stride_h = a.conv.stride_w = 1;
        a.conv.groups = 2;
        float want[2] = {3, 8};
        TH_CHECK(run1(RT_OP_CONV2D, 4, sh4(1, 1, 1, 2), x, c, 1, &a, o, 2) == 0 &&
                     near(o, want, 2, 0),
                 "ref depthwise conv");
    }
    {
        float x[2] = {1, 2}, w[6] = {1, 2, 3, 4, 5, 6}, b[3] = {0, 0, -20};
        struct cst c[2] = {{2, {2, 3}, w}, {1, {3}, b}};
        memset(&a, 0, sizeof(a));
        float want[3] = {9, 12, -5};
        TH_CHECK(run1(RT_OP_DENSE, 2, sh4(1, 2, 0, 0), x, c, 2, &a, o, 3) == 0 &&
                     near(o, want, 3, 0),
                 "ref dense + bias");
    }
    {
        float x[4] = {1, 2, 3, 4}, w[4] = {5, 6, 7, 8};
        struct cst c[1] = {{2, {2, 2}, w}};
        memset(&a, 0, sizeof(a));
        float want[4] = {19, 22, 43, 50};
        TH_CHECK(run1(RT_OP_MATMUL, 2, sh4(2, 2, 0, 0), x, c, 1, &a, o, 4) == 0 &&
                     near(o, want, 4, 0),
                 "ref matmul");
    }
    {
        float x[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30};
        struct cst c[1] = {{1, {3}, b}};
        memset(&a, 0, sizeof(a));
        float want[6] = {-9, -18, -27, -6, -15, -24};
        TH_CHECK(run1(RT_OP_SUB, 2, sh4(2, 3, 0, 0), x, c, 1, &a, o, 6) == 0 && near(o, want, 6, 0),
                 "ref sub with broadcast [2,3]-[3]");
        float col[2] = {2, 3};
        struct cst c2[1] = {{2, {2, 1}, col}};
        float want2[6] = {2, 4, 6, 12, 15, 18};
        TH_CHECK(run1(RT_OP_MUL, 2, sh4(2, 3, 0, 0), x, c2, 1, &a, o, 6) == 0 &&
                     near(o, want2, 6, 0),
                 "ref mul with broadcast [2,3]*[2,1]");
        float sc[3] = {2, 2, 2}, shf[3] = {1, 0, -100};
        struct cst c3[2] = {{1, {3}, sc}, {1, {3}, shf}};
        a.act = RT_ACT_RELU;
        float want3[6] = {3, 4, 0, 9, 10, 0};
        TH_CHECK(run1(RT_OP_BATCHNORM, 2, sh4(2, 3, 0, 0), x, c3, 2, &a, o, 6) == 0 &&
                     near(o, want3, 6, 0),
                 "ref batchnorm + relu");
    }
    {
        float x[16];
        for (int i = 0; i < 16; i++)
            x[i] = (float)(i + 1);
        memset(&a, 0, sizeof(a));
        a.pool.kh = a.pool.kw = a.pool.stride_h = a.pool.stride_w = 2;
        float want[4] = {6, 8, 14, 16};
        TH_CHECK(run1(RT_OP_POOL_MAX, 4, sh4(1, 4, 4, 1), x, NULL, 0, &a, o, 4) == 0 &&
                     near(o, want, 4, 0),
                 "ref max pool 2x2/2");
        a.pool.kh = a.pool.kw = 3;
        a.pool.pad_t = a.pool.pad_l = a.pool.pad_b = a.pool.pad_r = 1;
        /* top-left window: 1,2,5,6 valid -> 14/4 (count_pad 0) or 14/9 */
        float want2[4] = {3.5f, (2 + 3 + 4 + 6 + 7 + 8) / 6.0f, (5 + 6 + 9 + 10 + 13 + 14) / 6.0f,
                          (6 + 7 + 8 + 10 + 11 + 12 + 14 + 15 + 16) / 9.0f};
        TH_CHECK(run1(RT_OP_POOL_AVG, 4, sh4(1, 4, 4, 1), x, NULL, 0, &a, o, 4) == 0 &&
                     near(o, want2, 4, 1e-5f),
                 "ref avg pool 3x3/2 pad 1 excluding padding");
        a.pool.count_pad = 1;
        TH_CHECK(run1(RT_OP_POOL_AVG, 4, sh4(1, 4, 4, 1), x, NULL, 0, &a, o, 4) == 0 &&
                     fabsf(o[0] - 14.0f / 9) < 1e-5f,
                 "ref avg pool counting padding");
        float want3[2] = {(1 + 3 + 5 + 7 + 9 + 11 + 13 + 15) / 8.0f,
                          (2 + 4 + 6 + 8 + 10 + 12 + 14 + 16) / 8.0f};
        TH_CHECK(run1(RT_OP_GLOBAL_AVG, 4, sh4(1, 2, 4, 2), x, NULL, 0, &a, o, 2) == 0 &&
                     near(o, want3, 2, 1e-5f),
                 "ref global average");
        memset(&a, 0, sizeof(a));
        a.ndim = 2;
        a.perm[0] = 1;
        a.perm[1] = 0;
        float want4[6] = {1, 4, 2, 5, 3, 6};
        TH_CHECK(run1(RT_OP_TRANSPOSE, 2, sh4(2, 3, 0, 0), x, NULL, 0, &a, o, 6) == 0 &&
                     near(o, want4, 6, 0),
                 "ref transpose 2x3");
        memset(&a, 0, sizeof(a));
        a.ndim = 2;
        a.pad_before[1] = 1;
        a.pad_after[0] = 1;
        a.pad_value = -1;
        float want5[9] = {-1, 1, 2, -1, 3, 4, -1, -1, -1};
        TH_CHECK(run1(RT_OP_PAD, 2, sh4(2, 2, 0, 0), x, NULL, 0, &a, o, 9) == 0 &&
                     near(o, want5, 9, 0),
                 "ref pad with value");
        memset(&a, 0, sizeof(a));
        a.ndim = 2;
        a.slice_start[0] = 1;
        a.slice_end[0] = 3;
        a.slice_start[1] = 2;
        a.slice_end[1] = -1;
        float want6[2] = {7, 11};
        TH_CHECK(run1(RT_OP_SLICE, 2, sh4(3, 4, 0, 0), x, NULL, 0, &a, o, 2) == 0 &&
                     near(o, want6, 2, 0),
                 "ref slice with negative end");
        memset(&a, 0, sizeof(a));
        a.axis = 0;
        float want7[3] = {2.5f, 3.5f, 4.5f};
        TH_CHECK(run1(RT_OP_REDUCE_MEAN, 2, sh4(2, 3, 0, 0), x, NULL, 0, &a, o, 3) == 0 &&
                     near(o, want7, 3, 1e-6f),
                 "ref reduce_mean axis 0");
        a.axis = -1;
        float sm[3] = {0, logf(2), logf(3)}, want8[3] = {1 / 6.0f, 2 / 6.0f, 3 / 6.0f};
        TH_CHECK(run1(RT_OP_SOFTMAX, 2, sh4(1, 3, 0, 0), sm, NULL, 0, &a, o, 3) == 0 &&
                     near(o, want8, 3, 1e-6f),
                 "ref softmax");
    }
    {
        float x[2] = {0, 1};
        memset(&a, 0, sizeof(a));
        a.resize.out_h = 1;
        a.resize.out_w = 3;
        a.resize.mode = 1;
        a.resize.align_corners = 1;
        float want[3] = {0, 0.5f, 1};
        TH_CHECK(run1(RT_OP_RESIZE, 4, sh4(1, 1, 2, 1), x, NULL, 0, &a, o, 3) == 0 &&
                     near(o, want, 3, 1e-6f),
                 "ref bilinear resize align_corners");
        a.resize.out_w = 4;
        a.resize.align_corners = 0;
        a.resize.half_pixel = 1;
        float want2[4] = {0, 0.25f, 0.75f, 1};
        TH_CHECK(run1(RT_OP_RESIZE, 4, sh4(1, 1, 2, 1), x, NULL, 0, &a, o, 4) == 0 &&
                     near(o, want2, 4, 1e-6f),
                 "ref bilinear resize half-pixel");
        a.resize.mode = 0;
        a.resize.half_pixel = 0;
        float want3[4] = {0, 0, 1, 1};
        TH_CHECK(run1(RT_OP_RESIZE, 4, sh4(1, 1, 2, 1), x, NULL, 0, &a, o, 4) == 0 &&
                     near(o, want3, 4, 0),
                 "ref nearest resize");
    }
    {
        float x[3] = {1, 2, 3}, y[2] = {10, 20};
        struct err e = {0};
        struct rt_graph *g = rt_graph_init();
        int in[2];
        in[0] = rt_graph_input_add(g, "a", 2, sh4(1, 3, 0, 0), &e);
        in[1] = rt_graph_input_add(g, "b", 2, sh4(1, 2, 0, 0), &e);
        memset(&a, 0, sizeof(a));
        a.axis = 1;
        int c = rt_graph_node_add(g, RT_OP_CONCAT, in, 2, &a, "cat", &e);
        rt_graph_output_add(g, c, &e);
        const float *ins[2] = {x, y};
        float *outs[1] = {o};
        float want[5] = {1, 2, 3, 10, 20};
        TH_CHECK(rt_ref_run(g, ins, outs, &e) == 0 && near(o, want, 5, 0), "ref concat");
        rt_graph_free(g);
    }
    TH_CHECK(rt_ref_act(RT_ACT_RELU6, 0, 0, 7) == 6 &&
                 fabsf(rt_ref_act(RT_ACT_HARDSWISH, 0, 0, 1) - 4.0f / 6) < 1e-6f &&
                 rt_ref_act(RT_ACT_SIGMOID, 0, 0, 0) == 0.5f &&
                 fabsf(rt_ref_act(RT_ACT_GELU, 0, 0, 1) - 0.8413447f) < 1e-5f &&
                 rt_ref_act(RT_ACT_LEAKY, 0.1f, 0, -2) == -0.2f &&
                 rt_ref_act(RT_ACT_CLIP, -1, 1, 3) == 1 &&
                 fabsf(rt_ref_act(RT_ACT_ELU, 1, 0, -1) - (expf(-1) - 1)) < 1e-6f &&
                 rt_ref_act(RT_ACT_HARDSIGMOID, 0.2f, 0.5f, 1) == 0.7f,
             "ref activations");
}

/* conv -> batchnorm -> relu6, plus a foldable constant branch */
static void test_passes(void)
{
    struct err e = {0};
    struct rt_graph *g = rt_graph_init();
    int x = rt_graph_input_add(g, "x", 4, sh4(1, 5, 5, 3), &e);
    float w[3 * 3 * 3 * 4], sc[4] = {0.5f, 2, -1, 1}, sh[4] = {0.1f, -0.2f, 0.3f, 4};
    for (int i = 0; i < (int)(sizeof(w) / sizeof(w[0])); i++)
        w[i] = (float)((i * 37) % 11 - 5) / 7.0f;
    int wid = rt_graph_const_add(g, "w", 4, sh4(3, 3, 3, 4), w, &e);
    struct rt_attrs a = {0};
    a.conv.stride_h = a.conv.stride_w = 1;
    a.conv.pad_t = a.conv.pad_l = a.conv.pad_b = a.conv.pad_r = 1;
    int in[3] = {x, wid};
    int c = rt_graph_node_add(g, RT_OP_CONV2D, in, 2, &a, "conv", &e);
    int p1 = rt_graph_const_add(g, "s0", 1, sh4(4, 0, 0, 0), sc, &e);
    int p2 = rt_graph_const_add(g, "s1", 1, sh4(4, 0, 0, 0), sh, &e);
    /* constant branch: scale = s0 * s0, folded at plan time */
    int m[2] = {p1, p1};
    memset(&a, 0, sizeof(a));
    int sq = rt_graph_node_add(g, RT_OP_MUL, m, 2, &a, "sq", &e);
    int bn_in[3] = {c, sq, p2};
    int bn = rt_graph_node_add(g, RT_OP_BATCHNORM, bn_in, 3, &a, "bn", &e);
    a.act = RT_ACT_RELU6;
    int r = rt_graph_node_add(g, RT_OP_ACT, &bn, 1, &a, "relu6", &e);
    rt_graph_output_add(g, r, &e);
    float xin[75], o1[100], o2[100], o3[100];
    for (int i = 0; i < 75; i++)
        xin[i] = (float)((i * 13) % 17) / 8.0f - 1.0f;
    const float *ins[1] = {xin};
    float *outs[1] = {o1};
    TH_CHECK(rt_ref_run(g, ins, outs, &e) == 0, "reference of the unoptimised graph");
    struct rt_graph *o = rt_graph_clone(g, &e);
    TH_CHECK(rt_graph_optimize(o, &e) == 0, "optimize: %s", e.msg);
    TH_EQ_INT(o->n_nodes, 1, "const fold + bn fold + act fusion leave one conv");
    TH_CHECK(o->nodes[0].op == RT_OP_CONV2D && o->nodes[0].a.act == RT_ACT_RELU6 &&
                 o->nodes[0].out == r,
             "fused conv writes the graph output");
    outs[0] = o2;
    TH_CHECK(rt_ref_run(o, ins, outs, &e) == 0 && near(o1, o2, 100, 1e-5f),
             "optimised graph computes the same values");
    TH_CHECK(rt_graph_quantize(o, RT_DTYPE_I8, &e) == 0 &&
                 o->tensors[o->nodes[0].in[1]].qtype == RT_DTYPE_I8,
             "int8 quantisation pass");
    outs[0] = o3;
    float maxd = 0;
    if (rt_ref_run(o, ins, outs, &e) == 0)
        for (int i = 0; i < 100; i++)
            maxd = fmaxf(maxd, fabsf(o3[i] - o1[i]));
    TH_CHECK(maxd > 0 && maxd < 0.1f, "int8 weights change results slightly (max %g)", maxd);
    rt_graph_free(o);
    rt_graph_free(g);
}

/*
 * BlazeFace's stride-2 block: ADD(conv 1x1 (4 -> 8 channels), PAD(maxpool(x),
 * 4 zero channels)) + relu -> the conv reads the pool as a 4-channel
 * residual, the PAD is gone; a depthwise conv (dw) keeps its PAD.  A wider
 * residual is refused.  late: the graph makes the conv before the pad (the
 * tfjs import's order), so the fusion first moves the conv to the ADD.
 */
static void test_passes_pad_residual(int dw, int late)
{
    struct err e = {0};
    struct rt_graph *g = rt_graph_init();
    int64_t c = dw ? 8 : 4;
    int x = rt_graph_input_add(g, "x", 4, sh4(1, 6, 6, c), &e);
    struct rt_attrs a = {0};
    a.pool = (struct rt_pool_attrs){2, 2, 2, 2, 0, 0, 0, 0, 0};
    int mp = rt_graph_node_add(g, RT_OP_POOL_MAX, &x, 1, &a, "pool", &e);
    float w[3 * 3 * 8], b[8];
    for (int i = 0; i < (int)(sizeof(w) / sizeof(w[0])); i++)
        w[i] = (float)((i * 23) % 13 - 6) / 7.0f;
    for (int i = 0; i < 8; i++)
        b[i] = (float)(i % 3) / 5.0f - 0.2f;
    int rin = mp, cv = -1, in[3];
    memset(&a, 0, sizeof(a));
    a.conv.stride_h = a.conv.stride_w = 1;
    if (dw) /* 3x3 depthwise, 8 channels */
        a.conv.pad_t = a.conv.pad_l = a.conv.pad_b = a.conv.pad_r = 1;
    a.conv.groups = dw ? 8 : 1;
    in[0] = mp;
    in[1] = rt_graph_const_add(g, "w", 4, dw ? sh4(3, 3, 1, 8) : sh4(1, 1, 4, 8), w, &e);
    in[2] = rt_graph_const_add(g, "b", 1, sh4(8, 0, 0, 0), b, &e);
    if (late)
        cv = rt_graph_node_add(g, RT_OP_CONV2D, in, 3, &a, "conv", &e);
    if (dw) { /* the residual: the first 4 channels of the pool, padded back to 8 */
        memset(&a, 0, sizeof(a));
        a.ndim = 4;
        a.slice_end[0] = 1;
        a.slice_end[1] = a.slice_end[2] = 3;
        a.slice_end[3] = 4;
        rin = rt_graph_node_add(g, RT_OP_SLICE, &mp, 1, &a, "slice", &e);
    }
    memset(&a, 0, sizeof(a));
    a.ndim = 4;
    a.pad_after[3] = 4;
    int pd = rt_graph_node_add(g, RT_OP_PAD, &rin, 1, &a, "pad", &e);
    if (!late) {
        memset(&a, 0, sizeof(a));
        a.conv.stride_h = a.conv.stride_w = 1;
        if (dw) /* 3x3 depthwise, 8 channels */
            a.conv.pad_t = a.conv.pad_l = a.conv.pad_b = a.conv.pad_r = 1;
        a.conv.groups = dw ? 8 : 1;
        cv = rt_graph_node_add(g, RT_OP_CONV2D, in, 3, &a, "conv", &e);
    }
    memset(&a, 0, sizeof(a));
    a.act = RT_ACT_RELU;
    int ad[2] = {cv, pd};
    int y = rt_graph_node_add(g, RT_OP_ADD, ad, 2, &a, "add", &e);
    TH_CHECK(y >= 0, "pad residual graph (dw %d, late %d): %s", dw, late, e.msg);
    rt_graph_output_add(g, y, &e);
    float xin[6 * 6 * 8], o1[3 * 3 * 8], o2[3 * 3 * 8];
    for (int i = 0; i < 6 * 6 * c; i++)
        xin[i] = (float)((i * 11) % 19) / 6.0f - 1.5f;
    const float *ins[1] = {xin};
    float *outs[1] = {o1};
    TH_CHECK(rt_ref_run(g, ins, outs, &e) == 0, "pad residual: reference of the unoptimised graph");
    struct rt_graph *o = rt_graph_clone(g, &e);
    TH_CHECK(o != NULL && rt_graph_optimize(o, &e) == 0, "pad residual: optimize: %s", e.msg);
    int pads = 0, k = o->n_nodes - 1;
    for (int i = 0; i < o->n_nodes; i++)
        pads += o->nodes[i].op == RT_OP_PAD;
    TH_EQ_INT(pads, dw ? 1 : 0,
              dw ? "a depthwise conv keeps the PAD of its residual"
                 : "the PAD is folded into the conv's residual");
    TH_CHECK(o->nodes[k].op == RT_OP_CONV2D && o->nodes[k].n_in == 4 &&
                 o->nodes[k].a.act == RT_ACT_RELU && o->nodes[k].out == y &&
                 o->nodes[k].in[3] == (dw ? pd : mp),
             "pad residual (late %d): the conv adds %s and takes the relu", late,
             dw ? "the PAD" : "the pool");
    outs[0] = o2;
    float maxd = 1;
    if (rt_ref_run(o, ins, outs, &e) == 0) {
        maxd = 0;
        for (int i = 0; i < 3 * 3 * 8; i++)
            maxd = fmaxf(maxd, fabsf(o1[i] - o2[i]));
    }
    TH_CHECK(maxd == 0, "pad residual: the optimised graph computes the same values (max %g)",
             maxd);
    if (!dw) { /* a residual wider than the output is refused */
        int wide = rt_graph_input_add(g, "wide", 4, sh4(1, 3, 3, 9), &e);
        int in4[4] = {mp, in[1], in[2], wide};
        memset(&a, 0, sizeof(a));
        a.conv.stride_h = a.conv.stride_w = 1;
        a.conv.groups = 1;
        struct err e2 = {0};
        TH_CHECK(rt_graph_node_add(g, RT_OP_CONV2D, in4, 4, &a, "wide", &e2) < 0,
                 "a residual with more channels than the output is refused: %s", e2.msg);
    }
    rt_graph_free(o);
    rt_graph_free(g);
}

/*
 * conv -> MUL by a scalar -> ADD of a per-channel vector (a learnable affine
 * block), then hard-swish written out (x * (relu6(x + 3) / 6), or with
 * div_last (x * relu6(x + 3)) / 6), then MUL by a scalar and ADD of a
 * per-channel vector before a pointwise conv (folded into that one)
 */
static void test_passes_affine(int div_last)
{
    struct err e = {0};
    struct rt_graph *g = rt_graph_init();
    int x = rt_graph_input_add(g, "x", 4, sh4(1, 4, 4, 2), &e);
    float w[3 * 3 * 2 * 4], s = 1.5f, t[4] = {0.5f, -1, 2, 0}, three = 3, six = 6, s2 = 0.25f;
    for (int i = 0; i < (int)(sizeof(w) / sizeof(w[0])); i++)
        w[i] = (float)((i * 29) % 13 - 6) / 5.0f;
    int wid = rt_graph_const_add(g, "w", 4, sh4(3, 3, 2, 4), w, &e);
    struct rt_attrs a = {0};
    a.conv.stride_h = a.conv.stride_w = 1;
    a.conv.pad_t = a.conv.pad_l = a.conv.pad_b = a.conv.pad_r = 1;
    int in[2] = {x, wid};
    int c = rt_graph_node_add(g, RT_OP_CONV2D, in, 2, &a, "conv", &e);
    memset(&a, 0, sizeof(a));
    int b2[2] = {rt_graph_const_add(g, "s", 1, sh4(1, 0, 0, 0), &s, &e), c};
    int m1 = rt_graph_node_add(g, RT_OP_MUL, b2, 2, &a, "scale", &e);
    b2[0] = m1;
    b2[1] = rt_graph_const_add(g, "t", 4, sh4(1, 1, 1, 4), t, &e);
    int a1 = rt_graph_node_add(g, RT_OP_ADD, b2, 2, &a, "shift", &e);
    b2[0] = a1;
    b2[1] = rt_graph_const_add(g, "three", 1, sh4(1, 0, 0, 0), &three, &e);
    a.act = RT_ACT_RELU6;
    int h1 = rt_graph_node_add(g, RT_OP_ADD, b2, 2, &a, "hs_add", &e);
    a.act = RT_ACT_NONE;
    int six_id = rt_graph_const_add(g, "six", 1, sh4(1, 0, 0, 0), &six, &e), h3;
    if (div_last) { /* (x * relu6(x + 3)) / 6 */
        b2[0] = h1;
        b2[1] = a1;
        int h2 = rt_graph_node_add(g, RT_OP_MUL, b2, 2, &a, "hs_mul", &e);
        b2[0] = h2;
        b2[1] = six_id;
        h3 = rt_graph_node_add(g, RT_OP_DIV, b2, 2, &a, "hs_div", &e);
    } else { /* x * (relu6(x + 3) / 6) */
        b2[0] = h1;
        b2[1] = six_id;
        int h2 = rt_graph_node_add(g, RT_OP_DIV, b2, 2, &a, "hs_div", &e);
        b2[0] = a1;
        b2[1] = h2;
        h3 = rt_graph_node_add(g, RT_OP_MUL, b2, 2, &a, "hs_mul", &e);
    }
    b2[0] = h3;
    b2[1] = rt_graph_const_add(g, "s2", 1, sh4(1, 0, 0, 0), &s2, &e);
    int m2 = rt_graph_node_add(g, RT_OP_MUL, b2, 2, &a, "scale2", &e);
    float t2[4] = {-0.5f, 0.25f, 1, 3}, pw[4 * 3], pb[3] = {0.1f, 0, -0.2f};
    for (int i = 0; i < 12; i++)
        pw[i] = (float)((i * 7) % 5 - 2) / 3.0f;
    b2[0] = m2;
    b2[1] = rt_graph_const_add(g, "t2", 1, sh4(4, 0, 0, 0), t2, &e);
    int a2 = rt_graph_node_add(g, RT_OP_ADD, b2, 2, &a, "shift2", &e);
    int pin[3] = {a2, rt_graph_const_add(g, "pw", 4, sh4(1, 1, 4, 3), pw, &e),
                  rt_graph_const_add(g, "pb", 1, sh4(3, 0, 0, 0), pb, &e)};
    memset(&a, 0, sizeof(a));
    a.conv.stride_h = a.conv.stride_w = 1;
    int y = rt_graph_node_add(g, RT_OP_CONV2D, pin, 3, &a, "pointwise", &e);
    rt_graph_output_add(g, y, &e);
    float xin[32], o1[48], o2[48];
    for (int i = 0; i < 32; i++)
        xin[i] = (float)((i * 11) % 19) / 6.0f - 1.5f;
    const float *ins[1] = {xin};
    float *outs[1] = {o1};
    TH_CHECK(rt_ref_run(g, ins, outs, &e) == 0, "affine: reference of the unoptimised graph");
    struct rt_graph *o = rt_graph_clone(g, &e);
    TH_CHECK(o != NULL && rt_graph_optimize(o, &e) == 0, "affine: optimize: %s", e.msg);
    TH_EQ_INT(o->n_nodes, 2,
              "scale and shift folded into the conv before and after them, hard-swish fused");
    TH_CHECK(o->nodes[0].op == RT_OP_CONV2D && o->nodes[0].a.act == RT_ACT_HARDSWISH &&
                 o->nodes[1].op == RT_OP_CONV2D && o->nodes[1].out == y,
             "affine: conv with hard-swish, then the pointwise conv with the second scale/shift");
    outs[0] = o2;
    float maxd = 1;
    if (rt_ref_run(o, ins, outs, &e) == 0) {
        maxd = 0;
        for (int i = 0; i < 48; i++)
            maxd = fmaxf(maxd, fabsf(o1[i] - o2[i]));
    }
    TH_CHECK(maxd < 1e-5f, "affine: the optimised graph computes the same values (max %g)", maxd);
    rt_graph_free(o);
    rt_graph_free(g);
}

static long file_read(const char *path, uint8_t **out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    if (fread(*out, 1, (size_t)n, f) != (size_t)n)
        n = -1;
    fclose(f);
    return n;
}

static void file_write(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fwrite(d, 1, n, f);
        fclose(f);
    }
}

/* a small optimised + int8-quantised graph (the pass test's) */
static struct rt_graph *small_graph(void)
{
    struct err e = {0};
    struct rt_graph *g = rt_graph_init();
    int x = rt_graph_input_add(g, "image", 4, sh4(1, 6, 6, 3), &e);
    float w[3 * 3 * 3 * 4], b[4] = {0.1f, 0.2f, -0.3f, 0};
    for (int i = 0; i < (int)(sizeof(w) / sizeof(w[0])); i++)
        w[i] = (float)((i * 29) % 13 - 6) / 9.0f;
    int in[3] = {x, rt_graph_const_add(g, "w", 4, sh4(3, 3, 3, 4), w, &e),
                 rt_graph_const_add(g, "b", 1, sh4(4, 0, 0, 0), b, &e)};
    struct rt_attrs a = {0};
    a.conv.stride_h = a.conv.stride_w = 2;
    a.conv.pad_b = a.conv.pad_r = 1;
    a.act = RT_ACT_RELU6;
    int c = rt_graph_node_add(g, RT_OP_CONV2D, in, 3, &a, "conv", &e);
    int ga = rt_graph_node_add(g, RT_OP_GLOBAL_AVG, &c, 1, NULL, "gap", &e);
    memset(&a, 0, sizeof(a));
    a.ndim = 2;
    a.shape[0] = -1;
    a.shape[1] = 4;
    int r = rt_graph_node_add(g, RT_OP_RESHAPE, &ga, 1, &a, "flat", &e);
    memset(&a, 0, sizeof(a));
    a.axis = -1;
    int sm = rt_graph_node_add(g, RT_OP_SOFTMAX, &r, 1, &a, "probs", &e);
    rt_graph_output_add(g, sm, &e);
    rt_graph_quantize(g, RT_DTYPE_I8, &e);
    return g;
}

static void test_pack(const char *seed_dir)
{
    struct err e = {0};
    const char *tmp = getenv("VKV_TEST_TMP") ? getenv("VKV_TEST_TMP") : "/tmp";
    char path[512];
    snprintf(path, sizeof(path), "%s/rt_test_%d.vkvpack", tmp, (int)getpid());
    struct rt_graph *g = small_graph(), *l = NULL;
    TH_CHECK(rt_pack_save(g, path, &e) == 0, "pack saved: %s", e.msg);
    TH_CHECK(rt_pack_load(path, &l, &e) == 0, "pack loaded: %s", e.msg);
    float x[108], o1[4], o2[4];
    for (int i = 0; i < 108; i++)
        x[i] = (float)(i % 17) / 8.0f - 1;
    const float *ins[1] = {x};
    float *a1[1] = {o1}, *a2[1] = {o2};
    TH_CHECK(l != NULL && rt_ref_run(g, ins, a1, &e) == 0 && rt_ref_run(l, ins, a2, &e) == 0 &&
                 near(o1, o2, 4, 1e-6f),
             "loaded pack computes the same (int8 weights exact)");
    TH_CHECK(l != NULL && strcmp(l->tensors[l->outputs[0]].name, "probs") == 0 &&
                 l->tensors[l->nodes[0].in[1]].qtype == RT_DTYPE_I8,
             "names and weight storage type survive");
    rt_graph_free(l);
    uint8_t *d = NULL;
    long n = file_read(path, &d);
    TH_CHECK(n > 64, "pack file read (%ld bytes)", n);
    if (n <= 64) {
        rt_graph_free(g);
        return;
    }
    if (seed_dir != NULL) {
        char sp[600];
        snprintf(sp, sizeof(sp), "%s/valid-small-int8", seed_dir);
        file_write(sp, d, (size_t)n);
    }
    /* corrupt variants: each must fail cleanly */
    struct {
        const char *name;
        size_t off, len;
        uint64_t val;
    } bad[] = {
        {"bad-magic", 0, 1, 'X'},
        {"bad-version", 8, 4, 99},
        {"huge-table-size", 40, 8, 1ull << 40},
        {"data-offset-past-end", 48, 8, (uint64_t)n + 4096},
        {"too-many-nodes", 24, 4, 1u << 30},
        {"huge-input-dim", 64 + RT_NAME_LEN + 4 + 8, 8, 1ull << 40},
        {"const-offset-wrong", 64 + (RT_NAME_LEN + 36) + RT_NAME_LEN + 4 + 36, 8, 1ull << 33},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *c = malloc((size_t)n);
        memcpy(c, d, (size_t)n);
        memcpy(c + bad[i].off, &bad[i].val, bad[i].len);
        l = NULL;
        int rc = rt_pack_load_mem(c, (size_t)n, &l, &e);
        TH_CHECK(rc < 0 && l == NULL && e.msg[0], "corrupt pack (%s) rejected: %s", bad[i].name,
                 e.msg);
        if (seed_dir != NULL) {
            char sp[600];
            snprintf(sp, sizeof(sp), "%s/%s", seed_dir, bad[i].name);
            file_write(sp, c, (size_t)n);
        }
        rt_graph_free(l);
        free(c);
    }
    int all = 1;
    for (long cut = 0; cut < n; cut += 7) {
        l = NULL;
        if (rt_pack_load_mem(d, (size_t)cut, &l, &e) == 0) {
            all = 0;
            rt_graph_free(l);
        }
    }
    TH_CHECK(all, "every truncation of the pack is rejected");
    if (seed_dir != NULL) {
        char sp[600];
        snprintf(sp, sizeof(sp), "%s/truncated-half", seed_dir);
        file_write(sp, d, (size_t)n / 2);
    }
    free(d);
    remove(path);
    rt_graph_free(g);

    /* load time of a MobileNetV2-sized pack (fp32, 3.5M weights) */
    g = rt_synth_mobilenetv2(1, 224, 1000, 7, &e);
    if (g != NULL && rt_graph_optimize(g, &e) == 0 && rt_pack_save(g, path, &e) == 0) {
        double t0 = cm_now_ms();
        TH_CHECK(rt_pack_load(path, &l, &e) == 0 && l->n_nodes == g->n_nodes,
                 "MobileNetV2 pack loads: %s", e.msg);
        printf("# MobileNetV2-224 pack (fp32 weights): load %.1f ms\n", cm_now_ms() - t0);
        rt_graph_free(l);
        l = NULL;
        rt_graph_quantize(g, RT_DTYPE_I8, &e);
        rt_pack_save(g, path, &e);
        t0 = cm_now_ms();
        TH_CHECK(rt_pack_load(path, &l, &e) == 0, "MobileNetV2 int8 pack loads");
        struct stat st;
        stat(path, &st);
        printf("# MobileNetV2-224 pack (int8 weights, %lld bytes): load %.1f ms\n",
               (long long)st.st_size, cm_now_ms() - t0);
        rt_graph_free(l);
    } else {
        TH_CHECK(0, "synthetic MobileNetV2 pack: %s", e.msg);
    }
    remove(path);
    rt_graph_free(g);
}

/* the op table: every IR op has a row; a node whose op has none is refused
 * by name before a plan allocates anything */
static void test_op_table(void)
{
    struct err e = {0};
    for (int op = 1; op < RT_OP_COUNT; op++)
        TH_CHECK(rt_op_row_get((enum rt_op)op) != NULL, "op %s has a row in the op table",
                 rt_op_name((enum rt_op)op));
    TH_CHECK(rt_op_row_get(RT_OP_INPUT) == NULL && rt_op_row_get(RT_OP_COUNT) == NULL,
             "no row for INPUT or out-of-range ops");
    struct rt_graph *g = rt_graph_init();
    int x = rt_graph_input_add(g, "x", 4, sh4(1, 2, 2, 4), &e);
    int y = rt_graph_node_add(g, RT_OP_ACT, &x, 1, NULL, "act0", &e);
    TH_CHECK(y > 0 && rt_ops_check(g, &e) == 0, "a graph of known ops passes the check");
    g->nodes[0].op = RT_OP_INPUT; /* stands for an op no family builds */
    TH_CHECK(rt_ops_check(g, &e) == RT_UNSUPPORTED && strstr(e.msg, "op input") &&
                 strstr(e.msg, "act0"),
             "an op without a kernel is refused naming op and node: %s", e.msg);
    rt_graph_free(g);
}

/* a settings lookup over a fixed list of name=value pairs */
static const char *pairs_get(void *ctx, const char *name)
{
    for (const char *const *kv = ctx; kv[0] != NULL; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

/* device settings: parsed from a lookup (no environment), each a config-table row */
static void test_device_opts(void)
{
    for (int i = 0; rt_device_opt_names[i] != NULL; i++) {
        int found = 0;
        for (const struct cfg_entry *c = cfg_table_get(); c->name != NULL; c++)
            found |= strcmp(c->name, rt_device_opt_names[i]) == 0 && (c->progs & CFG_PROG_WORKER);
        TH_CHECK(found, "device setting %s is a worker row of the config table (--print-config)",
                 rt_device_opt_names[i]);
    }
    struct err e = {0};
    const char *set[] = {"VKV_NO_TEXEL",
                         "yes",
                         "VKV_GEMM_TILE",
                         "2x4",
                         "VKV_TF_LINEAR",
                         "mm",
                         "VKV_VAR_DIR",
                         "/v",
                         "VKV_RT_TIMEOUT_MS",
                         "1500",
                         "VKV_TF_TEXEL",
                         "0",
                         "VKV_RT_KERNELS",
                         "gpu",
                         "VKV_RT_FP16_MATH",
                         "0",
                         "VKV_NO_DW3",
                         "on",
                         "VKV_NO_DWPW",
                         "1",
                         NULL};
    struct rt_device_opts o = rt_device_opts_default();
    TH_CHECK(rt_device_opts_read(&o, pairs_get, set, &e) == 0 && o.no_texel == 1 &&
                 o.gemm_rows == 2 && o.gemm_cols == 4 && o.tf_linear == 2 &&
                 strcmp(o.cache_dir, "/v/cache") == 0 && o.timeout_ms == 1500 && o.tf_texel == 0 &&
                 o.kernels == 2 && o.fp16_math == 0 && o.validate == 0 && o.no_fp16 == 0 &&
                 o.no_dw3 == 1 && o.no_dwpw == 1,
             "device settings parsed from a lookup: %s", e.msg);
    const char *off[] = {"VKV_VAR_DIR", "/v", "VKV_NO_PIPELINE_CACHE", "1", NULL};
    o = rt_device_opts_default();
    TH_CHECK(rt_device_opts_read(&o, pairs_get, off, &e) == 0 && o.cache_dir[0] == '\0',
             "VKV_NO_PIPELINE_CACHE clears the cache directory");
    const char *bad[][3] = {{"VKV_NO_FP16", "maybe", NULL},    {"VKV_GEMM_TILE", "9x1", NULL},
                            {"VKV_RT_TIMEOUT_MS", "-5", NULL}, {"VKV_TF_LINEAR", "fast", NULL},
                            {"VKV_RT_KERNELS", "fast", NULL},  {"VKV_RT_FP16_MATH", "half", NULL}};
    for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
        o = rt_device_opts_default();
        e = (struct err){0};
        int rc = rt_device_opts_read(&o, pairs_get, bad[i], &e);
        TH_CHECK(rc == RT_ERR_INVALID && strstr(e.msg, bad[i][0]) != NULL,
                 "%s=%s refused naming the setting: %s", bad[i][0], bad[i][1], e.msg);
    }
}

int main(int argc, char **argv)
{
    const char *seeds = argc > 2 && strcmp(argv[1], "--write-seeds") == 0 ? argv[2] : NULL;
    test_ir();
    test_op_table();
    test_half();
    test_ref_ops();
    test_passes();
    test_passes_affine(0);
    test_passes_affine(1);
    for (int late = 0; late < 2; late++) {
        test_passes_pad_residual(0, late);
        test_passes_pad_residual(1, late);
    }
    test_pack(seeds);
    test_device_opts();
    return th_done();
}
