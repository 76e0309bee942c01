/*
 * rt_tf.c: transformer kernels (see rt_tf.h): buffers, the dispatch
 * recorder with hazard-tracked barriers, quantised weight upload and the
 * per-op recording functions.  Each op validates its shape against the
 * kernel's contract and its refs against the bytes the kernel touches.
 */
#include "runtime/tfm/rt_tf.h"
#include "common/cm.h"
#include "runtime/tfm/rt_tf_push.h"
#include "runtime/tfm/rt_tf_ref.h"

#include <stdlib.h>
#include <string.h>

/* ---- buffers ---------------------------------------------------------------- */

int rt_tf_buf_init(struct rt_device *d, uint64_t size, int host, struct rt_tf_buf **out,
                   struct err *e)
{
    struct rt_tf_buf *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a buffer");
    enum rt_mem_kind kind = host ? RT_MEM_HOST : (d->gpu.caps.uma ? RT_MEM_UMA : RT_MEM_DEVICE);
    int rc = rt_buffer_create(&d->gpu, size, kind, &b->b, e);
    if (rc < 0) {
        free(b);
        return rc;
    }
    b->host = host;
    *out = b;
    return 0;
}

void rt_tf_buf_free(struct rt_device *d, struct rt_tf_buf *b)
{
    if (b == NULL)
        return;
    rt_buffer_destroy(&d->gpu, &b->b);
    free(b);
}

struct rt_tf_ref rt_tf_whole(struct rt_tf_buf *b)
{
    return (struct rt_tf_ref){b, 0, b->b.size};
}

struct rt_tf_ref rt_tf_sub(struct rt_tf_ref r, uint64_t off, uint64_t size)
{
    CM_ASSERT(off + size <= r.size);
    return (struct rt_tf_ref){r.buf, r.off + off, size};
}

static int one_shot_copy(struct rt_device *d, VkBuffer src, uint64_t so, VkBuffer dst, uint64_t dof,
                         uint64_t n, struct err *e)
{
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = d->gpu.cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkCommandBuffer cmd;
    RT_VK_TRY(vkAllocateCommandBuffers(d->gpu.dev, &ai, &cmd));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    vkBeginCommandBuffer(cmd, &bi);
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                         1, &mb, 0, NULL, 0, NULL);
    VkBufferCopy cp = {so, dof, n};
    vkCmdCopyBuffer(cmd, src, dst, 1, &cp);
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0,
                         1, &mb, 0, NULL, 0, NULL);
    VkResult r = vkEndCommandBuffer(cmd);
    VkFence f = VK_NULL_HANDLE;
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (r == VK_SUCCESS)
        r = vkCreateFence(d->gpu.dev, &fci, NULL, &f);
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    if (r == VK_SUCCESS)
        r = vkQueueSubmit(d->gpu.queue, 1, &si, f);
    if (r == VK_SUCCESS)
        r = vkWaitForFences(d->gpu.dev, 1, &f, VK_TRUE, d->gpu.timeout_ns);
    if (f != VK_NULL_HANDLE)
        vkDestroyFence(d->gpu.dev, f, NULL);
    vkFreeCommandBuffers(d->gpu.dev, d->gpu.cmd_pool, 1, &cmd);
    if (r != VK_SUCCESS)
        return rt_vk_fail(r, "buffer copy", __FILE__, __LINE__, e);
    return 0;
}

int rt_tf_buf_write(struct rt_device *d, struct rt_tf_buf *b, uint64_t off, const void *src,
                    uint64_t n, struct err *e)
{
    if (off + n > b->b.size)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                       "write of %llu bytes past a buffer", (unsigned long long)n);
    if (b->b.map != NULL) {
        memcpy((char *)b->b.map + off, src, (size_t)n);
        return 0;
    }
    struct rt_buffer st;
    int rc = rt_buffer_create(&d->gpu, n, RT_MEM_HOST, &st, e);
    if (rc < 0)
        return rc;
    memcpy(st.map, src, (size_t)n);
    rc = one_shot_copy(d, st.buf, 0, b->b.buf, off, n, e);
    rt_buffer_destroy(&d->gpu, &st);
    return rc;
}

int rt_tf_buf_read(struct rt_device *d, struct rt_tf_buf *b, uint64_t off, void *dst, uint64_t n,
                   struct err *e)
{
    if (off + n > b->b.size)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                       "read of %llu bytes past a buffer", (unsigned long long)n);
    if (b->b.map != NULL) {
        memcpy(dst, (const char *)b->b.map + off, (size_t)n);
        return 0;
    }
    struct rt_buffer st;
    int rc = rt_buffer_create(&d->gpu, n, RT_MEM_HOST, &st, e);
    if (rc < 0)
        return rc;
    rc = one_shot_copy(d, b->b.buf, off, st.buf, 0, n, e);
    if (rc == 0)
        memcpy(dst, st.map, (size_t)n);
    rt_buffer_destroy(&d->gpu, &st);
    return rc;
}

/* ---- sequences ------------------------------------------------------------------- */

#define MAX_PEND 64 /* pending hazard ranges before a forced barrier */
#define SETS_PER_POOL 256
#define MAX_POOLS 64

struct rt_tf_seq {
    struct rt_device *d;
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool pools[MAX_POOLS];
    int n_pools, sets_in_pool;
    int n_dispatch, n_barrier, ended;
    VkBufferView *views; /* texel-buffer views of this recording */
    int n_views, cap_views;
    uint64_t texel_align; /* minTexelBufferOffsetAlignment; 0: no RGBA32UI/F texel buffers */
    struct rt_tf_ref w[MAX_PEND], r[MAX_PEND];
    int nw, nr;
};

int rt_tf_seq_init(struct rt_device *d, struct rt_tf_seq **out, struct err *e)
{
    struct rt_tf_seq *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a sequence");
    s->d = d;
    s->sets_in_pool = SETS_PER_POOL;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = d->gpu.cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkResult r = vkAllocateCommandBuffers(d->gpu.dev, &ai, &s->cmd);
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (r == VK_SUCCESS)
        r = vkCreateFence(d->gpu.dev, &fci, NULL, &s->fence);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    if (r == VK_SUCCESS)
        r = vkBeginCommandBuffer(s->cmd, &bi);
    if (r != VK_SUCCESS) {
        rt_tf_seq_free(s);
        return rt_vk_fail(r, "sequence init", __FILE__, __LINE__, e);
    }
    VkPhysicalDeviceProperties pp;
    vkGetPhysicalDeviceProperties(d->gpu.phys, &pp);
    VkFormatProperties fu, ff;
    vkGetPhysicalDeviceFormatProperties(d->gpu.phys, VK_FORMAT_R32G32B32A32_UINT, &fu);
    vkGetPhysicalDeviceFormatProperties(d->gpu.phys, VK_FORMAT_R32G32B32A32_SFLOAT, &ff);
    VkFormatFeatureFlags want = VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT;
    if ((fu.bufferFeatures & want) && (ff.bufferFeatures & want))
        s->texel_align =
            pp.limits.minTexelBufferOffsetAlignment ? pp.limits.minTexelBufferOffsetAlignment : 1;
    *out = s;
    return 0;
}

int rt_tf_seq_texel_ok(const struct rt_tf_seq *s, struct rt_tf_ref r)
{
    /* host-visible buffers are made without the texel-buffer usage */
    return s->texel_align != 0 && !r.buf->host && r.off % s->texel_align == 0 && r.size % 16 == 0 &&
           r.size / 16 <= s->d->gpu.caps.max_texel_elements;
}

void rt_tf_seq_free(struct rt_tf_seq *s)
{
    if (s == NULL)
        return;
    struct rt_device *d = s->d;
    for (int i = 0; i < s->n_pools; i++)
        vkDestroyDescriptorPool(d->gpu.dev, s->pools[i], NULL);
    for (int i = 0; i < s->n_views; i++)
        vkDestroyBufferView(d->gpu.dev, s->views[i], NULL);
    free(s->views);
    if (s->fence != VK_NULL_HANDLE)
        vkDestroyFence(d->gpu.dev, s->fence, NULL);
    if (s->cmd != VK_NULL_HANDLE)
        vkFreeCommandBuffers(d->gpu.dev, d->gpu.cmd_pool, 1, &s->cmd);
    free(s);
}

int rt_tf_seq_dispatches(const struct rt_tf_seq *s)
{
    return s->n_dispatch;
}

int rt_tf_seq_barriers(const struct rt_tf_seq *s)
{
    return s->n_barrier;
}

static void full_barrier(struct rt_tf_seq *s)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(s->cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
    s->n_barrier++;
    s->nw = s->nr = 0;
}

static int ov(const struct rt_tf_ref *a, const struct rt_tf_ref *b)
{
    return a->buf == b->buf && a->off < b->off + b->size && b->off < a->off + a->size;
}

/* barrier when binding set b conflicts with pending accesses; then records them */
static void hazard(struct rt_tf_seq *s, const struct rt_tf_bind *b, int nb)
{
    int need = s->nw + nb > MAX_PEND || s->nr + nb > MAX_PEND;
    for (int i = 0; i < nb && !need; i++) {
        for (int j = 0; j < s->nw && !need; j++)
            need = ov(&b[i].r, &s->w[j]);
        if (b[i].write)
            for (int j = 0; j < s->nr && !need; j++)
                need = ov(&b[i].r, &s->r[j]);
    }
    if (need)
        full_barrier(s);
    for (int i = 0; i < nb; i++) {
        if (b[i].write)
            s->w[s->nw++] = b[i].r;
        else
            s->r[s->nr++] = b[i].r;
    }
}

int rt_tf_seq_copy(struct rt_tf_seq *s, struct rt_tf_ref src, struct rt_tf_ref dst, struct err *e)
{
    if (dst.size < src.size)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "copy destination too small");
    struct rt_tf_bind b[2] = {{src, 0, 0}, {rt_tf_sub(dst, 0, src.size), 1, 0}};
    hazard(s, b, 2);
    VkBufferCopy cp = {src.off, dst.off, src.size};
    vkCmdCopyBuffer(s->cmd, src.buf->b.buf, dst.buf->b.buf, 1, &cp);
    return 0;
}

int rt_tf_seq_dispatch(struct rt_tf_seq *s, enum rt_shader_id sh, const uint32_t *spec, int n_spec,
                       const struct rt_tf_bind *b, int nb, const void *push, uint32_t push_size,
                       uint32_t gx, uint32_t gy, uint32_t gz, struct err *e)
{
    struct rt_device *d = s->d;
    CM_ASSERT(!s->ended && nb >= 1 && nb <= RT_MAX_BINDINGS && push_size <= 128);
    if (gx > d->gpu.caps.max_wg_count[0] || gy > d->gpu.caps.max_wg_count[1] ||
        gz > d->gpu.caps.max_wg_count[2])
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "dispatch grid %ux%ux%u over the device limit", gx, gy, gz);
    for (int i = 0; i < nb; i++)
        if (b[i].r.buf == NULL || b[i].r.size == 0 || b[i].r.size > d->gpu.caps.max_storage_range ||
            b[i].r.off % d->gpu.caps.min_storage_align != 0)
            return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                           "binding %d of %s: empty, misaligned or over maxStorageBufferRange", i,
                           rt_shaders[sh].name);
    uint32_t tmask = 0;
    for (int i = 0; i < nb; i++)
        if (b[i].texel != RT_TF_TEXEL_NONE) {
            if (b[i].write || !rt_tf_seq_texel_ok(s, b[i].r))
                return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                               "binding %d of %s cannot be a texel buffer", i, rt_shaders[sh].name);
            tmask |= 1u << i;
        }
    VkPipeline pipe = rt_pipeline_get(&d->pipes, sh, spec, n_spec, nb, tmask, e);
    VkDescriptorSetLayout dsl;
    VkPipelineLayout pl;
    if (pipe == VK_NULL_HANDLE || rt_pipeline_layout(&d->pipes, nb, tmask, &dsl, &pl, e) < 0)
        return e->status;
    if (tmask != 0 && s->n_views + nb > s->cap_views) {
        int cap = s->cap_views ? s->cap_views * 2 : 64;
        VkBufferView *v = realloc(s->views, (size_t)cap * sizeof(*v));
        if (v == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not grow buffer views");
        s->views = v;
        s->cap_views = cap;
    }
    if (s->sets_in_pool == SETS_PER_POOL) {
        if (s->n_pools == MAX_POOLS)
            return err_set(e, RT_ERR_TOO_LARGE, ERR_INTERNAL, "internal",
                           "sequence over %d dispatches", MAX_POOLS * SETS_PER_POOL);
        VkDescriptorPoolSize ps[2] = {
            {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * RT_MAX_BINDINGS},
            {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, SETS_PER_POOL * 2},
        };
        VkDescriptorPoolCreateInfo pci = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            .maxSets = SETS_PER_POOL,
            .poolSizeCount = 2,
            .pPoolSizes = ps,
        };
        RT_VK_TRY(vkCreateDescriptorPool(d->gpu.dev, &pci, NULL, &s->pools[s->n_pools]));
        s->n_pools++;
        s->sets_in_pool = 0;
    }
    VkDescriptorSetAllocateInfo dai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = s->pools[s->n_pools - 1],
        .descriptorSetCount = 1,
        .pSetLayouts = &dsl,
    };
    VkDescriptorSet set;
    RT_VK_TRY(vkAllocateDescriptorSets(d->gpu.dev, &dai, &set));
    s->sets_in_pool++;
    VkDescriptorBufferInfo bi[RT_MAX_BINDINGS];
    VkWriteDescriptorSet ws[RT_MAX_BINDINGS];
    for (int i = 0; i < nb; i++) {
        bi[i] = (VkDescriptorBufferInfo){b[i].r.buf->b.buf, b[i].r.off, b[i].r.size};
        ws[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &bi[i],
        };
        if (b[i].texel != RT_TF_TEXEL_NONE) {
            VkBufferViewCreateInfo vci = {
                .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                .buffer = b[i].r.buf->b.buf,
                .format = b[i].texel == RT_TF_TEXEL_U32X4 ? VK_FORMAT_R32G32B32A32_UINT
                                                          : VK_FORMAT_R32G32B32A32_SFLOAT,
                .offset = b[i].r.off,
                .range = b[i].r.size,
            };
            RT_VK_TRY(vkCreateBufferView(d->gpu.dev, &vci, NULL, &s->views[s->n_views]));
            ws[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
            ws[i].pBufferInfo = NULL;
            ws[i].pTexelBufferView = &s->views[s->n_views++];
        }
    }
    vkUpdateDescriptorSets(d->gpu.dev, (uint32_t)nb, ws, 0, NULL);
    hazard(s, b, nb);
    vkCmdBindPipeline(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vkCmdBindDescriptorSets(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pl, 0, 1, &set, 0, NULL);
    if (push_size > 0)
        vkCmdPushConstants(s->cmd, pl, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    vkCmdDispatch(s->cmd, gx, gy, gz);
    s->n_dispatch++;
    return 0;
}

int rt_tf_seq_end(struct rt_tf_seq *s, struct err *e)
{
    struct rt_device *d = s->d;
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    vkCmdPipelineBarrier(s->cmd,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    s->ended = 1;
    RT_VK_TRY(vkEndCommandBuffer(s->cmd));
    (void)d;
    return 0;
}

int rt_tf_seq_kick(struct rt_tf_seq *s, struct err *e)
{
    struct rt_device *d = s->d;
    CM_ASSERT(s->ended);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &s->cmd};
    RT_VK_TRY(vkQueueSubmit(d->gpu.queue, 1, &si, s->fence));
    return 0;
}

int rt_tf_seq_wait(struct rt_tf_seq *s, struct err *e)
{
    struct rt_device *d = s->d;
    VkResult r = vkWaitForFences(d->gpu.dev, 1, &s->fence, VK_TRUE, d->gpu.timeout_ns);
    if (r == VK_TIMEOUT)
        return err_set(e, RT_ERR_TIMEOUT, ERR_UNAVAILABLE, "device_timeout",
                       "sequence did not finish within %llu ms",
                       (unsigned long long)(d->gpu.timeout_ns / 1000000));
    if (r != VK_SUCCESS)
        return rt_vk_fail(r, "vkWaitForFences", __FILE__, __LINE__, e);
    RT_VK_TRY(vkResetFences(d->gpu.dev, 1, &s->fence));
    return 0;
}

int rt_tf_seq_submit(struct rt_tf_seq *s, struct err *e)
{
    int rc = rt_tf_seq_kick(s, e);
    return rc < 0 ? rc : rt_tf_seq_wait(s, e);
}

/* ---- weights ------------------------------------------------------------------------ */

const char *rt_tf_wtype_name(int type)
{
    static const char *n[] = {"f32", "f16", "i8", "q4"};
    return type >= 0 && type <= 3 ? n[type] : "?";
}

int rt_tf_wtype_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, rt_tf_wtype_name(i)) == 0)
            return i;
    return -1;
}

static uint64_t al_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* bytes of `rows` rows of data / scales / zeros */
static void part_bytes(int type, uint64_t rows, uint64_t k, uint64_t group, uint64_t *data,
                       uint64_t *sc, uint64_t *zp)
{
    static const int bits[] = {32, 16, 8, 4};
    *data = rows * k * (uint64_t)bits[type] / 8;
    *sc = type == RT_TF_I8 ? rows * 4 : (type == RT_TF_Q4 ? rows * k / group * 4 : 0);
    *zp = type == RT_TF_Q4 ? rows * k / group * 4 : 0;
}

/* the layout of a weight in one buffer and where the host writes it */
struct wlayout {
    uint64_t offs[RT_TF_MAX_PARTS][3], sz[RT_TF_MAX_PARTS][3], bias_off, total;
    uint8_t *host;       /* mapped weight buffer, or the staging buffer */
    struct rt_buffer st; /* staging (non-UMA devices) */
};

static int weight_alloc(struct rt_device *d, int type, uint32_t n, uint32_t k, uint32_t group,
                        struct rt_tf_weight *out, struct wlayout *L, struct err *e)
{
    memset(out, 0, sizeof(*out));
    memset(L, 0, sizeof(*L));
    if (type < 0 || type > 3 || n == 0 || k == 0 || k % 8 != 0 ||
        (type == RT_TF_Q4 && ((group != 32 && group != 64 && group != 128) || k % group != 0)))
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "invalid_weight",
                       "cannot store a %ux%u weight as %s (group %u)", n, k, rt_tf_wtype_name(type),
                       group);
    uint64_t al = d->gpu.caps.min_storage_align > 256 ? d->gpu.caps.min_storage_align : 256;
    uint64_t row_d, row_s, row_z;
    part_bytes(type, 1, k, group, &row_d, &row_s, &row_z);
    /* parts of at most 1 GiB keep every element index of a part under 2^31
     * (the kernels index with 32-bit uints) whatever maxStorageBufferRange is */
    uint64_t range =
        d->gpu.caps.max_storage_range < (1ull << 30) ? d->gpu.caps.max_storage_range : (1ull << 30);
    uint64_t lim = d->opts.tf_part_bytes; /* tests: force several parts */
    if (lim > 0 && lim < range)
        range = lim;
    uint64_t rows = range / row_d;
    if (rows == 0)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "weight row of %llu bytes over maxStorageBufferRange",
                       (unsigned long long)row_d);
    if (rows > n)
        rows = n;
    /* parts start at 256-byte multiples of the bias (and scales) for every type */
    if (rows < n && rows >= 64)
        rows = rows / 64 * 64;
    int parts = (int)((n + rows - 1) / rows);
    if (parts > RT_TF_MAX_PARTS)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "weight %ux%u needs %d parts (limit %d)", n, k, parts, RT_TF_MAX_PARTS);
    out->type = type;
    out->n = n;
    out->k = k;
    out->group = type == RT_TF_Q4 ? group : 0;
    out->n_parts = parts;
    out->part_rows = (uint32_t)rows;
    uint64_t off = 0;
    for (int p = 0; p < parts; p++) {
        uint64_t pr = p == parts - 1 ? n - (uint64_t)p * rows : rows;
        part_bytes(type, pr, k, group, &L->sz[p][0], &L->sz[p][1], &L->sz[p][2]);
        for (int j = 0; j < 3; j++) {
            L->offs[p][j] = off;
            off = al_up(off + L->sz[p][j], al);
        }
    }
    L->bias_off = off;
    off = al_up(off + (uint64_t)n * 4, al);
    L->total = off;
    int rc = rt_tf_buf_init(d, off, 0, &out->buf, e);
    if (rc < 0)
        return rc;
    out->bytes = off;
    L->host = out->buf->b.map;
    if (L->host == NULL) {
        if ((rc = rt_buffer_create(&d->gpu, off, RT_MEM_HOST, &L->st, e)) < 0) {
            rt_tf_weight_free(d, out);
            return rc;
        }
        L->host = L->st.map;
    }
    struct rt_tf_ref whole = rt_tf_whole(out->buf);
    for (int p = 0; p < parts; p++) {
        out->data[p] = rt_tf_sub(whole, L->offs[p][0], L->sz[p][0]);
        /* kernels always bind scales and zeros: unused ones alias the bias */
        out->scale[p] = L->sz[p][1] ? rt_tf_sub(whole, L->offs[p][1], L->sz[p][1])
                                    : rt_tf_sub(whole, L->bias_off, (uint64_t)n * 4);
        out->zero[p] = L->sz[p][2] ? rt_tf_sub(whole, L->offs[p][2], L->sz[p][2])
                                   : rt_tf_sub(whole, L->bias_off, (uint64_t)n * 4);
    }
    out->bias = rt_tf_sub(whole, L->bias_off, (uint64_t)n * 4);
    return 0;
}

static int weight_finish(struct rt_device *d, const float *bias, struct rt_tf_weight *out,
                         struct wlayout *L, struct err *e)
{
    if (bias != NULL)
        memcpy(L->host + L->bias_off, bias, (size_t)out->n * 4);
    else
        memset(L->host + L->bias_off, 0, (size_t)out->n * 4);
    int rc = 0;
    if (L->st.buf != VK_NULL_HANDLE) {
        rc = one_shot_copy(d, L->st.buf, 0, out->buf->b.buf, 0, L->total, e);
        rt_buffer_destroy(&d->gpu, &L->st);
        if (rc < 0)
            rt_tf_weight_free(d, out);
    }
    return rc;
}

int rt_tf_weight_upload(struct rt_device *d, int type, uint32_t n, uint32_t k, const float *w,
                        const float *bias, struct rt_tf_weight *out, struct err *e)
{
    struct wlayout L;
    int rc = weight_alloc(d, type, n, k, RT_TF_Q4_GROUP, out, &L, e);
    if (rc < 0)
        return rc;
    for (int p = 0; p < out->n_parts; p++) {
        uint64_t r0 = (uint64_t)p * out->part_rows;
        uint32_t pr = (uint32_t)(p == out->n_parts - 1 ? n - r0 : out->part_rows);
        const float *src = w + r0 * k;
        uint8_t *dd = L.host + L.offs[p][0];
        if (type == RT_TF_F32) {
            memcpy(dd, src, (size_t)pr * k * 4);
        } else if (type == RT_TF_F16) {
            uint16_t *h = (uint16_t *)dd;
            for (uint64_t i = 0; i < (uint64_t)pr * k; i++)
                h[i] = rt_f32_to_f16(src[i]);
        } else if (type == RT_TF_I8) {
            rt_tfr_quant_i8(src, pr, k, (int8_t *)dd, (float *)(L.host + L.offs[p][1]));
        } else {
            rt_tfr_quant_q4(src, pr, k, (uint32_t *)dd, (float *)(L.host + L.offs[p][1]),
                            (float *)(L.host + L.offs[p][2]));
        }
    }
    return weight_finish(d, bias, out, &L, e);
}

int rt_tf_weight_upload_raw(struct rt_device *d, int type, uint32_t n, uint32_t k, uint32_t group,
                            const void *q, const float *scale, const float *zero, const float *bias,
                            struct rt_tf_weight *out, struct err *e)
{
    struct wlayout L;
    int rc = weight_alloc(d, type, n, k, type == RT_TF_Q4 ? group : 32, out, &L, e);
    if (rc < 0)
        return rc;
    if ((type == RT_TF_I8 || type == RT_TF_Q4) && scale == NULL) {
        rt_tf_weight_free(d, out);
        if (L.st.buf != VK_NULL_HANDLE)
            rt_buffer_destroy(&d->gpu, &L.st);
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "invalid_weight",
                       "%s weight without scales", rt_tf_wtype_name(type));
    }
    uint64_t dat0 = 0, sc0 = 0;
    for (int p = 0; p < out->n_parts; p++) {
        memcpy(L.host + L.offs[p][0], (const uint8_t *)q + dat0, (size_t)L.sz[p][0]);
        dat0 += L.sz[p][0];
        if (L.sz[p][1] > 0)
            memcpy(L.host + L.offs[p][1], (const uint8_t *)scale + sc0, (size_t)L.sz[p][1]);
        if (L.sz[p][2] > 0) {
            float *z = (float *)(L.host + L.offs[p][2]);
            for (uint64_t i = 0; i < L.sz[p][2] / 4; i++)
                z[i] = zero != NULL ? zero[sc0 / 4 + i] : 8.0f;
        }
        sc0 += L.sz[p][1];
    }
    return weight_finish(d, bias, out, &L, e);
}

void rt_tf_weight_free(struct rt_device *d, struct rt_tf_weight *w)
{
    rt_tf_buf_free(d, w->buf);
    memset(w, 0, sizeof(*w));
}

/* ---- ops ------------------------------------------------------------------------------ */

static int need(struct rt_tf_ref r, uint64_t bytes, const char *op, const char *what, struct err *e)
{
    if (r.buf == NULL || r.size < bytes)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                       "%s: %s holds %llu bytes, the kernel touches %llu", op, what,
                       (unsigned long long)r.size, (unsigned long long)bytes);
    return 0;
}

/* (x, y) grid for `groups` workgroups under 65535 per dimension */
static void fold(uint64_t groups, uint32_t *gx, uint32_t *gy)
{
    if (groups == 0)
        groups = 1;
    *gx = (uint32_t)(groups < 65535 ? groups : 65535);
    *gy = (uint32_t)((groups + *gx - 1) / *gx);
}

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

static uint64_t rows_bytes(uint64_t rows, uint64_t ld, uint64_t width)
{
    return rows == 0 ? 0 : ((rows - 1) * ld + width) * 4;
}

int rt_tf_layernorm(struct rt_tf_seq *s, struct rt_tf_ref x, uint32_t ldx, struct rt_tf_ref w,
                    struct rt_tf_ref b, struct rt_tf_ref y, uint32_t ldy, uint32_t rows,
                    uint32_t dim, float eps, struct err *e)
{
    CHECK(need(x, rows_bytes(rows, ldx, dim), "layernorm", "x", e));
    CHECK(need(y, rows_bytes(rows, ldy, dim), "layernorm", "y", e));
    CHECK(need(w, (uint64_t)dim * 4, "layernorm", "w", e));
    CHECK(need(b, (uint64_t)dim * 4, "layernorm", "b", e));
    struct rt_tf_push_ln pc = {rows, dim, ldx, ldy, eps};
    struct rt_tf_bind bd[4] = {{x, 0, 0}, {w, 0, 0}, {b, 0, 0}, {y, 1, 0}};
    uint32_t gx, gy;
    fold(rows, &gx, &gy);
    return rt_tf_seq_dispatch(s, RT_SHADER_TF_LAYERNORM, NULL, 0, bd, 4, &pc, sizeof(pc), gx, gy, 1,
                              e);
}

int rt_tf_eltwise(struct rt_tf_seq *s, int op, struct rt_tf_ref a, struct rt_tf_ref b, uint32_t nb,
                  struct rt_tf_ref y, uint32_t n, struct err *e)
{
    if (op < 0 || op > 2 || (op == RT_TF_ADD && nb == 0))
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "eltwise: bad op %d", op);
    CHECK(need(a, (uint64_t)n * 4, "eltwise", "a", e));
    CHECK(need(y, (uint64_t)n * 4, "eltwise", "y", e));
    if (op == RT_TF_ADD)
        CHECK(need(b, (uint64_t)nb * 4, "eltwise", "b", e));
    else
        b = a, nb = 1;
    struct rt_tf_push_elt pc = {n, nb};
    uint32_t spec[1] = {(uint32_t)op};
    struct rt_tf_bind bd[3] = {{a, 0, 0}, {b, 0, 0}, {y, 1, 0}};
    uint32_t gx, gy;
    fold(((uint64_t)n + 63) / 64, &gx, &gy);
    return rt_tf_seq_dispatch(s, RT_SHADER_TF_ELTWISE, spec, 1, bd, 3, &pc, sizeof(pc), gx, gy, 1,
                              e);
}

int rt_tf_softmax(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref y, uint32_t rows,
                  uint32_t len, uint32_t ld, uint32_t t, uint32_t pos0, uint32_t prefix, int causal,
                  float scale, struct err *e)
{
    if (t == 0 || len == 0)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "softmax: empty rows");
    CHECK(need(x, rows_bytes(rows, ld, len), "softmax", "x", e));
    CHECK(need(y, rows_bytes(rows, ld, len), "softmax", "y", e));
    struct rt_tf_push_softmax pc = {rows, len, ld, t, pos0, prefix, causal != 0, scale};
    struct rt_tf_bind bd[2] = {{x, 0, 0}, {y, 1, 0}};
    uint32_t gx, gy;
    fold(rows, &gx, &gy);
    return rt_tf_seq_dispatch(s, RT_SHADER_TF_SOFTMAX, NULL, 0, bd, 2, &pc, sizeof(pc), gx, gy, 1,
                              e);
}

int rt_tf_linear(struct rt_tf_seq *s, const struct rt_tf_weight *w, struct rt_tf_ref x,
                 uint32_t ldx, struct rt_tf_ref y, uint32_t ldy, uint32_t m, int act, int acc,
                 struct err *e)
{
    if (m == 0 || ldx % 4 != 0 || ldx < w->k || ldy < w->n || act < 0 || act > 2 || w->k % 16 != 0)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                       "linear: bad shape m %u ldx %u ldy %u for %ux%u", m, ldx, ldy, w->n, w->k);
    CHECK(need(x, rows_bytes(m, ldx, w->k), "linear", "x", e));
    CHECK(need(y, rows_bytes(m, ldy, w->n), "linear", "y", e));
    int force = s->d->opts.tf_linear; /* 1 mv, 2 mm */
    int mv = m <= 4;
    /* texel buffers on CPU devices: llvmpipe gathers a texel fetch as one
     * vector, a storage-buffer load lane by lane */
    int texel = s->d->opts.tf_texel >= 0 ? s->d->opts.tf_texel : s->d->gpu.caps.type[0] == 'c';
    texel = texel && rt_tf_seq_texel_ok(s, x);
    for (int p = 0; p < w->n_parts && texel; p++)
        texel = rt_tf_seq_texel_ok(s, w->data[p]);
    if (force == 2)
        mv = 0;
    else if (force == 1 && m <= 4)
        mv = 1;
    static const enum rt_shader_id mvs[] = {RT_SHADER_TF_LINEAR_MV_F32, RT_SHADER_TF_LINEAR_MV_F16,
                                            RT_SHADER_TF_LINEAR_MV_I8, RT_SHADER_TF_LINEAR_MV_Q4};
    static const enum rt_shader_id mvt[] = {
        RT_SHADER_TF_LINEAR_MV_TX_F32, RT_SHADER_TF_LINEAR_MV_TX_F16, RT_SHADER_TF_LINEAR_MV_TX_I8,
        RT_SHADER_TF_LINEAR_MV_TX_Q4};
    static const enum rt_shader_id mmt[] = {
        RT_SHADER_TF_LINEAR_MM_TX_F32, RT_SHADER_TF_LINEAR_MM_TX_F16, RT_SHADER_TF_LINEAR_MM_TX_I8,
        RT_SHADER_TF_LINEAR_MM_TX_Q4};
    static const enum rt_shader_id mms[] = {RT_SHADER_TF_LINEAR_MM_F32, RT_SHADER_TF_LINEAR_MM_F16,
                                            RT_SHADER_TF_LINEAR_MM_I8, RT_SHADER_TF_LINEAR_MM_Q4};
    uint32_t gshift = w->group == 128 ? 7 : (w->group == 64 ? 6 : 5);
    for (int p = 0; p < w->n_parts; p++) {
        uint32_t r0 = (uint32_t)p * w->part_rows;
        uint32_t pr = p == w->n_parts - 1 ? w->n - r0 : w->part_rows;
        struct rt_tf_push_linear pc = {m, pr, w->k, ldx, ldy, r0};
        struct rt_tf_ref bias = rt_tf_sub(w->bias, (uint64_t)r0 * 4, (uint64_t)pr * 4);
        /* the i8 row scale of output n is read at n within the part */
        int tf = texel ? RT_TF_TEXEL_F32X4 : 0, tu = texel ? RT_TF_TEXEL_U32X4 : 0;
        struct rt_tf_bind bd[6] = {{x, 0, tf}, {w->data[p], 0, tu}, {bias, 0, 0},
                                   {y, 1, 0},  {w->scale[p], 0, 0}, {w->zero[p], 0, 0}};
        if (mv) {
            uint32_t nr = 4, gx, gy;
            uint32_t spec[8] = {(uint32_t)act, acc != 0, 0, 0, 0, 0, 0, gshift};
            fold((pr + nr - 1) / nr, &gx, &gy);
            CHECK(rt_tf_seq_dispatch(s, texel ? mvt[w->type] : mvs[w->type], spec, 8, bd, 6, &pc,
                                     sizeof(pc), gx, gy, 1, e));
        } else {
            uint32_t spec[8] = {(uint32_t)act, acc != 0, 0, 0, 0, 0, 0, gshift};
            uint32_t gx = ((pr + 3) / 4 + 63) / 64, gy = (m + 3) / 4;
            CHECK(rt_tf_seq_dispatch(s, texel ? mmt[w->type] : mms[w->type], spec, 8, bd, 6, &pc,
                                     sizeof(pc), gx, gy, 1, e));
        }
    }
    return 0;
}

static int view_need(const struct rt_tf_view *v, uint32_t batch, uint32_t rows, uint32_t width,
                     uint32_t esize, const char *what, struct err *e)
{
    uint64_t last = v->off + (uint64_t)(batch - 1) * v->bs + (uint64_t)(rows - 1) * v->ld + width;
    if (v->off % 4 || v->ld % 4 || v->bs % 4)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal",
                       "attention: %s offsets/strides must be multiples of 4", what);
    return need(v->r, last * esize, "attention", what, e);
}

int rt_tf_attention(struct rt_tf_seq *s, const struct rt_tf_attn *a, struct err *e)
{
    if ((a->hd != 64 && a->hd != 72) || a->t == 0 || a->batch == 0 || a->heads == 0 ||
        a->heads > 65535 || a->batch > 65535)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "attention: head size %u (64 or 72), t %u, batch %u, heads %u", a->hd, a->t,
                       a->batch, a->heads);
    uint32_t width = a->heads * a->hd;
    /* keys: the whole range a kernel may read is pos0 + t rows; pos0 lives on
     * the device, so the caller sizes k/v for its maximum (checked: t rows) */
    uint32_t kvs = a->kv_f16 ? 2 : 4;
    CHECK(view_need(&a->q, a->batch, a->t, width, 4, "q", e));
    CHECK(view_need(&a->k, a->batch, a->t, width, kvs, "k", e));
    CHECK(view_need(&a->v, a->batch, a->t, width, kvs, "v", e));
    CHECK(view_need(&a->o, a->batch, a->t, width, 4, "o", e));
    CHECK(need(a->state, ((uint64_t)a->st + 1) * 4, "attention", "state", e));
    struct rt_tf_push_attn pc = {a->t,    a->st,    a->prefix, a->causal != 0, a->q.off, a->q.ld,
                                 a->q.bs, a->k.off, a->k.ld,   a->k.bs,        a->v.off, a->v.ld,
                                 a->v.bs, a->o.off, a->o.ld,   a->o.bs,        a->scale};
    struct rt_tf_bind bd[5] = {
        {a->q.r, 0, 0}, {a->k.r, 0, 0}, {a->v.r, 0, 0}, {a->o.r, 1, 0}, {a->state, 0, 0}};
    /* [f16 kv][h72] */
    static const enum rt_shader_id dec[2][2] = {
        {RT_SHADER_TF_ATTN_DEC_H64, RT_SHADER_TF_ATTN_DEC_H72},
        {RT_SHADER_TF_ATTN_DEC_H64_KVH, RT_SHADER_TF_ATTN_DEC_H72_KVH}};
    static const enum rt_shader_id pre[2][2] = {
        {RT_SHADER_TF_ATTN_H64, RT_SHADER_TF_ATTN_H72},
        {RT_SHADER_TF_ATTN_H64_KVH, RT_SHADER_TF_ATTN_H72_KVH}};
    int h72 = a->hd == 72, kh = a->kv_f16 != 0;
    if (a->t == 1 && a->batch == 1)
        return rt_tf_seq_dispatch(s, dec[kh][h72], NULL, 0, bd, 5, &pc, sizeof(pc), 1, a->heads, 1,
                                  e);
    uint32_t gx = (a->t + 63) / 64;
    return rt_tf_seq_dispatch(s, pre[kh][h72], NULL, 0, bd, 5, &pc, sizeof(pc), gx, a->heads,
                              a->batch, e);
}

int rt_tf_rope(struct rt_tf_seq *s, struct rt_tf_ref qkv, uint32_t ld, struct rt_tf_ref cs,
               struct rt_tf_ref state, uint32_t st, struct rt_tf_ref qo, uint32_t qld,
               struct rt_tf_ref kc, struct rt_tf_ref vc, uint32_t kld, uint32_t t, uint32_t d,
               uint32_t hd, uint32_t rot, uint32_t max_pos, int kv_f16, struct err *e)
{
    if (t == 0 || hd == 0 || hd % 2 != 0 || d % hd != 0 || rot % 2 != 0 || rot > hd || ld < 3 * d ||
        kld < d || kld % 2 != 0 || max_pos == 0)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "rope: bad shape");
    uint32_t kvs = kv_f16 ? 2 : 4;
    CHECK(need(qkv, rows_bytes(t, ld, 3 * d), "rope", "qkv", e));
    CHECK(need(qo, rows_bytes(t, qld, d), "rope", "q", e));
    CHECK(need(kc, rows_bytes(max_pos, kld, d) / 4 * kvs, "rope", "k cache", e));
    CHECK(need(vc, rows_bytes(max_pos, kld, d) / 4 * kvs, "rope", "v cache", e));
    CHECK(need(cs, (uint64_t)max_pos * (rot / 2) * 8, "rope", "table", e));
    CHECK(need(state, ((uint64_t)st + 1) * 4, "rope", "state", e));
    struct rt_tf_push_rope pc = {t, d, hd, rot, ld, st, max_pos, qld, kld};
    struct rt_tf_bind bd[6] = {{qkv, 0, 0}, {cs, 0, 0}, {state, 0, 0},
                               {qo, 1, 0},  {kc, 1, 0}, {vc, 1, 0}};
    uint32_t gx, gy;
    fold(((uint64_t)t * d / 2 + 63) / 64, &gx, &gy);
    return rt_tf_seq_dispatch(s, kv_f16 ? RT_SHADER_TF_ROPE_KVH : RT_SHADER_TF_ROPE, NULL, 0, bd, 6,
                              &pc, sizeof(pc), gx, gy, 1, e);
}

int rt_tf_embed(struct rt_tf_seq *s, const struct rt_tf_weight *table, struct rt_tf_ref ids,
                uint32_t idoff, uint32_t t, struct rt_tf_ref x, uint32_t ldx, struct err *e)
{
    if (table->type == RT_TF_Q4 || t == 0 || ldx % 4 != 0 || ldx < table->k)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "embedding: %s tables or ldx %u unsupported", rt_tf_wtype_name(table->type),
                       ldx);
    CHECK(need(ids, ((uint64_t)idoff + t) * 4, "embed", "ids", e));
    CHECK(need(x, rows_bytes(t, ldx, table->k), "embed", "x", e));
    static const enum rt_shader_id sh[] = {RT_SHADER_TF_EMBED_F32, RT_SHADER_TF_EMBED_F16,
                                           RT_SHADER_TF_EMBED_I8};
    for (int p = 0; p < table->n_parts; p++) {
        uint32_t r0 = (uint32_t)p * table->part_rows;
        uint32_t pr = p == table->n_parts - 1 ? table->n - r0 : table->part_rows;
        struct rt_tf_push_embed pc = {t, table->k, r0, pr, ldx, idoff};
        struct rt_tf_bind bd[5] = {{ids, 0, 0},
                                   {table->data[p], 0, 0},
                                   {table->bias, 0, 0},
                                   {x, 1, 0},
                                   {table->scale[p], 0, 0}};
        uint32_t gx, gy;
        fold(((uint64_t)t * (table->k / 8) + 63) / 64, &gx, &gy);
        CHECK(
            rt_tf_seq_dispatch(s, sh[table->type], NULL, 0, bd, 5, &pc, sizeof(pc), gx, gy, 1, e));
    }
    return 0;
}

int rt_tf_pool(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref y, uint32_t n, uint32_t h,
               uint32_t w, uint32_t c, uint32_t oh, uint32_t ow, struct err *e)
{
    if (n == 0 || h == 0 || w == 0 || c == 0 || oh == 0 || ow == 0 || oh > h || ow > w ||
        h > 4 * oh * 64 || w > 4 * ow * 64)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "adaptive pool %ux%u -> %ux%u", h, w, oh, ow);
    CHECK(need(x, (uint64_t)n * h * w * c * 4, "pool", "x", e));
    CHECK(need(y, (uint64_t)n * oh * ow * c * 4, "pool", "y", e));
    struct rt_tf_push_pool pc = {n, h, w, c, oh, ow};
    struct rt_tf_bind bd[2] = {{x, 0, 0}, {y, 1, 0}};
    uint32_t gx, gy;
    fold(((uint64_t)n * oh * ow * c + 63) / 64, &gx, &gy);
    return rt_tf_seq_dispatch(s, RT_SHADER_TF_POOL, NULL, 0, bd, 2, &pc, sizeof(pc), gx, gy, 1, e);
}

int rt_tf_copy(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref y, const uint32_t dims[4],
               const uint32_t ss[4], const uint32_t ds[4], uint32_t soff, uint32_t doff,
               struct err *e)
{
    uint64_t total = 1, sl = soff, dl = doff;
    for (int i = 0; i < 4; i++) {
        if (dims[i] == 0)
            return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "copy: empty dimension");
        total *= dims[i];
        sl += (uint64_t)(dims[i] - 1) * ss[i];
        dl += (uint64_t)(dims[i] - 1) * ds[i];
    }
    if (total > UINT32_MAX)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape", "copy too large");
    CHECK(need(x, (sl + 1) * 4, "copy", "x", e));
    CHECK(need(y, (dl + 1) * 4, "copy", "y", e));
    struct rt_tf_push_copy pc;
    memcpy(pc.dims, dims, sizeof(pc.dims));
    memcpy(pc.ss, ss, sizeof(pc.ss));
    memcpy(pc.ds, ds, sizeof(pc.ds));
    pc.soff = soff;
    pc.doff = doff;
    pc.total = (uint32_t)total;
    struct rt_tf_bind bd[2] = {{x, 0, 0}, {y, 1, 0}};
    uint32_t gx, gy;
    fold((total + 63) / 64, &gx, &gy);
    return rt_tf_seq_dispatch(s, RT_SHADER_TF_COPY, NULL, 0, bd, 2, &pc, sizeof(pc), gx, gy, 1, e);
}

int rt_tf_fourier(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref w, struct rt_tf_ref y,
                  uint32_t m, uint32_t i, uint32_t f, struct err *e)
{
    if (m == 0 || i == 0 || f == 0 || i > 4096)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape", "fourier %ux%ux%u", m,
                       i, f);
    CHECK(need(x, (uint64_t)m * i * 4, "fourier", "x", e));
    CHECK(need(w, (uint64_t)i * f * 4, "fourier", "w", e));
    CHECK(need(y, (uint64_t)m * 2 * f * 4, "fourier", "y", e));
    struct rt_tf_push_fourier pc = {m, i, f};
    struct rt_tf_bind bd[3] = {{x, 0, 0}, {w, 0, 0}, {y, 1, 0}};
    uint32_t gx, gy;
    fold(((uint64_t)m * f + 63) / 64, &gx, &gy);
    return rt_tf_seq_dispatch(s, RT_SHADER_TF_FOURIER, NULL, 0, bd, 3, &pc, sizeof(pc), gx, gy, 1,
                              e);
}

int rt_tf_argmax(struct rt_tf_seq *s, struct rt_tf_ref x, struct rt_tf_ref out, uint32_t rows,
                 uint32_t len, uint32_t ld, uint32_t ooff, struct err *e)
{
    if (rows == 0 || len == 0 || len > 256u * 60000u)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape", "argmax of %u", len);
    CHECK(need(x, rows_bytes(rows, ld, len), "argmax", "x", e));
    CHECK(need(out, ((uint64_t)ooff + rows) * 4, "argmax", "out", e));
    struct rt_tf_push_argmax pc = {rows, len, ld, ooff};
    struct rt_tf_bind bd[2] = {{x, 0, 0}, {out, 1, 0}};
    uint32_t gx, gy;
    fold(rows, &gx, &gy);
    return rt_tf_seq_dispatch(s, RT_SHADER_TF_ARGMAX, NULL, 0, bd, 2, &pc, sizeof(pc), gx, gy, 1,
                              e);
}

int rt_tf_peak(struct rt_tf_seq *s, struct rt_tf_ref out, uint32_t groups, uint32_t iters,
               struct err *e)
{
    CHECK(need(out, (uint64_t)groups * 64 * 4, "peak", "out", e));
    struct {
        uint32_t iters;
        float seed;
    } pc = {iters, 0.5f};
    struct rt_tf_bind bd[1] = {{out, 1, 0}};
    uint32_t gx, gy;
    fold(groups, &gx, &gy);
    return rt_tf_seq_dispatch(s, RT_SHADER_TF_PEAK, NULL, 0, bd, 1, &pc, sizeof(pc), gx, gy, 1, e);
}
