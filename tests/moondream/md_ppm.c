/*
 * md_ppm.c: decodes an image file with common/img (exactly as vkv-worker
 * does) and writes the RGB pixels as a binary PPM, so the tfjs reference
 * (tests/ref/md_centernet_ref.js) sees the same pixels as our runtime.
 *
 *   md_ppm IN OUT.ppm
 */
#include "common/err.h"
#include "common/img.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: md_ppm IN OUT.ppm\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return 1;
    }
    long n = ftell(f);
    rewind(f);
    if (n <= 0 || n > 64L * 1024 * 1024) {
        fprintf(stderr, "%s: size %ld out of range\n", argv[1], n);
        fclose(f);
        return 1;
    }
    unsigned char *buf = malloc((size_t)n);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: could not read\n", argv[1]);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    struct img im;
    struct err e;
    err_clear(&e);
    if (img_decode(buf, (size_t)n, NULL, NULL, &im, NULL, &e) != IMG_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], e.msg);
        free(buf);
        return 1;
    }
    free(buf);
    FILE *o = fopen(argv[2], "wb");
    int ok = o != NULL && fprintf(o, "P6\n%d %d\n255\n", im.w, im.h) > 0 &&
             fwrite(im.rgb, 3, (size_t)im.w * (size_t)im.h, o) == (size_t)im.w * (size_t)im.h;
    if (o != NULL && fclose(o) != 0)
        ok = 0;
    img_free(&im);
    if (!ok) {
        fprintf(stderr, "%s: could not write\n", argv[2]);
        return 1;
    }
    return 0;
}
