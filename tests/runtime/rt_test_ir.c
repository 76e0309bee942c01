/*
 * rt_test_ir.c: IR shape inference and validation, fp16/int8 helpers, the
 * graph passes and the CPU reference ops against hand-computed values.
 * Needs no GPU.  Run by tests/suites/30-runtime.sh.
 */
#include "runtime/rt.h"
#include "runtime/rt_ir.h"
#include "tests/lib/th.h"

#include <math.h>
#include <stdlib.h>

static int64_t S4[4];
static const int64_t *sh4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    S4[0] = a; S4[1] = b; S4[2] = c; S4[3] = d;
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
    a.conv.stride_h = 2; a.conv.stride_w = 2;
    a.conv.pad_t = 1; a.conv.pad_b = 0; a.conv.pad_l = 1; a.conv.pad_r = 1;
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
    r.ndim = 2; r.shape[0] = 1; r.shape[1] = -1;
    int rs = rt_graph_node_add(g, RT_OP_RESHAPE, &y, 1, &r, "flat", &e);
    TH_CHECK(rs > 0 && g->tensors[rs].shape[1] == 90, "reshape -1 inferred");
    r.shape[1] = 7;
    TH_CHECK(rt_graph_node_add(g, RT_OP_RESHAPE, &y, 1, &r, "bad", &e) < 0,
             "reshape with wrong count rejected: %s", e.msg);
    int bad_in = 99;
    TH_CHECK(rt_graph_node_add(g, RT_OP_ACT, &bad_in, 1, NULL, "x", &e) < 0,
             "unknown input id rejected");
    TH_CHECK(rt_graph_input_add(g, "huge", 4, sh4(1 << 20, 1 << 20, 1, 1), &e) ==
                 RT_ERR_TOO_LARGE, "huge shape rejected: %s", e.msg);
    TH_CHECK(rt_graph_input_add(g, "neg", 4, sh4(1, -3, 1, 1), &e) == RT_ERR_INVALID,
             "negative dim rejected");
    struct rt_attrs sl = {0};
    sl.ndim = 4;
    sl.slice_start[1] = -2; sl.slice_end[1] = 100;
    sl.slice_end[0] = 1; sl.slice_end[2] = 5; sl.slice_end[3] = 6;
    int s = rt_graph_node_add(g, RT_OP_SLICE, &y, 1, &sl, "slice", &e);
    TH_CHECK(s > 0 && g->tensors[s].shape[1] == 2, "slice with negative start clamps");
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
                 sc[2] == 1.0f, "int8 per-channel scales");
}

int main(void)
{
    test_ir();
    test_half();
    return th_done();
}
