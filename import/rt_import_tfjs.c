/*
 * rt_import_tfjs.c: TensorFlow.js models (layers and graph) to graph IR.
 *
 * Design: model.json is parsed with jansson; the weights manifest is turned
 * into a table of (name, dtype, shape, byte range, quantisation) checked
 * against the concatenated shard bytes before anything is decoded.  Weights
 * are decoded to fp32 only when an op uses them (uint8/uint16 affine and
 * float16 are dequantised here, as rt_ir.h requires).
 *
 * Layers models (Keras model_config: Model/Functional/Sequential) are
 * walked layer by layer; graph models (modelTopology.node) in dependency
 * order with an explicit stack, so a hostile graph cannot overflow the C
 * stack.  tfjs is NHWC with HWIO kernels already, so no layout work is
 * needed; depthwise kernels [KH,KW,C,M] are reshaped to [KH,KW,1,C*M].
 * See import/README.md.
 */
#include "import/rt_import.h"
#include "common/cm.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BAD(...) err_set(c->e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", __VA_ARGS__)
#define UNSUP(...)                                                                                 \
    err_set(c->e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_model", __VA_ARGS__)
#define TJ_MAX_WEIGHTS 100000

/* ---- files --------------------------------------------------------------- */

/*
 * Reads path into a new NUL-terminated buffer (caller frees with free())
 * after checking its size against max.  Returns 0, RT_ERR_IO
 * (transient, errno kept) or RT_ERR_TOO_LARGE.
 */
int64_t rt_import_f2i(float f)
{
    if (!(f == f))
        return 0;
    if (f >= 9.2e18f)
        return INT64_MAX;
    if (f <= -9.2e18f)
        return INT64_MIN;
    return (int64_t)f;
}

int rt_import_file_read(const char *path, long long max, uint8_t **buf, size_t *len, struct err *e)
{
    FILE *f = fopen(path, "rb");
    struct stat st;

    *buf = NULL;
    *len = 0;
    if (f == NULL) {
        int en = errno;
        err_set_transient(e, RT_ERR_IO, "model_io", "could not open model file \"%s\": %s", path,
                          strerror(en));
        if (e)
            e->sys_errno = en;
        return RT_ERR_IO;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return err_set(e, RT_ERR_IO, ERR_INVALID, "model_io",
                       "model file \"%s\" is not a regular file", path);
    }
    if ((long long)st.st_size > max) {
        fclose(f);
        return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                       "model file \"%s\" has %lld bytes (limit %lld)", path, (long long)st.st_size,
                       max);
    }
    uint8_t *p = malloc((size_t)st.st_size + 1);
    if (p == NULL) {
        fclose(f);
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate %lld bytes for \"%s\"", (long long)st.st_size, path);
    }
    size_t n = fread(p, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n != (size_t)st.st_size) {
        free(p);
        return err_set_transient(e, RT_ERR_IO, "model_io", "could not read model file \"%s\"",
                                 path);
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    return 0;
}

/* ---- a string -> int map (names are borrowed from the JSON) ------------ */

struct tj_map {
    const char **key;
    int *val;
    size_t cap; /* power of two */
};

static uint32_t tj_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static int tj_map_init(struct tj_map *m, size_t n)
{
    m->cap = 64;
    while (m->cap < n * 2)
        m->cap *= 2;
    m->key = calloc(m->cap, sizeof(*m->key));
    m->val = calloc(m->cap, sizeof(*m->val));
    return m->key && m->val ? 0 : -1;
}

static void tj_map_free(struct tj_map *m)
{
    free(m->key);
    free(m->val);
}

/* returns 0, or 1 when the key exists already */
static int tj_map_put(struct tj_map *m, const char *k, int v)
{
    size_t i = tj_hash(k) & (m->cap - 1);
    while (m->key[i]) {
        if (strcmp(m->key[i], k) == 0)
            return 1;
        i = (i + 1) & (m->cap - 1);
    }
    m->key[i] = k;
    m->val[i] = v;
    return 0;
}

static int tj_map_get(const struct tj_map *m, const char *k)
{
    size_t i = tj_hash(k) & (m->cap - 1);
    while (m->key[i]) {
        if (strcmp(m->key[i], k) == 0)
            return m->val[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* ---- weights ------------------------------------------------------------- */

enum { TQ_NONE, TQ_U8, TQ_U16, TQ_F16 };

struct tj_weight {
    const char *name;
    int ndim;
    int64_t shape[RT_MAX_DIMS];
    int64_t n;
    int is_int; /* int32 (shape/axis constants) or bool */
    int esz;    /* stored bytes per element */
    int q;
    float qmin, qscale;
    size_t off;
    int tid; /* IR constant made from it, -1 none */
};

struct tj_ctx {
    struct err *e;
    struct rt_import_opts o;
    struct rt_graph *g;
    const uint8_t *bin;
    size_t bin_len;
    struct tj_weight *w;
    int nw;
    struct tj_map wmap;
};

static float tj_half(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 31, m = h & 1023, u;
    float f;
    if (ex == 0) {
        f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    u = ex == 31 ? (s | 0x7f800000u | (m << 13)) : (s | ((ex + 112) << 23) | (m << 13));
    memcpy(&f, &u, 4);
    return f;
}

static int tj_json_int(const json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = json_integer_value(j);
        return 0;
    }
    if (json_is_string(j)) {
        char *end;
        errno = 0;
        long long v = strtoll(json_string_value(j), &end, 10);
        if (errno || *end || end == json_string_value(j))
            return -1;
        *out = v;
        return 0;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (d != floor(d) || fabs(d) > 9e15)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

/* builds the weight table from weightsManifest and checks it against bin */
static int tj_weights(struct tj_ctx *c, const json_t *root)
{
    const json_t *man = json_object_get(root, "weightsManifest");
    size_t gi, wi;
    const json_t *grp, *wj;
    size_t off = 0;
    int n = 0;

    if (man == NULL)
        return tj_map_init(&c->wmap, 1) < 0 ? BAD("out of memory") : 0;
    if (!json_is_array(man))
        return BAD("weightsManifest is not an array");
    json_array_foreach(man, gi, grp)
    {
        const json_t *ws = json_object_get(grp, "weights");
        if (!json_is_array(ws))
            return BAD("weightsManifest group %zu has no weights array", gi);
        n += (int)json_array_size(ws);
        if (n > TJ_MAX_WEIGHTS)
            return err_set(c->e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                           "too many weights (limit %d)", TJ_MAX_WEIGHTS);
    }
    c->w = calloc((size_t)(n ? n : 1), sizeof(*c->w));
    if (c->w == NULL || tj_map_init(&c->wmap, (size_t)n) < 0)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
    json_array_foreach(man, gi, grp)
    {
        json_array_foreach(json_object_get(grp, "weights"), wi, wj)
        {
            struct tj_weight *w = &c->w[c->nw];
            const char *name = json_string_value(json_object_get(wj, "name"));
            const char *dt = json_string_value(json_object_get(wj, "dtype"));
            const json_t *shape = json_object_get(wj, "shape");
            const json_t *q = json_object_get(wj, "quantization");
            size_t k;
            const json_t *dj;
            if (name == NULL || dt == NULL || !json_is_array(shape))
                return BAD("weight %d lacks name, dtype or shape", c->nw);
            w->name = name;
            w->tid = -1;
            if (json_array_size(shape) > RT_MAX_DIMS)
                return UNSUP("weight \"%.60s\" has rank %zu (max %d)", name, json_array_size(shape),
                             RT_MAX_DIMS);
            w->ndim = (int)json_array_size(shape);
            w->n = 1;
            json_array_foreach(shape, k, dj)
            {
                int64_t d;
                if (tj_json_int(dj, &d) < 0 || d < 0)
                    return BAD("weight \"%.60s\": invalid dim %zu", name, k);
                if (d > RT_MAX_TENSOR_ELEMS || (d && w->n > RT_MAX_TENSOR_ELEMS / d))
                    return err_set(c->e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                                   "weight \"%.60s\" too large (limit %lld elements)", name,
                                   (long long)RT_MAX_TENSOR_ELEMS);
                w->shape[k] = d;
                w->n *= d;
            }
            size_t esz;
            if (!strcmp(dt, "float32"))
                esz = 4;
            else if (!strcmp(dt, "int32"))
                esz = 4, w->is_int = 1;
            else if (!strcmp(dt, "bool"))
                esz = 1, w->is_int = 1;
            else
                return UNSUP("weight \"%.60s\": dtype %.20s", name, dt);
            if (q != NULL) {
                const char *qd = json_string_value(json_object_get(q, "dtype"));
                if (qd == NULL)
                    return BAD("weight \"%.60s\": quantization without dtype", name);
                if (!strcmp(qd, "uint8") || !strcmp(qd, "uint16")) {
                    const json_t *mn = json_object_get(q, "min"), *sc = json_object_get(q, "scale");
                    if (!json_is_number(mn) || !json_is_number(sc))
                        return BAD("weight \"%.60s\": quantization without min/scale", name);
                    w->q = qd[4] == '8' ? TQ_U8 : TQ_U16;
                    w->qmin = (float)json_number_value(mn);
                    w->qscale = (float)json_number_value(sc);
                    esz = w->q == TQ_U8 ? 1 : 2;
                } else if (!strcmp(qd, "float16")) {
                    w->q = TQ_F16;
                    esz = 2;
                } else {
                    return UNSUP("weight \"%.60s\": quantization %.20s", name, qd);
                }
            }
            w->off = off;
            w->esz = (int)esz;
            size_t bytes = (size_t)w->n * esz;
            if (bytes > c->bin_len || off > c->bin_len - bytes)
                return BAD("weight \"%.60s\" (%zu bytes at offset %zu) lies beyond the %zu "
                           "bytes of weight data",
                           name, bytes, off, c->bin_len);
            off += bytes;
            if (tj_map_put(&c->wmap, name, c->nw))
                return BAD("weight \"%.60s\" listed twice", name);
            c->nw++;
        }
    }
    return 0;
}

static float tj_wf(const struct tj_ctx *c, const struct tj_weight *w, int64_t i)
{
    const uint8_t *p = c->bin + w->off;
    switch (w->q) {
    case TQ_U8:
        return (float)p[i] * w->qscale + w->qmin;
    case TQ_U16:
        return (float)(p[2 * i] | p[2 * i + 1] << 8) * w->qscale + w->qmin;
    case TQ_F16:
        return tj_half((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    default:
        break;
    }
    if (w->is_int) {
        int32_t v;
        if (w->esz == 1)
            return (float)p[i];
        memcpy(&v, p + 4 * i, 4);
        return (float)v;
    }
    float f;
    memcpy(&f, p + 4 * i, 4);
    return f;
}

static int64_t tj_wi(const struct tj_ctx *c, const struct tj_weight *w, int64_t i)
{
    if (!w->is_int || w->q || w->esz != 4)
        return rt_import_f2i(tj_wf(c, w, i));
    int32_t v;
    memcpy(&v, c->bin + w->off + 4 * i, 4);
    return v;
}

/* decodes a weight into a new fp32 array; caller frees with free() */
static float *tj_decode(struct tj_ctx *c, const struct tj_weight *w)
{
    float *f = malloc((size_t)(w->n ? w->n : 1) * sizeof(float));
    if (f == NULL) {
        err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                "could not allocate weight \"%.60s\"", w->name);
        return NULL;
    }
    for (int64_t i = 0; i < w->n; i++)
        f[i] = w->is_int && !w->q ? (float)tj_wi(c, w, i) : tj_wf(c, w, i);
    return f;
}

/* an IR constant for weight index wi, reshaped to (ndim, shape) if given */
static int tj_const(struct tj_ctx *c, int wi, int ndim, const int64_t *shape)
{
    struct tj_weight *w = &c->w[wi];
    if (ndim < 0 && w->tid >= 0)
        return w->tid;
    if (w->n == 0)
        return BAD("weight \"%.60s\" is empty", w->name);
    float *f = tj_decode(c, w);
    if (f == NULL)
        return RT_ERR_OOM;
    int id;
    if (ndim >= 0) {
        int64_t n = 1;
        for (int i = 0; i < ndim; i++)
            n *= shape[i];
        if (n != w->n) {
            free(f);
            return BAD("weight \"%.60s\" has %lld values, expected %lld", w->name, (long long)w->n,
                       (long long)n);
        }
        id = rt_graph_const_add(c->g, w->name, ndim, shape, f, c->e);
    } else {
        id = rt_graph_const_add(c->g, w->name, w->ndim, w->shape, f, c->e);
        if (id >= 0)
            w->tid = id;
    }
    free(f);
    return id;
}

static int tj_weight_find(struct tj_ctx *c, const char *name)
{
    return tj_map_get(&c->wmap, name);
}

/* TF SAME padding (extra pixel after) */
static void same_pad(int64_t in, int k, int s, int d, int *before, int *after)
{
    int64_t out = (in + s - 1) / s;
    int64_t t = (out - 1) * s + (int64_t)(k - 1) * d + 1 - in;
    if (t < 0)
        t = 0;
    *before = (int)(t / 2);
    *after = (int)(t - t / 2);
}

static int act_from_name(const char *s, enum rt_act *act, float *alpha, float *beta)
{
    *alpha = *beta = 0;
    if (s == NULL || !strcmp(s, "linear"))
        *act = RT_ACT_NONE;
    else if (!strcmp(s, "relu"))
        *act = RT_ACT_RELU;
    else if (!strcmp(s, "relu6"))
        *act = RT_ACT_RELU6;
    else if (!strcmp(s, "sigmoid"))
        *act = RT_ACT_SIGMOID;
    else if (!strcmp(s, "tanh"))
        *act = RT_ACT_TANH;
    else if (!strcmp(s, "elu"))
        *act = RT_ACT_ELU;
    else if (!strcmp(s, "hard_sigmoid") || !strcmp(s, "hardSigmoid")) {
        *act = RT_ACT_HARDSIGMOID;
        *alpha = 0.2f;
        *beta = 0.5f;
    } else
        return -1;
    return 0;
}

/* ---- layers models -------------------------------------------------------- */

static int json_ints(const json_t *j, int64_t *out, int cap, int64_t def)
{
    if (j == NULL || json_is_null(j)) {
        for (int i = 0; i < cap; i++)
            out[i] = def;
        return 0;
    }
    if (json_is_integer(j)) {
        for (int i = 0; i < cap; i++)
            out[i] = json_integer_value(j);
        return 0;
    }
    if (!json_is_array(j) || (int)json_array_size(j) != cap)
        return -1;
    for (int i = 0; i < cap; i++)
        if (tj_json_int(json_array_get(j, (size_t)i), &out[i]) < 0)
            return -1;
    return 0;
}

/* layer input tensor ids from inbound_nodes[0] */
static int layer_inputs(struct tj_ctx *c, const json_t *layer, const struct tj_map *m, int *in,
                        int cap, const char *lname)
{
    const json_t *nodes = json_object_get(layer, "inbound_nodes");
    const json_t *first = json_array_get(nodes, 0);
    size_t i;
    const json_t *ref;
    int n = 0;

    if (!json_is_array(first))
        return 0;
    json_array_foreach(first, i, ref)
    {
        const char *src = json_is_array(ref) ? json_string_value(json_array_get(ref, 0))
                                             : json_string_value(json_object_get(ref, "args"));
        if (src == NULL)
            return BAD("layer \"%.60s\": malformed inbound node", lname);
        if (n >= cap)
            return UNSUP("layer \"%.60s\" has more than %d inputs", lname, cap);
        int t = tj_map_get(m, src);
        if (t < 0)
            return BAD("layer \"%.60s\": unknown input layer \"%.60s\"", lname, src);
        in[n++] = t;
    }
    return n;
}

static int lw(struct tj_ctx *c, const char *layer, const char *what)
{
    char nm[512];
    snprintf(nm, sizeof(nm), "%s/%s", layer, what);
    int k = tj_weight_find(c, nm);
    if (k < 0)
        return BAD("layer \"%.60s\": missing weight %.40s", layer, what);
    return k;
}

static int layer_conv(struct tj_ctx *c, const json_t *cfg, const char *name, int x, int depthwise)
{
    int64_t k[2], s[2], d[2];
    const struct rt_tensor *X = &c->g->tensors[x];
    if (X->ndim != 4)
        return BAD("layer \"%.60s\": input of rank %d", name, X->ndim);
    if (json_ints(json_object_get(cfg, "kernel_size"), k, 2, 1) < 0 ||
        json_ints(json_object_get(cfg, "strides"), s, 2, 1) < 0 ||
        json_ints(json_object_get(cfg, "dilation_rate"), d, 2, 1) < 0)
        return BAD("layer \"%.60s\": malformed kernel_size/strides/dilation_rate", name);
    if (k[0] < 1 || k[1] < 1 || k[0] > 64 || k[1] > 64 || s[0] < 1 || s[1] < 1 || s[0] > 64 ||
        s[1] > 64 || d[0] < 1 || d[1] < 1 || d[0] > 64 || d[1] > 64)
        return BAD("layer \"%.60s\": invalid kernel/stride/dilation", name);
    const char *df = json_string_value(json_object_get(cfg, "data_format"));
    if (df && strcmp(df, "channels_last"))
        return UNSUP("layer \"%.60s\": data_format %.20s", name, df);
    const char *pad = json_string_value(json_object_get(cfg, "padding"));
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.conv.stride_h = (int)s[0];
    a.conv.stride_w = (int)s[1];
    a.conv.dil_h = (int)d[0];
    a.conv.dil_w = (int)d[1];
    if (pad && !strcmp(pad, "same")) {
        same_pad(X->shape[1], (int)k[0], (int)s[0], (int)d[0], &a.conv.pad_t, &a.conv.pad_b);
        same_pad(X->shape[2], (int)k[1], (int)s[1], (int)d[1], &a.conv.pad_l, &a.conv.pad_r);
    } else if (pad && strcmp(pad, "valid")) {
        return UNSUP("layer \"%.60s\": padding %.20s", name, pad);
    }
    const char *actn = json_string_value(json_object_get(cfg, "activation"));
    if (act_from_name(actn, &a.act, &a.alpha, &a.beta) < 0)
        return UNSUP("layer \"%.60s\": activation %.20s", name, actn);
    /*
     * ZeroPadding2D -> Conv2D (Keras MobileNet's stride-2 stems): fold the
     * zero pad into the conv's padding; the PAD node is left dead and the
     * passes drop it, which saves a dispatch and a copy of the activation.
     */
    {
        const struct rt_tensor *xt = &c->g->tensors[x];
        const struct rt_node *pn = xt->producer >= 0 ? &c->g->nodes[xt->producer] : NULL;
        if (pn && pn->op == RT_OP_PAD && pn->a.pad_value == 0.0f && pn->a.ndim == 4 &&
            pn->a.pad_before[0] == 0 && pn->a.pad_after[0] == 0 && pn->a.pad_before[3] == 0 &&
            pn->a.pad_after[3] == 0 && !xt->is_output) {
            a.conv.pad_t += pn->a.pad_before[1];
            a.conv.pad_b += pn->a.pad_after[1];
            a.conv.pad_l += pn->a.pad_before[2];
            a.conv.pad_r += pn->a.pad_after[2];
            x = pn->in[0];
            X = &c->g->tensors[x];
        }
    }
    int in[3] = {x, -1, -1}, nin = 2;
    int64_t cin = X->shape[3];
    if (depthwise) {
        int wk = lw(c, name, "depthwise_kernel");
        if (wk < 0)
            return wk;
        struct tj_weight *w = &c->w[wk];
        if (w->ndim != 4 || w->shape[0] != k[0] || w->shape[1] != k[1] || w->shape[2] != cin)
            return BAD("layer \"%.60s\": depthwise kernel does not match", name);
        int64_t sh[4] = {k[0], k[1], 1, cin * w->shape[3]};
        in[1] = tj_const(c, wk, 4, sh);
        a.conv.groups = (int)cin;
    } else {
        int wk = lw(c, name, "kernel");
        if (wk < 0)
            return wk;
        in[1] = tj_const(c, wk, -1, NULL);
        a.conv.groups = 1;
    }
    if (in[1] < 0)
        return in[1];
    const json_t *ub = json_object_get(cfg, "use_bias");
    if (ub == NULL || json_is_true(ub)) {
        int bk = lw(c, name, depthwise ? "depthwise_bias" : "bias");
        if (bk < 0 && depthwise)
            bk = lw(c, name, "bias");
        if (bk < 0)
            return bk;
        in[2] = tj_const(c, bk, -1, NULL);
        if (in[2] < 0)
            return in[2];
        nin = 3;
    }
    return rt_graph_node_add(c->g, RT_OP_CONV2D, in, nin, &a, name, c->e);
}

static int layer_bn(struct tj_ctx *c, const json_t *cfg, const char *name, int x)
{
    const struct rt_tensor *X = &c->g->tensors[x];
    int64_t C = X->shape[X->ndim - 1];
    const json_t *ax = json_object_get(cfg, "axis");
    int64_t axis = -1;
    if (ax && !json_is_array(ax) && tj_json_int(ax, &axis) < 0)
        return BAD("layer \"%.60s\": malformed axis", name);
    if (json_is_array(ax) &&
        (json_array_size(ax) != 1 || tj_json_int(json_array_get(ax, 0), &axis) < 0))
        return UNSUP("layer \"%.60s\": several batchnorm axes", name);
    if (axis != -1 && axis != X->ndim - 1)
        return UNSUP("layer \"%.60s\": batchnorm axis %lld", name, (long long)axis);
    double eps = json_number_value(json_object_get(cfg, "epsilon"));
    if (json_object_get(cfg, "epsilon") == NULL)
        eps = 1e-3;
    const json_t *js = json_object_get(cfg, "scale"), *jc = json_object_get(cfg, "center");
    int has_scale = js == NULL || json_is_true(js), has_center = jc == NULL || json_is_true(jc);
    int km = lw(c, name, "moving_mean"), kv = lw(c, name, "moving_variance");
    int kg = has_scale ? lw(c, name, "gamma") : -1, kb = has_center ? lw(c, name, "beta") : -1;
    if (km < 0)
        return km;
    if (kv < 0)
        return kv;
    if (has_scale && kg < 0)
        return kg;
    if (has_center && kb < 0)
        return kb;
    int ks[4] = {km, kv, kg, kb};
    for (int i = 0; i < 4; i++)
        if (ks[i] >= 0 && c->w[ks[i]].n != C)
            return BAD("layer \"%.60s\": parameter %.60s has %lld values for %lld channels", name,
                       c->w[ks[i]].name, (long long)c->w[ks[i]].n, (long long)C);
    float *p = malloc((size_t)C * 2 * sizeof(float));
    if (p == NULL)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
    for (int64_t i = 0; i < C; i++) {
        float g = kg >= 0 ? tj_wf(c, &c->w[kg], i) : 1.0f;
        float b = kb >= 0 ? tj_wf(c, &c->w[kb], i) : 0.0f;
        float s = g / sqrtf(tj_wf(c, &c->w[kv], i) + (float)eps);
        p[i] = s;
        p[C + i] = b - tj_wf(c, &c->w[km], i) * s;
    }
    char nm[RT_NAME_LEN];
    int in[3] = {x, -1, -1};
    snprintf(nm, sizeof(nm), "%.80s/scale", name);
    in[1] = rt_graph_const_add(c->g, nm, 1, &C, p, c->e);
    snprintf(nm, sizeof(nm), "%.80s/shift", name);
    in[2] = in[1] < 0 ? in[1] : rt_graph_const_add(c->g, nm, 1, &C, p + C, c->e);
    free(p);
    if (in[2] < 0)
        return in[2];
    return rt_graph_node_add(c->g, RT_OP_BATCHNORM, in, 3, NULL, name, c->e);
}

static int layer_pool(struct tj_ctx *c, const json_t *cfg, const char *name, int x, int is_max)
{
    int64_t k[2], s[2];
    const struct rt_tensor *X = &c->g->tensors[x];
    if (X->ndim != 4)
        return BAD("layer \"%.60s\": input of rank %d", name, X->ndim);
    if (json_ints(json_object_get(cfg, "pool_size"), k, 2, 2) < 0)
        return BAD("layer \"%.60s\": malformed pool_size", name);
    const json_t *sj = json_object_get(cfg, "strides");
    if (json_ints(sj && !json_is_null(sj) ? sj : json_object_get(cfg, "pool_size"), s, 2, 2) < 0)
        return BAD("layer \"%.60s\": malformed strides", name);
    if (k[0] < 1 || k[1] < 1 || k[0] > 4096 || k[1] > 4096 || s[0] < 1 || s[1] < 1 || s[0] > 4096 ||
        s[1] > 4096)
        return BAD("layer \"%.60s\": invalid pool size/strides", name);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.pool.kh = (int)k[0];
    a.pool.kw = (int)k[1];
    a.pool.stride_h = (int)s[0];
    a.pool.stride_w = (int)s[1];
    const char *pad = json_string_value(json_object_get(cfg, "padding"));
    if (pad && !strcmp(pad, "same")) {
        same_pad(X->shape[1], a.pool.kh, a.pool.stride_h, 1, &a.pool.pad_t, &a.pool.pad_b);
        same_pad(X->shape[2], a.pool.kw, a.pool.stride_w, 1, &a.pool.pad_l, &a.pool.pad_r);
    }
    return rt_graph_node_add(c->g, is_max ? RT_OP_POOL_MAX : RT_OP_POOL_AVG, &x, 1, &a, name, c->e);
}

static int layer_dense(struct tj_ctx *c, const json_t *cfg, const char *name, int x)
{
    int in[3] = {x, -1, -1}, nin = 2;
    int wk = lw(c, name, "kernel");
    if (wk < 0)
        return wk;
    if ((in[1] = tj_const(c, wk, -1, NULL)) < 0)
        return in[1];
    const json_t *ub = json_object_get(cfg, "use_bias");
    if (ub == NULL || json_is_true(ub)) {
        int bk = lw(c, name, "bias");
        if (bk < 0)
            return bk;
        if ((in[2] = tj_const(c, bk, -1, NULL)) < 0)
            return in[2];
        nin = 3;
    }
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    const char *actn = json_string_value(json_object_get(cfg, "activation"));
    int softmax = actn && !strcmp(actn, "softmax");
    if (!softmax && act_from_name(actn, &a.act, &a.alpha, &a.beta) < 0)
        return UNSUP("layer \"%.60s\": activation %.20s", name, actn);
    int t = rt_graph_node_add(c->g, RT_OP_DENSE, in, nin, &a, name, c->e);
    if (t < 0 || !softmax)
        return t;
    memset(&a, 0, sizeof(a));
    a.axis = -1;
    return rt_graph_node_add(c->g, RT_OP_SOFTMAX, &t, 1, &a, name, c->e);
}

static int layer_one(struct tj_ctx *c, const json_t *layer, const char *cls, const char *name,
                     int *in, int nin)
{
    const json_t *cfg = json_object_get(layer, "config");
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));

    if (!strcmp(cls, "InputLayer")) {
        const json_t *shape = json_object_get(cfg, "batch_input_shape");
        if (shape == NULL)
            shape = json_object_get(cfg, "batchInputShape");
        size_t r = json_array_size(shape);
        if (r < 1 || r > RT_MAX_DIMS)
            return UNSUP("input layer \"%.60s\" of rank %zu", name, r);
        int64_t d[RT_MAX_DIMS];
        for (size_t i = 0; i < r; i++) {
            const json_t *dj = json_array_get(shape, i);
            if (json_is_null(dj))
                d[i] = i == 0               ? 1
                       : (r == 4 && i == 1) ? c->o.in_h
                       : (r == 4 && i == 2) ? c->o.in_w
                                            : 0;
            else if (tj_json_int(dj, &d[i]) < 0)
                return BAD("input layer \"%.60s\": malformed shape", name);
            if (d[i] < 1)
                return UNSUP("input layer \"%.60s\": dynamic dim %zu and no size given", name, i);
        }
        return rt_graph_input_add(c->g, name, (int)r, d, c->e);
    }
    if (nin < 1)
        return BAD("layer \"%.60s\" (%.40s) has no input", name, cls);
    int x = in[0];
    const struct rt_tensor *X = &c->g->tensors[x];
    if (!strcmp(cls, "Conv2D"))
        return layer_conv(c, cfg, name, x, 0);
    if (!strcmp(cls, "DepthwiseConv2D"))
        return layer_conv(c, cfg, name, x, 1);
    if (!strcmp(cls, "BatchNormalization"))
        return layer_bn(c, cfg, name, x);
    if (!strcmp(cls, "Dense"))
        return layer_dense(c, cfg, name, x);
    if (!strcmp(cls, "MaxPooling2D"))
        return layer_pool(c, cfg, name, x, 1);
    if (!strcmp(cls, "AveragePooling2D"))
        return layer_pool(c, cfg, name, x, 0);
    if (!strcmp(cls, "Dropout") || !strcmp(cls, "SpatialDropout2D") ||
        !strcmp(cls, "GaussianNoise") || !strcmp(cls, "GaussianDropout"))
        return x;
    if (!strcmp(cls, "ZeroPadding2D")) {
        const json_t *p = json_object_get(cfg, "padding");
        int64_t pp[4];
        if (json_is_integer(p)) {
            pp[0] = pp[1] = pp[2] = pp[3] = json_integer_value(p);
        } else if (json_is_array(p) && json_array_size(p) == 2 &&
                   json_is_array(json_array_get(p, 0))) {
            if (json_ints(json_array_get(p, 0), pp, 2, 0) < 0 ||
                json_ints(json_array_get(p, 1), pp + 2, 2, 0) < 0)
                return BAD("layer \"%.60s\": malformed padding", name);
        } else {
            int64_t hw[2];
            if (json_ints(p, hw, 2, 1) < 0)
                return BAD("layer \"%.60s\": malformed padding", name);
            pp[0] = pp[1] = hw[0];
            pp[2] = pp[3] = hw[1];
        }
        if (X->ndim != 4)
            return BAD("layer \"%.60s\": input of rank %d", name, X->ndim);
        for (int i = 0; i < 4; i++)
            if (pp[i] < 0 || pp[i] > 4096)
                return BAD("layer \"%.60s\": invalid padding %lld", name, (long long)pp[i]);
        a.ndim = 4;
        a.pad_before[1] = (int)pp[0];
        a.pad_after[1] = (int)pp[1];
        a.pad_before[2] = (int)pp[2];
        a.pad_after[2] = (int)pp[3];
        return rt_graph_node_add(c->g, RT_OP_PAD, &x, 1, &a, name, c->e);
    }
    if (!strcmp(cls, "ReLU")) {
        const json_t *mv = json_object_get(cfg, "max_value");
        double ns = json_number_value(json_object_get(cfg, "negative_slope"));
        double th = json_number_value(json_object_get(cfg, "threshold"));
        if (ns != 0 || th != 0)
            return UNSUP("layer \"%.60s\": ReLU with slope/threshold", name);
        if (mv == NULL || json_is_null(mv))
            a.act = RT_ACT_RELU;
        else if (json_number_value(mv) == 6)
            a.act = RT_ACT_RELU6;
        else {
            a.act = RT_ACT_CLIP;
            a.alpha = 0;
            a.beta = (float)json_number_value(mv);
        }
        return rt_graph_node_add(c->g, RT_OP_ACT, &x, 1, &a, name, c->e);
    }
    if (!strcmp(cls, "Activation")) {
        const char *an = json_string_value(json_object_get(cfg, "activation"));
        if (an && !strcmp(an, "softmax")) {
            a.axis = -1;
            return rt_graph_node_add(c->g, RT_OP_SOFTMAX, &x, 1, &a, name, c->e);
        }
        if (act_from_name(an, &a.act, &a.alpha, &a.beta) < 0)
            return UNSUP("layer \"%.60s\": activation %.20s", name, an);
        if (a.act == RT_ACT_NONE)
            return x;
        return rt_graph_node_add(c->g, RT_OP_ACT, &x, 1, &a, name, c->e);
    }
    if (!strcmp(cls, "Softmax")) {
        a.axis = -1;
        return rt_graph_node_add(c->g, RT_OP_SOFTMAX, &x, 1, &a, name, c->e);
    }
    if (!strcmp(cls, "Flatten") || !strcmp(cls, "Reshape")) {
        a.ndim = 2;
        a.shape[0] = 0;
        a.shape[1] = -1;
        if (!strcmp(cls, "Reshape")) {
            const json_t *ts = json_object_get(cfg, "target_shape");
            size_t r = json_array_size(ts);
            if (r < 1 || r + 1 > RT_MAX_DIMS)
                return UNSUP("layer \"%.60s\": target_shape of rank %zu", name, r);
            a.ndim = (int)r + 1;
            for (size_t i = 0; i < r; i++)
                if (tj_json_int(json_array_get(ts, i), &a.shape[i + 1]) < 0)
                    return BAD("layer \"%.60s\": malformed target_shape", name);
        }
        return rt_graph_node_add(c->g, RT_OP_RESHAPE, &x, 1, &a, name, c->e);
    }
    if (!strcmp(cls, "GlobalAveragePooling2D")) {
        int t = rt_graph_node_add(c->g, RT_OP_GLOBAL_AVG, &x, 1, NULL, name, c->e);
        const json_t *kd = json_object_get(cfg, "keepdims");
        if (t < 0 || json_is_true(kd))
            return t;
        a.ndim = 2;
        a.shape[0] = 0;
        a.shape[1] = -1;
        return rt_graph_node_add(c->g, RT_OP_RESHAPE, &t, 1, &a, name, c->e);
    }
    if (!strcmp(cls, "UpSampling2D")) {
        int64_t sz[2];
        if (json_ints(json_object_get(cfg, "size"), sz, 2, 2) < 0 || sz[0] < 1 || sz[1] < 1 ||
            sz[0] > 64 || sz[1] > 64 || X->ndim != 4)
            return BAD("layer \"%.60s\": malformed size", name);
        const char *ip = json_string_value(json_object_get(cfg, "interpolation"));
        a.resize.out_h = (int)(X->shape[1] * sz[0]);
        a.resize.out_w = (int)(X->shape[2] * sz[1]);
        a.resize.mode = ip && !strcmp(ip, "bilinear") ? 1 : 0;
        a.resize.half_pixel = a.resize.mode;
        return rt_graph_node_add(c->g, RT_OP_RESIZE, &x, 1, &a, name, c->e);
    }
    if (!strcmp(cls, "Concatenate")) {
        int64_t ax = -1;
        const json_t *aj = json_object_get(cfg, "axis");
        if (aj && tj_json_int(aj, &ax) < 0)
            return BAD("layer \"%.60s\": malformed axis", name);
        a.axis = (int)ax;
        return rt_graph_node_add(c->g, RT_OP_CONCAT, in, nin, &a, name, c->e);
    }
    enum rt_op bop = RT_OP_COUNT;
    if (!strcmp(cls, "Add"))
        bop = RT_OP_ADD;
    else if (!strcmp(cls, "Multiply"))
        bop = RT_OP_MUL;
    else if (!strcmp(cls, "Subtract"))
        bop = RT_OP_SUB;
    else if (!strcmp(cls, "Maximum"))
        bop = RT_OP_MAX;
    else if (!strcmp(cls, "Minimum"))
        bop = RT_OP_MIN;
    if (bop != RT_OP_COUNT) {
        if (nin < 2 || (bop == RT_OP_SUB && nin != 2))
            return BAD("layer \"%.60s\" (%.20s) needs 2 inputs, got %d", name, cls, nin);
        int t = in[0];
        for (int i = 1; i < nin && t >= 0; i++) {
            int pair[2] = {t, in[i]};
            t = rt_graph_node_add(c->g, bop, pair, 2, NULL, name, c->e);
        }
        return t;
    }
    return UNSUP("unsupported tfjs layer class %.40s (layer \"%.60s\")", cls, name);
}

static int tj_layers(struct tj_ctx *c, const json_t *topo)
{
    const json_t *mc = json_object_get(topo, "model_config");
    if (mc == NULL)
        mc = topo;
    const char *cls = json_string_value(json_object_get(mc, "class_name"));
    const json_t *cfg = json_object_get(mc, "config");
    const json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    int sequential = cls && !strcmp(cls, "Sequential");
    size_t i;
    const json_t *layer;
    struct tj_map m;
    int rc = 0, last = -1;

    if (cls == NULL || (!sequential && strcmp(cls, "Model") && strcmp(cls, "Functional")))
        return UNSUP("tfjs layers model class %.40s", cls ? cls : "(none)");
    if (!json_is_array(layers) || json_array_size(layers) == 0)
        return BAD("tfjs layers model without layers");
    if (json_array_size(layers) > RT_MAX_NODES)
        return err_set(c->e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                       "too many layers (limit %d)", RT_MAX_NODES);
    if (tj_map_init(&m, json_array_size(layers)) < 0)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
    json_array_foreach(layers, i, layer)
    {
        const char *lc = json_string_value(json_object_get(layer, "class_name"));
        const json_t *lcfg = json_object_get(layer, "config");
        const char *name = json_string_value(json_object_get(layer, "name"));
        if (name == NULL)
            name = json_string_value(json_object_get(lcfg, "name"));
        if (lc == NULL || name == NULL || !json_is_object(lcfg)) {
            rc = BAD("layer %zu lacks class_name, name or config", i);
            break;
        }
        int in[RT_MAX_INPUTS], nin;
        if (sequential) {
            nin = last >= 0 ? 1 : 0;
            in[0] = last;
            if (last < 0 && strcmp(lc, "InputLayer")) {
                /* Sequential without an InputLayer: the first layer carries the shape */
                json_t *fake =
                    json_pack("{s:s, s:{s:O}}", "class_name", "InputLayer", "config",
                              "batch_input_shape", json_object_get(lcfg, "batch_input_shape"));
                if (fake == NULL || json_object_get(lcfg, "batch_input_shape") == NULL) {
                    json_decref(fake);
                    rc = BAD("sequential model without an input shape");
                    break;
                }
                last = layer_one(c, fake, "InputLayer", "input", NULL, 0);
                json_decref(fake);
                if (last < 0) {
                    rc = last;
                    break;
                }
                in[0] = last;
                nin = 1;
            }
        } else {
            nin = layer_inputs(c, layer, &m, in, RT_MAX_INPUTS, name);
            if (nin < 0) {
                rc = nin;
                break;
            }
        }
        int t = layer_one(c, layer, lc, name, in, nin);
        if (t < 0) {
            rc = t;
            break;
        }
        if (tj_map_put(&m, name, t)) {
            rc = BAD("layer \"%.60s\" defined twice", name);
            break;
        }
        last = t;
    }
    if (rc == 0) {
        const json_t *outs = json_object_get(cfg, "output_layers");
        size_t k;
        const json_t *o;
        if (sequential || !json_is_array(outs) || json_array_size(outs) == 0) {
            rc = rt_graph_output_add(c->g, last, c->e);
        } else {
            json_array_foreach(outs, k, o)
            {
                const char *nm = json_string_value(json_array_get(o, 0));
                int t = nm ? tj_map_get(&m, nm) : -1;
                if (t < 0) {
                    rc = BAD("unknown output layer \"%.60s\"", nm ? nm : "");
                    break;
                }
                if ((rc = rt_graph_output_add(c->g, t, c->e)) < 0)
                    break;
            }
        }
    }
    tj_map_free(&m);
    return rc;
}

/* ---- graph models ------------------------------------------------------- */

struct gn {
    const json_t *node;
    const char *name, *op;
    int state; /* 0 new, 1 visiting, 2 done */
    int tid;   /* IR tensor, -1 none */
    int wi;    /* Const: weight index */
};

struct tg {
    struct tj_ctx *c;
    struct gn *n;
    int nn;
    struct tj_map m;
};

/* base64 string attribute ("s") decoded into out */
static void attr_s(const json_t *node, const char *key, char *out, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *s = json_string_value(
        json_object_get(json_object_get(json_object_get(node, "attr"), key), "s"));
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    out[0] = '\0';
    if (s == NULL)
        return;
    for (; *s && *s != '='; s++) {
        const char *p = strchr(tbl, *s);
        if (p == NULL)
            break;
        acc = (acc << 6) | (uint32_t)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 < cap)
                out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
}

static const json_t *attr_get(const json_t *node, const char *key)
{
    return json_object_get(json_object_get(node, "attr"), key);
}

/* list of ints attribute; returns the count or -1 */
static int attr_list_i(const json_t *node, const char *key, int64_t *out, int cap)
{
    const json_t *l = json_object_get(json_object_get(attr_get(node, key), "list"), "i");
    if (!json_is_array(l))
        return -1;
    int n = (int)json_array_size(l);
    for (int i = 0; i < n && i < cap; i++)
        if (tj_json_int(json_array_get(l, (size_t)i), &out[i]) < 0)
            return -1;
    return n;
}

/* the node index an input reference names ("name", "name:0"; "^ctrl" skipped) */
static int tg_ref(struct tg *t, const char *ref)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", ref);
    char *colon = strrchr(buf, ':');
    if (colon && colon != buf) {
        if (strcmp(colon, ":0"))
            return -2; /* a second output: not supported */
        *colon = '\0';
    }
    return tj_map_get(&t->m, buf);
}

/* node i's data inputs (control inputs skipped) as node indices */
static int tg_inputs(struct tg *t, int i, int *in, int cap)
{
    struct tj_ctx *c = t->c;
    const json_t *ins = json_object_get(t->n[i].node, "input");
    size_t k;
    const json_t *r;
    int n = 0;
    json_array_foreach(ins, k, r)
    {
        const char *s = json_string_value(r);
        if (s == NULL)
            return BAD("node \"%.60s\": malformed input", t->n[i].name);
        if (s[0] == '^')
            continue;
        if (n >= cap)
            return UNSUP("node \"%.60s\" has more than %d inputs", t->n[i].name, cap);
        int j = tg_ref(t, s);
        if (j == -2)
            return UNSUP("node \"%.60s\": input \"%.60s\" uses a second output", t->n[i].name, s);
        if (j < 0)
            return BAD("node \"%.60s\": unknown input \"%.60s\"", t->n[i].name, s);
        in[n++] = j;
    }
    return n;
}

/* an IR tensor for node j used as an operand (Const -> IR constant) */
static int tg_val(struct tg *t, int j)
{
    struct tj_ctx *c = t->c;
    if (t->n[j].wi >= 0)
        return tj_const(c, t->n[j].wi, -1, NULL);
    if (t->n[j].tid < 0)
        return BAD("node \"%.60s\" has no value", t->n[j].name);
    return t->n[j].tid;
}

/* a Const node's int values */
static int tg_ints(struct tg *t, int j, int64_t *out, int cap, int *n, const char *user)
{
    struct tj_ctx *c = t->c;
    if (t->n[j].wi < 0)
        return UNSUP("node \"%.60s\": argument \"%.60s\" is not a constant", user, t->n[j].name);
    struct tj_weight *w = &c->w[t->n[j].wi];
    if (w->n > cap)
        return UNSUP("node \"%.60s\": argument of %lld values", user, (long long)w->n);
    for (int64_t i = 0; i < w->n; i++)
        out[i] = tj_wi(c, w, i);
    *n = (int)w->n;
    return 0;
}

static int tg_conv(struct tg *t, int i, const int *in, int nin, int depthwise, int fused)
{
    struct tj_ctx *c = t->c;
    const json_t *nd = t->n[i].node;
    const char *name = t->n[i].name;
    char buf[64];
    int64_t st[4], dl[4] = {1, 1, 1, 1};
    if (nin < 2)
        return BAD("node \"%.60s\": conv needs 2 inputs", name);
    attr_s(nd, "data_format", buf, sizeof(buf));
    if (buf[0] && strcmp(buf, "NHWC"))
        return UNSUP("node \"%.60s\": data_format %s", name, buf);
    if (attr_list_i(nd, "strides", st, 4) != 4)
        return BAD("node \"%.60s\": malformed strides", name);
    int nd_ = attr_list_i(nd, "dilations", dl, 4);
    if (nd_ >= 0 && nd_ != 4)
        return BAD("node \"%.60s\": malformed dilations", name);
    int x = tg_val(t, in[0]);
    if (x < 0)
        return x;
    if (t->n[in[1]].wi < 0)
        return UNSUP("node \"%.60s\": non-constant filter", name);
    struct tj_weight *w = &c->w[t->n[in[1]].wi];
    const struct rt_tensor *X = &c->g->tensors[x];
    if (w->ndim != 4 || X->ndim != 4)
        return BAD("node \"%.60s\": conv of rank %d with rank-%d filter", name, X->ndim, w->ndim);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    if (st[1] < 1 || st[2] < 1 || st[1] > 64 || st[2] > 64 || dl[1] < 1 || dl[2] < 1 ||
        dl[1] > 64 || dl[2] > 64)
        return BAD("node \"%.60s\": invalid strides/dilations", name);
    a.conv.stride_h = (int)st[1];
    a.conv.stride_w = (int)st[2];
    a.conv.dil_h = (int)dl[1];
    a.conv.dil_w = (int)dl[2];
    attr_s(nd, "padding", buf, sizeof(buf));
    if (!strcmp(buf, "SAME")) {
        same_pad(X->shape[1], (int)w->shape[0], a.conv.stride_h, a.conv.dil_h, &a.conv.pad_t,
                 &a.conv.pad_b);
        same_pad(X->shape[2], (int)w->shape[1], a.conv.stride_w, a.conv.dil_w, &a.conv.pad_l,
                 &a.conv.pad_r);
    } else if (!strcmp(buf, "EXPLICIT")) {
        int64_t ep[8];
        if (attr_list_i(nd, "explicit_paddings", ep, 8) != 8)
            return BAD("node \"%.60s\": malformed explicit_paddings", name);
        for (int k = 2; k < 6; k++)
            if (ep[k] < 0 || ep[k] > 1024)
                return BAD("node \"%.60s\": invalid explicit padding", name);
        a.conv.pad_t = (int)ep[2];
        a.conv.pad_b = (int)ep[3];
        a.conv.pad_l = (int)ep[4];
        a.conv.pad_r = (int)ep[5];
    } else if (strcmp(buf, "VALID")) {
        return UNSUP("node \"%.60s\": padding \"%s\"", name, buf);
    }
    int ins[3] = {x, -1, -1}, n_ins = 2;
    if (depthwise) {
        int64_t sh[4] = {w->shape[0], w->shape[1], 1, w->shape[2] * w->shape[3]};
        if (w->shape[2] != X->shape[3])
            return BAD("node \"%.60s\": depthwise filter for %lld channels, input has %lld", name,
                       (long long)w->shape[2], (long long)X->shape[3]);
        a.conv.groups = (int)w->shape[2];
        ins[1] = tj_const(c, t->n[in[1]].wi, 4, sh);
    } else {
        a.conv.groups = 1;
        ins[1] = tj_const(c, t->n[in[1]].wi, -1, NULL);
    }
    if (ins[1] < 0)
        return ins[1];
    if (fused) {
        const json_t *fl = json_object_get(json_object_get(attr_get(nd, "fused_ops"), "list"), "s");
        size_t k;
        const json_t *fs;
        int want_bias = 0;
        json_array_foreach(fl, k, fs)
        {
            char op[32];
            json_t *tmp = json_pack("{s:{s:{s:O}}}", "attr", "x", "s", fs);
            attr_s(tmp, "x", op, sizeof(op));
            json_decref(tmp);
            if (!strcmp(op, "BiasAdd"))
                want_bias = 1;
            else if (!strcmp(op, "Relu"))
                a.act = RT_ACT_RELU;
            else if (!strcmp(op, "Relu6"))
                a.act = RT_ACT_RELU6;
            else if (!strcmp(op, "Elu"))
                a.act = RT_ACT_ELU;
            else if (!strcmp(op, "Sigmoid"))
                a.act = RT_ACT_SIGMOID;
            else if (!strcmp(op, "Tanh"))
                a.act = RT_ACT_TANH;
            else if (!strcmp(op, "LeakyRelu")) {
                a.act = RT_ACT_LEAKY;
                a.alpha =
                    (float)json_number_value(json_object_get(attr_get(nd, "leakyrelu_alpha"), "f"));
            } else
                return UNSUP("node \"%.60s\": fused op %s", name, op);
        }
        if (want_bias) {
            if (nin < 3)
                return BAD("node \"%.60s\": BiasAdd without a bias input", name);
            if ((ins[2] = tg_val(t, in[2])) < 0)
                return ins[2];
            n_ins = 3;
        }
    }
    return rt_graph_node_add(c->g, RT_OP_CONV2D, ins, n_ins, &a, name, c->e);
}

static int tg_pool(struct tg *t, int i, int x, int is_max)
{
    struct tj_ctx *c = t->c;
    const json_t *nd = t->n[i].node;
    const char *name = t->n[i].name;
    int64_t k[4], s[4];
    char buf[32];
    const struct rt_tensor *X = &c->g->tensors[x];
    if (attr_list_i(nd, "ksize", k, 4) != 4 || attr_list_i(nd, "strides", s, 4) != 4)
        return BAD("node \"%.60s\": malformed ksize/strides", name);
    if (k[0] != 1 || k[3] != 1 || s[0] != 1 || s[3] != 1 || X->ndim != 4)
        return UNSUP("node \"%.60s\": pooling over batch or channels", name);
    if (k[1] < 1 || k[2] < 1 || k[1] > 4096 || k[2] > 4096 || s[1] < 1 || s[2] < 1 || s[1] > 4096 ||
        s[2] > 4096)
        return BAD("node \"%.60s\": invalid ksize/strides", name);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.pool.kh = (int)k[1];
    a.pool.kw = (int)k[2];
    a.pool.stride_h = (int)s[1];
    a.pool.stride_w = (int)s[2];
    attr_s(nd, "padding", buf, sizeof(buf));
    if (!strcmp(buf, "SAME")) {
        same_pad(X->shape[1], a.pool.kh, a.pool.stride_h, 1, &a.pool.pad_t, &a.pool.pad_b);
        same_pad(X->shape[2], a.pool.kw, a.pool.stride_w, 1, &a.pool.pad_l, &a.pool.pad_r);
    } else if (strcmp(buf, "VALID")) {
        return UNSUP("node \"%.60s\": padding \"%s\"", name, buf);
    }
    return rt_graph_node_add(c->g, is_max ? RT_OP_POOL_MAX : RT_OP_POOL_AVG, &x, 1, &a, name, c->e);
}

/*
 * Conv2DBackpropInput (inputs: output_sizes, filter [KH,KW,Cout,Cin], x)
 * with a 2x2 kernel, stride 2 and SAME padding (every output pixel gets
 * exactly one tap) as IR ops: a 1x1 conv to 4*Cout channels ordered
 * (dy, dx, co), then depth-to-space by reshape [N*H, W, 2, 2*Cout] ->
 * transpose [N*H, 2, W, 2*Cout] -> reshape [N, 2H, 2W, Cout].
 */
static int tg_deconv(struct tg *t, int i, const int *in, int nin)
{
    struct tj_ctx *c = t->c;
    const json_t *nd = t->n[i].node;
    const char *name = t->n[i].name;
    int64_t s[4];
    char buf[32];
    if (nin != 3)
        return BAD("node \"%.60s\": Conv2DBackpropInput needs 3 inputs", name);
    int fw = t->n[in[1]].wi;
    int x = tg_val(t, in[2]);
    if (x < 0)
        return x;
    if (fw < 0)
        return UNSUP("node \"%.60s\": transposed conv with a computed filter", name);
    const struct tj_weight *W = &c->w[fw];
    attr_s(nd, "padding", buf, sizeof(buf));
    if (W->ndim != 4 || W->shape[0] != 2 || W->shape[1] != 2 ||
        attr_list_i(nd, "strides", s, 4) != 4 || s[1] != 2 || s[2] != 2 || strcmp(buf, "SAME"))
        return UNSUP("node \"%.60s\": transposed conv other than 2x2 stride 2 SAME", name);
    const struct rt_tensor *X = &c->g->tensors[x];
    int64_t co = W->shape[2], ci = W->shape[3];
    if (X->ndim != 4 || X->shape[3] != ci || co < 1 || co > 65536)
        return BAD("node \"%.60s\": transposed conv shape mismatch", name);
    int64_t h = X->shape[1], w = X->shape[2];
    float *k = malloc((size_t)(ci * 4 * co) * sizeof(float));
    if (k == NULL)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
    for (int64_t dy = 0; dy < 2; dy++)
        for (int64_t dx = 0; dx < 2; dx++)
            for (int64_t o = 0; o < co; o++)
                for (int64_t q = 0; q < ci; q++)
                    k[q * 4 * co + (dy * 2 + dx) * co + o] =
                        tj_wf(c, W, ((dy * 2 + dx) * co + o) * ci + q);
    int64_t kshape[4] = {1, 1, ci, 4 * co};
    char nm[RT_NAME_LEN];
    snprintf(nm, sizeof(nm), "%.80s/k1x1", name);
    int kt = rt_graph_const_add(c->g, nm, 4, kshape, k, c->e);
    free(k);
    if (kt < 0)
        return kt;
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.conv.stride_h = a.conv.stride_w = a.conv.dil_h = a.conv.dil_w = a.conv.groups = 1;
    int ins[2] = {x, kt};
    int y = rt_graph_node_add(c->g, RT_OP_CONV2D, ins, 2, &a, name, c->e);
    if (y < 0)
        return y;
    memset(&a, 0, sizeof(a));
    a.ndim = 4;
    a.shape[0] = -1, a.shape[1] = w, a.shape[2] = 2, a.shape[3] = 2 * co;
    if ((y = rt_graph_node_add(c->g, RT_OP_RESHAPE, &y, 1, &a, name, c->e)) < 0)
        return y;
    memset(&a, 0, sizeof(a));
    a.ndim = 4;
    a.perm[0] = 0, a.perm[1] = 2, a.perm[2] = 1, a.perm[3] = 3;
    if ((y = rt_graph_node_add(c->g, RT_OP_TRANSPOSE, &y, 1, &a, name, c->e)) < 0)
        return y;
    memset(&a, 0, sizeof(a));
    a.ndim = 4;
    a.shape[0] = -1, a.shape[1] = 2 * h, a.shape[2] = 2 * w, a.shape[3] = co;
    return rt_graph_node_add(c->g, RT_OP_RESHAPE, &y, 1, &a, name, c->e);
}

static int tg_node(struct tg *t, int i)
{
    struct tj_ctx *c = t->c;
    struct gn *g = &t->n[i];
    const char *op = g->op, *name = g->name;
    int in[RT_MAX_INPUTS + 1], nin = tg_inputs(t, i, in, RT_MAX_INPUTS + 1);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    if (nin < 0)
        return nin;

    if (!strcmp(op, "Const")) {
        g->wi = tj_weight_find(c, name);
        if (g->wi < 0)
            return BAD("Const node \"%.60s\" has no weights", name);
        return 0;
    }
    if (!strcmp(op, "Placeholder")) {
        const json_t *dims =
            json_object_get(json_object_get(attr_get(g->node, "shape"), "shape"), "dim");
        size_t r = json_array_size(dims);
        if (r < 1 || r > RT_MAX_DIMS)
            return UNSUP("placeholder \"%.60s\" of rank %zu", name, r);
        int64_t d[RT_MAX_DIMS];
        for (size_t k = 0; k < r; k++) {
            const json_t *sz = json_object_get(json_array_get(dims, k), "size");
            if (tj_json_int(sz, &d[k]) < 0)
                return BAD("placeholder \"%.60s\": malformed shape", name);
            if (d[k] == -1)
                d[k] = k == 0               ? 1
                       : (r == 4 && k == 1) ? c->o.in_h
                       : (r == 4 && k == 2) ? c->o.in_w
                                            : -1;
            if (d[k] < 1)
                return UNSUP("placeholder \"%.60s\": dynamic dim %zu and no size given", name, k);
        }
        g->tid = rt_graph_input_add(c->g, name, (int)r, d, c->e);
        return g->tid < 0 ? g->tid : 0;
    }
    if (nin < 1)
        return BAD("node \"%.60s\" (%.30s) has no input", name, op);
    if (!strcmp(op, "Identity") || !strcmp(op, "StopGradient") || !strcmp(op, "Snapshot")) {
        g->wi = t->n[in[0]].wi;
        g->tid = t->n[in[0]].tid;
        return 0;
    }
    if (!strcmp(op, "Conv2DBackpropInput"))
        g->tid = tg_deconv(t, i, in, nin);
    else if (!strcmp(op, "Conv2D") || !strcmp(op, "_FusedConv2D"))
        g->tid = tg_conv(t, i, in, nin, 0, op[0] == '_');
    else if (!strcmp(op, "DepthwiseConv2dNative") || !strcmp(op, "FusedDepthwiseConv2dNative"))
        g->tid = tg_conv(t, i, in, nin, 1, op[0] == 'F');
    else {
        int x = tg_val(t, in[0]);
        if (x < 0)
            return x;
        enum rt_op bop = RT_OP_COUNT;
        if (!strcmp(op, "Add") || !strcmp(op, "AddV2") || !strcmp(op, "BiasAdd") ||
            (!strcmp(op, "AddN") && nin == 2))
            bop = RT_OP_ADD;
        else if (!strcmp(op, "Sub"))
            bop = RT_OP_SUB;
        else if (!strcmp(op, "Mul"))
            bop = RT_OP_MUL;
        else if (!strcmp(op, "RealDiv") || !strcmp(op, "Div"))
            bop = RT_OP_DIV;
        else if (!strcmp(op, "Maximum"))
            bop = RT_OP_MAX;
        else if (!strcmp(op, "Minimum"))
            bop = RT_OP_MIN;
        if (bop != RT_OP_COUNT) {
            if (nin != 2)
                return BAD("node \"%.60s\": %s needs 2 inputs", name, op);
            int y = tg_val(t, in[1]);
            if (y < 0)
                return y;
            int pair[2] = {x, y};
            g->tid = rt_graph_node_add(c->g, bop, pair, 2, NULL, name, c->e);
        } else if (!strcmp(op, "Relu") || !strcmp(op, "Relu6") || !strcmp(op, "Sigmoid") ||
                   !strcmp(op, "Tanh") || !strcmp(op, "Elu") || !strcmp(op, "LeakyRelu")) {
            a.act = op[0] == 'S'   ? RT_ACT_SIGMOID
                    : op[0] == 'T' ? RT_ACT_TANH
                    : op[0] == 'E' ? RT_ACT_ELU
                    : op[0] == 'L' ? RT_ACT_LEAKY
                    : op[4] == '6' ? RT_ACT_RELU6
                                   : RT_ACT_RELU;
            if (a.act == RT_ACT_LEAKY)
                a.alpha =
                    (float)json_number_value(json_object_get(attr_get(g->node, "alpha"), "f"));
            g->tid = rt_graph_node_add(c->g, RT_OP_ACT, &x, 1, &a, name, c->e);
        } else if (!strcmp(op, "MaxPool") || !strcmp(op, "AvgPool")) {
            g->tid = tg_pool(t, i, x, op[0] == 'M');
        } else if (!strcmp(op, "Pad") || !strcmp(op, "PadV2")) {
            int64_t p[2 * RT_MAX_DIMS];
            int np, rc;
            if (nin < 2)
                return BAD("node \"%.60s\": Pad without paddings", name);
            if ((rc = tg_ints(t, in[1], p, 2 * RT_MAX_DIMS, &np, name)) < 0)
                return rc;
            const struct rt_tensor *X = &c->g->tensors[x];
            if (np != 2 * X->ndim)
                return BAD("node \"%.60s\": %d paddings for rank %d", name, np, X->ndim);
            a.ndim = X->ndim;
            for (int k = 0; k < X->ndim; k++) {
                if (p[2 * k] < 0 || p[2 * k + 1] < 0 || p[2 * k] > 4096 || p[2 * k + 1] > 4096)
                    return BAD("node \"%.60s\": invalid padding", name);
                a.pad_before[k] = (int)p[2 * k];
                a.pad_after[k] = (int)p[2 * k + 1];
            }
            if (nin > 2 && t->n[in[2]].wi >= 0 && c->w[t->n[in[2]].wi].n > 0)
                a.pad_value = tj_wf(c, &c->w[t->n[in[2]].wi], 0);
            g->tid = rt_graph_node_add(c->g, RT_OP_PAD, &x, 1, &a, name, c->e);
        } else if (!strcmp(op, "Reshape")) {
            int64_t s[RT_MAX_DIMS];
            int ns, rc;
            if (nin < 2)
                return BAD("node \"%.60s\": Reshape without shape", name);
            if ((rc = tg_ints(t, in[1], s, RT_MAX_DIMS, &ns, name)) < 0)
                return rc;
            a.ndim = ns;
            memcpy(a.shape, s, sizeof(s));
            g->tid = rt_graph_node_add(c->g, RT_OP_RESHAPE, &x, 1, &a, name, c->e);
        } else if (!strcmp(op, "Squeeze")) {
            int64_t ax[RT_MAX_DIMS];
            int na = attr_list_i(g->node, "squeeze_dims", ax, RT_MAX_DIMS);
            const struct rt_tensor *X = &c->g->tensors[x];
            int mark[RT_MAX_DIMS] = {0};
            for (int k = 0; k < na && k < RT_MAX_DIMS; k++) {
                int64_t d = ax[k] < 0 ? ax[k] + X->ndim : ax[k];
                if (d < 0 || d >= X->ndim || X->shape[d] != 1)
                    return BAD("node \"%.60s\": invalid squeeze axis", name);
                mark[d] = 1;
            }
            a.ndim = 0;
            for (int k = 0; k < X->ndim; k++)
                if (!(na > 0 ? mark[k] : X->shape[k] == 1))
                    a.shape[a.ndim++] = X->shape[k];
            g->tid = rt_graph_node_add(c->g, RT_OP_RESHAPE, &x, 1, &a, name, c->e);
        } else if (!strcmp(op, "ConcatV2")) {
            int64_t ax;
            int one, rc;
            if (nin < 2)
                return BAD("node \"%.60s\": ConcatV2 without axis", name);
            if ((rc = tg_ints(t, in[nin - 1], &ax, 1, &one, name)) < 0)
                return rc;
            int ts[RT_MAX_INPUTS];
            for (int k = 0; k < nin - 1; k++)
                if ((ts[k] = tg_val(t, in[k])) < 0)
                    return ts[k];
            a.axis = (int)ax;
            g->tid = rt_graph_node_add(c->g, RT_OP_CONCAT, ts, nin - 1, &a, name, c->e);
        } else if (!strcmp(op, "ResizeBilinear") || !strcmp(op, "ResizeNearestNeighbor")) {
            int64_t sz[2];
            int ns, rc;
            if (nin < 2)
                return BAD("node \"%.60s\": %s without a size", name, op);
            if ((rc = tg_ints(t, in[1], sz, 2, &ns, name)) < 0)
                return rc;
            if (ns != 2 || sz[0] < 1 || sz[1] < 1 || sz[0] > 16384 || sz[1] > 16384)
                return BAD("node \"%.60s\": invalid resize size", name);
            a.resize.out_h = (int)sz[0];
            a.resize.out_w = (int)sz[1];
            a.resize.mode = op[6] == 'B' ? 1 : 0;
            a.resize.align_corners =
                json_is_true(json_object_get(attr_get(g->node, "align_corners"), "b"));
            a.resize.half_pixel =
                json_is_true(json_object_get(attr_get(g->node, "half_pixel_centers"), "b"));
            g->tid = rt_graph_node_add(c->g, RT_OP_RESIZE, &x, 1, &a, name, c->e);
        } else if (!strcmp(op, "Softmax")) {
            a.axis = -1;
            g->tid = rt_graph_node_add(c->g, RT_OP_SOFTMAX, &x, 1, &a, name, c->e);
        } else if (!strcmp(op, "MatMul") || !strcmp(op, "_FusedMatMul")) {
            const json_t *ta = attr_get(g->node, "transpose_a"),
                         *tb = attr_get(g->node, "transpose_b");
            if (json_is_true(json_object_get(ta, "b")) || json_is_true(json_object_get(tb, "b")))
                return UNSUP("node \"%.60s\": transposed MatMul", name);
            if (nin < 2)
                return BAD("node \"%.60s\": MatMul needs 2 inputs", name);
            int w = tg_val(t, in[1]);
            if (w < 0)
                return w;
            int ins[3] = {x, w, -1}, n_ins = 2;
            if (op[0] == '_') {
                const json_t *fl =
                    json_object_get(json_object_get(attr_get(g->node, "fused_ops"), "list"), "s");
                size_t k;
                const json_t *fs;
                json_array_foreach(fl, k, fs)
                {
                    char fop[32];
                    json_t *tmp = json_pack("{s:{s:{s:O}}}", "attr", "x", "s", fs);
                    attr_s(tmp, "x", fop, sizeof(fop));
                    json_decref(tmp);
                    if (!strcmp(fop, "BiasAdd")) {
                        if (nin < 3)
                            return BAD("node \"%.60s\": BiasAdd without a bias", name);
                        if ((ins[2] = tg_val(t, in[2])) < 0)
                            return ins[2];
                        n_ins = 3;
                    } else if (!strcmp(fop, "Relu")) {
                        a.act = RT_ACT_RELU;
                    } else if (!strcmp(fop, "Relu6")) {
                        a.act = RT_ACT_RELU6;
                    } else {
                        return UNSUP("node \"%.60s\": fused op %s", name, fop);
                    }
                }
            }
            g->tid = rt_graph_node_add(c->g, t->n[in[1]].wi >= 0 ? RT_OP_DENSE : RT_OP_MATMUL, ins,
                                       n_ins, &a, name, c->e);
        } else if (!strcmp(op, "Mean")) {
            int64_t ax[RT_MAX_DIMS];
            int na, rc;
            if (nin < 2)
                return BAD("node \"%.60s\": Mean without axes", name);
            if ((rc = tg_ints(t, in[1], ax, RT_MAX_DIMS, &na, name)) < 0)
                return rc;
            int keep = json_is_true(json_object_get(attr_get(g->node, "keep_dims"), "b"));
            const struct rt_tensor *X = &c->g->tensors[x];
            if (na == 2 && X->ndim == 4 && ax[0] == 1 && ax[1] == 2) {
                int tt = rt_graph_node_add(c->g, RT_OP_GLOBAL_AVG, &x, 1, NULL, name, c->e);
                if (tt >= 0 && !keep) {
                    a.ndim = 2;
                    a.shape[0] = 0;
                    a.shape[1] = -1;
                    tt = rt_graph_node_add(c->g, RT_OP_RESHAPE, &tt, 1, &a, name, c->e);
                }
                g->tid = tt;
            } else if (na == 1) {
                a.axis = (int)ax[0];
                a.keepdims = keep;
                g->tid = rt_graph_node_add(c->g, RT_OP_REDUCE_MEAN, &x, 1, &a, name, c->e);
            } else {
                return UNSUP("node \"%.60s\": Mean over %d axes", name, na);
            }
        } else {
            return UNSUP("unsupported tfjs graph op %.40s (node \"%.60s\")", op, name);
        }
    }
    return g->tid < 0 ? g->tid : 0;
}

static int tg_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int tj_graph(struct tj_ctx *c, const json_t *root, const json_t *topo)
{
    const json_t *nodes = json_object_get(topo, "node");
    struct tg t;
    size_t i;
    const json_t *nd;
    int rc = 0;
    int *stack = NULL, *pos = NULL;

    if (!json_is_array(nodes) || json_array_size(nodes) == 0)
        return BAD("tfjs graph model without nodes");
    if (json_array_size(nodes) > RT_MAX_NODES)
        return err_set(c->e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                       "too many nodes (limit %d)", RT_MAX_NODES);
    memset(&t, 0, sizeof(t));
    t.c = c;
    t.nn = (int)json_array_size(nodes);
    t.n = calloc((size_t)t.nn, sizeof(*t.n));
    stack = malloc((size_t)t.nn * sizeof(int));
    pos = malloc((size_t)t.nn * sizeof(int));
    if (t.n == NULL || stack == NULL || pos == NULL || tj_map_init(&t.m, (size_t)t.nn) < 0) {
        rc = err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
        goto out;
    }
    json_array_foreach(nodes, i, nd)
    {
        t.n[i].node = nd;
        t.n[i].name = json_string_value(json_object_get(nd, "name"));
        t.n[i].op = json_string_value(json_object_get(nd, "op"));
        t.n[i].tid = t.n[i].wi = -1;
        if (t.n[i].name == NULL || t.n[i].op == NULL) {
            rc = BAD("node %zu lacks name or op", i);
            goto out;
        }
        if (tj_map_put(&t.m, t.n[i].name, (int)i)) {
            rc = BAD("node \"%.60s\" defined twice", t.n[i].name);
            goto out;
        }
    }
    /* outputs: the signature's, else nodes nobody consumes */
    const json_t *sig = json_object_get(root, "signature");
    if (sig == NULL)
        sig = json_object_get(json_object_get(root, "userDefinedMetadata"), "signature");
    const json_t *outs = json_object_get(sig, "outputs");
    const char **onames = NULL;
    int no = 0;
    if (c->o.n_outputs > 0) {
        onames = calloc((size_t)c->o.n_outputs, sizeof(*onames));
        if (onames == NULL) {
            rc = err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
            goto out;
        }
        for (int k = 0; k < c->o.n_outputs; k++)
            if ((onames[no++] = c->o.outputs[k]) == NULL) {
                rc = BAD("output name %d is missing", k);
                goto out_names;
            }
    } else if (json_is_object(outs) && json_object_size(outs) > 0) {
        const char *key;
        const json_t *val;
        onames = calloc(json_object_size(outs), sizeof(*onames));
        if (onames == NULL) {
            rc = err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
            goto out;
        }
        json_object_foreach((json_t *)outs, key, val)
        {
            const char *nm = json_string_value(json_object_get(val, "name"));
            onames[no++] = nm ? nm : key;
        }
        qsort(onames, (size_t)no, sizeof(*onames), tg_cmp);
    } else {
        char *used = calloc((size_t)t.nn, 1);
        onames = calloc((size_t)t.nn, sizeof(*onames));
        if (used == NULL || onames == NULL) {
            free(used);
            rc = err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
            goto out_names;
        }
        for (int k = 0; k < t.nn; k++) {
            int in[RT_MAX_INPUTS + 1];
            int n = tg_inputs(&t, k, in, RT_MAX_INPUTS + 1);
            for (int j = 0; j < n; j++)
                used[in[j]] = 1;
        }
        for (int k = 0; k < t.nn; k++)
            if (!used[k] && strcmp(t.n[k].op, "Const"))
                onames[no++] = t.n[k].name;
        free(used);
    }
    for (int k = 0; k < no && rc == 0; k++) {
        int root_n = tg_ref(&t, onames[k]);
        if (root_n < 0) {
            rc = BAD("unknown output \"%.60s\"", onames[k]);
            break;
        }
        /* iterative DFS so that deep graphs cannot exhaust the C stack */
        int sp = 0;
        if (t.n[root_n].state == 0) {
            stack[sp] = root_n;
            pos[sp++] = 0;
            t.n[root_n].state = 1;
        }
        while (sp > 0 && rc == 0) {
            int j = stack[sp - 1];
            int in[RT_MAX_INPUTS + 1];
            int n = tg_inputs(&t, j, in, RT_MAX_INPUTS + 1);
            if (n < 0) {
                rc = n;
                break;
            }
            if (pos[sp - 1] < n) {
                int q = in[pos[sp - 1]++];
                if (t.n[q].state == 1) {
                    rc = BAD("graph has a cycle through node \"%.60s\"", t.n[q].name);
                    break;
                }
                if (t.n[q].state == 0) {
                    t.n[q].state = 1;
                    stack[sp] = q;
                    pos[sp++] = 0;
                }
                continue;
            }
            rc = tg_node(&t, j);
            t.n[j].state = 2;
            sp--;
        }
        if (rc == 0) {
            int v = tg_val(&t, root_n);
            rc = v < 0 ? v : rt_graph_output_add(c->g, v, c->e);
        }
    }
    if (rc == 0 && c->g->n_inputs == 0)
        rc = BAD("model has no input");
    if (rc == 0 && c->g->n_outputs == 0)
        rc = BAD("model has no output");
out_names:
    free(onames);
out:
    free(stack);
    free(pos);
    free(t.n);
    tj_map_free(&t.m);
    return rc;
}

/* ---- entry points --------------------------------------------------------- */

/* errors from rt_ir.c (rt_status codes) become importer codes */
static int import_status(int rc, struct err *e)
{
    int m = rc == -1   ? RT_ERR_INVALID
            : rc == -2 ? RT_ERR_OOM
            : rc == -4 ? RT_UNSUPPORTED
            : rc == -5 ? RT_ERR_TOO_LARGE
            : rc == -6 ? RT_ERR_IO
                       : rc;
    if (e && rc < 0)
        e->status = m;
    return m;
}

static int tj_import(const json_t *root, const uint8_t *bin, size_t bin_len,
                     const struct rt_import_opts *o, struct rt_graph **out, struct err *e)
{
    struct tj_ctx cc, *c = &cc;
    int rc;

    memset(c, 0, sizeof(*c));
    c->e = e;
    if (o)
        c->o = *o;
    c->bin = bin;
    c->bin_len = bin_len;
    if (!json_is_object(root))
        return BAD("model.json is not an object");
    const json_t *topo = json_object_get(root, "modelTopology");
    if (!json_is_object(topo))
        return BAD("model.json has no modelTopology");
    rc = tj_weights(c, root);
    if (rc == 0) {
        c->g = rt_graph_init();
        if (json_object_get(topo, "node"))
            rc = tj_graph(c, root, topo);
        else
            rc = tj_layers(c, topo);
    }
    free(c->w);
    tj_map_free(&c->wmap);
    if (rc < 0) {
        rt_graph_free(c->g);
        return import_status(rc, e);
    }
    *out = c->g;
    return 0;
}

/* see rt_import.h; buffers borrowed for the call; thread-safe */
int rt_import_tfjs_mem(const char *json, size_t json_len, const uint8_t *bin, size_t bin_len,
                       const struct rt_import_opts *o, struct rt_graph **out, struct err *e)
{
    json_error_t je;
    *out = NULL;
    if ((long long)json_len > RT_IMPORT_MAX_JSON)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                       "model.json has %zu bytes (limit %lld)", json_len,
                       (long long)RT_IMPORT_MAX_JSON);
    json_t *root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "invalid model.json: %s at line %d", je.text, je.line);
    int rc = tj_import(root, bin, bin_len, o, out, e);
    json_decref(root);
    return rc;
}

/* a shard path must stay inside the model's directory */
static int path_safe(const char *p)
{
    return p[0] && p[0] != '/' && strstr(p, "..") == NULL && strlen(p) < 256;
}

/* see rt_import.h */
int rt_import_tfjs(const char *path, const struct rt_import_opts *o, struct rt_graph **out,
                   struct err *e)
{
    uint8_t *js = NULL, *bin = NULL;
    size_t js_len, bin_len = 0, cap = 0;
    json_error_t je;
    json_t *root = NULL;
    int rc;
    char dir[1024], shard[1400];

    *out = NULL;
    rc = rt_import_file_read(path, RT_IMPORT_MAX_JSON, &js, &js_len, e);
    if (rc < 0)
        return rc;
    root = json_loadb((const char *)js, js_len, JSON_REJECT_DUPLICATES, &je);
    free(js);
    if (root == NULL)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "invalid model.json \"%s\": %s at line %d", path, je.text, je.line);
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    const json_t *man = json_object_get(root, "weightsManifest");
    size_t gi, pi;
    const json_t *grp, *pj;
    int nshards = 0;
    json_array_foreach(man, gi, grp)
    {
        json_array_foreach(json_object_get(grp, "paths"), pi, pj)
        {
            const char *p = json_string_value(pj);
            uint8_t *sb;
            size_t sl;
            if (p == NULL || !path_safe(p)) {
                rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                             "invalid weight shard path in \"%s\"", path);
                goto out;
            }
            if (++nshards > RT_IMPORT_MAX_SHARDS) {
                rc = err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                             "too many weight shards (limit %d)", RT_IMPORT_MAX_SHARDS);
                goto out;
            }
            snprintf(shard, sizeof(shard), "%s%s", dir, p);
            rc = rt_import_file_read(shard, RT_IMPORT_MAX_FILE - (long long)bin_len, &sb, &sl, e);
            if (rc < 0)
                goto out;
            if (bin_len + sl > cap) {
                size_t nc = (bin_len + sl) * 2;
                uint8_t *nb = realloc(bin, nc ? nc : 1);
                if (nb == NULL) {
                    free(sb);
                    rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                                 "could not allocate");
                    goto out;
                }
                bin = nb;
                cap = nc;
            }
            if (sl)
                memcpy(bin + bin_len, sb, sl);
            bin_len += sl;
            free(sb);
        }
    }
    rc = tj_import(root, bin, bin_len, o, out, e);
out:
    json_decref(root);
    free(bin);
    return rc;
}
