/*
 * rt_synth.c: synthetic graphs with real architectures and random weights,
 * for benchmarks and tests that must not depend on downloaded models:
 * MobileNetV2 (as an importer would emit it: conv, batchnorm and activation
 * as separate nodes, TF SAME padding) and a long chain of tiny dispatches
 * (per-dispatch overhead).  See runtime/README.md.
 */
#include "runtime/ir/rt_synth.h"
#include "runtime/rt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct syn {
    struct rt_graph *g;
    uint32_t rng;
    struct err *e;
    int fail;
    int n;
};

static float urand(struct syn *s)
{
    s->rng = s->rng * 1664525u + 1013904223u;
    return (float)(s->rng >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static int cnst(struct syn *s, int ndim, const int64_t *shape, float scale, float bias)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *d = malloc((size_t)n * sizeof(float));
    if (d == NULL) {
        s->fail = err_set(s->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "synthetic weights");
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        d[i] = bias + scale * urand(s);
    char name[32];
    snprintf(name, sizeof(name), "w%d", s->n++);
    int id = rt_graph_const_add(s->g, name, ndim, shape, d, s->e);
    free(d);
    if (id < 0)
        s->fail = id;
    return id;
}

static int node(struct syn *s, enum rt_op op, const int *in, int n_in, const struct rt_attrs *a)
{
    if (s->fail)
        return -1;
    char name[32];
    snprintf(name, sizeof(name), "%s_%d", rt_op_name(op), s->n++);
    int id = rt_graph_node_add(s->g, op, in, n_in, a, name, s->e);
    if (id < 0)
        s->fail = id;
    return id;
}

/* conv (TF SAME) + batchnorm + optional relu6, as separate nodes */
static int conv_bn(struct syn *s, int x, int k, int stride, int cout, int groups, int relu6)
{
    if (s->fail)
        return -1;
    const struct rt_tensor *t = &s->g->tensors[x];
    int64_t h = t->shape[1], w = t->shape[2], cin = t->shape[3];
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.conv.stride_h = a.conv.stride_w = stride;
    a.conv.groups = groups;
    int64_t oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
    int64_t ph = (oh - 1) * stride + k - h, pw = (ow - 1) * stride + k - w;
    ph = ph < 0 ? 0 : ph;
    pw = pw < 0 ? 0 : pw;
    a.conv.pad_t = (int)(ph / 2);
    a.conv.pad_b = (int)(ph - ph / 2);
    a.conv.pad_l = (int)(pw / 2);
    a.conv.pad_r = (int)(pw - pw / 2);
    int64_t ws[4] = {k, k, cin / groups, cout};
    float sc = sqrtf(3.0f / (float)(k * k * (cin / groups)));
    int in[3] = {x, cnst(s, 4, ws, sc, 0)};
    int y = node(s, RT_OP_CONV2D, in, 2, &a);
    int64_t cs[1] = {cout};
    int bn[3] = {y, cnst(s, 1, cs, 0.2f, 1.0f), cnst(s, 1, cs, 0.1f, 0.0f)};
    memset(&a, 0, sizeof(a));
    y = node(s, RT_OP_BATCHNORM, bn, 3, &a);
    if (relu6) {
        a.act = RT_ACT_RELU6;
        y = node(s, RT_OP_ACT, &y, 1, &a);
    }
    return y;
}

/* MobileNetV2 1.0 at res x res; see rt_synth.h */
struct rt_graph *rt_synth_mobilenetv2(int64_t batch, int res, int classes, uint32_t seed,
                                      struct err *e)
{
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    struct syn s = {rt_graph_init(), seed, e, 0, 0};
    int64_t is[4] = {batch, res, res, 3};
    int x = rt_graph_input_add(s.g, "input", 4, is, e);
    if (x < 0)
        s.fail = x;
    x = conv_bn(&s, x, 3, 2, 32, 1, 1);
    for (int b = 0; b < 7; b++)
        for (int r = 0; r < cfg[b][2]; r++) {
            int stride = r == 0 ? cfg[b][3] : 1;
            if (s.fail)
                break;
            int64_t cin = s.g->tensors[x].shape[3];
            int y = x;
            if (cfg[b][0] != 1)
                y = conv_bn(&s, y, 1, 1, (int)cin * cfg[b][0], 1, 1);
            int64_t hid = s.fail ? 1 : s.g->tensors[y].shape[3];
            y = conv_bn(&s, y, 3, stride, (int)hid, (int)hid, 1);
            y = conv_bn(&s, y, 1, 1, cfg[b][1], 1, 0);
            if (stride == 1 && cin == cfg[b][1]) {
                int ad[2] = {y, x};
                y = node(&s, RT_OP_ADD, ad, 2, NULL);
            }
            x = y;
        }
    x = conv_bn(&s, x, 1, 1, 1280, 1, 1);
    x = node(&s, RT_OP_GLOBAL_AVG, &x, 1, NULL);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.ndim = 2;
    a.shape[0] = -1;
    a.shape[1] = 1280;
    x = node(&s, RT_OP_RESHAPE, &x, 1, &a);
    int64_t ws[2] = {1280, classes}, bs[1] = {classes};
    int de[3] = {x, cnst(&s, 2, ws, 0.05f, 0), cnst(&s, 1, bs, 0.1f, 0)};
    x = node(&s, RT_OP_DENSE, de, 3, NULL);
    memset(&a, 0, sizeof(a));
    a.axis = -1;
    x = node(&s, RT_OP_SOFTMAX, &x, 1, &a);
    if (!s.fail)
        s.fail = rt_graph_output_add(s.g, x, e);
    if (s.fail) {
        rt_graph_free(s.g);
        return NULL;
    }
    return s.g;
}

/* n sigmoid nodes on a [1,8,8,4] tensor (the dispatch-overhead probe) */
struct rt_graph *rt_synth_chain(int n, struct err *e)
{
    struct syn s = {rt_graph_init(), 1, e, 0, 0};
    int64_t is[4] = {1, 8, 8, 4};
    int x = rt_graph_input_add(s.g, "input", 4, is, e);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.act = RT_ACT_SIGMOID;
    for (int i = 0; i < n && !s.fail; i++)
        x = node(&s, RT_OP_ACT, &x, 1, &a);
    if (!s.fail)
        s.fail = rt_graph_output_add(s.g, x, e);
    if (s.fail) {
        rt_graph_free(s.g);
        return NULL;
    }
    return s.g;
}
