/*
 * rt_backend_vk.c: the Vulkan backend of rt_backend.h: an rt_plan.
 */
#include "runtime/rt_backend.h"

static int vk_run(void *impl, int batch, const float *const *inputs, float **outputs, struct err *e)
{
    return rt_plan_run(impl, batch, inputs, outputs, e);
}

static int vk_run_rgb8(void *impl, int batch, const struct rt_image *imgs, float **outputs,
                       struct err *e)
{
    return rt_plan_run_rgb8(impl, batch, imgs, outputs, e);
}

static int vk_run_shape(void *impl, const int64_t *const *shapes, const float *const *inputs,
                        float **outputs, int64_t *out_shapes, struct err *e)
{
    return rt_plan_run_shape(impl, shapes, inputs, outputs, out_shapes, e);
}

static size_t vk_device_bytes(const void *impl)
{
    return rt_plan_device_bytes(impl);
}

static size_t vk_weight_bytes(const void *impl)
{
    return rt_plan_weight_bytes(impl);
}

static int vk_dispatch_count(const void *impl)
{
    return rt_plan_dispatch_count(impl);
}

static void vk_destroy(void *impl)
{
    rt_plan_destroy(impl);
}

static const struct rt_backend_iface vk_iface = {
    "vulkan",        vk_run,          vk_run_rgb8,       vk_run_shape,
    vk_device_bytes, vk_weight_bytes, vk_dispatch_count, vk_destroy,
};

int rt_backend_vk_create(struct rt_device *dev, const struct rt_graph *g,
                         const struct rt_plan_opts *o, void **impl,
                         const struct rt_backend_iface **iface, struct err *e)
{
    struct rt_plan *p = NULL;
    int rc = rt_plan_create(dev, g, o, &p, e);
    if (rc < 0)
        return rc;
    *impl = p;
    *iface = &vk_iface;
    return 0;
}
