/*
 * rt_import_onnx.c: ONNX (opset 9..13) to graph IR.
 *
 * Design: the file is read with rt_pb (bounds-checked protobuf wire reader)
 * without any generated code.  Values are kept in a name table; each value
 * is either an IR tensor or a host constant (initializers, Constant nodes
 * and anything folded from them: Shape, Gather, Unsqueeze, Concat, Cast,
 * ConstantOfShape ...).  Host constants become IR constants only where a
 * compute op uses them, already in the layout that op needs.
 *
 * Layout: an IR tensor may be a "NCHW view": the ONNX value is NCHW and
 * the IR tensor holds it as NHWC (rt_ir.h).  Convs, pools and NCHW
 * elementwise ops produce NCHW views; Transposes that turn an NHWC input
 * into NCHW (and back) are folded into the view; Reshape/Flatten and
 * graph outputs get an explicit transpose back to NCHW first, so the
 * element order ONNX defines is kept.  See import/README.md.
 */
#include "import/rt_import.h"
#include "import/rt_pb.h"
#include "common/cm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ONNX TensorProto data types we read */
enum {
    OX_FLOAT = 1,
    OX_UINT8 = 2,
    OX_INT8 = 3,
    OX_INT32 = 6,
    OX_INT64 = 7,
    OX_BOOL = 9,
    OX_FLOAT16 = 10,
    OX_DOUBLE = 11,
};

#define OX_MAX_ATTRS 32
#define OX_MAX_IO 16
#define OX_MAX_INTS 16

#define BAD(...) err_set(c->e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", __VA_ARGS__)
#define UNSUP(...)                                                                                 \
    err_set(c->e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_model", __VA_ARGS__)

struct ox_val {
    const uint8_t *name;
    size_t nlen;
    int next;    /* hash chain */
    int tid;     /* IR tensor or -1 */
    int nchw;    /* tid holds this NCHW value as NHWC */
    int tid_alt; /* cached other layout of tid (-1 none) */
    int host;    /* a host constant: ndim/dims/f or iv */
    int is_int;
    int ndim;
    int64_t dims[RT_MAX_DIMS];
    int64_t n;
    float *f;         /* owned */
    int64_t *iv;      /* owned */
    int tid_const[2]; /* IR constant made from it: [0] as is, [1] NHWC */
    /*
     * A rank-5 activation, which the IR (rank <= 4) cannot hold: the
     * source tensor tid5 seen with dims d5 (row-major), its axes permuted
     * by p5 (logical axis i is source axis p5[i]), optionally with logical
     * axis fix_axis fixed at fix_idx (a one-wide Slice).  Only Reshape ->
     * Transpose -> Slice -> Squeeze chains (attention's q/k/v split) use
     * it; the Squeeze back to rank 4 makes IR nodes (ox_v5_squeeze).
     */
    int v5, tid5, fix_axis;
    int64_t d5[5], fix_idx;
    int p5[5];
};

struct ox_attr {
    char name[32];
    int type;
    float f;
    int64_t i;
    const uint8_t *s, *t;
    size_t slen, tlen;
    int n_ints, n_floats;
    int64_t ints[OX_MAX_INTS];
    float floats[OX_MAX_INTS];
};

struct ox_node {
    char op[32], name[RT_NAME_LEN];
    int n_in, n_out;
    const uint8_t *in[OX_MAX_IO], *out[OX_MAX_IO];
    size_t in_len[OX_MAX_IO], out_len[OX_MAX_IO];
    int n_attr;
    struct ox_attr attr[OX_MAX_ATTRS];
};

struct ox_ctx {
    struct rt_graph *g;
    struct err *e;
    struct rt_import_opts o;
    struct ox_val *v;
    int nv, capv;
    int buckets[4096];
    int opset;
    int v5_ok; /* the current op accepts rank-5 views (Transpose, Slice, Squeeze) */
    const struct ox_node *nd;
};

/* ---- value table -------------------------------------------------------- */

static uint32_t ox_hash(const uint8_t *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

static int ox_find(struct ox_ctx *c, const uint8_t *name, size_t n)
{
    for (int i = c->buckets[ox_hash(name, n) & 4095]; i >= 0; i = c->v[i].next)
        if (c->v[i].nlen == n && memcmp(c->v[i].name, name, n) == 0)
            return i;
    return -1;
}

/* defines a new value; returns its index or <0 (duplicate, limits) */
static int ox_define(struct ox_ctx *c, const uint8_t *name, size_t n)
{
    if (n == 0)
        return BAD("value with an empty name");
    if (ox_find(c, name, n) >= 0)
        return BAD("value \"%.*s\" defined twice", (int)(n > 60 ? 60 : n), (const char *)name);
    if (c->nv >= RT_MAX_TENSORS)
        return err_set(c->e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                       "too many values (limit %d)", RT_MAX_TENSORS);
    if (c->nv == c->capv) {
        int cap = c->capv ? c->capv * 2 : 256;
        struct ox_val *p = realloc(c->v, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not grow the value table to %d", cap);
        c->v = p;
        c->capv = cap;
    }
    struct ox_val *v = &c->v[c->nv];
    memset(v, 0, sizeof(*v));
    v->name = name;
    v->nlen = n;
    v->tid = v->tid_alt = -1;
    v->tid_const[0] = v->tid_const[1] = -1;
    uint32_t b = ox_hash(name, n) & 4095;
    v->next = c->buckets[b];
    c->buckets[b] = c->nv;
    return c->nv++;
}

static void ox_name(const struct ox_val *v, char *out, size_t cap)
{
    size_t n = v->nlen < cap - 1 ? v->nlen : cap - 1;
    memcpy(out, v->name, n);
    out[n] = '\0';
}

/* logical (ONNX) shape of a value */
static int ox_shape(const struct ox_ctx *c, const struct ox_val *v, int64_t *d)
{
    if (v->host) {
        memcpy(d, v->dims, sizeof(v->dims));
        return v->ndim;
    }
    const struct rt_tensor *t = &c->g->tensors[v->tid];
    if (v->nchw) {
        d[0] = t->shape[0];
        d[1] = t->shape[3];
        d[2] = t->shape[1];
        d[3] = t->shape[2];
        return 4;
    }
    memcpy(d, t->shape, sizeof(t->shape));
    return t->ndim;
}

static int64_t dims_prod(int ndim, const int64_t *d)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= d[i];
    return n;
}

/* checks dims and returns the element count, or <0 with e set */
static int64_t ox_dims_check(struct ox_ctx *c, int ndim, const int64_t *d, const char *what)
{
    int64_t n = 1;
    if (ndim < 0 || ndim > RT_MAX_DIMS)
        return UNSUP("%s has rank %d (max %d)", what, ndim, RT_MAX_DIMS);
    for (int i = 0; i < ndim; i++) {
        if (d[i] < 0)
            return BAD("%s has a negative dim %d: %lld", what, i, (long long)d[i]);
        if (d[i] > RT_MAX_TENSOR_ELEMS || (d[i] && n > RT_MAX_TENSOR_ELEMS / d[i]))
            return err_set(c->e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                           "%s too large (limit %lld elements)", what,
                           (long long)RT_MAX_TENSOR_ELEMS);
        n *= d[i];
    }
    return n;
}

/* allocates host data for value v (n elements of float or int64) */
static int ox_host_alloc(struct ox_ctx *c, struct ox_val *v, int is_int, int ndim, const int64_t *d)
{
    int64_t n = ox_dims_check(c, ndim, d, "constant");
    if (n < 0)
        return (int)n;
    if (c->o.max_const_elems > 0 && n > c->o.max_const_elems)
        return err_set(c->e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                       "constant of %lld elements (limit %lld)", (long long)n,
                       (long long)c->o.max_const_elems);
    v->host = 1;
    v->is_int = is_int;
    v->ndim = ndim;
    memcpy(v->dims, d, (size_t)ndim * sizeof(int64_t));
    v->n = n;
    size_t bytes = (size_t)(n ? n : 1) * (is_int ? sizeof(int64_t) : sizeof(float));
    void *p = calloc(1, bytes);
    if (p == NULL)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a constant of %lld elements", (long long)n);
    if (is_int)
        v->iv = p;
    else
        v->f = p;
    return 0;
}

/* a host value as float, converting ints; index i < v->n */
static float hv_f(const struct ox_val *v, int64_t i)
{
    return v->is_int ? (float)v->iv[i] : v->f[i];
}

static int64_t hv_i(const struct ox_val *v, int64_t i)
{
    return v->is_int ? v->iv[i] : rt_import_f2i(v->f[i]);
}

/* ---- protobuf: tensors and attributes ---------------------------------- */

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 31, m = h & 1023, u;
    float f;
    if (ex == 0) {
        f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    if (ex == 31)
        u = s | 0x7f800000u | (m << 13);
    else
        u = s | ((ex + 112) << 23) | (m << 13);
    memcpy(&f, &u, 4);
    return f;
}

/* reads repeated int64 (packed or not) from a field into dims */
static int ox_ints_add(struct ox_ctx *c, const struct rt_pb_field *f, int64_t *out, int *n, int cap)
{
    if (f->wire == RT_PB_WIRE_VARINT) {
        if (*n >= cap)
            return UNSUP("too many repeated ints (max %d)", cap);
        out[(*n)++] = (int64_t)f->v;
        return 0;
    }
    if (f->wire != RT_PB_WIRE_LEN)
        return BAD("invalid wire type %d for repeated ints", (int)f->wire);
    int64_t tmp[OX_MAX_INTS];
    long k = rt_pb_packed_varints(f->data, f->len, tmp, OX_MAX_INTS, c->e);
    if (k < 0)
        return (int)k;
    if (*n + k > cap)
        return UNSUP("too many repeated ints (%ld, max %d)", k + *n, cap);
    memcpy(out + *n, tmp, (size_t)k * sizeof(int64_t));
    *n += (int)k;
    return 0;
}

/*
 * Parses a TensorProto into host value v (already defined unless
 * name_out is set, in which case its name is returned for the caller to
 * define).  Supports raw_data and the typed repeated fields.
 */
static int ox_tensor_parse(struct ox_ctx *c, const uint8_t *buf, size_t len, struct ox_val *v,
                           struct rt_pb_field *namef)
{
    struct rt_pb r;
    struct rt_pb_field f;
    int64_t dims[RT_MAX_DIMS];
    int ndim = 0, dtype = 0, rc;
    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    int have_raw = 0;
    /* typed fields: remember where they are (may repeat unpacked) */
    struct {
        const uint8_t *p;
        size_t n;
    } typed[1] = {{buf, len}};
    int typed_field = 0;

    if (namef)
        memset(namef, 0, sizeof(*namef));
    rt_pb_init(&r, buf, len);
    while ((rc = rt_pb_next(&r, &f, c->e)) > 0) {
        switch (f.num) {
        case 1:
            if (f.wire == RT_PB_WIRE_VARINT) {
                if (ndim >= RT_MAX_DIMS)
                    return UNSUP("tensor of rank > %d", RT_MAX_DIMS);
                dims[ndim++] = (int64_t)f.v;
            } else if ((rc = ox_ints_add(c, &f, dims, &ndim, RT_MAX_DIMS)) < 0) {
                return rc;
            }
            break;
        case 2:
            dtype = (int)f.v;
            break;
        case 4:
        case 5:
        case 7:
        case 10:
            typed_field = (int)f.num;
            break;
        case 8:
            if (namef && f.wire == RT_PB_WIRE_LEN)
                *namef = f;
            break;
        case 9:
            if (f.wire != RT_PB_WIRE_LEN)
                return BAD("tensor raw_data has wire type %d", (int)f.wire);
            raw = f.data;
            raw_len = f.len;
            have_raw = 1;
            break;
        case 14:
            if (f.v == 1)
                return UNSUP("tensors with external data are not supported");
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    int is_int;
    size_t esz;
    switch (dtype) {
    case OX_FLOAT:
        is_int = 0;
        esz = 4;
        break;
    case OX_FLOAT16:
        is_int = 0;
        esz = 2;
        break;
    case OX_DOUBLE:
        is_int = 0;
        esz = 8;
        break;
    case OX_UINT8:
    case OX_INT8:
    case OX_BOOL:
        is_int = 0;
        esz = 1;
        break;
    case OX_INT32:
        is_int = 1;
        esz = 4;
        break;
    case OX_INT64:
        is_int = 1;
        esz = 8;
        break;
    default:
        return UNSUP("tensor data type %d", dtype);
    }
    if (dtype == OX_UINT8 || dtype == OX_INT8 || dtype == OX_BOOL)
        is_int = dtype == OX_BOOL;
    if ((rc = ox_host_alloc(c, v, is_int, ndim, dims)) < 0)
        return rc;
    int64_t n = v->n;
    if (have_raw) {
        if ((uint64_t)raw_len != (uint64_t)n * esz)
            return BAD("tensor raw_data has %zu bytes, expected %lld", raw_len,
                       (long long)(n * (int64_t)esz));
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *p = raw + i * (int64_t)esz;
            switch (dtype) {
            case OX_FLOAT: {
                float x;
                memcpy(&x, p, 4);
                v->f[i] = x;
                break;
            }
            case OX_FLOAT16:
                v->f[i] = half_to_float((uint16_t)(p[0] | p[1] << 8));
                break;
            case OX_DOUBLE: {
                double x;
                memcpy(&x, p, 8);
                v->f[i] = (float)x;
                break;
            }
            case OX_UINT8:
                v->f[i] = p[0];
                break;
            case OX_INT8:
                v->f[i] = (int8_t)p[0];
                break;
            case OX_BOOL:
                v->iv[i] = p[0] != 0;
                break;
            case OX_INT32: {
                int32_t x;
                memcpy(&x, p, 4);
                v->iv[i] = x;
                break;
            }
            case OX_INT64: {
                int64_t x;
                memcpy(&x, p, 8);
                v->iv[i] = x;
                break;
            }
            }
        }
        return 0;
    }
    /* typed repeated fields: the field must be the one for the dtype */
    if (typed_field &&
        !((typed_field == 4 && dtype == OX_FLOAT) || (typed_field == 10 && dtype == OX_DOUBLE) ||
          (typed_field == 7 && dtype == OX_INT64) ||
          (typed_field == 5 && (dtype == OX_INT32 || dtype == OX_INT8 || dtype == OX_UINT8 ||
                                dtype == OX_BOOL || dtype == OX_FLOAT16))))
        return BAD("tensor data field %d does not match data type %d", typed_field, dtype);
    /* walk again, decoding in order */
    int64_t k = 0;
    rt_pb_init(&r, typed[0].p, typed[0].n);
    while ((rc = rt_pb_next(&r, &f, c->e)) > 0) {
        if ((int)f.num != typed_field || typed_field == 0)
            continue;
        if (typed_field == 4 && f.wire == RT_PB_WIRE_LEN) { /* packed floats */
            if (f.len % 4)
                return BAD("tensor float_data has %zu bytes", f.len);
            for (size_t j = 0; j < f.len; j += 4) {
                if (k >= n)
                    return BAD("tensor has more values than its %lld elements", (long long)n);
                float x;
                memcpy(&x, f.data + j, 4);
                v->f[k++] = x;
            }
        } else if (typed_field == 4 && f.wire == RT_PB_WIRE_I32) {
            if (k >= n)
                return BAD("tensor has more values than its %lld elements", (long long)n);
            v->f[k++] = rt_pb_float(&f);
        } else if (typed_field == 10 && f.wire == RT_PB_WIRE_LEN) { /* packed doubles */
            if (f.len % 8)
                return BAD("tensor double_data has %zu bytes", f.len);
            for (size_t j = 0; j < f.len; j += 8) {
                if (k >= n)
                    return BAD("tensor has more values than its %lld elements", (long long)n);
                double x;
                memcpy(&x, f.data + j, 8);
                v->f[k++] = (float)x;
            }
        } else if (f.wire == RT_PB_WIRE_LEN || f.wire == RT_PB_WIRE_VARINT) {
            /* int32_data (also carries fp16/uint8 bits), int64_data */
            int64_t one;
            const uint8_t *p = f.data;
            size_t left = f.len;
            int packed = f.wire == RT_PB_WIRE_LEN;
            for (;;) {
                if (packed) {
                    if (left == 0)
                        break;
                    /* decode one varint at a time with bounds */
                    size_t used = 0;
                    uint64_t val = 0;
                    int shift = 0, ok = 0;
                    while (used < left && shift < 64) {
                        uint8_t b = p[used++];
                        val |= (uint64_t)(b & 0x7f) << shift;
                        shift += 7;
                        if (!(b & 0x80)) {
                            ok = 1;
                            break;
                        }
                    }
                    if (!ok)
                        return BAD("tensor has a truncated packed varint");
                    p += used;
                    left -= used;
                    one = (int64_t)val;
                } else {
                    one = (int64_t)f.v;
                }
                if (k >= n)
                    return BAD("tensor has more values than its %lld elements", (long long)n);
                if (dtype == OX_FLOAT16)
                    v->f[k] = half_to_float((uint16_t)one);
                else if (is_int)
                    v->iv[k] = dtype == OX_INT32 ? (int32_t)one : one;
                else
                    v->f[k] = dtype == OX_INT8 ? (float)(int8_t)one : (float)one;
                k++;
                if (!packed)
                    break;
            }
        } else {
            return BAD("tensor data field %u has wire type %d", f.num, (int)f.wire);
        }
    }
    if (rc < 0)
        return rc;
    if (k != n)
        return BAD("tensor has %lld values, expected %lld", (long long)k, (long long)n);
    return 0;
}

static int ox_attr_parse(struct ox_ctx *c, const uint8_t *buf, size_t len, struct ox_attr *a)
{
    struct rt_pb r;
    struct rt_pb_field f;
    int rc;

    memset(a, 0, sizeof(*a));
    rt_pb_init(&r, buf, len);
    while ((rc = rt_pb_next(&r, &f, c->e)) > 0) {
        switch (f.num) {
        case 1:
            rt_pb_str(&f, a->name, sizeof(a->name));
            break;
        case 2:
            a->f = rt_pb_float(&f);
            break;
        case 3:
            a->i = (int64_t)f.v;
            break;
        case 4:
            a->s = f.data;
            a->slen = f.len;
            break;
        case 5:
            a->t = f.data;
            a->tlen = f.len;
            break;
        case 7:
            if (f.wire == RT_PB_WIRE_I32) {
                if (a->n_floats >= OX_MAX_INTS)
                    return UNSUP("attribute %s has too many floats", a->name);
                a->floats[a->n_floats++] = rt_pb_float(&f);
            } else if (f.wire == RT_PB_WIRE_LEN) {
                if (f.len % 4 || f.len / 4 + (size_t)a->n_floats > OX_MAX_INTS)
                    return UNSUP("attribute %s has too many floats", a->name);
                for (size_t j = 0; j < f.len; j += 4)
                    memcpy(&a->floats[a->n_floats++], f.data + j, 4);
            }
            break;
        case 8:
            if ((rc = ox_ints_add(c, &f, a->ints, &a->n_ints, OX_MAX_INTS)) < 0)
                return rc;
            break;
        case 20:
            a->type = (int)f.v;
            break;
        default:
            break;
        }
    }
    return rc;
}

static int ox_node_parse(struct ox_ctx *c, const uint8_t *buf, size_t len, struct ox_node *n)
{
    struct rt_pb r;
    struct rt_pb_field f;
    int rc;

    memset(n, 0, sizeof(*n));
    rt_pb_init(&r, buf, len);
    while ((rc = rt_pb_next(&r, &f, c->e)) > 0) {
        if (f.wire != RT_PB_WIRE_LEN)
            continue;
        switch (f.num) {
        case 1:
            if (n->n_in >= OX_MAX_IO)
                return UNSUP("node with more than %d inputs", OX_MAX_IO);
            n->in[n->n_in] = f.data;
            n->in_len[n->n_in++] = f.len;
            break;
        case 2:
            if (n->n_out >= OX_MAX_IO)
                return UNSUP("node with more than %d outputs", OX_MAX_IO);
            n->out[n->n_out] = f.data;
            n->out_len[n->n_out++] = f.len;
            break;
        case 3:
            rt_pb_str(&f, n->name, sizeof(n->name));
            break;
        case 4:
            rt_pb_str(&f, n->op, sizeof(n->op));
            break;
        case 5:
            if (n->n_attr >= OX_MAX_ATTRS)
                return UNSUP("node with more than %d attributes", OX_MAX_ATTRS);
            if ((rc = ox_attr_parse(c, f.data, f.len, &n->attr[n->n_attr++])) < 0)
                return rc;
            break;
        case 7:
            if (f.len && !(f.len == 7 && memcmp(f.data, "ai.onnx", 7) == 0))
                return UNSUP("operator domain \"%.*s\"", (int)(f.len > 40 ? 40 : f.len),
                             (const char *)f.data);
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    if (n->op[0] == '\0')
        return BAD("node without op_type");
    if (n->name[0] == '\0' && n->n_out > 0) {
        size_t k = n->out_len[0] < RT_NAME_LEN - 1 ? n->out_len[0] : RT_NAME_LEN - 1;
        memcpy(n->name, n->out[0], k);
        n->name[k] = '\0';
    }
    return 0;
}

static const struct ox_attr *ox_attr(const struct ox_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0)
            return &n->attr[i];
    return NULL;
}

static int64_t attr_i(const struct ox_node *n, const char *name, int64_t def)
{
    const struct ox_attr *a = ox_attr(n, name);
    return a ? a->i : def;
}

static float attr_f(const struct ox_node *n, const char *name, float def)
{
    const struct ox_attr *a = ox_attr(n, name);
    return a ? a->f : def;
}

/* copies attr ints into out; returns the count, or -1 when absent */
static int attr_ints(const struct ox_node *n, const char *name, int64_t *out, int cap)
{
    const struct ox_attr *a = ox_attr(n, name);
    if (a == NULL)
        return -1;
    int k = a->n_ints < cap ? a->n_ints : cap;
    memcpy(out, a->ints, (size_t)k * sizeof(int64_t));
    return a->n_ints;
}

static int attr_str_is(const struct ox_node *n, const char *name, const char *want, const char *def)
{
    const struct ox_attr *a = ox_attr(n, name);
    if (a == NULL || a->s == NULL)
        return strcmp(def, want) == 0;
    return strlen(want) == a->slen && memcmp(a->s, want, a->slen) == 0;
}

/* ---- node inputs and outputs ------------------------------------------- */

/* value of input i, or -1 when the optional input is absent; <-1 on error */
static int ox_in(struct ox_ctx *c, int i, int required)
{
    const struct ox_node *n = c->nd;
    if (i >= n->n_in || n->in_len[i] == 0) {
        if (required)
            return BAD("%s node \"%s\" lacks input %d", n->op, n->name, i);
        return -1;
    }
    int k = ox_find(c, n->in[i], n->in_len[i]);
    if (k < 0)
        return BAD("%s node \"%s\": unknown input \"%.*s\"", n->op, n->name,
                   (int)(n->in_len[i] > 60 ? 60 : n->in_len[i]), (const char *)n->in[i]);
    if (c->v[k].v5 && !(c->v5_ok && i == 0))
        return UNSUP("%s node \"%s\": a rank-5 value as input %d (only Transpose, Slice and "
                     "Squeeze take one)",
                     n->op, n->name, i);
    return k;
}

static int ox_in_host(struct ox_ctx *c, int i, int required)
{
    int k = ox_in(c, i, required);
    if (k >= 0 && !c->v[k].host)
        return UNSUP("%s node \"%s\": input %d must be a constant", c->nd->op, c->nd->name, i);
    return k;
}

/* defines output 0 of the current node; returns the value index */
static int ox_out(struct ox_ctx *c)
{
    if (c->nd->n_out < 1)
        return BAD("%s node \"%s\" has no output", c->nd->op, c->nd->name);
    return ox_define(c, c->nd->out[0], c->nd->out_len[0]);
}

static int ox_out_ir(struct ox_ctx *c, int tid, int nchw)
{
    if (tid < 0)
        return tid;
    int k = ox_out(c);
    if (k < 0)
        return k;
    c->v[k].tid = tid;
    c->v[k].nchw = nchw;
    return 0;
}

static int ir_node(struct ox_ctx *c, enum rt_op op, const int *in, int n_in,
                   const struct rt_attrs *a)
{
    return rt_graph_node_add(c->g, op, in, n_in, a, c->nd ? c->nd->name : "", c->e);
}

static int ir_transpose(struct ox_ctx *c, int tid, const int *perm)
{
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.ndim = 4;
    memcpy(a.perm, perm, sizeof(a.perm));
    return ir_node(c, RT_OP_TRANSPOSE, &tid, 1, &a);
}

static const int PERM_TO_NCHW[4] = {0, 3, 1, 2};
static const int PERM_TO_NHWC[4] = {0, 2, 3, 1};

/* host float constant -> IR constant; nhwc: rank-4 data transposed */
static int ox_const_ir(struct ox_ctx *c, int k, int nhwc)
{
    struct ox_val *v = &c->v[k];
    if (v->tid_const[nhwc] >= 0)
        return v->tid_const[nhwc];
    if (v->n == 0)
        return BAD("empty constant used as an operand");
    float *buf = malloc((size_t)v->n * sizeof(float));
    if (buf == NULL)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate a constant of %lld floats", (long long)v->n);
    int64_t d[RT_MAX_DIMS];
    int ndim = v->ndim;
    char name[RT_NAME_LEN];
    ox_name(v, name, sizeof(name));
    memcpy(d, v->dims, sizeof(d));
    if (nhwc) {
        /* align to rank 4 with leading 1s, then NCHW -> NHWC */
        int64_t l[4] = {1, 1, 1, 1};
        for (int i = 0; i < ndim; i++)
            l[4 - ndim + i] = v->dims[i];
        int64_t N = l[0], C = l[1], H = l[2], W = l[3];
        for (int64_t n = 0; n < N; n++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    for (int64_t ch = 0; ch < C; ch++)
                        buf[((n * H + h) * W + w) * C + ch] =
                            hv_f(v, ((n * C + ch) * H + h) * W + w);
        ndim = 4;
        d[0] = N;
        d[1] = H;
        d[2] = W;
        d[3] = C;
    } else {
        for (int64_t i = 0; i < v->n; i++)
            buf[i] = hv_f(v, i);
    }
    int id = rt_graph_const_add(c->g, name, ndim, d, buf, c->e);
    free(buf);
    if (id >= 0)
        v->tid_const[nhwc] = id;
    return id;
}

enum { WANT_ANY, WANT_PLAIN, WANT_NHWC };

/*
 * An IR tensor for value k in the wanted layout: WANT_PLAIN gives the
 * ONNX element order, WANT_NHWC gives a rank-4 NCHW value as NHWC.
 */
static int ox_ir(struct ox_ctx *c, int k, int want)
{
    struct ox_val *v = &c->v[k];
    if (v->host) {
        if (want == WANT_NHWC && v->ndim != 4)
            return UNSUP("%s node \"%s\": rank-%d constant where an image is expected", c->nd->op,
                         c->nd->name, v->ndim);
        return ox_const_ir(c, k, want == WANT_NHWC);
    }
    if (want == WANT_ANY || (want == WANT_PLAIN && !v->nchw) || (want == WANT_NHWC && v->nchw))
        return v->tid;
    if (v->tid_alt >= 0)
        return v->tid_alt;
    int t;
    if (want == WANT_PLAIN) {
        t = ir_transpose(c, v->tid, PERM_TO_NCHW);
    } else {
        if (c->g->tensors[v->tid].ndim != 4)
            return UNSUP("%s node \"%s\": needs a rank-4 input, got rank %d", c->nd->op,
                         c->nd->name, c->g->tensors[v->tid].ndim);
        t = ir_transpose(c, v->tid, PERM_TO_NHWC);
    }
    if (t >= 0)
        v->tid_alt = t;
    return t;
}

/* ---- ops --------------------------------------------------------------- */

static int op_unary(struct ox_ctx *c, enum rt_act act, float alpha, float beta)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    if (c->v[x].host)
        return UNSUP("%s of a constant", c->nd->op);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.act = act;
    a.alpha = alpha;
    a.beta = beta;
    int nchw = c->v[x].nchw;
    int t = ox_ir(c, x, WANT_ANY);
    if (t < 0)
        return t;
    return ox_out_ir(c, ir_node(c, RT_OP_ACT, &t, 1, &a), nchw);
}

static int op_binary(struct ox_ctx *c, enum rt_op op)
{
    int k[2];
    for (int i = 0; i < 2; i++)
        if ((k[i] = ox_in(c, i, 1)) < 0)
            return k[i];
    if (c->v[k[0]].host && c->v[k[1]].host)
        return UNSUP("%s of two constants", c->nd->op);
    int nchw = (!c->v[k[0]].host && c->v[k[0]].nchw) || (!c->v[k[1]].host && c->v[k[1]].nchw);
    int t[2];
    for (int i = 0; i < 2; i++) {
        struct ox_val *v = &c->v[k[i]];
        if (nchw && v->host) {
            if (v->ndim > 4)
                return UNSUP("%s with a rank-%d constant", c->nd->op, v->ndim);
            t[i] = ox_const_ir(c, k[i], 1);
        } else if (nchw) {
            int r = c->g->tensors[v->tid].ndim;
            if (!v->nchw && r != 4)
                return UNSUP("%s: broadcasting a rank-%d tensor against an image", c->nd->op, r);
            t[i] = ox_ir(c, k[i], WANT_NHWC);
        } else {
            t[i] = ox_ir(c, k[i], WANT_PLAIN);
        }
        if (t[i] < 0)
            return t[i];
    }
    return ox_out_ir(c, ir_node(c, op, t, 2, NULL), nchw);
}

/* resolves auto_pad / pads for one spatial dim pair */
static int ox_pads(struct ox_ctx *c, int64_t in_h, int64_t in_w, const int64_t *k, const int64_t *s,
                   const int64_t *dil, int *pt, int *pl, int *pb, int *pr)
{
    const struct ox_node *n = c->nd;
    int64_t pads[8] = {0};
    int np = attr_ints(n, "pads", pads, 8);
    if (np >= 0 && np != 4)
        return UNSUP("%s node \"%s\": %d pads (2-D only)", n->op, n->name, np);
    for (int i = 0; i < 4; i++)
        if (pads[i] < 0 || pads[i] > 1024)
            return BAD("%s node \"%s\": invalid pad %lld", n->op, n->name, (long long)pads[i]);
    *pt = (int)pads[0];
    *pl = (int)pads[1];
    *pb = (int)pads[2];
    *pr = (int)pads[3];
    if (attr_str_is(n, "auto_pad", "SAME_UPPER", "NOTSET") ||
        attr_str_is(n, "auto_pad", "SAME_LOWER", "NOTSET")) {
        int lower = attr_str_is(n, "auto_pad", "SAME_LOWER", "NOTSET");
        int64_t in[2] = {in_h, in_w};
        int tot[2];
        for (int i = 0; i < 2; i++) {
            int64_t out = (in[i] + s[i] - 1) / s[i];
            int64_t t = (out - 1) * s[i] + (k[i] - 1) * dil[i] + 1 - in[i];
            tot[i] = t > 0 ? (int)t : 0;
        }
        int bh = lower ? (tot[0] + 1) / 2 : tot[0] / 2, bw = lower ? (tot[1] + 1) / 2 : tot[1] / 2;
        *pt = bh;
        *pb = tot[0] - bh;
        *pl = bw;
        *pr = tot[1] - bw;
    } else if (attr_str_is(n, "auto_pad", "VALID", "NOTSET")) {
        *pt = *pl = *pb = *pr = 0;
    } else if (!attr_str_is(n, "auto_pad", "NOTSET", "NOTSET")) {
        return UNSUP("%s node \"%s\": unknown auto_pad", n->op, n->name);
    }
    return 0;
}

static int ox_int2(const struct ox_node *n, const char *name, int64_t *out, int64_t def)
{
    out[0] = out[1] = def;
    int k = attr_ints(n, name, out, 2);
    if (k >= 0 && k != 2)
        return -1;
    return 0;
}

static int op_conv(struct ox_ctx *c)
{
    const struct ox_node *n = c->nd;
    int x = ox_in(c, 0, 1), w = ox_in_host(c, 1, 1), b = ox_in_host(c, 2, 0);
    if (x < 0)
        return x;
    if (w < 0)
        return w;
    if (b < -1)
        return b;
    if (c->v[x].host)
        return UNSUP("Conv of a constant");
    int tx = ox_ir(c, x, WANT_NHWC);
    if (tx < 0)
        return tx;
    const struct rt_tensor *X = &c->g->tensors[tx];
    struct ox_val *W = &c->v[w];
    if (W->ndim != 4)
        return UNSUP("Conv node \"%s\": rank-%d weights (2-D convs only)", n->name, W->ndim);
    int64_t group = attr_i(n, "group", 1);
    int64_t O = W->dims[0], I = W->dims[1], KH = W->dims[2], KW = W->dims[3];
    if (group < 1 || group > X->shape[3] || I * group != X->shape[3] || O % group)
        return BAD("Conv node \"%s\": weights [%lld,%lld,..] and group %lld do not fit %lld "
                   "input channels",
                   n->name, (long long)O, (long long)I, (long long)group, (long long)X->shape[3]);
    int64_t k[2], s[2], d[2];
    if (ox_int2(n, "strides", s, 1) < 0 || ox_int2(n, "dilations", d, 1) < 0 ||
        ox_int2(n, "kernel_shape", k, 0) < 0)
        return UNSUP("Conv node \"%s\": non-2-D attributes", n->name);
    if ((k[0] && k[0] != KH) || (k[1] && k[1] != KW))
        return BAD("Conv node \"%s\": kernel_shape disagrees with the weights", n->name);
    k[0] = KH;
    k[1] = KW;
    if (s[0] < 1 || s[1] < 1 || d[0] < 1 || d[1] < 1 || s[0] > 64 || s[1] > 64 || d[0] > 64 ||
        d[1] > 64)
        return BAD("Conv node \"%s\": invalid strides/dilations", n->name);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    if (ox_pads(c, X->shape[1], X->shape[2], k, s, d, &a.conv.pad_t, &a.conv.pad_l, &a.conv.pad_b,
                &a.conv.pad_r) < 0)
        return c->e ? c->e->status : RT_ERR_INVALID;
    a.conv.stride_h = (int)s[0];
    a.conv.stride_w = (int)s[1];
    a.conv.dil_h = (int)d[0];
    a.conv.dil_w = (int)d[1];
    a.conv.groups = (int)group;
    /* OIHW -> HWIO */
    float *hwio = malloc((size_t)W->n * sizeof(float));
    if (hwio == NULL)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate weights");
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t h = 0; h < KH; h++)
                for (int64_t ww = 0; ww < KW; ww++)
                    hwio[((h * KW + ww) * I + i) * O + o] =
                        hv_f(W, ((o * I + i) * KH + h) * KW + ww);
    int64_t wd[4] = {KH, KW, I, O};
    char nm[RT_NAME_LEN];
    ox_name(W, nm, sizeof(nm));
    int in[3];
    in[0] = tx;
    in[1] = rt_graph_const_add(c->g, nm, 4, wd, hwio, c->e);
    free(hwio);
    if (in[1] < 0)
        return in[1];
    int nin = 2;
    if (b >= 0) {
        struct ox_val *B = &c->v[b];
        if (B->n != O)
            return BAD("Conv node \"%s\": bias has %lld values for %lld outputs", n->name,
                       (long long)B->n, (long long)O);
        float *bf = malloc((size_t)O * sizeof(float));
        if (bf == NULL)
            return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not allocate bias");
        for (int64_t i = 0; i < O; i++)
            bf[i] = hv_f(B, i);
        ox_name(B, nm, sizeof(nm));
        in[2] = rt_graph_const_add(c->g, nm, 1, &O, bf, c->e);
        free(bf);
        if (in[2] < 0)
            return in[2];
        nin = 3;
    }
    return ox_out_ir(c, ir_node(c, RT_OP_CONV2D, in, nin, &a), 1);
}

static int op_pool(struct ox_ctx *c, int is_max)
{
    const struct ox_node *n = c->nd;
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    if (c->v[x].host)
        return UNSUP("pool of a constant");
    int tx = ox_ir(c, x, WANT_NHWC);
    if (tx < 0)
        return tx;
    const struct rt_tensor *X = &c->g->tensors[tx];
    int64_t k[2], s[2], d[2];
    if (ox_int2(n, "kernel_shape", k, 0) < 0 || ox_int2(n, "strides", s, 1) < 0 ||
        ox_int2(n, "dilations", d, 1) < 0)
        return UNSUP("%s node \"%s\": non-2-D attributes", n->op, n->name);
    if (k[0] < 1 || k[1] < 1 || k[0] > 4096 || k[1] > 4096 || s[0] < 1 || s[1] < 1 || s[0] > 4096 ||
        s[1] > 4096)
        return BAD("%s node \"%s\": invalid kernel/strides", n->op, n->name);
    if (d[0] != 1 || d[1] != 1)
        return UNSUP("%s node \"%s\": dilated pooling", n->op, n->name);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    struct rt_pool_attrs *p = &a.pool;
    if (ox_pads(c, X->shape[1], X->shape[2], k, s, d, &p->pad_t, &p->pad_l, &p->pad_b, &p->pad_r) <
        0)
        return c->e ? c->e->status : RT_ERR_INVALID;
    p->kh = (int)k[0];
    p->kw = (int)k[1];
    p->stride_h = (int)s[0];
    p->stride_w = (int)s[1];
    p->count_pad = (int)attr_i(n, "count_include_pad", 0) != 0;
    if (attr_i(n, "ceil_mode", 0)) {
        /* grow the trailing pad so the floor formula gives the ceil size */
        int64_t hp = X->shape[1] + p->pad_t + p->pad_b, wp = X->shape[2] + p->pad_l + p->pad_r;
        int64_t eh = (hp - k[0]) % s[0], ew = (wp - k[1]) % s[1];
        if (eh)
            p->pad_b += (int)(s[0] - eh);
        if (ew)
            p->pad_r += (int)(s[1] - ew);
        if (!is_max && p->count_pad)
            return UNSUP("AveragePool node \"%s\": ceil_mode with count_include_pad", n->name);
    }
    return ox_out_ir(c, ir_node(c, is_max ? RT_OP_POOL_MAX : RT_OP_POOL_AVG, &tx, 1, &a), 1);
}

static int op_global_avg(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    if (c->v[x].host)
        return UNSUP("GlobalAveragePool of a constant");
    int tx = ox_ir(c, x, WANT_NHWC);
    if (tx < 0)
        return tx;
    return ox_out_ir(c, ir_node(c, RT_OP_GLOBAL_AVG, &tx, 1, NULL), 1);
}

/* host transpose of value k by perm into a new value for the output */
static int host_transpose(struct ox_ctx *c, int k, const int *perm, int ndim)
{
    int o = ox_out(c);
    if (o < 0)
        return o;
    struct ox_val *v = &c->v[k];
    int64_t d[RT_MAX_DIMS] = {1, 1, 1, 1};
    for (int i = 0; i < ndim; i++)
        d[i] = v->dims[perm[i]];
    int rc = ox_host_alloc(c, &c->v[o], v->is_int, ndim, d);
    if (rc < 0)
        return rc;
    v = &c->v[k];
    struct ox_val *ov = &c->v[o];
    int64_t st[RT_MAX_DIMS], idx[RT_MAX_DIMS] = {0};
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= v->dims[i];
    }
    for (int64_t j = 0; j < ov->n; j++) {
        int64_t src = 0, r = j;
        for (int i = ndim - 1; i >= 0; i--) {
            idx[i] = r % d[i];
            r /= d[i];
        }
        for (int i = 0; i < ndim; i++)
            src += idx[i] * st[perm[i]];
        if (ov->is_int)
            ov->iv[j] = v->iv[src];
        else
            ov->f[j] = v->f[src];
    }
    return 0;
}

static int ox_v5_transpose(struct ox_ctx *c, int x);
static int ox_v5_reshape(struct ox_ctx *c, int x, const int64_t *t0);
static int ox_v5_squeeze(struct ox_ctx *c, int x, int a);

static int op_transpose(struct ox_ctx *c)
{
    c->v5_ok = 1;
    int x = ox_in(c, 0, 1);
    c->v5_ok = 0;
    if (x < 0)
        return x;
    if (c->v[x].v5)
        return ox_v5_transpose(c, x);
    int64_t ld[RT_MAX_DIMS];
    int r = ox_shape(c, &c->v[x], ld);
    int64_t p64[RT_MAX_DIMS];
    int perm[RT_MAX_DIMS];
    int np = attr_ints(c->nd, "perm", p64, RT_MAX_DIMS);
    if (np < 0) {
        np = r;
        for (int i = 0; i < r; i++)
            p64[i] = r - 1 - i;
    }
    if (np != r)
        return BAD("Transpose node \"%s\": perm of %d entries for rank %d", c->nd->name, np, r);
    int seen = 0;
    for (int i = 0; i < r; i++) {
        if (p64[i] < 0 || p64[i] >= r || (seen & (1 << p64[i])))
            return BAD("Transpose node \"%s\": invalid perm", c->nd->name);
        seen |= 1 << p64[i];
        perm[i] = (int)p64[i];
    }
    if (c->v[x].host)
        return host_transpose(c, x, perm, r);
    struct ox_val *v = &c->v[x];
    /* logical[i] = IR[m[i]]; the result's logical[i] = IR[m[perm[i]]] */
    int m[4] = {0, 1, 2, 3}, comp[4];
    if (v->nchw)
        memcpy(m, PERM_TO_NCHW, sizeof(m));
    int ident = 1, is_nchw = r == 4;
    for (int i = 0; i < r; i++) {
        comp[i] = m[perm[i]];
        ident &= comp[i] == i;
        is_nchw &= comp[i] == PERM_TO_NCHW[i];
    }
    if (ident)
        return ox_out_ir(c, v->tid, 0);
    if (is_nchw)
        return ox_out_ir(c, v->tid, 1);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.ndim = r;
    memcpy(a.perm, comp, sizeof(comp));
    int t = v->tid;
    return ox_out_ir(c, ir_node(c, RT_OP_TRANSPOSE, &t, 1, &a), 0);
}

/* defines the output as a host copy of value k with new dims */
static int host_reshape(struct ox_ctx *c, int k, int ndim, const int64_t *d)
{
    int o = ox_out(c);
    if (o < 0)
        return o;
    if (dims_prod(ndim, d) != c->v[k].n)
        return BAD("%s node \"%s\": reshape of %lld values", c->nd->op, c->nd->name,
                   (long long)c->v[k].n);
    int rc = ox_host_alloc(c, &c->v[o], c->v[k].is_int, ndim, d);
    if (rc < 0)
        return rc;
    struct ox_val *v = &c->v[k], *ov = &c->v[o];
    if (v->is_int)
        memcpy(ov->iv, v->iv, (size_t)v->n * sizeof(int64_t));
    else
        memcpy(ov->f, v->f, (size_t)v->n * sizeof(float));
    return 0;
}

/* resolves a reshape target (0 = copy, one -1) against logical dims */
static int resolve_shape(struct ox_ctx *c, int64_t total, int r, const int64_t *ld, int nt,
                         int64_t *t)
{
    int64_t known = 1;
    int at = -1;
    if (nt < 0 || nt > RT_MAX_DIMS)
        return UNSUP("%s node \"%s\": target rank %d", c->nd->op, c->nd->name, nt);
    for (int i = 0; i < nt; i++) {
        if (t[i] == 0) {
            if (i >= r)
                return BAD("%s node \"%s\": copies a missing dim", c->nd->op, c->nd->name);
            t[i] = ld[i];
        }
        if (t[i] == -1) {
            if (at >= 0)
                return BAD("%s node \"%s\": two -1 dims", c->nd->op, c->nd->name);
            at = i;
            continue;
        }
        if (t[i] < 1 || t[i] > RT_MAX_TENSOR_ELEMS || known > RT_MAX_TENSOR_ELEMS / t[i])
            return BAD("%s node \"%s\": invalid target dim %lld", c->nd->op, c->nd->name,
                       (long long)t[i]);
        known *= t[i];
    }
    if (at >= 0) {
        if (known == 0 || total % known)
            return BAD("%s node \"%s\": cannot infer -1", c->nd->op, c->nd->name);
        t[at] = total / known;
        known = total;
    }
    if (known != total)
        return BAD("%s node \"%s\": %lld elements into %lld", c->nd->op, c->nd->name,
                   (long long)total, (long long)known);
    return 0;
}

static int do_reshape(struct ox_ctx *c, int x, int nt, int64_t *t)
{
    int64_t ld[RT_MAX_DIMS];
    int r = ox_shape(c, &c->v[x], ld);
    int rc = resolve_shape(c, dims_prod(r, ld), r, ld, nt, t);
    if (rc < 0)
        return rc;
    if (c->v[x].host)
        return host_reshape(c, x, nt, t);
    int tx = ox_ir(c, x, WANT_PLAIN);
    if (tx < 0)
        return tx;
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.ndim = nt;
    memcpy(a.shape, t, (size_t)nt * sizeof(int64_t));
    return ox_out_ir(c, ir_node(c, RT_OP_RESHAPE, &tx, 1, &a), 0);
}

static int op_reshape(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1), s = ox_in_host(c, 1, 1);
    if (x < 0)
        return x;
    if (s < 0)
        return s;
    struct ox_val *S = &c->v[s];
    if (S->ndim == 1 && S->n == 5 && !c->v[x].host) {
        int64_t t5[5];
        for (int i = 0; i < 5; i++)
            t5[i] = hv_i(S, i);
        return ox_v5_reshape(c, x, t5);
    }
    if (S->ndim != 1 || S->n > RT_MAX_DIMS)
        return UNSUP("Reshape node \"%s\": target of %lld dims", c->nd->name, (long long)S->n);
    int64_t t[RT_MAX_DIMS];
    for (int i = 0; i < S->n; i++)
        t[i] = hv_i(S, i);
    return do_reshape(c, x, (int)S->n, t);
}

static int op_flatten(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    int64_t ld[RT_MAX_DIMS];
    int r = ox_shape(c, &c->v[x], ld);
    int64_t ax = attr_i(c->nd, "axis", 1);
    if (ax < 0)
        ax += r;
    if (ax < 0 || ax > r)
        return BAD("Flatten node \"%s\": axis %lld", c->nd->name, (long long)ax);
    int64_t t[2] = {dims_prod((int)ax, ld), dims_prod(r - (int)ax, ld + ax)};
    return do_reshape(c, x, 2, t);
}

/* Squeeze/Unsqueeze: axes from the attribute (opset < 13) or input 1 */
static int op_squeeze(struct ox_ctx *c, int unsq)
{
    c->v5_ok = !unsq;
    int x = ox_in(c, 0, 1);
    c->v5_ok = 0;
    if (x < 0)
        return x;
    int64_t axes[RT_MAX_DIMS];
    int na;
    if (c->opset >= 13 && c->nd->n_in > 1) {
        int a = ox_in_host(c, 1, 1);
        if (a < 0)
            return a;
        if (c->v[a].n > RT_MAX_DIMS)
            return UNSUP("%s node \"%s\": %lld axes", c->nd->op, c->nd->name, (long long)c->v[a].n);
        na = (int)c->v[a].n;
        for (int i = 0; i < na; i++)
            axes[i] = hv_i(&c->v[a], i);
    } else {
        na = attr_ints(c->nd, "axes", axes, RT_MAX_DIMS);
        if (na > RT_MAX_DIMS)
            return UNSUP("%s node \"%s\": %d axes", c->nd->op, c->nd->name, na);
    }
    if (c->v[x].v5) {
        if (na != 1)
            return UNSUP("%s node \"%s\": squeezing a rank-5 value needs one axis", c->nd->op,
                         c->nd->name);
        int64_t a5 = axes[0] < 0 ? axes[0] + 5 : axes[0];
        if (a5 < 0 || a5 > 4)
            return BAD("%s node \"%s\": invalid axis %lld", c->nd->op, c->nd->name,
                       (long long)axes[0]);
        return ox_v5_squeeze(c, x, (int)a5);
    }
    int64_t ld[RT_MAX_DIMS], t[RT_MAX_DIMS];
    int r = ox_shape(c, &c->v[x], ld), nt = 0;
    if (unsq) {
        int rr = r + (na > 0 ? na : 0);
        if (rr > RT_MAX_DIMS || na < 0)
            return UNSUP("%s node \"%s\": result rank %d", c->nd->op, c->nd->name, rr);
        int mark[RT_MAX_DIMS] = {0};
        for (int i = 0; i < na; i++) {
            int64_t a = axes[i] < 0 ? axes[i] + rr : axes[i];
            if (a < 0 || a >= rr || mark[a])
                return BAD("%s node \"%s\": invalid axis %lld", c->nd->op, c->nd->name,
                           (long long)axes[i]);
            mark[a] = 1;
        }
        for (int i = 0, j = 0; i < rr; i++)
            t[nt++] = mark[i] ? 1 : ld[j++];
    } else {
        int mark[RT_MAX_DIMS] = {0};
        for (int i = 0; i < na; i++) {
            int64_t a = axes[i] < 0 ? axes[i] + r : axes[i];
            if (a < 0 || a >= r || ld[a] != 1)
                return BAD("%s node \"%s\": invalid axis %lld", c->nd->op, c->nd->name,
                           (long long)axes[i]);
            mark[a] = 1;
        }
        for (int i = 0; i < r; i++)
            if (!(na < 0 ? ld[i] == 1 : mark[i]))
                t[nt++] = ld[i];
    }
    return do_reshape(c, x, nt, t);
}

static int op_concat(struct ox_ctx *c)
{
    const struct ox_node *n = c->nd;
    int k[RT_MAX_INPUTS], nin = n->n_in, all_host = 1, nchw = 0;
    if (nin < 1 || nin > RT_MAX_INPUTS)
        return UNSUP("Concat node \"%s\" of %d inputs", n->name, nin);
    for (int i = 0; i < nin; i++) {
        if ((k[i] = ox_in(c, i, 1)) < 0)
            return k[i];
        all_host &= c->v[k[i]].host;
        nchw |= !c->v[k[i]].host && c->v[k[i]].nchw;
    }
    int64_t d0[RT_MAX_DIMS];
    int r = ox_shape(c, &c->v[k[0]], d0);
    int64_t ax = attr_i(n, "axis", 0);
    if (ax < 0)
        ax += r;
    if (ax < 0 || ax >= r)
        return BAD("Concat node \"%s\": axis %lld for rank %d", n->name, (long long)ax, r);
    if (all_host) {
        int64_t d[RT_MAX_DIMS];
        memcpy(d, d0, sizeof(d));
        d[ax] = 0;
        int is_int = 1;
        for (int i = 0; i < nin; i++) {
            int64_t di[RT_MAX_DIMS];
            if (ox_shape(c, &c->v[k[i]], di) != r)
                return BAD("Concat node \"%s\": ranks differ", n->name);
            for (int j = 0; j < r; j++)
                if (j != ax && di[j] != d0[j])
                    return BAD("Concat node \"%s\": dims differ", n->name);
            d[ax] += di[ax];
            is_int &= c->v[k[i]].is_int;
        }
        int o = ox_out(c);
        if (o < 0)
            return o;
        int rc = ox_host_alloc(c, &c->v[o], is_int, r, d);
        if (rc < 0)
            return rc;
        int64_t outer = dims_prod((int)ax, d), inner = dims_prod(r - (int)ax - 1, d + ax + 1);
        int64_t off = 0;
        for (int i = 0; i < nin; i++) {
            struct ox_val *v = &c->v[k[i]], *ov = &c->v[o];
            int64_t len = v->dims[ax] * inner;
            for (int64_t q = 0; q < outer; q++)
                for (int64_t j = 0; j < len; j++) {
                    int64_t dst = q * d[ax] * inner + off + j;
                    if (is_int)
                        ov->iv[dst] = v->iv[q * len + j];
                    else
                        ov->f[dst] = hv_f(v, q * len + j);
                }
            off += len;
        }
        return 0;
    }
    /*
     * Concat(x, uniform constant) along a non-batch axis is a constant pad
     * (BlazeFace's channel zero-padding via ConstantOfShape): as a PAD the
     * graph keeps no constant with the batch baked in, so the batch can
     * change at plan time.
     */
    if (nin == 2 && ax > 0 && c->v[k[0]].host != c->v[k[1]].host) {
        int hi = c->v[k[0]].host ? 0 : 1, ti = 1 - hi;
        struct ox_val *h = &c->v[k[hi]];
        int64_t dt[RT_MAX_DIMS];
        int uniform = h->n > 0 && ox_shape(c, &c->v[k[ti]], dt) == r && h->ndim == r;
        for (int64_t q = 1; uniform && q < h->n; q++)
            uniform = hv_f(h, q) == hv_f(h, 0);
        for (int d = 1; uniform && d < r; d++)
            uniform = d == ax || h->dims[d] == dt[d];
        if (uniform && h->dims[ax] <= 4096) {
            struct rt_attrs a;
            memset(&a, 0, sizeof(a));
            static const int map4[4] = {0, 3, 1, 2};
            int vnchw = c->v[k[ti]].nchw;
            int d = vnchw ? map4[ax] : (int)ax;
            int tt = ox_ir(c, k[ti], WANT_ANY);
            if (tt < 0)
                return tt;
            a.ndim = r;
            a.pad_value = hv_f(h, 0);
            if (hi == 1)
                a.pad_after[d] = (int)h->dims[ax];
            else
                a.pad_before[d] = (int)h->dims[ax];
            return ox_out_ir(c, ir_node(c, RT_OP_PAD, &tt, 1, &a), vnchw);
        }
    }
    int t[RT_MAX_INPUTS];
    for (int i = 0; i < nin; i++) {
        t[i] = nchw ? ox_ir(c, k[i], WANT_NHWC) : ox_ir(c, k[i], WANT_PLAIN);
        if (t[i] < 0)
            return t[i];
    }
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    static const int map[4] = {0, 3, 1, 2};
    a.axis = nchw ? map[ax] : (int)ax;
    return ox_out_ir(c, ir_node(c, RT_OP_CONCAT, t, nin, &a), nchw);
}

static int op_softmax(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    if (c->v[x].host)
        return UNSUP("Softmax of a constant");
    int64_t ld[RT_MAX_DIMS];
    int r = ox_shape(c, &c->v[x], ld);
    int64_t ax = attr_i(c->nd, "axis", c->opset >= 13 ? -1 : 1);
    if (ax < 0)
        ax += r;
    if (ax < 0 || ax >= r)
        return BAD("Softmax node \"%s\": axis %lld", c->nd->name, (long long)ax);
    int last_real = ax == r - 1 || dims_prod(r - (int)ax - 1, ld + ax + 1) == 1;
    if (c->opset < 13 && !last_real)
        return UNSUP("Softmax node \"%s\": opset-%d softmax over several axes", c->nd->name,
                     c->opset);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    int nchw = c->v[x].nchw;
    static const int map[4] = {0, 3, 1, 2};
    a.axis = nchw ? map[ax] : (int)ax;
    int t = ox_ir(c, x, WANT_ANY);
    if (t < 0)
        return t;
    return ox_out_ir(c, ir_node(c, RT_OP_SOFTMAX, &t, 1, &a), nchw);
}

static int op_pad(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    if (c->v[x].host)
        return UNSUP("Pad of a constant");
    if (!attr_str_is(c->nd, "mode", "constant", "constant"))
        return UNSUP("Pad node \"%s\": only constant mode", c->nd->name);
    int64_t pads[2 * RT_MAX_DIMS];
    int np;
    float value = 0;
    if (c->opset >= 11) {
        int p = ox_in_host(c, 1, 1), cv = ox_in_host(c, 2, 0);
        if (p < 0)
            return p;
        if (cv < -1)
            return cv;
        if (c->v[p].n > 2 * RT_MAX_DIMS)
            return UNSUP("Pad node \"%s\": %lld pads", c->nd->name, (long long)c->v[p].n);
        np = (int)c->v[p].n;
        for (int i = 0; i < np; i++)
            pads[i] = hv_i(&c->v[p], i);
        if (cv >= 0 && c->v[cv].n > 0)
            value = hv_f(&c->v[cv], 0);
    } else {
        np = attr_ints(c->nd, "pads", pads, 2 * RT_MAX_DIMS);
        value = attr_f(c->nd, "value", 0);
    }
    int64_t ld[RT_MAX_DIMS];
    int r = ox_shape(c, &c->v[x], ld);
    if (np != 2 * r)
        return BAD("Pad node \"%s\": %d pads for rank %d", c->nd->name, np, r);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.ndim = r;
    a.pad_value = value;
    int nchw = c->v[x].nchw;
    static const int map[4] = {0, 3, 1, 2};
    for (int i = 0; i < r; i++) {
        if (pads[i] < 0 || pads[r + i] < 0 || pads[i] > 4096 || pads[r + i] > 4096)
            return UNSUP("Pad node \"%s\": pad %lld/%lld (negative or huge)", c->nd->name,
                         (long long)pads[i], (long long)pads[r + i]);
        int d = nchw ? map[i] : i;
        a.pad_before[d] = (int)pads[i];
        a.pad_after[d] = (int)pads[r + i];
    }
    int t = ox_ir(c, x, WANT_ANY);
    if (t < 0)
        return t;
    return ox_out_ir(c, ir_node(c, RT_OP_PAD, &t, 1, &a), nchw);
}

/* Gemm / MatMul with a constant right operand become DENSE */
static int op_dense(struct ox_ctx *c, int gemm)
{
    const struct ox_node *n = c->nd;
    int x = ox_in(c, 0, 1), w = ox_in(c, 1, 1), b = gemm ? ox_in_host(c, 2, 0) : -1;
    if (x < 0)
        return x;
    if (w < 0)
        return w;
    if (b < -1)
        return b;
    if (c->v[x].host)
        return UNSUP("%s of a constant", n->op);
    int tx = ox_ir(c, x, WANT_PLAIN);
    if (tx < 0)
        return tx;
    if (!c->v[w].host) {
        if (gemm)
            return UNSUP("Gemm node \"%s\": non-constant B", n->name);
        int tw = ox_ir(c, w, WANT_PLAIN);
        if (tw < 0)
            return tw;
        int in[2] = {tx, tw};
        return ox_out_ir(c, ir_node(c, RT_OP_MATMUL, in, 2, NULL), 0);
    }
    struct ox_val *W = &c->v[w];
    if (W->ndim != 2)
        return UNSUP("%s node \"%s\": rank-%d weights", n->op, n->name, W->ndim);
    if (gemm && attr_i(n, "transA", 0))
        return UNSUP("Gemm node \"%s\": transA", n->name);
    int tb = gemm && attr_i(n, "transB", 0);
    float alpha = gemm ? attr_f(n, "alpha", 1) : 1, beta = gemm ? attr_f(n, "beta", 1) : 1;
    int64_t K = tb ? W->dims[1] : W->dims[0], N = tb ? W->dims[0] : W->dims[1];
    float *wf = malloc((size_t)(K * N) * sizeof(float));
    if (wf == NULL)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate weights");
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++)
            wf[k * N + j] = alpha * hv_f(W, tb ? j * K + k : k * N + j);
    int64_t wd[2] = {K, N};
    char nm[RT_NAME_LEN];
    ox_name(W, nm, sizeof(nm));
    int in[3] = {tx, rt_graph_const_add(c->g, nm, 2, wd, wf, c->e), -1};
    free(wf);
    if (in[1] < 0)
        return in[1];
    int nin = 2;
    if (b >= 0) {
        struct ox_val *B = &c->v[b];
        if (B->n != N && B->n != 1)
            return UNSUP("%s node \"%s\": bias of %lld values for %lld outputs", n->op, n->name,
                         (long long)B->n, (long long)N);
        float *bf = malloc((size_t)N * sizeof(float));
        if (bf == NULL)
            return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "could not allocate bias");
        for (int64_t j = 0; j < N; j++)
            bf[j] = beta * hv_f(B, B->n == 1 ? 0 : j);
        ox_name(B, nm, sizeof(nm));
        in[2] = rt_graph_const_add(c->g, nm, 1, &N, bf, c->e);
        free(bf);
        if (in[2] < 0)
            return in[2];
        nin = 3;
    }
    return ox_out_ir(c, ir_node(c, RT_OP_DENSE, in, nin, NULL), 0);
}

static int op_batchnorm(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1), p[4];
    if (x < 0)
        return x;
    for (int i = 0; i < 4; i++)
        if ((p[i] = ox_in_host(c, i + 1, 1)) < 0)
            return p[i];
    if (c->v[x].host)
        return UNSUP("BatchNormalization of a constant");
    int64_t ld[RT_MAX_DIMS];
    int r = ox_shape(c, &c->v[x], ld);
    if (r < 2)
        return BAD("BatchNormalization node \"%s\": rank %d", c->nd->name, r);
    int64_t C = ld[1];
    for (int i = 0; i < 4; i++)
        if (c->v[p[i]].n != C)
            return BAD("BatchNormalization node \"%s\": parameter %d has %lld values for %lld "
                       "channels",
                       c->nd->name, i, (long long)c->v[p[i]].n, (long long)C);
    if (r != 4 && r != 2)
        return UNSUP("BatchNormalization node \"%s\": rank %d", c->nd->name, r);
    float eps = attr_f(c->nd, "epsilon", 1e-5f);
    float *sc = malloc((size_t)C * 2 * sizeof(float));
    if (sc == NULL)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
    for (int64_t i = 0; i < C; i++) {
        float s = hv_f(&c->v[p[0]], i) / sqrtf(hv_f(&c->v[p[3]], i) + eps);
        sc[i] = s;
        sc[C + i] = hv_f(&c->v[p[1]], i) - hv_f(&c->v[p[2]], i) * s;
    }
    int in[3];
    in[0] = ox_ir(c, x, r == 4 ? WANT_NHWC : WANT_PLAIN);
    in[1] = in[0] < 0 ? in[0] : rt_graph_const_add(c->g, "bn_scale", 1, &C, sc, c->e);
    in[2] = in[1] < 0 ? in[1] : rt_graph_const_add(c->g, "bn_shift", 1, &C, sc + C, c->e);
    free(sc);
    if (in[2] < 0)
        return in[2];
    return ox_out_ir(c, ir_node(c, RT_OP_BATCHNORM, in, 3, NULL), r == 4);
}

static int op_alias(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    if (!c->v[x].host)
        return ox_out_ir(c, c->v[x].tid, c->v[x].nchw);
    return host_reshape(c, x, c->v[x].ndim, c->v[x].dims);
}

static int op_constant(struct ox_ctx *c)
{
    const struct ox_node *n = c->nd;
    int o = ox_out(c);
    if (o < 0)
        return o;
    const struct ox_attr *a;
    if ((a = ox_attr(n, "value")) != NULL && a->t)
        return ox_tensor_parse(c, a->t, a->tlen, &c->v[o], NULL);
    int64_t one = 1;
    if ((a = ox_attr(n, "value_float")) != NULL) {
        int rc = ox_host_alloc(c, &c->v[o], 0, 0, &one);
        if (rc == 0)
            c->v[o].f[0] = a->f;
        return rc;
    }
    if ((a = ox_attr(n, "value_int")) != NULL) {
        int rc = ox_host_alloc(c, &c->v[o], 1, 0, &one);
        if (rc == 0)
            c->v[o].iv[0] = a->i;
        return rc;
    }
    if ((a = ox_attr(n, "value_ints")) != NULL) {
        int64_t d = a->n_ints;
        int rc = ox_host_alloc(c, &c->v[o], 1, 1, &d);
        if (rc == 0)
            memcpy(c->v[o].iv, a->ints, (size_t)d * sizeof(int64_t));
        return rc;
    }
    if ((a = ox_attr(n, "value_floats")) != NULL) {
        int64_t d = a->n_floats;
        int rc = ox_host_alloc(c, &c->v[o], 0, 1, &d);
        if (rc == 0)
            memcpy(c->v[o].f, a->floats, (size_t)d * sizeof(float));
        return rc;
    }
    return UNSUP("Constant node \"%s\" without a supported value", n->name);
}

static int op_shape(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    int64_t ld[RT_MAX_DIMS];
    int64_t r = ox_shape(c, &c->v[x], ld);
    int o = ox_out(c);
    if (o < 0)
        return o;
    int rc = ox_host_alloc(c, &c->v[o], 1, 1, &r);
    if (rc == 0)
        memcpy(c->v[o].iv, ld, (size_t)r * sizeof(int64_t));
    return rc;
}

static int op_constant_of_shape(struct ox_ctx *c)
{
    int s = ox_in_host(c, 0, 1);
    if (s < 0)
        return s;
    struct ox_val *S = &c->v[s];
    if (S->ndim != 1 || S->n > RT_MAX_DIMS)
        return UNSUP("ConstantOfShape node \"%s\": shape of %lld dims", c->nd->name,
                     (long long)S->n);
    int64_t d[RT_MAX_DIMS];
    for (int i = 0; i < S->n; i++)
        d[i] = hv_i(S, i);
    float val = 0;
    int is_int = 0;
    const struct ox_attr *a = ox_attr(c->nd, "value");
    if (a && a->t) {
        struct ox_val tmp;
        memset(&tmp, 0, sizeof(tmp));
        int rc = ox_tensor_parse(c, a->t, a->tlen, &tmp, NULL);
        if (rc == 0 && tmp.n >= 1) {
            val = hv_f(&tmp, 0);
            is_int = tmp.is_int;
        }
        free(tmp.f);
        free(tmp.iv);
        if (rc < 0)
            return rc;
    }
    int o = ox_out(c);
    if (o < 0)
        return o;
    int rc = ox_host_alloc(c, &c->v[o], is_int, (int)S->n, d);
    if (rc < 0)
        return rc;
    for (int64_t i = 0; i < c->v[o].n; i++) {
        if (is_int)
            c->v[o].iv[i] = (int64_t)val;
        else
            c->v[o].f[i] = val;
    }
    return 0;
}

static int op_gather(struct ox_ctx *c)
{
    int x = ox_in_host(c, 0, 1), ix = ox_in_host(c, 1, 1);
    if (x < 0)
        return x;
    if (ix < 0)
        return ix;
    struct ox_val *X = &c->v[x], *I = &c->v[ix];
    int64_t ax = attr_i(c->nd, "axis", 0);
    if (ax < 0)
        ax += X->ndim;
    if (X->ndim != 1 || ax != 0 || I->ndim > 1)
        return UNSUP("Gather node \"%s\": only 1-D constant gathers", c->nd->name);
    int o = ox_out(c);
    if (o < 0)
        return o;
    int rc = ox_host_alloc(c, &c->v[o], X->is_int, I->ndim, I->dims);
    if (rc < 0)
        return rc;
    X = &c->v[x];
    I = &c->v[ix];
    for (int64_t i = 0; i < I->n; i++) {
        int64_t j = hv_i(I, i);
        if (j < 0)
            j += X->n;
        if (j < 0 || j >= X->n)
            return BAD("Gather node \"%s\": index %lld out of range", c->nd->name, (long long)j);
        if (X->is_int)
            c->v[o].iv[i] = X->iv[j];
        else
            c->v[o].f[i] = X->f[j];
    }
    return 0;
}

static int op_cast(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    int64_t to = attr_i(c->nd, "to", OX_FLOAT);
    if (!c->v[x].host) {
        if (to != OX_FLOAT)
            return UNSUP("Cast node \"%s\" of a tensor to type %lld", c->nd->name, (long long)to);
        return ox_out_ir(c, c->v[x].tid, c->v[x].nchw);
    }
    int is_int = to == OX_INT32 || to == OX_INT64 || to == OX_BOOL;
    int o = ox_out(c);
    if (o < 0)
        return o;
    int rc = ox_host_alloc(c, &c->v[o], is_int, c->v[x].ndim, c->v[x].dims);
    if (rc < 0)
        return rc;
    for (int64_t i = 0; i < c->v[o].n; i++) {
        if (is_int)
            c->v[o].iv[i] = hv_i(&c->v[x], i);
        else
            c->v[o].f[i] = hv_f(&c->v[x], i);
    }
    return 0;
}

static int op_clip(struct ox_ctx *c)
{
    float lo = -INFINITY, hi = INFINITY;
    if (c->opset >= 11) {
        int a = ox_in_host(c, 1, 0), b = ox_in_host(c, 2, 0);
        if (a < -1)
            return a;
        if (b < -1)
            return b;
        if (a >= 0 && c->v[a].n > 0)
            lo = hv_f(&c->v[a], 0);
        if (b >= 0 && c->v[b].n > 0)
            hi = hv_f(&c->v[b], 0);
    } else {
        lo = attr_f(c->nd, "min", -INFINITY);
        hi = attr_f(c->nd, "max", INFINITY);
    }
    if (lo == 0 && hi == 6)
        return op_unary(c, RT_ACT_RELU6, 0, 0);
    if (lo == 0 && isinf(hi))
        return op_unary(c, RT_ACT_RELU, 0, 0);
    return op_unary(c, RT_ACT_CLIP, lo, hi);
}

/* ---- rank-5 views, Slice, ReduceMean, Pow, Resize, ConvTranspose --------- */

/* logical dims of a rank-5 view */
static void v5_dims(const struct ox_val *v, int64_t *d)
{
    for (int i = 0; i < 5; i++)
        d[i] = v->fix_axis == i ? 1 : v->d5[v->p5[i]];
}

/* Reshape of an activation to rank 5: a view, no IR node */
static int ox_v5_reshape(struct ox_ctx *c, int x, const int64_t *t0)
{
    int64_t ld[RT_MAX_DIMS], t[5];
    int r = ox_shape(c, &c->v[x], ld), at = -1;
    int64_t total = dims_prod(r, ld), known = 1;
    for (int i = 0; i < 5; i++) {
        t[i] = t0[i];
        if (t[i] == 0) {
            if (i >= r)
                return BAD("Reshape node \"%s\": copies a missing dim", c->nd->name);
            t[i] = ld[i];
        }
        if (t[i] == -1) {
            if (at >= 0)
                return BAD("Reshape node \"%s\": two -1 dims", c->nd->name);
            at = i;
            continue;
        }
        if (t[i] < 1 || t[i] > RT_MAX_TENSOR_ELEMS || known > RT_MAX_TENSOR_ELEMS / t[i])
            return BAD("Reshape node \"%s\": invalid target dim %lld", c->nd->name,
                       (long long)t[i]);
        known *= t[i];
    }
    if (at >= 0) {
        if (total % known)
            return BAD("Reshape node \"%s\": cannot infer -1", c->nd->name);
        t[at] = total / known;
        known = total;
    }
    if (known != total)
        return BAD("Reshape node \"%s\": %lld elements into %lld", c->nd->name, (long long)total,
                   (long long)known);
    int tx = ox_ir(c, x, WANT_PLAIN);
    if (tx < 0)
        return tx;
    int o = ox_out(c);
    if (o < 0)
        return o;
    struct ox_val *v = &c->v[o];
    v->v5 = 1;
    v->tid5 = tx;
    v->fix_axis = -1;
    for (int i = 0; i < 5; i++) {
        v->d5[i] = t[i];
        v->p5[i] = i;
    }
    return 0;
}

/* the view with logical axis a (fixed, one wide) squeezed away: IR nodes */
static int ox_v5_squeeze(struct ox_ctx *c, int x, int a)
{
    struct ox_val v = c->v[x];
    if (v.fix_axis != a)
        return UNSUP("%s node \"%s\": squeezing a rank-5 value other than at its sliced axis",
                     c->nd->op, c->nd->name);
    int s = v.p5[a];
    int64_t pre = dims_prod(s, v.d5), post = dims_prod(4 - s, v.d5 + s + 1);
    struct rt_attrs at;
    memset(&at, 0, sizeof(at));
    at.ndim = 3;
    at.shape[0] = s > 0 ? -1 : pre; /* -1 keeps the batch free */
    at.shape[1] = v.d5[s];
    at.shape[2] = post;
    int t = ir_node(c, RT_OP_RESHAPE, &v.tid5, 1, &at);
    if (t < 0)
        return t;
    memset(&at, 0, sizeof(at));
    at.ndim = 3;
    at.slice_start[0] = 0;
    at.slice_end[0] = RT_MAX_TENSOR_ELEMS;
    at.slice_start[1] = v.fix_idx;
    at.slice_end[1] = v.fix_idx + 1;
    at.slice_start[2] = 0;
    at.slice_end[2] = RT_MAX_TENSOR_ELEMS;
    if ((t = ir_node(c, RT_OP_SLICE, &t, 1, &at)) < 0)
        return t;
    memset(&at, 0, sizeof(at));
    at.ndim = 4;
    for (int i = 0, j = 0; i < 5; i++)
        if (i != s)
            at.shape[j++] = v.d5[i];
    if (s > 0)
        at.shape[0] = -1;
    if ((t = ir_node(c, RT_OP_RESHAPE, &t, 1, &at)) < 0)
        return t;
    int q[4], ident = 1;
    for (int i = 0, j = 0; i < 5; i++) {
        if (i == a)
            continue;
        q[j] = v.p5[i] - (v.p5[i] > s);
        ident &= q[j] == j;
        j++;
    }
    if (!ident) {
        memset(&at, 0, sizeof(at));
        at.ndim = 4;
        memcpy(at.perm, q, sizeof(q));
        if ((t = ir_node(c, RT_OP_TRANSPOSE, &t, 1, &at)) < 0)
            return t;
    }
    return ox_out_ir(c, t, 0);
}

static int ox_v5_transpose(struct ox_ctx *c, int x)
{
    int64_t p64[5];
    int np = attr_ints(c->nd, "perm", p64, 5), seen = 0;
    if (np != 5)
        return UNSUP("Transpose node \"%s\" of a rank-5 value without a 5-entry perm", c->nd->name);
    struct ox_val v = c->v[x];
    if (v.fix_axis >= 0)
        return UNSUP("Transpose node \"%s\" of a sliced rank-5 value", c->nd->name);
    int o = ox_out(c);
    if (o < 0)
        return o;
    struct ox_val *ov = &c->v[o];
    ov->v5 = 1;
    ov->tid5 = v.tid5;
    ov->fix_axis = -1;
    memcpy(ov->d5, v.d5, sizeof(v.d5));
    for (int i = 0; i < 5; i++) {
        if (p64[i] < 0 || p64[i] > 4 || (seen & (1 << p64[i])))
            return BAD("Transpose node \"%s\": invalid perm", c->nd->name);
        seen |= 1 << p64[i];
        ov->p5[i] = v.p5[p64[i]];
    }
    return 0;
}

/* starts/ends/axes/steps of a Slice (attributes before opset 10, inputs after) */
static int slice_args(struct ox_ctx *c, int64_t *st, int64_t *en, int64_t *ax, int64_t *sp)
{
    int n;
    if (c->opset < 10) {
        n = attr_ints(c->nd, "starts", st, 8);
        if (attr_ints(c->nd, "ends", en, 8) != n || n < 1)
            return BAD("Slice node \"%s\": starts and ends differ in length", c->nd->name);
        int na = attr_ints(c->nd, "axes", ax, 8);
        if (na >= 0 && na != n)
            return BAD("Slice node \"%s\": axes and starts differ in length", c->nd->name);
        for (int i = 0; i < n; i++) {
            if (na < 0)
                ax[i] = i;
            sp[i] = 1;
        }
        return n;
    }
    int k[4];
    for (int i = 0; i < 4; i++)
        if ((k[i] = ox_in_host(c, i + 1, i < 2)) < -1)
            return k[i];
    n = (int)c->v[k[0]].n;
    if (n < 1 || n > 8 || c->v[k[1]].n != n || (k[2] >= 0 && c->v[k[2]].n != n) ||
        (k[3] >= 0 && c->v[k[3]].n != n))
        return BAD("Slice node \"%s\": inconsistent starts/ends/axes/steps", c->nd->name);
    for (int i = 0; i < n; i++) {
        st[i] = hv_i(&c->v[k[0]], i);
        en[i] = hv_i(&c->v[k[1]], i);
        ax[i] = k[2] >= 0 ? hv_i(&c->v[k[2]], i) : i;
        sp[i] = k[3] >= 0 ? hv_i(&c->v[k[3]], i) : 1;
    }
    return n;
}

static int op_slice(struct ox_ctx *c)
{
    c->v5_ok = 1;
    int x = ox_in(c, 0, 1);
    c->v5_ok = 0;
    if (x < 0)
        return x;
    int64_t st[8], en[8], ax[8], sp[8], ld[5], b[5] = {0}, e[5];
    int n = slice_args(c, st, en, ax, sp);
    if (n < 0)
        return n;
    int r;
    if (c->v[x].v5) {
        r = 5;
        v5_dims(&c->v[x], ld);
    } else {
        r = ox_shape(c, &c->v[x], ld);
    }
    for (int i = 0; i < r; i++)
        e[i] = ld[i];
    int touched = 0;
    for (int i = 0; i < n; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + r : ax[i];
        if (a < 0 || a >= r || (touched & (1 << a)))
            return BAD("Slice node \"%s\": invalid axis %lld", c->nd->name, (long long)ax[i]);
        touched |= 1 << a;
        if (sp[i] != 1)
            return UNSUP("Slice node \"%s\": step %lld (only 1)", c->nd->name, (long long)sp[i]);
        int64_t d = ld[a], s0 = st[i], e0 = en[i];
        if (s0 < 0)
            s0 += d;
        if (e0 < 0)
            e0 += d;
        s0 = s0 < 0 ? 0 : (s0 > d ? d : s0);
        e0 = e0 < 0 ? 0 : (e0 > d ? d : e0);
        if (e0 <= s0)
            return UNSUP("Slice node \"%s\": empty result", c->nd->name);
        b[a] = s0;
        e[a] = e0;
    }
    if (c->v[x].v5) {
        struct ox_val v = c->v[x];
        int a = -1;
        for (int i = 0; i < 5; i++) {
            if (b[i] == 0 && e[i] == ld[i])
                continue;
            if (a >= 0 || e[i] - b[i] != 1 || v.fix_axis >= 0)
                return UNSUP("Slice node \"%s\" of a rank-5 value: only one index of one axis",
                             c->nd->name);
            a = i;
        }
        if (a < 0)
            return UNSUP("Slice node \"%s\" of a rank-5 value that keeps it whole", c->nd->name);
        int o = ox_out(c);
        if (o < 0)
            return o;
        struct ox_val *ov = &c->v[o];
        ov->v5 = 1;
        ov->tid5 = v.tid5;
        memcpy(ov->d5, v.d5, sizeof(v.d5));
        memcpy(ov->p5, v.p5, sizeof(v.p5));
        c->v[o].fix_axis = a;
        c->v[o].fix_idx = b[a];
        return 0;
    }
    if (c->v[x].host) {
        struct ox_val *v = &c->v[x];
        int64_t od[RT_MAX_DIMS];
        for (int i = 0; i < r; i++)
            od[i] = e[i] - b[i];
        int o = ox_out(c);
        if (o < 0)
            return o;
        int rc = ox_host_alloc(c, &c->v[o], v->is_int, r, od);
        if (rc < 0)
            return rc;
        v = &c->v[x];
        struct ox_val *ov = &c->v[o];
        int64_t l[4] = {1, 1, 1, 1}, lb[4] = {0, 0, 0, 0}, lo[4] = {1, 1, 1, 1};
        for (int i = 0; i < r; i++) {
            l[4 - r + i] = ld[i];
            lb[4 - r + i] = b[i];
            lo[4 - r + i] = od[i];
        }
        int64_t q = 0;
        for (int64_t i0 = 0; i0 < lo[0]; i0++)
            for (int64_t i1 = 0; i1 < lo[1]; i1++)
                for (int64_t i2 = 0; i2 < lo[2]; i2++)
                    for (int64_t i3 = 0; i3 < lo[3]; i3++, q++) {
                        int64_t s =
                            (((i0 + lb[0]) * l[1] + i1 + lb[1]) * l[2] + i2 + lb[2]) * l[3] + i3 +
                            lb[3];
                        if (v->is_int)
                            ov->iv[q] = v->iv[s];
                        else
                            ov->f[q] = v->f[s];
                    }
        return 0;
    }
    struct ox_val *v = &c->v[x];
    int t = ox_ir(c, x, WANT_ANY);
    if (t < 0)
        return t;
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.ndim = r;
    static const int map[4] = {0, 3, 1, 2};
    for (int i = 0; i < r; i++) {
        int d = v->nchw ? map[i] : i;
        a.slice_start[d] = b[i];
        a.slice_end[d] = e[i];
    }
    return ox_out_ir(c, ir_node(c, RT_OP_SLICE, &t, 1, &a), v->nchw);
}

static int op_reduce_mean(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    if (c->v[x].host)
        return UNSUP("ReduceMean of a constant");
    int64_t axes[RT_MAX_DIMS], ld[RT_MAX_DIMS];
    int na;
    if (c->opset >= 18 && c->nd->n_in > 1) {
        int k = ox_in_host(c, 1, 1);
        if (k < 0)
            return k;
        if (c->v[k].n > RT_MAX_DIMS)
            return UNSUP("ReduceMean node \"%s\": %lld axes", c->nd->name, (long long)c->v[k].n);
        na = (int)c->v[k].n;
        for (int i = 0; i < na; i++)
            axes[i] = hv_i(&c->v[k], i);
    } else {
        na = attr_ints(c->nd, "axes", axes, RT_MAX_DIMS);
    }
    int r = ox_shape(c, &c->v[x], ld);
    if (na != 1)
        return UNSUP("ReduceMean node \"%s\": %d axes (one only)", c->nd->name, na);
    int64_t ax = axes[0] < 0 ? axes[0] + r : axes[0];
    if (ax < 0 || ax >= r)
        return BAD("ReduceMean node \"%s\": axis %lld for rank %d", c->nd->name, (long long)axes[0],
                   r);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.keepdims = attr_i(c->nd, "keepdims", 1) != 0;
    int nchw = c->v[x].nchw && a.keepdims;
    static const int map[4] = {0, 3, 1, 2};
    a.axis = nchw ? map[ax] : (int)ax;
    int t = ox_ir(c, x, nchw ? WANT_ANY : WANT_PLAIN);
    if (t < 0)
        return t;
    return ox_out_ir(c, ir_node(c, RT_OP_REDUCE_MEAN, &t, 1, &a), nchw);
}

/* Pow by a constant scalar 1, 2 or 0.5 (what layer norms written out use) */
static int op_pow(struct ox_ctx *c)
{
    int x = ox_in(c, 0, 1), p = ox_in_host(c, 1, 1);
    if (x < 0)
        return x;
    if (p < 0)
        return p;
    if (c->v[x].host)
        return UNSUP("Pow of a constant");
    if (c->v[p].n != 1)
        return UNSUP("Pow node \"%s\": a non-scalar exponent", c->nd->name);
    float ex = hv_f(&c->v[p], 0);
    int nchw = c->v[x].nchw;
    int t = ox_ir(c, x, WANT_ANY);
    if (t < 0)
        return t;
    if (ex == 1.0f)
        return ox_out_ir(c, t, nchw);
    if (ex == 0.5f)
        return op_unary(c, RT_ACT_SQRT, 0, 0);
    if (ex != 2.0f)
        return UNSUP("Pow node \"%s\": exponent %g (1, 2 or 0.5 only)", c->nd->name, (double)ex);
    int in[2] = {t, t};
    return ox_out_ir(c, ir_node(c, RT_OP_MUL, in, 2, NULL), nchw);
}

/*
 * Resize of an NCHW image, H and W only.  Supported where the IR's resize
 * computes the same source coordinates: nearest with asymmetric/floor or
 * tf_half_pixel_for_nn/floor, linear with asymmetric, half_pixel,
 * pytorch_half_pixel or align_corners; scales must give whole sizes
 * (the IR scales by in/out).
 */
static int op_resize(struct ox_ctx *c)
{
    const struct ox_node *n = c->nd;
    int x = ox_in(c, 0, 1);
    if (x < 0)
        return x;
    if (c->v[x].host)
        return UNSUP("Resize of a constant");
    int ks = c->opset >= 11 ? 2 : 1, kz = c->opset >= 11 ? 3 : -1;
    int sc = ox_in_host(c, ks, 0), sz = kz > 0 ? ox_in_host(c, kz, 0) : -1;
    if (sc < -1)
        return sc;
    if (sz < -1)
        return sz;
    int64_t ld[RT_MAX_DIMS];
    if (ox_shape(c, &c->v[x], ld) != 4)
        return UNSUP("Resize node \"%s\": rank-4 images only", n->name);
    int64_t out[4];
    if (sz >= 0 && c->v[sz].n == 4) {
        for (int i = 0; i < 4; i++)
            out[i] = hv_i(&c->v[sz], i);
    } else if (sc >= 0 && c->v[sc].n == 4) {
        for (int i = 0; i < 4; i++) {
            double s = hv_f(&c->v[sc], i), o = (double)ld[i] * s;
            if (!(s > 0) || o > 65536 || fabs(o - floor(o + 0.5)) > 1e-4)
                return UNSUP("Resize node \"%s\": scale %g does not give a whole size", n->name, s);
            out[i] = (int64_t)floor(o + 0.5);
        }
    } else {
        return UNSUP("Resize node \"%s\": needs 4 constant scales or sizes", n->name);
    }
    if (out[0] != ld[0] || out[1] != ld[1])
        return UNSUP("Resize node \"%s\": resizes batch or channels", n->name);
    if (out[2] < 1 || out[3] < 1 || out[2] > 65536 || out[3] > 65536)
        return BAD("Resize node \"%s\": output %lldx%lld", n->name, (long long)out[2],
                   (long long)out[3]);
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.resize.out_h = (int)out[2];
    a.resize.out_w = (int)out[3];
    const char *ctm = "half_pixel";
    if (c->opset < 11)
        ctm = "asymmetric";
    int nearest = attr_str_is(n, "mode", "nearest", "nearest");
    int linear = attr_str_is(n, "mode", "linear", "nearest");
    if (!nearest && !linear)
        return UNSUP("Resize node \"%s\": mode (nearest or linear only)", n->name);
    int asym = attr_str_is(n, "coordinate_transformation_mode", "asymmetric", ctm);
    int half = attr_str_is(n, "coordinate_transformation_mode", "half_pixel", ctm) ||
               attr_str_is(n, "coordinate_transformation_mode", "pytorch_half_pixel", ctm);
    int align = attr_str_is(n, "coordinate_transformation_mode", "align_corners", ctm);
    int tfnn = attr_str_is(n, "coordinate_transformation_mode", "tf_half_pixel_for_nn", ctm);
    if (nearest) {
        if (c->opset >= 11 && !attr_str_is(n, "nearest_mode", "floor", "round_prefer_floor"))
            return UNSUP("Resize node \"%s\": nearest_mode (floor only)", n->name);
        if (!asym && !tfnn)
            return UNSUP("Resize node \"%s\": nearest with this coordinate mode", n->name);
        a.resize.mode = 0;
        a.resize.half_pixel = tfnn;
    } else {
        if (!asym && !half && !align)
            return UNSUP("Resize node \"%s\": linear with this coordinate mode", n->name);
        a.resize.mode = 1;
        a.resize.half_pixel = half;
        a.resize.align_corners = align;
    }
    int t = ox_ir(c, x, WANT_NHWC);
    if (t < 0)
        return t;
    return ox_out_ir(c, ir_node(c, RT_OP_RESIZE, &t, 1, &a), 1);
}

/*
 * ConvTranspose with kernel == stride, no padding, one group: every input
 * pixel writes its own kh x kw block, so it is a DENSE to kh*kw*Cout
 * channels followed by a depth-to-space (reshape, transpose, reshape).
 * Other forms are refused.
 */
static int op_conv_transpose(struct ox_ctx *c)
{
    const struct ox_node *n = c->nd;
    int x = ox_in(c, 0, 1), w = ox_in_host(c, 1, 1), b = ox_in_host(c, 2, 0);
    if (x < 0)
        return x;
    if (w < 0)
        return w;
    if (b < -1)
        return b;
    if (c->v[x].host)
        return UNSUP("ConvTranspose of a constant");
    int tx = ox_ir(c, x, WANT_NHWC);
    if (tx < 0)
        return tx;
    struct ox_val *W = &c->v[w];
    int64_t H = c->g->tensors[tx].shape[1], Wd = c->g->tensors[tx].shape[2];
    int64_t Cin = c->g->tensors[tx].shape[3];
    if (W->ndim != 4 || W->dims[0] != Cin)
        return BAD("ConvTranspose node \"%s\": weights do not fit %lld input channels", n->name,
                   (long long)Cin);
    int64_t Co = W->dims[1], KH = W->dims[2], KW = W->dims[3];
    int64_t s[2], d[2], op[2], pads[4] = {0, 0, 0, 0};
    if (ox_int2(n, "strides", s, 1) < 0 || ox_int2(n, "dilations", d, 1) < 0 ||
        ox_int2(n, "output_padding", op, 0) < 0)
        return UNSUP("ConvTranspose node \"%s\": non-2-D attributes", n->name);
    int np = attr_ints(n, "pads", pads, 4);
    if (attr_i(n, "group", 1) != 1 || s[0] != KH || s[1] != KW || d[0] != 1 || d[1] != 1 || op[0] ||
        op[1] || (np >= 0 && (pads[0] || pads[1] || pads[2] || pads[3])) ||
        ox_attr(n, "output_shape") || !attr_str_is(n, "auto_pad", "NOTSET", "NOTSET"))
        return UNSUP("ConvTranspose node \"%s\": only kernel == stride, unpadded, one group",
                     n->name);
    if (KH < 1 || KW < 1 || KH > 16 || KW > 16)
        return UNSUP("ConvTranspose node \"%s\": kernel %lldx%lld", n->name, (long long)KH,
                     (long long)KW);
    int64_t N = KH * KW * Co;
    float *wf = malloc((size_t)(Cin * N) * sizeof(float));
    float *bf = malloc((size_t)N * sizeof(float));
    if (wf == NULL || bf == NULL) {
        free(wf);
        free(bf);
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate weights");
    }
    /* W[i, o, kh, kw] -> dense [i, (kh, kw, o)] */
    for (int64_t i = 0; i < Cin; i++)
        for (int64_t o = 0; o < Co; o++)
            for (int64_t h = 0; h < KH; h++)
                for (int64_t ww = 0; ww < KW; ww++)
                    wf[i * N + (h * KW + ww) * Co + o] = hv_f(W, ((i * Co + o) * KH + h) * KW + ww);
    if (b >= 0 && c->v[b].n != Co) {
        free(wf);
        free(bf);
        return BAD("ConvTranspose node \"%s\": bias of %lld values for %lld outputs", n->name,
                   (long long)c->v[b].n, (long long)Co);
    }
    for (int64_t j = 0; j < N; j++)
        bf[j] = b >= 0 ? hv_f(&c->v[b], j % Co) : 0.0f;
    char nm[RT_NAME_LEN];
    ox_name(W, nm, sizeof(nm));
    int64_t wd[2] = {Cin, N};
    int in[3] = {tx, rt_graph_const_add(c->g, nm, 2, wd, wf, c->e), -1};
    free(wf);
    if (in[1] < 0) {
        free(bf);
        return in[1];
    }
    snprintf(nm, sizeof(nm), "%.80s/bias", n->name);
    in[2] = rt_graph_const_add(c->g, nm, 1, &N, bf, c->e);
    free(bf);
    if (in[2] < 0)
        return in[2];
    int t = ir_node(c, RT_OP_DENSE, in, 3, NULL);
    if (t < 0)
        return t;
    /* [N,H,W,(kh,kw,o)] -> [N*H, W, kh, kw*o] -> [N*H, kh, W, kw*o] -> [N, H*kh, W*kw, o] */
    struct rt_attrs a;
    memset(&a, 0, sizeof(a));
    a.ndim = 4;
    a.shape[0] = -1;
    a.shape[1] = Wd;
    a.shape[2] = KH;
    a.shape[3] = KW * Co;
    if ((t = ir_node(c, RT_OP_RESHAPE, &t, 1, &a)) < 0)
        return t;
    static const int swap12[4] = {0, 2, 1, 3};
    if ((t = ir_transpose(c, t, swap12)) < 0)
        return t;
    memset(&a, 0, sizeof(a));
    a.ndim = 4;
    a.shape[0] = -1;
    a.shape[1] = H * KH;
    a.shape[2] = Wd * KW;
    a.shape[3] = Co;
    return ox_out_ir(c, ir_node(c, RT_OP_RESHAPE, &t, 1, &a), 1);
}

static int ox_node_run(struct ox_ctx *c)
{
    const char *op = c->nd->op;
    if (!strcmp(op, "Conv"))
        return op_conv(c);
    if (!strcmp(op, "Relu"))
        return op_unary(c, RT_ACT_RELU, 0, 0);
    if (!strcmp(op, "Sigmoid"))
        return op_unary(c, RT_ACT_SIGMOID, 0, 0);
    if (!strcmp(op, "Tanh"))
        return op_unary(c, RT_ACT_TANH, 0, 0);
    if (!strcmp(op, "LeakyRelu"))
        return op_unary(c, RT_ACT_LEAKY, attr_f(c->nd, "alpha", 0.01f), 0);
    if (!strcmp(op, "Elu"))
        return op_unary(c, RT_ACT_ELU, attr_f(c->nd, "alpha", 1), 0);
    if (!strcmp(op, "HardSigmoid"))
        return op_unary(c, RT_ACT_HARDSIGMOID, attr_f(c->nd, "alpha", 0.2f),
                        attr_f(c->nd, "beta", 0.5f));
    if (!strcmp(op, "HardSwish"))
        return op_unary(c, RT_ACT_HARDSWISH, 0, 0);
    if (!strcmp(op, "Clip"))
        return op_clip(c);
    if (!strcmp(op, "Add"))
        return op_binary(c, RT_OP_ADD);
    if (!strcmp(op, "Sub"))
        return op_binary(c, RT_OP_SUB);
    if (!strcmp(op, "Mul"))
        return op_binary(c, RT_OP_MUL);
    if (!strcmp(op, "Div"))
        return op_binary(c, RT_OP_DIV);
    if (!strcmp(op, "Max"))
        return op_binary(c, RT_OP_MAX);
    if (!strcmp(op, "Min"))
        return op_binary(c, RT_OP_MIN);
    if (!strcmp(op, "MaxPool"))
        return op_pool(c, 1);
    if (!strcmp(op, "AveragePool"))
        return op_pool(c, 0);
    if (!strcmp(op, "GlobalAveragePool"))
        return op_global_avg(c);
    if (!strcmp(op, "Transpose"))
        return op_transpose(c);
    if (!strcmp(op, "Reshape"))
        return op_reshape(c);
    if (!strcmp(op, "Flatten"))
        return op_flatten(c);
    if (!strcmp(op, "Squeeze"))
        return op_squeeze(c, 0);
    if (!strcmp(op, "Unsqueeze"))
        return op_squeeze(c, 1);
    if (!strcmp(op, "Concat"))
        return op_concat(c);
    if (!strcmp(op, "Softmax"))
        return op_softmax(c);
    if (!strcmp(op, "Pad"))
        return op_pad(c);
    if (!strcmp(op, "Gemm"))
        return op_dense(c, 1);
    if (!strcmp(op, "MatMul"))
        return op_dense(c, 0);
    if (!strcmp(op, "BatchNormalization"))
        return op_batchnorm(c);
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout"))
        return op_alias(c);
    if (!strcmp(op, "Constant"))
        return op_constant(c);
    if (!strcmp(op, "Shape"))
        return op_shape(c);
    if (!strcmp(op, "ConstantOfShape"))
        return op_constant_of_shape(c);
    if (!strcmp(op, "Gather"))
        return op_gather(c);
    if (!strcmp(op, "Cast"))
        return op_cast(c);
    if (!strcmp(op, "Slice"))
        return op_slice(c);
    if (!strcmp(op, "ReduceMean"))
        return op_reduce_mean(c);
    if (!strcmp(op, "Pow"))
        return op_pow(c);
    if (!strcmp(op, "Sqrt"))
        return op_unary(c, RT_ACT_SQRT, 0, 0);
    if (!strcmp(op, "Resize") || (!strcmp(op, "Upsample") && c->opset < 11))
        return op_resize(c);
    if (!strcmp(op, "ConvTranspose"))
        return op_conv_transpose(c);
    return UNSUP("unsupported ONNX op %s (node \"%s\")", op, c->nd->name);
}

/* ---- graph -------------------------------------------------------------- */

/* graph input: ValueInfoProto -> IR input (image inputs become NHWC) */
static int ox_input(struct ox_ctx *c, const uint8_t *buf, size_t len)
{
    struct rt_pb r, r2, r3, r4;
    struct rt_pb_field f, f2, f3, f4;
    struct rt_pb_field namef;
    int64_t d[RT_MAX_DIMS];
    int nd = 0, rc, elem = OX_FLOAT, have_type = 0;

    memset(&namef, 0, sizeof(namef));
    rt_pb_init(&r, buf, len);
    while ((rc = rt_pb_next(&r, &f, c->e)) > 0) {
        if (f.wire != RT_PB_WIRE_LEN)
            continue;
        if (f.num == 1)
            namef = f;
        if (f.num != 2)
            continue;
        rt_pb_init(&r2, f.data, f.len); /* TypeProto */
        while ((rc = rt_pb_next(&r2, &f2, c->e)) > 0) {
            if (f2.num != 1 || f2.wire != RT_PB_WIRE_LEN)
                continue;
            have_type = 1;
            rt_pb_init(&r3, f2.data, f2.len); /* TypeProto.Tensor */
            while ((rc = rt_pb_next(&r3, &f3, c->e)) > 0) {
                if (f3.num == 1)
                    elem = (int)f3.v;
                if (f3.num != 2 || f3.wire != RT_PB_WIRE_LEN)
                    continue;
                rt_pb_init(&r4, f3.data, f3.len); /* TensorShapeProto */
                while ((rc = rt_pb_next(&r4, &f4, c->e)) > 0) {
                    if (f4.num != 1 || f4.wire != RT_PB_WIRE_LEN)
                        continue;
                    if (nd >= RT_MAX_DIMS)
                        return UNSUP("graph input of rank > %d", RT_MAX_DIMS);
                    struct rt_pb r5;
                    struct rt_pb_field f5;
                    int64_t val = 0;
                    rt_pb_init(&r5, f4.data, f4.len);
                    while ((rc = rt_pb_next(&r5, &f5, c->e)) > 0)
                        if (f5.num == 1 && f5.wire == RT_PB_WIRE_VARINT)
                            val = (int64_t)f5.v;
                    if (rc < 0)
                        return rc;
                    d[nd++] = val;
                }
                if (rc < 0)
                    return rc;
            }
            if (rc < 0)
                return rc;
        }
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (namef.data == NULL)
        return BAD("graph input without a name");
    if (ox_find(c, namef.data, namef.len) >= 0)
        return 0; /* an initializer listed as input (IR < 4) */
    if (!have_type || elem != OX_FLOAT)
        return UNSUP("graph input \"%.*s\" is not a float tensor",
                     (int)(namef.len > 60 ? 60 : namef.len), (const char *)namef.data);
    int k = ox_define(c, namef.data, namef.len);
    if (k < 0)
        return k;
    char name[RT_NAME_LEN];
    ox_name(&c->v[k], name, sizeof(name));
    int nchw = 0;
    if (nd == 4) {
        /* decide the layout from the channel dim; fill dynamic dims */
        nchw = (d[1] >= 1 && d[1] <= 4) && !(d[3] >= 1 && d[3] <= 4);
        int hi = nchw ? 2 : 1, wi = nchw ? 3 : 2;
        if (d[hi] <= 0)
            d[hi] = c->o.in_h;
        if (d[wi] <= 0)
            d[wi] = c->o.in_w;
    }
    if (nd > 0 && d[0] <= 0)
        d[0] = 1;
    for (int i = 0; i < nd; i++)
        if (d[i] <= 0)
            return UNSUP("graph input \"%s\" has dynamic dim %d and no size was given", name, i);
    int64_t ir[RT_MAX_DIMS];
    memcpy(ir, d, sizeof(ir));
    if (nchw) {
        ir[1] = d[2];
        ir[2] = d[3];
        ir[3] = d[1];
    }
    int t = rt_graph_input_add(c->g, name, nd, ir, c->e);
    if (t < 0)
        return t;
    c->v[k].tid = t;
    c->v[k].nchw = nchw;
    return 0;
}

static int ox_output(struct ox_ctx *c, const uint8_t *buf, size_t len)
{
    struct rt_pb r;
    struct rt_pb_field f;
    int rc;
    rt_pb_init(&r, buf, len);
    while ((rc = rt_pb_next(&r, &f, c->e)) > 0) {
        if (f.num != 1 || f.wire != RT_PB_WIRE_LEN)
            continue;
        int k = ox_find(c, f.data, f.len);
        if (k < 0)
            return BAD("graph output \"%.*s\" is never produced", (int)(f.len > 60 ? 60 : f.len),
                       (const char *)f.data);
        if (c->v[k].v5)
            return UNSUP("graph output \"%.*s\" has rank 5", (int)(f.len > 60 ? 60 : f.len),
                         (const char *)f.data);
        if (c->v[k].host)
            return UNSUP("graph output \"%.*s\" is a constant", (int)(f.len > 60 ? 60 : f.len),
                         (const char *)f.data);
        static const struct ox_node out_node = {.op = "output", .name = "output"};
        c->nd = &out_node;
        int t = ox_ir(c, k, WANT_PLAIN);
        if (t < 0)
            return t;
        return rt_graph_output_add(c->g, t, c->e);
    }
    return rc < 0 ? rc : BAD("graph output without a name");
}

static int ox_graph(struct ox_ctx *c, const uint8_t *buf, size_t len)
{
    struct rt_pb r;
    struct rt_pb_field f;
    int rc, n_nodes = 0;
    struct ox_node *nd = malloc(sizeof(*nd));
    if (nd == NULL)
        return err_set(c->e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");

    /* pass 1: initializers (they may follow the nodes in the file) */
    rt_pb_init(&r, buf, len);
    while ((rc = rt_pb_next(&r, &f, c->e)) > 0) {
        if (f.wire != RT_PB_WIRE_LEN)
            continue;
        if (f.num == 1 && ++n_nodes > RT_MAX_NODES) {
            rc = err_set(c->e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                         "too many nodes (limit %d)", RT_MAX_NODES);
            break;
        }
        if (f.num != 5)
            continue;
        struct ox_val tmp;
        struct rt_pb_field namef;
        memset(&tmp, 0, sizeof(tmp));
        rc = ox_tensor_parse(c, f.data, f.len, &tmp, &namef);
        if (rc == 0 && namef.data == NULL)
            rc = BAD("initializer without a name");
        int k = rc < 0 ? rc : ox_define(c, namef.data, namef.len);
        if (k < 0) {
            free(tmp.f);
            free(tmp.iv);
            rc = k;
            break;
        }
        tmp.name = c->v[k].name;
        tmp.nlen = c->v[k].nlen;
        tmp.next = c->v[k].next;
        tmp.tid = tmp.tid_alt = -1;
        tmp.tid_const[0] = tmp.tid_const[1] = -1;
        c->v[k] = tmp;
    }
    /* pass 2: inputs, pass 3: nodes in order, pass 4: outputs */
    for (int pass = 11; rc >= 0 && pass >= 1; pass = pass == 11 ? 1 : pass == 1 ? 12 : 0) {
        rt_pb_init(&r, buf, len);
        while ((rc = rt_pb_next(&r, &f, c->e)) > 0) {
            if (f.wire != RT_PB_WIRE_LEN || (int)f.num != pass)
                continue;
            if (pass == 11) {
                rc = ox_input(c, f.data, f.len);
            } else if (pass == 1) {
                rc = ox_node_parse(c, f.data, f.len, nd);
                if (rc == 0) {
                    c->nd = nd;
                    rc = ox_node_run(c);
                }
            } else {
                rc = ox_output(c, f.data, f.len);
            }
            if (rc < 0)
                break;
        }
        if (pass == 12)
            break;
    }
    free(nd);
    if (rc < 0)
        return rc;
    if (c->g->n_inputs == 0)
        return BAD("model has no graph input");
    if (c->g->n_outputs == 0)
        return BAD("model has no graph output");
    return 0;
}

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

/*
 * Imports an ONNX model from a borrowed buffer.  Returns 0 with *out a new
 * graph (caller frees with rt_graph_free) or <0 with e set and *out NULL.
 * Thread-safe (no globals).
 */
int rt_import_onnx_mem(const uint8_t *buf, size_t len, const struct rt_import_opts *o,
                       struct rt_graph **out, struct err *e)
{
    struct ox_ctx *c = calloc(1, sizeof(*c));
    struct rt_pb r;
    struct rt_pb_field f;
    const uint8_t *graph = NULL;
    size_t graph_len = 0;
    int rc;

    *out = NULL;
    if (c == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate");
    c->e = e;
    if (o)
        c->o = *o;
    memset(c->buckets, 0xff, sizeof(c->buckets));
    c->opset = 0;
    rt_pb_init(&r, buf, len);
    while ((rc = rt_pb_next(&r, &f, e)) > 0) {
        if (f.num == 7 && f.wire == RT_PB_WIRE_LEN) {
            graph = f.data;
            graph_len = f.len;
        } else if (f.num == 8 && f.wire == RT_PB_WIRE_LEN) {
            struct rt_pb r2;
            struct rt_pb_field f2;
            int64_t ver = 0;
            int dom_default = 1;
            rt_pb_init(&r2, f.data, f.len);
            while ((rc = rt_pb_next(&r2, &f2, e)) > 0) {
                if (f2.num == 1 && f2.wire == RT_PB_WIRE_LEN && f2.len &&
                    !(f2.len == 7 && memcmp(f2.data, "ai.onnx", 7) == 0))
                    dom_default = 0;
                if (f2.num == 2 && f2.wire == RT_PB_WIRE_VARINT)
                    ver = (int64_t)f2.v;
            }
            if (rc < 0)
                break;
            if (dom_default)
                c->opset = (int)(ver > 1000 ? 1000 : ver);
        }
    }
    if (rc >= 0 && graph == NULL)
        rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                     "invalid ONNX model: no graph");
    if (rc >= 0 && (c->opset < 9 || c->opset > 13))
        rc = err_set(e, RT_UNSUPPORTED, ERR_UNPROCESSABLE, "unsupported_model",
                     "unsupported ONNX opset %d (supported: 9..13)", c->opset);
    if (rc >= 0) {
        c->g = rt_graph_init();
        rc = ox_graph(c, graph, graph_len);
    }
    for (int i = 0; i < c->nv; i++) {
        free(c->v[i].f);
        free(c->v[i].iv);
    }
    free(c->v);
    if (rc < 0) {
        rt_graph_free(c->g);
        free(c);
        return import_status(rc, e);
    }
    *out = c->g;
    free(c);
    return 0;
}

int rt_import_onnx(const char *path, const struct rt_import_opts *o, struct rt_graph **out,
                   struct err *e)
{
    uint8_t *buf;
    size_t len;
    int rc = rt_import_file_read(path, RT_IMPORT_MAX_FILE, &buf, &len, e);
    *out = NULL;
    if (rc < 0)
        return rc;
    rc = rt_import_onnx_mem(buf, len, o, out, e);
    free(buf);
    return rc;
}
