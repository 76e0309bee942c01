/*
 * vkv_cli_md.c: `vkv md`, Moondream 2 tasks from the shell (greedy by default),
 * printing the result JSON with the generated token ids, so that anyone can
 * compare with the published PyTorch code:
 *
 *   vkv md caption MODEL_DIR IMAGE [--length short|normal|long]
 *   vkv md query   MODEL_DIR IMAGE --question TEXT [--reasoning]
 *   vkv md detect  MODEL_DIR IMAGE --object NAME [--max-objects N]
 *   vkv md point   MODEL_DIR IMAGE --object NAME [--max-objects N]
 *   options: --weights f32|f16|i8|q4 (i8)  --max-tokens N  --temperature T
 *            --top-p P  --seed N  --device SELECTOR  --stream (text to stderr)
 *
 * Exit status 0 with the JSON on stdout, 1 with the error on stderr, 2 on
 * usage.
 */
#include "cli/vkv_cli_dev.h"
#include "cli/vkv_cli_md.h"
#include "common/img.h"
#include "vlm/md_task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int print_piece(void *ud, const char *text)
{
    (void)ud;
    fputs(text, stderr);
    fflush(stderr);
    return 0;
}

int vkv_cli_md(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    struct mdt_req r = {0};
    r.task = argv[1];
    r.top_p = 1.0f;
    const char *dir = argv[2], *image = argv[3], *device = NULL;
    int wtype = RT_TF_I8;
    for (int i = 4; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--reasoning") == 0) {
            r.reasoning = 1;
            continue;
        }
        if (strcmp(a, "--stream") == 0) {
            r.on_text = print_piece;
            continue;
        }
        if (v == NULL)
            return 2;
        i++;
        if (strcmp(a, "--length") == 0)
            r.length = v;
        else if (strcmp(a, "--question") == 0)
            r.question = v;
        else if (strcmp(a, "--object") == 0)
            r.object = v;
        else if (strcmp(a, "--max-objects") == 0)
            r.max_objects = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--max-tokens") == 0)
            r.max_tokens = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--temperature") == 0)
            r.temperature = strtof(v, NULL);
        else if (strcmp(a, "--top-p") == 0)
            r.top_p = strtof(v, NULL);
        else if (strcmp(a, "--seed") == 0)
            r.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--device") == 0)
            device = v;
        else if (strcmp(a, "--weights") == 0 && (wtype = rt_tf_wtype_parse(v)) < 0)
            return 2;
        else if (strcmp(a, "--weights") != 0)
            return 2;
    }
    struct err e = {0};
    FILE *f = fopen(image, "rb");
    if (f == NULL) {
        fprintf(stderr, "vkv md: cannot open %s\n", image);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = sz > 0 ? malloc((size_t)sz) : NULL;
    size_t got = data ? fread(data, 1, (size_t)sz, f) : 0;
    fclose(f);
    struct img im = {0};
    struct img_limits lim;
    img_limits_default(&lim);
    if (got != (size_t)sz || img_decode(data, got, &lim, NULL, &im, NULL, &e) != 0) {
        fprintf(stderr, "vkv md: %s: %s\n", image, e.msg[0] ? e.msg : "cannot read");
        free(data);
        return 1;
    }
    free(data);
    struct rt_device *dev = NULL;
    struct mdt_model *m = NULL;
    json_t *res = NULL;
    int rc = vkv_cli_device_create(device, &dev, &e);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rc == 0)
        rc = mdt_open(dev, dir, wtype, &m, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == 0)
        rc = mdt_run(m, im.rgb, im.w, im.h, &r, &res, &e);
    if (rc == 0) {
        json_object_set_new(res, "weights", json_string(rt_tf_wtype_name(wtype)));
        json_t *mt = json_object_get(res, "metrics");
        json_object_set_new(
            mt, "load_ms",
            json_real((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6));
        json_object_set_new(mt, "device_bytes", json_integer((json_int_t)mdt_device_bytes(m)));
        if (r.on_text != NULL)
            fputc('\n', stderr);
        char *s = json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(9));
        puts(s ? s : "{}");
        free(s);
        json_decref(res);
    } else {
        fprintf(stderr, "vkv md: %s (%s)\n", e.msg, e.code);
    }
    mdt_close(m);
    if (dev != NULL)
        rt_device_destroy(dev);
    img_free(&im);
    return rc == 0 ? 0 : 1;
}
