/*
 * rt_op_elem.c: elementwise ops: binary with broadcasting (ADD..MIN),
 * ACT, BATCHNORM; and RESHAPE, which is free when the plan aliased its
 * output to its input (same region) and a plain copy otherwise.
 */
#include "runtime/ops/rt_ops.h"
#include "common/cm.h"

#include <string.h>

static void dims4(const struct rt_tensor *t, uint32_t *d)
{
    int off = 4 - t->ndim;
    for (int i = 0; i < 4; i++)
        d[i] = i < off ? 1u : (uint32_t)t->shape[i - off];
}

/*
 * How binary.comp indexes an operand of dims d (right-aligned to the
 * output's od): 1 the output's own shape, 2 one value, 3 the output's last
 * dim alone (a per-channel vector in NHWC), else 0 (the general broadcast).
 */
static int operand_mode(const uint32_t *d, const uint32_t *od)
{
    int same = 1, one = 1, last = d[3] == od[3];
    for (int i = 0; i < 4; i++) {
        same &= d[i] == od[i];
        one &= d[i] == 1;
        if (i < 3)
            last &= d[i] == 1;
    }
    return same ? 1 : one ? 2 : last ? 3 : 0;
}

/* builds elementwise node k */
int rt_op_elem_build(struct rt_build *b, int k, struct err *e)
{
    const struct rt_graph *g = b->g;
    const struct rt_node *nd = &g->nodes[k];
    const struct rt_tensor *y = &g->tensors[nd->out];
    uint64_t total = (uint64_t)rt_tensor_nelem(y);
    struct rt_dispatch *d;
    switch (nd->op) {
    case RT_OP_ADD:
    case RT_OP_SUB:
    case RT_OP_MUL:
    case RT_OP_DIV:
    case RT_OP_MAX:
    case RT_OP_MIN: {
        d = rt_build_add(b, RT_SHADER_BINARY, k, e);
        if (d == NULL)
            return e->status;
        struct rt_push_binary pc;
        memset(&pc, 0, sizeof(pc));
        pc.total = (uint32_t)total;
        uint32_t da[4], db[4];
        dims4(&g->tensors[nd->in[0]], da);
        dims4(&g->tensors[nd->in[1]], db);
        dims4(y, pc.od);
        uint32_t sa = 1, sb = 1;
        for (int i = 3; i >= 0; i--) {
            pc.as[i] = (da[i] == 1 && pc.od[i] != 1) ? 0 : sa;
            pc.bs[i] = (db[i] == 1 && pc.od[i] != 1) ? 0 : sb;
            sa *= da[i];
            sb *= db[i];
        }
        pc.alpha = nd->a.alpha;
        pc.beta = nd->a.beta;
        int ma = operand_mode(da, pc.od), mb = operand_mode(db, pc.od);
        int vec4 =
            ma != 0 && mb != 0 && total % 4 == 0 && ((ma != 3 && mb != 3) || pc.od[3] % 4 == 0);
        d->spec[0] = (uint32_t)nd->a.act;
        d->spec[1] = (uint32_t)(nd->op - RT_OP_ADD);
        d->spec[2] = (uint32_t)ma;
        d->spec[3] = (uint32_t)mb;
        d->spec[4] = (uint32_t)vec4;
        d->n_spec = 5;
        rt_dispatch_bind(d, b->reg[nd->in[0]], 0);
        rt_dispatch_bind(d, b->reg[nd->in[1]], 0);
        rt_dispatch_bind(d, b->reg[nd->out], 1);
        memcpy(d->push, &pc, sizeof(pc));
        d->push_size = sizeof(pc);
        return rt_dispatch_grid1d(d, vec4 ? total / 4 : total, 64, e);
    }
    case RT_OP_ACT:
    case RT_OP_RESHAPE: {
        const struct rt_region *ri = &b->reg[nd->in[0]], *ro = &b->reg[nd->out];
        if (nd->op == RT_OP_RESHAPE && ri->kind == ro->kind && ri->off == ro->off)
            return 0; /* aliased: nothing to do */
        d = rt_build_add(b, RT_SHADER_UNARY, k, e);
        if (d == NULL)
            return e->status;
        d->spec[0] = nd->op == RT_OP_ACT ? (uint32_t)nd->a.act : 0;
        d->n_spec = 1;
        struct rt_push_unary pc = {(uint32_t)total, 1, nd->a.alpha, nd->a.beta};
        rt_dispatch_bind(d, *ri, 0);
        rt_dispatch_bind(d, *ro, 1);
        memcpy(d->push, &pc, sizeof(pc));
        d->push_size = sizeof(pc);
        {
            uint64_t t2 = total;
            if (t2 > 256 * 128)
                t2 = 256 * 128;
            return rt_dispatch_grid1d(d, t2, 256, e);
        }
    }
    case RT_OP_BATCHNORM: {
        d = rt_build_add(b, RT_SHADER_BATCHNORM, k, e);
        if (d == NULL)
            return e->status;
        d->spec[0] = (uint32_t)nd->a.act;
        d->n_spec = 1;
        uint32_t c = y->ndim ? (uint32_t)y->shape[y->ndim - 1] : 1;
        struct rt_push_unary pc = {(uint32_t)total, c, nd->a.alpha, nd->a.beta};
        for (int i = 0; i < 3; i++)
            rt_dispatch_bind(d, b->reg[nd->in[i]], 0);
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
