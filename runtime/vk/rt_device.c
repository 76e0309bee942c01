/*
 * rt_device.c: the public device (rt_device_* in rt.h): opens the GPU
 * (rt_gpu.c), then its pipeline state (rt_pipeline.c), and holds the
 * kernel-choice switches.  The top of the device stack: rt_gpu and
 * rt_pipeline never call back into it.  Env switches: VKV_NO_FP16,
 * VKV_NO_INT8, VKV_NO_GEMM, VKV_NO_TEXEL, VKV_GEMM_TILE, RT_VALIDATE,
 * VKV_RT_TIMEOUT_MS, VKV_NO_PIPELINE_CACHE, VKV_VAR_DIR.  See
 * runtime/README.md.
 */
#include "runtime/vk/rt_device.h"
#include "common/cm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int env_on(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

int rt_device_count(struct err *e)
{
    return rt_gpu_count(e);
}

int rt_device_caps_get(int index, struct rt_caps *caps, struct err *e)
{
    return rt_gpu_caps_get(index, caps, e);
}

/* creates a logical device; see rt.h */
int rt_device_create(const char *selector, struct rt_device **out, struct err *e)
{
    *out = NULL;
    struct rt_device *d = cm_xcalloc(1, sizeof(*d));
    const char *to = getenv("VKV_RT_TIMEOUT_MS");
    long long ms = to ? atoll(to) : 0;
    int rc =
        rt_gpu_open(&d->gpu, selector, env_on("RT_VALIDATE"), (uint64_t)(ms > 0 ? ms : 60000), e);
    if (rc < 0)
        goto fail;
    d->use_fp16 = !env_on("VKV_NO_FP16");
    d->use_int8 = !env_on("VKV_NO_INT8");
    d->use_gemm = !env_on("VKV_NO_GEMM");
    d->use_texel = d->gpu.caps.texel_formats && !env_on("VKV_NO_TEXEL");
    /* GEMM register tile (rows x 4*cols), per layer by default; VKV_GEMM_TILE=RxC
       forces one (R, C in 1..8) */
    d->gemm_rb = 0; /* 0: chosen per layer (rt_op_conv.c) */
    d->gemm_cb = 0;
    const char *tile = getenv("VKV_GEMM_TILE");
    unsigned tr, tc;
    if (tile != NULL && sscanf(tile, "%ux%u", &tr, &tc) == 2 && tr >= 1 && tr <= 8 && tc >= 1 &&
        tc <= 8) {
        d->gemm_rb = tr;
        d->gemm_cb = tc;
    }
    char dir[400] = "";
    const char *var = getenv("VKV_VAR_DIR");
    if (env_on("VKV_NO_PIPELINE_CACHE"))
        dir[0] = '\0';
    else if (var != NULL && var[0])
        snprintf(dir, sizeof(dir), "%.390s/cache", var);
    else if (getenv("HOME") != NULL)
        snprintf(dir, sizeof(dir), "%.370s/.cache/vkvision", getenv("HOME"));
    rc = rt_pipeline_init(&d->pipes, &d->gpu, dir, e);
    if (rc < 0)
        goto fail;
    *out = d;
    return 0;
fail:
    rt_device_destroy(d);
    return rc;
}

/* destroys the device (plans first); NULL ok */
void rt_device_destroy(struct rt_device *d)
{
    if (d == NULL)
        return;
    if (d->gpu.dev != VK_NULL_HANDLE)
        vkDeviceWaitIdle(d->gpu.dev);
    rt_pipeline_fini(&d->pipes);
    rt_gpu_close(&d->gpu);
    free(d);
}

/* borrowed caps; refreshes the memory budget; valid until rt_device_destroy */
const struct rt_caps *rt_device_caps(struct rt_device *d)
{
    rt_gpu_budget_refresh(&d->gpu);
    return &d->gpu.caps;
}

int rt_device_validation_errors(const struct rt_device *d)
{
    return d->gpu.n_val_errors;
}
