/*
 * rt_ops.c: the op table (one row per IR op: the family that builds it)
 * and the dispatch-record helpers every family uses.  Adding an op is one
 * row here plus the family's code; see runtime/README.md "Adding an op".
 */
#include "runtime/ops/rt_ops.h"
#include "common/cm.h"

#include <stdlib.h>
#include <string.h>

/* one row per op; an op absent here is refused at plan creation */
static const struct rt_op_row op_table[RT_OP_COUNT] = {
    [RT_OP_CONV2D] = {"conv", rt_op_conv_build},   [RT_OP_DENSE] = {"conv", rt_op_conv_build},
    [RT_OP_MATMUL] = {"data", rt_op_data_build},   [RT_OP_BATCHNORM] = {"elem", rt_op_elem_build},
    [RT_OP_ADD] = {"elem", rt_op_elem_build},      [RT_OP_SUB] = {"elem", rt_op_elem_build},
    [RT_OP_MUL] = {"elem", rt_op_elem_build},      [RT_OP_DIV] = {"elem", rt_op_elem_build},
    [RT_OP_MAX] = {"elem", rt_op_elem_build},      [RT_OP_MIN] = {"elem", rt_op_elem_build},
    [RT_OP_ACT] = {"elem", rt_op_elem_build},      [RT_OP_POOL_MAX] = {"data", rt_op_data_build},
    [RT_OP_POOL_AVG] = {"data", rt_op_data_build}, [RT_OP_GLOBAL_AVG] = {"data", rt_op_data_build},
    [RT_OP_PAD] = {"data", rt_op_data_build},      [RT_OP_CONCAT] = {"data", rt_op_data_build},
    [RT_OP_RESHAPE] = {"elem", rt_op_elem_build},  [RT_OP_TRANSPOSE] = {"data", rt_op_data_build},
    [RT_OP_SOFTMAX] = {"data", rt_op_data_build},  [RT_OP_RESIZE] = {"data", rt_op_data_build},
    [RT_OP_SLICE] = {"data", rt_op_data_build},    [RT_OP_REDUCE_MEAN] = {"data", rt_op_data_build},
};

const struct rt_op_row *rt_op_row_get(enum rt_op op)
{
    if ((int)op < 0 || op >= RT_OP_COUNT || op_table[op].build == NULL)
        return NULL;
    return &op_table[op];
}

int rt_ops_check(const struct rt_graph *g, struct err *e)
{
    for (int k = 0; k < g->n_nodes; k++) {
        const struct rt_node *nd = &g->nodes[k];
        if (rt_op_row_get(nd->op) == NULL)
            return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_op",
                           "op %s (node %s) has no Vulkan kernel", rt_op_name(nd->op), nd->name);
    }
    return 0;
}

int rt_ops_build(struct rt_build *b, int k, struct err *e)
{
    const struct rt_op_row *row = rt_op_row_get(b->g->nodes[k].op);
    CM_ASSERT(row != NULL); /* rt_ops_check ran at plan creation */
    return row->build(b, k, e);
}

struct rt_dispatch *rt_build_add(struct rt_build *b, enum rt_shader_id sh, int node, struct err *e)
{
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        struct rt_dispatch *d = realloc(b->d, (size_t)cap * sizeof(*d));
        if (d == NULL) {
            err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                    "could not grow dispatch list");
            return NULL;
        }
        b->d = d;
        b->cap = cap;
    }
    struct rt_dispatch *d = &b->d[b->n++];
    memset(d, 0, sizeof(*d));
    d->shader = sh;
    d->node = node;
    return d;
}

void rt_dispatch_bind(struct rt_dispatch *d, struct rt_region r, int write)
{
    CM_ASSERT(d->n_bind < RT_MAX_BINDINGS);
    d->bind[d->n_bind].r = r;
    d->bind[d->n_bind].write = write;
    d->bind[d->n_bind].texel = RT_TEXEL_NONE;
    d->n_bind++;
}

/* 1-D grid of total invocations folded into (x, y) under the device limits */
int rt_dispatch_grid1d(struct rt_dispatch *d, uint64_t total, uint32_t wg, struct err *e)
{
    uint64_t groups = (total + wg - 1) / wg;
    if (groups == 0)
        groups = 1;
    uint64_t gx = groups < 65535 ? groups : 65535;
    uint64_t gy = (groups + gx - 1) / gx;
    if (gy > 65535)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "dispatch of %llu invocations too large", (unsigned long long)total);
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = 1;
    return 0;
}
