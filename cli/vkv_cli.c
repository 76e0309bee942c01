/*
 * vkv_cli.c: the `vkv` command-line tool.  Subcommands live in one table
 * (name, handler, usage); add a row to add one.
 *
 *   vkv devices                      JSON list of Vulkan devices with caps
 *   vkv bench-ops [options]          synthetic MobileNetV2 + dispatch-chain timing
 *   vkv decode WEIGHTS [options]     a decoder LM from safetensors on ids or text
 *   vkv tokenize TOKENIZER [options] tokenizer.json encode / decode
 *   vkv md TASK MODEL_DIR IMAGE      Moondream 2 caption / query / detect / point
 *
 * Exit status: 0 ok, 1 failure, 2 usage.  See cli/README.md.
 */
#include "cli/vkv_cli_dev.h"
#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"
#include "runtime/ir/rt_synth.h"
#include "cli/vkv_cli_run.h"
#include "cli/vkv_cli_up.h"
#include "cli/vkv_cli_dec.h"
#include "cli/vkv_cli_md.h"
#include "common/cm.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vkv_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
};

static int cmd_help(int argc, char **argv);

static json_t *caps_json(const struct rt_caps *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(c->index));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "uuid", json_string(c->uuid));
    json_object_set_new(o, "type", json_string(c->type));
    json_object_set_new(o, "driver", json_string(c->driver));
    json_object_set_new(o, "vendor_id", json_integer(c->vendor_id));
    json_object_set_new(o, "device_id", json_integer(c->device_id));
    char api[32];
    snprintf(api, sizeof(api), "%u.%u.%u", (c->api_version >> 22) & 0x7fu,
             (c->api_version >> 12) & 0x3ffu, c->api_version & 0xfffu);
    json_object_set_new(o, "api_version", json_string(api));
    json_object_set_new(o, "vram_bytes", json_integer((json_int_t)c->vram_bytes));
    if (c->has_budget) {
        json_object_set_new(o, "budget_bytes", json_integer((json_int_t)c->budget_bytes));
        json_object_set_new(o, "usage_bytes", json_integer((json_int_t)c->usage_bytes));
    }
    json_object_set_new(o, "uma", json_boolean(c->uma));
    json_object_set_new(o, "fp16", json_boolean(c->fp16));
    json_object_set_new(o, "int8", json_boolean(c->int8));
    json_object_set_new(o, "storage16", json_boolean(c->storage16));
    json_object_set_new(o, "storage8", json_boolean(c->storage8));
    json_object_set_new(o, "integer_dot_product", json_boolean(c->int_dot));
    json_object_set_new(o, "cooperative_matrix", json_boolean(c->coopmat));
    json_object_set_new(o, "subgroup_arithmetic", json_boolean(c->subgroup_arith));
    json_object_set_new(o, "subgroup_size", json_integer(c->subgroup_size));
    json_object_set_new(o, "shared_memory_bytes", json_integer(c->shared_mem));
    json_object_set_new(o, "max_storage_buffer_range",
                        json_integer((json_int_t)c->max_storage_range));
    json_object_set_new(o, "max_memory_allocation_size", json_integer((json_int_t)c->max_alloc));
    json_t *wg = json_array();
    for (int i = 0; i < 3; i++)
        json_array_append_new(wg, json_integer(c->max_wg_count[i]));
    json_object_set_new(o, "max_workgroup_count", wg);
    json_object_set_new(o, "max_workgroup_invocations", json_integer(c->max_wg_invocations));
    json_object_set_new(o, "max_push_constants", json_integer(c->max_push_constants));
    return o;
}

static int cmd_devices(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return 2;
    struct err e = {0};
    int n = rt_device_count(&e);
    if (n < 0) {
        fprintf(stderr, "vkv: %s\n", e.msg);
        return 1;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        struct rt_caps c;
        if (rt_device_caps_get(i, &c, &e) < 0) {
            fprintf(stderr, "vkv: %s\n", e.msg);
            json_decref(arr);
            return 1;
        }
        json_array_append_new(arr, caps_json(&c));
    }
    json_t *root = json_object();
    json_object_set_new(root, "devices", arr);
    char *s = json_dumps(root, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(root);
    return 0;
}

/* CPU time of the whole process (all driver threads), ms: on a CPU driver
 * such as lavapipe this measures the work itself when the machine is shared */
static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* times iters runs of g; prints one JSON line; 0 or 1 */
static int bench_graph(struct rt_device *dev, const char *what, struct rt_graph *g, int batch,
                       enum rt_weights w, int iters)
{
    struct err e = {0};
    struct rt_plan_opts o = rt_plan_opts_default();
    o.max_batch = batch;
    o.weights = w;
    struct rt_plan *p = NULL;
    double t0 = cm_now_ms();
    if (rt_plan_create(dev, g, &o, &p, &e) < 0) {
        fprintf(stderr, "vkv: %s: %s\n", what, e.msg);
        return 1;
    }
    double t_plan = cm_now_ms() - t0;
    int64_t s[4];
    rt_plan_input_shape(p, 0, s);
    size_t nin = (size_t)(s[0] * (s[1] ? s[1] : 1) * (s[2] ? s[2] : 1) * (s[3] ? s[3] : 1));
    int nd = rt_plan_output_shape(p, 0, s);
    size_t nout = 1;
    for (int i = 0; i < nd; i++)
        nout *= (size_t)s[i];
    float *in = cm_xcalloc(nin, sizeof(float)), *out = cm_xcalloc(nout, sizeof(float));
    for (size_t i = 0; i < nin; i++)
        in[i] = (float)((i * 7919) % 255) / 255.0f;
    const float *ins[1] = {in};
    float *outs[1] = {out};
    double *t = cm_xcalloc((size_t)iters, sizeof(double));
    int rc = 0;
    double cpu0 = 0;
    for (int i = -3; i < iters && rc == 0; i++) { /* 3 warm-ups */
        if (i == 0)
            cpu0 = cpu_ms();
        double a = cm_now_ms();
        rc = rt_plan_run(p, batch, ins, outs, &e);
        if (i >= 0)
            t[i] = cm_now_ms() - a;
    }
    double cpu_per = (cpu_ms() - cpu0) / iters;
    if (rc < 0) {
        fprintf(stderr, "vkv: %s: %s\n", what, e.msg);
    } else {
        qsort(t, (size_t)iters, sizeof(double), cmp_double);
        double sum = 0;
        for (int i = 0; i < iters; i++)
            sum += t[i];
        static const char *const wn[] = {"f32", "f16", "i8"};
        printf(
            "{\"bench\":\"%s\",\"device\":\"%s\",\"batch\":%d,\"weights\":\"%s\","
            "\"min_ms\":%.3f,\"median_ms\":%.3f,\"mean_ms\":%.3f,\"max_ms\":%.3f,"
            "\"per_image_ms\":%.3f,\"cpu_ms\":%.3f,\"dispatches\":%d,\"barriers\":%d,\"nodes\":%d,"
            "\"device_bytes\":%zu,\"weight_bytes\":%zu,\"plan_ms\":%.1f}\n",
            what, rt_device_caps(dev)->name, batch, wn[w], t[0], t[iters / 2], sum / iters,
            t[iters - 1], t[iters / 2] / batch, cpu_per, rt_plan_dispatch_count(p),
            rt_plan_barrier_count(p), rt_plan_node_count(p), rt_plan_device_bytes(p),
            rt_plan_weight_bytes(p), t_plan);
        fflush(stdout);
    }
    free(t);
    free(in);
    free(out);
    rt_plan_destroy(p);
    return rc < 0;
}

static int cmd_bench_ops(int argc, char **argv)
{
    const char *sel = NULL, *only = NULL;
    int batch = 1, iters = 10, res = 224;
    enum rt_weights w = RT_WEIGHTS_F32;
    for (int i = 1; i < argc; i += 2) { /* --flag value pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return 2;
        if (strcmp(a, "--device") == 0)
            sel = v;
        else if (strcmp(a, "--batch") == 0)
            batch = atoi(v);
        else if (strcmp(a, "--iters") == 0)
            iters = atoi(v);
        else if (strcmp(a, "--res") == 0)
            res = atoi(v);
        else if (strcmp(a, "--only") == 0)
            only = v;
        else if (strcmp(a, "--weights") == 0)
            w = strcmp(v, "i8") == 0    ? RT_WEIGHTS_I8
                : strcmp(v, "f16") == 0 ? RT_WEIGHTS_F16
                                        : RT_WEIGHTS_F32;
        else
            return 2;
    }
    if (batch < 1 || batch > 64 || iters < 1 || iters > 10000 || res < 32 || res > 1024)
        return 2;
    struct err e = {0};
    struct rt_device *dev = NULL;
    if (vkv_cli_device_create(sel, &dev, &e) < 0) {
        fprintf(stderr, "vkv: %s\n", e.msg);
        return 1;
    }
    int rc = 0;
    if (only == NULL || strcmp(only, "mobilenetv2") == 0) {
        struct rt_graph *g = rt_synth_mobilenetv2(batch, res, 1000, 42, &e);
        if (g == NULL) {
            fprintf(stderr, "vkv: %s\n", e.msg);
            rc = 1;
        } else {
            char what[48];
            snprintf(what, sizeof(what), "synthetic_mobilenetv2_%d", res);
            rc |= bench_graph(dev, what, g, batch, w, iters);
            rt_graph_free(g);
        }
    }
    if (only == NULL || strcmp(only, "chain") == 0) {
        struct rt_graph *g = rt_synth_chain(200, &e);
        if (g == NULL) {
            fprintf(stderr, "vkv: %s\n", e.msg);
            rc = 1;
        } else {
            rc |= bench_graph(dev, "chain_200_sigmoid_8x8x4", g, 1, RT_WEIGHTS_F32, iters);
            rt_graph_free(g);
        }
    }
    rt_device_destroy(dev);
    return rc;
}

/* the subcommand table: add a row to add a command */
static const struct vkv_cmd cmds[] = {
    {"devices", cmd_devices, "vkv devices"},
    {"bench-ops", cmd_bench_ops,
     "vkv bench-ops [--device SEL] [--batch N] [--weights f32|f16|i8] [--iters N] [--res N] "
     "[--only mobilenetv2|chain]"},
    {"run", vkv_cli_run,
     "vkv run MODEL IMAGE... [--weights f32|f16|i8] [--cpu] [--device SEL] [--dump-rgb F.ppm|DIR] "
     "[--dump-faces DIR]"},
    {"bench", vkv_cli_bench,
     "vkv bench MODEL [--batch N] [--iters N] [--weights f32|f16|i8] [--cpu] [--image F]"},
    {"upscale", vkv_cli_upscale,
     "vkv upscale MODEL IMAGE OUT.png|.webp|.jpg|.ppm [--cpu] [--device SEL] [--quality "
     "1..100|101]"},
    {"decode", vkv_cli_decode,
     "vkv decode WEIGHTS.safetensors [--config FILE|JSON] [--wtype f32|f16|i8|q4] "
     "(--ids 1,2,3 | --text STR --tokenizer tokenizer.json) [--prefix P] [--generate N] "
     "[--force ID,...] [--stop ID,...] [--device SEL] [--no-logits] [--hidden]"},
    {"tokenize", vkv_cli_tokenize,
     "vkv tokenize TOKENIZER.json (--text STR | --ids 1,2,3) [--skip-special]"},
    {"md", vkv_cli_md,
     "vkv md caption|query|detect|point MODEL_DIR IMAGE [--length short|normal|long] "
     "[--question Q] [--reasoning] [--object O] [--max-objects N] [--max-tokens N] "
     "[--temperature T] [--top-p P] [--seed N] [--weights f32|f16|i8|q4] [--device SEL] "
     "[--stream]"},
    {"help", cmd_help, "vkv help"},
};

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage:\n");
    for (size_t i = 0; i < CM_ARRAY_LEN(cmds); i++)
        printf("  %s\n", cmds[i].usage);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    for (size_t i = 0; i < CM_ARRAY_LEN(cmds); i++)
        if (strcmp(argv[1], cmds[i].name) == 0) {
            int rc = cmds[i].fn(argc - 1, argv + 1);
            if (rc == 2)
                fprintf(stderr, "usage: %s\n", cmds[i].usage);
            return rc;
        }
    fprintf(stderr, "vkv: unknown command \"%s\"\n", argv[1]);
    cmd_help(0, NULL);
    return 2;
}
