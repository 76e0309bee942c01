/*
 * rt_run.c: the executor of graph plans (see rt_run.h).
 */
#include "runtime/vk/rt_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

void rt_run_stage_floats(const struct rt_memplan *m, struct rt_buffer *stage, int n_in,
                         const float *const *inputs, const size_t *in_bytes)
{
    uint8_t *st = stage->map;
    for (int i = 0; i < n_in; i++)
        memcpy(st + m->in_off[i], inputs[i], in_bytes[i]);
}

int rt_run_stage_rgb8(const struct rt_memplan *m, struct rt_buffer *stage,
                      const struct rt_preprocess *pre, int batch, const struct rt_image *imgs,
                      struct err *e)
{
    uint8_t *st = stage->map;
    uint32_t *params = (uint32_t *)(st + m->params_off);
    uint64_t at = 0;
    for (int i = 0; i < batch; i++) {
        const struct rt_image *im = &imgs[i];
        if (im->rgb == NULL || im->w < 1 || im->h < 1 || im->w > pre->max_w || im->h > pre->max_h)
            return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                           "invalid image %d size %dx%d (max %dx%d)", i, im->w, im->h, pre->max_w,
                           pre->max_h);
        uint64_t n = (uint64_t)im->w * (uint64_t)im->h * 3;
        if (at + n > m->pix_size)
            return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                           "images exceed the staging area");
        memcpy(st + m->pix_off + at, im->rgb, n);
        params[i * 4 + 0] = (uint32_t)im->w;
        params[i * 4 + 1] = (uint32_t)im->h;
        params[i * 4 + 2] = (uint32_t)at;
        params[i * 4 + 3] = 0;
        at = align_up(at + n, 4);
    }
    return 0;
}

/* per-shader device time of the last run, to stderr */
static void profile_print(struct rt_gpu *gpu, const struct rt_rec *rec)
{
    int n = rec->n_dispatch;
    uint64_t *ts = calloc((size_t)n + 1, sizeof(uint64_t));
    double per[RT_SHADER_COUNT + 1] = {0}, flop[RT_SHADER_COUNT + 1] = {0};
    int cnt[RT_SHADER_COUNT + 1] = {0};
    if (ts == NULL)
        return;
    if (vkGetQueryPoolResults(gpu->dev, rec->qp, 0, (uint32_t)n + 1,
                              ((size_t)n + 1) * sizeof(uint64_t), ts, sizeof(uint64_t),
                              VK_QUERY_RESULT_64_BIT) == VK_SUCCESS) {
        VkPhysicalDeviceProperties pr;
        vkGetPhysicalDeviceProperties(gpu->phys, &pr);
        double tick = pr.limits.timestampPeriod, total = 0;
        for (int i = 0; i < n; i++) {
            double us = (double)(ts[i + 1] - ts[i]) * tick / 1000.0;
            per[rec->qsh[i]] += us;
            cnt[rec->qsh[i]]++;
            flop[rec->qsh[i]] += rec->qflop[i];
            total += us;
            if (rec->qlabel != NULL && rec->qgrid != NULL) {
                /* per dispatch, in recording order (VKV_RT_PROFILE_DISPATCH) */
                char gf[32] = "-";
                if (rec->qflop[i] > 0 && us > 0)
                    snprintf(gf, sizeof(gf), "%.2f", rec->qflop[i] / (us * 1e3));
                fprintf(stderr, "profile-dispatch %4d %-14s %5ux%ux%u %9.1f us %8s GFLOP/s %s\n", i,
                        rt_shaders[rec->qsh[i]].name, rec->qgrid[i][0], rec->qgrid[i][1],
                        rec->qgrid[i][2], us, gf, rec->qlabel[i][0] ? rec->qlabel[i] : "-");
            }
        }
        /* GFLOP/s where the op counted its arithmetic (conv, dense): compared
           with the device's peak by bench/runtime-ops.sh */
        for (int s = 0; s < RT_SHADER_COUNT; s++)
            if (cnt[s] && flop[s] > 0 && per[s] > 0)
                fprintf(stderr, "profile %-12s %4d dispatches %9.1f us %8.2f GFLOP/s\n",
                        rt_shaders[s].name, cnt[s], per[s], flop[s] / (per[s] * 1e3));
            else if (cnt[s])
                fprintf(stderr, "profile %-12s %4d dispatches %9.1f us\n", rt_shaders[s].name,
                        cnt[s], per[s]);
        fprintf(stderr, "profile total        %4d dispatches %9.1f us\n", n, total);
    }
    free(ts);
}

int rt_run_submit(struct rt_gpu *gpu, VkFence fence, const struct rt_rec *rec, struct err *e)
{
    int rc = rt_command_submit_wait(gpu, rec->cmd, fence, e);
    if (rc < 0)
        return rc;
    if (rec->qp != VK_NULL_HANDLE)
        profile_print(gpu, rec);
    return 0;
}

void rt_run_read_outputs(const struct rt_memplan *m, const struct rt_buffer *stage, int n_out,
                         float **outputs, const size_t *out_bytes)
{
    const uint8_t *st = stage->map;
    for (int i = 0; i < n_out; i++)
        memcpy(outputs[i], st + m->out_off[i], out_bytes[i]);
}
