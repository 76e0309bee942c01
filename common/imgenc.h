/*
 * imgenc.h: encodes an RGB8 image to PNG (libpng's simplified API), WebP
 * (libwebp's one-call encoders) or JPEG (libjpeg-turbo through
 * img_jpeg_encode in img.c, the one file allowed libjpeg's setjmp error
 * path), in memory.  Used for images the service produces (upscaling).
 */
#ifndef VKV_IMGENC_H
#define VKV_IMGENC_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

/* the largest image the service produces, in pixels (an upscale's output:
 * the worker's tiled run and vkv-api's check at submission share it) */
#define IMGENC_MAX_PIXELS (64LL << 20)

enum imgenc_format {
    IMGENC_PNG = 0,
    IMGENC_WEBP, /* lossy at quality 1..100; 101 = lossless */
    IMGENC_JPEG, /* baseline 4:2:0 at quality 1..100 */
};

enum imgenc_status {
    IMGENC_OK = 0,
    IMGENC_ERR_INVALID = -2, /* empty image, side over 16383 (WebP), bad quality */
    IMGENC_ERR_OOM = -3,     /* allocation or the encoder failed */
};

/* "png" / "webp" / "jpeg" (or "jpg") -> format, 0; -1 for anything else */
int imgenc_format_parse(const char *s, enum imgenc_format *f);
/* the MIME type ("image/png", "image/webp", "image/jpeg"); static string */
const char *imgenc_mime(enum imgenc_format f);

/*
 * Encodes w x h RGB8 pixels (rgb borrowed, rows of w*3 bytes).  On
 * IMGENC_OK *out is a new buffer of *len bytes the caller frees with
 * imgenc_free(); on error *out is NULL and e is filled.
 */
int imgenc_encode(const uint8_t *rgb, int w, int h, enum imgenc_format f, int quality,
                  uint8_t **out, size_t *len, struct err *e);
void imgenc_free(uint8_t *p);

#endif
