/*
 * md_crop.h: Moondream 2's image preparation (prefix mdc_): the overlap
 * tiling rule, a Lanczos resize that reproduces Pillow's
 * Image.resize(..., LANCZOS) bit for bit on RGB8 (same coefficients, same
 * 22-bit fixed point, horizontal pass then vertical, each rounded to 8
 * bits), and the crops: crop 0 is the whole image resized to crop x crop,
 * crops 1.. are windows of the image resized to (th*win + 2*margin) x
 * (tw*win + 2*margin), cut every win pixels, raster order.  Pixels are
 * normalised to [-1, 1] ((x/255 - 0.5)/0.5), channels first.  CPU only,
 * thread-safe (no globals).
 */
#ifndef VKV_MD_CROP_H
#define VKV_MD_CROP_H

#include "common/err.h"

#include <stdint.h>

enum {
    MDC_ERR_INVALID = -1, /* bad sizes */
    MDC_ERR_OOM = -2,
};

struct mdc_geom {
    int crop;      /* crop side in pixels (378) */
    int patch;     /* patch side (14) */
    int margin;    /* overlap margin in patches (4) */
    int max_crops; /* local crops at most (12) */
};

/* Moondream 2's: 378, 14, 4, 12; cannot fail */
struct mdc_geom mdc_geom_moondream2(void);

/* the local tiling (th rows x tw columns) for an h x w image; cannot fail */
void mdc_tiling(const struct mdc_geom *g, int h, int w, int *th, int *tw);

/*
 * Resizes src (sw x sh RGB8, stride sw*3, borrowed) to dst (dw x dh RGB8,
 * caller-owned, dw*dh*3 bytes) like Pillow's LANCZOS.  Returns 0, or
 * MDC_ERR_INVALID (a size < 1) / MDC_ERR_OOM with e set.
 */
int mdc_resize_lanczos(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                       struct err *e);

/*
 * The crops of an h x w RGB8 image (borrowed): *out receives a new array
 * of (1 + th*tw) * 3 * crop * crop floats (caller frees with free()),
 * *n_crops, *th, *tw the tiling.  0 or <0 with e set.
 */
int mdc_crops(const struct mdc_geom *g, const uint8_t *rgb, int w, int h, float **out, int *n_crops,
              int *th, int *tw, struct err *e);

#endif
