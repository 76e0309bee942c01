/*
 * test_img.c: image probing and decoding (common/img.c).
 *
 * Every input is made here with the libraries' own encoders (libjpeg,
 * libpng, libwebp) or by hand (EXIF APP1 blocks, bomb headers, animated
 * WebP header), so the test needs no files.  When var/testdata/images.txt
 * exists (make testdata) every real image is decoded as well and checked
 * against the manifest; under tests/run.sh (VKV_ROOT set) it must exist.
 *
 *   test_img                   run the checks
 *   test_img --write-seeds DIR write the encoded inputs as fuzz seeds
 *   test_img --bench [REPS]    decode speed over var/testdata/images/
 */
#include "common/ar.h"
#include "common/err.h"
#include "common/img.h"

#include "tests/lib/th.h"

#include <stdio.h> /* before jpeglib.h */
#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>
#include <zlib.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a growable byte buffer ---- */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return; /* memcpy into a still-NULL buffer is undefined even for 0 bytes */
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            abort();
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static const char *seed_dir;

/* writes b as fuzz seed <name> when --write-seeds was given */
static void seed(const char *name, const void *p, size_t n)
{
    if (seed_dir == NULL)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", seed_dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n)
        abort();
    fclose(f);
}

/* ---- test pattern: four quadrants red, green / blue, white ---- */

static const uint8_t Q_RED[3] = {255, 0, 0}, Q_GREEN[3] = {0, 255, 0}, Q_BLUE[3] = {0, 0, 255},
                     Q_WHITE[3] = {255, 255, 255};

static uint8_t *pattern(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *c =
                y < h / 2 ? (x < w / 2 ? Q_RED : Q_GREEN) : (x < w / 2 ? Q_BLUE : Q_WHITE);
            memcpy(p + ((size_t)y * w + x) * 3, c, 3);
        }
    return p;
}

static int near(const uint8_t *px, const uint8_t *want, int tol)
{
    for (int c = 0; c < 3; c++)
        if (abs((int)px[c] - (int)want[c]) > tol)
            return 0;
    return 1;
}

static const uint8_t *px_at(const struct img *im, int x, int y)
{
    return im->rgb + ((size_t)y * im->w + x) * 3;
}

/* checks the quadrant centres of im against tl, tr, bl, br */
static int quadrants(const struct img *im, const uint8_t *tl, const uint8_t *tr, const uint8_t *bl,
                     const uint8_t *br, int tol)
{
    int x0 = im->w / 4, x1 = im->w * 3 / 4, y0 = im->h / 4, y1 = im->h * 3 / 4;
    int ok = near(px_at(im, x0, y0), tl, tol) && near(px_at(im, x1, y0), tr, tol) &&
             near(px_at(im, x0, y1), bl, tol) && near(px_at(im, x1, y1), br, tol);
    if (!ok)
        printf("# quadrants %d,%d,%d %d,%d,%d %d,%d,%d %d,%d,%d\n", px_at(im, x0, y0)[0],
               px_at(im, x0, y0)[1], px_at(im, x0, y0)[2], px_at(im, x1, y0)[0],
               px_at(im, x1, y0)[1], px_at(im, x1, y0)[2], px_at(im, x0, y1)[0],
               px_at(im, x0, y1)[1], px_at(im, x0, y1)[2], px_at(im, x1, y1)[0],
               px_at(im, x1, y1)[1], px_at(im, x1, y1)[2]);
    return ok;
}

/* ---- encoders ---- */

enum { J_GRAY = 1, J_PROGRESSIVE = 2, J_CMYK = 4, J_MANY_SCANS = 8 };

/*
 * JPEG of the w x h RGB pixels (quality 95); exif (may be NULL) is written
 * as an APP1 block right after the JFIF header.
 */
static struct buf jpeg_enc(const uint8_t *rgb, int w, int h, int flags, const uint8_t *exif,
                           size_t exif_n)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *mem = NULL;
    unsigned long memn = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &memn);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    int comps = (flags & J_GRAY) ? 1 : (flags & J_CMYK) ? 4 : 3;
    c.input_components = comps;
    c.in_color_space = (flags & J_GRAY) ? JCS_GRAYSCALE : (flags & J_CMYK) ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    if (flags & J_PROGRESSIVE)
        jpeg_simple_progression(&c);
    /* gray only: one DC scan, then each of the 63 AC bands sent at Al = 9
     * and refined bit by bit down to 0: 1 + 630 valid scans */
    static jpeg_scan_info many[1 + 63 * 10];
    if (flags & J_MANY_SCANS) {
        int k = 0;
        many[k++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
        for (int band = 1; band <= 63; band++)
            for (int al = 9; al >= 0; al--)
                many[k++] = (jpeg_scan_info){1, {0}, band, band, al == 9 ? 0 : al + 1, al};
        c.scan_info = many;
        c.num_scans = k;
    }
    jpeg_start_compress(&c, TRUE);
    if (exif)
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif, (unsigned)exif_n);
    uint8_t *row = malloc((size_t)w * 4);
    while (c.next_scanline < c.image_height) {
        const uint8_t *s = rgb + (size_t)c.next_scanline * w * 3;
        for (int x = 0; x < w; x++) {
            if (comps == 1) {
                row[x] = (uint8_t)((s[3 * x] * 3 + s[3 * x + 1] * 6 + s[3 * x + 2]) / 10);
            } else if (comps == 4) {
                /* Adobe inverted CMYK: stored = 255 - ink; K ink 0 */
                row[4 * x] = s[3 * x];
                row[4 * x + 1] = s[3 * x + 1];
                row[4 * x + 2] = s[3 * x + 2];
                row[4 * x + 3] = 255;
            } else {
                memcpy(row + 3 * x, s + 3 * x, 3);
            }
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    struct buf b = {0};
    buf_put(&b, mem, memn);
    free(mem);
    return b;
}

/* EXIF APP1 payload with IFD0 holding only Orientation = o */
static size_t exif_block(uint8_t *out, int o, int little)
{
    static const uint8_t be[] = {'E',  'x',  'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                                 0x01, 0x12, 0,   3,   0, 0, 0,   1,   0, 0,  0, 0, 0, 0, 0, 0};
    static const uint8_t le[] = {'E',  'x',  'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                 0x12, 0x01, 3,   0,   1, 0, 0,   0,   0,  0, 0, 0, 0, 0, 0, 0};
    memcpy(out, little ? le : be, sizeof be);
    if (little)
        out[24] = (uint8_t)o; /* value field, low byte first */
    else
        out[25] = (uint8_t)o;
    return sizeof be;
}

static void png_buf_write(png_structp png, png_bytep p, size_t n)
{
    buf_put(png_get_io_ptr(png), p, n);
}

static void png_buf_flush(png_structp png)
{
    (void)png;
}

/*
 * PNG with the given colour type and depth; rows come from fill(x, y, ch)
 * returning each sample (0..65535 for 16-bit).  Palette images get a
 * 4-entry palette (red, green, blue, white) and, when trns, entry 0
 * fully transparent.
 */
static int png_text_chunks; /* zTXt chunks of 16 MB text to add (bomb test) */

static struct buf png_enc(int w, int h, int ct, int depth, int interlace, int trns,
                          unsigned (*fill)(int x, int y, int ch))
{
    struct buf b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png)))
        abort();
    png_set_write_fn(png, &b, png_buf_write, png_buf_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ct,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
        png_set_PLTE(png, info, pal, 4);
        if (trns) {
            png_byte t[1] = {0};
            png_set_tRNS(png, info, t, 1, NULL);
        }
    }
    char *text = NULL;
    if (png_text_chunks > 0) {
        size_t tn = 16u << 20;
        text = malloc(tn + 1);
        memset(text, 'a', tn);
        text[tn] = 0;
        png_text t[16];
        for (int i = 0; i < png_text_chunks && i < 16; i++) {
            memset(&t[i], 0, sizeof t[i]);
            t[i].compression = PNG_TEXT_COMPRESSION_zTXt;
            t[i].key = "Comment";
            t[i].text = text;
            t[i].text_length = tn;
        }
        png_set_text(png, info, t, png_text_chunks < 16 ? png_text_chunks : 16);
    }
    png_write_info(png, info);
    free(text);
    int ch = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    uint8_t *row = malloc(rowbytes);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++) {
        for (int y = 0; y < h; y++) {
            memset(row, 0, rowbytes);
            for (int x = 0; x < w; x++)
                for (int c = 0; c < ch; c++) {
                    unsigned v = fill(x, y, c);
                    if (depth == 16) {
                        row[(x * ch + c) * 2] = (uint8_t)(v >> 8);
                        row[(x * ch + c) * 2 + 1] = (uint8_t)v;
                    } else if (depth == 8) {
                        row[x * ch + c] = (uint8_t)v;
                    } else { /* 1, 2, 4 bits, one channel */
                        int per = 8 / depth, shift = 8 - depth * (1 + x % per);
                        row[x / per] |= (uint8_t)(v << shift);
                    }
                }
            png_write_row(png, row);
        }
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    return b;
}

static int fill_w = 32, fill_h = 16;

/* the quadrant pattern per channel (RGB / RGBA; alpha: left transparent) */
static unsigned fill_rgb(int x, int y, int c)
{
    const uint8_t *q =
        y < fill_h / 2 ? (x < fill_w / 2 ? Q_RED : Q_GREEN) : (x < fill_w / 2 ? Q_BLUE : Q_WHITE);
    if (c == 3)
        return x < fill_w / 2 ? 0 : 255;
    return q[c];
}

static unsigned fill_rgb16(int x, int y, int c)
{
    return fill_rgb(x, y, c) * 257u;
}

/* palette index = quadrant */
static unsigned fill_pal(int x, int y, int c)
{
    (void)c;
    return (unsigned)((y < fill_h / 2 ? 0 : 2) + (x < fill_w / 2 ? 0 : 1));
}

/* gray: 1-bit left black / right white; 16-bit a ramp; gray+alpha */
static unsigned fill_gray1(int x, int y, int c)
{
    (void)y, (void)c;
    return x < fill_w / 2 ? 0 : 1;
}

static unsigned fill_gray16(int x, int y, int c)
{
    (void)y, (void)c;
    return x < fill_w / 2 ? 0x8080 : 0xffff;
}

static unsigned fill_gray_alpha(int x, int y, int c)
{
    (void)y;
    if (c == 1)
        return x < fill_w / 2 ? 128 : 255; /* half transparent black on the left */
    return 0;
}

/* ---- helpers to decode and check ---- */

static int decode(const struct buf *b, const struct img_limits *lim, struct img *im,
                  struct img_info *info, struct err *e)
{
    err_clear(e);
    return img_decode(b->p, b->n, lim, NULL, im, info, e);
}

static void expect_err(const void *p, size_t n, const struct img_limits *lim, int status,
                       const char *code, enum err_class cls, const char *what)
{
    struct img im;
    struct img_info info;
    struct err e;
    err_clear(&e);
    int rc = img_decode(p, n, lim, NULL, &im, &info, &e);
    int ok = rc == status && strcmp(e.code, code) == 0 && e.cls == cls && im.rgb == NULL;
    if (!ok)
        printf("# rc %d code \"%s\" class %d msg \"%s\"\n", rc, e.code, (int)e.cls, e.msg);
    TH_CHECK(ok, "%s -> %s class %d (%s)", what, code, (int)cls, e.msg);
    img_free(&im);
}

/* ---- JPEG ---- */

static void test_jpeg(void)
{
    int w = 64, h = 32;
    uint8_t *pat = pattern(w, h);
    struct img im;
    struct img_info info;
    struct err e;

    struct buf j = jpeg_enc(pat, w, h, 0, NULL, 0);
    seed("jpeg-baseline.jpg", j.p, j.n);
    TH_EQ_INT(img_format_sniff(j.p, j.n), IMG_FORMAT_JPEG, "jpeg is sniffed");
    TH_EQ_INT(img_probe(j.p, j.n, NULL, &info, &e), IMG_OK, "jpeg probe");
    TH_CHECK(info.w == w && info.h == h && info.orientation == 1,
             "probe reads 64x32, orientation 1");
    TH_EQ_INT(decode(&j, NULL, &im, &info, &e), IMG_OK, "baseline jpeg decodes");
    TH_CHECK(im.w == w && im.h == h && im.owned, "decoded 64x32, malloc-owned");
    TH_CHECK(quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 40), "jpeg colours are right");
    img_free(&im);

    /* arena output */
    struct ar *ar = ar_init(1 << 16);
    err_clear(&e);
    TH_EQ_INT(img_decode(j.p, j.n, NULL, ar, &im, NULL, &e), IMG_OK, "decode into an arena");
    TH_CHECK(!im.owned && ar_used_get(ar) >= (size_t)w * h * 3, "pixels live in the arena");
    img_free(&im); /* does not free arena memory */
    ar_free(ar);

    /* progressive, grayscale, CMYK */
    struct buf jp = jpeg_enc(pat, w, h, J_PROGRESSIVE, NULL, 0);
    seed("jpeg-progressive.jpg", jp.p, jp.n);
    TH_CHECK(decode(&jp, NULL, &im, NULL, &e) == IMG_OK &&
                 quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 40),
             "progressive jpeg decodes with the right colours");
    img_free(&im);
    struct buf jg = jpeg_enc(pat, w, h, J_GRAY, NULL, 0);
    seed("jpeg-gray.jpg", jg.p, jg.n);
    TH_EQ_INT(decode(&jg, NULL, &im, NULL, &e), IMG_OK, "grayscale jpeg decodes");
    const uint8_t *p = px_at(&im, w / 4, h / 4);
    TH_CHECK(p[0] == p[1] && p[1] == p[2] && abs(p[0] - 76) < 12,
             "gray becomes R=G=B (red -> luma ~76, got %d)", p[0]);
    img_free(&im);
    struct buf jm = jpeg_enc(pat, w, h, J_GRAY | J_MANY_SCANS, NULL, 0);
    expect_err(jm.p, jm.n, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "progressive jpeg with 631 scans (> IMG_JPEG_MAX_SCANS)");
    seed("jpeg-631-scans.jpg", jm.p, jm.n);
    free(jm.p);
    struct buf jc = jpeg_enc(pat, w, h, J_CMYK, NULL, 0);
    seed("jpeg-cmyk.jpg", jc.p, jc.n);
    TH_CHECK(decode(&jc, NULL, &im, NULL, &e) == IMG_OK &&
                 quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 40),
             "Adobe CMYK jpeg converts to the right RGB");
    img_free(&im);

    /* EXIF orientations 1..8: expected quadrant colours (TL, TR, BL, BR) */
    static const uint8_t *const want[9][4] = {
        {0},
        {Q_RED, Q_GREEN, Q_BLUE, Q_WHITE},
        {Q_GREEN, Q_RED, Q_WHITE, Q_BLUE},
        {Q_WHITE, Q_BLUE, Q_GREEN, Q_RED},
        {Q_BLUE, Q_WHITE, Q_RED, Q_GREEN},
        {Q_RED, Q_BLUE, Q_GREEN, Q_WHITE},
        {Q_BLUE, Q_RED, Q_WHITE, Q_GREEN},
        {Q_WHITE, Q_GREEN, Q_BLUE, Q_RED},
        {Q_GREEN, Q_WHITE, Q_RED, Q_BLUE},
    };
    for (int o = 1; o <= 8; o++) {
        for (int little = 0; little < 2; little++) {
            uint8_t ex[64];
            size_t exn = exif_block(ex, o, little);
            struct buf jo = jpeg_enc(pat, w, h, 0, ex, exn);
            char name[64];
            snprintf(name, sizeof name, "jpeg-exif-%d%s.jpg", o, little ? "-le" : "");
            if (o == 3 || o == 6)
                seed(name, jo.p, jo.n);
            int rc = decode(&jo, NULL, &im, &info, &e);
            int sw = o >= 5 ? h : w, sh = o >= 5 ? w : h;
            TH_CHECK(rc == IMG_OK && info.orientation == o && im.w == sw && im.h == sh &&
                         info.stored_w == w && info.stored_h == h,
                     "exif orientation %d (%s): displayed %dx%d", o, little ? "II" : "MM", sw, sh);
            TH_CHECK(rc == IMG_OK &&
                         quadrants(&im, want[o][0], want[o][1], want[o][2], want[o][3], 40),
                     "exif orientation %d (%s) turns the pixels", o, little ? "II" : "MM");
            img_free(&im);
            free(jo.p);
        }
    }

    /* malformed EXIF blocks are ignored (orientation 1), never read out of bounds */
    uint8_t ex[64];
    size_t exn = exif_block(ex, 6, 0);
    struct {
        int at;
        uint8_t v;
        int want;
        const char *what;
    } bad[] = {
        {13, 0xf0, 1, "IFD offset past the block is ignored"},
        {15, 0xff, 6, "entry count past the block: only in-bounds entries are read"},
        {15, 0x00, 1, "zero entries: no orientation"},
        {19, 4, 1, "orientation of type LONG is ignored"},
        {25, 9, 1, "orientation value 9 is ignored"},
        {23, 0, 1, "orientation with count 0 is ignored"},
        {9, 43, 1, "TIFF magic 43 is ignored"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t ex2[64];
        memcpy(ex2, ex, exn);
        ex2[bad[i].at] = bad[i].v;
        struct buf jo = jpeg_enc(pat, w, h, 0, ex2, exn);
        int rc = decode(&jo, NULL, &im, &info, &e);
        TH_CHECK(rc == IMG_OK && info.orientation == bad[i].want, "malformed exif: %s",
                 bad[i].what);
        if (i == 0)
            seed("jpeg-exif-bad-offset.jpg", jo.p, jo.n);
        img_free(&im);
        free(jo.p);
    }
    struct buf jt = jpeg_enc(pat, w, h, 0, ex, 20); /* EXIF cut inside the IFD */
    TH_CHECK(decode(&jt, NULL, &im, &info, &e) == IMG_OK && info.orientation == 1,
             "truncated exif block is ignored");
    img_free(&im);
    free(jt.p);

    /* corrupt and truncated */
    expect_err(j.p, j.n / 2, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "jpeg cut in half");
    seed("jpeg-truncated.jpg", j.p, j.n / 2);
    expect_err(j.p, 40, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "jpeg cut inside the headers");
    expect_err(j.p, 3, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID, "jpeg of 3 bytes");
    struct buf jbad = {0};
    buf_put(&jbad, j.p, j.n);
    for (size_t i = 2; i + 9 < jbad.n; i++)
        if (jbad.p[i] == 0xff && jbad.p[i + 1] == 0xc0) {
            jbad.p[i + 4] = 12; /* 12-bit precision: not supported by an 8-bit build */
            break;
        }
    expect_err(jbad.p, jbad.n, NULL, IMG_ERR_UNSUPPORTED, "unsupported_image_type", ERR_UNSUPPORTED,
               "jpeg with 12-bit precision");
    seed("jpeg-precision12.jpg", jbad.p, jbad.n);
    memcpy(jbad.p, j.p, j.n);
    for (size_t i = 2; i + 9 < jbad.n; i++)
        if (jbad.p[i] == 0xff && jbad.p[i + 1] == 0xc0) {
            jbad.p[i + 1] = 0xc3; /* lossless */
            break;
        }
    expect_err(jbad.p, jbad.n, NULL, IMG_ERR_UNSUPPORTED, "unsupported_image_type", ERR_UNSUPPORTED,
               "lossless jpeg (SOF3)");
    memcpy(jbad.p, j.p, j.n);
    for (size_t i = j.n / 2; i < j.n / 2 + 64; i++)
        jbad.p[i] ^= 0x5a; /* scribble over entropy data: decodes or fails, never crashes */
    int rc = decode(&jbad, NULL, &im, NULL, &e);
    TH_CHECK(rc == IMG_OK || rc == IMG_ERR_INVALID,
             "jpeg with scribbled entropy data: no crash (%d)", rc);
    seed("jpeg-scribbled.jpg", jbad.p, jbad.n);
    img_free(&im);

    /* decompression bomb: SOI + SOF0 declaring 60000x60000, no data */
    static const uint8_t bomb[] = {0xff, 0xd8, 0xff, 0xc0, 0,    17, 8, 0xea, 0x60, 0xea, 0x60, 3,
                                   1,    0x22, 0,    2,    0x11, 1,  3, 0x11, 1,    0xff, 0xd9};
    struct img_limits big = {0, 65535, 1000000000ull, 0};
    expect_err(bomb, sizeof bomb, NULL, IMG_ERR_TOO_LARGE, "image_too_large", ERR_TOO_LARGE,
               "jpeg header declaring 60000x60000 (default limits)");
    expect_err(bomb, sizeof bomb, &big, IMG_ERR_TOO_LARGE, "image_too_large", ERR_TOO_LARGE,
               "jpeg 60000x60000 within max_side 65535 but over max_pixels 1e9");
    seed("jpeg-bomb-60000.jpg", bomb, sizeof bomb);
    struct img_limits small = {0, 100, 0, 0};
    expect_err(j.p, j.n, &(struct img_limits){0, 63, 0, 0}, IMG_ERR_TOO_LARGE, "image_too_large",
               ERR_TOO_LARGE, "64-pixel-wide jpeg against max_side 63");
    expect_err(j.p, j.n, &(struct img_limits){0, 0, 2047, 0}, IMG_ERR_TOO_LARGE, "image_too_large",
               ERR_TOO_LARGE, "2048-pixel jpeg against max_pixels 2047");
    expect_err(j.p, j.n, &(struct img_limits){j.n - 1, 0, 0, 0}, IMG_ERR_TOO_LARGE,
               "image_too_large", ERR_TOO_LARGE, "jpeg one byte over max_bytes");
    TH_CHECK(decode(&j, &small, &im, NULL, &e) == IMG_OK, "jpeg within explicit limits decodes");
    img_free(&im);

    /* reduced decode (vkv-api's validation): DCT scaling, the same verdicts */
    {
        int bw = 800, bh = 600;
        uint8_t *bp = pattern(bw, bh);
        struct buf jb = jpeg_enc(bp, bw, bh, 0, NULL, 0);
        err_clear(&e);
        TH_EQ_INT(img_decode_reduced(jb.p, jb.n, NULL, 160, NULL, &im, &info, &e), IMG_OK,
                  "reduced decode of an 800x600 jpeg");
        TH_CHECK(im.w == 200 && im.h == 150 && info.w == 800 && info.h == 600 && im.owned,
                 "min side 160: 1/4, 200x150; info keeps 800x600 (got %dx%d)", im.w, im.h);
        TH_CHECK(quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 40), "reduced colours are right");
        img_free(&im);
        TH_CHECK(img_decode_reduced(jb.p, jb.n, NULL, 0, NULL, &im, NULL, &e) == IMG_OK &&
                     im.w == 100 && im.h == 75,
                 "min side 0: the smallest scale, 1/8 (got %dx%d)", im.w, im.h);
        img_free(&im);
        TH_CHECK(img_decode_reduced(jb.p, jb.n, NULL, 500, NULL, &im, NULL, &e) == IMG_OK &&
                     im.w == 800 && im.h == 600,
                 "min side 500: full size (1/2 would be 400 wide; got %dx%d)", im.w, im.h);
        img_free(&im);
        uint8_t ex6[64];
        size_t ex6n = exif_block(ex6, 6, 0);
        struct buf jo = jpeg_enc(bp, bw, bh, 0, ex6, ex6n);
        TH_CHECK(img_decode_reduced(jo.p, jo.n, NULL, 160, NULL, &im, &info, &e) == IMG_OK &&
                     im.w == 150 && im.h == 200 && info.w == 600 && info.h == 800,
                 "EXIF orientation 6, reduced: 150x200 upright (got %dx%d)", im.w, im.h);
        img_free(&im);
        struct buf jpr = jpeg_enc(bp, bw, bh, J_PROGRESSIVE, NULL, 0);
        TH_CHECK(img_decode_reduced(jpr.p, jpr.n, NULL, 160, NULL, &im, NULL, &e) == IMG_OK &&
                     quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 40),
                 "progressive jpeg, reduced");
        img_free(&im);
        /* a truncated or scribbled stream: the reduced decode says what the
         * full one says, at every cut */
        int same = 1, refused = 0;
        for (size_t cut = 16; cut < jb.n; cut += jb.n / 23) {
            struct img a, b;
            int r1 = img_decode(jb.p, cut, NULL, NULL, &a, NULL, &e);
            int r2 = img_decode_reduced(jb.p, cut, NULL, 160, NULL, &b, NULL, &e);
            same &= r1 == r2;
            refused += r2 != IMG_OK;
            img_free(&a);
            img_free(&b);
        }
        TH_CHECK(same && refused >= 20, "truncated at 23 places: same verdicts, %d refused",
                 refused);
        same = 1;
        for (size_t at = 700; at + 16 < jb.n; at += jb.n / 17) {
            struct buf x = {0};
            buf_put(&x, jb.p, jb.n);
            for (size_t i = at; i < at + 16; i++)
                x.p[i] ^= 0xa5;
            struct img a, b;
            int r1 = img_decode(x.p, x.n, NULL, NULL, &a, NULL, &e);
            int r2 = img_decode_reduced(x.p, x.n, NULL, 160, NULL, &b, NULL, &e);
            same &= r1 == r2;
            img_free(&a);
            img_free(&b);
            free(x.p);
        }
        TH_CHECK(same, "scribbled entropy data at 17 places: same verdicts");
        free(jb.p), free(jo.p), free(jpr.p), free(bp);
    }

    free(j.p), free(jp.p), free(jg.p), free(jc.p), free(jbad.p), free(pat);
}

/* ---- PNG ---- */

static void test_png(void)
{
    struct img im;
    struct img_info info;
    struct err e;
    fill_w = 32, fill_h = 16;

    struct buf p = png_enc(32, 16, PNG_COLOR_TYPE_RGB, 8, 0, 0, fill_rgb);
    seed("png-rgb.png", p.p, p.n);
    TH_EQ_INT(img_format_sniff(p.p, p.n), IMG_FORMAT_PNG, "png is sniffed");
    TH_CHECK(decode(&p, NULL, &im, &info, &e) == IMG_OK && im.w == 32 && im.h == 16 &&
                 quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 0),
             "rgb png decodes exactly");
    img_free(&im);

    struct buf pa = png_enc(32, 16, PNG_COLOR_TYPE_RGBA, 8, 0, 0, fill_rgb);
    seed("png-rgba.png", pa.p, pa.n);
    TH_CHECK(decode(&pa, NULL, &im, &info, &e) == IMG_OK && info.has_alpha &&
                 quadrants(&im, Q_WHITE, Q_GREEN, Q_WHITE, Q_WHITE, 0),
             "rgba png: transparent left half becomes white, opaque right half kept");
    img_free(&im);

    struct buf pi = png_enc(32, 16, PNG_COLOR_TYPE_RGB, 8, 1, 0, fill_rgb);
    seed("png-interlaced.png", pi.p, pi.n);
    TH_CHECK(decode(&pi, NULL, &im, NULL, &e) == IMG_OK &&
                 quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 0),
             "interlaced (Adam7) png decodes exactly");
    img_free(&im);

    struct buf pp = png_enc(32, 16, PNG_COLOR_TYPE_PALETTE, 8, 0, 0, fill_pal);
    seed("png-palette.png", pp.p, pp.n);
    TH_CHECK(decode(&pp, NULL, &im, &info, &e) == IMG_OK && !info.has_alpha &&
                 quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 0),
             "palette png expands to rgb");
    img_free(&im);

    struct buf pt = png_enc(32, 16, PNG_COLOR_TYPE_PALETTE, 2, 0, 1, fill_pal);
    seed("png-palette2-trns.png", pt.p, pt.n);
    TH_CHECK(decode(&pt, NULL, &im, &info, &e) == IMG_OK && info.has_alpha &&
                 quadrants(&im, Q_WHITE, Q_GREEN, Q_BLUE, Q_WHITE, 0),
             "2-bit palette png with tRNS: transparent entry becomes white");
    img_free(&im);

    struct buf g1 = png_enc(32, 16, PNG_COLOR_TYPE_GRAY, 1, 0, 0, fill_gray1);
    seed("png-gray1.png", g1.p, g1.n);
    static const uint8_t black[3] = {0, 0, 0};
    TH_CHECK(decode(&g1, NULL, &im, NULL, &e) == IMG_OK &&
                 quadrants(&im, black, Q_WHITE, black, Q_WHITE, 0),
             "1-bit gray png expands to black and white rgb");
    img_free(&im);

    struct buf g16 = png_enc(32, 16, PNG_COLOR_TYPE_GRAY, 16, 0, 0, fill_gray16);
    seed("png-gray16.png", g16.p, g16.n);
    static const uint8_t mid[3] = {128, 128, 128};
    TH_CHECK(decode(&g16, NULL, &im, NULL, &e) == IMG_OK &&
                 quadrants(&im, mid, Q_WHITE, mid, Q_WHITE, 0),
             "16-bit gray png scales 0x8080 to 128 and 0xffff to 255");
    img_free(&im);

    struct buf p16 = png_enc(32, 16, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, 0, fill_rgb16);
    seed("png-rgba16.png", p16.p, p16.n);
    TH_CHECK(decode(&p16, NULL, &im, NULL, &e) == IMG_OK &&
                 quadrants(&im, Q_WHITE, Q_GREEN, Q_WHITE, Q_WHITE, 0),
             "16-bit rgba png decodes and composites");
    img_free(&im);

    struct buf ga = png_enc(32, 16, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0, fill_gray_alpha);
    seed("png-gray-alpha.png", ga.p, ga.n);
    TH_EQ_INT(decode(&ga, NULL, &im, NULL, &e), IMG_OK, "gray+alpha png decodes");
    const uint8_t *px = px_at(&im, 4, 4);
    TH_CHECK(abs(px[0] - 127) <= 1 && px[0] == px[2] && px_at(&im, 28, 4)[0] == 0,
             "black at alpha 128 on white is ~127, opaque black stays 0 (got %d)", px[0]);
    img_free(&im);

    /* zTXt bomb: 8 chunks of 16 MB text (about 16 KB each compressed);
     * the decoder skips text chunks, so nothing is inflated */
    png_text_chunks = 8;
    struct buf pz = png_enc(32, 16, PNG_COLOR_TYPE_RGB, 8, 0, 0, fill_rgb);
    png_text_chunks = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int zrc = decode(&pz, NULL, &im, NULL, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double zms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    TH_CHECK(zrc == IMG_OK && quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 0),
             "png with 8 zTXt chunks of 16 MB text (%zu bytes) decodes", pz.n);
    TH_CHECK(zms < 300, "its 128 MB of text are not inflated (%.1f ms < 300 ms)", zms);
    img_free(&im);
    free(pz.p);

    /* corrupt, truncated, bad header, bombs */
    expect_err(p.p, p.n - 20, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "png cut before its end");
    expect_err(p.p, p.n / 2, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "png cut in half");
    seed("png-truncated.png", p.p, p.n / 2);
    expect_err(p.p, 20, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID, "png cut inside IHDR");
    struct buf pc = {0};
    buf_put(&pc, p.p, p.n);
    for (size_t i = 8; i + 8 < pc.n; i++)
        if (memcmp(pc.p + i, "IDAT", 4) == 0) {
            pc.p[i + 6] ^= 0xff; /* first compressed bytes: CRC mismatch */
            break;
        }
    expect_err(pc.p, pc.n, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "png with a bad IDAT crc");
    seed("png-bad-crc.png", pc.p, pc.n);
    memcpy(pc.p, p.p, p.n);
    pc.p[24] = 3; /* bit depth 3 */
    expect_err(pc.p, pc.n, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "png with bit depth 3");
    memcpy(pc.p, p.p, p.n);
    memset(pc.p + 16, 0, 4); /* width 0 */
    expect_err(pc.p, pc.n, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID, "png with width 0");
    memcpy(pc.p, p.p, p.n);
    /* 60000x60000 IHDR (crc no longer matches: probe refuses before libpng looks) */
    static const uint8_t dim[8] = {0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60};
    memcpy(pc.p + 16, dim, 8);
    expect_err(pc.p, pc.n, NULL, IMG_ERR_TOO_LARGE, "image_too_large", ERR_TOO_LARGE,
               "png header declaring 60000x60000");
    seed("png-bomb-60000.png", pc.p, 64);
    memcpy(pc.p + 16, (uint8_t[8]){0, 0, 0x20, 0, 0, 0, 0x20, 0}, 8); /* 8192x8192 */
    expect_err(pc.p, pc.n, NULL, IMG_ERR_TOO_LARGE, "image_too_large", ERR_TOO_LARGE,
               "png 8192x8192 = 67 Mpx over the 40 Mpx default");
    expect_err(pa.p, pa.n, &(struct img_limits){0, 31, 0, 0}, IMG_ERR_TOO_LARGE, "image_too_large",
               ERR_TOO_LARGE, "png 32 wide against max_side 31");

    free(p.p), free(pa.p), free(pi.p), free(pp.p), free(pt.p), free(g1.p), free(g16.p);
    free(p16.p), free(ga.p), free(pc.p);
}

/* ---- work bombs: small files that cost a lot to decode ---- */

static void png_chunk(struct buf *b, const char *type, const uint8_t *p, size_t n)
{
    uint8_t hdr[8] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    memcpy(hdr + 4, type, 4);
    buf_put(b, hdr, 8);
    if (n)
        buf_put(b, p, n);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (n)
        crc = crc32(crc, p, (uInt)n);
    uint8_t c[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    buf_put(b, c, 4);
}

/* deflates n zero bytes with a sync flush: byte-aligned blocks that,
 * after at least 32 KB of zeros, decode the same wherever they are copied */
static struct buf deflate_zeros(z_stream *z, size_t n, int flush)
{
    struct buf out = {0};
    static uint8_t zeros[1 << 16], tmp[1 << 16];
    while (n > 0 || flush != Z_NO_FLUSH) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        z->next_in = zeros;
        z->avail_in = (uInt)k;
        n -= k;
        int f = n == 0 ? flush : Z_NO_FLUSH;
        do {
            z->next_out = tmp;
            z->avail_out = sizeof tmp;
            if (deflate(z, f) == Z_STREAM_ERROR)
                abort();
            buf_put(&out, tmp, sizeof tmp - z->avail_out);
        } while (z->avail_out == 0);
        if (n == 0)
            break;
    }
    return out;
}

/*
 * A valid 16x16 RGB PNG (black) whose zlib stream carries `extra` more
 * zero bytes after the image's 784: a 16 MiB block of deflated zeros
 * (about 16 KB) copied extra / 16 MiB times, then an empty final block
 * and the right Adler-32 (of N zeros: ((N mod 65521) << 16) | 1).
 * 10 GiB of zeros fit in about 10 MB.
 */
static struct buf png_zero_bomb(uint64_t extra)
{
    const size_t w = 16, h = 16, raw = h * (1 + w * 3), blk = (size_t)16 << 20;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    struct buf head = deflate_zeros(&z, raw, Z_SYNC_FLUSH);
    struct buf block = deflate_zeros(&z, blk, Z_SYNC_FLUSH);
    deflateEnd(&z);
    struct buf idat = {0};
    buf_put(&idat, "\x78\x01", 2);
    buf_put(&idat, head.p, head.n);
    uint64_t copies = extra / blk, total = raw + copies * blk;
    for (uint64_t i = 0; i < copies; i++)
        buf_put(&idat, block.p, block.n);
    buf_put(&idat, "\x01\x00\x00\xff\xff", 5);
    uint32_t ad = ((uint32_t)(total % 65521u) << 16) | 1u;
    uint8_t a[4] = {(uint8_t)(ad >> 24), (uint8_t)(ad >> 16), (uint8_t)(ad >> 8), (uint8_t)ad};
    buf_put(&idat, a, 4);

    struct buf b = {0};
    buf_put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0, 0, 0, (uint8_t)w, 0, 0, 0, (uint8_t)h, 8, PNG_COLOR_TYPE_RGB, 0, 0, 0};
    png_chunk(&b, "IHDR", ihdr, sizeof ihdr);
    for (size_t off = 0; off < idat.n; off += 1u << 20) /* 1 MiB IDAT chunks */
        png_chunk(&b, "IDAT", idat.p + off, idat.n - off < (1u << 20) ? idat.n - off : 1u << 20);
    png_chunk(&b, "IEND", NULL, 0);
    free(head.p), free(block.p), free(idat.p);
    return b;
}

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_bombs(void)
{
    struct img im;
    struct err e;

    /* 1 GiB of zeros after a 16x16 image in about 1 MB.  Before the push
     * reader this inflated the whole gigabyte (about 4 s of CPU here; the
     * 10 GiB version took 53 s); now it costs the CRC of the file: about
     * 3 ms measured, the bound is 100 ms */
    struct buf zb = png_zero_bomb((uint64_t)1 << 30);
    double c0 = thread_cpu_ms();
    int rc = decode(&zb, NULL, &im, NULL, &e);
    double ms = thread_cpu_ms() - c0;
    static const uint8_t black[3] = {0, 0, 0};
    TH_CHECK(rc == IMG_OK && im.w == 16 && im.h == 16 && near(px_at(&im, 15, 15), black, 0),
             "16x16 png followed by 1 GiB of compressed zeros (%zu bytes) decodes (rc %d)", zb.n,
             rc);
    TH_CHECK(ms < 100, "the zeros past the last row are not inflated (%.1f ms CPU < 100)", ms);
    img_free(&im);
    free(zb.p);
    struct buf zs = png_zero_bomb((uint64_t)64 << 20); /* 64 MiB: a seed of ~70 KB */
    seed("png-zero-bomb-64m.png", zs.p, zs.n);
    TH_EQ_INT(decode(&zs, NULL, &im, NULL, &e), IMG_OK, "the 64 MiB zero bomb decodes too");
    img_free(&im);

    /* the same bomb cut before IEND: still refused (the file is fed to IEND) */
    expect_err(zs.p, zs.n - 12, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "zero bomb without its IEND chunk");
    free(zs.p);

    /* a CPU budget: a 4000x4000 PNG (16 Mpx, 48 MB decoded) against a 1 ms
     * budget is refused as image_too_costly; with no budget it decodes */
    uint8_t *big = calloc(4000u * 4000u, 3);
    struct buf pb = {0};
    {
        png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
        png_infop info = png_create_info_struct(png);
        if (setjmp(png_jmpbuf(png)))
            abort();
        png_set_write_fn(png, &pb, png_buf_write, png_buf_flush);
        png_set_IHDR(png, info, 4000, 4000, 8, PNG_COLOR_TYPE_RGB, 0, 0, 0);
        png_set_compression_level(png, 1);
        png_write_info(png, info);
        for (int y = 0; y < 4000; y++)
            png_write_row(png, big + (size_t)y * 12000);
        png_write_end(png, info);
        png_destroy_write_struct(&png, &info);
    }
    struct img_limits tight = {0, 0, 0, 1};
    expect_err(pb.p, pb.n, &tight, IMG_ERR_TOO_LARGE, "image_too_costly", ERR_TOO_LARGE,
               "16 Mpx png against a 1 ms CPU budget");
    struct img_limits none = {0, 0, 0, 0};
    TH_EQ_INT(decode(&pb, &none, &im, NULL, &e), IMG_OK, "the same png with no budget decodes");
    img_free(&im);
    free(pb.p);
    struct buf jb = jpeg_enc(big, 4000, 4000, 0, NULL, 0);
    expect_err(jb.p, jb.n, &tight, IMG_ERR_TOO_LARGE, "image_too_costly", ERR_TOO_LARGE,
               "16 Mpx jpeg against a 1 ms CPU budget");
    free(jb.p);
    free(big);
}

/* ---- WebP ---- */

static void test_webp(void)
{
    struct img im;
    struct img_info info;
    struct err e;
    int w = 64, h = 32;
    uint8_t *pat = pattern(w, h);
    uint8_t *out = NULL;

    size_t n = WebPEncodeRGB(pat, w, h, w * 3, 95, &out);
    TH_CHECK(n > 0, "libwebp encodes a lossy webp");
    struct buf wl = {0};
    buf_put(&wl, out, n);
    WebPFree(out);
    seed("webp-lossy.webp", wl.p, wl.n);
    TH_EQ_INT(img_format_sniff(wl.p, wl.n), IMG_FORMAT_WEBP, "webp is sniffed");
    TH_CHECK(decode(&wl, NULL, &im, &info, &e) == IMG_OK && im.w == w && im.h == h &&
                 !info.has_alpha && quadrants(&im, Q_RED, Q_GREEN, Q_BLUE, Q_WHITE, 40),
             "lossy webp decodes with the right colours");
    img_free(&im);

    uint8_t *rgba = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        memcpy(rgba + 4 * i, pat + 3 * i, 3);
        rgba[4 * i + 3] = (i % w) < w / 2 ? 0 : 255;
    }
    n = WebPEncodeLosslessRGBA(rgba, w, h, w * 4, &out);
    struct buf wa = {0};
    buf_put(&wa, out, n);
    WebPFree(out);
    seed("webp-lossless-alpha.webp", wa.p, wa.n);
    TH_CHECK(decode(&wa, NULL, &im, &info, &e) == IMG_OK && info.has_alpha &&
                 quadrants(&im, Q_WHITE, Q_GREEN, Q_WHITE, Q_WHITE, 0),
             "lossless webp with alpha: transparent half becomes white, exact");
    img_free(&im);

    expect_err(wl.p, wl.n / 2, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "webp cut in half");
    seed("webp-truncated.webp", wl.p, wl.n / 2);
    expect_err(wl.p, 16, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "webp cut in its header");
    expect_err(wl.p, wl.n, &(struct img_limits){0, 0, 2047, 0}, IMG_ERR_TOO_LARGE,
               "image_too_large", ERR_TOO_LARGE, "webp over max_pixels");

    /* VP8X header with the animation flag and a 16383x16383 canvas */
    static const uint8_t anim[] = {'R', 'I', 'F',  'F',  30,  0,    0,    0, 'W', 'E',  'B',
                                   'P', 'V', 'P',  '8',  'X', 10,   0,    0, 0,   0x02, 0,
                                   0,   0,   0xfe, 0x3f, 0,   0xfe, 0x3f, 0, 'A', 'N',  'I',
                                   'M', 6,   0,    0,    0,   0,    0,    0, 0,   0,    0};
    expect_err(anim, sizeof anim, NULL, IMG_ERR_UNSUPPORTED, "unsupported_image_type",
               ERR_UNSUPPORTED, "animated webp");
    seed("webp-animated-header.webp", anim, sizeof anim);
    free(wl.p), free(wa.p), free(rgba), free(pat);
}

/* ---- other formats, empty, garbage ---- */

static void test_other(void)
{
    expect_err("", 0, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID, "zero bytes");
    expect_err(NULL, 0, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID, "NULL data");
    expect_err("GIF89a\x01\x00\x01\x00\x00\x00\x00", 13, NULL, IMG_ERR_UNSUPPORTED,
               "unsupported_image_type", ERR_UNSUPPORTED, "gif");
    expect_err("BM\x46\0\0\0\0\0\0\0\x36\0\0\0(\0\0\0", 20, NULL, IMG_ERR_UNSUPPORTED,
               "unsupported_image_type", ERR_UNSUPPORTED, "bmp");
    expect_err("II*\0\x08\0\0\0\0\0\0\0", 12, NULL, IMG_ERR_UNSUPPORTED, "unsupported_image_type",
               ERR_UNSUPPORTED, "tiff");
    expect_err("\0\0\0\x18"
               "ftypheic\0\0\0\0",
               16, NULL, IMG_ERR_UNSUPPORTED, "unsupported_image_type", ERR_UNSUPPORTED, "heic");
    const char *html = "<html><body>not an image</body></html>";
    expect_err(html, strlen(html), NULL, IMG_ERR_UNSUPPORTED, "unsupported_image_type",
               ERR_UNSUPPORTED, "wrong magic (html)");
    seed("garbage-html", html, strlen(html));
    expect_err("\x89PNX", 4, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "4 bytes of near-png");
    expect_err("\x89PNG\r\n\x1a\n", 8, NULL, IMG_ERR_INVALID, "invalid_image", ERR_INVALID,
               "png signature only");
    TH_EQ_STR(img_format_name(IMG_FORMAT_WEBP), "webp", "format names");
    TH_EQ_STR(img_format_mime(IMG_FORMAT_JPEG), "image/jpeg", "format mime types");
    TH_EQ_STR(img_status_str(IMG_ERR_TOO_LARGE), "image too large", "status strings");

    struct img_limits l;
    img_limits_default(&l);
    TH_CHECK(l.max_bytes == 15728640 && l.max_side == 8192 && l.max_pixels == 40000000,
             "default limits come from the config table");
}

/* ---- resize ---- */

static void test_resize(void)
{
    struct err e;
    uint8_t px[2 * 2 * 3] = {0, 0, 0, 200, 200, 200, 0, 0, 0, 200, 200, 200};
    struct img src = {2, 2, px, 0}, dst;
    TH_EQ_INT(img_resize_bilinear(&src, 4, 2, NULL, &dst, &e), IMG_OK, "resize 2x2 -> 4x2");
    /* half-pixel centres: x = 0.25 -> 0 (clamped), 0.75 -> 0.25, 1.25 -> 0.75, 1.75 -> 1 */
    TH_CHECK(dst.rgb[0] == 0 && dst.rgb[3] == 50 && dst.rgb[6] == 150 && dst.rgb[9] == 200,
             "bilinear values 0 50 150 200 (got %d %d %d %d)", dst.rgb[0], dst.rgb[3], dst.rgb[6],
             dst.rgb[9]);
    img_free(&dst);
    TH_EQ_INT(img_resize_bilinear(&src, 1, 1, NULL, &dst, &e), IMG_OK, "resize to 1x1");
    TH_EQ_INT(dst.rgb[0], 100, "1x1 is the average");
    img_free(&dst);
    TH_EQ_INT(img_resize_bilinear(&src, 0, 5, NULL, &dst, &e), IMG_ERR_INVALID,
              "zero width refused");
    TH_EQ_INT(img_resize_bilinear(&src, 60000, 60000, NULL, &dst, &e), IMG_ERR_TOO_LARGE,
              "huge target refused");
}

/* ---- the real images of make testdata ---- */

static void test_testdata(void)
{
    const char *root = getenv("VKV_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/var/testdata/images.txt", root ? root : ".");
    FILE *m = fopen(path, "r");
    if (m == NULL) {
        if (root)
            TH_CHECK(0, "var/testdata/images.txt exists (make testdata)");
        else
            printf("# var/testdata not fetched: real-image checks not run (make testdata)\n");
        return;
    }
    char line[2048];
    int n = 0, good = 0, expected = 0;
    while (fgets(line, sizeof line, m)) {
        if (line[0] == '#')
            continue;
        char name[256];
        int w, h;
        if (sscanf(line, "%255[^\t]\t%d\t%d", name, &w, &h) != 3)
            continue;
        const char *dirs[] = {"images", "formats", "people"};
        FILE *f = NULL;
        for (int d = 0; d < 3 && f == NULL; d++) {
            snprintf(path, sizeof path, "%s/var/testdata/%s/%s", root ? root : ".", dirs[d], name);
            f = fopen(path, "rb");
        }
        if (f == NULL)
            continue;
        struct buf b = {0};
        uint8_t chunk[65536];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_put(&b, chunk, k);
        fclose(f);
        struct img im;
        struct img_info info;
        struct err e;
        int rc = decode(&b, NULL, &im, &info, &e);
        n++;
        /* the odd files say in their name what must happen */
        if (strstr(name, "truncated")) {
            expected++;
            good += rc == IMG_ERR_INVALID;
        } else if (strstr(name, ".gif") || strstr(name, ".tif")) {
            expected++;
            good += rc == IMG_ERR_UNSUPPORTED;
        } else {
            expected++;
            int ok = rc == IMG_OK && im.w == w && im.h == h;
            if (!ok)
                printf("# %s: rc %d %dx%d, manifest %dx%d: %s\n", name, rc, im.w, im.h, w, h,
                       e.msg);
            good += ok;
        }
        img_free(&im);
        free(b.p);
    }
    fclose(m);
    TH_CHECK(n >= 40 && good == expected, "%d real files from var/testdata: %d behave as expected",
             n, good);
}

/* --bench: decode every var/testdata image `reps` times, per-format figures */
static int bench(int reps)
{
    FILE *m = fopen("var/testdata/images.txt", "r");
    if (m == NULL) {
        fprintf(stderr, "test_img --bench: run make testdata first (from the repo root)\n");
        return 1;
    }
    char line[2048], name[256];
    double ms[4] = {0}, mpx[4] = {0}, pms[4] = {0};
    int files[4] = {0};
    while (fgets(line, sizeof line, m)) {
        if (line[0] == '#' || sscanf(line, "%255[^\t]", name) != 1)
            continue;
        char path[512];
        snprintf(path, sizeof path, "var/testdata/images/%s", name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        struct buf b = {0};
        uint8_t chunk[65536];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_put(&b, chunk, k);
        fclose(f);
        struct img im;
        struct img_info info;
        struct err e;
        struct timespec t0, t1, t2;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int r = 0; r < reps; r++)
            img_probe(b.p, b.n, NULL, &info, &e);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int ok = 1;
        for (int r = 0; r < reps && ok; r++) {
            ok = img_decode(b.p, b.n, NULL, NULL, &im, &info, &e) == IMG_OK;
            img_free(&im);
        }
        clock_gettime(CLOCK_MONOTONIC, &t2);
        int fi = info.format < 4 ? (int)info.format : 0;
        if (ok) {
            files[fi]++;
            pms[fi] += ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / reps;
            ms[fi] += ((t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6) / reps;
            mpx[fi] += (double)info.w * info.h / 1e6;
        }
        free(b.p);
    }
    fclose(m);
    for (int fi = 1; fi < 4; fi++)
        if (files[fi])
            printf("%-4s %2d files %6.2f Mpx: decode %7.2f ms total, %6.1f Mpx/s; "
                   "probe %.2f us/file\n",
                   img_format_name((enum img_format)fi), files[fi], mpx[fi], ms[fi],
                   mpx[fi] / (ms[fi] / 1e3), pms[fi] * 1e3 / files[fi]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
        seed_dir = argv[2];
    if (argc >= 2 && strcmp(argv[1], "--bench") == 0)
        return bench(argc >= 3 ? atoi(argv[2]) : 5);
    test_jpeg();
    test_png();
    test_bombs();
    test_webp();
    test_other();
    test_resize();
    if (seed_dir == NULL)
        test_testdata();
    return th_done();
}
