/*
 * fuzz_image.c: image probing and decoding (common/img.c), with the
 * dimension guard in front of the decoder as in stb_image's harness.
 *
 * Limits are small (1 MB encoded, 2048 a side, 1 Mpx) so one input stays
 * fast.  Besides "no crash / no leak / no out-of-bounds", it checks the
 * invariants the callers rely on: a decode that succeeds agrees with the
 * probe (format, displayed size), fits the limits, and every output byte
 * is readable; probe and decode fail the same way; arena and malloc paths
 * agree; the reduced decode (img_decode_reduced) gives the same verdict;
 * and the resize of any decoded image works.
 * See tests/fuzz/README.md.
 */
#include "tests/fuzz/fuzz.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/img.h"

#include <string.h>

static volatile unsigned fuzz_image_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct img_limits lim = {1u << 20, 2048, 1u << 20, 0};
    struct img_info pinfo, dinfo;
    struct img im;
    struct err e;

    int prc = img_probe(data, size, &lim, &pinfo, &e);
    int drc = img_decode(data, size, &lim, NULL, &im, &dinfo, &e);
    /* the reduced decode (vkv-api's validation) gives the same verdict */
    struct img red;
    int rrc = img_decode_reduced(data, size, &lim, 16, NULL, &red, NULL, &e);
    CM_ASSERT(rrc == drc);
    CM_ASSERT(rrc != IMG_OK ||
              (red.w >= 1 && red.h >= 1 && red.w <= dinfo.w && red.h <= dinfo.h &&
               (dinfo.format == IMG_FORMAT_JPEG || (red.w == dinfo.w && red.h == dinfo.h))));
    img_free(&red);
    if (prc != IMG_OK) {
        /* what the probe refuses, the decoder refuses the same way */
        CM_ASSERT(drc == prc && im.rgb == NULL);
        return 0;
    }
    CM_ASSERT(drc == IMG_OK || drc == IMG_ERR_INVALID);
    if (drc != IMG_OK) {
        CM_ASSERT(im.rgb == NULL && e.cls == ERR_INVALID);
        return 0;
    }
    CM_ASSERT(dinfo.format == pinfo.format && im.w == pinfo.w && im.h == pinfo.h);
    CM_ASSERT(im.w > 0 && im.h > 0 && (uint64_t)im.w * im.h <= lim.max_pixels);
    CM_ASSERT((uint32_t)im.w <= lim.max_side && (uint32_t)im.h <= lim.max_side);
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)im.w * im.h * 3; i++)
        sum += im.rgb[i];

    /* the arena path decodes the same pixels */
    struct ar *ar = ar_init(1 << 16);
    struct img im2;
    CM_ASSERT(img_decode(data, size, &lim, ar, &im2, NULL, &e) == IMG_OK);
    CM_ASSERT(im2.w == im.w && im2.h == im.h &&
              memcmp(im2.rgb, im.rgb, (size_t)im.w * im.h * 3) == 0);

    struct img small;
    CM_ASSERT(img_resize_bilinear(&im, 7, 5, ar, &small, &e) == IMG_OK);
    ar_free(ar);
    img_free(&im);
    fuzz_image_sink = sum; /* keeps the read of every byte */
    return 0;
}
