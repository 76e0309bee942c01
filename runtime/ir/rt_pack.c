/*
 * rt_pack.c: the packed model file: one mmap-able file holding a graph
 * after the passes (IR + weights as quantised), so a model loads in
 * milliseconds without re-importing tfjs/ONNX.
 *
 * Layout (little-endian, version 1):
 *   header   64 bytes: magic "VKVPACK\0", u32 version, u32 header bytes,
 *            u32 n_inputs, n_consts, n_nodes, n_outputs, u64 table offset,
 *            u64 table bytes, u64 data offset, u64 data bytes
 *   table    n_inputs input records, n_consts constant records, n_nodes
 *            node records, n_outputs u32 output references (fixed sizes)
 *   data     constant payloads, each 64-byte aligned: f32, f16, or int8
 *            followed by f32 per-output-channel scales
 * References inside the file are "value numbers": inputs first, then
 * constants, then node outputs in node order.  Loading rebuilds the graph
 * through rt_graph_input_add / const_add / node_add, so every shape, id
 * and attribute is validated again by the same code as an importer's
 * output; every offset and size is bounds- and overflow-checked before use.
 * See runtime/README.md "Packed files".
 */
#include "runtime/rt.h"
#include "runtime/ir/rt_ir.h"
#include "common/cm.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACK_MAGIC "VKVPACK"
#define PACK_VERSION 1u
#define HDR_BYTES 64u
#define IN_REC (RT_NAME_LEN + 4 + 8 * 4)                /* name, ndim, shape */
#define CONST_REC (RT_NAME_LEN + 4 + 4 + 8 * 4 + 8 + 8) /* + qtype, off, bytes */
#define ATTR_WORDS 64
#define NODE_REC (RT_NAME_LEN * 2 + 4 + 4 + 4 * RT_MAX_INPUTS + 4 * ATTR_WORDS)
#define PACK_MAX_FILE (4ull << 30)

/* ---- attrs <-> fixed words (explicit order; independent of struct layout) */

struct words {
    uint32_t w[ATTR_WORDS];
    int n;
};

static void wi(struct words *s, int32_t v)
{
    CM_ASSERT(s->n < ATTR_WORDS);
    memcpy(&s->w[s->n++], &v, 4);
}

static void wf(struct words *s, float v)
{
    CM_ASSERT(s->n < ATTR_WORDS);
    memcpy(&s->w[s->n++], &v, 4);
}

static int32_t ri(struct words *s)
{
    int32_t v;
    memcpy(&v, &s->w[s->n++], 4);
    return v;
}

static float rf(struct words *s)
{
    float v;
    memcpy(&v, &s->w[s->n++], 4);
    return v;
}

/* one list drives both directions: W(x) for ints, F(x) for floats */
#define ATTR_FIELDS(W, F, a)                                                                       \
    W((a)->act);                                                                                   \
    F((a)->alpha);                                                                                 \
    F((a)->beta);                                                                                  \
    W((a)->conv.stride_h);                                                                         \
    W((a)->conv.stride_w);                                                                         \
    W((a)->conv.dil_h);                                                                            \
    W((a)->conv.dil_w);                                                                            \
    W((a)->conv.pad_t);                                                                            \
    W((a)->conv.pad_l);                                                                            \
    W((a)->conv.pad_b);                                                                            \
    W((a)->conv.pad_r);                                                                            \
    W((a)->conv.groups);                                                                           \
    W((a)->pool.kh);                                                                               \
    W((a)->pool.kw);                                                                               \
    W((a)->pool.stride_h);                                                                         \
    W((a)->pool.stride_w);                                                                         \
    W((a)->pool.pad_t);                                                                            \
    W((a)->pool.pad_l);                                                                            \
    W((a)->pool.pad_b);                                                                            \
    W((a)->pool.pad_r);                                                                            \
    W((a)->pool.count_pad);                                                                        \
    W((a)->resize.out_h);                                                                          \
    W((a)->resize.out_w);                                                                          \
    W((a)->resize.mode);                                                                           \
    W((a)->resize.align_corners);                                                                  \
    W((a)->resize.half_pixel);                                                                     \
    W((a)->axis);                                                                                  \
    W((a)->keepdims);                                                                              \
    W((a)->ndim);                                                                                  \
    F((a)->pad_value);                                                                             \
    for (int i_ = 0; i_ < RT_MAX_DIMS; i_++) {                                                     \
        W((a)->perm[i_]);                                                                          \
        W((a)->pad_before[i_]);                                                                    \
        W((a)->pad_after[i_]);                                                                     \
        W((a)->shape[i_]);                                                                         \
        W((a)->slice_start[i_]);                                                                   \
        W((a)->slice_end[i_]);                                                                     \
    }

static void attrs_put(const struct rt_attrs *a, uint32_t *out)
{
    struct words s = {{0}, 0};
#define PW(x) wi(&s, (int32_t)(x))
#define PF(x) wf(&s, (x))
    ATTR_FIELDS(PW, PF, a)
#undef PW
#undef PF
    memcpy(out, s.w, sizeof(s.w));
}

static void attrs_get(const uint32_t *in, struct rt_attrs *a)
{
    struct words s;
    memcpy(s.w, in, sizeof(s.w));
    s.n = 0;
    memset(a, 0, sizeof(*a));
#define GW(x) ((x) = ri(&s))
#define GF(x) ((x) = rf(&s))
    ATTR_FIELDS(GW, GF, a)
#undef GW
#undef GF
}

/* ---- writing ------------------------------------------------------------ */

struct buf {
    uint8_t *p;
    size_t n, cap;
    int oom;
};

static void put(struct buf *b, const void *d, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (d != NULL)
        memcpy(b->p + b->n, d, n);
    else
        memset(b->p + b->n, 0, n);
    b->n += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
    put(b, &v, 4);
}
static void put_u64(struct buf *b, uint64_t v)
{
    put(b, &v, 8);
}

static void put_name(struct buf *b, const char *s)
{
    char n[RT_NAME_LEN];
    memset(n, 0, sizeof(n));
    snprintf(n, sizeof(n), "%s", s);
    put(b, n, sizeof(n));
}

static void put_shape(struct buf *b, const struct rt_tensor *t)
{
    put_u32(b, (uint32_t)t->ndim);
    for (int i = 0; i < RT_MAX_DIMS; i++)
        put_u64(b, i < t->ndim ? (uint64_t)t->shape[i] : 0);
}

static uint64_t qbytes(int64_t n, int64_t cout, enum rt_dtype q)
{
    if (q == RT_DTYPE_F16)
        return (uint64_t)n * 2;
    if (q == RT_DTYPE_I8)
        return (uint64_t)n + (uint64_t)cout * 4;
    return (uint64_t)n * 4;
}

/* saves g to path; see rt.h */
int rt_pack_save(const struct rt_graph *g, const char *path, struct err *e)
{
    int nt = g->n_tensors;
    int *vn = malloc(((size_t)nt + 1) * sizeof(int)), *used = calloc((size_t)nt + 1, sizeof(int));
    struct buf tab = {0}, dat = {0};
    int rc = 0, n_const = 0, next = 0;
    if (vn == NULL || used == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                     "could not allocate pack tables");
        goto out;
    }
    for (int t = 0; t < nt; t++)
        vn[t] = -1;
    for (int k = 0; k < g->n_nodes; k++)
        for (int i = 0; i < g->nodes[k].n_in; i++)
            used[g->nodes[k].in[i]] = 1;
    for (int i = 0; i < g->n_outputs; i++)
        used[g->outputs[i]] = 1;
    for (int i = 0; i < g->n_inputs; i++) {
        const struct rt_tensor *t = &g->tensors[g->inputs[i]];
        vn[g->inputs[i]] = next++;
        put_name(&tab, t->name);
        put_shape(&tab, t);
    }
    for (int t = 0; t < nt; t++) {
        const struct rt_tensor *T = &g->tensors[t];
        if (!T->is_const || !used[t] || T->data == NULL)
            continue;
        vn[t] = next++;
        n_const++;
        while (dat.n % 64)
            put(&dat, NULL, 1);
        int64_t n = rt_tensor_nelem(T), cout = T->ndim ? T->shape[T->ndim - 1] : 1;
        uint64_t off = dat.n;
        if (T->qtype == RT_DTYPE_F16) {
            for (int64_t i = 0; i < n; i++) {
                uint16_t h = rt_f32_to_f16(T->data[i]);
                put(&dat, &h, 2);
            }
        } else if (T->qtype == RT_DTYPE_I8) {
            float *sc = malloc((size_t)cout * sizeof(float));
            if (sc == NULL) {
                rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not pack %s",
                             T->name);
                goto out;
            }
            rt_quant_scales(T->data, n, cout, sc);
            for (int64_t i = 0; i < n; i++) {
                float v = T->data[i] / sc[i % cout];
                v = v < -127 ? -127 : (v > 127 ? 127 : v);
                int8_t q = (int8_t)lrintf(v);
                put(&dat, &q, 1);
            }
            put(&dat, sc, (size_t)cout * 4);
            free(sc);
        } else {
            put(&dat, T->data, (size_t)n * 4);
        }
        put_name(&tab, T->name);
        put_u32(&tab, (uint32_t)T->qtype);
        put_shape(&tab, T);
        put_u64(&tab, off);
        put_u64(&tab, qbytes(n, cout, T->qtype));
    }
    for (int k = 0; k < g->n_nodes; k++) {
        const struct rt_node *nd = &g->nodes[k];
        put_name(&tab, nd->name);
        put_name(&tab, g->tensors[nd->out].name);
        put_u32(&tab, (uint32_t)nd->op);
        put_u32(&tab, (uint32_t)nd->n_in);
        for (int i = 0; i < RT_MAX_INPUTS; i++) {
            int v = i < nd->n_in ? vn[nd->in[i]] : -1;
            if (i < nd->n_in && v < 0) {
                rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                             "node %s reads a tensor that is not packed", nd->name);
                goto out;
            }
            put_u32(&tab, (uint32_t)v);
        }
        uint32_t aw[ATTR_WORDS];
        attrs_put(&nd->a, aw);
        put(&tab, aw, sizeof(aw));
        vn[nd->out] = next++;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        if (vn[g->outputs[i]] < 0) {
            rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", "output %d is not packed",
                         i);
            goto out;
        }
        put_u32(&tab, (uint32_t)vn[g->outputs[i]]);
    }
    if (tab.oom || dat.oom) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not build pack");
        goto out;
    }
    uint8_t hdr[HDR_BYTES];
    memset(hdr, 0, sizeof(hdr));
    uint64_t tab_off = HDR_BYTES, dat_off = (HDR_BYTES + tab.n + 63) / 64 * 64;
    uint32_t h32[6] = {PACK_VERSION,          HDR_BYTES,
                       (uint32_t)g->n_inputs, (uint32_t)n_const,
                       (uint32_t)g->n_nodes,  (uint32_t)g->n_outputs};
    uint64_t h64[4] = {tab_off, tab.n, dat_off, dat.n};
    memcpy(hdr, PACK_MAGIC, 8);
    memcpy(hdr + 8, h32, sizeof(h32));
    memcpy(hdr + 32, h64, sizeof(h64));
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        rc = err_set(e, RT_ERR_IO, ERR_INTERNAL, "io_error", "could not create \"%s\": %s", tmp,
                     strerror(errno));
        goto out;
    }
    static const uint8_t zero[64];
    int ok = fwrite(hdr, 1, sizeof(hdr), f) == sizeof(hdr);
    ok &= fwrite(tab.p, 1, tab.n, f) == tab.n;
    ok &= fwrite(zero, 1, dat_off - HDR_BYTES - tab.n, f) == dat_off - HDR_BYTES - tab.n;
    ok &= dat.n == 0 || fwrite(dat.p, 1, dat.n, f) == dat.n;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        rc = err_set(e, RT_ERR_IO, ERR_INTERNAL, "io_error", "could not write \"%s\": %s", path,
                     strerror(errno));
        remove(tmp);
    }
out:
    free(vn);
    free(used);
    free(tab.p);
    free(dat.p);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

struct cur {
    const uint8_t *p;
    size_t n, at;
};

static int take(struct cur *c, void *out, size_t n)
{
    if (c->at > c->n || n > c->n - c->at)
        return -1;
    memcpy(out, c->p + c->at, n);
    c->at += n;
    return 0;
}

#define BADF(...) err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", __VA_ARGS__)

static int take_name(struct cur *c, char *name)
{
    if (take(c, name, RT_NAME_LEN) < 0)
        return -1;
    name[RT_NAME_LEN - 1] = '\0';
    return 0;
}

static int take_shape(struct cur *c, int *ndim, int64_t *shape, struct err *e)
{
    uint32_t nd;
    uint64_t s[4];
    if (take(c, &nd, 4) < 0 || take(c, s, sizeof(s)) < 0)
        return BADF("truncated pack table");
    if (nd > RT_MAX_DIMS)
        return BADF("invalid rank in pack: %u", nd);
    *ndim = (int)nd;
    for (int i = 0; i < 4; i++) {
        if (s[i] > (uint64_t)RT_MAX_TENSOR_ELEMS)
            return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                           "dim %d of %llu over the limit", i, (unsigned long long)s[i]);
        shape[i] = (int64_t)s[i];
    }
    return 0;
}

/* loads a pack from memory; see rt.h */
int rt_pack_load_mem(const void *data, size_t len, struct rt_graph **out, struct err *e)
{
    *out = NULL;
    const uint8_t *p = data;
    if (len < HDR_BYTES || memcmp(p, PACK_MAGIC, 8) != 0)
        return BADF("not a vkvision pack file (bad magic or %zu bytes)", len);
    uint32_t h32[6];
    uint64_t h64[4];
    memcpy(h32, p + 8, sizeof(h32));
    memcpy(h64, p + 32, sizeof(h64));
    if (h32[0] != PACK_VERSION)
        return BADF("unsupported pack version %u (expected %u)", h32[0], PACK_VERSION);
    if (h32[1] != HDR_BYTES)
        return BADF("invalid pack header size %u", h32[1]);
    uint32_t n_in = h32[2], n_const = h32[3], n_nodes = h32[4], n_out = h32[5];
    if (n_in < 1 || n_in > 8 || n_out < 1 || n_out > 16 || n_nodes > RT_MAX_NODES ||
        n_const > RT_MAX_TENSORS || n_const + n_nodes + n_in > RT_MAX_TENSORS)
        return BADF("invalid pack counts: %u inputs, %u constants, %u nodes, %u outputs", n_in,
                    n_const, n_nodes, n_out);
    uint64_t tab_off = h64[0], tab_n = h64[1], dat_off = h64[2], dat_n = h64[3];
    uint64_t want_tab = (uint64_t)n_in * IN_REC + (uint64_t)n_const * CONST_REC +
                        (uint64_t)n_nodes * NODE_REC + (uint64_t)n_out * 4;
    if (tab_off != HDR_BYTES || tab_n != want_tab || tab_n > len - tab_off)
        return BADF("invalid pack table (offset %llu, %llu bytes, file %zu)",
                    (unsigned long long)tab_off, (unsigned long long)tab_n, len);
    if (dat_off < tab_off + tab_n || dat_off > len || dat_n > len - dat_off)
        return BADF("invalid pack data section (offset %llu, %llu bytes, file %zu)",
                    (unsigned long long)dat_off, (unsigned long long)dat_n, len);
    struct cur c = {p + tab_off, (size_t)tab_n, 0};
    const uint8_t *dat = p + dat_off;
    uint32_t n_vals = n_in + n_const + n_nodes;
    int *id = malloc((size_t)n_vals * sizeof(int));
    struct rt_graph *g = rt_graph_init();
    float *tmp = NULL;
    int rc = 0;
    uint32_t v = 0;
    if (id == NULL) {
        rc =
            err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not allocate pack ids");
        goto fail;
    }
    for (uint32_t i = 0; i < n_in; i++, v++) {
        char name[RT_NAME_LEN];
        int nd;
        int64_t s[4];
        if (take_name(&c, name) < 0) {
            rc = BADF("truncated pack table");
            goto fail;
        }
        if ((rc = take_shape(&c, &nd, s, e)) < 0)
            goto fail;
        if ((rc = id[v] = rt_graph_input_add(g, name, nd, s, e)) < 0)
            goto fail;
    }
    for (uint32_t i = 0; i < n_const; i++, v++) {
        char name[RT_NAME_LEN];
        uint32_t q;
        int nd;
        int64_t s[4];
        uint64_t off, nb;
        if (take_name(&c, name) < 0 || take(&c, &q, 4) < 0) {
            rc = BADF("truncated pack table");
            goto fail;
        }
        if ((rc = take_shape(&c, &nd, s, e)) < 0)
            goto fail;
        if (take(&c, &off, 8) < 0 || take(&c, &nb, 8) < 0) {
            rc = BADF("truncated pack table");
            goto fail;
        }
        if (q != RT_DTYPE_F32 && q != RT_DTYPE_F16 && q != RT_DTYPE_I8) {
            rc = BADF("constant %s: invalid storage type %u", name, q);
            goto fail;
        }
        /* the element count, overflow-checked against the limit, before any use */
        int64_t n = 1;
        for (int d = 0; d < nd; d++) {
            if (s[d] < 1 || n > RT_MAX_TENSOR_ELEMS / s[d]) {
                rc = err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "model_too_large",
                             "constant %s: invalid or too large shape", name);
                goto fail;
            }
            n *= s[d];
        }
        int64_t cout = nd ? s[nd - 1] : 1;
        if (nb != qbytes(n, cout, (enum rt_dtype)q) || off > dat_n || nb > dat_n - off ||
            (off % 64) != 0) {
            rc = BADF("constant %s: data (offset %llu, %llu bytes) out of range or wrong size",
                      name, (unsigned long long)off, (unsigned long long)nb);
            goto fail;
        }
        tmp = malloc((size_t)n * sizeof(float));
        if (tmp == NULL) {
            rc =
                err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not load %s", name);
            goto fail;
        }
        const uint8_t *src = dat + off;
        if (q == RT_DTYPE_F16) {
            for (int64_t j = 0; j < n; j++) {
                uint16_t h;
                memcpy(&h, src + 2 * j, 2);
                tmp[j] = rt_f16_to_f32(h);
            }
        } else if (q == RT_DTYPE_I8) {
            float *sc = malloc((size_t)cout * sizeof(float));
            if (sc == NULL) {
                rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "could not load %s",
                             name);
                goto fail;
            }
            memcpy(sc, src + n, (size_t)cout * 4);
            for (int64_t j = 0, ch = 0; j < n; j++) {
                tmp[j] = (float)(int8_t)src[j] * sc[ch];
                if (++ch == cout)
                    ch = 0;
            }
            free(sc);
        } else {
            memcpy(tmp, src, (size_t)n * 4);
        }
        int finite = 1;
        for (int64_t j = 0; j < n; j++)
            finite &= isfinite(tmp[j]) != 0;
        if (!finite) {
            rc = BADF("constant %s has a non-finite value", name);
            goto fail;
        }
        id[v] = rt_graph_const_adopt(g, name, nd, s, tmp, e);
        tmp = NULL; /* owned by the graph (or freed) now */
        if ((rc = id[v]) < 0)
            goto fail;
        g->tensors[id[v]].qtype = (enum rt_dtype)q;
    }
    for (uint32_t k = 0; k < n_nodes; k++, v++) {
        char name[RT_NAME_LEN], tname[RT_NAME_LEN];
        uint32_t op, n_in_node, ins[RT_MAX_INPUTS], aw[ATTR_WORDS];
        if (take_name(&c, name) < 0 || take_name(&c, tname) < 0 || take(&c, &op, 4) < 0 ||
            take(&c, &n_in_node, 4) < 0 || take(&c, ins, sizeof(ins)) < 0 ||
            take(&c, aw, sizeof(aw)) < 0) {
            rc = BADF("truncated pack table");
            goto fail;
        }
        if (n_in_node < 1 || n_in_node > RT_MAX_INPUTS || op >= RT_OP_COUNT) {
            rc = BADF("node %u: invalid op %u or input count %u", k, op, n_in_node);
            goto fail;
        }
        int in[RT_MAX_INPUTS];
        for (uint32_t i = 0; i < n_in_node; i++) {
            if (ins[i] >= v) { /* only values defined earlier: no cycles */
                rc = BADF("node %u: input %u refers to value %u not yet defined", k, i, ins[i]);
                goto fail;
            }
            in[i] = id[ins[i]];
        }
        struct rt_attrs a;
        attrs_get(aw, &a);
        if ((rc = id[v] = rt_graph_node_add(g, (enum rt_op)op, in, (int)n_in_node, &a, name, e)) <
            0)
            goto fail;
        snprintf(g->tensors[id[v]].name, RT_NAME_LEN, "%s", tname);
    }
    for (uint32_t i = 0; i < n_out; i++) {
        uint32_t o;
        if (take(&c, &o, 4) < 0 || o >= n_vals) {
            rc = BADF("invalid pack output %u", i);
            goto fail;
        }
        if ((rc = rt_graph_output_add(g, id[o], e)) < 0)
            goto fail;
    }
    free(id);
    free(tmp);
    *out = g;
    return 0;
fail:
    free(id);
    free(tmp);
    rt_graph_free(g);
    return rc < 0 ? rc : RT_ERR_INVALID;
}

/* maps path and loads it; see rt.h */
int rt_pack_load(const char *path, struct rt_graph **out, struct err *e)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, RT_ERR_IO, ERR_NOT_FOUND, "model_not_found", "could not open \"%s\": %s",
                       path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)HDR_BYTES ||
        (uint64_t)st.st_size > PACK_MAX_FILE) {
        close(fd);
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "invalid pack file \"%s\" (size %lld)", path, (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return err_set(e, RT_ERR_IO, ERR_INTERNAL, "io_error", "could not map \"%s\": %s", path,
                       strerror(errno));
    int rc = rt_pack_load_mem(m, (size_t)st.st_size, out, e);
    munmap(m, (size_t)st.st_size);
    return rc;
}
