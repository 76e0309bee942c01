/*
 * rt_backend.h: the interface every executor implements (the Vulkan plan
 * in vk/rt_backend_vk.c, the CPU reference in ref/rt_backend_ref.c), in
 * the manner of ggml's ggml-backend-impl.h.  rt_exec.c dispatches the
 * public rt_exec_* calls (rt.h) through it, so callers never branch on
 * which executor they hold.  Internal to runtime/.
 */
#ifndef VKV_RT_BACKEND_H
#define VKV_RT_BACKEND_H

#include "runtime/rt.h"

struct rt_backend_iface {
    const char *name; /* "vulkan", "cpu-reference" */
    /* as rt_exec_run; 0 or <0 with e set */
    int (*run)(void *impl, int batch, const float *const *inputs, float **outputs, struct err *e);
    /* as rt_exec_run_rgb8; NULL when the backend has no RGB8 input path */
    int (*run_rgb8)(void *impl, int batch, const struct rt_image *imgs, float **outputs,
                    struct err *e);
    /* as rt_exec_run_shape */
    int (*run_shape)(void *impl, const int64_t *const *shapes, const float *const *inputs,
                     float **outputs, int64_t *out_shapes, struct err *e);
    size_t (*device_bytes)(const void *impl);
    size_t (*weight_bytes)(const void *impl);
    int (*dispatch_count)(const void *impl);
    void (*destroy)(void *impl);
};

/* creators: 0 and *impl (freed by iface->destroy), or <0 with e set */
int rt_backend_vk_create(struct rt_device *dev, const struct rt_graph *g,
                         const struct rt_plan_opts *o, void **impl,
                         const struct rt_backend_iface **iface, struct err *e);
int rt_backend_ref_create(const struct rt_graph *g, const struct rt_plan_opts *o, void **impl,
                          const struct rt_backend_iface **iface, struct err *e);

#endif
