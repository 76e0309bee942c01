/*
 * test_imgenc.c: images the service produces (common/imgenc.c, and the
 * JPEG encoder img_jpeg_encode in common/img.c).  A smooth gradient with
 * a sharp edge is encoded in each format and decoded back with
 * img_decode: PNG and lossless WebP give the same pixels; JPEG at quality
 * 95 differs by at most JPEG_TOL per channel away from the sharp edge
 * (measured 4 with Debian 12's libjpeg-turbo; margin 3x; at the edge 4:2:0
 * chroma rings up to 37) and by at most JPEG_MEAN on average over all
 * pixels (measured 0.85; margin 3x); lower quality gives a smaller file.  Bad sizes and
 * qualities are refused with invalid_image, never a crash.
 */
#include "common/err.h"
#include "common/img.h"
#include "common/imgenc.h"

#include "tests/lib/th.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JPEG_TOL 12
#define JPEG_MEAN 2.5

static uint8_t *gradient(int w, int h)
{
    uint8_t *p = malloc((size_t)w * (size_t)h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * (size_t)w + (size_t)x) * 3;
            q[0] = (uint8_t)(x * 255 / (w - 1));
            q[1] = (uint8_t)(y * 255 / (h - 1));
            q[2] = x < w / 2 ? 40 : 200; /* a sharp edge */
        }
    return p;
}

/* encodes and decodes back; returns the max |diff| away from the edge (-1
 * on failure) and the mean |diff| of all pixels in *mean, the encoded size
 * in *bytes */
static int roundtrip(const uint8_t *rgb, int w, int h, enum imgenc_format f, int q,
                     enum img_format want, double *mean, size_t *bytes)
{
    uint8_t *enc = NULL;
    size_t n = 0;
    struct err e;
    err_clear(&e);
    if (imgenc_encode(rgb, w, h, f, q, &enc, &n, &e) != IMGENC_OK) {
        printf("# encode: %s\n", e.msg);
        return -1;
    }
    *bytes = n;
    struct img out;
    struct img_info info;
    memset(&out, 0, sizeof(out));
    int rc = img_decode(enc, n, NULL, NULL, &out, &info, &e);
    imgenc_free(enc);
    if (rc != IMG_OK || info.format != want || out.w != w || out.h != h) {
        printf("# decode: %s\n", rc != IMG_OK ? e.msg : "wrong format or size");
        img_free(&out);
        return -1;
    }
    int mx = 0;
    double sum = 0;
    size_t nb = (size_t)w * (size_t)h * 3;
    for (size_t i = 0; i < nb; i++) {
        int d = abs(out.rgb[i] - rgb[i]);
        int x = (int)(i / 3 % (size_t)w);
        /* 4:2:0 chroma rings at the sharp edge: only the mean counts there */
        if (x < w / 2 - 4 || x > w / 2 + 3)
            mx = d > mx ? d : mx;
        sum += d;
    }
    *mean = sum / (double)nb;
    img_free(&out);
    return mx;
}

int main(void)
{
    int w = 97, h = 61; /* odd sizes: partial JPEG MCUs */
    uint8_t *rgb = gradient(w, h);
    double mean;
    size_t n95, n30, n;
    TH_EQ_INT(roundtrip(rgb, w, h, IMGENC_PNG, 0, IMG_FORMAT_PNG, &mean, &n), 0,
              "PNG round trip is exact");
    TH_EQ_INT(roundtrip(rgb, w, h, IMGENC_WEBP, 101, IMG_FORMAT_WEBP, &mean, &n), 0,
              "lossless WebP round trip is exact");
    int mx = roundtrip(rgb, w, h, IMGENC_JPEG, 95, IMG_FORMAT_JPEG, &mean, &n95);
    printf("# JPEG q95: max |diff| %d, mean %.3f, %zu bytes\n", mx, mean, n95);
    TH_CHECK(mx >= 0 && mx <= JPEG_TOL, "JPEG q95 within %d per channel (got %d)", JPEG_TOL, mx);
    TH_CHECK(mean <= JPEG_MEAN, "JPEG q95 mean |diff| at most %.1f (got %.3f)", JPEG_MEAN, mean);
    mx = roundtrip(rgb, w, h, IMGENC_JPEG, 30, IMG_FORMAT_JPEG, &mean, &n30);
    TH_CHECK(mx >= 0 && n30 < n95, "JPEG q30 is smaller than q95 (%zu < %zu)", n30, n95);
    mx = roundtrip(rgb, 1, 1, IMGENC_JPEG, 90, IMG_FORMAT_JPEG, &mean, &n);
    TH_CHECK(mx >= 0 && mx <= JPEG_TOL, "a 1x1 JPEG round trips (max %d)", mx);

    uint8_t *out = (uint8_t *)1;
    size_t len = 1;
    struct err e;
    err_clear(&e);
    TH_EQ_INT(imgenc_encode(rgb, w, h, IMGENC_JPEG, 0, &out, &len, &e), IMGENC_ERR_INVALID,
              "JPEG quality 0 refused");
    TH_CHECK(out == NULL && len == 0 && strcmp(e.code, "invalid_image") == 0,
             "nothing returned, code invalid_image (%s)", e.code);
    err_clear(&e);
    TH_EQ_INT(imgenc_encode(rgb, w, h, IMGENC_JPEG, 101, &out, &len, &e), IMGENC_ERR_INVALID,
              "JPEG quality 101 refused (lossless is WebP's)");
    err_clear(&e);
    TH_EQ_INT(imgenc_encode(rgb, 70000, 1, IMGENC_JPEG, 90, &out, &len, &e), IMGENC_ERR_INVALID,
              "a JPEG wider than 65500 refused before encoding");
    err_clear(&e);
    TH_EQ_INT(img_jpeg_encode(NULL, 4, 4, 90, &out, &len, &e), IMG_ERR_INVALID,
              "img_jpeg_encode refuses no pixels");

    enum imgenc_format f;
    TH_CHECK(imgenc_format_parse("jpeg", &f) == 0 && f == IMGENC_JPEG, "\"jpeg\" parses");
    TH_CHECK(imgenc_format_parse("jpg", &f) == 0 && f == IMGENC_JPEG, "\"jpg\" parses");
    TH_CHECK(imgenc_format_parse("gif", &f) == -1, "\"gif\" is refused");
    TH_EQ_STR(imgenc_mime(IMGENC_JPEG), "image/jpeg", "JPEG MIME type");
    TH_EQ_STR(imgenc_mime(IMGENC_WEBP), "image/webp", "WebP MIME type");
    TH_EQ_STR(imgenc_mime(IMGENC_PNG), "image/png", "PNG MIME type");
    free(rgb);
    return th_done();
}
