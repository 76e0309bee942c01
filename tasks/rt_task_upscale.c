/*
 * rt_task_upscale.c: tiled super-resolution over rt_task_run_raw.  See
 * rt_task_upscale.h for the tiling and why it has no seams.
 */
#include "tasks/rt_task_upscale.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* see rt_task_upscale.h */
int rt_task_upscale_scale(const struct rt_task_model *m)
{
    const struct rt_task_input *in = rt_task_model_input(m);
    if (rt_task_model_kind(m) != RT_TASK_UPSCALE || rt_task_model_output_count(m) != 1)
        return 0;
    int64_t per = rt_task_model_output_size(m, 0), tt = (int64_t)in->w * in->h * 3;
    for (int s = 1; s <= 16; s++)
        if (per == tt * s * s)
            return s;
    return 0;
}

/*
 * Tile starts along one axis of length len for tiles of t with overlap ov:
 * k*(t-2ov), the last one moved back to end at len.  Returns the count.
 */
static int tile_starts(int len, int t, int ov, int *starts, int cap)
{
    int n = 0, step = t - 2 * ov;
    if (len <= t) {
        starts[0] = 0;
        return 1;
    }
    for (int s = 0; n < cap; s += step) {
        if (s + t >= len) {
            starts[n++] = len - t;
            break;
        }
        starts[n++] = s;
    }
    return n;
}

/* the kept range [a,b) of tile i: cut at the middle of each overlap */
static void keep_range(const int *st, int n, int i, int len, int t, int ov, int *a, int *b)
{
    (void)ov;
    *a = i == 0 ? 0 : (st[i - 1] + t + st[i]) / 2;
    *b = i == n - 1 ? len : (st[i] + t + st[i + 1]) / 2;
}

static inline uint8_t to_u8(float v)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= 255.0f)
        return 255;
    return (uint8_t)lrintf(v);
}

/* see rt_task_upscale.h */
int rt_task_upscale(struct rt_task_model *m, const struct rt_image *img, uint8_t **out, int *ow,
                    int *oh, struct err *e)
{
    enum { MAX_TILES = RT_TASK_MAX_IMAGE_SIDE };
    const struct rt_task_input *in = rt_task_model_input(m);
    const int t = in->w, ov = RT_UPSCALE_OVERLAP, s = rt_task_upscale_scale(m);
    *out = NULL;
    *ow = *oh = 0;
    if (s == 0 || in->w != in->h || t <= 2 * ov)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "model \"%s\" is not a square-input upscale model", rt_task_model_name(m));
    if (img->rgb == NULL || img->w < 1 || img->h < 1 || img->w > RT_TASK_MAX_IMAGE_SIDE ||
        img->h > RT_TASK_MAX_IMAGE_SIDE)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_image", "invalid image size %dx%d",
                       img->w, img->h);
    int64_t opx = (int64_t)img->w * s * (int64_t)img->h * s;
    if (opx > RT_UPSCALE_MAX_OUT_PIXELS)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                       "%dx%d upscaled x%d is %lld pixels, more than %lld", img->w, img->h, s,
                       (long long)opx, (long long)RT_UPSCALE_MAX_OUT_PIXELS);
    int *xs = malloc(MAX_TILES * sizeof(int)), *ys = malloc(MAX_TILES * sizeof(int));
    uint8_t *tile = malloc((size_t)t * t * 3);
    uint8_t *o = malloc((size_t)opx * 3);
    int rc = 0;
    if (xs == NULL || ys == NULL || tile == NULL || o == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                     "could not allocate the upscaled image");
        goto done;
    }
    int nx = tile_starts(img->w, t, ov, xs, MAX_TILES);
    int ny = tile_starts(img->h, t, ov, ys, MAX_TILES);
    const int W = img->w * s, ts = t * s;
    for (int ty = 0; ty < ny && rc == 0; ty++) {
        for (int tx = 0; tx < nx && rc == 0; tx++) {
            /* the tile, its last column/row repeated where the image is smaller */
            for (int y = 0; y < t; y++) {
                int sy = ys[ty] + y < img->h ? ys[ty] + y : img->h - 1;
                for (int x = 0; x < t; x++) {
                    int sx = xs[tx] + x < img->w ? xs[tx] + x : img->w - 1;
                    memcpy(tile + ((size_t)y * t + x) * 3,
                           img->rgb + ((size_t)sy * img->w + sx) * 3, 3);
                }
            }
            struct rt_image ti = {tile, t, t};
            float *res[16];
            rc = rt_task_run_raw(m, &ti, 1, res, e);
            if (rc < 0)
                break;
            int x0, x1, y0, y1;
            keep_range(xs, nx, tx, img->w, t, ov, &x0, &x1);
            keep_range(ys, ny, ty, img->h, t, ov, &y0, &y1);
            for (int y = y0 * s; y < y1 * s; y++) {
                const float *src = res[0] + (size_t)(y - ys[ty] * s) * ts * 3;
                uint8_t *dst = o + (size_t)y * W * 3;
                for (int x = x0 * s * 3; x < x1 * s * 3; x++)
                    dst[x] = to_u8(src[x - xs[tx] * s * 3]);
            }
            free(res[0]);
        }
    }
done:
    free(xs);
    free(ys);
    free(tile);
    if (rc < 0) {
        free(o);
        return rc;
    }
    *out = o;
    *ow = img->w * s;
    *oh = img->h * s;
    return 0;
}
