/*
 * rt_op_data.c: data-movement and reduction ops: PAD, CONCAT, SLICE,
 * TRANSPOSE (all through copy4d, with the same parameters as the CPU
 * reference's rt_ref_copy4d), pools, global average, softmax, resize,
 * reduce_mean, and MATMUL.
 */
#include "runtime/ops/rt_ops.h"
#include "common/cm.h"

#include <string.h>

#define ROW_MAX 16384 /* per-invocation loop length (llvmpipe loop limiter) */

static void dims4(const struct rt_tensor *t, uint32_t *d)
{
    int off = 4 - t->ndim;
    for (int i = 0; i < 4; i++)
        d[i] = i < off ? 1u : (uint32_t)t->shape[i - off];
}

static void contig4(const uint32_t *d, uint32_t *s)
{
    s[3] = 1;
    for (int i = 2; i >= 0; i--)
        s[i] = s[i + 1] * d[i + 1];
}

static int copy4d(struct rt_build *b, int k, int in, const struct rt_push_copy4d *pc, struct err *e)
{
    struct rt_dispatch *d = rt_build_add(b, RT_SHADER_COPY4D, k, e);
    if (d == NULL)
        return e->status;
    rt_dispatch_bind(d, b->reg[in], 0);
    rt_dispatch_bind(d, b->reg[b->g->nodes[k].out], 1);
    memcpy(d->push, pc, sizeof(*pc));
    d->push_size = sizeof(*pc);
    /* 4 elements per invocation when the last dim is copied whole and
     * contiguous, and every offset lands on a multiple of 4 (copy4d.comp) */
    int vec4 = pc->dims[3] % 4 == 0 && pc->ostr[3] == 1 && pc->istr[3] == 1 && pc->ibeg[3] == 0 &&
               pc->ilim[3] >= (int32_t)pc->dims[3] && pc->ooff % 4 == 0 && pc->ioff % 4 == 0;
    for (int i = 0; i < 3; i++)
        vec4 = vec4 && pc->ostr[i] % 4 == 0 && pc->istr[i] % 4 == 0;
    d->spec[0] = (uint32_t)vec4;
    d->n_spec = 1;
    return rt_dispatch_grid1d(d, vec4 ? pc->total / 4 : pc->total, 64, e);
}

static struct rt_dispatch *simple(struct rt_build *b, int k, enum rt_shader_id sh, const void *pc,
                                  uint32_t size, struct err *e)
{
    struct rt_dispatch *d = rt_build_add(b, sh, k, e);
    if (d == NULL)
        return NULL;
    const struct rt_node *nd = &b->g->nodes[k];
    rt_dispatch_bind(d, b->reg[nd->in[0]], 0);
    rt_dispatch_bind(d, b->reg[nd->out], 1);
    memcpy(d->push, pc, size);
    d->push_size = size;
    return d;
}

/*
 * A pool with a square window and stride up to 4 on a CPU device
 * (pool_ch.comp): one channel per SIMD lane and 4 output columns per
 * invocation, every tap unrolled, no division per invocation.  Measured on
 * lavapipe against pool_tx (compute-shaders/README.md).  Returns 1 when
 * built, 0 when the pool does not qualify, <0 on error.
 */
static int pool_ch(struct rt_build *b, int k, const struct rt_push_pool *pc, int maxpool,
                   struct err *e)
{
    const struct rt_node *nd = &b->g->nodes[k];
    const struct rt_caps *cp = &b->t->caps;
    uint64_t gx = (pc->c + 7) / 8, gy = ((pc->ow + 3) / 4 + 7) / 8, gz = (uint64_t)pc->n * pc->oh;
    if (b->t->gpu_kernels || !b->t->use_texel || pc->kh != pc->kw || pc->sh != pc->sw ||
        pc->kh < 1 || pc->kh > 4 || pc->sh < 1 || pc->sh > 4 ||
        b->reg[nd->in[0]].size / 4 > cp->max_texel_elements || gx > cp->max_wg_count[0] ||
        gy > cp->max_wg_count[1] || gz > cp->max_wg_count[2])
        return 0;
    struct rt_dispatch *d = simple(b, k, RT_SHADER_POOL_CH, pc, sizeof(*pc), e);
    if (d == NULL)
        return e->status;
    d->bind[0].texel = RT_TEXEL_R32F;
    d->spec[0] = (uint32_t)maxpool;
    d->spec[1] = pc->kh;
    d->spec[2] = pc->sh;
    d->n_spec = 3;
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = (uint32_t)gz;
    return 1;
}

static void rows_of(const struct rt_tensor *t, int axis, struct rt_push_rows *r)
{
    r->outer = r->inner = 1;
    for (int i = 0; i < axis; i++)
        r->outer *= (uint32_t)t->shape[i];
    r->len = (uint32_t)t->shape[axis];
    for (int i = axis + 1; i < t->ndim; i++)
        r->inner *= (uint32_t)t->shape[i];
}

/* builds data/reduction node k */
int rt_op_data_build(struct rt_build *b, int k, struct err *e)
{
    const struct rt_graph *g = b->g;
    const struct rt_node *nd = &g->nodes[k];
    const struct rt_tensor *x = &g->tensors[nd->in[0]], *y = &g->tensors[nd->out];
    uint64_t total = (uint64_t)rt_tensor_nelem(y);
    struct rt_push_copy4d c;
    memset(&c, 0, sizeof(c));
    uint32_t dx[4], dy[4], sx[4], sy[4];
    dims4(x, dx);
    dims4(y, dy);
    contig4(dx, sx);
    contig4(dy, sy);
    int off = 4 - x->ndim;
    struct rt_dispatch *d;
    switch (nd->op) {
    case RT_OP_PAD:
        memcpy(c.dims, dy, sizeof(dy));
        memcpy(c.ostr, sy, sizeof(sy));
        memcpy(c.istr, sx, sizeof(sx));
        for (int i = 0; i < 4; i++) {
            c.ibeg[i] = i < off ? 0 : nd->a.pad_before[i - off];
            c.ilim[i] = (int32_t)dx[i];
        }
        c.total = (uint32_t)total;
        c.fill = nd->a.pad_value;
        return copy4d(b, k, nd->in[0], &c, e);
    case RT_OP_SLICE:
        memcpy(c.dims, dy, sizeof(dy));
        memcpy(c.ostr, sy, sizeof(sy));
        memcpy(c.istr, sx, sizeof(sx));
        for (int i = 0; i < 4; i++)
            c.ilim[i] = (int32_t)dy[i];
        for (int i = 0; i < x->ndim; i++)
            c.ioff += (uint32_t)nd->a.slice_start[i] * sx[off + i];
        c.total = (uint32_t)total;
        return copy4d(b, k, nd->in[0], &c, e);
    case RT_OP_TRANSPOSE:
        memcpy(c.dims, dy, sizeof(dy));
        memcpy(c.ostr, sy, sizeof(sy));
        for (int i = 0; i < 4; i++) {
            c.istr[i] = i < off ? 0 : sx[off + nd->a.perm[i - off]];
            c.ilim[i] = (int32_t)dy[i];
        }
        c.total = (uint32_t)total;
        return copy4d(b, k, nd->in[0], &c, e);
    case RT_OP_CONCAT: {
        int ax = 4 - y->ndim + nd->a.axis;
        uint32_t at = 0;
        for (int i = 0; i < nd->n_in; i++) {
            uint32_t di[4], si[4];
            dims4(&g->tensors[nd->in[i]], di);
            contig4(di, si);
            memcpy(c.dims, di, sizeof(di));
            memcpy(c.ostr, sy, sizeof(sy));
            memcpy(c.istr, si, sizeof(si));
            for (int j = 0; j < 4; j++) {
                c.ibeg[j] = 0;
                c.ilim[j] = (int32_t)di[j];
            }
            c.ooff = at * sy[ax];
            c.total = di[0] * di[1] * di[2] * di[3];
            int rc = copy4d(b, k, nd->in[i], &c, e);
            if (rc < 0)
                return rc;
            at += di[ax];
        }
        return 0;
    }
    case RT_OP_POOL_MAX:
    case RT_OP_POOL_AVG: {
        if (b->fuse != NULL && b->fuse[k] >= 0)
            return 0; /* read by the fused 1x1 that adds it (rt_op_dwpw_plan) */
        const struct rt_pool_attrs *p = &nd->a.pool;
        struct rt_push_pool pc = {
            (uint32_t)x->shape[0],
            (uint32_t)x->shape[1],
            (uint32_t)x->shape[2],
            (uint32_t)x->shape[3],
            (uint32_t)y->shape[1],
            (uint32_t)y->shape[2],
            (uint32_t)p->kh,
            (uint32_t)p->kw,
            (uint32_t)p->stride_h,
            (uint32_t)p->stride_w,
            p->pad_t,
            p->pad_l,
            (uint32_t)(p->count_pad != 0),
        };
        if ((uint64_t)p->kh * p->kw > ROW_MAX)
            return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                           "node %s: pool window %dx%d too large", nd->name, p->kh, p->kw);
        int rc = pool_ch(b, k, &pc, nd->op == RT_OP_POOL_MAX, e);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        /* texel-buffer input where the vec4 path and formats allow (pool.comp) */
        int tx = pc.c % 4 == 0 && b->t->use_texel &&
                 b->reg[nd->in[0]].size / 16 <= b->t->caps.max_texel_elements;
        d = simple(b, k, tx ? RT_SHADER_POOL_TX : RT_SHADER_POOL, &pc, sizeof(pc), e);
        if (d == NULL)
            return e->status;
        if (tx)
            d->bind[0].texel = RT_TEXEL_RGBA32F;
        d->spec[0] = nd->op == RT_OP_POOL_MAX;
        d->spec[1] = pc.c % 4 == 0;
        d->n_spec = 2;
        return rt_dispatch_grid1d(d, d->spec[1] ? total / 4 : total, 64, e);
    }
    case RT_OP_GLOBAL_AVG: {
        struct rt_push_gavg pc = {(uint32_t)x->shape[0], (uint32_t)(x->shape[1] * x->shape[2]),
                                  (uint32_t)x->shape[3]};
        d = simple(b, k, RT_SHADER_GLOBAL_AVG, &pc, sizeof(pc), e);
        if (d == NULL)
            return e->status;
        /* one workgroup of 64 per (n, c) */
        return rt_dispatch_grid1d(d, (uint64_t)pc.n * pc.c * 64, 64, e);
    }
    case RT_OP_SOFTMAX:
    case RT_OP_REDUCE_MEAN: {
        struct rt_push_rows pc;
        rows_of(x, nd->a.axis, &pc);
        if (pc.len > ROW_MAX)
            return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                           "node %s: %s over %u elements exceeds %d", nd->name, rt_op_name(nd->op),
                           pc.len, ROW_MAX);
        d = simple(b, k, nd->op == RT_OP_SOFTMAX ? RT_SHADER_SOFTMAX : RT_SHADER_REDUCE_MEAN, &pc,
                   sizeof(pc), e);
        if (d == NULL)
            return e->status;
        return rt_dispatch_grid1d(d, (uint64_t)pc.outer * pc.inner, 64, e);
    }
    case RT_OP_RESIZE: {
        const struct rt_resize_attrs *r = &nd->a.resize;
        struct rt_push_resize pc = {
            (uint32_t)x->shape[0], (uint32_t)x->shape[1],      (uint32_t)x->shape[2],
            (uint32_t)x->shape[3], (uint32_t)r->out_h,         (uint32_t)r->out_w,
            (uint32_t)r->mode,     (uint32_t)r->align_corners, (uint32_t)r->half_pixel,
        };
        d = simple(b, k, RT_SHADER_RESIZE, &pc, sizeof(pc), e);
        if (d == NULL)
            return e->status;
        int vec4 = pc.c % 4 == 0; /* 4 channels per invocation (resize.comp) */
        d->spec[0] = (uint32_t)vec4;
        d->n_spec = 1;
        return rt_dispatch_grid1d(d, vec4 ? total / 4 : total, 64, e);
    }
    case RT_OP_MATMUL: {
        const struct rt_tensor *bt = &g->tensors[nd->in[1]];
        struct rt_push_matmul pc;
        memset(&pc, 0, sizeof(pc));
        pc.m = (uint32_t)x->shape[x->ndim - 2];
        pc.k = (uint32_t)x->shape[x->ndim - 1];
        pc.n = (uint32_t)bt->shape[bt->ndim - 1];
        if (pc.k > ROW_MAX * 3)
            return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                           "node %s: matmul inner dim %u too large", nd->name, pc.k);
        uint32_t ab[2] = {1, 1}, bb[2] = {1, 1}, yb[2] = {1, 1};
        for (int i = 0; i < x->ndim - 2; i++)
            ab[2 - (x->ndim - 2) + i] = (uint32_t)x->shape[i];
        for (int i = 0; i < bt->ndim - 2; i++)
            bb[2 - (bt->ndim - 2) + i] = (uint32_t)bt->shape[i];
        for (int i = 0; i < y->ndim - 2; i++)
            yb[2 - (y->ndim - 2) + i] = (uint32_t)y->shape[i];
        pc.b0 = yb[0];
        pc.b1 = yb[1];
        uint32_t am = pc.m * pc.k, bm = pc.k * pc.n;
        pc.sa1 = ab[1] == 1 ? 0 : am;
        pc.sa0 = ab[0] == 1 ? 0 : am * ab[1];
        pc.sb1 = bb[1] == 1 ? 0 : bm;
        pc.sb0 = bb[0] == 1 ? 0 : bm * bb[1];
        pc.alpha = nd->a.alpha;
        pc.beta = nd->a.beta;
        d = rt_build_add(b, RT_SHADER_MATMUL, k, e);
        if (d == NULL)
            return e->status;
        d->spec[0] = (uint32_t)nd->a.act;
        d->n_spec = 1;
        rt_dispatch_bind(d, b->reg[nd->in[0]], 0);
        rt_dispatch_bind(d, b->reg[nd->in[1]], 0);
        rt_dispatch_bind(d, b->reg[nd->out], 1);
        memcpy(d->push, &pc, sizeof(pc));
        d->push_size = sizeof(pc);
        return rt_dispatch_grid1d(d, total, 64, e);
    }
    default: /* the op table routes only the ops above here */
        CM_ASSERT(!"op routed to the wrong family");
        return RT_UNSUPPORTED;
    }
}
