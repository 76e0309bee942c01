/*
 * img.h: image probing and decoding to RGB8 (JPEG with libjpeg-turbo,
 * PNG with libpng, WebP with libwebp).
 *
 * Limits come from the caller (struct img_limits: programs fill it from
 * their VKV_MAX_IMAGE_* settings with cfg_img_limits, common/cfg.h;
 * img_limits_default() gives the built-in defaults) and are checked BEFORE any
 * pixel memory is allocated or any scan is decoded: the encoded size
 * first, then the width and height read from the headers.  A tiny file
 * declaring 60000x60000 is refused with "image_too_large" (ERR_TOO_LARGE) after
 * reading a few dozen bytes.
 *
 * Output: struct img holds w*h*3 bytes, rows top to bottom, tightly packed
 * (stride w*3), R G B.  The rules for every input:
 * - JPEG: grayscale, YCbCr, RGB, CMYK and YCCK (Adobe inverted) all become
 *   RGB; the EXIF orientation (APP1 "Exif", IFD0 tag 0x0112, read by a
 *   bounds-checked reader in img.c, not libexif) is applied, so w and h are
 *   the displayed size (swapped for orientations 5..8).  Progressive files
 *   with more than IMG_JPEG_MAX_SCANS scans are refused (CPU bomb).
 *   A truncated file (libjpeg's "premature end of data") is invalid_image.
 * - PNG: palette, gray, gray+alpha, 1/2/4/16-bit, tRNS and interlaced all
 *   become RGB8 (16-bit is scaled, not truncated); gamma is ignored.
 *   Decoded with libpng's progressive reader, which stops inflating at the
 *   first byte past the last row: compressed data appended after the image
 *   (gigabytes of zeros in a few MB) costs a CRC pass, not an inflate.
 *   The file must end with IEND.
 * - WebP: lossy and lossless still images; animated files are refused
 *   with unsupported_image_type.
 * - Alpha (PNG, WebP) is composited onto white (a transparent pixel
 *   becomes 255,255,255), as a browser shows it on a white page.
 *
 * Errors (struct err code / http):
 *   invalid_image (ERR_INVALID)  empty, corrupt or truncated data, bad header
 *   unsupported_image_type (ERR_UNSUPPORTED) not JPEG/PNG/WebP (GIF, BMP, TIFF, HEIF,
 *                                unknown magic), animated WebP, lossless
 *                                or 12-bit JPEG
 *   image_too_large (ERR_TOO_LARGE) over max_bytes, max_side or max_pixels
 *   image_too_costly (ERR_TOO_LARGE) decoding used more than max_cpu_ms of the
 *                                thread's CPU time (checked between 8 KB
 *                                feeds of PNG data and by libjpeg's progress
 *                                monitor; WebP decodes in one call, bounded
 *                                by its pixel count)
 *   out_of_memory (ERR_UNAVAILABLE) allocation failed (transient)
 *
 * libjpeg and libpng report fatal errors by longjmp from their error
 * callbacks; img.c installs its own error managers and keeps every
 * setjmp/longjmp inside one function per format (the documented way to
 * use those libraries; nothing escapes img.c).  Thread-safe: no global
 * state.  See common/README.md.
 */
#ifndef VKV_IMG_H
#define VKV_IMG_H

#include "common/ar.h"
#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

enum img_status {
    IMG_OK = 0,
    IMG_ERR_INVALID = -1,     /* invalid_image, ERR_INVALID */
    IMG_ERR_UNSUPPORTED = -2, /* unsupported_image_type, ERR_UNSUPPORTED */
    IMG_ERR_TOO_LARGE = -3,   /* image_too_large, ERR_TOO_LARGE */
    IMG_ERR_OOM = -4          /* out_of_memory, ERR_UNAVAILABLE */
};

enum img_format {
    IMG_FORMAT_UNKNOWN = 0,
    IMG_FORMAT_JPEG,
    IMG_FORMAT_PNG,
    IMG_FORMAT_WEBP,
    /* recognised but not decoded (refused as ERR_UNSUPPORTED) */
    IMG_FORMAT_GIF,
    IMG_FORMAT_BMP,
    IMG_FORMAT_TIFF,
    IMG_FORMAT_HEIF /* ISO BMFF: HEIC, AVIF */
};

/* a progressive JPEG with more scans than this is refused (invalid_image) */
#define IMG_JPEG_MAX_SCANS 500

/* caller-chosen limits; 0 in a field means "no limit" for that field */
struct img_limits {
    size_t max_bytes;    /* encoded size */
    uint32_t max_side;   /* width and height, each */
    uint64_t max_pixels; /* width * height */
    uint32_t max_cpu_ms; /* thread CPU time one decode may use (image_too_costly) */
};

/* what the headers say; w and h are after EXIF orientation */
struct img_info {
    enum img_format format;
    int w, h;               /* displayed size */
    int stored_w, stored_h; /* as stored in the file (before orientation) */
    int orientation;        /* EXIF 1..8; 1 when absent or not JPEG */
    int has_alpha;          /* PNG/WebP with an alpha channel or tRNS */
};

/* decoded pixels: w*h*3 bytes, RGB8, stride w*3 */
struct img {
    int w, h;
    uint8_t *rgb;
    int owned; /* 1: malloc'ed, freed by img_free; 0: in an arena */
};

/* ---- limits and formats ---- */

/* the built-in limits, also the defaults of the VKV_MAX_IMAGE_* and
 * VKV_MAX_DECODE_CPU_MS settings (common/cfg.c takes them from here) */
#define IMG_DEFAULT_MAX_BYTES 15728640
#define IMG_DEFAULT_MAX_SIDE 8192
#define IMG_DEFAULT_MAX_PIXELS 40000000
#define IMG_DEFAULT_MAX_CPU_MS 500

/* fills l with the built-in limits above; reads no setting; cannot fail */
void img_limits_default(struct img_limits *l);

/* the format from the first bytes (n may be small); cannot fail */
enum img_format img_format_sniff(const void *data, size_t n);

/* "jpeg", "png", "webp", "gif", ...; "unknown"; static string */
const char *img_format_name(enum img_format f);

/* "image/jpeg", ...; "application/octet-stream" for unknown */
const char *img_format_mime(enum img_format f);

/* "ok", "invalid image", ...; static string */
const char *img_status_str(int status);

/* ---- probing and decoding ---- */

/*
 * Reads the format, size, orientation and alpha of data[0..n) from the
 * headers only (no pixel data is decoded, nothing is allocated) and checks
 * them against lim (NULL = img_limits_default()).  Returns IMG_OK with *info filled,
 * or an IMG_ERR_* with e filled (*info then holds what was learnt).
 */
int img_probe(const void *data, size_t n, const struct img_limits *lim, struct img_info *info,
              struct err *e);

/*
 * Decodes data[0..n) to RGB8 with the rules above, checking lim (NULL =
 * img_limits_default()) before allocating.  On success fills *out: out->rgb is in ar
 * (valid until ar_reset/ar_free) when ar is non-NULL, otherwise a new
 * buffer the caller frees with img_free().  info (may be NULL) receives
 * the header information.  On failure returns IMG_ERR_* with e filled and
 * *out empty (nothing to free).  Thread-safe.
 */
int img_decode(const void *data, size_t n, const struct img_limits *lim, struct ar *ar,
               struct img *out, struct img_info *info, struct err *e);

/*
 * img_decode for a caller that needs the file proved whole but not every
 * pixel (vkv-api's validation, whose pixels only make a thumbnail): a JPEG
 * is decoded with libjpeg's DCT scaling at the smallest size 1/2, 1/4 or
 * 1/8 whose longer side stays >= min_side (1..; <= 0 counts as 1).  Every
 * block is still entropy-decoded, so a truncated or corrupt JPEG fails
 * exactly as in img_decode, under the same limits and CPU budget (checked
 * against the file's full size), with a fraction of the inverse-DCT,
 * upsampling and colour work and of the memory.  PNG and WebP decode at
 * full size.  out->w/h are the decoded (oriented) size; info the file's.
 * Ownership and returns as img_decode.
 */
int img_decode_reduced(const void *data, size_t n, const struct img_limits *lim, int min_side,
                       struct ar *ar, struct img *out, struct img_info *info, struct err *e);

/* frees a malloc'ed img->rgb (does nothing for arena memory); im may be NULL */
void img_free(struct img *im);

/*
 * Resizes src to w x h (each 1..65535) with bilinear interpolation and
 * half-pixel centres (OpenCV INTER_LINEAR, TF half_pixel_centers), into
 * *dst (arena or malloc as for img_decode).  Returns IMG_OK, or
 * IMG_ERR_TOO_LARGE / IMG_ERR_OOM with e.  For tests and the CLI; the
 * worker resizes on the GPU.
 */
int img_resize_bilinear(const struct img *src, int w, int h, struct ar *ar, struct img *dst,
                        struct err *e);

/* ---- encoding ---- */

/*
 * Encodes w x h RGB8 pixels (rgb borrowed, rows of w*3 bytes, each side
 * 1..65500) as a baseline JPEG (libjpeg-turbo, 4:2:0, quality 1..100).
 * Lives here because libjpeg reports errors by longjmp and img.c is the
 * one file allowed setjmp.  On IMG_OK *out is a new malloc'd buffer of
 * *len bytes the caller frees with free(); on error (IMG_ERR_INVALID: bad
 * size or quality; IMG_ERR_OOM: the encoder failed) *out is NULL and e is
 * filled.  Thread-safe.  Callers normally use imgenc_encode (imgenc.h).
 */
int img_jpeg_encode(const uint8_t *rgb, int w, int h, int quality, uint8_t **out, size_t *len,
                    struct err *e);

#endif
