/*
 * rt_device.c: the public device (rt_device_* in rt.h): opens the GPU
 * (rt_gpu.c), then its pipeline state (rt_pipeline.c), and holds the
 * kernel-choice switches of its rt_device_opts.  The top of the device
 * stack: rt_gpu and rt_pipeline never call back into it.  Reads no
 * environment: rt_device_opts_read parses what the caller's lookup gives.
 * See runtime/README.md "Device settings".
 */
#include "runtime/vk/rt_device.h"
#include "common/cm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const rt_device_opt_names[] = {
    "RT_VALIDATE",       "VKV_NO_FP16",
    "VKV_NO_INT8",       "VKV_NO_GEMM",
    "VKV_NO_TEXEL",      "VKV_GEMM_TILE",
    "VKV_VAR_DIR",       "VKV_NO_PIPELINE_CACHE",
    "VKV_RT_TIMEOUT_MS", "VKV_RT_MAX_DEVICE_BYTES",
    "VKV_RT_PROFILE",    "VKV_RT_PROFILE_DISPATCH",
    "VKV_TF_LINEAR",     "VKV_TF_TEXEL",
    "VKV_TF_PART_BYTES", "VKV_RT_KERNELS",
    "VKV_RT_FP16_MATH",  "VKV_NO_DW3",
    "VKV_NO_DWPW",       NULL,
};

struct rt_device_opts rt_device_opts_default(void)
{
    struct rt_device_opts o;
    memset(&o, 0, sizeof(o));
    o.timeout_ms = 60000;
    o.tf_texel = -1;
    return o;
}

#define OPT_BAD(name, v)                                                                           \
    err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_config", "invalid value for %s: \"%.60s\"",   \
            name, v)

static int opt_bool(const char *name, const char *v, int *out, struct err *e)
{
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on"))
        *out = 1;
    else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
             !strcasecmp(v, "off"))
        *out = 0;
    else
        return OPT_BAD(name, v);
    return 0;
}

static int opt_u64(const char *name, const char *v, uint64_t min, uint64_t *out, struct err *e)
{
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    if (v[0] == '-' || end == v || *end != '\0' || x < min)
        return OPT_BAD(name, v);
    *out = x;
    return 0;
}

/* fills o from get(); see rt.h */
int rt_device_opts_read(struct rt_device_opts *o, const char *(*get)(void *ctx, const char *name),
                        void *ctx, struct err *e)
{
    for (int i = 0; rt_device_opt_names[i] != NULL; i++) {
        const char *k = rt_device_opt_names[i], *v = get(ctx, k);
        if (v == NULL || v[0] == '\0')
            continue;
        int rc = 0, b = 0;
        if (!strcmp(k, "RT_VALIDATE"))
            rc = opt_bool(k, v, &o->validate, e);
        else if (!strcmp(k, "VKV_NO_FP16"))
            rc = opt_bool(k, v, &o->no_fp16, e);
        else if (!strcmp(k, "VKV_NO_INT8"))
            rc = opt_bool(k, v, &o->no_int8, e);
        else if (!strcmp(k, "VKV_NO_GEMM"))
            rc = opt_bool(k, v, &o->no_gemm, e);
        else if (!strcmp(k, "VKV_NO_TEXEL"))
            rc = opt_bool(k, v, &o->no_texel, e);
        else if (!strcmp(k, "VKV_NO_DW3"))
            rc = opt_bool(k, v, &o->no_dw3, e);
        else if (!strcmp(k, "VKV_NO_DWPW"))
            rc = opt_bool(k, v, &o->no_dwpw, e);
        else if (!strcmp(k, "VKV_RT_PROFILE"))
            rc = opt_bool(k, v, &o->profile, e);
        else if (!strcmp(k, "VKV_RT_PROFILE_DISPATCH"))
            rc = opt_bool(k, v, &o->profile_dispatch, e);
        else if (!strcmp(k, "VKV_GEMM_TILE")) {
            unsigned r, c;
            char tail;
            if (sscanf(v, "%ux%u%c", &r, &c, &tail) != 2 || r < 1 || r > 8 || c < 1 || c > 8)
                return OPT_BAD(k, v);
            o->gemm_rows = (int)r;
            o->gemm_cols = (int)c;
        } else if (!strcmp(k, "VKV_VAR_DIR")) {
            if (strlen(v) + sizeof("/cache") > sizeof(o->cache_dir))
                return OPT_BAD(k, v);
            /* before VKV_NO_PIPELINE_CACHE in the names, which may clear it */
            snprintf(o->cache_dir, sizeof(o->cache_dir), "%s/cache", v);
        } else if (!strcmp(k, "VKV_NO_PIPELINE_CACHE")) {
            rc = opt_bool(k, v, &b, e);
            if (rc == 0 && b)
                o->cache_dir[0] = '\0';
        } else if (!strcmp(k, "VKV_RT_TIMEOUT_MS"))
            rc = opt_u64(k, v, 1, &o->timeout_ms, e);
        else if (!strcmp(k, "VKV_RT_MAX_DEVICE_BYTES"))
            rc = opt_u64(k, v, 0, &o->max_device_bytes, e);
        else if (!strcmp(k, "VKV_TF_PART_BYTES"))
            rc = opt_u64(k, v, 0, &o->tf_part_bytes, e);
        else if (!strcmp(k, "VKV_TF_LINEAR")) {
            if (!strcmp(v, "mv"))
                o->tf_linear = 1;
            else if (!strcmp(v, "mm"))
                o->tf_linear = 2;
            else if (!strcmp(v, "auto"))
                o->tf_linear = 0;
            else
                return OPT_BAD(k, v);
        } else if (!strcmp(k, "VKV_RT_KERNELS")) {
            if (!strcmp(v, "auto"))
                o->kernels = 0;
            else if (!strcmp(v, "cpu"))
                o->kernels = 1;
            else if (!strcmp(v, "gpu"))
                o->kernels = 2;
            else
                return OPT_BAD(k, v);
        } else if (!strcmp(k, "VKV_RT_FP16_MATH")) {
            rc = opt_bool(k, v, &o->fp16_math, e);
        } else if (!strcmp(k, "VKV_TF_TEXEL")) {
            rc = opt_bool(k, v, &b, e);
            o->tf_texel = b;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
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
int rt_device_create(const struct rt_device_opts *o, struct rt_device **out, struct err *e)
{
    *out = NULL;
    struct rt_device *d = cm_xcalloc(1, sizeof(*d));
    d->opts = o != NULL ? *o : rt_device_opts_default();
    d->opts.selector = NULL; /* borrowed for this call only */
    const struct rt_device_opts *op = &d->opts;
    int rc = rt_gpu_open(&d->gpu, o != NULL ? o->selector : NULL, op->validate,
                         op->timeout_ms > 0 ? op->timeout_ms : 60000, e);
    if (rc < 0)
        goto fail;
    d->use_fp16 = !op->no_fp16;
    d->use_int8 = !op->no_int8;
    d->use_gemm = !op->no_gemm;
    d->use_texel = d->gpu.caps.texel_formats && !op->no_texel;
    d->use_dw3 = !op->no_dw3;
    d->use_dwpw = !op->no_dwpw;
    /* GEMM register tile (rows x 4*cols): 0 = chosen per layer (rt_op_conv.c) */
    d->gemm_rb = (uint32_t)op->gemm_rows;
    d->gemm_cb = (uint32_t)op->gemm_cols;
    if (d->gemm_rb < 1 || d->gemm_rb > 8 || d->gemm_cb < 1 || d->gemm_cb > 8)
        d->gemm_rb = d->gemm_cb = 0;
    /* kernel family: GPU kernels (shared-memory tiles, rt_op_gemm_gpu.c)
       on every device but a CPU one, whose kernels are tuned for llvmpipe */
    d->gpu_kernels = op->kernels == 2 || (op->kernels == 0 && strcmp(d->gpu.caps.type, "cpu") != 0);
    d->fp16_math = op->fp16_math;
    if (d->fp16_math == 1 && !d->gpu.caps.fp16) {
        rc = err_set(e, RT_UNSUPPORTED, ERR_INVALID, "invalid_config",
                     "VKV_RT_FP16_MATH=1: device %s has no shaderFloat16", d->gpu.caps.name);
        goto fail;
    }
    rc = rt_pipeline_init(&d->pipes, &d->gpu, op->cache_dir, e);
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
