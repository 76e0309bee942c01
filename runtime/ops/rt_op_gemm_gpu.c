/*
 * rt_op_gemm_gpu.c: the GPU kernel family's GEMM (1x1 convolutions and
 * dense), compute-shaders/gemm_sm.comp: shared-memory tiles with a register
 * tile per invocation, in fp32 or fp16 arithmetic; up to 4 rows (batch-1
 * dense layers), gemv_sg.comp: K split over a subgroup's lanes and summed
 * with subgroupAdd, where the device has subgroup arithmetic.  rt_op_conv.c hands its
 * GEMM nodes here when the plan's target is the GPU family
 * (rt_op_target.gpu_kernels: VKV_RT_KERNELS, or a device that is not a CPU);
 * CPU devices keep gemm.comp, tuned for llvmpipe.
 *
 * The tile is chosen per layer (tile_pick) from the grid it gives: GPUs
 * need enough workgroups to fill their compute units, batch-1 layers of
 * 7x7 or 14x14 pixels have few rows, and narrow layers (16-96 channels)
 * would leave most columns of a 128-column tile empty.  Not yet measured on a GPU (none was lent):
 * the sizes follow the usual shapes of such kernels, and VKV_GEMM_TILE=RxC
 * forces TM = R rows and TN = C vec4 column blocks per invocation (16x16
 * invocations) where the tiles fit the device's shared memory.
 */
#include "runtime/ops/rt_ops.h"
#include "common/cm.h"

#include <string.h>

#define BK 16u        /* K step staged in shared memory (gemm_sm.comp) */
#define WG_TARGET 256 /* workgroups a layer should give before tiles shrink */
#define K_MAX 32768u  /* loop trips per invocation stay under llvmpipe's 65535 */
#define GEMV_ROWS 4u  /* up to this many rows: gemv_sg.comp, when subgroups can add */

struct tile {
    uint32_t s, tm, tn; /* workgroup side, rows and vec4 column blocks per invocation */
};

static uint64_t tile_groups(struct tile t, uint32_t m, uint32_t n)
{
    uint64_t bm = t.s * t.tm, bn = t.s * t.tn * 4u;
    return ((m + bm - 1) / bm) * ((n + bn - 1) / bn);
}

static uint32_t tile_shared(struct tile t, int half)
{
    return BK * (t.s * t.tm + t.s * t.tn * 4u) * (half ? 2u : 4u);
}

/* a residual with fewer channels than the output: their count (spec RESC), else 0 */
static uint32_t res_channels(const struct rt_build *b, const struct rt_node *nd, uint32_t n)
{
    if (nd->n_in <= 3)
        return 0;
    const struct rt_tensor *r = &b->g->tensors[nd->in[3]];
    uint32_t rc = (uint32_t)r->shape[r->ndim - 1];
    return rc != n ? rc : 0;
}

/* the share of a tile grid's outputs that exist (the rest is M, N edge waste) */
static double tile_use(struct tile t, uint32_t m, uint32_t n)
{
    return (double)m * n / ((double)tile_groups(t, m, n) * (t.s * t.tm) * (t.s * t.tn * 4u));
}

/*
 * Largest tile first (more multiply-adds per shared-memory word) among those
 * that give WG_TARGET workgroups, skipping tiles that would waste over a
 * quarter of their outputs on the edges (narrow layers: 16..96 channels
 * against 128-column tiles); else the first that gives enough workgroups;
 * else the smallest (most workgroups).
 */
static struct tile tile_pick(uint32_t m, uint32_t n)
{
    static const struct tile tiles[] = {{16, 4, 2}, {16, 8, 1}, {16, 4, 1},
                                        {8, 8, 1},  {16, 2, 1}, {8, 2, 1}};
    size_t pick = CM_ARRAY_LEN(tiles) - 1;
    int enough = 0;
    for (size_t i = 0; i < CM_ARRAY_LEN(tiles); i++) {
        if (tile_groups(tiles[i], m, n) < WG_TARGET)
            continue;
        if (tile_use(tiles[i], m, n) >= 0.75)
            return tiles[i];
        if (!enough)
            pick = i;
        enough = 1;
    }
    return tiles[pick];
}

/* what both GPU GEMM kernels share: the bindings, spec constants 0 (act),
 * 1 (vec4 path), 4 (residual) and 7 (residual channels), the push
 * constants; the caller sets its own tile constants */
static void gemm_common(struct rt_build *b, struct rt_dispatch *d, const struct rt_node *nd,
                        uint32_t m, uint32_t kk, uint32_t n)
{
    d->spec[0] = (uint32_t)nd->a.act;
    d->spec[1] = kk % 4 == 0 && n % 4 == 0;
    d->spec[4] = nd->n_in > 3;
    d->spec[7] = res_channels(b, nd, n);
    d->n_spec = 8;
    struct rt_region bias = nd->n_in > 2 ? b->reg[nd->in[2]] : b->zero_bias[0];
    rt_dispatch_bind(d, b->reg[nd->in[0]], 0);
    rt_dispatch_bind(d, b->reg[nd->in[1]], 0);
    rt_dispatch_bind(d, bias, 0);
    rt_dispatch_bind(d, b->wscale[nd->in[1]].size ? b->wscale[nd->in[1]] : bias, 0);
    rt_dispatch_bind(d, b->reg[nd->out], 1);
    /* binding 5: the residual, or (RES 0, never read) the bias */
    rt_dispatch_bind(d, nd->n_in > 3 ? b->reg[nd->in[3]] : bias, 0);
    d->flops = 2.0 * m * kk * n;
    struct rt_push_gemm pc = {m, kk, n, nd->a.alpha, nd->a.beta};
    memcpy(d->push, &pc, sizeof(pc));
    d->push_size = sizeof(pc);
}

/* a few rows: one subgroup per 8 columns, K split over its lanes (gemv_sg.comp) */
static int gemv(struct rt_build *b, int k, uint32_t m, uint32_t kk, uint32_t n, int wt,
                struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    struct rt_dispatch *d = rt_build_add(b, (enum rt_shader_id)(RT_SHADER_GEMV_SG_F32 + wt), k, e);
    if (d == NULL)
        return e->status;
    memset(d->spec, 0, sizeof(d->spec));
    d->spec[2] = m;
    gemm_common(b, d, nd, m, kk, n);
    /* blocks of 8 columns, one per subgroup; the shader loops over any excess */
    uint32_t sg = b->t->caps.subgroup_size > 0 ? (uint32_t)b->t->caps.subgroup_size : 32;
    uint32_t per_wg = sg >= 64 ? 1 : 64 / sg;
    uint64_t gx = ((uint64_t)(n + 7) / 8 + per_wg - 1) / per_wg;
    if (gx > b->t->caps.max_wg_count[0])
        gx = b->t->caps.max_wg_count[0];
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = d->groups[2] = 1;
    return 0;
}

/* builds GEMM node k, y[m,n] = x[m,kk] w[kk,n], on gemm_sm.comp */
int rt_op_gemm_gpu(struct rt_build *b, int k, uint32_t m, uint32_t kk, uint32_t n, struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    if (kk > K_MAX)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "node %s: GEMM reduction of %u exceeds the per-invocation limit %u",
                       nd->name, kk, K_MAX);
    int wt = rt_wtype_of(&b->g->tensors[nd->in[1]]);
    if (m <= GEMV_ROWS && b->t->caps.subgroup_arith)
        return gemv(b, k, m, kk, n, wt, e);
    int half = b->t->fp16_math;
    struct tile t = tile_pick(m, n);
    if (b->t->gemm_rb) {
        struct tile f = {16, b->t->gemm_rb, b->t->gemm_cb};
        if (tile_shared(f, half) <= b->t->caps.shared_mem)
            t = f;
    }
    enum rt_shader_id sh =
        (enum rt_shader_id)((half ? RT_SHADER_GEMM_SM_H_F32 : RT_SHADER_GEMM_SM_F32) + wt);
    struct rt_dispatch *d = rt_build_add(b, sh, k, e);
    if (d == NULL)
        return e->status;
    d->spec[2] = t.tm;
    d->spec[3] = t.tn;
    d->spec[5] = t.s;
    d->spec[6] = t.s;
    gemm_common(b, d, nd, m, kk, n);
    uint32_t bm = t.s * t.tm, bn = t.s * t.tn * 4u;
    uint64_t gx = (n + bn - 1) / bn, gy = (m + bm - 1) / bm;
    if (gx > b->t->caps.max_wg_count[0] || gy > b->t->caps.max_wg_count[1])
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "node %s: gemm of %u rows is too large for one dispatch", nd->name, m);
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = 1;
    return 0;
}
