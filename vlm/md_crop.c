/*
 * md_crop.c: tiling, Pillow-exact Lanczos resize and crops (see md_crop.h).
 * The resize follows Pillow's Resample.c (precompute_coeffs,
 * normalize_coeffs_8bpc, ImagingResampleInner): coefficients in double,
 * normalised per output pixel, converted to 22-bit fixed point with
 * round-half-away; the horizontal pass covers only the rows the vertical
 * pass reads, and each pass rounds to 8 bits with clamping.
 */
#include "vlm/md_crop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREC 22 /* Pillow's PRECISION_BITS = 32 - 8 - 2 */

struct mdc_geom mdc_geom_moondream2(void)
{
    return (struct mdc_geom){378, 14, 4, 12};
}

void mdc_tiling(const struct mdc_geom *g, int h, int w, int *th, int *tw)
{
    int win = (g->crop / g->patch - 2 * g->margin) * g->patch;
    int mc = g->max_crops;
    h -= 2 * g->margin * g->patch;
    w -= 2 * g->margin * g->patch;
    *th = *tw = 1;
    if (h <= win || w <= win)
        return;
    int min_h = (h + win - 1) / win, min_w = (w + win - 1) / win;
    if (min_h * min_w > mc) {
        double r = sqrt((double)mc / (min_h * min_w));
        int a = (int)floor(min_h * r), b = (int)floor(min_w * r);
        *th = a < 1 ? 1 : a;
        *tw = b < 1 ? 1 : b;
        return;
    }
    int ht = (int)floor(sqrt((double)mc * h / w)), wt = (int)floor(sqrt((double)mc * w / h));
    if (ht < min_h)
        ht = min_h;
    if (wt < min_w)
        wt = min_w;
    if (ht * wt > mc) {
        if (wt > ht)
            wt = mc / ht;
        else
            ht = mc / wt;
    }
    *th = ht < 1 ? 1 : ht;
    *tw = wt < 1 ? 1 : wt;
}

static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos(double x)
{
    return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc; returns ksize or 0 */
static int coeffs(int in_size, int out_size, int **bounds, int32_t **kk)
{
    double scale = (double)in_size / out_size, fscale = scale < 1.0 ? 1.0 : scale;
    double support = 3.0 * fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc((size_t)out_size * (size_t)ksize * sizeof(double));
    *bounds = malloc((size_t)out_size * 2 * sizeof(int));
    *kk = malloc((size_t)out_size * (size_t)ksize * sizeof(int32_t));
    if (k == NULL || *bounds == NULL || *kk == NULL) {
        free(k);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / fscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double *kr = k + (size_t)xx * ksize;
        int x;
        for (x = 0; x < xmax; x++) {
            double wv = lanczos((x + xmin - center + 0.5) * ss);
            kr[x] = wv;
            ww += wv;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                kr[x] /= ww;
        for (; x < ksize; x++)
            kr[x] = 0;
        (*bounds)[xx * 2] = xmin;
        (*bounds)[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * (size_t)ksize; i++)
        (*kk)[i] =
            k[i] < 0 ? (int32_t)(-0.5 + k[i] * (1 << PREC)) : (int32_t)(0.5 + k[i] * (1 << PREC));
    free(k);
    return ksize;
}

static uint8_t clip8(int64_t v)
{
    v >>= PREC;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

int mdc_resize_lanczos(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                       struct err *e)
{
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || dw > 65535 || dh > 65535)
        return err_set(e, MDC_ERR_INVALID, ERR_INVALID, "invalid_size", "resize %dx%d -> %dx%d", sw,
                       sh, dw, dh);
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int kszh = coeffs(sw, dw, &bh, &kh), kszv = coeffs(sh, dh, &bv, &kv);
    uint8_t *tmp = NULL;
    int rc = 0;
    if (kszh == 0 || kszv == 0) {
        rc = err_set(e, MDC_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                     "resize: no memory for coefficients");
        goto out;
    }
    int need_h = dw != sw, need_v = dh != sh;
    int y_first = bv[0], y_last = bv[dh * 2 - 2] + bv[dh * 2 - 1];
    const uint8_t *in = src;
    int iw = sw, ih = sh;
    if (need_h) {
        for (int i = 0; i < dh; i++)
            bv[i * 2] -= y_first;
        ih = y_last - y_first;
        tmp = malloc((size_t)dw * (size_t)ih * 3);
        if (tmp == NULL) {
            rc = err_set(e, MDC_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "resize: no memory");
            goto out;
        }
        for (int y = 0; y < ih; y++) {
            const uint8_t *row = src + (size_t)(y + y_first) * sw * 3;
            for (int xx = 0; xx < dw; xx++) {
                int xmin = bh[xx * 2], xmax = bh[xx * 2 + 1];
                const int32_t *k = kh + (size_t)xx * kszh;
                int64_t s0 = 1 << (PREC - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < xmax; x++) {
                    const uint8_t *p = row + (size_t)(x + xmin) * 3;
                    s0 += p[0] * (int64_t)k[x];
                    s1 += p[1] * (int64_t)k[x];
                    s2 += p[2] * (int64_t)k[x];
                }
                uint8_t *o = tmp + ((size_t)y * dw + xx) * 3;
                o[0] = clip8(s0), o[1] = clip8(s1), o[2] = clip8(s2);
            }
        }
        in = tmp;
        iw = dw;
    }
    if (need_v) {
        for (int yy = 0; yy < dh; yy++) {
            int ymin = bv[yy * 2], ymax = bv[yy * 2 + 1];
            const int32_t *k = kv + (size_t)yy * kszv;
            for (int xx = 0; xx < iw; xx++) {
                int64_t s0 = 1 << (PREC - 1), s1 = s0, s2 = s0;
                for (int y = 0; y < ymax; y++) {
                    const uint8_t *p = in + ((size_t)(y + ymin) * iw + xx) * 3;
                    s0 += p[0] * (int64_t)k[y];
                    s1 += p[1] * (int64_t)k[y];
                    s2 += p[2] * (int64_t)k[y];
                }
                uint8_t *o = dst + ((size_t)yy * dw + xx) * 3;
                o[0] = clip8(s0), o[1] = clip8(s1), o[2] = clip8(s2);
            }
        }
    } else {
        memcpy(dst, in, (size_t)dw * dh * 3);
    }
out:
    free(bh), free(bv), free(kh), free(kv), free(tmp);
    return rc;
}

/* one crop x crop window at (y0, x0) of img (iw wide), normalised, CHW */
static void put_crop(const uint8_t *img, int iw, int y0, int x0, int c, float *out)
{
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < c; y++)
            for (int x = 0; x < c; x++)
                out[((size_t)ch * c + y) * c + x] =
                    (img[((size_t)(y0 + y) * iw + (x0 + x)) * 3 + ch] / 255.0f - 0.5f) / 0.5f;
}

int mdc_crops(const struct mdc_geom *g, const uint8_t *rgb, int w, int h, float **out, int *n_crops,
              int *th, int *tw, struct err *e)
{
    *out = NULL;
    if (g->crop < 1 || g->patch < 1 || g->crop % g->patch != 0 || g->margin < 0 ||
        g->crop / g->patch <= 2 * g->margin || g->max_crops < 1 || w < 1 || h < 1)
        return err_set(e, MDC_ERR_INVALID, ERR_INVALID, "invalid_size", "crops of a %dx%d image", w,
                       h);
    int c = g->crop, win = (c / g->patch - 2 * g->margin) * g->patch;
    int m2 = 2 * g->margin * g->patch;
    mdc_tiling(g, h, w, th, tw);
    int n = 1 + *th * *tw, rh = *th * win + m2, rw = *tw * win + m2;
    size_t per = (size_t)3 * c * c;
    float *f = malloc((size_t)n * per * sizeof(float));
    uint8_t *gl = malloc((size_t)c * c * 3), *loc = malloc((size_t)rw * rh * 3);
    int rc = 0;
    if (f == NULL || gl == NULL || loc == NULL) {
        rc = err_set(e, MDC_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "crops: no memory");
        goto fail;
    }
    if ((rc = mdc_resize_lanczos(rgb, w, h, gl, c, c, e)) < 0 ||
        (rc = mdc_resize_lanczos(rgb, w, h, loc, rw, rh, e)) < 0)
        goto fail;
    put_crop(gl, c, 0, 0, c, f);
    for (int i = 0; i < *th; i++)
        for (int j = 0; j < *tw; j++)
            put_crop(loc, rw, i * win, j * win, c, f + (size_t)(1 + i * *tw + j) * per);
    free(gl);
    free(loc);
    *out = f;
    *n_crops = n;
    return 0;
fail:
    free(f), free(gl), free(loc);
    return rc;
}
