/*
 * vkv_cli_up.c: `vkv upscale` (vkv_cli_up.h).  Prints one JSON line with
 * the sizes, the tile count and the time, so scripts can read it.
 */
#include "cli/vkv_cli_dev.h"
#include "cli/vkv_cli_up.h"
#include "tasks/rt_task_upscale.h"
#include "common/cm.h"
#include "common/img.h"
#include "common/imgenc.h"
#include "import/rt_import.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UP_MAX_FILE (64 << 20)

static int file_read(const char *path, uint8_t **buf, size_t *len)
{
    struct err e;
    err_clear(&e);
    int rc = rt_import_file_read(path, UP_MAX_FILE, buf, len, &e);
    if (rc < 0)
        fprintf(stderr, "vkv: %s\n", e.msg);
    return rc < 0 ? -1 : 0;
}

/* a binary PPM (P6, maxval 255: exact pixels, as the tests write them); 0 or -1 */
static int ppm_read(const uint8_t *b, size_t n, struct img *out)
{
    size_t i = 2;
    long v[3];
    for (int k = 0; k < 3; k++) {
        while (i < n && isspace(b[i]))
            i++;
        v[k] = 0;
        if (i >= n || !isdigit(b[i]))
            return -1;
        while (i < n && isdigit(b[i]) && v[k] < 100000)
            v[k] = v[k] * 10 + (b[i++] - '0');
    }
    if (i >= n || v[0] < 1 || v[1] < 1 || v[0] > RT_TASK_MAX_IMAGE_SIDE ||
        v[1] > RT_TASK_MAX_IMAGE_SIDE || v[2] != 255 || n - i - 1 < (size_t)v[0] * (size_t)v[1] * 3)
        return -1;
    size_t need = (size_t)v[0] * (size_t)v[1] * 3;
    if ((out->rgb = malloc(need)) == NULL)
        return -1;
    memcpy(out->rgb, b + i + 1, need);
    out->w = (int)v[0];
    out->h = (int)v[1];
    out->owned = 1;
    return 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int out_write(const char *path, const uint8_t *rgb, int w, int h, int quality)
{
    uint8_t *enc = NULL;
    size_t n = 0;
    struct err e;
    err_clear(&e);
    FILE *f = NULL;
    int bad = 0;
    if (ends_with(path, ".ppm")) {
        if ((f = fopen(path, "wb")) == NULL)
            goto io;
        fprintf(f, "P6\n%d %d\n255\n", w, h);
        bad = fwrite(rgb, 1, (size_t)w * h * 3, f) != (size_t)w * h * 3;
    } else {
        enum imgenc_format fm = ends_with(path, ".webp")                              ? IMGENC_WEBP
                                : ends_with(path, ".jpg") || ends_with(path, ".jpeg") ? IMGENC_JPEG
                                                                                      : IMGENC_PNG;
        if (imgenc_encode(rgb, w, h, fm, quality, &enc, &n, &e) != IMGENC_OK) {
            fprintf(stderr, "vkv: %s (%s)\n", e.msg, e.code);
            return -1;
        }
        if ((f = fopen(path, "wb")) == NULL)
            goto io;
        bad = fwrite(enc, 1, n, f) != n;
    }
    bad |= fclose(f) != 0;
    imgenc_free(enc);
    if (bad)
        fprintf(stderr, "vkv: could not write \"%s\"\n", path);
    return bad ? -1 : 0;
io:
    fprintf(stderr, "vkv: could not create \"%s\": %s\n", path, strerror(errno));
    imgenc_free(enc);
    return -1;
}

/* see vkv_cli_up.h */
int vkv_cli_upscale(int argc, char **argv)
{
    const char *pos[3], *device = NULL;
    int np = 0, cpu = 0, quality = 90;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cpu"))
            cpu = 1;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--quality") && i + 1 < argc)
            quality = atoi(argv[++i]);
        else if (np < 3 && argv[i][0] != '-')
            pos[np++] = argv[i];
        else
            np = 99;
    }
    if (np != 3) {
        fprintf(stderr,
                "usage: vkv upscale MODEL IMAGE OUT.png|.webp|.jpg|.ppm [--cpu] [--device SEL] "
                "[--quality 1..100|101]\n");
        return 2;
    }
    char mp[1024];
    if (strchr(pos[0], '/') || strstr(pos[0], ".json"))
        snprintf(mp, sizeof(mp), "%s", pos[0]);
    else {
        const char *dir = getenv("VKV_MANIFESTS");
        snprintf(mp, sizeof(mp), "%s/%s.json", dir && *dir ? dir : "models", pos[0]);
    }
    uint8_t *buf = NULL, *out = NULL;
    size_t len;
    struct img im;
    struct err e;
    struct rt_device *dev = NULL;
    struct rt_task_model *m = NULL;
    int rc = 1, ow, oh;
    memset(&im, 0, sizeof(im));
    err_clear(&e);
    if (file_read(pos[1], &buf, &len) < 0)
        return 1;
    struct img_limits lim;
    img_limits_default(&lim);
    if (len >= 2 && buf[0] == 'P' && buf[1] == '6') {
        if (ppm_read(buf, len, &im) < 0) {
            fprintf(stderr, "vkv: invalid PPM \"%s\" (P6, maxval 255 only)\n", pos[1]);
            goto done;
        }
    } else if (img_decode(buf, len, &lim, NULL, &im, NULL, &e) != IMG_OK) {
        fprintf(stderr, "vkv: cannot decode \"%s\": %s (%s)\n", pos[1], e.msg, e.code);
        goto done;
    }
    if (!cpu && vkv_cli_device_create(device, &dev, &e) < 0) {
        fprintf(stderr, "vkv: %s (use --cpu for the CPU reference)\n", e.msg);
        goto done;
    }
    if (rt_task_model_load(dev, mp, NULL, &m, &e) < 0) {
        fprintf(stderr, "vkv: cannot load model %s: %s (%s)\n", pos[0], e.msg, e.code);
        goto done;
    }
    struct rt_image ri = {im.rgb, im.w, im.h};
    double t0 = cm_now_ms();
    if (rt_task_upscale(m, &ri, &out, &ow, &oh, &e) < 0) {
        fprintf(stderr, "vkv: upscale failed: %s (%s)\n", e.msg, e.code);
        goto done;
    }
    double ms = cm_now_ms() - t0;
    if (out_write(pos[2], out, ow, oh, quality) < 0)
        goto done;
    printf("{\"model\":\"%s\",\"scale\":%d,\"width\":%d,\"height\":%d,\"out_width\":%d,"
           "\"out_height\":%d,\"ms\":%.1f,\"mpix_per_s\":%.4f}\n",
           rt_task_model_name(m), rt_task_upscale_scale(m), im.w, im.h, ow, oh, ms,
           ms > 0 ? (double)ow * oh / 1e6 / (ms / 1e3) : 0.0);
    rc = 0;
done:
    free(out);
    free(buf);
    img_free(&im);
    rt_task_model_free(m);
    rt_device_destroy(dev);
    return rc;
}
