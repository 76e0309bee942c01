/*
 * rt_backend_ref.c: the CPU-reference backend of rt_backend.h: the graph
 * after the same passes and weight rounding as a plan, at batch 1, run
 * image by image with rt_ref_run.  No RGB8 path (the caller preprocesses
 * on the host).  Slow and exact: for machines without a Vulkan device and
 * for checking a plan.
 */
#include "runtime/rt_backend.h"
#include "runtime/ir/rt_ir.h"
#include "runtime/ref/rt_ref.h"
#include "common/cm.h"

#include <stdlib.h>

struct ref_exec {
    struct rt_graph *g; /* owned, batch 1 */
    int max_batch;      /* the reserved batch, as a plan's */
    size_t host_bytes;  /* constants as stored (f32 / f16 / int8) */
};

static int ref_run(void *impl, int batch, const float *const *inputs, float **outputs,
                   struct err *e)
{
    const struct ref_exec *r = impl;
    const struct rt_graph *g = r->g;
    if (batch < 1 || g->n_inputs > 8 || g->n_outputs > 16)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_batch", "invalid batch %d", batch);
    for (int b = 0; b < batch; b++) {
        const float *in1[8];
        float *out1[16];
        for (int i = 0; i < g->n_inputs; i++)
            in1[i] = inputs[i] + (size_t)b * (size_t)rt_tensor_nelem(&g->tensors[g->inputs[i]]);
        for (int j = 0; j < g->n_outputs; j++)
            out1[j] = outputs[j] + (size_t)b * (size_t)rt_tensor_nelem(&g->tensors[g->outputs[j]]);
        int rc = rt_ref_run(g, in1, out1, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* the whole run at once on the graph re-inferred at shapes */
static int ref_run_shape(void *impl, const int64_t *const *shapes, const float *const *inputs,
                         float **outputs, int64_t *out_shapes, struct err *e)
{
    const struct ref_exec *r = impl;
    const struct rt_graph *g = r->g;
    int64_t sh[RT_MAX_INPUTS][RT_MAX_DIMS] = {{0}};
    for (int i = 0; i < g->n_inputs; i++) {
        const struct rt_tensor *t = &g->tensors[g->inputs[i]];
        for (int d = 0; d < t->ndim; d++) {
            int64_t lim = d == 0 ? r->max_batch : t->shape[d];
            if (shapes[i][d] < 1 || shapes[i][d] > lim)
                return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_shape",
                               "dim %d of input %s is %lld (reserved 1..%lld)", d, t->name,
                               (long long)shapes[i][d], (long long)lim);
            sh[i][d] = shapes[i][d];
        }
    }
    struct rt_graph *gs = rt_graph_clone(g, e);
    if (gs == NULL)
        return e->status;
    int rc = rt_graph_inputs_set(gs, (const int64_t(*)[RT_MAX_DIMS])sh, e);
    if (rc == 0)
        rc = rt_ref_run(gs, inputs, outputs, e);
    for (int j = 0; rc == 0 && out_shapes != NULL && j < gs->n_outputs; j++) {
        const struct rt_tensor *t = &gs->tensors[gs->outputs[j]];
        for (int d = 0; d < RT_MAX_DIMS; d++)
            out_shapes[j * RT_MAX_DIMS + d] = d < t->ndim ? t->shape[d] : 0;
    }
    rt_graph_free(gs);
    return rc;
}

static size_t ref_bytes(const void *impl)
{
    return ((const struct ref_exec *)impl)->host_bytes;
}

static int ref_dispatch_count(const void *impl)
{
    return ((const struct ref_exec *)impl)->g->n_nodes;
}

static void ref_destroy(void *impl)
{
    struct ref_exec *r = impl;
    rt_graph_free(r->g);
    free(r);
}

static const struct rt_backend_iface ref_iface = {
    "cpu-reference",    ref_run,     NULL, ref_run_shape, ref_bytes, ref_bytes,
    ref_dispatch_count, ref_destroy,
};

int rt_backend_ref_create(const struct rt_graph *g0, const struct rt_plan_opts *o, void **impl,
                          const struct rt_backend_iface **iface, struct err *e)
{
    struct rt_plan_opts od = rt_plan_opts_default();
    if (o == NULL)
        o = &od;
    struct rt_graph *g = rt_graph_clone(g0, e);
    if (g == NULL)
        return e->status;
    int rc = rt_graph_batch_set(g, 1, e);
    if (rc == 0 && !o->no_fuse)
        rc = rt_graph_optimize(g, e);
    if (rc == 0 && o->weights != RT_WEIGHTS_F32)
        rc = rt_graph_quantize(g, o->weights == RT_WEIGHTS_F16 ? RT_DTYPE_F16 : RT_DTYPE_I8, e);
    if (rc < 0) {
        rt_graph_free(g);
        return rc;
    }
    struct ref_exec *r = cm_xcalloc(1, sizeof(*r));
    r->g = g;
    r->max_batch = o->max_batch;
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].is_const)
            r->host_bytes += (size_t)rt_tensor_nelem(&g->tensors[t]) *
                             (g->tensors[t].qtype == RT_DTYPE_I8    ? 1
                              : g->tensors[t].qtype == RT_DTYPE_F16 ? 2
                                                                    : 4);
    *impl = r;
    *iface = &ref_iface;
    return 0;
}
