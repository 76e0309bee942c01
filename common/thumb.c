/*
 * thumb.c: thumbnails (thumb.h).  The box filter averages every source
 * pixel into exactly one destination pixel, so a large downscale does not
 * alias the way a bilinear sample of a few pixels would; one pass over the
 * source, integer sums.
 */
#include "common/thumb.h"

#include "common/ar.h"

#include <webp/encode.h>

#include <stdlib.h>
#include <string.h>

int thumb_shrink(const struct img *im, int side, struct ar *ar, struct img *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (side < 8 || side > 1024 || im == NULL || im->rgb == NULL || im->w < 1 || im->h < 1)
        return err_set(e, THUMB_ERR_INVALID, ERR_INTERNAL, "invalid_thumbnail",
                       "cannot make a thumbnail of side %d from a %dx%d image", side,
                       im ? im->w : 0, im ? im->h : 0);
    int w = im->w, h = im->h;
    if (w > side || h > side) {
        /* fit the longer side, keep the aspect, at least one pixel */
        if (w >= h) {
            h = (int)((long long)h * side / w);
            w = side;
        } else {
            w = (int)((long long)w * side / h);
            h = side;
        }
        w = w < 1 ? 1 : w;
        h = h < 1 ? 1 : h;
    }
    size_t bytes = (size_t)w * (size_t)h * 3;
    uint8_t *dst = ar ? ar_alloc(ar, bytes) : malloc(bytes);
    /* per destination pixel of one row: channel sums and counts (32 bits
     * hold them: a destination pixel covers at most (65535/8 + 1)^2
     * source pixels of 255); per source column its destination column,
     * computed once instead of a division per pixel */
    uint32_t *acc = calloc((size_t)w * 4, sizeof(*acc));
    uint32_t *xmap = malloc((size_t)im->w * sizeof(*xmap));
    if (dst == NULL || acc == NULL || xmap == NULL) {
        if (ar == NULL)
            free(dst);
        free(acc);
        free(xmap);
        return err_set_transient(e, THUMB_ERR_OOM, "out_of_memory",
                                 "could not allocate a %dx%d thumbnail", w, h);
    }
    for (int x = 0; x < im->w; x++)
        xmap[x] = (uint32_t)((long long)x * w / im->w) * 4;
    for (int dy = 0; dy < h; dy++) {
        int y0 = (int)((long long)dy * im->h / h), y1 = (int)((long long)(dy + 1) * im->h / h);
        if (y1 <= y0)
            y1 = y0 + 1;
        memset(acc, 0, (size_t)w * 4 * sizeof(*acc));
        for (int y = y0; y < y1; y++) {
            const uint8_t *row = im->rgb + (size_t)y * (size_t)im->w * 3;
            for (int x = 0; x < im->w; x++) {
                uint32_t *a = acc + xmap[x];
                a[0] += row[3 * x];
                a[1] += row[3 * x + 1];
                a[2] += row[3 * x + 2];
                a[3]++;
            }
        }
        uint8_t *d = dst + (size_t)dy * (size_t)w * 3;
        for (int dx = 0; dx < w; dx++) {
            const uint32_t *a = acc + (size_t)dx * 4;
            for (int c = 0; c < 3; c++)
                d[3 * dx + c] = (uint8_t)((a[c] + a[3] / 2) / a[3]);
        }
    }
    free(acc);
    free(xmap);
    out->w = w;
    out->h = h;
    out->rgb = dst;
    out->owned = ar == NULL;
    return THUMB_OK;
}

int thumb_webp(const struct img *im, int side, int quality, uint8_t **out, size_t *len,
               struct err *e)
{
    *out = NULL;
    *len = 0;
    struct img small;
    int rc = thumb_shrink(im, side, NULL, &small, e);
    if (rc != THUMB_OK)
        return rc;
    int w = small.w, h = small.h;
    uint8_t *dst = small.rgb;
    /* effort level 0: about half the time of WebPEncodeRGB's default (4)
     * at 160 px for the same size within a few percent (measured with
     * libwebp 1.2.4); the thumbnail is made on every enqueue, the
     * synchronous calls' included */
    WebPConfig cfg;
    WebPPicture pic;
    WebPMemoryWriter wr;
    uint8_t *webp = NULL;
    size_t n = 0;
    WebPMemoryWriterInit(&wr);
    if (WebPConfigInit(&cfg) && WebPPictureInit(&pic)) {
        cfg.quality = (float)(quality < 1 ? 1 : quality > 100 ? 100 : quality);
        cfg.method = 0;
        pic.width = w;
        pic.height = h;
        pic.writer = WebPMemoryWrite;
        pic.custom_ptr = &wr;
        if (WebPValidateConfig(&cfg) && WebPPictureImportRGB(&pic, dst, w * 3) &&
            WebPEncode(&cfg, &pic)) {
            webp = wr.mem;
            n = wr.size;
        }
        WebPPictureFree(&pic);
    }
    free(dst);
    if (n == 0 || webp == NULL) {
        WebPMemoryWriterClear(&wr);
        return err_set_transient(e, THUMB_ERR_OOM, "out_of_memory",
                                 "could not encode a %dx%d thumbnail", w, h);
    }
    *out = webp;
    *len = n;
    return THUMB_OK;
}

void thumb_free(uint8_t *p)
{
    WebPFree(p);
}

const char *thumb_mime(const uint8_t *b, size_t n)
{
    switch (img_format_sniff(b, n)) {
    case IMG_FORMAT_PNG:
        return "image/png";
    case IMG_FORMAT_JPEG:
        return "image/jpeg";
    default:
        return THUMB_MIME;
    }
}

int thumb_keeps_input(const struct img_info *info, size_t len, int side)
{
    if (side <= 0 || len == 0 || len > THUMB_KEEP_MAX || info->w < 1 || info->h < 1 ||
        info->w > side || info->h > side)
        return 0;
    return info->format == IMG_FORMAT_PNG || info->format == IMG_FORMAT_WEBP ||
           (info->format == IMG_FORMAT_JPEG && info->orientation <= 1);
}
