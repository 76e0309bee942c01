/*
 * md_crop_test.c: Moondream 2's crops (vlm/md_crop.c) against Pillow.
 *   md_crop_test DIR   (DIR written by tests/ref/md_crops_ref.py)
 * The tiling rule on the sizes of the published table; then for each
 * image: the crops from Pillow's decoded pixels must equal Pillow's crops
 * exactly (the resize is bit-exact, so the floats are identical), and the
 * crops from our own decoder (common/img.c) equal them too: both link the
 * system's libjpeg-turbo and libpng (measured on var/testdata/images, 36
 * photos: every value equal).  Images with alpha are skipped in that second
 * comparison (counted): we composite alpha onto white, Pillow's
 * convert("RGB") drops it.
 */
#include "common/img.h"
#include "tests/lib/th.h"
#include "vlm/md_crop.h"

#include <stdint.h>
#include <stdlib.h>

static void *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)sz + 1);
    if (p != NULL && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static void tiling_table(void)
{
    struct mdc_geom g = mdc_geom_moondream2();
    static const int t[][4] = {{300, 200, 1, 1},   {378, 378, 1, 1},   {490, 490, 3, 3},
                               {1024, 1024, 3, 3}, {4000, 4000, 3, 3}, {600, 800, 2, 4},
                               {1080, 1920, 2, 4}, {3000, 4000, 2, 4}, {800, 600, 4, 2},
                               {1920, 1080, 4, 2}, {500, 3000, 1, 8}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int th, tw;
        mdc_tiling(&g, t[i][0], t[i][1], &th, &tw);
        TH_CHECK(th == t[i][2] && tw == t[i][3], "tiling of %dx%d is %dx%d (got %dx%d)", t[i][0],
                 t[i][1], t[i][2], t[i][3], th, tw);
    }
}

int main(int argc, char **argv)
{
    tiling_table();
    if (argc < 2) {
        TH_CHECK(0, "usage: md_crop_test DIR");
        return th_done();
    }
    struct mdc_geom g = mdc_geom_moondream2();
    int images = 0;
    int skipped = 0;
    for (int i = 0;; i++) {
        char p[4096];
        size_t n_rgb, n_ref, n_src;
        snprintf(p, sizeof p, "%s/%d.rgb", argv[1], i);
        int32_t *rgb = slurp(p, &n_rgb);
        if (rgb == NULL)
            break;
        snprintf(p, sizeof p, "%s/%d.f32", argv[1], i);
        float *ref = slurp(p, &n_ref);
        snprintf(p, sizeof p, "%s/%d.src", argv[1], i);
        char *src = slurp(p, &n_src);
        if (ref == NULL || src == NULL) {
            TH_CHECK(0, "image %d: reference files present", i);
            break;
        }
        src[n_src] = 0;
        int w = rgb[0], h = rgb[1], th, tw, nc;
        float *c = NULL;
        struct err e = {0};
        int rc = mdc_crops(&g, (const uint8_t *)(rgb + 4), w, h, &c, &nc, &th, &tw, &e);
        size_t nf = (size_t)nc * 3 * 378 * 378;
        int same = rc == 0 && th == rgb[2] && tw == rgb[3] && nf * 4 == n_ref;
        size_t diff = 0;
        for (size_t k = 0; same && k < nf; k++)
            diff += c[k] != ref[k];
        TH_CHECK(same && diff == 0,
                 "%s (%dx%d, tiling %dx%d): crops from Pillow's pixels equal "
                 "Pillow's (%zu of %zu values differ)",
                 src, w, h, th, tw, diff, nf);
        free(c);
        /* our decoder */
        size_t nb;
        void *file = slurp(src, &nb);
        struct img im = {0};
        struct img_info info = {0};
        struct img_limits lim = {0};
        if (file == NULL || img_decode(file, nb, &lim, NULL, &im, &info, &e) != 0) {
            TH_CHECK(0, "%s decodes: %s", src, e.msg);
        } else if (info.has_alpha || info.orientation != 1) {
            skipped++;
            printf("# skip %d: %s has alpha or an EXIF orientation (Pillow's pixels differ)\n",
                   skipped, src);
        } else {
            rc = mdc_crops(&g, im.rgb, im.w, im.h, &c, &nc, &th, &tw, &e);
            diff = 0;
            for (size_t k = 0; rc == 0 && (size_t)nc * 3 * 378 * 378 == nf && k < nf; k++)
                diff += c[k] != ref[k];
            TH_CHECK(rc == 0 && (size_t)nc * 3 * 378 * 378 == nf && diff == 0,
                     "%s: crops from our decoder equal Pillow's (%zu differ)", src, diff);
            free(c);
        }
        img_free(&im);
        free(file);
        free(rgb), free(ref), free(src);
        images++;
    }
    TH_CHECK(images > 0, "%d images compared (%d skipped on our decoder)", images, skipped);
    return th_done();
}
