/*
 * img.c: image probing and decoding to RGB8 (libjpeg-turbo, libpng,
 * libwebp), EXIF orientation, bilinear resize.
 *
 * Design: img_decode() = img_probe() + one decoder.  img_probe() reads
 * only headers with bounds-checked readers of our own (JPEG markers up to
 * SOF, the EXIF IFD0 orientation tag, the PNG IHDR and tRNS chunks) or
 * WebPGetFeatures, and checks the limits, so nothing is allocated for an
 * oversized image.  Each decoder then re-reads the header through its
 * library and refuses any disagreement with the probe, so the buffers it
 * was given (sized from the probe) can never be overrun.
 *
 * libjpeg and libpng signal errors by calling an error callback that must
 * not return; we longjmp out of it back into img_jpeg_decode() /
 * img_png_decode() / img_jpeg_encode(), the only functions here that call
 * setjmp.  Their
 * locals that change after setjmp are volatile; after the jump they
 * destroy the library state and free their own temporaries.  Nothing
 * else in vkvision uses setjmp/longjmp (STYLE.md §5).
 * See common/img.h for the rules and common/README.md.
 */
#include "common/img.h"

#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- limits, formats, small helpers ---- */

void img_limits_default(struct img_limits *l)
{
    l->max_bytes = IMG_DEFAULT_MAX_BYTES;
    l->max_side = IMG_DEFAULT_MAX_SIDE;
    l->max_pixels = IMG_DEFAULT_MAX_PIXELS;
    l->max_cpu_ms = IMG_DEFAULT_MAX_CPU_MS;
}

const char *img_format_name(enum img_format f)
{
    switch (f) {
    case IMG_FORMAT_JPEG:
        return "jpeg";
    case IMG_FORMAT_PNG:
        return "png";
    case IMG_FORMAT_WEBP:
        return "webp";
    case IMG_FORMAT_GIF:
        return "gif";
    case IMG_FORMAT_BMP:
        return "bmp";
    case IMG_FORMAT_TIFF:
        return "tiff";
    case IMG_FORMAT_HEIF:
        return "heif";
    case IMG_FORMAT_UNKNOWN:
        break;
    }
    return "unknown";
}

const char *img_format_mime(enum img_format f)
{
    switch (f) {
    case IMG_FORMAT_JPEG:
        return "image/jpeg";
    case IMG_FORMAT_PNG:
        return "image/png";
    case IMG_FORMAT_WEBP:
        return "image/webp";
    case IMG_FORMAT_GIF:
        return "image/gif";
    case IMG_FORMAT_BMP:
        return "image/bmp";
    case IMG_FORMAT_TIFF:
        return "image/tiff";
    case IMG_FORMAT_HEIF:
        return "image/heif";
    case IMG_FORMAT_UNKNOWN:
        break;
    }
    return "application/octet-stream";
}

const char *img_status_str(int status)
{
    switch (status) {
    case IMG_OK:
        return "ok";
    case IMG_ERR_INVALID:
        return "invalid image";
    case IMG_ERR_UNSUPPORTED:
        return "unsupported image type";
    case IMG_ERR_TOO_LARGE:
        return "image too large";
    case IMG_ERR_OOM:
        return "out of memory";
    }
    return "unknown img status";
}

static const uint8_t img_png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

enum img_format img_format_sniff(const void *data, size_t n)
{
    const uint8_t *d = data;
    if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
        return IMG_FORMAT_JPEG;
    if (n >= 8 && memcmp(d, img_png_sig, 8) == 0)
        return IMG_FORMAT_PNG;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return IMG_FORMAT_WEBP;
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return IMG_FORMAT_GIF;
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0))
        return IMG_FORMAT_TIFF;
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0)
        return IMG_FORMAT_HEIF;
    if (n >= 14 && d[0] == 'B' && d[1] == 'M')
        return IMG_FORMAT_BMP;
    return IMG_FORMAT_UNKNOWN;
}

static uint32_t img_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned img_be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* the size checks shared by every format; w, h as stored */
static int img_limits_check(uint64_t w, uint64_t h, const struct img_limits *lim, struct err *e)
{
    if (w == 0 || h == 0)
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                       "invalid image: size %llux%llu", (unsigned long long)w,
                       (unsigned long long)h);
    if (lim->max_side && (w > lim->max_side || h > lim->max_side))
        return err_set(e, IMG_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                       "image is %llux%llu, larger than %u pixels on a side", (unsigned long long)w,
                       (unsigned long long)h, lim->max_side);
    if (lim->max_pixels && w * h > lim->max_pixels)
        return err_set(e, IMG_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                       "image is %llux%llu = %llu pixels, more than %llu", (unsigned long long)w,
                       (unsigned long long)h, (unsigned long long)(w * h),
                       (unsigned long long)lim->max_pixels);
    /* whatever the limits: w*h*4 bytes must be addressable */
    if (w * h > SIZE_MAX / 8)
        return err_set(e, IMG_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                       "image is %llux%llu, too large to address", (unsigned long long)w,
                       (unsigned long long)h);
    return IMG_OK;
}

/* ---- headers: JPEG markers and EXIF ---- */

/*
 * Returns the EXIF orientation (1..8) from a TIFF structure t[0..n) (the
 * APP1 payload after "Exif\0\0"); 1 when absent or malformed.  Every read
 * is bounds-checked against n.
 */
static int img_exif_orientation(const uint8_t *t, size_t n)
{
    int le;
    if (n < 8)
        return 1;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 1;
#define RD16(p) (le ? (unsigned)(p)[0] | (unsigned)(p)[1] << 8 : img_be16(p))
#define RD32(p)                                                                                    \
    (le ? (uint32_t)(p)[0] | (uint32_t)(p)[1] << 8 | (uint32_t)(p)[2] << 16 |                      \
              (uint32_t)(p)[3] << 24                                                               \
        : img_be32(p))
    if (RD16(t + 2) != 42)
        return 1;
    uint32_t off = RD32(t + 4);
    if (off > n || n - off < 2)
        return 1;
    unsigned cnt = RD16(t + off);
    size_t p = (size_t)off + 2;
    for (unsigned i = 0; i < cnt && n - p >= 12; i++, p += 12) {
        const uint8_t *en = t + p;
        if (RD16(en) != 0x0112)
            continue;
        /* type SHORT (3), count >= 1: the value sits in the first 2 bytes */
        if (RD16(en + 2) != 3 || RD32(en + 4) < 1)
            return 1;
        unsigned v = RD16(en + 8);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
#undef RD16
#undef RD32
    return 1;
}

/*
 * Walks the JPEG markers from SOI to the first SOF, filling the stored
 * size and the EXIF orientation (first APP1 "Exif" before the SOF).
 */
static int img_jpeg_probe(const uint8_t *d, size_t n, struct img_info *info, struct err *e)
{
    size_t i = 2;
    int orientation = 0;
    for (;;) {
        if (i >= n)
            return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image: jpeg ends before its frame header");
        if (d[i] != 0xff)
            return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image: jpeg marker expected at offset %zu", i);
        while (i < n && d[i] == 0xff) /* fill bytes */
            i++;
        if (i >= n)
            continue;
        unsigned m = d[i++];
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd7))
            continue; /* standalone markers */
        if (m == 0xd8 || m == 0xd9 || m == 0xda)
            return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image: jpeg marker 0x%02x before the frame header", m);
        if (n - i < 2)
            return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image: jpeg ends inside a marker");
        size_t len = img_be16(d + i);
        if (len < 2 || len > n - i)
            return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image: jpeg segment 0x%02x of %zu bytes at offset %zu "
                           "does not fit in %zu bytes",
                           m, len, i, n);
        const uint8_t *seg = d + i + 2;
        size_t sn = len - 2;
        if (m == 0xe1 && !orientation && sn >= 6 && memcmp(seg, "Exif\0\0", 6) == 0)
            orientation = img_exif_orientation(seg + 6, sn - 6);
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            if (sn < 6)
                return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                               "invalid image: jpeg frame header of %zu bytes", sn);
            info->stored_h = (int)img_be16(seg + 1);
            info->stored_w = (int)img_be16(seg + 3);
            info->orientation = orientation ? orientation : 1;
            /* lossless (SOF3/7/11/15) and 12/16-bit JPEG: valid files that
             * this 8-bit libjpeg-turbo build does not decode */
            if ((m & 3) == 3 || seg[0] != 8)
                return err_set(e, IMG_ERR_UNSUPPORTED, ERR_UNSUPPORTED, "unsupported_image_type",
                               "unsupported image type: %s jpeg (SOF 0x%02x, %u-bit)",
                               (m & 3) == 3 ? "lossless" : "high bit depth", m, seg[0]);
            return IMG_OK;
        }
        i += len;
    }
}

/* ---- headers: PNG ---- */

static int img_png_probe(const uint8_t *d, size_t n, struct img_info *info, struct err *e)
{
    if (n < 33 || img_be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0)
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                       "invalid image: png without a complete IHDR chunk");
    uint32_t w = img_be32(d + 16), h = img_be32(d + 20);
    unsigned depth = d[24], ct = d[25];
    int ok = 0;
    switch (ct) {
    case 0:
        ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
        break;
    case 3:
        ok = depth == 1 || depth == 2 || depth == 4 || depth == 8;
        break;
    case 2:
    case 4:
    case 6:
        ok = depth == 8 || depth == 16;
        break;
    }
    if (!ok || w > PNG_UINT_31_MAX || h > PNG_UINT_31_MAX)
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                       "invalid image: png header (%ux%u, color type %u, depth %u)", w, h, ct,
                       depth);
    info->stored_w = (int)(w > INT32_MAX ? INT32_MAX : w);
    info->stored_h = (int)(h > INT32_MAX ? INT32_MAX : h);
    info->has_alpha = ct == 4 || ct == 6;
    /* a tRNS chunk before IDAT also means alpha (chunks walked, bounded) */
    size_t i = 33;
    while (!info->has_alpha && n - i >= 12) {
        uint32_t len = img_be32(d + i);
        if (memcmp(d + i + 4, "IDAT", 4) == 0 || memcmp(d + i + 4, "IEND", 4) == 0)
            break;
        if (memcmp(d + i + 4, "tRNS", 4) == 0)
            info->has_alpha = 1;
        if (len > n - i - 12)
            break;
        i += 12 + (size_t)len;
    }
    return IMG_OK;
}

/* ---- probe ---- */

/* NULL limits mean the configured defaults */
static const struct img_limits *img_limits_or_default(const struct img_limits *lim,
                                                      struct img_limits *tmp)
{
    if (lim)
        return lim;
    img_limits_default(tmp);
    return tmp;
}

/*
 * Reads format, size and orientation from the headers of data[0..n) and
 * checks them against lim (NULL: img_limits_default).  Allocates nothing
 * and decodes no pixels.  Returns IMG_OK or an IMG_ERR_* with e filled.
 */
int img_probe(const void *data, size_t n, const struct img_limits *lim, struct img_info *info,
              struct err *e)
{
    struct img_limits tmp;
    const uint8_t *d = data;
    int rc;

    lim = img_limits_or_default(lim, &tmp);
    memset(info, 0, sizeof *info);
    info->orientation = 1;
    if (n == 0 || d == NULL)
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image", "invalid image: empty");
    if (lim->max_bytes && n > lim->max_bytes)
        return err_set(e, IMG_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                       "image is %zu bytes, more than the limit of %zu", n, lim->max_bytes);
    info->format = img_format_sniff(d, n);
    switch (info->format) {
    case IMG_FORMAT_JPEG:
        rc = img_jpeg_probe(d, n, info, e);
        break;
    case IMG_FORMAT_PNG:
        rc = img_png_probe(d, n, info, e);
        break;
    case IMG_FORMAT_WEBP: {
        WebPBitstreamFeatures f;
        VP8StatusCode st = WebPGetFeatures(d, n, &f);
        if (st == VP8_STATUS_UNSUPPORTED_FEATURE)
            return err_set(e, IMG_ERR_UNSUPPORTED, ERR_UNSUPPORTED, "unsupported_image_type",
                           "unsupported image type: webp with an unsupported feature");
        if (st != VP8_STATUS_OK)
            return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image: webp header (libwebp status %d)", (int)st);
        info->stored_w = f.width;
        info->stored_h = f.height;
        info->has_alpha = f.has_alpha;
        if (f.has_animation)
            return err_set(e, IMG_ERR_UNSUPPORTED, ERR_UNSUPPORTED, "unsupported_image_type",
                           "unsupported image type: animated webp");
        rc = IMG_OK;
        break;
    }
    case IMG_FORMAT_UNKNOWN:
        if (n < 12)
            return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image: %zu bytes are too few for an image", n);
        return err_set(e, IMG_ERR_UNSUPPORTED, ERR_UNSUPPORTED, "unsupported_image_type",
                       "unsupported image type: unrecognised data starting "
                       "%02x %02x %02x %02x; send JPEG, PNG or WebP",
                       d[0], d[1], d[2], d[3]);
    default:
        return err_set(e, IMG_ERR_UNSUPPORTED, ERR_UNSUPPORTED, "unsupported_image_type",
                       "unsupported image type: %s; send JPEG, PNG or WebP",
                       img_format_name(info->format));
    }
    if (rc != IMG_OK)
        return rc;
    if ((rc = img_limits_check((uint64_t)(unsigned)info->stored_w,
                               (uint64_t)(unsigned)info->stored_h, lim, e)) != IMG_OK)
        return rc;
    if (info->orientation >= 5) {
        info->w = info->stored_h;
        info->h = info->stored_w;
    } else {
        info->w = info->stored_w;
        info->h = info->stored_h;
    }
    return IMG_OK;
}

/* ---- pixel buffers ---- */

static uint8_t *img_buf_alloc(struct ar *ar, size_t n)
{
    return ar ? ar_alloc(ar, n) : malloc(n);
}

static int img_oom(struct err *e, size_t n)
{
    return err_set_transient(e, IMG_ERR_OOM, "out_of_memory",
                             "could not allocate %zu bytes for image pixels", n);
}

/* RGBA (n pixels) -> RGB composited on white; in place is allowed (dst <= src) */
static void img_rgba_on_white(uint8_t *dst, const uint8_t *src, size_t npix)
{
    for (size_t i = 0; i < npix; i++) {
        unsigned a = src[4 * i + 3], na = 255 - a;
        for (int c = 0; c < 3; c++)
            dst[3 * i + c] = (uint8_t)((src[4 * i + c] * a + 255 * na + 127) / 255);
    }
}

/* ---- JPEG decoder ---- */

struct img_jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    uint64_t cpu0;   /* thread CPU ms at the start */
    uint32_t budget; /* max_cpu_ms, 0 = none */
    int costly;      /* the budget was exceeded */
};

static uint64_t img_cpu_ms(void);

static void img_jpeg_error_exit(j_common_ptr c)
{
    struct img_jpeg_err *je = (struct img_jpeg_err *)c->err;
    c->err->format_message(c, je->msg);
    longjmp(je->jb, 1);
}

/* warnings are ignored except "premature end of file" (truncated data) */
static void img_jpeg_emit(j_common_ptr c, int level)
{
    if (level >= 0)
        return;
    if (c->err->msg_code == JWRN_JPEG_EOF)
        img_jpeg_error_exit(c);
    c->err->num_warnings++;
}

static void img_jpeg_progress(j_common_ptr c)
{
    if (c->is_decompressor && ((j_decompress_ptr)c)->input_scan_number > IMG_JPEG_MAX_SCANS) {
        struct img_jpeg_err *je = (struct img_jpeg_err *)c->err;
        snprintf(je->msg, sizeof je->msg, "more than %d progressive scans", IMG_JPEG_MAX_SCANS);
        longjmp(je->jb, 1);
    }
    struct img_jpeg_err *je = (struct img_jpeg_err *)c->err;
    if (je->budget && img_cpu_ms() - je->cpu0 > je->budget) {
        je->costly = 1;
        longjmp(je->jb, 1);
    }
}

/*
 * Decodes a JPEG of stored size info->stored_w x stored_h into dst
 * (w*h*3 bytes).  The only setjmp of the JPEG path; see the file comment.
 */
static int img_too_costly(struct err *e, const struct img_limits *lim);

static int img_jpeg_decode(const uint8_t *d, size_t n, const struct img_info *info,
                           const struct img_limits *lim, int denom, uint8_t *dst, struct err *e)
{
    struct jpeg_decompress_struct cinfo;
    struct img_jpeg_err jerr;
    struct jpeg_progress_mgr prog;
    memset(&prog, 0, sizeof prog);
    uint8_t *volatile row4 = NULL;
    /* the output size of DCT scaling by 1/denom: libjpeg rounds up */
    size_t w = ((size_t)info->stored_w + (size_t)denom - 1) / (size_t)denom;
    size_t h = ((size_t)info->stored_h + (size_t)denom - 1) / (size_t)denom;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = img_jpeg_error_exit;
    jerr.pub.emit_message = img_jpeg_emit;
    jerr.msg[0] = 0;
    jerr.cpu0 = img_cpu_ms();
    jerr.budget = lim->max_cpu_ms;
    jerr.costly = 0;
    if (setjmp(jerr.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(row4);
        if (jerr.costly)
            return img_too_costly(e, lim);
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image", "invalid image: jpeg: %s",
                       jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    prog.progress_monitor = img_jpeg_progress;
    cinfo.progress = &prog;
    jpeg_mem_src(&cinfo, d, (unsigned long)n);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        snprintf(jerr.msg, sizeof jerr.msg, "no image in the stream");
        longjmp(jerr.jb, 1);
    }
    if (cinfo.image_width != (JDIMENSION)info->stored_w ||
        cinfo.image_height != (JDIMENSION)info->stored_h) {
        snprintf(jerr.msg, sizeof jerr.msg, "frame size %ux%u differs from the header",
                 cinfo.image_width, cinfo.image_height);
        longjmp(jerr.jb, 1);
    }
    /* scaling skips only inverse-DCT work: every block is still entropy
     * decoded, so a truncated or corrupt stream fails as at full size */
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned int)denom;
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != w || cinfo.output_height != h ||
        cinfo.output_components != (cmyk ? 4 : 3)) {
        snprintf(jerr.msg, sizeof jerr.msg, "unexpected output %ux%ux%d", cinfo.output_width,
                 cinfo.output_height, cinfo.output_components);
        longjmp(jerr.jb, 1);
    }
    if (cmyk && (row4 = malloc(w * 4)) == NULL) {
        snprintf(jerr.msg, sizeof jerr.msg, "out of memory");
        longjmp(jerr.jb, 1);
    }
    int adobe = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rows[16];
        JDIMENSION want = 1;
        if (cmyk) {
            rows[0] = row4;
        } else {
            want = cinfo.output_height - cinfo.output_scanline;
            if (want > 16)
                want = 16;
            for (JDIMENSION r = 0; r < want; r++)
                rows[r] = dst + (y + r) * w * 3;
        }
        JDIMENSION got = jpeg_read_scanlines(&cinfo, rows, want);
        if (got == 0) {
            snprintf(jerr.msg, sizeof jerr.msg, "decoder returned no rows");
            longjmp(jerr.jb, 1);
        }
        if (cmyk) {
            /* Adobe writes inverted CMYK: R = C*K/255; plain: (255-C)(255-K)/255 */
            uint8_t *o = dst + y * w * 3;
            for (size_t x = 0; x < w; x++) {
                unsigned k = row4[4 * x + 3];
                for (int c = 0; c < 3; c++) {
                    unsigned v = row4[4 * x + c];
                    o[3 * x + c] = adobe ? (uint8_t)((v * k + 127) / 255)
                                         : (uint8_t)(((255 - v) * (255 - k) + 127) / 255);
                }
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row4);
    return IMG_OK;
}

/* ---- JPEG encoder ---- */

/* what the encoder's longjmp must find intact: on the heap, so no local
 * changed after setjmp is read after the jump */
struct img_jpeg_out {
    unsigned char *buf; /* jpeg_mem_dest's buffer (malloc'd by libjpeg-turbo) */
    unsigned long size;
};

int img_jpeg_encode(const uint8_t *rgb, int w, int h, int quality, uint8_t **out, size_t *len,
                    struct err *e)
{
    *out = NULL;
    *len = 0;
    if (rgb == NULL || w < 1 || h < 1 || (long)w > JPEG_MAX_DIMENSION ||
        (long)h > JPEG_MAX_DIMENSION || quality < 1 || quality > 100)
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                       "JPEG holds 1..%ld pixels a side at quality 1..100, not %dx%d at %d",
                       (long)JPEG_MAX_DIMENSION, w, h, quality);
    struct img_jpeg_out *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return img_oom(e, sizeof(*o));
    struct jpeg_compress_struct cinfo;
    struct img_jpeg_err jerr;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = img_jpeg_error_exit;
    jerr.msg[0] = 0;
    jerr.costly = 0;
    if (setjmp(jerr.jb)) {
        jpeg_destroy_compress(&cinfo);
        free(o->buf);
        free(o);
        return err_set(e, IMG_ERR_OOM, ERR_INTERNAL, "encode_failed", "JPEG encoder: %s", jerr.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &o->buf, &o->size);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        /* libjpeg's row type is not const; it only reads the rows */
        JSAMPROW row = (JSAMPROW)(uintptr_t)(rgb + (size_t)cinfo.next_scanline * (size_t)w * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = o->buf;
    *len = (size_t)o->size;
    free(o);
    return IMG_OK;
}

/* ---- PNG decoder ---- */

/*
 * The PNG path uses libpng's progressive (push) reader, fed IMG_PNG_FEED
 * bytes at a time, not the pull reader: after the last row the pull
 * reader inflates whatever compressed data follows in the IDAT chunks to
 * the end of the zlib stream (10 GB of zeros behind a 16x16 image took
 * 53 s), while the push reader stops inflating at the first byte of
 * output past the last row and only skips (CRC) the rest.  So the work is
 * bounded by the image's own size, and the CPU budget is checked between
 * feeds.
 */
#define IMG_PNG_FEED 8192

struct img_png_ctx {
    char msg[160];
    size_t w, h;
    int last_pass; /* 6 for Adam7, 0 otherwise */
    int rows_done; /* the last row of the last pass was delivered */
    int end_seen;  /* IEND was read */
    int info_ok;   /* the info callback accepted the layout */
    size_t ch;     /* 3 or 4 after the transforms */
    uint8_t *base; /* dst, or the RGBA temporary */
    uint8_t *rgba; /* malloc'd when ch == 4 */
    uint8_t *dst;
};

static void img_png_error(png_structp png, png_const_charp msg)
{
    struct img_png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void img_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void img_png_fail(png_structp png, struct img_png_ctx *c, const char *msg)
{
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void img_png_info_cb(png_structp png, png_infop pinfo)
{
    struct img_png_ctx *c = png_get_progressive_ptr(png);
    if (png_get_image_width(png, pinfo) != c->w || png_get_image_height(png, pinfo) != c->h)
        img_png_fail(png, c, "size differs from the header");
    int ct = png_get_color_type(png, pinfo);
    if (png_get_bit_depth(png, pinfo) == 16)
        png_set_scale_16(png);
    png_set_expand(png); /* palette -> RGB, gray < 8 bit -> 8, tRNS -> alpha */
    if (!(ct & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    c->last_pass = png_set_interlace_handling(png) - 1;
    png_read_update_info(png, pinfo);
    c->ch = png_get_channels(png, pinfo);
    if ((c->ch != 3 && c->ch != 4) || png_get_rowbytes(png, pinfo) != c->w * c->ch ||
        png_get_bit_depth(png, pinfo) != 8)
        img_png_fail(png, c, "unexpected layout after transforms");
    c->base = c->dst;
    if (c->ch == 4) {
        /* calloc: an interlaced pass combines into the rows it leaves */
        if ((c->rgba = calloc(c->w * c->h, 4)) == NULL)
            img_png_fail(png, c, "out of memory");
        c->base = c->rgba;
    } else {
        memset(c->dst, 0, c->w * c->h * 3);
    }
    c->info_ok = 1;
}

static void img_png_row_cb(png_structp png, png_bytep row, png_uint_32 y, int pass)
{
    struct img_png_ctx *c = png_get_progressive_ptr(png);
    if (!c->info_ok || y >= c->h || pass > c->last_pass)
        img_png_fail(png, c, "row outside the image");
    if (row != NULL)
        png_progressive_combine_row(png, c->base + (size_t)y * c->w * c->ch, row);
    /* libpng calls back for every row of the last pass, with NULL where
     * that pass has no pixels: its last call marks the image complete */
    if (pass == c->last_pass && y == c->h - 1)
        c->rows_done = 1;
}

static void img_png_end_cb(png_structp png, png_infop pinfo)
{
    struct img_png_ctx *c = png_get_progressive_ptr(png);
    (void)pinfo;
    c->end_seen = 1;
}

/* thread CPU time in ms; 0 when the clock is unavailable (no budget) */
static uint64_t img_cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int img_cpu_over(uint64_t start_ms, const struct img_limits *lim)
{
    return lim->max_cpu_ms && img_cpu_ms() - start_ms > lim->max_cpu_ms;
}

static int img_too_costly(struct err *e, const struct img_limits *lim)
{
    return err_set(e, IMG_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_costly",
                   "decoding the image took more than the budget of %u ms of CPU",
                   (unsigned)lim->max_cpu_ms);
}

/*
 * Decodes a PNG of stored size info->stored_w x stored_h into dst
 * (w*h*3 bytes); alpha is composited on white.  The only setjmp of the
 * PNG path; see the file comment.
 */
static int img_png_decode(const uint8_t *d, size_t n, const struct img_info *info,
                          const struct img_limits *lim, uint8_t *dst, struct err *e)
{
    struct img_png_ctx ctx = {
        .msg = "", .w = (size_t)info->stored_w, .h = (size_t)info->stored_h, .dst = dst};
    struct img_png_ctx *volatile cp = &ctx;
    png_structp png;
    png_infop pinfo = NULL;
    volatile int costly = 0;
    const volatile uint64_t t0 = img_cpu_ms();

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, img_png_error, img_png_warning);
    if (png == NULL || (pinfo = png_create_info_struct(png)) == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        return img_oom(e, sizeof(png_struct *));
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(cp->rgba);
        if (costly)
            return img_too_costly(e, lim);
        if (strcmp(cp->msg, "out of memory") == 0)
            return img_oom(e, cp->w * cp->h * 4);
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image", "invalid image: png: %s",
                       cp->msg);
    }
    uint32_t side = lim->max_side ? lim->max_side : PNG_UINT_31_MAX;
    png_set_user_limits(png, side, side);
    png_set_chunk_cache_max(png, 128);
    png_set_chunk_malloc_max(png, 8u << 20);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    /* skip every known ancillary chunk except tRNS: no text (zTXt/iTXt
     * bombs), ICC profiles or gamma are used, so none is decompressed */
    static const png_byte skip[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0"
                                   "pCAL\0pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skip, (int)(sizeof skip / 5));
    png_set_progressive_read_fn(png, &ctx, img_png_info_cb, img_png_row_cb, img_png_end_cb);
    /* fed to IEND: past the last row libpng no longer inflates, it only
     * checks the CRCs of what follows, so a truncated file is still found */
    for (size_t off = 0; off < n && !ctx.end_seen; off += IMG_PNG_FEED) {
        size_t len = n - off < IMG_PNG_FEED ? n - off : IMG_PNG_FEED;
        png_process_data(png, pinfo, (png_bytep)(uintptr_t)(d + off), len);
        if (img_cpu_over(t0, lim)) {
            costly = 1;
            png_longjmp(png, 1);
        }
    }
    if (!ctx.rows_done || !ctx.end_seen) {
        snprintf(ctx.msg, sizeof ctx.msg, "%s",
                 !ctx.info_ok     ? "truncated file (no image data)"
                 : !ctx.rows_done ? "image data ends before the last row"
                                  : "truncated file (no IEND chunk)");
        png_longjmp(png, 1);
    }
    png_destroy_read_struct(&png, &pinfo, NULL);
    if (ctx.ch == 4)
        img_rgba_on_white(dst, ctx.rgba, ctx.w * ctx.h);
    free(ctx.rgba);
    return IMG_OK;
}

/* ---- WebP decoder ---- */

static int img_webp_decode(const uint8_t *d, size_t n, const struct img_info *info, uint8_t *dst,
                           struct err *e)
{
    size_t w = (size_t)info->stored_w, h = (size_t)info->stored_h;
    if (!info->has_alpha) {
        if (WebPDecodeRGBInto(d, n, dst, w * h * 3, (int)(w * 3)) == NULL)
            return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                           "invalid image: webp data could not be decoded");
        return IMG_OK;
    }
    uint8_t *rgba = malloc(w * h * 4);
    if (rgba == NULL)
        return img_oom(e, w * h * 4);
    if (WebPDecodeRGBAInto(d, n, rgba, w * h * 4, (int)(w * 4)) == NULL) {
        free(rgba);
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image",
                       "invalid image: webp data could not be decoded");
    }
    img_rgba_on_white(dst, rgba, w * h);
    free(rgba);
    return IMG_OK;
}

/* ---- orientation ---- */

/* writes src (sw x sh) to dst turned by EXIF orientation o (2..8) */
static void img_orient(const uint8_t *src, size_t sw, size_t sh, int o, uint8_t *dst)
{
    size_t dw = o >= 5 ? sh : sw, dh = o >= 5 ? sw : sh;
    for (size_t y = 0; y < dh; y++) {
        for (size_t x = 0; x < dw; x++) {
            size_t sx, sy;
            switch (o) {
            case 2:
                sx = sw - 1 - x;
                sy = y;
                break;
            case 3:
                sx = sw - 1 - x;
                sy = sh - 1 - y;
                break;
            case 4:
                sx = x;
                sy = sh - 1 - y;
                break;
            case 5:
                sx = y;
                sy = x;
                break;
            case 6:
                sx = y;
                sy = sh - 1 - x;
                break;
            case 7:
                sx = sw - 1 - y;
                sy = sh - 1 - x;
                break;
            case 8:
                sx = sw - 1 - y;
                sy = x;
                break;
            default:
                sx = x;
                sy = y;
                break;
            }
            memcpy(dst + (y * dw + x) * 3, src + (sy * sw + sx) * 3, 3);
        }
    }
}

/* ---- decode ---- */

/*
 * Probes, checks limits, then decodes data[0..n) to RGB8 with EXIF
 * orientation applied.  Ownership and errors: see img.h.  Thread-safe.
 */
/* img_decode, a JPEG at 1/denom (1, 2, 4 or 8) of its size; min_side > 0
 * picks the denominator (img_decode_reduced) */
static int img_decode_at(const void *data, size_t n, const struct img_limits *lim, int min_side,
                         struct ar *ar, struct img *out, struct img_info *info_out, struct err *e)
{
    struct img_limits tmp;
    struct img_info info;
    int rc;

    memset(out, 0, sizeof *out);
    lim = img_limits_or_default(lim, &tmp);
    rc = img_probe(data, n, lim, &info, e);
    if (info_out)
        *info_out = info;
    if (rc != IMG_OK)
        return rc;

    int denom = 1;
    if (min_side > 0 && info.format == IMG_FORMAT_JPEG) {
        int longer = info.stored_w > info.stored_h ? info.stored_w : info.stored_h;
        while (denom < 8 && (longer + 2 * denom - 1) / (2 * denom) >= min_side)
            denom *= 2;
    }
    size_t sw = ((size_t)info.stored_w + (size_t)denom - 1) / (size_t)denom;
    size_t sh = ((size_t)info.stored_h + (size_t)denom - 1) / (size_t)denom;
    size_t bytes = sw * sh * 3;
    uint8_t *final = img_buf_alloc(ar, bytes);
    if (final == NULL)
        return img_oom(e, bytes);
    /* with an orientation to apply, decode into a temporary first */
    uint8_t *pix = final;
    if (info.orientation != 1 && (pix = malloc(bytes)) == NULL) {
        if (!ar)
            free(final);
        return img_oom(e, bytes);
    }
    switch (info.format) {
    case IMG_FORMAT_JPEG:
        rc = img_jpeg_decode(data, n, &info, lim, denom, pix, e);
        break;
    case IMG_FORMAT_PNG:
        rc = img_png_decode(data, n, &info, lim, pix, e);
        break;
    case IMG_FORMAT_WEBP:
        rc = img_webp_decode(data, n, &info, pix, e);
        break;
    default:
        rc = err_set(e, IMG_ERR_UNSUPPORTED, ERR_UNSUPPORTED, "unsupported_image_type",
                     "unsupported image type: %s", img_format_name(info.format));
        break;
    }
    if (rc == IMG_OK && pix != final)
        img_orient(pix, sw, sh, info.orientation, final);
    if (pix != final)
        free(pix);
    if (rc != IMG_OK) {
        if (!ar)
            free(final);
        return rc;
    }
    out->w = (int)(info.orientation >= 5 ? sh : sw);
    out->h = (int)(info.orientation >= 5 ? sw : sh);
    out->rgb = final;
    out->owned = ar == NULL;
    return IMG_OK;
}

int img_decode(const void *data, size_t n, const struct img_limits *lim, struct ar *ar,
               struct img *out, struct img_info *info_out, struct err *e)
{
    return img_decode_at(data, n, lim, 0, ar, out, info_out, e);
}

int img_decode_reduced(const void *data, size_t n, const struct img_limits *lim, int min_side,
                       struct ar *ar, struct img *out, struct img_info *info, struct err *e)
{
    return img_decode_at(data, n, lim, min_side > 0 ? min_side : 1, ar, out, info, e);
}

/* frees malloc'ed pixels; arena pixels are left to the arena; im may be NULL */
void img_free(struct img *im)
{
    if (im == NULL)
        return;
    if (im->owned)
        free(im->rgb);
    memset(im, 0, sizeof *im);
}

/* ---- resize ---- */

/*
 * Bilinear resize with half-pixel centres (edge pixels clamped).  dst is
 * allocated from ar or malloc (free with img_free).  Returns IMG_OK,
 * IMG_ERR_INVALID for a bad size, IMG_ERR_TOO_LARGE or IMG_ERR_OOM.
 */
int img_resize_bilinear(const struct img *src, int w, int h, struct ar *ar, struct img *dst,
                        struct err *e)
{
    memset(dst, 0, sizeof *dst);
    if (src == NULL || src->rgb == NULL || src->w <= 0 || src->h <= 0 || w <= 0 || h <= 0)
        return err_set(e, IMG_ERR_INVALID, ERR_INVALID, "invalid_image", "invalid resize to %dx%d",
                       w, h);
    if (w > 65535 || h > 65535 || (uint64_t)w * (uint64_t)h > (1u << 30))
        return err_set(e, IMG_ERR_TOO_LARGE, ERR_TOO_LARGE, "image_too_large",
                       "resize target %dx%d is too large", w, h);
    size_t bytes = (size_t)w * (size_t)h * 3;
    uint8_t *o = img_buf_alloc(ar, bytes);
    if (o == NULL)
        return img_oom(e, bytes);
    size_t sw = (size_t)src->w, sh = (size_t)src->h;
    float scx = (float)sw / (float)w, scy = (float)sh / (float)h;
    for (int y = 0; y < h; y++) {
        float fy = ((float)y + 0.5f) * scy - 0.5f;
        if (fy < 0)
            fy = 0;
        size_t y0 = (size_t)fy;
        if (y0 > sh - 1)
            y0 = sh - 1;
        size_t y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        float wy = fy - (float)y0;
        if (wy > 1)
            wy = 1;
        const uint8_t *r0 = src->rgb + y0 * sw * 3, *r1 = src->rgb + y1 * sw * 3;
        for (int x = 0; x < w; x++) {
            float fx = ((float)x + 0.5f) * scx - 0.5f;
            if (fx < 0)
                fx = 0;
            size_t x0 = (size_t)fx;
            if (x0 > sw - 1)
                x0 = sw - 1;
            size_t x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            float wx = fx - (float)x0;
            if (wx > 1)
                wx = 1;
            for (int c = 0; c < 3; c++) {
                float top = r0[x0 * 3 + c] + (r0[x1 * 3 + c] - r0[x0 * 3 + c]) * wx;
                float bot = r1[x0 * 3 + c] + (r1[x1 * 3 + c] - r1[x0 * 3 + c]) * wx;
                float v = top + (bot - top) * wy + 0.5f;
                o[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    dst->w = w;
    dst->h = h;
    dst->rgb = o;
    dst->owned = ar == NULL;
    return IMG_OK;
}
