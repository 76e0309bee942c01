/*
 * rt_record.c: the command recorder (see rt_record.h and runtime/README.md
 * "Plans").
 */
#include "runtime/vk/rt_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rt_gpu's format table follows enum rt_texel */
_Static_assert(RT_TEXEL_R32UI + 1 == RT_GPU_TEXEL_FORMATS, "a texel kind without a format");

#define MAX_REC 64 /* pending hazard regions before a forced barrier */

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

/* builds the preprocessing dispatch (input 0 from RGB8) */
static int build_pre(const struct rt_record_ctx *p, struct rt_build *b, const struct rt_graph *g,
                     struct err *e)
{
    const struct rt_tensor *x = &g->tensors[g->inputs[0]];
    struct rt_dispatch *d = rt_build_add(b, RT_SHADER_PREPROCESS, -1, e);
    if (d == NULL)
        return e->status;
    const struct rt_preprocess *pp = p->pre;
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
        d, (struct rt_region){RT_REG_STAGE, p->mp->params_off, (uint64_t)p->max_batch * 16}, 0);
    rt_dispatch_bind(d, (struct rt_region){RT_REG_STAGE, p->mp->pix_off, p->mp->pix_size}, 0);
    rt_dispatch_bind(d, p->mp->reg[g->inputs[0]], 1);
    /* the pixel words through an R32UI texel buffer where it fits: a vector
       gather on llvmpipe instead of a per-lane load loop */
    if (p->tgt->use_texel && p->mp->pix_size / 4 <= p->tgt->caps.max_texel_elements) {
        d->shader = RT_SHADER_PREPROCESS_TX;
        d->bind[1].texel = RT_TEXEL_R32UI;
    }
    memcpy(d->push, &pc, sizeof(pc));
    d->push_size = sizeof(pc);
    /* 4 output pixels per invocation, 64 per workgroup (preprocess.comp) */
    uint32_t gx = (pc.ow + 4 * 64 - 1) / (4 * 64);
    const uint32_t *lim = p->tgt->caps.max_wg_count;
    if (gx > lim[0] || pc.oh > lim[1] || pc.n > lim[2])
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "preprocessing to %ux%u x %u images too large for one dispatch", pc.ow,
                       pc.oh, pc.n);
    d->groups[0] = gx;
    d->groups[1] = pc.oh;
    d->groups[2] = pc.n;
    return 0;
}

/* builds the dispatch list of g into b (b->d owned by the caller) */
static int build_list(const struct rt_record_ctx *p, const struct rt_graph *g, int rgb,
                      struct rt_build *b, struct err *e)
{
    memset(b, 0, sizeof(*b));
    b->t = p->tgt;
    b->g = g;
    b->reg = p->mp->reg;
    b->wscale = p->mp->wscale;
    b->zero_bias = &p->mp->zero_bias;
    b->fuse = p->fuse;
    int rc = 0;
    if (rgb)
        rc = build_pre(p, b, g, e);
    for (int k = 0; k < g->n_nodes && rc == 0; k++)
        rc = rt_ops_build(b, k, e);
    if (rc < 0) {
        free(b->d);
        b->d = NULL;
    }
    return rc;
}

/* a dispatch's bindings that are uniform texel buffers, bit per binding */
static uint32_t texel_mask(const struct rt_dispatch *x)
{
    uint32_t m = 0;
    for (int j = 0; j < x->n_bind; j++)
        if (x->bind[j].texel)
            m |= 1u << j;
    return m;
}

/* every pipeline of the list, created up front on several threads */
static int prepare_pipelines(struct rt_pipes *pipes, const struct rt_build *b, struct err *e)
{
    struct rt_pipe_req *rq = calloc((size_t)(b->n > 0 ? b->n : 1), sizeof(*rq));
    if (rq == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate pipeline requests");
    for (int i = 0; i < b->n; i++) {
        const struct rt_dispatch *x = &b->d[i];
        rq[i] = (struct rt_pipe_req){x->shader, x->spec, x->n_spec, x->n_bind, texel_mask(x)};
    }
    int rc = rt_pipeline_prepare(pipes, rq, b->n, e);
    free(rq);
    return rc;
}

/* records g; see rt_record.h */
int rt_record_build(const struct rt_record_ctx *p, const struct rt_graph *g, int rgb,
                    struct rt_rec *rec, struct err *e)
{
    struct rt_gpu *d = &p->dev->gpu;
    struct rt_pipes *pipes = &p->dev->pipes;
    struct rt_build b;
    int rc = build_list(p, g, rgb, &b, e);
    if (rc < 0)
        return rc;
    rc = prepare_pipelines(pipes, &b, e);
    if (rc < 0) {
        free(b.d);
        return rc;
    }
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
    rc = rt_command_alloc(d, &rec->cmd, e);
    if (rc < 0)
        goto out;
    VkCommandBuffer cmd = rec->cmd;
    if (p->profile) {
        VkQueryPoolCreateInfo qci = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = (uint32_t)b.n + 1,
        };
        rec->qsh = calloc((size_t)b.n + 1, sizeof(*rec->qsh));
        rec->qflop = calloc((size_t)b.n + 1, sizeof(*rec->qflop));
        if (p->profile == 2) {
            rec->qlabel = calloc((size_t)b.n + 1, sizeof(*rec->qlabel));
            rec->qgrid = calloc((size_t)b.n + 1, sizeof(*rec->qgrid));
        }
        if (rec->qsh == NULL || rec->qflop == NULL ||
            vkCreateQueryPool(d->dev, &qci, NULL, &rec->qp) != VK_SUCCESS)
            rec->qp = VK_NULL_HANDLE;
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    vkBeginCommandBuffer(cmd, &bi);
    if (rec->qp != VK_NULL_HANDLE)
        vkCmdResetQueryPool(cmd, rec->qp, 0, (uint32_t)b.n + 1);
    /* inputs: staging -> activation regions */
    for (int i = rgb ? 1 : 0; i < g->n_inputs; i++) {
        VkBufferCopy cp = {p->mp->in_off[i], p->mp->reg[g->inputs[i]].off,
                           (uint64_t)rt_tensor_nelem(&g->tensors[g->inputs[i]]) * 4};
        vkCmdCopyBuffer(cmd, p->buf[RT_REG_STAGE].buf, p->buf[RT_REG_ACT].buf, 1, &cp);
    }
    rt_command_barrier(cmd, VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_ACCESS_HOST_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    struct hazard hz;
    hz.nw = hz.nr = 0;
    rec->n_barrier = 0;
    for (int i = 0; i < b.n; i++) {
        const struct rt_dispatch *x = &b.d[i];
        uint32_t tmask = texel_mask(x);
        VkPipeline pipe =
            rt_pipeline_get(pipes, x->shader, x->spec, x->n_spec, x->n_bind, tmask, e);
        VkDescriptorSetLayout dsl;
        VkPipelineLayout pl;
        if (pipe == VK_NULL_HANDLE ||
            rt_pipeline_layout(pipes, x->n_bind, tmask, &dsl, &pl, e) < 0) {
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
                int f = x->bind[j].texel;
                uint64_t tb = rt_gpu_texel_bytes[f];
                VkBufferViewCreateInfo vci = {
                    .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                    .buffer = p->buf[x->bind[j].r.kind].buf,
                    .format = rt_gpu_texel_format[f],
                    .offset = x->bind[j].r.off,
                    .range = x->bind[j].r.size / tb * tb,
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
            rt_command_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                               VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
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
            rec->qflop[i] = x->flops;
            if (rec->qlabel != NULL && rec->qgrid != NULL) {
                if (x->node >= 0)
                    snprintf(rec->qlabel[i], RT_NAME_LEN, "%s", g->nodes[x->node].name);
                memcpy(rec->qgrid[i], x->groups, sizeof(rec->qgrid[i]));
            }
        }
    }
    rt_command_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    for (int i = 0; i < g->n_outputs; i++) {
        const struct rt_region *o = &p->mp->reg[g->outputs[i]];
        VkBufferCopy cp = {o->off, p->mp->out_off[i],
                           (uint64_t)rt_tensor_nelem(&g->tensors[g->outputs[i]]) * 4};
        vkCmdCopyBuffer(cmd, p->buf[o->kind].buf, p->buf[RT_REG_STAGE].buf, 1, &cp);
    }
    rt_command_barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    r = vkEndCommandBuffer(cmd);
    if (r != VK_SUCCESS) {
        rc = rt_vk_fail(r, "vkEndCommandBuffer", __FILE__, __LINE__, e);
        goto out;
    }
    rec->n_dispatch = b.n;
out:
    if (rc < 0)
        rt_record_free(d, rec);
    free(b.d);
    return rc;
}

void rt_record_free(struct rt_gpu *d, struct rt_rec *rec)
{
    rt_command_free(d, rec->cmd);
    if (rec->pool != VK_NULL_HANDLE)
        vkDestroyDescriptorPool(d->dev, rec->pool, NULL);
    if (rec->qp != VK_NULL_HANDLE)
        vkDestroyQueryPool(d->dev, rec->qp, NULL);
    for (int i = 0; i < rec->n_views; i++)
        vkDestroyBufferView(d->dev, rec->views[i], NULL);
    free(rec->views);
    free(rec->qsh);
    free(rec->qflop);
    free(rec->qlabel);
    free(rec->qgrid);
    memset(rec, 0, sizeof(*rec));
}
