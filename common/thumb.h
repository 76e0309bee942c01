/*
 * thumb.h: a small preview of a decoded image, for the operator's
 * dashboard (the API keeps one per job; the full input leaves with the
 * job).  Box-filtered down to fit a square of `side` pixels (never up),
 * encoded as lossy WebP with libwebp's one-call encoder (no setjmp, unlike
 * libjpeg and libpng).
 */
#ifndef VKV_THUMB_H
#define VKV_THUMB_H

#include "common/err.h"
#include "common/img.h"

struct ar;

#include <stddef.h>
#include <stdint.h>

enum thumb_status {
    THUMB_OK = 0,
    THUMB_ERR_INVALID = -2, /* side out of 8..1024, or an empty image */
    THUMB_ERR_OOM = -3,     /* allocation or the encoder failed */
};

#define THUMB_MIME "image/webp"

/*
 * The Content-Type of a stored thumbnail, by its first bytes: THUMB_MIME
 * for what thumb_webp made, "image/png" or "image/jpeg" for an input kept
 * as its own thumbnail (thumb_keeps_input).  Static string.
 */
const char *thumb_mime(const uint8_t *b, size_t n);

/*
 * Whether an input can be its own thumbnail, so that no encode runs: it
 * already fits side x side, is at most THUMB_KEEP_MAX bytes, and is a
 * PNG, WebP or upright JPEG (EXIF orientation 1: what a browser shows
 * without turning it).  info is the validating decode's (img.h).
 */
#define THUMB_KEEP_MAX ((size_t)16 << 10)
int thumb_keeps_input(const struct img_info *info, size_t len, int side);

/*
 * The thumbnail's pixels without the encode: im (RGB8, borrowed) box-
 * filtered to fit side x side (a copy when it already fits).  out->rgb is
 * in ar (until its reset) when ar is non-NULL, else malloc'd for
 * img_free().  Lets a caller keep the small picture and encode it later
 * (vkv-api does so after a synchronous call's reply).  Errors as
 * thumb_webp; *out is then empty.
 */
int thumb_shrink(const struct img *im, int side, struct ar *ar, struct img *out, struct err *e);

/*
 * Encodes a thumbnail of im (RGB8, borrowed) no larger than side x side
 * at the given WebP quality (1..100).  On THUMB_OK *out is a new buffer of
 * *len bytes the caller frees with thumb_free(); on error *out is NULL and
 * e is filled (transient for THUMB_ERR_OOM).
 */
int thumb_webp(const struct img *im, int side, int quality, uint8_t **out, size_t *len,
               struct err *e);
/* frees a buffer from thumb_webp; p may be NULL */
void thumb_free(uint8_t *p);

#endif
