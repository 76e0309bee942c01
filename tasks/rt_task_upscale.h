/*
 * rt_task_upscale.h: super-resolution models (manifest task "upscale",
 * ESRGAN-slim x2/x3/x4/x8) run over an image of any size within the
 * limits, in tiles of the model's input size with an overlap.
 *
 *   rt_task_model_load(dev, "models/esrgan-slim-x2.json", &o, &m, &e);
 *   struct rt_image im = {rgb, w, h};
 *   uint8_t *out; int ow, oh;
 *   rt_task_upscale(m, &im, &out, &ow, &oh, &e);    (ow = 2*w, oh = 2*h)
 *   free(out);
 *
 * Tiling: tiles of the manifest's input size T (128), each sharing
 * RT_UPSCALE_OVERLAP input pixels with its neighbour on each side; of each
 * tile only the part at least RT_UPSCALE_OVERLAP pixels from an edge that
 * is inside the image is kept (cut at the overlap's middle, no blending).
 * The model's receptive field reaches 10 input pixels (3x3 convolutions:
 * 7, 5x5: 1, the 3x3 after the upsampling: 1, the rest 1x1), fewer than
 * the overlap, so a kept pixel sees exactly what an untiled run would:
 * tiled and untiled runs agree up to float rounding, no seams (asserted by
 * tests/suites/35-models.sh).  Tiles at the image's edges end at the edge,
 * where the model's own zero padding applies as in an untiled run.  An image
 * narrower or lower than T is padded to T by repeating its last column/row
 * (the model needs T); its outer pixels then see the repeated pixels
 * instead of zero padding.
 */
#ifndef RT_TASK_UPSCALE_H
#define RT_TASK_UPSCALE_H

#include "common/imgenc.h"
#include "tasks/rt_task.h"

#include <stdint.h>

/* input pixels shared by neighbouring tiles on each side (> receptive field 10) */
#define RT_UPSCALE_OVERLAP 12
/* largest output, in pixels (RGB8: 3 bytes each): the service's limit on
 * images it produces, which vkv-api checks at submission */
#define RT_UPSCALE_MAX_OUT_PIXELS IMGENC_MAX_PIXELS

/* the model's scale (output side / input side), 0 when m is not an upscale model */
int rt_task_upscale_scale(const struct rt_task_model *m);

/*
 * Upscales img by the model's scale.  On success *out is a malloc'd RGB8
 * image of (*ow x *oh) = scale * (w x h), the caller frees it with free().
 * Returns 0, or RT_ERR_INVALID (not an upscale model, bad image),
 * RT_ERR_TOO_LARGE (output over RT_UPSCALE_MAX_OUT_PIXELS), RT_ERR_OOM or a
 * run error, with e set.
 */
int rt_task_upscale(struct rt_task_model *m, const struct rt_image *img, uint8_t **out, int *ow,
                    int *oh, struct err *e);

#endif
