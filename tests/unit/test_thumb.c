/*
 * test_thumb.c: the dashboard's job thumbnails (common/thumb.c).  Images
 * are made here; each thumbnail is decoded back with img_decode (WebP) and
 * its size and colours checked: a box filter averages every source pixel,
 * so a fine checkerboard becomes its mean grey and two colour halves stay
 * apart.  Lossy WebP (quality 90) moves colours a little: tolerance 4 of
 * 255 (measured at most 1 with Debian 12's libwebp 1.2.4).
 */
#include "common/ar.h"
#include "common/err.h"
#include "common/img.h"
#include "common/thumb.h"

#include "tests/lib/th.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TOL 4

static struct img make(int w, int h)
{
    struct img im = {w, h, calloc((size_t)w * (size_t)h * 3, 1), 1};
    return im;
}

static void px(const struct img *im, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
    uint8_t *p = im->rgb + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    p[0] = r;
    p[1] = g;
    p[2] = b;
}

/* thumbnail of im at side, decoded back into *out; 0 on success */
static int roundtrip(const struct img *im, int side, struct img *out, size_t *bytes)
{
    uint8_t *t = NULL;
    size_t n = 0;
    struct err e;
    err_clear(&e);
    if (thumb_webp(im, side, 90, &t, &n, &e) != THUMB_OK)
        return -1;
    *bytes = n;
    struct img_limits l = {1 << 24, 4096, 1 << 24, 0};
    struct img_info info;
    memset(out, 0, sizeof(*out));
    int rc = img_decode(t, n, &l, NULL, out, &info, &e);
    thumb_free(t);
    return rc == IMG_OK && info.format == IMG_FORMAT_WEBP ? 0 : -1;
}

static int near(const struct img *im, int x, int y, int r, int g, int b)
{
    const uint8_t *p = im->rgb + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    int ok = abs(p[0] - r) <= TOL && abs(p[1] - g) <= TOL && abs(p[2] - b) <= TOL;
    if (!ok)
        printf("# pixel (%d,%d) = %d %d %d, expected %d %d %d\n", x, y, p[0], p[1], p[2], r, g, b);
    return ok;
}

int main(void)
{
    struct img out;
    size_t n = 0;

    /* 1600x900, left half red, right half blue: 160x90, halves kept */
    struct img a = make(1600, 900);
    for (int y = 0; y < a.h; y++)
        for (int x = 0; x < a.w; x++)
            x < 800 ? px(&a, x, y, 220, 20, 20) : px(&a, x, y, 20, 20, 220);
    TH_CHECK(roundtrip(&a, 160, &out, &n) == 0, "a 1600x900 thumbnail encodes and decodes as WebP");
    TH_EQ_INT(out.w, 160, "the longer side is the thumbnail side");
    TH_EQ_INT(out.h, 90, "the aspect is kept (16:9)");
    TH_CHECK(near(&out, 20, 45, 220, 20, 20) && near(&out, 140, 45, 20, 20, 220),
             "the red and blue halves stay red and blue");
    TH_CHECK(n < 4096, "a flat two-colour thumbnail is small (%zu bytes)", n);
    img_free(&out);

    /* a one-pixel checkerboard of black and white averages to grey */
    struct img c = make(800, 1200);
    for (int y = 0; y < c.h; y++)
        for (int x = 0; x < c.w; x++)
            (x + y) % 2 ? px(&c, x, y, 255, 255, 255) : px(&c, x, y, 0, 0, 0);
    TH_CHECK(roundtrip(&c, 120, &out, &n) == 0, "a portrait checkerboard thumbnail");
    TH_CHECK(out.w == 80 && out.h == 120, "portrait: 80x120 (got %dx%d)", out.w, out.h);
    TH_CHECK(near(&out, 40, 60, 128, 128, 128), "the box filter averages the checkerboard to grey");
    img_free(&out);

    /* never scaled up */
    struct img s = make(50, 30);
    for (int y = 0; y < s.h; y++)
        for (int x = 0; x < s.w; x++)
            px(&s, x, y, 30, 160, 60);
    TH_CHECK(roundtrip(&s, 160, &out, &n) == 0, "a small image's thumbnail");
    TH_CHECK(out.w == 50 && out.h == 30, "a 50x30 image stays 50x30 (got %dx%d)", out.w, out.h);
    TH_CHECK(near(&out, 25, 15, 30, 160, 60), "and keeps its colour");
    img_free(&out);

    /* a 4000x1 strip: at least one pixel high */
    struct img l = make(4000, 1);
    TH_CHECK(roundtrip(&l, 160, &out, &n) == 0 && out.w == 160 && out.h == 1,
             "a 4000x1 strip becomes 160x1");
    img_free(&out);

    /* the pixels alone (encoded later by vkv-api), in an arena: exact box
     * means, no lossy step */
    struct ar *ar = ar_init(1 << 20);
    struct err e0;
    struct img sm;
    err_clear(&e0);
    TH_EQ_INT(thumb_shrink(&c, 120, ar, &sm, &e0), THUMB_OK, "thumb_shrink into an arena");
    TH_CHECK(sm.w == 80 && sm.h == 120 && !sm.owned, "80x120, arena-owned (got %dx%d, owned %d)",
             sm.w, sm.h, sm.owned);
    int grey = 1;
    for (int i = 0; i < sm.w * sm.h * 3; i++)
        grey &= sm.rgb[i] >= 127 && sm.rgb[i] <= 128;
    TH_CHECK(grey, "the checkerboard's box means are 127-128 everywhere");
    TH_EQ_INT(thumb_shrink(&c, 4, ar, &sm, &e0), THUMB_ERR_INVALID, "side 4 is refused");
    TH_CHECK(sm.rgb == NULL, "and leaves no pixels");
    ar_free(ar);

    /* bad arguments */
    uint8_t *t = (uint8_t *)1;
    struct err e;
    err_clear(&e);
    TH_EQ_INT(thumb_webp(&a, 4, 80, &t, &n, &e), THUMB_ERR_INVALID, "side 4 is refused");
    TH_CHECK(t == NULL && e.code[0] != '\0', "with no buffer and a code (%s)", e.code);
    struct img empty = {0, 0, NULL, 0};
    TH_EQ_INT(thumb_webp(&empty, 160, 80, &t, &n, &e), THUMB_ERR_INVALID,
              "an empty image is refused");
    thumb_free(NULL); /* a no-op (ASan/UBSan builds would object) */

    free(a.rgb);
    free(c.rgb);
    free(s.rgb);
    free(l.rgb);
    return th_done();
}
