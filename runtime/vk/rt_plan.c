/*
 * rt_plan.c: a graph prepared for one device (rt_plan_* in rt.h): checks
 * the options, runs the passes and the quantisation, then hands the
 * optimised graph to the memory planner (rt_memplan.c), allocates the
 * three buffers (rt_buffer.c), uploads the weights (rt_upload.c), records
 * the reserved shape (rt_record.c) and runs through the executor
 * (rt_run.c).  Everything is sized for the reserved shape (the graph's
 * inputs at max_batch); a run at a smaller shape (batch, sequence length,
 * crop count) uses a prefix of each region.  Command buffers are recorded
 * once per (input shapes, input mode) and replayed; the cache keeps the
 * REC_CAP most recently used.  See runtime/README.md "Plans".
 */
#include "runtime/vk/rt_run.h"
#include "runtime/vk/rt_upload.h"
#include "common/cm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* recordings kept per plan: enough for every batch of a worker's plan
 * (max_batch 32 by default) in both input modes; the least recently used
 * other than the reserved one is freed beyond that */
#define REC_CAP 80

/* one recorded run shape */
struct plan_rec {
    int rgb;
    uint64_t used; /* tick of the last run, for eviction */
    int64_t shape[RT_MAX_INPUTS][RT_MAX_DIMS];
    struct rt_rec rec;
    /* the graph at this shape (owned; NULL at the reserved shape): kept so
     * a repeated run does not clone and re-infer the graph every time */
    struct rt_graph *gs;
};

struct rt_plan {
    struct rt_device *dev;
    struct rt_op_target tgt; /* what the op families see of dev */
    struct rt_graph *g;      /* optimised, at max_batch; owned */
    struct rt_plan_opts o;
    struct rt_memplan mp;
    struct rt_buffer buf[RT_REG_KINDS];
    struct plan_rec rec[REC_CAP];
    int n_rec;
    uint64_t tick;
    int n_recorded; /* recordings made since creation (rt_plan_record_count) */
    VkFence fence;
    int n_dispatch, n_barrier; /* of the reserved shape's recording */
    int profile;               /* 0, 1 opts.profile, 2 with opts.profile_dispatch */
    int *fuse;                 /* per node: depthwise + 1x1 pairs (rt_op_dwpw_plan); owned */
};

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

/* the plan's graph at the run shape (borrowed when it is the reserved one,
 * else a new shape-only copy in *owned that the caller frees); refuses a
 * shape under which some tensor would outgrow its reserved region */
static const struct rt_graph *graph_at(struct rt_plan *p, const int64_t (*shape)[RT_MAX_DIMS],
                                       struct rt_graph **owned, struct err *e)
{
    *owned = NULL;
    int same = 1;
    for (int i = 0; i < p->g->n_inputs && same; i++) {
        const struct rt_tensor *t = &p->g->tensors[p->g->inputs[i]];
        same = memcmp(t->shape, shape[i], (size_t)t->ndim * sizeof(int64_t)) == 0;
    }
    if (same)
        return p->g;
    struct rt_graph *gs = shape_clone(p->g, e);
    if (gs == NULL)
        return NULL;
    if (rt_graph_inputs_set(gs, shape, e) < 0) {
        rt_graph_free(gs);
        return NULL;
    }
    for (int i = 0; i < gs->n_tensors; i++) {
        if (gs->tensors[i].is_const)
            continue;
        if (rt_tensor_nelem(&gs->tensors[i]) > rt_tensor_nelem(&p->g->tensors[i])) {
            err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_shape",
                    "tensor %s would be larger than at the reserved shape", p->g->tensors[i].name);
            rt_graph_free(gs);
            return NULL;
        }
    }
    *owned = gs;
    return gs;
}

/* the recording of (shape, rgb): found, or recorded now (evicting the least
 * recently used one other than the reserved shape's when full) */
static struct rt_rec *rec_get(struct rt_plan *p, const int64_t (*shape)[RT_MAX_DIMS], int rgb,
                              const struct rt_graph **gout, struct rt_graph **owned, struct err *e)
{
    size_t sb = (size_t)p->g->n_inputs * sizeof(shape[0]);
    *owned = NULL;
    *gout = NULL;
    struct plan_rec *r = NULL;
    for (int i = 0; i < p->n_rec && r == NULL; i++)
        if (p->rec[i].rgb == rgb && memcmp(p->rec[i].shape, shape, sb) == 0)
            r = &p->rec[i];
    if (r != NULL) {
        *gout = r->gs != NULL ? r->gs : p->g;
        r->used = ++p->tick;
        return &r->rec;
    }
    const struct rt_graph *g = graph_at(p, shape, owned, e);
    if (g == NULL)
        return NULL;
    *gout = g;
    if (r == NULL) {
        if (p->n_rec < REC_CAP) {
            r = &p->rec[p->n_rec++];
        } else {
            r = &p->rec[1]; /* rec[0] is the reserved shape's */
            for (int i = 2; i < p->n_rec; i++)
                if (p->rec[i].used < r->used)
                    r = &p->rec[i];
            rt_record_free(&p->dev->gpu, &r->rec);
            rt_graph_free(r->gs);
        }
        memset(r, 0, sizeof(*r));
        r->rgb = rgb;
        memcpy(r->shape, shape, sb);
        struct rt_record_ctx c = {
            p->dev, &p->tgt, &p->mp, p->buf, &p->o.pre, p->o.max_batch, p->profile, p->fuse,
        };
        if (rt_record_build(&c, g, rgb, &r->rec, e) < 0) {
            r->rgb = -1; /* an empty slot that matches no run */
            rt_graph_free(*owned);
            *owned = NULL;
            return NULL;
        }
        r->gs = *owned; /* the recording keeps its graph */
        *owned = NULL;
        p->n_recorded++;
    }
    r->used = ++p->tick;
    return &r->rec;
}

/* the reserved shapes with dim 0 set to batch */
static void shape_at_batch(const struct rt_plan *p, int batch, int64_t (*shape)[RT_MAX_DIMS])
{
    memset(shape, 0, (size_t)RT_MAX_INPUTS * sizeof(shape[0]));
    for (int i = 0; i < p->g->n_inputs; i++) {
        const struct rt_tensor *t = &p->g->tensors[p->g->inputs[i]];
        memcpy(shape[i], t->shape, sizeof(t->shape));
        shape[i][0] = batch;
    }
}

/* runs at shape: inputs already staged (float mode: in this call) */
static int run_common(struct rt_plan *p, const int64_t (*shape)[RT_MAX_DIMS], int rgb,
                      const float *const *inputs, float **outputs, int64_t *out_shapes,
                      struct err *e)
{
    struct rt_graph *owned;
    const struct rt_graph *g;
    struct rt_rec *rec = rec_get(p, shape, rgb, &g, &owned, e);
    if (rec == NULL)
        return e->status;
    size_t bytes[RT_MAX_INPUTS > 16 ? RT_MAX_INPUTS : 16];
    if (!rgb) {
        for (int i = 0; i < g->n_inputs; i++)
            bytes[i] = (size_t)rt_tensor_nelem(&g->tensors[g->inputs[i]]) * 4;
        rt_run_stage_floats(&p->mp, &p->buf[RT_REG_STAGE], g->n_inputs, inputs, bytes);
    }
    int rc = rt_run_submit(&p->dev->gpu, p->fence, rec, e);
    if (rc == 0) {
        for (int i = 0; i < g->n_outputs; i++) {
            const struct rt_tensor *t = &g->tensors[g->outputs[i]];
            bytes[i] = (size_t)rt_tensor_nelem(t) * 4;
            if (out_shapes != NULL)
                for (int d = 0; d < RT_MAX_DIMS; d++)
                    out_shapes[i * RT_MAX_DIMS + d] = d < t->ndim ? t->shape[d] : 0;
        }
        rt_run_read_outputs(&p->mp, &p->buf[RT_REG_STAGE], g->n_outputs, outputs, bytes);
    }
    rt_graph_free(owned);
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
    p->profile = dev->opts.profile ? (dev->opts.profile_dispatch ? 2 : 1) : 0;
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
    p->tgt = (struct rt_op_target){dev->gpu.caps,  dev->use_gemm, dev->use_texel,
                                   dev->gemm_rb,   dev->gemm_cb,  dev->gpu_kernels,
                                   dev->fp16_math, dev->use_dw3,  dev->use_dwpw && !p->o.no_fuse};
    enum rt_dtype q = RT_DTYPE_F32;
    if (p->o.weights == RT_WEIGHTS_F16 && dev->use_fp16)
        q = RT_DTYPE_F16;
    if (p->o.weights == RT_WEIGHTS_I8 && dev->use_int8)
        q = RT_DTYPE_I8;
    rc = rt_graph_quantize(p->g, q, e);
    if (rc < 0)
        goto fail;
    /* after the quantisation: the fused kernel takes fp32 and fp16 weights */
    p->fuse = cm_xcalloc((size_t)p->g->n_nodes + 1, sizeof(int));
    rt_op_dwpw_plan(&p->tgt, p->g, p->fuse);
    rc = rt_memplan_build(&p->mp, p->g, p->fuse, &dev->gpu.caps, &p->o.pre, p->o.max_batch, e);
    if (rc < 0)
        goto fail;
    uint64_t total = rt_plan_device_bytes(p);
    uint64_t limit = p->o.max_device_bytes;
    if (dev->opts.max_device_bytes > 0)
        limit = dev->opts.max_device_bytes;
    if (limit > 0 && total > limit) {
        rc = err_set_transient(e, RT_ERR_OOM, "device_out_of_memory",
                               "could not fit model: needs %llu device bytes, limit %llu",
                               (unsigned long long)total, (unsigned long long)limit);
        goto fail;
    }
    /* UMA devices (lavapipe, integrated GPUs): weights written in place, no staging copy */
    struct rt_gpu *gpu = &dev->gpu;
    const uint64_t *sz = p->mp.size;
    rc = -1;
    if (gpu->caps.uma)
        rc = rt_buffer_create(gpu, sz[RT_REG_WEIGHT], RT_MEM_UMA, &p->buf[RT_REG_WEIGHT], e);
    if (rc < 0)
        rc = rt_buffer_create(gpu, sz[RT_REG_WEIGHT], RT_MEM_DEVICE, &p->buf[RT_REG_WEIGHT], e);
    if (rc == 0)
        rc = rt_buffer_create(gpu, sz[RT_REG_ACT], RT_MEM_DEVICE, &p->buf[RT_REG_ACT], e);
    if (rc == 0)
        rc = rt_buffer_create(gpu, sz[RT_REG_STAGE], RT_MEM_HOST, &p->buf[RT_REG_STAGE], e);
    if (rc == 0)
        rc = rt_command_fence(gpu, &p->fence, e);
    if (rc < 0)
        goto fail;
    rc = rt_upload_weights(gpu, p->g, &p->mp, &p->buf[RT_REG_WEIGHT], p->fence, e);
    if (rc < 0)
        goto fail;
    /* the reserved shape is recorded now (rec[0], never evicted), so an op
       that cannot run it is refused at load */
    int64_t shape[RT_MAX_INPUTS][RT_MAX_DIMS];
    shape_at_batch(p, p->o.max_batch, shape);
    struct rt_graph *owned;
    const struct rt_graph *gr;
    struct rt_rec *r0 =
        rec_get(p, (const int64_t(*)[RT_MAX_DIMS])shape, p->o.pre.enabled ? 1 : 0, &gr, &owned, e);
    if (r0 == NULL) {
        rc = e->status;
        goto fail;
    }
    p->n_dispatch = r0->n_dispatch;
    p->n_barrier = r0->n_barrier;
    rt_graph_free(owned);
    rt_pipeline_cache_save(&dev->pipes);
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
    struct rt_gpu *d = &p->dev->gpu;
    if (d->dev != VK_NULL_HANDLE)
        vkDeviceWaitIdle(d->dev);
    for (int i = 0; i < p->n_rec; i++) {
        rt_record_free(d, &p->rec[i].rec);
        rt_graph_free(p->rec[i].gs);
    }
    if (p->fence != VK_NULL_HANDLE)
        vkDestroyFence(d->dev, p->fence, NULL);
    for (int i = RT_REG_KINDS - 1; i >= 0; i--)
        rt_buffer_destroy(d, &p->buf[i]);
    rt_memplan_free(&p->mp);
    free(p->fuse);
    rt_graph_free(p->g);
    free(p);
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
    int64_t shape[RT_MAX_INPUTS][RT_MAX_DIMS];
    shape_at_batch(p, batch, shape);
    return run_common(p, (const int64_t(*)[RT_MAX_DIMS])shape, 0, inputs, outputs, NULL, e);
}

/* runs float inputs at a shape within the reserved one; see rt.h */
int rt_plan_run_shape(struct rt_plan *p, const int64_t *const *shapes, const float *const *inputs,
                      float **outputs, int64_t *out_shapes, struct err *e)
{
    int64_t shape[RT_MAX_INPUTS][RT_MAX_DIMS];
    memset(shape, 0, sizeof(shape));
    for (int i = 0; i < p->g->n_inputs; i++) {
        const struct rt_tensor *t = &p->g->tensors[p->g->inputs[i]];
        for (int d = 0; d < t->ndim; d++) {
            if (shapes[i][d] < 1 || shapes[i][d] > t->shape[d])
                return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_shape",
                               "dim %d of input %s is %lld (reserved 1..%lld)", d, t->name,
                               (long long)shapes[i][d], (long long)t->shape[d]);
            shape[i][d] = shapes[i][d];
        }
    }
    return run_common(p, (const int64_t(*)[RT_MAX_DIMS])shape, 0, inputs, outputs, out_shapes, e);
}

int rt_plan_record_count(const struct rt_plan *p)
{
    return p->n_recorded;
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
    rc = rt_run_stage_rgb8(&p->mp, &p->buf[RT_REG_STAGE], &p->o.pre, batch, imgs, e);
    if (rc < 0)
        return rc;
    int64_t shape[RT_MAX_INPUTS][RT_MAX_DIMS];
    shape_at_batch(p, batch, shape);
    return run_common(p, (const int64_t(*)[RT_MAX_DIMS])shape, 1, NULL, outputs, NULL, e);
}

size_t rt_plan_device_bytes(const struct rt_plan *p)
{
    return (size_t)(p->mp.size[RT_REG_ACT] + p->mp.size[RT_REG_WEIGHT] + p->mp.size[RT_REG_STAGE]);
}

size_t rt_plan_weight_bytes(const struct rt_plan *p)
{
    return p->mp.weight_bytes;
}

int rt_plan_dispatch_count(const struct rt_plan *p)
{
    return p->n_dispatch;
}

int rt_plan_node_count(const struct rt_plan *p)
{
    return p->g->n_nodes;
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

/* the optimised graph (borrowed; valid until rt_plan_destroy), for packing/tests */
const struct rt_graph *rt_plan_graph(const struct rt_plan *p)
{
    return p->g;
}

/* barriers recorded for batch max_batch (float input); for tests and bench */
int rt_plan_barrier_count(const struct rt_plan *p)
{
    return p->n_barrier;
}
