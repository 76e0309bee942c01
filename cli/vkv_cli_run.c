/*
 * vkv_cli_run.c: `vkv run` (one model over images, JSON out) and `vkv
 * bench` (load time, batch-1 latency, batched throughput, dispatch count,
 * weight bytes) on top of rt_task.
 *
 * MODEL is a manifest name (models/<name>.json, directory $VKV_MANIFESTS
 * or "models") or a path to a manifest.  IMAGE is a JPEG/PNG/WebP decoded
 * by common/img.h, or a binary PPM (P6, maxval 255) holding exact RGB
 * pixels (the fidelity tests feed the reference runtimes the same PPM).
 * --cpu runs the CPU reference executor instead of Vulkan.  See
 * runtime/README.md and models/README.md.
 */
#include "cli/vkv_cli_dev.h"
#include "cli/vkv_cli_run.h"
#include "tasks/rt_task.h"
#include "tasks/rt_task_faces.h"
#include "tasks/rt_task_ocr.h"
#include "common/cm.h"
#include "common/img.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CLI_MAX_IMAGES 256
#define CLI_MAX_FILE (64 << 20)

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "vkv: could not open \"%s\": %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *p = malloc(cap);
    while (p) {
        if (n == cap) {
            if (cap >= CLI_MAX_FILE) {
                fprintf(stderr, "vkv: \"%s\" is larger than %d bytes\n", path, CLI_MAX_FILE);
                free(p);
                fclose(f);
                return -1;
            }
            uint8_t *q = realloc(p, cap * 2);
            if (q == NULL)
                break;
            p = q;
            cap *= 2;
        }
        size_t k = fread(p + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    if (p == NULL) {
        fprintf(stderr, "vkv: out of memory reading \"%s\"\n", path);
        return -1;
    }
    *buf = p;
    *len = n;
    return 0;
}

/* parses a P6 PPM with maxval 255; 0 or -1 */
static int ppm_parse(const uint8_t *b, size_t n, struct img *out)
{
    size_t i = 2;
    long v[3];
    if (n < 2 || b[0] != 'P' || b[1] != '6')
        return -1;
    for (int k = 0; k < 3; k++) {
        while (i < n && (isspace(b[i]) || b[i] == '#')) {
            if (b[i] == '#')
                while (i < n && b[i] != '\n')
                    i++;
            else
                i++;
        }
        v[k] = 0;
        if (i >= n || !isdigit(b[i]))
            return -1;
        while (i < n && isdigit(b[i]) && v[k] < 100000)
            v[k] = v[k] * 10 + (b[i++] - '0');
    }
    if (i >= n || !isspace(b[i]) || v[0] < 1 || v[1] < 1 || v[0] > RT_TASK_MAX_IMAGE_SIDE ||
        v[1] > RT_TASK_MAX_IMAGE_SIDE || v[2] != 255)
        return -1;
    i++;
    size_t need = (size_t)v[0] * (size_t)v[1] * 3;
    if (n - i < need)
        return -1;
    out->rgb = malloc(need);
    if (out->rgb == NULL)
        return -1;
    memcpy(out->rgb, b + i, need);
    out->w = (int)v[0];
    out->h = (int)v[1];
    out->owned = 1;
    return 0;
}

static int image_load(const char *path, struct img *im)
{
    uint8_t *buf;
    size_t len;
    struct err e;
    memset(im, 0, sizeof(*im));
    if (read_all(path, &buf, &len) < 0)
        return -1;
    int rc = 0;
    if (len >= 2 && buf[0] == 'P' && buf[1] == '6') {
        if (ppm_parse(buf, len, im) < 0) {
            fprintf(stderr, "vkv: invalid PPM \"%s\" (P6, maxval 255 only)\n", path);
            rc = -1;
        }
    } else {
        struct img_limits lim;
        img_limits_default(&lim);
        err_clear(&e);
        if (img_decode(buf, len, &lim, NULL, im, NULL, &e) != IMG_OK) {
            fprintf(stderr, "vkv: cannot decode \"%s\": %s (%s)\n", path, e.msg, e.code);
            rc = -1;
        }
    }
    free(buf);
    return rc;
}

static int ppm_write(const char *path, const struct img *im)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "vkv: could not create \"%s\": %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "P6\n%d %d\n255\n", im->w, im->h);
    size_t n = (size_t)im->w * (size_t)im->h * 3;
    int bad = fwrite(im->rgb, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "vkv: could not write \"%s\"\n", path);
    return bad ? -1 : 0;
}

/*
 * --dump-faces: each face of a faces result as the aligned crop its
 * attributes were computed from, DIR/<basename>.f<i>.ppm (the reference
 * comparison of suite 35 runs tfjs on these files).
 */
static int faces_dump(const char *dir, const char *img_path, const struct img *im,
                      const struct rt_faces *f, const json_t *res)
{
    const char *b = strrchr(img_path, '/');
    b = b ? b + 1 : img_path;
    int bl = (int)(strrchr(b, '.') ? strrchr(b, '.') - b : (long)strlen(b));
    struct rt_image ri = {.rgb = im->rgb, .w = im->w, .h = im->h};
    static uint8_t px[RT_FACES_CROP * RT_FACES_CROP * 3];
    struct img crop = {.rgb = px, .w = RT_FACES_CROP, .h = RT_FACES_CROP};
    const json_t *faces = json_object_get(res, "faces");
    for (size_t i = 0; i < json_array_size(faces); i++) {
        struct rt_faces_box fb;
        rt_faces_box_from_json(json_array_get(faces, i), im->w, im->h, &fb);
        rt_faces_align(&ri, &fb, rt_faces_crop_scale(f), RT_FACES_CROP, px);
        char p[2048];
        snprintf(p, sizeof(p), "%s/%.*s.f%zu.ppm", dir, bl, b, i);
        if (ppm_write(p, &crop) < 0)
            return -1;
    }
    return 0;
}

static void manifest_path(const char *model, char *out, size_t cap)
{
    if (strchr(model, '/') || strstr(model, ".json")) {
        snprintf(out, cap, "%s", model);
        return;
    }
    const char *dir = getenv("VKV_MANIFESTS");
    snprintf(out, cap, "%s/%s.json", dir && *dir ? dir : "models", model);
}

static int weights_parse(const char *s, enum rt_weights *w)
{
    if (!strcmp(s, "f32"))
        *w = RT_WEIGHTS_F32;
    else if (!strcmp(s, "f16"))
        *w = RT_WEIGHTS_F16;
    else if (!strcmp(s, "i8"))
        *w = RT_WEIGHTS_I8;
    else
        return -1;
    return 0;
}

struct cli {
    const char *model, *device, *dump, *image, *dump_faces;
    const char *ocr_dump, *ocr_map; /* --ocr-dump DIR, --ocr-det-map FILE.f32 (ocr models) */
    int ocr_inputs_only;            /* --ocr-inputs-only: dump, do not recognise */
    const char *imgs[CLI_MAX_IMAGES];
    int n_imgs, cpu, batch, iters;
    enum rt_weights weights;
};

static int cli_parse(int argc, char **argv, struct cli *c, int bench)
{
    memset(c, 0, sizeof(*c));
    c->batch = 8;
    c->iters = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--cpu")) {
            c->cpu = 1;
        } else if (!strcmp(a, "--weights") && v) {
            if (weights_parse(v, &c->weights) < 0) {
                fprintf(stderr, "vkv: --weights must be f32, f16 or i8\n");
                return -1;
            }
            i++;
        } else if (!strcmp(a, "--device") && v) {
            c->device = v;
            i++;
        } else if (!strcmp(a, "--dump-rgb") && v && !bench) {
            c->dump = v;
            i++;
        } else if (!strcmp(a, "--dump-faces") && v && !bench) {
            c->dump_faces = v;
            i++;
        } else if (!strcmp(a, "--ocr-dump") && v && !bench) {
            c->ocr_dump = v;
            i++;
        } else if (!strcmp(a, "--ocr-inputs-only") && !bench) {
            c->ocr_inputs_only = 1;
        } else if (!strcmp(a, "--ocr-det-map") && v && !bench) {
            c->ocr_map = v;
            i++;
        } else if (!strcmp(a, "--image") && v && bench) {
            c->image = v;
            i++;
        } else if ((!strcmp(a, "--batch") || !strcmp(a, "--iters")) && v && bench) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, "vkv: %s needs 1..1024\n", a);
                return -1;
            }
            if (a[2] == 'b')
                c->batch = (int)n;
            else
                c->iters = (int)n;
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "vkv: unknown or incomplete option %s\n", a);
            return -1;
        } else if (c->model == NULL) {
            c->model = a;
        } else if (!bench && c->n_imgs < CLI_MAX_IMAGES) {
            c->imgs[c->n_imgs++] = a;
        } else {
            fprintf(stderr, "vkv: too many arguments\n");
            return -1;
        }
    }
    if (c->model == NULL || (!bench && c->n_imgs == 0)) {
        fprintf(stderr,
                bench ? "usage: vkv bench MODEL [--batch N] [--iters N] [--weights f32|f16|i8] "
                        "[--cpu] [--device SEL] [--image FILE]\n"
                      : "usage: vkv run MODEL IMAGE... [--weights f32|f16|i8] [--cpu] "
                        "[--device SEL] [--dump-rgb FILE.ppm|DIR] [--dump-faces DIR] "
                        "[--ocr-dump DIR] [--ocr-det-map FILE.f32] [--ocr-inputs-only]\n");
        return -1;
    }
    return 0;
}

static int model_open(const struct cli *c, int max_batch, struct rt_device **dev,
                      struct rt_task_model **m)
{
    struct err e;
    char mp[1024];
    err_clear(&e);
    *dev = NULL;
    *m = NULL;
    if (!c->cpu && vkv_cli_device_create(c->device, dev, &e) < 0) {
        fprintf(stderr, "vkv: %s (use --cpu for the CPU reference)\n", e.msg);
        return -1;
    }
    struct rt_task_opts o = rt_task_opts_default();
    o.weights = c->weights;
    o.max_batch = max_batch;
    manifest_path(c->model, mp, sizeof(mp));
    if (rt_task_model_load(*dev, mp, &o, m, &e) < 0) {
        fprintf(stderr, "vkv: cannot load model %s: %s (%s)\n", c->model, e.msg, e.code);
        rt_device_destroy(*dev);
        *dev = NULL;
        return -1;
    }
    return 0;
}

/*
 * The OCR stages' tensors for a comparison with another runtime (tests/ref/
 * ocr_ref.js): --ocr-dump writes them, --ocr-det-map replaces the detection
 * graph's output with a given map (f32, the detection input's size),
 * --ocr-inputs-only stops before the recognition graph (its inputs dumped).
 */
static int ocr_debug_run(const struct cli *c, struct rt_task_model *m, const struct rt_image *ri,
                         int n)
{
    struct rt_ocr *o = rt_task_model_ocr(m);
    if (o == NULL || n != 1) {
        fprintf(stderr, "vkv: --ocr-dump and --ocr-det-map need an ocr model and one image\n");
        return 2;
    }
    struct rt_ocr_debug dbg;
    memset(&dbg, 0, sizeof(dbg));
    dbg.dump_dir = c->ocr_dump;
    dbg.inputs_only = c->ocr_inputs_only && c->ocr_dump;
    uint8_t *map = NULL;
    size_t len = 0;
    if (c->ocr_map) {
        struct rt_ocr_opts op = rt_ocr_opts_of(o);
        int dw, dh;
        rt_ocr_det_size(&op, ri[0].w, ri[0].h, &dw, &dh);
        if (read_all(c->ocr_map, &map, &len) < 0)
            return 1;
        if (len != (size_t)dw * (size_t)dh * sizeof(float)) {
            fprintf(stderr, "vkv: %s has %zu bytes, the %dx%d detection map %zu\n", c->ocr_map, len,
                    dw, dh, (size_t)dw * (size_t)dh * sizeof(float));
            free(map);
            return 1;
        }
        dbg.det_map = (const float *)(void *)map;
        dbg.det_map_w = dw;
        dbg.det_map_h = dh;
    }
    struct err e;
    err_clear(&e);
    json_t *res = NULL;
    int rc = rt_ocr_run(o, rt_task_model_name(m), &ri[0], &dbg, &res, &e);
    free(map);
    if (rc < 0) {
        fprintf(stderr, "vkv: run failed: %s (%s)\n", e.msg, e.code);
        return 1;
    }
    char *s = json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(8));
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(res);
    return 0;
}

/* see vkv_cli_run.h */
int vkv_cli_run(int argc, char **argv)
{
    struct cli c;
    struct rt_device *dev;
    struct rt_task_model *m;
    struct img ims[CLI_MAX_IMAGES];
    struct rt_image ri[CLI_MAX_IMAGES];
    json_t *res[CLI_MAX_IMAGES];
    struct err e;
    int rc = 0, n = 0;

    if (cli_parse(argc, argv, &c, 0) < 0)
        return 2;
    for (; n < c.n_imgs; n++) {
        if (image_load(c.imgs[n], &ims[n]) < 0) {
            rc = 1;
            break;
        }
        ri[n].rgb = ims[n].rgb;
        ri[n].w = ims[n].w;
        ri[n].h = ims[n].h;
    }
    if (rc == 0 && c.dump) {
        /* a directory gets every image as <basename>.ppm; a file the first */
        struct stat st;
        int isdir = stat(c.dump, &st) == 0 && S_ISDIR(st.st_mode);
        for (int i = 0; rc == 0 && i < (isdir ? n : 1); i++) {
            char p[2048];
            const char *b = strrchr(c.imgs[i], '/');
            b = b ? b + 1 : c.imgs[i];
            if (isdir)
                snprintf(p, sizeof(p), "%s/%.*s.ppm", c.dump,
                         (int)(strrchr(b, '.') ? strrchr(b, '.') - b : (long)strlen(b)), b);
            else
                snprintf(p, sizeof(p), "%s", c.dump);
            if (ppm_write(p, &ims[i]) < 0)
                rc = 1;
        }
    }
    if (rc == 0 && model_open(&c, 0, &dev, &m) < 0)
        rc = 1;
    if (rc == 0 && (c.ocr_dump || c.ocr_map)) {
        rc = ocr_debug_run(&c, m, ri, n);
        rt_task_model_free(m);
        rt_device_destroy(dev);
    } else if (rc == 0) {
        err_clear(&e);
        if (rt_task_run(m, ri, n, res, &e) < 0) {
            fprintf(stderr, "vkv: run failed: %s (%s)\n", e.msg, e.code);
            rc = 1;
        } else {
            for (int i = 0; i < n; i++) {
                if (c.dump_faces != NULL && rc == 0) {
                    if (rt_task_model_faces(m) == NULL) {
                        fprintf(stderr, "vkv: --dump-faces needs a faces model\n");
                        rc = 1;
                    } else if (faces_dump(c.dump_faces, c.imgs[i], &ims[i], rt_task_model_faces(m),
                                          res[i]) < 0) {
                        rc = 1;
                    }
                }
                if (n > 1)
                    json_object_set_new(res[i], "file", json_string(c.imgs[i]));
                char *s = json_dumps(res[i], JSON_COMPACT | JSON_REAL_PRECISION(8));
                if (s)
                    printf("%s\n", s);
                free(s);
                json_decref(res[i]);
            }
        }
        rt_task_model_free(m);
        rt_device_destroy(dev);
    }
    for (int i = 0; i < n; i++)
        img_free(&ims[i]);
    return rc;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* CPU time of the whole process (all driver threads), ms: on lavapipe it
 * measures the work itself when the machine is shared with other loads */
static double process_cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/*
 * vkv bench of an ocr model: whole photos (detection, orientation and
 * recognition of every line), as many executors as the image's shapes need;
 * the first run plans them and is not timed.
 */
static int ocr_bench(const struct cli *c, struct rt_device *dev, struct rt_task_model *m,
                     const struct img *im)
{
    struct rt_image ri = {.rgb = im->rgb, .w = im->w, .h = im->h};
    int iters = c->iters ? c->iters : 5;
    double *lat = cm_xmalloc((size_t)iters * sizeof(double)), cpu = 0;
    struct err e;
    err_clear(&e);
    json_t *res = NULL;
    double t0 = cm_now_ms();
    int rc = rt_task_run(m, &ri, 1, &res, &e);
    double first = cm_now_ms() - t0;
    size_t lines = rc == 0 ? json_array_size(json_object_get(res, "lines")) : 0;
    json_decref(res);
    for (int i = 0; rc == 0 && i < iters; i++) {
        t0 = cm_now_ms();
        double c0 = process_cpu_ms();
        rc = rt_task_run(m, &ri, 1, &res, &e);
        lat[i] = cm_now_ms() - t0;
        cpu += process_cpu_ms() - c0;
        json_decref(res);
    }
    if (rc < 0) {
        fprintf(stderr, "vkv: bench failed: %s (%s)\n", e.msg, e.code);
    } else {
        qsort(lat, (size_t)iters, sizeof(double), dbl_cmp);
        printf("{\"model\":\"%s\",\"executor\":\"%s\",\"device\":\"%s\",\"load_ms\":%.2f,"
               "\"first_ms\":%.2f,\"latency_ms_median\":%.3f,\"latency_ms_min\":%.3f,"
               "\"cpu_ms\":%.3f,\"lines\":%zu,\"executors\":%d,\"model_bytes\":%zu,\"iters\":%d,"
               "\"image\":[%d,%d]}\n",
               rt_task_model_name(m), dev ? "vulkan" : "cpu-ref",
               dev ? rt_device_caps(dev)->name : "cpu", rt_task_model_load_ms(m), first,
               lat[iters / 2], lat[0], cpu / iters, lines, rt_ocr_exec_count(rt_task_model_ocr(m)),
               rt_task_model_bytes(m), iters, im->w, im->h);
    }
    free(lat);
    return rc < 0 ? 1 : 0;
}

/* see vkv_cli_run.h; prints one JSON object */
int vkv_cli_bench(int argc, char **argv)
{
    struct cli c;
    struct rt_device *dev;
    struct rt_task_model *m;
    struct img im;
    struct err e;
    int rc = 0;

    if (cli_parse(argc, argv, &c, 1) < 0)
        return 2;
    memset(&im, 0, sizeof(im));
    if (c.image) {
        if (image_load(c.image, &im) < 0)
            return 1;
    } else {
        im.w = 640;
        im.h = 480;
        im.owned = 1;
        im.rgb = cm_xmalloc((size_t)im.w * (size_t)im.h * 3);
        for (int y = 0; y < im.h; y++)
            for (int x = 0; x < im.w; x++)
                for (int k = 0; k < 3; k++)
                    im.rgb[((size_t)y * (size_t)im.w + (size_t)x) * 3 + (size_t)k] =
                        (uint8_t)((x * (k + 1) + y * (3 - k)) & 255);
    }
    if (model_open(&c, c.batch, &dev, &m) < 0) {
        img_free(&im);
        return 1;
    }
    if (rt_task_model_ocr(m) != NULL) {
        rc = ocr_bench(&c, dev, m, &im);
        rt_task_model_free(m);
        rt_device_destroy(dev);
        img_free(&im);
        return rc;
    }
    int batch = c.batch < rt_task_model_batch_limit(m) ? c.batch : rt_task_model_batch_limit(m);
    int iters = c.iters ? c.iters : (c.cpu ? 3 : 20);
    struct rt_image *ri = cm_xmalloc((size_t)batch * sizeof(*ri));
    for (int i = 0; i < batch; i++) {
        ri[i].rgb = im.rgb;
        ri[i].w = im.w;
        ri[i].h = im.h;
    }
    double *lat = cm_xmalloc((size_t)iters * sizeof(double));
    float *outs[16];
    err_clear(&e);
    /* warm-up: records the command buffers for batch 1 and batch N */
    rc = rt_task_run_raw(m, ri, 1, outs, &e);
    for (int j = 0; rc == 0 && j < rt_task_model_output_count(m); j++)
        free(outs[j]);
    if (rc == 0 && batch > 1 && (rc = rt_task_run_raw(m, ri, batch, outs, &e)) == 0)
        for (int j = 0; j < rt_task_model_output_count(m); j++)
            free(outs[j]);
    double cpu0 = process_cpu_ms();
    for (int i = 0; rc == 0 && i < iters; i++) {
        double t0 = cm_now_ms();
        rc = rt_task_run_raw(m, ri, 1, outs, &e);
        lat[i] = cm_now_ms() - t0;
        for (int j = 0; rc == 0 && j < rt_task_model_output_count(m); j++)
            free(outs[j]);
    }
    double cpu_per = (process_cpu_ms() - cpu0) / iters;
    double tb = 0;
    int bi = iters > 5 ? iters / 4 : 2;
    for (int i = 0; rc == 0 && i < bi; i++) {
        double t0 = cm_now_ms();
        rc = rt_task_run_raw(m, ri, batch, outs, &e);
        tb += cm_now_ms() - t0;
        for (int j = 0; rc == 0 && j < rt_task_model_output_count(m); j++)
            free(outs[j]);
    }
    if (rc < 0) {
        fprintf(stderr, "vkv: bench failed: %s (%s)\n", e.msg, e.code);
    } else {
        qsort(lat, (size_t)iters, sizeof(double), dbl_cmp);
        double f32 = (double)rt_task_model_weight_bytes_f32(m);
        printf("{\"model\":\"%s\",\"executor\":\"%s\",\"device\":\"%s\",\"weights\":\"%s\","
               "\"load_ms\":%.2f,\"graph_ms\":%.2f,\"packed\":%s,\"latency_ms_median\":%.3f,"
               "\"latency_ms_min\":%.3f,\"cpu_ms\":%.3f,"
               "\"batch\":%d,\"throughput_ips\":%.2f,\"dispatches\":%d,"
               "\"weight_bytes\":%zu,\"weight_bytes_f32\":%.0f,\"weight_ratio\":%.3f,"
               "\"model_bytes\":%zu,\"iters\":%d,\"image\":[%d,%d]}\n",
               rt_task_model_name(m), dev ? "vulkan" : "cpu-ref",
               dev ? rt_device_caps(dev)->name : "cpu",
               c.weights == RT_WEIGHTS_F16  ? "f16"
               : c.weights == RT_WEIGHTS_I8 ? "i8"
                                            : "f32",
               rt_task_model_load_ms(m), rt_task_model_graph_ms(m),
               rt_task_model_packed(m) ? "true" : "false", lat[iters / 2], lat[0], cpu_per, batch,
               tb > 0 ? bi * batch * 1000.0 / tb : 0.0, rt_task_model_dispatch_count(m),
               rt_task_model_weight_bytes(m), f32,
               f32 > 0 ? (double)rt_task_model_weight_bytes(m) / f32 : 0.0, rt_task_model_bytes(m),
               iters, im.w, im.h);
    }
    free(lat);
    free(ri);
    rt_task_model_free(m);
    rt_device_destroy(dev);
    img_free(&im);
    return rc < 0 ? 1 : 0;
}
