/*
 * rt_exec.c: an executor is a graph prepared for one backend (rt_backend.h);
 * the public rt_exec_* calls dispatch through the backend's interface.
 */
#include "runtime/rt_backend.h"
#include "common/cm.h"

#include <stdlib.h>

struct rt_exec {
    const struct rt_backend_iface *iface;
    void *impl;
};

int rt_exec_create(struct rt_device *dev, const struct rt_graph *g, const struct rt_plan_opts *o,
                   struct rt_exec **out, struct err *e)
{
    *out = NULL;
    struct rt_exec *x = cm_xcalloc(1, sizeof(*x));
    int rc = dev ? rt_backend_vk_create(dev, g, o, &x->impl, &x->iface, e)
                 : rt_backend_ref_create(g, o, &x->impl, &x->iface, e);
    if (rc < 0) {
        free(x);
        return rc;
    }
    *out = x;
    return 0;
}

void rt_exec_destroy(struct rt_exec *x)
{
    if (x == NULL)
        return;
    x->iface->destroy(x->impl);
    free(x);
}

const char *rt_exec_backend(const struct rt_exec *x)
{
    return x->iface->name;
}

int rt_exec_run(struct rt_exec *x, int batch, const float *const *inputs, float **outputs,
                struct err *e)
{
    return x->iface->run(x->impl, batch, inputs, outputs, e);
}

int rt_exec_has_rgb8(const struct rt_exec *x)
{
    return x->iface->run_rgb8 != NULL;
}

int rt_exec_run_rgb8(struct rt_exec *x, int batch, const struct rt_image *imgs, float **outputs,
                     struct err *e)
{
    CM_ASSERT(x->iface->run_rgb8 != NULL); /* callers check rt_exec_has_rgb8 */
    return x->iface->run_rgb8(x->impl, batch, imgs, outputs, e);
}

int rt_exec_run_shape(struct rt_exec *x, const int64_t *const *shapes, const float *const *inputs,
                      float **outputs, int64_t *out_shapes, struct err *e)
{
    return x->iface->run_shape(x->impl, shapes, inputs, outputs, out_shapes, e);
}

size_t rt_exec_device_bytes(const struct rt_exec *x)
{
    return x->iface->device_bytes(x->impl);
}

size_t rt_exec_weight_bytes(const struct rt_exec *x)
{
    return x->iface->weight_bytes(x->impl);
}

int rt_exec_dispatch_count(const struct rt_exec *x)
{
    return x->iface->dispatch_count(x->impl);
}
