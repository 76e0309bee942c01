/*
 * rt_plan.c: a graph prepared for one device: passes, quantisation, the
 * memory plan (weights / activations / staging regions in three buffers),
 * weight upload, and command buffers recorded once per (batch size, input
 * mode) and replayed by rt_plan_run.
 *
 * Memory plan: every non-constant tensor gets a region of the activation
 * buffer; RESHAPE outputs alias their input; regions of tensors whose
 * lifetimes (producer .. last consumer, in node order) do not overlap may
 * share bytes (greedy, largest first).  The plan is sized for max_batch;
 * a smaller batch uses a prefix of each region with the same offsets.
 * Barriers: a compute barrier is recorded before a dispatch only when it
 * reads or writes bytes written, or writes bytes read, since the last one.
 * See runtime/README.md "Plans".
 */
#include "runtime/vk/rt_impl.h"
#include "common/cm.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REC 64 /* pending hazard regions before a forced barrier */

struct rt_rec {
    VkCommandBuffer cmd;
    VkDescriptorPool pool;
    int n_dispatch, n_barrier;
    VkQueryPool qp;      /* VKV_RT_PROFILE=1: a timestamp after each dispatch */
    VkBufferView *views; /* texel-buffer views of this recording */
    int n_views;
    enum rt_shader_id *qsh; /* shader of each timed dispatch */
};

struct rt_plan {
    struct rt_device *dev;
    struct rt_op_target tgt; /* what the op families see of dev */
    struct rt_graph *g;      /* optimised, at max_batch; owned */
    struct rt_plan_opts o;
    struct rt_region *reg, *wscale; /* per tensor */
    struct rt_region zero_bias;
    struct rt_buffer buf[RT_REG_KINDS];
    uint64_t size[RT_REG_KINDS];
    uint64_t in_off[8], out_off[16], params_off, pix_off, pix_size;
    struct rt_rec *rec; /* [(max_batch + 1) * 2]: index batch*2 + rgb */
    VkFence fence;
    int n_dispatch;
    size_t weight_bytes;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* ---- memory plan -------------------------------------------------------------- */

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

static int plan_memory(struct rt_plan *p, struct err *e)
{
    struct rt_graph *g = p->g;
    const struct rt_caps *c = &p->dev->caps;
    uint64_t al = c->min_storage_align > 256 ? c->min_storage_align : 256;
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
        for (int i = 0; i < nd->n_in; i++) {
            if (g->tensors[nd->in[i]].is_const)
                continue;
            int ri = lv[nd->in[i]].root;
            if (k > lv[ri].last)
                lv[ri].last = k;
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
    if (p->o.pre.enabled) {
        p->params_off = so;
        so = align_up(so + (uint64_t)p->o.max_batch * 16, al);
        p->pix_off = so;
        p->pix_size = align_up(
            (uint64_t)p->o.max_batch * (uint64_t)p->o.pre.max_w * (uint64_t)p->o.pre.max_h * 3, 4);
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

/* ---- weights upload ------------------------------------------------------------ */

static int submit_wait(struct rt_plan *p, VkCommandBuffer cmd, struct err *e)
{
    struct rt_device *d = p->dev;
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cmd,
    };
    RT_VK_TRY(vkQueueSubmit(d->queue, 1, &si, p->fence));
    VkResult r = vkWaitForFences(d->dev, 1, &p->fence, VK_TRUE, d->timeout_ns);
    if (r == VK_TIMEOUT)
        return err_set(e, RT_ERR_TIMEOUT, ERR_UNAVAILABLE, "device_timeout",
                       "inference did not finish within %llu ms",
                       (unsigned long long)(d->timeout_ns / 1000000));
    if (r != VK_SUCCESS)
        return rt_vk_fail(r, "vkWaitForFences", __FILE__, __LINE__, e);
    RT_VK_TRY(vkResetFences(d->dev, 1, &p->fence));
    return 0;
}

static int upload_weights(struct rt_plan *p, struct err *e)
{
    struct rt_device *d = p->dev;
    const struct rt_graph *g = p->g;
    struct rt_buffer st;
    memset(&st, 0, sizeof(st));
    /* a mapped weight buffer (UMA) is written in place; else through staging */
    int direct = p->buf[RT_REG_WEIGHT].map != NULL, rc = 0;
    if (!direct && (rc = rt_buffer_create(d, p->size[RT_REG_WEIGHT], RT_MEM_HOST, &st, e)) < 0)
        return rc;
    uint8_t *base = direct ? p->buf[RT_REG_WEIGHT].map : st.map;
    memset(base, 0, p->size[RT_REG_WEIGHT]);
    for (int t = 0; t < g->n_tensors; t++) {
        const struct rt_tensor *T = &g->tensors[t];
        if (!T->is_const || p->reg[t].kind != RT_REG_WEIGHT || p->reg[t].size == 0)
            continue;
        int64_t n = rt_tensor_nelem(T);
        uint8_t *dst = base + p->reg[t].off;
        if (T->qtype == RT_DTYPE_F16) {
            uint16_t *h = (uint16_t *)dst;
            for (int64_t i = 0; i < n; i++)
                h[i] = rt_f32_to_f16(T->data[i]);
        } else if (T->qtype == RT_DTYPE_I8) {
            int64_t cout = T->shape[T->ndim - 1];
            float *sc = (float *)(base + p->wscale[t].off);
            rt_quant_scales(T->data, n, cout, sc);
            int8_t *q = (int8_t *)dst;
            for (int64_t i = 0; i < n; i++) {
                float v = T->data[i] / sc[i % cout];
                v = v < -127 ? -127 : (v > 127 ? 127 : v);
                q[i] = (int8_t)(v < 0 ? v - 0.5f : v + 0.5f);
            }
        } else {
            memcpy(dst, T->data, (size_t)n * 4);
        }
    }
    if (direct)
        return 0; /* coherent memory; the first submit makes it visible */
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = d->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkResult r = vkAllocateCommandBuffers(d->dev, &ai, &cmd);
    if (r == VK_SUCCESS) {
        VkCommandBufferBeginInfo bi = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
        };
        vkBeginCommandBuffer(cmd, &bi);
        VkBufferCopy cp = {0, 0, p->size[RT_REG_WEIGHT]};
        vkCmdCopyBuffer(cmd, st.buf, p->buf[RT_REG_WEIGHT].buf, 1, &cp);
        r = vkEndCommandBuffer(cmd);
    }
    if (r != VK_SUCCESS)
        rc = rt_vk_fail(r, "vkAllocate/EndCommandBuffer", __FILE__, __LINE__, e);
    else
        rc = submit_wait(p, cmd, e);
    if (cmd != VK_NULL_HANDLE)
        vkFreeCommandBuffers(d->dev, d->cmd_pool, 1, &cmd);
    rt_buffer_destroy(d, &st);
    return rc;
}

/* ---- recording --------------------------------------------------------------------- */

struct hazard {
    struct rt_region w[MAX_REC], r[MAX_REC];
    int nw, nr;
};

static int overlaps(const struct rt_region *a, const struct rt_region *b)
{
    return a->kind == b->kind && a->off < b->off + b->size && b->off < a->off + a->size;
}

/* 1 if dispatch d must wait for earlier ones; updates the pending sets */
static int hazard_check(struct hazard *h, const struct rt_dispatch *d)
{
    int need = 0;
    for (int i = 0; i < d->n_bind && !need; i++) {
        const struct rt_region *x = &d->bind[i].r;
        if (x->kind == RT_REG_WEIGHT)
            continue;
        for (int j = 0; j < h->nw && !need; j++)
            need = overlaps(x, &h->w[j]);
        if (d->bind[i].write)
            for (int j = 0; j < h->nr && !need; j++)
                need = overlaps(x, &h->r[j]);
    }
    if (need || h->nw + d->n_bind > MAX_REC || h->nr + d->n_bind > MAX_REC) {
        need = 1;
        h->nw = h->nr = 0;
    }
    for (int i = 0; i < d->n_bind; i++) {
        if (d->bind[i].r.kind == RT_REG_WEIGHT)
            continue;
        if (d->bind[i].write)
            h->w[h->nw++] = d->bind[i].r;
        else
            h->r[h->nr++] = d->bind[i].r;
    }
    return need;
}

static void barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags sa,
                    VkPipelineStageFlags dst, VkAccessFlags da)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = sa,
        .dstAccessMask = da,
    };
    vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* a copy of g's tables without constant data (for re-inferring shapes) */
static struct rt_graph *shape_clone(const struct rt_graph *g, struct err *e)
{
    struct rt_graph *c = rt_graph_init();
    *c = *g;
    c->tensors = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof(*c->tensors));
    c->nodes = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof(*c->nodes));
    if (c->tensors == NULL || c->nodes == NULL) {
        free(c->tensors);
        free(c->nodes);
        free(c);
        err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not copy graph shapes");
        return NULL;
    }
    memcpy(c->tensors, g->tensors, (size_t)g->n_tensors * sizeof(*c->tensors));
    memcpy(c->nodes, g->nodes, (size_t)g->n_nodes * sizeof(*c->nodes));
    for (int i = 0; i < g->n_tensors; i++)
        c->tensors[i].data = NULL;
    c->cap_tensors = g->n_tensors;
    c->cap_nodes = g->n_nodes;
    return c;
}

/* builds the preprocessing dispatch (input 0 from RGB8) */
static int build_pre(struct rt_plan *p, struct rt_build *b, const struct rt_graph *g, struct err *e)
{
    const struct rt_tensor *x = &g->tensors[g->inputs[0]];
    struct rt_dispatch *d = rt_build_add(b, RT_SHADER_PREPROCESS, -1, e);
    if (d == NULL)
        return e->status;
    const struct rt_preprocess *pp = &p->o.pre;
    struct rt_push_pre pc = {
        (uint32_t)x->shape[0],
        (uint32_t)x->shape[1],
        (uint32_t)x->shape[2],
        (uint32_t)x->shape[3],
        (uint32_t)(pp->bilinear != 0),
        (uint32_t)(pp->align_corners != 0),
        (uint32_t)(pp->half_pixel != 0),
        pp->scale,
        {0, 0, 0},
        {0, 0, 0},
    };
    for (int c = 0; c < 3; c++) {
        pc.mean[c] = pp->mean[c];
        pc.inv_std[c] = 1.0f / pp->std[c];
    }
    rt_dispatch_bind(
        d, (struct rt_region){RT_REG_STAGE, p->params_off, (uint64_t)p->o.max_batch * 16}, 0);
    rt_dispatch_bind(d, (struct rt_region){RT_REG_STAGE, p->pix_off, p->pix_size}, 0);
    rt_dispatch_bind(d, p->reg[g->inputs[0]], 1);
    memcpy(d->push, &pc, sizeof(pc));
    d->push_size = sizeof(pc);
    return rt_dispatch_grid1d(d, (uint64_t)rt_tensor_nelem(x), 64, e);
}

/* builds the dispatch list for batch (the graph re-inferred at that batch) */
static int build_list(struct rt_plan *p, int batch, int rgb, struct rt_build *b,
                      struct rt_graph **gb_out, struct err *e)
{
    struct rt_graph *gb = NULL;
    const struct rt_graph *g = p->g;
    if (batch != p->o.max_batch) {
        gb = shape_clone(p->g, e);
        if (gb == NULL)
            return e->status;
        int rc = rt_graph_batch_set(gb, batch, e);
        if (rc < 0) {
            rt_graph_free(gb);
            return rc;
        }
        g = gb;
    }
    memset(b, 0, sizeof(*b));
    b->t = &p->tgt;
    b->g = g;
    b->reg = p->reg;
    b->wscale = p->wscale;
    b->zero_bias = &p->zero_bias;
    int rc = 0;
    if (rgb)
        rc = build_pre(p, b, g, e);
    for (int k = 0; k < g->n_nodes && rc == 0; k++)
        rc = rt_ops_build(b, k, e);
    if (rc < 0) {
        free(b->d);
        b->d = NULL;
        rt_graph_free(gb);
        return rc;
    }
    *gb_out = gb;
    return 0;
}

static int record(struct rt_plan *p, int batch, int rgb, struct err *e)
{
    struct rt_device *d = p->dev;
    struct rt_rec *rec = &p->rec[batch * 2 + rgb];
    struct rt_build b;
    struct rt_graph *gb = NULL;
    int rc = build_list(p, batch, rgb, &b, &gb, e);
    if (rc < 0)
        return rc;
    const struct rt_graph *g = gb ? gb : p->g;
    VkResult r;
    VkDescriptorPoolSize ps[2] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, (uint32_t)(b.n * RT_MAX_BINDINGS + 1)},
        {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, (uint32_t)(b.n * RT_MAX_BINDINGS + 1)},
    };
    VkDescriptorPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = (uint32_t)(b.n + 1),
        .poolSizeCount = 2,
        .pPoolSizes = ps,
    };
    rec->views = calloc((size_t)b.n * RT_MAX_BINDINGS + 1, sizeof(VkBufferView));
    if (rec->views == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate views");
        goto out;
    }
    r = vkCreateDescriptorPool(d->dev, &pci, NULL, &rec->pool);
    if (r != VK_SUCCESS) {
        rec->pool = VK_NULL_HANDLE;
        rc = rt_vk_fail(r, "vkCreateDescriptorPool", __FILE__, __LINE__, e);
        goto out;
    }
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = d->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    r = vkAllocateCommandBuffers(d->dev, &ai, &rec->cmd);
    if (r != VK_SUCCESS) {
        rec->cmd = VK_NULL_HANDLE;
        rc = rt_vk_fail(r, "vkAllocateCommandBuffers", __FILE__, __LINE__, e);
        goto out;
    }
    VkCommandBuffer cmd = rec->cmd;
    const char *prof = getenv("VKV_RT_PROFILE");
    if (prof != NULL && prof[0] == '1') {
        VkQueryPoolCreateInfo qci = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = (uint32_t)b.n + 1,
        };
        rec->qsh = calloc((size_t)b.n + 1, sizeof(*rec->qsh));
        if (rec->qsh == NULL || vkCreateQueryPool(d->dev, &qci, NULL, &rec->qp) != VK_SUCCESS)
            rec->qp = VK_NULL_HANDLE;
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    vkBeginCommandBuffer(cmd, &bi);
    if (rec->qp != VK_NULL_HANDLE)
        vkCmdResetQueryPool(cmd, rec->qp, 0, (uint32_t)b.n + 1);
    /* inputs: staging -> activation regions */
    int copied = 0;
    for (int i = rgb ? 1 : 0; i < g->n_inputs; i++) {
        VkBufferCopy cp = {p->in_off[i], p->reg[g->inputs[i]].off,
                           (uint64_t)rt_tensor_nelem(&g->tensors[g->inputs[i]]) * 4};
        vkCmdCopyBuffer(cmd, p->buf[RT_REG_STAGE].buf, p->buf[RT_REG_ACT].buf, 1, &cp);
        copied = 1;
    }
    barrier(cmd, VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_HOST_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    (void)copied;
    struct hazard hz;
    hz.nw = hz.nr = 0;
    rec->n_barrier = 0;
    for (int i = 0; i < b.n; i++) {
        const struct rt_dispatch *x = &b.d[i];
        uint32_t tmask = 0;
        for (int j = 0; j < x->n_bind; j++)
            if (x->bind[j].texel)
                tmask |= 1u << j;
        VkPipeline pipe = rt_pipeline_get(d, x->shader, x->spec, x->n_spec, x->n_bind, tmask, e);
        VkDescriptorSetLayout dsl;
        VkPipelineLayout pl;
        if (pipe == VK_NULL_HANDLE || rt_layout_get(d, x->n_bind, tmask, &dsl, &pl, e) < 0) {
            rc = e->status;
            goto out;
        }
        VkDescriptorSetAllocateInfo dai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = rec->pool,
            .descriptorSetCount = 1,
            .pSetLayouts = &dsl,
        };
        VkDescriptorSet set;
        r = vkAllocateDescriptorSets(d->dev, &dai, &set);
        if (r != VK_SUCCESS) {
            rc = rt_vk_fail(r, "vkAllocateDescriptorSets", __FILE__, __LINE__, e);
            goto out;
        }
        VkDescriptorBufferInfo bis[RT_MAX_BINDINGS];
        VkWriteDescriptorSet ws[RT_MAX_BINDINGS];
        for (int j = 0; j < x->n_bind; j++) {
            bis[j] = (VkDescriptorBufferInfo){p->buf[x->bind[j].r.kind].buf, x->bind[j].r.off,
                                              x->bind[j].r.size};
            ws[j] = (VkWriteDescriptorSet){
                .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                .dstSet = set,
                .dstBinding = (uint32_t)j,
                .descriptorCount = 1,
                .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                .pBufferInfo = &bis[j],
            };
            if (x->bind[j].texel) {
                static const VkFormat fmt[] = {VK_FORMAT_UNDEFINED, VK_FORMAT_R32G32B32A32_SFLOAT,
                                               VK_FORMAT_R16G16B16A16_SFLOAT,
                                               VK_FORMAT_R8G8B8A8_SINT, VK_FORMAT_R32_SFLOAT};
                static const uint64_t texel_bytes[] = {1, 16, 8, 4, 4};
                int f = x->bind[j].texel;
                VkBufferViewCreateInfo vci = {
                    .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                    .buffer = p->buf[x->bind[j].r.kind].buf,
                    .format = fmt[f],
                    .offset = x->bind[j].r.off,
                    .range = x->bind[j].r.size / texel_bytes[f] * texel_bytes[f],
                };
                VkBufferView *v = &rec->views[rec->n_views];
                r = vkCreateBufferView(d->dev, &vci, NULL, v);
                if (r != VK_SUCCESS) {
                    rc = rt_vk_fail(r, "vkCreateBufferView", __FILE__, __LINE__, e);
                    goto out;
                }
                rec->n_views++;
                ws[j].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
                ws[j].pBufferInfo = NULL;
                ws[j].pTexelBufferView = v;
            }
        }
        vkUpdateDescriptorSets(d->dev, (uint32_t)x->n_bind, ws, 0, NULL);
        if (hazard_check(&hz, x)) {
            barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
            rec->n_barrier++;
        }
        vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
        vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pl, 0, 1, &set, 0, NULL);
        if (x->push_size > 0)
            vkCmdPushConstants(cmd, pl, VK_SHADER_STAGE_COMPUTE_BIT, 0, x->push_size, x->push);
        if (rec->qp != VK_NULL_HANDLE && i == 0)
            vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, rec->qp, 0);
        vkCmdDispatch(cmd, x->groups[0], x->groups[1], x->groups[2]);
        if (rec->qp != VK_NULL_HANDLE) {
            vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, rec->qp,
                                (uint32_t)i + 1);
            rec->qsh[i] = x->shader;
        }
    }
    barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    for (int i = 0; i < g->n_outputs; i++) {
        const struct rt_region *o = &p->reg[g->outputs[i]];
        VkBufferCopy cp = {o->off, p->out_off[i],
                           (uint64_t)rt_tensor_nelem(&g->tensors[g->outputs[i]]) * 4};
        vkCmdCopyBuffer(cmd, p->buf[o->kind].buf, p->buf[RT_REG_STAGE].buf, 1, &cp);
    }
    barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    r = vkEndCommandBuffer(cmd);
    if (r != VK_SUCCESS) {
        rc = rt_vk_fail(r, "vkEndCommandBuffer", __FILE__, __LINE__, e);
        goto out;
    }
    rec->n_dispatch = b.n;
out:
    if (rc < 0) {
        if (rec->cmd != VK_NULL_HANDLE)
            vkFreeCommandBuffers(d->dev, d->cmd_pool, 1, &rec->cmd);
        if (rec->pool != VK_NULL_HANDLE)
            vkDestroyDescriptorPool(d->dev, rec->pool, NULL);
        if (rec->qp != VK_NULL_HANDLE)
            vkDestroyQueryPool(d->dev, rec->qp, NULL);
        for (int i = 0; i < rec->n_views; i++)
            vkDestroyBufferView(d->dev, rec->views[i], NULL);
        free(rec->views);
        free(rec->qsh);
        memset(rec, 0, sizeof(*rec));
    }
    free(b.d);
    rt_graph_free(gb);
    return rc;
}

/* ---- public API ---------------------------------------------------------------------- */

struct rt_plan_opts rt_plan_opts_default(void)
{
    struct rt_plan_opts o;
    memset(&o, 0, sizeof(o));
    o.max_batch = 1;
    o.weights = RT_WEIGHTS_F32;
    o.pre.max_w = o.pre.max_h = 4096;
    o.pre.bilinear = 1;
    o.pre.scale = 1.0f / 255.0f;
    for (int c = 0; c < 3; c++)
        o.pre.std[c] = 1.0f;
    return o;
}

static int opts_check(struct rt_plan *p, const struct rt_graph *g, struct err *e)
{
    struct rt_plan_opts *o = &p->o;
    if (o->max_batch < 1 || o->max_batch > 256)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument", "invalid max_batch: %d",
                       o->max_batch);
    if ((int)o->weights < 0 || o->weights > RT_WEIGHTS_I8)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                       "invalid weight type: %d", (int)o->weights);
    if (g->n_inputs < 1 || g->n_outputs < 1)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "graph needs at least one input and one output (%d, %d)", g->n_inputs,
                       g->n_outputs);
    if (o->pre.enabled) {
        const struct rt_tensor *x = &g->tensors[g->inputs[0]];
        if (x->ndim != 4 || x->shape[3] != 3)
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                           "preprocessing needs input 0 of shape [N,H,W,3]");
        if (o->pre.max_w < 1 || o->pre.max_h < 1 || o->pre.max_w > 16384 || o->pre.max_h > 16384)
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                           "invalid preprocessing max size %dx%d", o->pre.max_w, o->pre.max_h);
        for (int c = 0; c < 3; c++)
            if (!(o->pre.std[c] != 0.0f))
                return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                               "preprocessing std[%d] is zero", c);
        if (o->pre.align_corners && o->pre.half_pixel)
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                           "preprocessing cannot use both align_corners and half_pixel");
    }
    return 0;
}

/* prepares g for dev; see rt.h */
int rt_plan_create(struct rt_device *dev, const struct rt_graph *g0, const struct rt_plan_opts *o,
                   struct rt_plan **out, struct err *e)
{
    *out = NULL;
    struct rt_plan *p = cm_xcalloc(1, sizeof(*p));
    p->dev = dev;
    p->o = o ? *o : rt_plan_opts_default();
    int rc = opts_check(p, g0, e);
    if (rc < 0)
        goto fail;
    p->g = rt_graph_clone(g0, e);
    if (p->g == NULL) {
        rc = e ? e->status : RT_ERR_OOM;
        goto fail;
    }
    rc = rt_graph_batch_set(p->g, p->o.max_batch, e);
    if (rc == 0 && !p->o.no_fuse)
        rc = rt_graph_optimize(p->g, e);
    if (rc < 0)
        goto fail;
    /* every op left after the passes must have a kernel: refused here, by name */
    rc = rt_ops_check(p->g, e);
    if (rc < 0)
        goto fail;
    p->tgt =
        (struct rt_op_target){dev->caps, dev->use_gemm, dev->use_texel, dev->gemm_rb, dev->gemm_cb};
    enum rt_dtype q = RT_DTYPE_F32;
    if (p->o.weights == RT_WEIGHTS_F16 && dev->use_fp16)
        q = RT_DTYPE_F16;
    if (p->o.weights == RT_WEIGHTS_I8 && dev->use_int8)
        q = RT_DTYPE_I8;
    rc = rt_graph_quantize(p->g, q, e);
    if (rc < 0)
        goto fail;
    rc = plan_memory(p, e);
    if (rc < 0)
        goto fail;
    uint64_t total = p->size[RT_REG_ACT] + p->size[RT_REG_WEIGHT] + p->size[RT_REG_STAGE];
    uint64_t limit = p->o.max_device_bytes;
    const char *env = getenv("VKV_RT_MAX_DEVICE_BYTES");
    if (env != NULL && env[0])
        limit = strtoull(env, NULL, 10);
    if (limit > 0 && total > limit) {
        rc = err_set_transient(e, RT_ERR_OOM, "device_out_of_memory",
                               "could not fit model: needs %llu device bytes, limit %llu",
                               (unsigned long long)total, (unsigned long long)limit);
        goto fail;
    }
    /* UMA devices (lavapipe, integrated GPUs): weights written in place, no staging copy */
    rc = -1;
    if (dev->caps.uma)
        rc = rt_buffer_create(dev, p->size[RT_REG_WEIGHT], RT_MEM_UMA, &p->buf[RT_REG_WEIGHT], e);
    if (rc < 0)
        rc =
            rt_buffer_create(dev, p->size[RT_REG_WEIGHT], RT_MEM_DEVICE, &p->buf[RT_REG_WEIGHT], e);
    if (rc == 0)
        rc = rt_buffer_create(dev, p->size[RT_REG_ACT], RT_MEM_DEVICE, &p->buf[RT_REG_ACT], e);
    if (rc == 0)
        rc = rt_buffer_create(dev, p->size[RT_REG_STAGE], RT_MEM_HOST, &p->buf[RT_REG_STAGE], e);
    if (rc < 0)
        goto fail;
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkResult r = vkCreateFence(dev->dev, &fci, NULL, &p->fence);
    if (r != VK_SUCCESS) {
        p->fence = VK_NULL_HANDLE;
        rc = rt_vk_fail(r, "vkCreateFence", __FILE__, __LINE__, e);
        goto fail;
    }
    rc = upload_weights(p, e);
    if (rc < 0)
        goto fail;
    p->rec = calloc((size_t)(p->o.max_batch + 1) * 2, sizeof(*p->rec));
    if (p->rec == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate plan");
        goto fail;
    }
    rc = record(p, p->o.max_batch, p->o.pre.enabled ? 1 : 0, e);
    if (rc < 0)
        goto fail;
    p->n_dispatch = p->rec[p->o.max_batch * 2 + (p->o.pre.enabled ? 1 : 0)].n_dispatch;
    rt_pipeline_cache_save(dev);
    *out = p;
    return 0;
fail:
    rt_plan_destroy(p);
    return rc;
}

/* destroys the plan; NULL ok */
void rt_plan_destroy(struct rt_plan *p)
{
    if (p == NULL)
        return;
    struct rt_device *d = p->dev;
    if (d->dev != VK_NULL_HANDLE)
        vkDeviceWaitIdle(d->dev);
    if (p->rec != NULL)
        for (int i = 0; i < (p->o.max_batch + 1) * 2; i++) {
            if (p->rec[i].cmd != VK_NULL_HANDLE)
                vkFreeCommandBuffers(d->dev, d->cmd_pool, 1, &p->rec[i].cmd);
            if (p->rec[i].pool != VK_NULL_HANDLE)
                vkDestroyDescriptorPool(d->dev, p->rec[i].pool, NULL);
            if (p->rec[i].qp != VK_NULL_HANDLE)
                vkDestroyQueryPool(d->dev, p->rec[i].qp, NULL);
            for (int j = 0; j < p->rec[i].n_views; j++)
                vkDestroyBufferView(d->dev, p->rec[i].views[j], NULL);
            free(p->rec[i].views);
            free(p->rec[i].qsh);
        }
    free(p->rec);
    if (p->fence != VK_NULL_HANDLE)
        vkDestroyFence(d->dev, p->fence, NULL);
    for (int i = RT_REG_KINDS - 1; i >= 0; i--)
        rt_buffer_destroy(d, &p->buf[i]);
    free(p->reg);
    free(p->wscale);
    rt_graph_free(p->g);
    free(p);
}

/* VKV_RT_PROFILE=1: per-shader device time of the last run, to stderr */
static void profile_print(struct rt_plan *p, struct rt_rec *rec)
{
    int n = rec->n_dispatch;
    uint64_t *ts = calloc((size_t)n + 1, sizeof(uint64_t));
    double per[RT_SHADER_COUNT + 1] = {0};
    int cnt[RT_SHADER_COUNT + 1] = {0};
    if (ts == NULL)
        return;
    if (vkGetQueryPoolResults(p->dev->dev, rec->qp, 0, (uint32_t)n + 1,
                              ((size_t)n + 1) * sizeof(uint64_t), ts, sizeof(uint64_t),
                              VK_QUERY_RESULT_64_BIT) == VK_SUCCESS) {
        VkPhysicalDeviceProperties pr;
        vkGetPhysicalDeviceProperties(p->dev->phys, &pr);
        double tick = pr.limits.timestampPeriod, total = 0;
        for (int i = 0; i < n; i++) {
            double us = (double)(ts[i + 1] - ts[i]) * tick / 1000.0;
            per[rec->qsh[i]] += us;
            cnt[rec->qsh[i]]++;
            total += us;
        }
        for (int s = 0; s < RT_SHADER_COUNT; s++)
            if (cnt[s])
                fprintf(stderr, "profile %-12s %4d dispatches %9.1f us\n", rt_shaders[s].name,
                        cnt[s], per[s]);
        fprintf(stderr, "profile total        %4d dispatches %9.1f us\n", n, total);
    }
    free(ts);
}

static int run_common(struct rt_plan *p, int batch, int rgb, float **outputs, struct err *e)
{
    struct rt_rec *rec = &p->rec[batch * 2 + rgb];
    if (rec->cmd == VK_NULL_HANDLE) {
        int rc = record(p, batch, rgb, e);
        if (rc < 0)
            return rc;
    }
    int rc = submit_wait(p, rec->cmd, e);
    if (rc < 0)
        return rc;
    if (rec->qp != VK_NULL_HANDLE)
        profile_print(p, rec);
    const uint8_t *st = p->buf[RT_REG_STAGE].map;
    for (int i = 0; i < p->g->n_outputs; i++) {
        const struct rt_tensor *t = &p->g->tensors[p->g->outputs[i]];
        size_t per = (size_t)(rt_tensor_nelem(t) / p->o.max_batch);
        memcpy(outputs[i], st + p->out_off[i], per * (size_t)batch * 4);
    }
    return 0;
}

static int batch_check(const struct rt_plan *p, int batch, struct err *e)
{
    if (batch < 1 || batch > p->o.max_batch)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_batch",
                       "invalid batch size %d (plan max %d)", batch, p->o.max_batch);
    return 0;
}

/* runs float inputs; see rt.h */
int rt_plan_run(struct rt_plan *p, int batch, const float *const *inputs, float **outputs,
                struct err *e)
{
    int rc = batch_check(p, batch, e);
    if (rc < 0)
        return rc;
    uint8_t *st = p->buf[RT_REG_STAGE].map;
    for (int i = 0; i < p->g->n_inputs; i++) {
        const struct rt_tensor *t = &p->g->tensors[p->g->inputs[i]];
        size_t per = (size_t)(rt_tensor_nelem(t) / p->o.max_batch);
        memcpy(st + p->in_off[i], inputs[i], per * (size_t)batch * 4);
    }
    return run_common(p, batch, 0, outputs, e);
}

/* runs RGB8 images through the preprocessing shader; see rt.h */
int rt_plan_run_rgb8(struct rt_plan *p, int batch, const struct rt_image *imgs, float **outputs,
                     struct err *e)
{
    int rc = batch_check(p, batch, e);
    if (rc < 0)
        return rc;
    if (!p->o.pre.enabled)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                       "plan was created without preprocessing");
    if (p->g->n_inputs != 1)
        return err_set(e, RT_UNSUPPORTED, ERR_INVALID, "invalid_argument",
                       "rgb8 input needs a single-input graph (has %d)", p->g->n_inputs);
    uint8_t *st = p->buf[RT_REG_STAGE].map;
    uint32_t *params = (uint32_t *)(st + p->params_off);
    uint64_t at = 0;
    for (int i = 0; i < batch; i++) {
        const struct rt_image *im = &imgs[i];
        if (im->rgb == NULL || im->w < 1 || im->h < 1 || im->w > p->o.pre.max_w ||
            im->h > p->o.pre.max_h)
            return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                           "invalid image %d size %dx%d (max %dx%d)", i, im->w, im->h,
                           p->o.pre.max_w, p->o.pre.max_h);
        uint64_t n = (uint64_t)im->w * (uint64_t)im->h * 3;
        if (at + n > p->pix_size)
            return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                           "images exceed the staging area");
        memcpy(st + p->pix_off + at, im->rgb, n);
        params[i * 4 + 0] = (uint32_t)im->w;
        params[i * 4 + 1] = (uint32_t)im->h;
        params[i * 4 + 2] = (uint32_t)at;
        params[i * 4 + 3] = 0;
        at = align_up(at + n, 4);
    }
    return run_common(p, batch, 1, outputs, e);
}

size_t rt_plan_device_bytes(const struct rt_plan *p)
{
    return (size_t)(p->size[RT_REG_ACT] + p->size[RT_REG_WEIGHT] + p->size[RT_REG_STAGE]);
}

size_t rt_plan_weight_bytes(const struct rt_plan *p)
{
    return p->weight_bytes;
}

int rt_plan_dispatch_count(const struct rt_plan *p)
{
    return p->n_dispatch;
}

int rt_plan_node_count(const struct rt_plan *p)
{
    return p->g->n_nodes;
}

int rt_plan_input_count(const struct rt_plan *p)
{
    return p->g->n_inputs;
}

int rt_plan_output_count(const struct rt_plan *p)
{
    return p->g->n_outputs;
}

static int shape_get(const struct rt_tensor *t, int64_t *shape)
{
    for (int i = 0; i < RT_MAX_DIMS; i++)
        shape[i] = i < t->ndim ? t->shape[i] : 0;
    return t->ndim;
}

int rt_plan_input_shape(const struct rt_plan *p, int i, int64_t *shape)
{
    if (i < 0 || i >= p->g->n_inputs)
        return RT_ERR_INVALID;
    return shape_get(&p->g->tensors[p->g->inputs[i]], shape);
}

int rt_plan_output_shape(const struct rt_plan *p, int i, int64_t *shape)
{
    if (i < 0 || i >= p->g->n_outputs)
        return RT_ERR_INVALID;
    return shape_get(&p->g->tensors[p->g->outputs[i]], shape);
}

const char *rt_plan_output_name(const struct rt_plan *p, int i)
{
    if (i < 0 || i >= p->g->n_outputs)
        return NULL;
    return p->g->tensors[p->g->outputs[i]].name;
}

/* the optimised graph (borrowed; valid until rt_plan_destroy), for packing/tests */
const struct rt_graph *rt_plan_graph(const struct rt_plan *p)
{
    return p->g;
}

/* barriers recorded for batch max_batch (float input); for tests and bench */
int rt_plan_barrier_count(const struct rt_plan *p)
{
    return p->rec[p->o.max_batch * 2 + (p->o.pre.enabled ? 1 : 0)].n_barrier;
}
