/*
 * rt_pass.c: graph passes run by rt_plan_create before memory planning:
 * constant folding, batch-norm and constant scale/shift folding into
 * conv/dense (after it, or before a pointwise one), hard-swish recognition, activation fusion,
 * residual fusion (a channel zero-pad of the residual read in place), dead-node removal, and weight
 * quantisation (int8 per output channel or fp16 storage).
 *
 * Every pass keeps tensor ids stable (a removed node leaves its tensor in
 * the table with no producer), keeps graph outputs, and leaves the graph
 * valid for rt_ref_run, so each pass is tested by comparing the reference
 * output before and after.  See runtime/README.md "Passes".
 */
#include "runtime/ir/rt_ir.h"
#include "runtime/ref/rt_ref.h"
#include "runtime/rt.h"
#include "common/cm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEAD_OP RT_OP_INPUT /* marks a removed node until compaction */

static void consumers_count(const struct rt_graph *g, int *cnt)
{
    memset(cnt, 0, (size_t)g->n_tensors * sizeof(*cnt));
    for (int k = 0; k < g->n_nodes; k++) {
        if (g->nodes[k].op == DEAD_OP)
            continue;
        for (int i = 0; i < g->nodes[k].n_in; i++)
            cnt[g->nodes[k].in[i]]++;
    }
    for (int i = 0; i < g->n_outputs; i++)
        cnt[g->outputs[i]] += 1000000; /* never fuse away a graph output */
}

static void compact(struct rt_graph *g)
{
    int w = 0;
    for (int k = 0; k < g->n_nodes; k++) {
        if (g->nodes[k].op == DEAD_OP)
            continue;
        g->nodes[w] = g->nodes[k];
        g->tensors[g->nodes[w].out].producer = w;
        w++;
    }
    g->n_nodes = w;
}

/* nodes whose inputs are all constants become constants */
static int fold_constants(struct rt_graph *g, int *cnt, struct err *e)
{
    consumers_count(g, cnt);
    for (int k = 0; k < g->n_nodes; k++) {
        struct rt_node *nd = &g->nodes[k];
        int all = 1;
        for (int i = 0; i < nd->n_in; i++)
            all &= g->tensors[nd->in[i]].is_const;
        if (!all || g->tensors[nd->out].is_output)
            continue;
        struct rt_tensor *t = &g->tensors[nd->out];
        float *data = malloc((size_t)rt_tensor_nelem(t) * sizeof(float));
        if (data == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not fold %s",
                           nd->name);
        const float *in[RT_MAX_INPUTS];
        for (int i = 0; i < nd->n_in; i++)
            in[i] = g->tensors[nd->in[i]].data;
        int rc = rt_ref_node(g, nd, in, data, e);
        if (rc < 0) {
            free(data);
            return rc;
        }
        t->data = data;
        t->is_const = 1;
        t->producer = -1;
        nd->op = DEAD_OP;
    }
    compact(g);
    return 0;
}

/* adds a constant copy of n floats; returns its id or <0 */
static int const_new(struct rt_graph *g, const char *name, int ndim, const int64_t *shape,
                     const float *data, struct err *e)
{
    return rt_graph_const_add(g, name, ndim, shape, data, e);
}

/*
 * Node p takes the place of node k, the one consumer of p's output that was
 * fused into it: p now writes k's output with k's activation, and k is dead.
 * Takes indices, not pointers: const_new may have moved g->nodes.
 */
static void take_place(struct rt_graph *g, int p, int k)
{
    struct rt_node *nd = &g->nodes[k], *pr = &g->nodes[p];
    pr->a.act = nd->a.act;
    pr->a.alpha = nd->a.alpha;
    pr->a.beta = nd->a.beta;
    g->tensors[pr->out].producer = -1;
    pr->out = nd->out;
    g->tensors[pr->out].producer = p;
    nd->op = DEAD_OP;
}

/* CONV2D/DENSE p takes weights wid and bias bid with the per-channel op k folded in */
static void absorb_next(struct rt_graph *g, int p, int k, int wid, int bid)
{
    struct rt_node *cv = &g->nodes[p];
    cv->in[1] = wid;
    cv->in[2] = bid;
    cv->n_in = 3;
    take_place(g, p, k);
}

/* BATCHNORM(const scale, const shift) after CONV2D/DENSE -> new weights and bias */
static int fold_batchnorm(struct rt_graph *g, int *cnt, struct err *e)
{
    consumers_count(g, cnt);
    for (int k = 0; k < g->n_nodes; k++) {
        struct rt_node *bn = &g->nodes[k];
        if (bn->op != RT_OP_BATCHNORM || !g->tensors[bn->in[1]].is_const ||
            !g->tensors[bn->in[2]].is_const)
            continue;
        int p = g->tensors[bn->in[0]].producer;
        if (p < 0 || cnt[bn->in[0]] != 1)
            continue;
        struct rt_node *cv = &g->nodes[p];
        if ((cv->op != RT_OP_CONV2D && cv->op != RT_OP_DENSE) || cv->a.act != RT_ACT_NONE ||
            cv->n_in > 3 || !g->tensors[cv->in[1]].is_const ||
            (cv->n_in > 2 && !g->tensors[cv->in[2]].is_const))
            continue;
        /* copy what we need first: const_new may move g->tensors */
        struct rt_tensor wt = g->tensors[cv->in[1]];
        int64_t n = rt_tensor_nelem(&wt), cout = wt.shape[wt.ndim - 1];
        float *w = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)cout * sizeof(float));
        if (w == NULL || b == NULL) {
            free(w);
            free(b);
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not fold %s",
                           bn->name);
        }
        const float *sc = g->tensors[bn->in[1]].data, *sh = g->tensors[bn->in[2]].data;
        const float *ob = cv->n_in > 2 ? g->tensors[cv->in[2]].data : NULL;
        for (int64_t i = 0; i < n; i++)
            w[i] = wt.data[i] * sc[i % cout];
        for (int64_t c = 0; c < cout; c++)
            b[c] = (ob ? ob[c] : 0.0f) * sc[c] + sh[c];
        int64_t bshape[1] = {cout};
        int wid = const_new(g, wt.name, wt.ndim, wt.shape, w, e);
        int bid = wid < 0 ? wid : const_new(g, bn->name, 1, bshape, b, e);
        free(w);
        free(b);
        if (wid < 0 || bid < 0)
            return wid < 0 ? wid : bid;
        absorb_next(g, p, k, wid, bid);
        return 1; /* tensor table grew: caller reallocates cnt and calls again */
    }
    return 0;
}

/* 1 when tensor t is a constant of one value equal to v */
static int const_scalar_is(const struct rt_graph *g, int t, float v)
{
    const struct rt_tensor *c = &g->tensors[t];
    return c->is_const && c->data != NULL && rt_tensor_nelem(c) == 1 && c->data[0] == v;
}

/*
 * MUL or ADD of a CONV2D/DENSE output (act NONE, one consumer, no residual)
 * by a constant of one value or one per output channel (its dims 1 but the
 * last) -> new weights and bias: PP-OCR's learnable affine blocks (a
 * scale and a shift after each convolution) cost two passes over the
 * activations each otherwise.  Returns 1 when it folded (tensor table
 * grew: the caller recounts and calls again), 0 when nothing is left.
 */
static int fold_affine(struct rt_graph *g, int *cnt, struct err *e)
{
    consumers_count(g, cnt);
    for (int k = 0; k < g->n_nodes; k++) {
        struct rt_node *nd = &g->nodes[k];
        if (nd->op != RT_OP_MUL && nd->op != RT_OP_ADD)
            continue;
        for (int side = 0; side < 2; side++) {
            int xt = nd->in[side], ct = nd->in[1 - side];
            const struct rt_tensor *c = &g->tensors[ct], *x = &g->tensors[xt];
            int p = x->producer;
            if (!c->is_const || c->data == NULL || xt == ct || p < 0 || cnt[xt] != 1 ||
                c->ndim > x->ndim)
                continue;
            struct rt_node *cv = &g->nodes[p];
            if ((cv->op != RT_OP_CONV2D && cv->op != RT_OP_DENSE) || cv->a.act != RT_ACT_NONE ||
                cv->n_in > 3 || !g->tensors[cv->in[1]].is_const ||
                (cv->n_in > 2 && !g->tensors[cv->in[2]].is_const))
                continue;
            struct rt_tensor wt = g->tensors[cv->in[1]];
            int64_t n = rt_tensor_nelem(&wt), cout = wt.shape[wt.ndim - 1];
            int64_t cn = rt_tensor_nelem(c);
            int per_ch = cn == cout && c->ndim >= 1 && c->shape[c->ndim - 1] == cout;
            if (cn != 1 && !per_ch)
                continue;
            int mul = nd->op == RT_OP_MUL;
            float *w = mul ? malloc((size_t)n * sizeof(float)) : NULL;
            float *b = malloc((size_t)cout * sizeof(float));
            if ((mul && w == NULL) || b == NULL) {
                free(w);
                free(b);
                return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not fold %s",
                               nd->name);
            }
            const float *cd = c->data;
            const float *ob = cv->n_in > 2 ? g->tensors[cv->in[2]].data : NULL;
            for (int64_t i = 0; mul && i < n; i++)
                w[i] = wt.data[i] * cd[per_ch ? i % cout : 0];
            for (int64_t o = 0; o < cout; o++) {
                float v = cd[per_ch ? o : 0], b0 = ob ? ob[o] : 0.0f;
                b[o] = mul ? b0 * v : b0 + v;
            }
            int64_t bshape[1] = {cout};
            /* copy what we need first: const_new may move g->tensors */
            int wid = mul ? const_new(g, wt.name, wt.ndim, wt.shape, w, e) : cv->in[1];
            int bid = wid < 0 ? wid : const_new(g, nd->name, 1, bshape, b, e);
            free(w);
            free(b);
            if (wid < 0 || bid < 0)
                return wid < 0 ? wid : bid;
            absorb_next(g, p, k, wid, bid);
            return 1;
        }
    }
    return 0;
}

/*
 * MUL or ADD (act NONE) by a constant of one value or one per channel whose
 * only consumer is a 1x1 unpadded CONV2D (groups 1) or a DENSE, as its
 * input -> folded into that node's weights (MUL: row ci scaled by s[ci])
 * or bias (ADD: b[co] += sum over ci of W[ci][co] * t[ci]); exact, as no
 * padding mixes in a value the affine map did not see.  PP-OCR's affine
 * blocks after an activation, before a pointwise convolution.  Returns 1
 * when it folded (tensor table grew), 0 when nothing is left.
 */
static int fold_affine_into(struct rt_graph *g, int *cnt, struct err *e)
{
    consumers_count(g, cnt);
    for (int q = 0; q < g->n_nodes; q++) {
        struct rt_node *cv = &g->nodes[q];
        if (cv->op != RT_OP_CONV2D && cv->op != RT_OP_DENSE)
            continue;
        if (cv->n_in > 3 || !g->tensors[cv->in[1]].is_const ||
            (cv->n_in > 2 && !g->tensors[cv->in[2]].is_const))
            continue;
        const struct rt_tensor *wt0 = &g->tensors[cv->in[1]];
        if (cv->op == RT_OP_CONV2D &&
            (wt0->ndim != 4 || wt0->shape[0] != 1 || wt0->shape[1] != 1 || cv->a.conv.groups > 1 ||
             cv->a.conv.pad_t || cv->a.conv.pad_l || cv->a.conv.pad_b || cv->a.conv.pad_r))
            continue;
        int yt = cv->in[0], k = g->tensors[yt].producer;
        if (k < 0 || cnt[yt] != 1)
            continue;
        struct rt_node *nd = &g->nodes[k];
        if ((nd->op != RT_OP_MUL && nd->op != RT_OP_ADD) || nd->a.act != RT_ACT_NONE)
            continue;
        for (int side = 0; side < 2; side++) {
            int xt = nd->in[side], ct = nd->in[1 - side];
            const struct rt_tensor *c = &g->tensors[ct], *x = &g->tensors[xt];
            struct rt_tensor wt = g->tensors[cv->in[1]];
            int64_t n = rt_tensor_nelem(&wt), cout = wt.shape[wt.ndim - 1];
            int64_t cin = wt.ndim >= 2 ? wt.shape[wt.ndim - 2] : 0, cn = rt_tensor_nelem(c);
            if (!c->is_const || c->data == NULL || xt == ct || c->ndim > x->ndim || x->ndim < 1 ||
                x->shape[x->ndim - 1] != cin ||
                (cn != 1 && (cn != cin || c->shape[c->ndim - 1] != cin)))
                continue;
            int mul = nd->op == RT_OP_MUL;
            float *w = mul ? malloc((size_t)n * sizeof(float)) : NULL;
            float *b = mul ? NULL : malloc((size_t)cout * sizeof(float));
            if ((mul && w == NULL) || (!mul && b == NULL)) {
                free(w);
                free(b);
                return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not fold %s",
                               nd->name);
            }
            const float *cd = c->data;
            const float *ob = cv->n_in > 2 ? g->tensors[cv->in[2]].data : NULL;
            for (int64_t i = 0; mul && i < n; i++)
                w[i] = wt.data[i] * cd[cn == 1 ? 0 : (i / cout) % cin];
            for (int64_t o = 0; !mul && o < cout; o++) {
                double acc = ob ? ob[o] : 0.0;
                for (int64_t i = 0; i < cin; i++)
                    acc += (double)wt.data[i * cout + o] * cd[cn == 1 ? 0 : i];
                b[o] = (float)acc;
            }
            int64_t bshape[1] = {cout};
            int wid = mul ? const_new(g, wt.name, wt.ndim, wt.shape, w, e) : cv->in[1];
            int bid = mul ? (cv->n_in > 2 ? cv->in[2] : -1)
                          : (wid < 0 ? wid : const_new(g, nd->name, 1, bshape, b, e));
            free(w);
            free(b);
            if (wid < 0 || (!mul && bid < 0))
                return wid < 0 ? wid : bid;
            nd = &g->nodes[k];
            cv = &g->nodes[q];
            cv->in[0] = xt;
            cv->in[1] = wid;
            if (bid >= 0) {
                cv->in[2] = bid;
                cv->n_in = 3;
            }
            g->tensors[nd->out].producer = -1;
            nd->op = DEAD_OP;
            return 1;
        }
    }
    return 0;
}

/* the x of ADD(x, 3) with RELU6 fused (node ap, one consumer), else -1 */
static int relu6_plus3_of(const struct rt_graph *g, const int *cnt, int at)
{
    int ap = g->tensors[at].producer;
    if (ap < 0 || cnt[at] != 1)
        return -1;
    const struct rt_node *a = &g->nodes[ap];
    if (a->op != RT_OP_ADD || a->a.act != RT_ACT_RELU6)
        return -1;
    if (const_scalar_is(g, a->in[1], 3))
        return a->in[0];
    return const_scalar_is(g, a->in[0], 3) ? a->in[1] : -1;
}

/* the MUL(x, r) or MUL(r, x) node producing t (one consumer, act NONE)
 * with r = relu6_plus3_of x; *r gets r's tensor; else -1 */
static int mul_x_relu6(const struct rt_graph *g, const int *cnt, int t, int *r)
{
    int mp = g->tensors[t].producer;
    if (mp < 0 || cnt[t] != 1)
        return -1;
    const struct rt_node *m = &g->nodes[mp];
    if (m->op != RT_OP_MUL || m->a.act != RT_ACT_NONE)
        return -1;
    for (int side = 0; side < 2; side++)
        if (relu6_plus3_of(g, cnt, m->in[1 - side]) == m->in[side]) {
            *r = m->in[1 - side];
            return m->in[side];
        }
    return -1;
}

static void kill(struct rt_graph *g, int t)
{
    int p = g->tensors[t].producer;
    g->nodes[p].op = DEAD_OP;
    g->tensors[t].producer = -1;
}

/*
 * Hard-swish as ONNX exporters write it, x * relu6(x + 3) / 6 in either
 * order (MUL(x, DIV(r, 6)) or DIV(MUL(x, r), 6), r = ADD(x, 3) with RELU6
 * fused; the inner nodes with one consumer) -> one ACT HARDSWISH of x,
 * which fuse_act then puts into x's producer: three passes over the
 * activations become none.
 */
static void fold_hardswish(struct rt_graph *g, int *cnt)
{
    consumers_count(g, cnt);
    for (int k = 0; k < g->n_nodes; k++) {
        struct rt_node *n = &g->nodes[k];
        int x = -1, inner = -1, r = -1;
        if (n->op == RT_OP_DIV && n->a.act == RT_ACT_NONE && const_scalar_is(g, n->in[1], 6)) {
            /* DIV(MUL(x, r), 6) */
            x = mul_x_relu6(g, cnt, n->in[0], &r);
            inner = n->in[0];
        } else if (n->op == RT_OP_MUL && n->a.act == RT_ACT_NONE) {
            /* MUL(x, DIV(r, 6)) */
            for (int side = 0; side < 2 && x < 0; side++) {
                int dt = n->in[1 - side], dp = g->tensors[dt].producer;
                if (dp < 0 || cnt[dt] != 1)
                    continue;
                const struct rt_node *d = &g->nodes[dp];
                if (d->op != RT_OP_DIV || d->a.act != RT_ACT_NONE ||
                    !const_scalar_is(g, d->in[1], 6) ||
                    relu6_plus3_of(g, cnt, d->in[0]) != n->in[side])
                    continue;
                x = n->in[side];
                inner = dt;
                r = d->in[0];
            }
        }
        if (x < 0)
            continue;
        kill(g, inner);
        kill(g, r);
        n = &g->nodes[k];
        n->op = RT_OP_ACT;
        n->in[0] = x;
        n->n_in = 1;
        n->a.act = RT_ACT_HARDSWISH;
        n->a.alpha = 0;
        n->a.beta = 0;
        consumers_count(g, cnt);
    }
    compact(g);
}

static int fusable_act_host(enum rt_op op)
{
    return op == RT_OP_CONV2D || op == RT_OP_DENSE || op == RT_OP_MATMUL || op == RT_OP_BATCHNORM ||
           (op >= RT_OP_ADD && op <= RT_OP_MIN);
}

/* ACT after a value-computing node with act NONE -> fused */
static void fuse_act(struct rt_graph *g, int *cnt)
{
    consumers_count(g, cnt);
    for (int k = 0; k < g->n_nodes; k++) {
        struct rt_node *ac = &g->nodes[k];
        if (ac->op != RT_OP_ACT)
            continue;
        int p = g->tensors[ac->in[0]].producer;
        if (p < 0 || cnt[ac->in[0]] != 1)
            continue;
        struct rt_node *pr = &g->nodes[p];
        if (pr->op == DEAD_OP || !fusable_act_host(pr->op) || pr->a.act != RT_ACT_NONE)
            continue;
        take_place(g, p, k);
    }
    compact(g);
}

/*
 * ADD(conv_out, r) with conv a CONV2D/DENSE (act NONE, single consumer) and r
 * of the output's shape, computed before the conv node -> the conv adds r
 * itself (4th input) and takes the ADD's activation.  Returns 1 when the
 * tensor table grew (a zero bias was added), so the caller recounts.
 */
static int fuse_residual(struct rt_graph *g, int *cnt, struct err *e)
{
    consumers_count(g, cnt);
    for (int k = 0; k < g->n_nodes; k++) {
        struct rt_node *ad = &g->nodes[k];
        if (ad->op != RT_OP_ADD)
            continue;
        for (int side = 0; side < 2; side++) {
            int ct = ad->in[side], rt = ad->in[1 - side];
            int p = g->tensors[ct].producer;
            if (p < 0 || cnt[ct] != 1 || ct == rt)
                continue;
            struct rt_node *cv = &g->nodes[p];
            if ((cv->op != RT_OP_CONV2D && cv->op != RT_OP_DENSE) || cv->a.act != RT_ACT_NONE ||
                cv->n_in > 3 || g->tensors[rt].is_const)
                continue;
            const struct rt_tensor *o = &g->tensors[ad->out], *r = &g->tensors[rt];
            int same = o->ndim == r->ndim && o->ndim == g->tensors[ct].ndim;
            for (int i = 0; same && i < o->ndim; i++)
                same = o->shape[i] == r->shape[i] && o->shape[i] == g->tensors[ct].shape[i];
            if (!same)
                continue;
            if (g->tensors[rt].producer >= p) {
                /* the residual is made after the conv (tfjs orders BlazeFace's
                   stride-2 blocks conv, max-pool, pad, add): run the conv just
                   before the ADD instead.  Valid: its inputs exist at p, and its
                   output's only reader is the ADD (cnt 1). */
                struct rt_node mv = g->nodes[p];
                memmove(&g->nodes[p], &g->nodes[p + 1], (size_t)(k - 1 - p) * sizeof(g->nodes[0]));
                g->nodes[k - 1] = mv;
                for (int i = p; i < k; i++)
                    if (g->nodes[i].op != DEAD_OP)
                        g->tensors[g->nodes[i].out].producer = i;
                p = k - 1;
                ad = &g->nodes[k];
                cv = &g->nodes[p];
            }
            int grew = 0;
            if (cv->n_in == 2) {
                const struct rt_tensor *w = &g->tensors[cv->in[1]];
                int64_t cout = w->shape[w->ndim - 1];
                float *z = calloc((size_t)cout, sizeof(float));
                if (z == NULL)
                    return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                                   "could not fuse %s", ad->name);
                int bid = rt_graph_const_adopt(g, "zero_bias", 1, &cout, z, e);
                if (bid < 0)
                    return bid;
                ad = &g->nodes[k];
                cv = &g->nodes[p];
                cv->in[2] = bid;
                grew = 1;
            }
            cv->in[3] = rt;
            cv->n_in = 4;
            take_place(g, p, k);
            if (grew)
                return 1;
            consumers_count(g, cnt);
            break;
        }
    }
    return 0;
}

/*
 * A CONV2D (groups 1) or DENSE residual that is PAD(r) with zeros after the
 * last dim only (one consumer) -> the conv reads r itself, its missing
 * channels as 0 (rt_ir.h): BlazeFace's stride-2 blocks add a
 * channel-padded max-pool, and the padded copy costs a pass over the
 * activations plus a dispatch.  Depthwise convs keep the PAD (dwconv.comp
 * has no narrow residual).
 */
static void fold_pad_residual(struct rt_graph *g, int *cnt)
{
    consumers_count(g, cnt);
    for (int k = 0; k < g->n_nodes; k++) {
        struct rt_node *cv = &g->nodes[k];
        if ((cv->op != RT_OP_CONV2D && cv->op != RT_OP_DENSE) || cv->n_in != 4 ||
            (cv->op == RT_OP_CONV2D && cv->a.conv.groups != 1))
            continue;
        int rt = cv->in[3], pp = g->tensors[rt].producer;
        if (pp < 0 || cnt[rt] != 1)
            continue;
        const struct rt_node *pd = &g->nodes[pp];
        int nd = g->tensors[pd->in[0]].ndim, ok = pd->op == RT_OP_PAD && pd->a.act == RT_ACT_NONE &&
                                                  pd->a.pad_value == 0.0f && nd >= 1;
        for (int i = 0; ok && i < nd; i++)
            ok = pd->a.pad_before[i] == 0 && (i == nd - 1 || pd->a.pad_after[i] == 0);
        if (!ok || g->tensors[pd->in[0]].is_const)
            continue;
        cv->in[3] = pd->in[0];
        kill(g, rt);
        consumers_count(g, cnt);
    }
    compact(g);
}

static void remove_dead(struct rt_graph *g, int *live)
{
    memset(live, 0, (size_t)g->n_tensors * sizeof(*live));
    for (int i = 0; i < g->n_outputs; i++)
        live[g->outputs[i]] = 1;
    for (int k = g->n_nodes - 1; k >= 0; k--) {
        struct rt_node *nd = &g->nodes[k];
        if (!live[nd->out]) {
            nd->op = DEAD_OP;
            g->tensors[nd->out].producer = -1;
            continue;
        }
        for (int i = 0; i < nd->n_in; i++)
            live[nd->in[i]] = 1;
    }
    compact(g);
    /* constants no node reads any more: free their data */
    for (int i = 0; i < g->n_tensors; i++) {
        struct rt_tensor *t = &g->tensors[i];
        if (t->is_const && !live[i] && t->data != NULL && !t->is_output) {
            free(t->data);
            t->data = NULL;
            t->is_const = 0; /* a dead slot: no producer, no data */
        }
    }
}

/* runs all passes in place; see rt_ir.h */
int rt_graph_optimize(struct rt_graph *g, struct err *e)
{
    int *cnt = malloc(((size_t)g->n_tensors + 1) * sizeof(int));
    if (cnt == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate pass state");
    int rc = fold_constants(g, cnt, e);
    for (int guard = 0; rc == 0 && guard < RT_MAX_NODES; guard++) {
        free(cnt);
        cnt = malloc(((size_t)g->n_tensors + 1) * sizeof(int));
        if (cnt == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not allocate pass state");
        rc = fold_batchnorm(g, cnt, e);
        if (rc == 1) {
            compact(g);
            rc = 0;
            continue;
        }
        break;
    }
    for (int guard = 0; rc == 0 && guard < RT_MAX_NODES; guard++) {
        free(cnt);
        cnt = malloc(((size_t)g->n_tensors + 1) * sizeof(int));
        if (cnt == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not allocate pass state");
        rc = fold_affine(g, cnt, e);
        if (rc == 0)
            rc = fold_affine_into(g, cnt, e);
        if (rc == 1) {
            compact(g);
            rc = 0;
            continue;
        }
        break;
    }
    if (rc == 0) {
        free(cnt);
        cnt = malloc(((size_t)g->n_tensors + 1) * sizeof(int));
        if (cnt == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not allocate pass state");
        fuse_act(g, cnt);
        fold_hardswish(g, cnt);
        fuse_act(g, cnt);
        for (int guard = 0; guard < RT_MAX_NODES; guard++) {
            free(cnt);
            cnt = malloc(((size_t)g->n_tensors + 1) * sizeof(int));
            if (cnt == NULL)
                return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                               "could not allocate pass state");
            rc = fuse_residual(g, cnt, e);
            compact(g);
            if (rc != 1)
                break;
            rc = 0;
        }
        if (rc == 0) {
            fold_pad_residual(g, cnt);
            remove_dead(g, cnt);
        }
    }
    free(cnt);
    return rc;
}

/* chooses weight storage for conv/dense weights; see rt_ir.h */
int rt_graph_quantize(struct rt_graph *g, enum rt_dtype qtype, struct err *e)
{
    if (qtype != RT_DTYPE_F32 && qtype != RT_DTYPE_F16 && qtype != RT_DTYPE_I8)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                       "invalid weight storage type: %d", (int)qtype);
    for (int k = 0; k < g->n_nodes; k++) {
        const struct rt_node *nd = &g->nodes[k];
        if (nd->op != RT_OP_CONV2D && nd->op != RT_OP_DENSE)
            continue;
        struct rt_tensor *w = &g->tensors[nd->in[1]];
        if (!w->is_const || w->qtype != RT_DTYPE_F32 || qtype == RT_DTYPE_F32)
            continue;
        int64_t n = rt_tensor_nelem(w), cout = w->shape[w->ndim - 1];
        if (qtype == RT_DTYPE_F16) {
            for (int64_t i = 0; i < n; i++)
                w->data[i] = rt_f16_to_f32(rt_f32_to_f16(w->data[i]));
        } else {
            float *sc = malloc((size_t)cout * sizeof(float));
            if (sc == NULL)
                return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                               "could not quantise %s", w->name);
            rt_quant_scales(w->data, n, cout, sc);
            for (int64_t i = 0; i < n; i++) {
                float q = roundf(w->data[i] / sc[i % cout]);
                q = q < -127 ? -127 : (q > 127 ? 127 : q);
                w->data[i] = q * sc[i % cout];
            }
            free(sc);
        }
        w->qtype = qtype;
    }
    return 0;
}
