/*
 * rt_memplan.c: the memory planner (see rt_memplan.h and runtime/README.md
 * "Plans").
 */
#include "runtime/vk/rt_memplan.h"

#include <stdlib.h>
#include <string.h>

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

uint64_t rt_memplan_align(const struct rt_caps *c)
{
    return c->min_storage_align > 256 ? c->min_storage_align : 256;
}

static uint64_t wbytes(const struct rt_tensor *t)
{
    uint64_t n = (uint64_t)rt_tensor_nelem(t);
    if (t->qtype == RT_DTYPE_F16)
        return align_up(n * 2, 4);
    if (t->qtype == RT_DTYPE_I8)
        return align_up(n, 4);
    return n * 4;
}

struct live {
    int root, first, last;
    uint64_t size, off;
};

/* plans g; see rt_memplan.h */
int rt_memplan_build(struct rt_memplan *p, const struct rt_graph *g, const int *fuse,
                     const struct rt_caps *c, const struct rt_preprocess *pre, int max_batch,
                     struct err *e)
{
    memset(p, 0, sizeof(*p));
    uint64_t al = rt_memplan_align(c);
    int nt = g->n_tensors;
    p->reg = calloc((size_t)nt + 1, sizeof(*p->reg));
    p->wscale = calloc((size_t)nt + 1, sizeof(*p->wscale));
    struct live *lv = calloc((size_t)nt + 1, sizeof(*lv));
    int *used = calloc((size_t)nt + 1, sizeof(int));
    if (p->reg == NULL || p->wscale == NULL || lv == NULL || used == NULL) {
        free(lv);
        free(used);
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate memory plan");
    }
    int rc = 0;
    /* weights: every constant read by a node */
    uint64_t woff = 0, max_cout = 1;
    for (int k = 0; k < g->n_nodes; k++)
        for (int i = 0; i < g->nodes[k].n_in; i++)
            used[g->nodes[k].in[i]] = 1;
    for (int i = 0; i < g->n_outputs; i++)
        used[g->outputs[i]] = 1;
    for (int t = 0; t < nt; t++) {
        const struct rt_tensor *T = &g->tensors[t];
        if (!T->is_const || !used[t])
            continue;
        uint64_t sz = wbytes(T);
        if (sz > c->max_storage_range) {
            rc = err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                         "constant %s of %llu bytes exceeds maxStorageBufferRange %llu", T->name,
                         (unsigned long long)sz, (unsigned long long)c->max_storage_range);
            goto out;
        }
        p->reg[t] = (struct rt_region){RT_REG_WEIGHT, woff, sz};
        woff = align_up(woff + sz, al);
        uint64_t cout = T->ndim ? (uint64_t)T->shape[T->ndim - 1] : 1;
        if (cout > max_cout)
            max_cout = cout;
        if (T->qtype == RT_DTYPE_I8) {
            p->wscale[t] = (struct rt_region){RT_REG_WEIGHT, woff, cout * 4};
            woff = align_up(woff + cout * 4, al);
        }
    }
    p->zero_bias = (struct rt_region){RT_REG_WEIGHT, woff, max_cout * 4};
    woff = align_up(woff + max_cout * 4, al);
    p->size[RT_REG_WEIGHT] = woff;
    p->weight_bytes = woff;

    /* activations: roots (RESHAPE aliases its non-constant input) and lifetimes */
    for (int t = 0; t < nt; t++) {
        lv[t].root = t;
        lv[t].first = nt + g->n_nodes;
        lv[t].last = -2;
    }
    for (int k = 0; k < g->n_nodes; k++) {
        const struct rt_node *nd = &g->nodes[k];
        if (nd->op == RT_OP_RESHAPE && !g->tensors[nd->in[0]].is_const)
            lv[nd->out].root = lv[nd->in[0]].root;
    }
    for (int i = 0; i < g->n_inputs; i++)
        lv[lv[g->inputs[i]].root].first = -1;
    for (int k = 0; k < g->n_nodes; k++) {
        const struct rt_node *nd = &g->nodes[k];
        int r = lv[nd->out].root;
        if (k < lv[r].first)
            lv[r].first = k;
        if (k > lv[r].last)
            lv[r].last = k;
        int at = fuse != NULL && fuse[k] >= 0 ? fuse[k] : k; /* where it reads them */
        for (int i = 0; i < nd->n_in; i++) {
            if (g->tensors[nd->in[i]].is_const)
                continue;
            int ri = lv[nd->in[i]].root;
            if (at > lv[ri].last)
                lv[ri].last = at;
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (!g->tensors[g->outputs[i]].is_const)
            lv[lv[g->outputs[i]].root].last = g->n_nodes;
    /* an input no node reads still receives its upload: give it a region */
    for (int i = 0; i < g->n_inputs; i++)
        if (lv[lv[g->inputs[i]].root].last < -1)
            lv[lv[g->inputs[i]].root].last = -1;
    for (int t = 0; t < nt; t++) {
        const struct rt_tensor *T = &g->tensors[t];
        if (T->is_const || lv[t].last == -2 || lv[t].root != t)
            continue;
        lv[t].size = (uint64_t)rt_tensor_nelem(T) * 4;
        if (lv[t].size > c->max_storage_range) {
            rc = err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                         "tensor %s of %llu bytes exceeds maxStorageBufferRange %llu "
                         "(use a smaller batch)",
                         T->name, (unsigned long long)lv[t].size,
                         (unsigned long long)c->max_storage_range);
            goto out;
        }
    }
    /* greedy: place largest first at the lowest offset free over its lifetime */
    int *order = calloc((size_t)nt + 1, sizeof(int)), n_ord = 0;
    if (order == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                     "could not allocate memory plan");
        goto out;
    }
    for (int t = 0; t < nt; t++)
        if (lv[t].size > 0)
            order[n_ord++] = t;
    for (int i = 1; i < n_ord; i++) /* insertion sort by size desc (n is small) */
        for (int j = i; j > 0 && lv[order[j]].size > lv[order[j - 1]].size; j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    uint64_t top = 0;
    for (int i = 0; i < n_ord; i++) {
        struct live *a = &lv[order[i]];
        uint64_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                struct live *b = &lv[order[j]];
                int overlap_t = !(a->last < b->first || b->last < a->first);
                int overlap_m = off < b->off + b->size && b->off < off + a->size;
                if (overlap_t && overlap_m) {
                    off = align_up(b->off + b->size, al);
                    moved = 1;
                }
            }
        }
        a->off = off;
        if (off + a->size > top)
            top = off + a->size;
    }
    free(order);
    for (int t = 0; t < nt; t++) {
        if (g->tensors[t].is_const)
            continue;
        const struct live *r = &lv[lv[t].root];
        if (r->size > 0)
            p->reg[t] = (struct rt_region){RT_REG_ACT, r->off,
                                           (uint64_t)rt_tensor_nelem(&g->tensors[t]) * 4};
    }
    p->size[RT_REG_ACT] = align_up(top, al);

    /* staging: inputs, outputs, preprocessing params and pixels */
    uint64_t so = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        p->in_off[i] = so;
        so = align_up(so + (uint64_t)rt_tensor_nelem(&g->tensors[g->inputs[i]]) * 4, al);
    }
    for (int i = 0; i < g->n_outputs; i++) {
        p->out_off[i] = so;
        so = align_up(so + (uint64_t)rt_tensor_nelem(&g->tensors[g->outputs[i]]) * 4, al);
    }
    if (pre != NULL && pre->enabled) {
        p->params_off = so;
        so = align_up(so + (uint64_t)max_batch * 16, al);
        p->pix_off = so;
        p->pix_size =
            align_up((uint64_t)max_batch * (uint64_t)pre->max_w * (uint64_t)pre->max_h * 3, 4);
        if (p->pix_size > c->max_storage_range) {
            rc = err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                         "pixel staging of %llu bytes exceeds maxStorageBufferRange "
                         "(lower pre.max_w/max_h or max_batch)",
                         (unsigned long long)p->pix_size);
            goto out;
        }
        so = align_up(so + p->pix_size, al);
    }
    p->size[RT_REG_STAGE] = so;
out:
    free(lv);
    free(used);
    return rc;
}

void rt_memplan_free(struct rt_memplan *m)
{
    free(m->reg);
    free(m->wscale);
    m->reg = m->wscale = NULL;
}
