/*
 * test_models_hostile.c: corrupt, truncated and hostile model files must
 * give a clear error from the importers, never a crash (run under
 * SANITIZE=address,undefined by `make SANITIZE=... test`).
 *
 * Hand-built ONNX protobufs and tfjs model.json/weights cover each check
 * the importers make (lengths past the end, huge shapes, wrong weight
 * offsets, unknown ops, cycles, bad opsets, path escapes); the real model
 * files under argv[1] (var/cache/models) are truncated at many offsets
 * and bit-flipped, where only "no crash, and an error has a message" is
 * asserted.  See models/README.md.
 */
#include "import/rt_import.h"
#include "tests/lib/th.h"

#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --write-seeds DIR: also store the crafted inputs as fuzz seeds */
static const char *seed_dir;

static void seed(const char *target, const char *name, const void *json, size_t jl, const void *b,
                 size_t n)
{
    char p[1024];
    if (seed_dir == NULL)
        return;
    snprintf(p, sizeof(p), "%s/%s/%s", seed_dir, target, name);
    FILE *f = fopen(p, "wb");
    if (f == NULL)
        return;
    if (json) { /* tfjs: 2-byte little-endian json length, json, weights */
        uint8_t h[2] = {(uint8_t)(jl & 255), (uint8_t)(jl >> 8)};
        fwrite(h, 1, 2, f);
        fwrite(json, 1, jl, f);
    }
    fwrite(b, 1, n, f);
    fclose(f);
}

/* ---- a tiny protobuf writer ------------------------------------------- */

struct pbw {
    uint8_t b[8192];
    size_t n;
};

static void w_varint(struct pbw *w, uint64_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        w->b[w->n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
}

static void w_key(struct pbw *w, int num, int wire)
{
    w_varint(w, (uint64_t)num << 3 | (uint64_t)wire);
}

static void w_bytes(struct pbw *w, int num, const void *p, size_t n)
{
    w_key(w, num, 2);
    w_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void w_str(struct pbw *w, int num, const char *s)
{
    w_bytes(w, num, s, strlen(s));
}

static void w_sub(struct pbw *w, int num, const struct pbw *sub)
{
    w_bytes(w, num, sub->b, sub->n);
}

static void w_int(struct pbw *w, int num, int64_t v)
{
    w_key(w, num, 0);
    w_varint(w, (uint64_t)v);
}

/* a float tensor with the given dims and raw data of n floats */
static void tensor(struct pbw *t, const char *name, const int64_t *dims, int nd, const float *data,
                   size_t n)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < nd; i++)
        w_int(t, 1, dims[i]);
    w_int(t, 2, 1);
    w_str(t, 8, name);
    w_bytes(t, 9, data, n * sizeof(float));
}

/* graph input "x" float [1,3,8,8] */
static void value_info(struct pbw *vi, const char *name, const int64_t *dims, int nd)
{
    struct pbw shape = {0}, tt = {0}, tp = {0};
    memset(vi, 0, sizeof(*vi));
    for (int i = 0; i < nd; i++) {
        struct pbw d = {0};
        w_int(&d, 1, dims[i]);
        w_sub(&shape, 1, &d);
    }
    w_int(&tt, 1, 1);
    w_sub(&tt, 2, &shape);
    w_sub(&tp, 1, &tt);
    w_str(vi, 1, name);
    w_sub(vi, 2, &tp);
}

static void node(struct pbw *n, const char *op, const char *in0, const char *in1, const char *out)
{
    memset(n, 0, sizeof(*n));
    if (in0)
        w_str(n, 1, in0);
    if (in1)
        w_str(n, 1, in1);
    w_str(n, 2, out);
    w_str(n, 4, op);
}

/* a model: Conv(x, w) -> Relu -> y, with the initializer w as given */
static size_t model(uint8_t *out, int opset, const struct pbw *init, const struct pbw *extra_node,
                    const char *relu_in)
{
    struct pbw g = {0}, n = {0}, m = {0}, op = {0}, vi = {0};
    int64_t xd[4] = {1, 3, 8, 8}, yd[4] = {1, 4, 8, 8};
    node(&n, "Conv", "x", "w", "c");
    w_sub(&g, 1, &n);
    if (extra_node)
        w_sub(&g, 1, extra_node);
    node(&n, "Relu", relu_in ? relu_in : "c", NULL, "y");
    w_sub(&g, 1, &n);
    w_str(&g, 2, "g");
    if (init)
        w_sub(&g, 5, init);
    value_info(&vi, "x", xd, 4);
    w_sub(&g, 11, &vi);
    value_info(&vi, "y", yd, 4);
    w_sub(&g, 12, &vi);
    w_int(&m, 1, 7);
    w_int(&op, 2, opset);
    w_sub(&m, 8, &op);
    w_sub(&m, 7, &g);
    memcpy(out, m.b, m.n);
    return m.n;
}

static int onnx(const uint8_t *b, size_t n, struct err *e)
{
    struct rt_graph *g = NULL;
    struct rt_import_opts o;
    memset(&o, 0, sizeof(o));
    o.max_const_elems = 1 << 20;
    memset(e, 0, sizeof(*e));
    int rc = rt_import_onnx_mem(b, n, &o, &g, e);
    if (rc == 0)
        rt_graph_free(g);
    else if (g != NULL || e->msg[0] == '\0')
        return -999; /* an error must leave no graph and say why */
    return rc;
}

static int tfjs(const char *json, const uint8_t *bin, size_t bin_len, struct err *e)
{
    struct rt_graph *g = NULL;
    memset(e, 0, sizeof(*e));
    int rc = rt_import_tfjs_mem(json, strlen(json), bin, bin_len, NULL, &g, e);
    if (rc == 0)
        rt_graph_free(g);
    else if (g != NULL || e->msg[0] == '\0')
        return -999;
    return rc;
}

static void onnx_crafted(void)
{
    uint8_t buf[16384];
    struct pbw w;
    struct err e;
    float wdata[4 * 3 * 3 * 3];
    int64_t wd[4] = {4, 3, 3, 3};
    for (int i = 0; i < 108; i++)
        wdata[i] = (float)(i % 7) * 0.1f - 0.3f;
    tensor(&w, "w", wd, 4, wdata, 108);

    size_t n = model(buf, 11, &w, NULL, NULL);
    TH_EQ_INT(onnx(buf, n, &e), 0, "a valid hand-built ONNX conv model imports");
    seed("onnx", "conv_relu.onnx", NULL, 0, buf, n);
    seed("onnx", "conv_relu_truncated.onnx", NULL, 0, buf, n - 9);

    TH_CHECK(onnx(buf, 0, &e) < 0 && strstr(e.msg, "no graph"), "empty file: %s", e.msg);
    int all = 1, crashes = 0;
    for (size_t k = 1; k < n; k++) {
        int rc = onnx(buf, k, &e);
        all &= rc < 0;
        crashes += rc == -999;
    }
    TH_CHECK(all && crashes == 0, "every truncation of the small model is an error with a message");

    n = model(buf, 17, &w, NULL, NULL);
    seed("onnx", "opset17.onnx", NULL, 0, buf, n);
    TH_CHECK(onnx(buf, n, &e) == RT_UNSUPPORTED && strstr(e.msg, "opset 17"), "opset 17: %s",
             e.msg);
    n = model(buf, 8, &w, NULL, NULL);
    TH_CHECK(onnx(buf, n, &e) == RT_UNSUPPORTED, "opset 8: %s", e.msg);

    /* raw_data shorter than the dims say */
    tensor(&w, "w", wd, 4, wdata, 100);
    n = model(buf, 11, &w, NULL, NULL);
    TH_CHECK(onnx(buf, n, &e) == RT_ERR_INVALID && strstr(e.msg, "raw_data"),
             "raw_data size mismatch: %s", e.msg);

    /* huge shape with little data */
    int64_t huge[4] = {1LL << 40, 1LL << 40, 3, 3};
    tensor(&w, "w", huge, 4, wdata, 108);
    n = model(buf, 11, &w, NULL, NULL);
    seed("onnx", "huge_dims.onnx", NULL, 0, buf, n);
    TH_CHECK(onnx(buf, n, &e) == RT_ERR_TOO_LARGE && strstr(e.msg, "too large"),
             "initializer of 2^80 elements: %s", e.msg);
    int64_t neg[4] = {-4, 3, 3, 3};
    tensor(&w, "w", neg, 4, wdata, 108);
    n = model(buf, 11, &w, NULL, NULL);
    TH_CHECK(onnx(buf, n, &e) == RT_ERR_INVALID, "negative dim: %s", e.msg);
    int64_t wrong[4] = {4, 5, 3, 3};
    float big[180] = {0};
    tensor(&w, "w", wrong, 4, big, 180);
    n = model(buf, 11, &w, NULL, NULL);
    TH_CHECK(onnx(buf, n, &e) == RT_ERR_INVALID && strstr(e.msg, "group"),
             "weights for 5 input channels on a 3-channel input: %s", e.msg);

    /* missing initializer, unknown input, unknown op */
    n = model(buf, 11, NULL, NULL, NULL);
    TH_CHECK(onnx(buf, n, &e) == RT_ERR_INVALID && strstr(e.msg, "unknown input"),
             "conv weights never defined: %s", e.msg);
    tensor(&w, "w", wd, 4, wdata, 108);
    struct pbw extra;
    node(&extra, "FancyOp", "c", NULL, "f");
    n = model(buf, 11, &w, &extra, "f");
    TH_CHECK(onnx(buf, n, &e) == RT_UNSUPPORTED && strstr(e.msg, "FancyOp"), "unknown op: %s",
             e.msg);
    node(&extra, "Relu", "c", NULL, "c");
    n = model(buf, 11, &w, &extra, NULL);
    seed("onnx", "defined_twice.onnx", NULL, 0, buf, n);
    TH_CHECK(onnx(buf, n, &e) == RT_ERR_INVALID && strstr(e.msg, "twice"),
             "a value defined twice: %s", e.msg);

    /* ConstantOfShape asking for 2^48 elements from a 3-int shape */
    struct pbw shp;
    int64_t sd[1] = {3};
    memset(&shp, 0, sizeof(shp));
    w_int(&shp, 1, 3);
    w_int(&shp, 2, 7); /* INT64 */
    w_str(&shp, 8, "shape");
    int64_t sv[3] = {65536, 65536, 65536};
    w_bytes(&shp, 9, sv, sizeof(sv));
    (void)sd;
    struct pbw g = {0}, nn, m = {0}, op = {0}, vi;
    node(&nn, "ConstantOfShape", "shape", NULL, "z");
    w_sub(&g, 1, &nn);
    node(&nn, "Add", "x", "z", "y");
    w_sub(&g, 1, &nn);
    w_sub(&g, 5, &shp);
    int64_t xd[4] = {1, 3, 8, 8};
    value_info(&vi, "x", xd, 4);
    w_sub(&g, 11, &vi);
    value_info(&vi, "y", xd, 4);
    w_sub(&g, 12, &vi);
    w_int(&op, 2, 13);
    w_sub(&m, 8, &op);
    w_sub(&m, 7, &g);
    seed("onnx", "constant_of_shape_huge.onnx", NULL, 0, m.b, m.n);
    TH_CHECK(onnx(m.b, m.n, &e) == RT_ERR_TOO_LARGE, "ConstantOfShape 65536^3: %s", e.msg);

    /* The same with a FLOAT shape of 1e30 and NaN: a float read as an integer
     * must saturate, not be an undefined cast (a UBSan finding of fuzz_onnx). */
    struct pbw fs;
    memset(&fs, 0, sizeof(fs));
    w_int(&fs, 1, 2);
    w_int(&fs, 2, 1); /* FLOAT */
    w_str(&fs, 8, "shape");
    float fv[2] = {1e30f, NAN};
    w_bytes(&fs, 9, fv, sizeof(fv));
    struct pbw g2 = {0}, m2 = {0};
    node(&nn, "ConstantOfShape", "shape", NULL, "z");
    w_sub(&g2, 1, &nn);
    node(&nn, "Add", "x", "z", "y");
    w_sub(&g2, 1, &nn);
    w_sub(&g2, 5, &fs);
    value_info(&vi, "x", xd, 4);
    w_sub(&g2, 11, &vi);
    value_info(&vi, "y", xd, 4);
    w_sub(&g2, 12, &vi);
    w_sub(&m2, 8, &op);
    w_sub(&m2, 7, &g2);
    seed("onnx", "constant_of_shape_float_huge.onnx", NULL, 0, m2.b, m2.n);
    TH_CHECK(onnx(m2.b, m2.n, &e) < 0, "ConstantOfShape with a float shape 1e30, NaN: %s", e.msg);

    /* a length varint pointing past the end, and an overlong varint */
    uint8_t bad1[] = {0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    seed("onnx", "length_past_end.bin", NULL, 0, bad1, sizeof(bad1));
    TH_CHECK(onnx(bad1, sizeof(bad1), &e) == RT_ERR_INVALID && strstr(e.msg, "exceeds"),
             "graph length past the end: %s", e.msg);
    uint8_t bad2[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    TH_CHECK(onnx(bad2, sizeof(bad2), &e) < 0, "11-byte varint: %s", e.msg);
    uint8_t bad3[] = {0x0b, 0x01};
    TH_CHECK(onnx(bad3, sizeof(bad3), &e) < 0 && strstr(e.msg, "wire type"), "group wire type: %s",
             e.msg);
}

static void tfjs_crafted(void)
{
    struct err e;
    uint8_t bin[4 * 46]; /* the largest weight set used below */
    memset(bin, 0, sizeof(bin));
    const char *good =
        "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":["
        "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":[{\"size\":"
        "\"1\"},{\"size\":\"8\"},{\"size\":\"8\"},{\"size\":\"3\"}]}}}},"
        "{\"name\":\"w\",\"op\":\"Const\"},{\"name\":\"b\",\"op\":\"Const\"},"
        "{\"name\":\"y\",\"op\":\"_FusedConv2D\",\"input\":[\"x\",\"w\",\"b\"],\"attr\":{"
        "\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},\"padding\":{\"s\":\"U0FNRQ==\"},"
        "\"fused_ops\":{\"list\":{\"s\":[\"Qmlhc0FkZA==\",\"UmVsdQ==\"]}}}}]},"
        "\"weightsManifest\":[{\"paths\":[\"a.bin\"],\"weights\":["
        "{\"name\":\"w\",\"shape\":[3,3,3,1],\"dtype\":\"float32\"},"
        "{\"name\":\"b\",\"shape\":[1],\"dtype\":\"float32\"}]}]}";
    TH_EQ_INT(tfjs(good, bin, 4 * 28, &e), 0, "a valid hand-built tfjs graph model imports");
    seed("tfjs", "graph_conv.bin", good, strlen(good), bin, 4 * 28);
    seed("tfjs", "graph_conv_short_weights.bin", good, strlen(good), bin, 4 * 27);
    TH_CHECK(tfjs(good, bin, 4 * 28 - 1, &e) == RT_ERR_INVALID && strstr(e.msg, "beyond"),
             "weights one byte short (wrong offsets): %s", e.msg);
    int all = 1;
    size_t len = strlen(good);
    char *cut = malloc(len + 1);
    for (size_t k = 0; k < len; k += 7) {
        memcpy(cut, good, k);
        cut[k] = '\0';
        struct rt_graph *g = NULL;
        memset(&e, 0, sizeof(e));
        int rc = rt_import_tfjs_mem(cut, k, bin, sizeof(bin), NULL, &g, &e);
        all &= rc < 0 && g == NULL && e.msg[0];
    }
    free(cut);
    TH_CHECK(all, "every truncation of model.json is an error with a message");

    char j[4096];
#define SUB(from, to)                                                                              \
    do {                                                                                           \
        const char *p_ = strstr(good, from);                                                       \
        size_t k_ = (size_t)(p_ - good);                                                           \
        snprintf(j, sizeof(j), "%.*s%s%s", (int)k_, good, to, p_ + strlen(from));                  \
    } while (0)
    SUB("[3,3,3,1]", "[1000000000,1000000000,3,1]");
    seed("tfjs", "graph_huge_shape.bin", j, strlen(j), bin, sizeof(bin));
    TH_CHECK(tfjs(j, bin, sizeof(bin), &e) == RT_ERR_TOO_LARGE, "huge weight shape: %s", e.msg);
    SUB("[3,3,3,1]", "[3,-3,3,1]");
    TH_CHECK(tfjs(j, bin, sizeof(bin), &e) == RT_ERR_INVALID, "negative dim: %s", e.msg);
    SUB("[3,3,3,1]", "[3,3,3,1,1,1]");
    TH_CHECK(tfjs(j, bin, sizeof(bin), &e) == RT_UNSUPPORTED, "rank 6 weight: %s", e.msg);
    SUB("[3,3,3,1]", "[3,3,5,1]");
    TH_CHECK(tfjs(j, bin, 4 * 46, &e) == RT_ERR_INVALID, "filter for 5 channels: %s", e.msg);
    SUB("\"float32\"}]", "\"complex64\"}]");
    TH_CHECK(tfjs(j, bin, sizeof(bin), &e) == RT_UNSUPPORTED && strstr(e.msg, "complex64"),
             "unknown dtype: %s", e.msg);
    SUB("\"_FusedConv2D\"", "\"Bogus\"");
    TH_CHECK(tfjs(j, bin, sizeof(bin), &e) == RT_UNSUPPORTED && strstr(e.msg, "Bogus"),
             "unknown graph op: %s", e.msg);
    SUB("[\"x\",\"w\",\"b\"]", "[\"y\",\"w\",\"b\"]");
    j[strlen(j) - 1] = '\0';
    strcat(j, ",\"signature\":{\"outputs\":{\"y:0\":{\"name\":\"y:0\"}}}}");
    seed("tfjs", "graph_cycle.bin", j, strlen(j), bin, sizeof(bin));
    TH_CHECK(tfjs(j, bin, sizeof(bin), &e) == RT_ERR_INVALID && strstr(e.msg, "cycle"),
             "a node feeding itself: %s", e.msg);
    SUB("[\"x\",\"w\",\"b\"]", "[\"nope\",\"w\",\"b\"]");
    TH_CHECK(tfjs(j, bin, sizeof(bin), &e) == RT_ERR_INVALID && strstr(e.msg, "unknown input"),
             "unknown input: %s", e.msg);
    SUB("{\"name\":\"b\",\"op\":\"Const\"}", "{\"name\":\"w\",\"op\":\"Const\"}");
    TH_CHECK(tfjs(j, bin, sizeof(bin), &e) == RT_ERR_INVALID && strstr(e.msg, "twice"),
             "duplicate node: %s", e.msg);
    TH_CHECK(tfjs("[]", bin, 0, &e) == RT_ERR_INVALID, "not an object: %s", e.msg);
    TH_CHECK(tfjs("{\"modelTopology\":{\"model_config\":{\"class_name\":\"Model\",\"config\":{"
                  "\"layers\":["
                  "{\"name\":\"i\",\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":"
                  "[null,8,8,3]}},"
                  "{\"name\":\"q\",\"class_name\":\"Quantum\",\"config\":{},\"inbound_nodes\":[[["
                  "\"i\",0,0,{}]]]}]}}}}",
                  bin, 0, &e) == RT_UNSUPPORTED &&
                 strstr(e.msg, "Quantum"),
             "unknown layer class: %s", e.msg);
    TH_CHECK(tfjs("{\"modelTopology\":{\"model_config\":{\"class_name\":\"Model\",\"config\":{"
                  "\"layers\":["
                  "{\"name\":\"i\",\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":"
                  "[null,8,8,3]}},"
                  "{\"name\":\"c\",\"class_name\":\"Conv2D\",\"config\":{\"kernel_size\":[3,3],"
                  "\"filters\":1},"
                  "\"inbound_nodes\":[[[\"i\",0,0,{}]]]}]}}}}",
                  bin, 0, &e) == RT_ERR_INVALID &&
                 strstr(e.msg, "missing weight"),
             "layer without its weights: %s", e.msg);
}

static long file_size(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void real_files(const char *dir)
{
    char p[1024];
    struct err e;
    uint8_t *buf;
    size_t len;
    snprintf(p, sizeof(p), "%s/blazeface-back-onnx/face_detection_back_256x256_barracuda.onnx",
             dir);
    if (rt_import_file_read(p, RT_IMPORT_MAX_FILE, &buf, &len, &e) < 0) {
        TH_CHECK(0, "real ONNX model readable (make models): %s", e.msg);
        return;
    }
    TH_EQ_INT(onnx(buf, len, &e), 0, "the real BlazeFace ONNX imports");
    int crashes = 0, errors = 0, trunc_ok = 1;
    for (int k = 1; k <= 64; k++) {
        size_t cut = len * (size_t)k / 65;
        int rc = onnx(buf, cut, &e);
        crashes += rc == -999;
        trunc_ok &= rc < 0;
    }
    TH_CHECK(trunc_ok && crashes == 0,
             "64 truncations of the real ONNX model are errors with messages");
    uint32_t seed = 12345;
    for (int k = 0; k < 300; k++) {
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % len;
        uint8_t old = buf[at];
        buf[at] ^= (uint8_t)(1u << (seed % 8));
        int rc = onnx(buf, len, &e);
        crashes += rc == -999;
        errors += rc < 0;
        buf[at] = old;
    }
    printf("# 300 single-bit flips of the ONNX model: %d rejected, %d still import\n", errors,
           300 - errors);
    TH_CHECK(crashes == 0, "bit-flipped ONNX models never crash and errors say why");
    free(buf);

    /* tfjs: the real files, with the weights truncated and the json cut */
    const char *models[2][2] = {{"blazeface-back-tfjs", "blazeface.json"},
                                {"nsfw-mobilenet-v2", "model.json"}};
    for (int m = 0; m < 2; m++) {
        snprintf(p, sizeof(p), "%s/%s/%s", dir, models[m][0], models[m][1]);
        struct rt_graph *g = NULL;
        int rc = rt_import_tfjs(p, NULL, &g, &e);
        TH_EQ_INT(rc, 0, "the real %s imports from files", models[m][0]);
        rt_graph_free(g);
        uint8_t *js;
        size_t jl;
        if (rt_import_file_read(p, RT_IMPORT_MAX_JSON, &js, &jl, &e) < 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s/%s", dir, models[m][0],
                 m == 0 ? "blazeface.bin" : "group1-shard1of1");
        long bl = file_size(p);
        uint8_t *bin = NULL;
        size_t binl = 0;
        if (bl > 0)
            rt_import_file_read(p, RT_IMPORT_MAX_FILE, &bin, &binl, &e);
        int ok = bin != NULL;
        for (int k = 0; ok && k < 16; k++) {
            size_t cut = binl * (size_t)k / 16;
            g = NULL;
            rc = rt_import_tfjs_mem((const char *)js, jl, bin, cut, NULL, &g, &e);
            ok &= rc == RT_ERR_INVALID && g == NULL && strstr(e.msg, "beyond") != NULL;
        }
        TH_CHECK(ok, "%s: 16 truncations of the weights are 'beyond' errors", models[m][0]);
        ok = 1;
        for (int k = 1; k < 32; k++) {
            g = NULL;
            rc = rt_import_tfjs_mem((const char *)js, jl * (size_t)k / 32, bin, binl, NULL, &g, &e);
            ok &= rc < 0 && g == NULL && e.msg[0];
        }
        TH_CHECK(ok, "%s: 31 truncations of model.json are errors", models[m][0]);
        crashes = 0;
        for (int k = 0; k < 200; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % jl;
            uint8_t old = js[at];
            js[at] = (uint8_t) "0123456789[]{},:\"-eE9"[seed % 21];
            g = NULL;
            rc = rt_import_tfjs_mem((const char *)js, jl, bin, binl, NULL, &g, &e);
            if (rc == 0)
                rt_graph_free(g);
            else
                crashes += g != NULL || e.msg[0] == '\0';
            js[at] = old;
        }
        TH_CHECK(crashes == 0, "%s: 200 corrupted model.json bytes never crash", models[m][0]);
        free(js);
        free(bin);
    }
    /* a shard path that climbs out of the model directory */
    snprintf(p, sizeof(p), "%s/../hostile-model.json", dir);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("{\"modelTopology\":{\"node\":[]},\"weightsManifest\":[{\"paths\":[\"../../etc/"
              "passwd\"],"
              "\"weights\":[]}]}",
              f);
        fclose(f);
        struct rt_graph *g = NULL;
        TH_CHECK(rt_import_tfjs(p, NULL, &g, &e) == RT_ERR_INVALID && strstr(e.msg, "path"),
                 "shard path escaping the model directory: %s", e.msg);
        remove(p);
    }
    struct rt_graph *g = NULL;
    TH_CHECK(rt_import_onnx("/nonexistent/model.onnx", NULL, &g, &e) == RT_ERR_IO && e.transient &&
                 strstr(e.msg, "could not open"),
             "missing file: %s", e.msg);
}

static void layers_seed(void)
{
    struct err e;
    static const char *js =
        "{\"modelTopology\":{\"model_config\":{\"class_name\":\"Model\",\"config\":{\"layers\":["
        "{\"name\":\"i\",\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,8,8,"
        "3]},\"inbound_nodes\":[]},"
        "{\"name\":\"p\",\"class_name\":\"ZeroPadding2D\",\"config\":{\"padding\":[[0,1],[0,1]]},"
        "\"inbound_nodes\":[[[\"i\",0,0,{}]]]},"
        "{\"name\":\"c\",\"class_name\":\"Conv2D\",\"config\":{\"kernel_size\":[3,3],\"strides\":["
        "2,2],\"padding\":\"valid\",\"use_bias\":false,\"activation\":\"linear\"},\"inbound_"
        "nodes\":[[[\"p\",0,0,{}]]]},"
        "{\"name\":\"bn\",\"class_name\":\"BatchNormalization\",\"config\":{\"epsilon\":0.001},"
        "\"inbound_nodes\":[[[\"c\",0,0,{}]]]},"
        "{\"name\":\"r\",\"class_name\":\"ReLU\",\"config\":{\"max_value\":6},\"inbound_nodes\":[[["
        "\"bn\",0,0,{}]]]},"
        "{\"name\":\"f\",\"class_name\":\"Flatten\",\"config\":{},\"inbound_nodes\":[[[\"r\",0,0,{}"
        "]]]},"
        "{\"name\":\"d\",\"class_name\":\"Dense\",\"config\":{\"units\":2,\"activation\":"
        "\"softmax\"},\"inbound_nodes\":[[[\"f\",0,0,{}]]]}],"
        "\"input_layers\":[[\"i\",0,0]],\"output_layers\":[[\"d\",0,0]]}}},"
        "\"weightsManifest\":[{\"paths\":[\"s\"],\"weights\":["
        "{\"name\":\"c/"
        "kernel\",\"shape\":[3,3,3,1],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\","
        "\"min\":-1,\"scale\":0.01}},"
        "{\"name\":\"bn/gamma\",\"shape\":[1],\"dtype\":\"float32\"},{\"name\":\"bn/"
        "beta\",\"shape\":[1],\"dtype\":\"float32\"},"
        "{\"name\":\"bn/moving_mean\",\"shape\":[1],\"dtype\":\"float32\"},"
        "{\"name\":\"bn/"
        "moving_variance\",\"shape\":[1],\"dtype\":\"float32\",\"quantization\":{\"dtype\":"
        "\"float16\"}},"
        "{\"name\":\"d/kernel\",\"shape\":[16,2],\"dtype\":\"float32\"},{\"name\":\"d/"
        "bias\",\"shape\":[2],\"dtype\":\"float32\"}]}]}";
    uint8_t bin[27 + 12 + 2 + 128 + 8];
    memset(bin, 0, sizeof(bin));
    bin[27 + 12] = 0x00;
    bin[27 + 12 + 1] = 0x3c; /* fp16 1.0 */
    TH_EQ_INT(tfjs(js, bin, sizeof(bin), &e), 0,
              "a hand-built tfjs layers model (uint8 + float16 weights) imports");
    seed("tfjs", "layers_small.bin", js, strlen(js), bin, sizeof(bin));
    TH_CHECK(tfjs(js, bin, sizeof(bin) - 1, &e) == RT_ERR_INVALID,
             "layers model, short weights: %s", e.msg);
}

int main(int argc, char **argv)
{
    if (argc > 3 && !strcmp(argv[2], "--write-seeds"))
        seed_dir = argv[3];
    layers_seed();
    onnx_crafted();
    tfjs_crafted();
    if (argc > 1)
        real_files(argv[1]);
    return th_done();
}
