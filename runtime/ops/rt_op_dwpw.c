/*
 * rt_op_dwpw.c: a depthwise 3x3 convolution fused with the 1x1
 * convolution that alone reads it, on CPU devices (dwpw.comp): the
 * depthwise output stays in registers instead of being stored by one
 * kernel and gathered back by the next (llvmpipe stores and gathers lane
 * by lane).  The decision is the plan's, once, over the optimised graph
 * (rt_op_dwpw_plan): it needs the device (kernel family, texel buffers,
 * limits), which the IR passes do not know.  The depthwise node then
 * builds nothing and the 1x1 node builds the fused dispatch.
 */
#include "runtime/ops/rt_ops.h"

#include <string.h>

/*
 * Accumulators per invocation: PX pixels x N/4 vec4s.  The channel loop is
 * rolled (dwpw.comp), so the pipeline's size is one iteration's: PX x N/4
 * unrolled rank-4 updates, whatever C is.  Measured on lavapipe (out-of-tree
 * chain of 7 blocks dw + 1x1 + residual, min/p25 of 100-200 runs, 4-6
 * alternated rounds at load 3-8):
 *   16x16 96 -> 96: unfused (dwconv3 + gemm_tx) p25 2.47 ms; rolled PX 8
 *   (192 accumulators) 1.63-1.70, PX 4 2.03-2.44, PX 2 (4 quads a trip)
 *   2.79-2.86; PX 16 1.57 but 1.7 s to compile.
 *   64x64 24 -> 24: rolled PX 8 3.36, PX 4 4.04; 32x32 48 -> 48: rolled PX
 *   8 2.17, PX 4 2.58 (the "unrolled" 5.15 and 4.87 of that run were an
 *   experimental build whose weight indices were not constants, not the
 *   dwpw_* kernel: on BlazeFace dwpw_* stays faster for 24 -> 24, see
 *   DWPW_UNROLL_MAX).  Compile (plan_ms of the chain): 175-390 ms for
 *   that build, rolled 30-130 ms (PX 8 at N = 96: 180-320).
 */
#define DWPW_ACC_MAX 192
#define DWPW_PX_MAX 8
/* at least this many workgroups per dispatch when the grid allows (both of
   llvmpipe's threads busy; 16x16 96 -> 96 at workgroup 64: one workgroup,
   p25 1.93 ms; at 8 or 16: 1.63-1.70) */
#define DWPW_MIN_GROUPS 4
/* the unrolled kernel (dwpw_*, ROLL 0): where 8 pixels x N/4 <= 48
   accumulators and the whole unrolled channel loop fit this many statements
   (BlazeFace's 24 -> 24 pairs: stage device time 5.1-5.8 ms unrolled
   against 6.1-6.6 rolled, alternated) */
#define DWPW_UNROLL_MAX 2400

static int unrolled(uint32_t c4, uint32_t n4, uint32_t s)
{
    uint64_t span = 7 * (uint64_t)s + 3;
    return n4 * 8 <= 48 && (uint64_t)c4 * (3 * span + 72 + 32 * (uint64_t)n4) <= DWPW_UNROLL_MAX;
}

/*
 * Pixels per invocation for N/4 = n4; 0 = not fused.  Fewer than 4 lost to
 * the unfused pair (same chain, one block, alternated: MobileNetV2's 7x7
 * 960 -> 320 at PX 2 p25 2.70 ms against 2.09 unfused; 960 -> 160 at PX 4
 * 1.00 against 1.09, 14x14 576 -> 96 at PX 8 1.07 against 1.49): the window
 * gathers are shared by fewer outputs and the pointwise weights loaded once
 * per PX pixels.
 */
static uint32_t pick_px(uint32_t n4)
{
    uint32_t px = n4 ? DWPW_ACC_MAX / n4 : 0;
    px = px > DWPW_PX_MAX ? DWPW_PX_MAX : px;
    return px >= 4 ? px : 0;
}

/* invocations of a pair at px pixels each */
static uint64_t invocations(const struct rt_tensor *y, uint32_t px)
{
    return (uint64_t)y->shape[0] * y->shape[1] * ((y->shape[2] + px - 1) / px);
}

/* workgroup size (8..64) for inv invocations: DWPW_MIN_GROUPS groups where
   the grid allows */
static uint32_t pick_wg(uint64_t inv)
{
    uint32_t wg = 64;
    while (wg > 8 && (inv + wg - 1) / wg < DWPW_MIN_GROUPS)
        wg /= 2;
    return wg;
}

/* node j is a depthwise 3x3 (multiplier 1, stride 1 or 2, undilated, no
   residual) over C % 4 == 0 channels */
static int dw_ok(const struct rt_graph *g, const struct rt_node *nd)
{
    if (nd->op != RT_OP_CONV2D || nd->n_in > 3)
        return 0;
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *w = &g->tensors[nd->in[1]];
    const struct rt_tensor *y = &g->tensors[nd->out];
    const struct rt_conv_attrs *c = &nd->a.conv;
    if (x->ndim != 4 || w->ndim != 4 || !w->is_const)
        return 0;
    int64_t ch = x->shape[3];
    return c->groups == ch && ch % 4 == 0 && w->shape[0] == 3 && w->shape[1] == 3 &&
           w->shape[2] == 1 && w->shape[3] == ch && y->shape[3] == ch &&
           c->stride_h == c->stride_w && (c->stride_h == 1 || c->stride_h == 2) && c->dil_h == 1 &&
           c->dil_w == 1;
}

/* node k is a 1x1 stride-1 unpadded conv of input t to N % 4 == 0 channels */
static int pw_ok(const struct rt_graph *g, const struct rt_node *nd, int t)
{
    if (nd->op != RT_OP_CONV2D || nd->in[0] != t)
        return 0;
    const struct rt_tensor *w = &g->tensors[nd->in[1]], *y = &g->tensors[nd->out];
    const struct rt_conv_attrs *c = &nd->a.conv;
    for (int i = 1; i < nd->n_in; i++)
        if (nd->in[i] == t)
            return 0;
    if (w->ndim != 4 || !w->is_const || y->ndim != 4)
        return 0;
    if (nd->n_in > 3) { /* the residual: whole RGBA texels */
        const struct rt_tensor *r = &g->tensors[nd->in[3]];
        if (r->ndim != 4 || r->shape[3] % 4 != 0 || r->shape[3] > y->shape[3])
            return 0;
    }
    return c->groups == 1 && w->shape[0] == 1 && w->shape[1] == 1 && y->shape[3] % 4 == 0 &&
           c->stride_h == 1 && c->stride_w == 1 && c->pad_t == 0 && c->pad_l == 0 &&
           c->pad_b == 0 && c->pad_r == 0;
}

/* the 1x1 node fused with depthwise node j, or -1 */
static int pair_of(const struct rt_op_target *t, const struct rt_graph *g, int j)
{
    const struct rt_node *dw = &g->nodes[j];
    if (j + 1 >= g->n_nodes || !dw_ok(g, dw))
        return -1;
    int mid = dw->out;
    if (g->tensors[mid].is_output)
        return -1;
    /* the next node alone reads the depthwise output */
    for (int k = j + 2; k < g->n_nodes; k++)
        for (int i = 0; i < g->nodes[k].n_in; i++)
            if (g->nodes[k].in[i] == mid)
                return -1;
    const struct rt_node *pw = &g->nodes[j + 1];
    if (!pw_ok(g, pw, mid))
        return -1;
    const struct rt_tensor *x = &g->tensors[dw->in[0]], *wd = &g->tensors[dw->in[1]];
    const struct rt_tensor *wp = &g->tensors[pw->in[1]], *y = &g->tensors[pw->out];
    /* one weight variant for both */
    if (wd->qtype != wp->qtype)
        return -1;
    uint64_t maxt = t->caps.max_texel_elements;
    uint32_t px = pick_px((uint32_t)(y->shape[3] / 4));
    if (px == 0)
        return -1;
    uint64_t inv = invocations(y, px), wg = pick_wg(inv);
    if ((uint64_t)rt_tensor_nelem(x) / 4 > maxt || (uint64_t)rt_tensor_nelem(wp) / 4 > maxt ||
        (uint64_t)rt_tensor_nelem(y) / 4 > maxt || (inv + wg - 1) / wg > t->caps.max_wg_count[0])
        return -1;
    return j + 1;
}

/*
 * The fused 1x1 node that reads max-pool node p's output as its residual,
 * when the pool can be read there instead (fuse[p] = that node), or -1: a
 * 2x2 stride-2 unpadded max-pool of an input of exactly twice the output's
 * rows and columns, whose output that residual alone reads.  The 1x1 then
 * reads the pool's input and takes the maximum of the 4 texels (dwpw.comp
 * RESP), so the pool builds nothing: on lavapipe its stores are lane by
 * lane, and BlazeFace's first pool (128x128x24) took 270-285 us of device
 * time, about as long as the stride-2 pair that adds it.
 */
static int pool_reader(const struct rt_op_target *t, const struct rt_graph *g, const int *fuse,
                       int p)
{
    const struct rt_node *nd = &g->nodes[p];
    if (nd->op != RT_OP_POOL_MAX)
        return -1;
    const struct rt_pool_attrs *a = &nd->a.pool;
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *y = &g->tensors[nd->out];
    if (x->ndim != 4 || y->is_output || a->kh != 2 || a->kw != 2 || a->stride_h != 2 ||
        a->stride_w != 2 || a->pad_t || a->pad_l || a->pad_b || a->pad_r ||
        x->shape[1] != 2 * y->shape[1] || x->shape[2] != 2 * y->shape[2] ||
        (uint64_t)rt_tensor_nelem(x) / 4 > t->caps.max_texel_elements)
        return -1;
    int reader = -1;
    for (int k = p + 1; k < g->n_nodes; k++)
        for (int i = 0; i < g->nodes[k].n_in; i++)
            if (g->nodes[k].in[i] == nd->out) {
                if (reader >= 0 || i != 3)
                    return -1;
                reader = k;
            }
    if (reader < 0)
        return -1;
    /* a fused 1x1 (its input's producer is a depthwise fused into it) */
    int j = g->tensors[g->nodes[reader].in[0]].producer;
    return j >= 0 && fuse[j] == reader ? reader : -1;
}

int rt_op_dwpw_plan(const struct rt_op_target *t, const struct rt_graph *g, int *fuse)
{
    int n = 0;
    for (int j = 0; j < g->n_nodes; j++)
        fuse[j] = -1;
    if (!t->dwpw || t->gpu_kernels || !t->use_texel || !t->use_gemm)
        return 0;
    for (int j = 0; j < g->n_nodes; j++) {
        fuse[j] = pair_of(t, g, j);
        if (fuse[j] >= 0) {
            n++;
            j++; /* the 1x1 is no depthwise */
        }
    }
    /* the pairs are known: the pools their 1x1s can read (pair_of already
       checked the residual: RGBA texels, channels <= N) */
    for (int p = 0; p < g->n_nodes; p++)
        if (fuse[p] < 0)
            fuse[p] = pool_reader(t, g, fuse, p);
    return n;
}

int rt_op_dwpw_pooled(const struct rt_build *b, int k)
{
    const struct rt_node *nd = &b->g->nodes[k];
    if (b->fuse == NULL || nd->n_in <= 3)
        return -1;
    int p = b->g->tensors[nd->in[3]].producer;
    return p >= 0 && b->fuse[p] == k && b->g->nodes[p].op == RT_OP_POOL_MAX ? p : -1;
}

int rt_op_dwpw_build(struct rt_build *b, int k, struct err *e)
{
    const struct rt_graph *g = b->g;
    const struct rt_node *pw = &g->nodes[k];
    int j = g->tensors[pw->in[0]].producer;
    const struct rt_node *dw = &g->nodes[j];
    const struct rt_tensor *x = &g->tensors[dw->in[0]], *y = &g->tensors[pw->out];
    uint32_t c4 = (uint32_t)(x->shape[3] / 4), n4 = (uint32_t)(y->shape[3] / 4);
    uint32_t s = (uint32_t)dw->a.conv.stride_w, px = pick_px(n4);
    uint64_t inv = invocations(y, px);
    int unr = unrolled(c4, n4, s);
    uint32_t wg = unr ? 64 : pick_wg(inv);
    int wt = rt_wtype_of(&g->tensors[pw->in[1]]); /* the depthwise's too (the plan checked) */
    enum rt_shader_id sh =
        (enum rt_shader_id)((unr ? (s == 1 ? RT_SHADER_DWPW_S1_F32 : RT_SHADER_DWPW_S2_F32)
                                 : (s == 1 ? RT_SHADER_DWPWR_S1_F32 : RT_SHADER_DWPWR_S2_F32)) +
                            wt);
    struct rt_dispatch *d = rt_build_add(b, sh, k, e);
    if (d == NULL)
        return e->status;
    uint32_t rc = 0;
    if (pw->n_in > 3 && g->tensors[pw->in[3]].shape[3] < y->shape[3])
        rc = (uint32_t)g->tensors[pw->in[3]].shape[3];
    d->spec[0] = (uint32_t)pw->a.act;
    d->spec[1] = (uint32_t)dw->a.act;
    d->spec[2] = c4;
    d->spec[3] = n4;
    d->spec[4] = px;
    d->spec[5] = pw->n_in > 3;
    d->spec[6] = rc;
    d->spec[7] = wg;
    /* a max-pool folded into the residual read: binding 5 is the pool's input */
    int pool = rt_op_dwpw_pooled(b, k);
    d->spec[10] = pool >= 0; /* RESP */
    d->n_spec = 11;
    struct rt_region pbias = pw->n_in > 2 ? b->reg[pw->in[2]] : b->zero_bias[0];
    struct rt_region dbias = dw->n_in > 2 ? b->reg[dw->in[2]] : b->zero_bias[0];
    static const int wfmt[] = {RT_TEXEL_RGBA32F, RT_TEXEL_RGBA16F, RT_TEXEL_RGBA8I};
    rt_dispatch_bind(d, b->reg[dw->in[0]], 0);
    d->bind[0].texel = RT_TEXEL_RGBA32F;
    rt_dispatch_bind(d, b->reg[pw->in[1]], 0);
    d->bind[1].texel = wfmt[wt];
    rt_dispatch_bind(d, pbias, 0);
    d->bind[2].texel = RT_TEXEL_RGBA32F;
    /* int8 scales (weights.glsl), else never read */
    rt_dispatch_bind(d, b->wscale[pw->in[1]].size ? b->wscale[pw->in[1]] : pbias, 0);
    rt_dispatch_bind(d, b->reg[pw->out], 1);
    rt_dispatch_bind(d,
                     pool >= 0      ? b->reg[g->nodes[pool].in[0]]
                     : pw->n_in > 3 ? b->reg[pw->in[3]]
                                    : pbias,
                     0);
    d->bind[5].texel = RT_TEXEL_RGBA32F;
    rt_dispatch_bind(d, b->reg[dw->in[1]], 0);
    d->bind[6].texel = wfmt[wt];
    rt_dispatch_bind(d, dbias, 0);
    d->bind[7].texel = RT_TEXEL_RGBA32F;
    rt_dispatch_bind(d, b->wscale[dw->in[1]].size ? b->wscale[dw->in[1]] : dbias, 0);
    d->bind[8].texel = RT_TEXEL_RGBA32F;
    struct rt_push_dwpw pc = {(uint32_t)x->shape[0],
                              (uint32_t)x->shape[1],
                              (uint32_t)x->shape[2],
                              (uint32_t)y->shape[1],
                              (uint32_t)y->shape[2],
                              dw->a.conv.pad_t,
                              dw->a.conv.pad_l,
                              pw->a.alpha,
                              pw->a.beta,
                              dw->a.alpha,
                              dw->a.beta};
    memcpy(d->push, &pc, sizeof(pc));
    d->push_size = sizeof(pc);
    uint64_t pix = (uint64_t)y->shape[0] * y->shape[1] * y->shape[2];
    d->flops = 2.0 * (double)pix * (9.0 * c4 * 4 + 16.0 * c4 * n4);
    d->groups[0] = (uint32_t)((inv + wg - 1) / wg);
    d->groups[1] = 1;
    d->groups[2] = 1;
    return 0;
}
