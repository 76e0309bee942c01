/*
 * imgenc.c: PNG, WebP and JPEG encoding (imgenc.h).  libpng's simplified
 * writer reports errors by return value (its own longjmp stays inside
 * libpng), so no setjmp here; JPEG goes to img_jpeg_encode (img.c), which
 * keeps libjpeg's.
 */
#include "common/imgenc.h"
#include "common/img.h"

#include <png.h>
#include <webp/encode.h>

#include <stdlib.h>
#include <string.h>

int imgenc_format_parse(const char *s, enum imgenc_format *f)
{
    if (s && !strcmp(s, "png"))
        *f = IMGENC_PNG;
    else if (s && !strcmp(s, "webp"))
        *f = IMGENC_WEBP;
    else if (s && (!strcmp(s, "jpeg") || !strcmp(s, "jpg")))
        *f = IMGENC_JPEG;
    else
        return -1;
    return 0;
}

const char *imgenc_mime(enum imgenc_format f)
{
    return f == IMGENC_WEBP ? "image/webp" : f == IMGENC_JPEG ? "image/jpeg" : "image/png";
}

static int png_encode(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *len, struct err *e)
{
    png_image im;
    memset(&im, 0, sizeof(im));
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGB;
    png_alloc_size_t n = 0;
    /* first call sizes, second writes */
    if (!png_image_write_to_memory(&im, NULL, &n, 0, rgb, w * 3, NULL) || n == 0) {
        png_image_free(&im);
        return err_set(e, IMGENC_ERR_OOM, ERR_INTERNAL, "encode_failed", "PNG encoder: %s",
                       im.message);
    }
    uint8_t *p = malloc(n);
    if (p == NULL)
        return err_set(e, IMGENC_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate %zu bytes for a PNG", (size_t)n);
    if (!png_image_write_to_memory(&im, p, &n, 0, rgb, w * 3, NULL)) {
        free(p);
        png_image_free(&im);
        return err_set(e, IMGENC_ERR_OOM, ERR_INTERNAL, "encode_failed", "PNG encoder: %s",
                       im.message);
    }
    *out = p;
    *len = n;
    return IMGENC_OK;
}

int imgenc_encode(const uint8_t *rgb, int w, int h, enum imgenc_format f, int quality,
                  uint8_t **out, size_t *len, struct err *e)
{
    *out = NULL;
    *len = 0;
    if (rgb == NULL || w < 1 || h < 1 || (size_t)w * 3 > (size_t)0x7fffffff / (size_t)h)
        return err_set(e, IMGENC_ERR_INVALID, ERR_INVALID, "invalid_image",
                       "cannot encode a %dx%d image", w, h);
    if (f == IMGENC_PNG)
        return png_encode(rgb, w, h, out, len, e);
    if (f == IMGENC_JPEG) {
        int rc = img_jpeg_encode(rgb, w, h, quality, out, len, e);
        return rc == IMG_OK            ? IMGENC_OK
               : rc == IMG_ERR_INVALID ? IMGENC_ERR_INVALID
                                       : IMGENC_ERR_OOM;
    }
    if (w > WEBP_MAX_DIMENSION || h > WEBP_MAX_DIMENSION || quality < 1 || quality > 101)
        return err_set(e, IMGENC_ERR_INVALID, ERR_INVALID, "invalid_image",
                       "WebP holds at most %dx%d pixels at quality 1..100 (101 lossless), "
                       "not %dx%d at %d",
                       WEBP_MAX_DIMENSION, WEBP_MAX_DIMENSION, w, h, quality);
    uint8_t *p = NULL;
    size_t n = quality == 101 ? WebPEncodeLosslessRGB(rgb, w, h, w * 3, &p)
                              : WebPEncodeRGB(rgb, w, h, w * 3, (float)quality, &p);
    if (n == 0) {
        WebPFree(p);
        return err_set(e, IMGENC_ERR_OOM, ERR_UNAVAILABLE, "encode_failed",
                       "WebP encoder failed on a %dx%d image", w, h);
    }
    /* one allocator for both formats: the caller frees with imgenc_free */
    uint8_t *q = malloc(n);
    if (q)
        memcpy(q, p, n);
    WebPFree(p);
    if (q == NULL)
        return err_set(e, IMGENC_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate %zu bytes for a WebP", n);
    *out = q;
    *len = n;
    return IMGENC_OK;
}

void imgenc_free(uint8_t *p)
{
    free(p);
}
