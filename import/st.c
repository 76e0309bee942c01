/*
 * st.c: safetensors reader (st.h).  The header is parsed with jansson
 * (duplicate keys rejected) and checked completely before st_open returns,
 * so the converters can trust every offset.
 */
#include "import/st.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cm.h"

struct st_meta_kv {
    char *key, *val;
};

struct st_file {
    const uint8_t *base; /* whole file */
    size_t size;
    int mapped;          /* 1: base is our mmap */
    const uint8_t *data; /* byte buffer after the header */
    uint64_t data_size;
    struct st_tensor *t; /* ascending begin */
    size_t n;
    size_t *by_name; /* indices of t sorted by name */
    char *names;     /* all names, NUL separated */
    struct st_meta_kv *meta;
    size_t nmeta;
};

static const char *const dtype_names[] = {"F32", "F16", "BF16"};

const char *st_dtype_name(enum st_dtype d)
{
    return dtype_names[d];
}

size_t st_dtype_size(enum st_dtype d)
{
    return d == ST_F32 ? 4 : 2;
}

static int fmt_err(struct err *e, const char *fmt, const char *a, const char *b)
{
    return err_set(e, ST_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_safetensors", fmt, a, b);
}

static int cmp_begin(const void *a, const void *b)
{
    const struct st_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static const struct st_file *sort_file; /* qsort has no context argument */
static int cmp_name(const void *a, const void *b)
{
    return strcmp(sort_file->t[*(const size_t *)a].name, sort_file->t[*(const size_t *)b].name);
}

/* one tensor entry; names are copied into f->names by the caller */
static int parse_entry(struct st_tensor *t, const char *name, json_t *v,
                       const struct st_limits *lim, struct err *e)
{
    if (!json_is_object(v))
        return fmt_err(e, "invalid safetensors header: tensor \"%s\" is not an object%s", name, "");
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) ||
        json_array_size(off) != 2)
        return fmt_err(e,
                       "invalid safetensors header: tensor \"%s\" needs dtype, shape and "
                       "data_offsets [begin, end]%s",
                       name, "");
    const char *ds = json_string_value(dt);
    if (strcmp(ds, "F32") == 0)
        t->dtype = ST_F32;
    else if (strcmp(ds, "F16") == 0)
        t->dtype = ST_F16;
    else if (strcmp(ds, "BF16") == 0)
        t->dtype = ST_BF16;
    else
        return err_set(
            e, ST_ERR_DTYPE, ERR_UNPROCESSABLE, "unsupported_dtype",
            "cannot load tensor \"%.100s\": dtype \"%.20s\" is not supported (BF16, F16, "
            "F32 are)",
            name, ds);
    size_t rank = json_array_size(sh);
    if (rank > (size_t)lim->max_rank)
        return err_set(e, ST_ERR_LIMIT, ERR_TOO_LARGE, "tensor_too_large",
                       "tensor \"%.100s\" has rank %zu, more than %d", name, rank, lim->max_rank);
    t->rank = (int)rank;
    uint64_t n = 1;
    for (size_t i = 0; i < rank; i++) {
        json_t *d = json_array_get(sh, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return fmt_err(e,
                           "invalid safetensors header: tensor \"%s\" has a shape that is not "
                           "non-negative integers%s",
                           name, "");
        uint64_t dim = (uint64_t)json_integer_value(d);
        if (dim > lim->max_elems || (dim > 0 && n > lim->max_elems / dim))
            return err_set(e, ST_ERR_LIMIT, ERR_TOO_LARGE, "tensor_too_large",
                           "tensor \"%.100s\" has more than %llu elements", name,
                           (unsigned long long)lim->max_elems);
        t->shape[i] = dim;
        n *= dim;
    }
    t->nelem = n;
    t->rows = rank == 0 ? 1 : t->shape[0];
    t->cols = t->rows == 0 ? 0 : n / t->rows;
    if (rank == 1) {
        t->rows = 1;
        t->cols = n;
    }
    json_t *b = json_array_get(off, 0), *en = json_array_get(off, 1);
    if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 ||
        json_integer_value(en) < json_integer_value(b))
        return fmt_err(e,
                       "invalid safetensors header: tensor \"%s\" has data_offsets that are "
                       "not 0 <= begin <= end%s",
                       name, "");
    t->begin = (uint64_t)json_integer_value(b);
    t->end = (uint64_t)json_integer_value(en);
    if (t->end - t->begin != n * st_dtype_size(t->dtype))
        return err_set(e, ST_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_safetensors",
                       "invalid safetensors header: tensor \"%.100s\" is %s with %llu elements "
                       "(%llu bytes) but data_offsets span %llu bytes",
                       name, st_dtype_name(t->dtype), (unsigned long long)n,
                       (unsigned long long)(n * st_dtype_size(t->dtype)),
                       (unsigned long long)(t->end - t->begin));
    return 0;
}

static int parse_meta(struct st_file *f, json_t *v, struct err *e)
{
    if (!json_is_object(v))
        return fmt_err(e, "invalid safetensors header: __metadata__ is not an object%s%s", "", "");
    f->meta = cm_xcalloc(json_object_size(v) + 1, sizeof *f->meta);
    const char *k;
    json_t *s;
    json_object_foreach(v, k, s)
    {
        if (!json_is_string(s))
            return fmt_err(e, "invalid safetensors header: __metadata__ \"%s\" is not a string%s",
                           k, "");
        f->meta[f->nmeta].key = cm_xstrdup(k);
        f->meta[f->nmeta].val = cm_xstrdup(json_string_value(s));
        f->nmeta++;
    }
    return 0;
}

static int parse(struct st_file *f, const struct st_limits *lim, struct err *e)
{
    if (f->size < 8)
        return err_set(e, ST_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_safetensors",
                       "invalid safetensors file: %zu bytes, shorter than the 8-byte header length",
                       f->size);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = hn << 8 | f->base[i];
    if (hn > lim->max_header)
        return err_set(e, ST_ERR_LIMIT, ERR_TOO_LARGE, "header_too_large",
                       "safetensors header of %llu bytes exceeds the limit of %llu",
                       (unsigned long long)hn, (unsigned long long)lim->max_header);
    if (hn > f->size - 8)
        return err_set(e, ST_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_safetensors",
                       "invalid safetensors file: header of %llu bytes runs past the end of the "
                       "%zu-byte file",
                       (unsigned long long)hn, f->size);
    if (hn < 2 || f->base[8] != '{')
        return fmt_err(e, "invalid safetensors header: does not start with '{'%s%s", "", "");
    f->data = f->base + 8 + hn;
    f->data_size = f->size - 8 - hn;

    json_error_t je;
    json_t *root = json_loadb((const char *)f->base + 8, (size_t)hn, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(e, ST_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_safetensors",
                       "invalid safetensors header: bad JSON at byte %d: %s", je.position, je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = fmt_err(e, "invalid safetensors header: not a JSON object%s%s", "", "");
        goto out;
    }
    size_t cnt = json_object_size(root);
    json_t *meta = json_object_get(root, "__metadata__");
    if (meta)
        cnt--;
    if (cnt > lim->max_tensors) {
        rc = err_set(e, ST_ERR_LIMIT, ERR_TOO_LARGE, "too_many_tensors",
                     "safetensors file has %zu tensors, more than %llu", cnt,
                     (unsigned long long)lim->max_tensors);
        goto out;
    }
    if (meta && (rc = parse_meta(f, meta, e)) < 0)
        goto out;
    f->t = cm_xcalloc(cnt + 1, sizeof *f->t);
    size_t names_len = 0;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) names_len += strlen(k) + 1;
    f->names = cm_xmalloc(names_len + 1);
    char *np = f->names;
    json_object_foreach(root, k, v)
    {
        if (v == meta)
            continue;
        struct st_tensor *t = &f->t[f->n];
        if ((rc = parse_entry(t, k, v, lim, e)) < 0)
            goto out;
        size_t l = strlen(k) + 1;
        memcpy(np, k, l);
        t->name = np;
        np += l;
        f->n++;
    }
    qsort(f->t, f->n, sizeof *f->t, cmp_begin);
    /* the buffer is indexed entirely: no gap, no overlap, nothing after */
    uint64_t at = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct st_tensor *t = &f->t[i];
        if (t->begin != at) {
            rc = err_set(e, ST_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_safetensors",
                         "invalid safetensors header: tensor \"%.100s\" starts at byte %llu, "
                         "expected %llu (tensors %s)",
                         t->name, (unsigned long long)t->begin, (unsigned long long)at,
                         t->begin < at ? "overlap" : "leave a hole");
            goto out;
        }
        at = t->end;
    }
    if (at != f->data_size) {
        rc = err_set(e, ST_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_safetensors",
                     "invalid safetensors file: tensors span %llu bytes but the data buffer is "
                     "%llu bytes (%s)",
                     (unsigned long long)at, (unsigned long long)f->data_size,
                     at > f->data_size ? "truncated" : "trailing bytes");
        goto out;
    }
    f->by_name = cm_xcalloc(f->n + 1, sizeof *f->by_name);
    for (size_t i = 0; i < f->n; i++)
        f->by_name[i] = i;
    sort_file = f;
    qsort(f->by_name, f->n, sizeof *f->by_name, cmp_name);
    sort_file = NULL;
out:
    json_decref(root);
    return rc;
}

static struct st_limits fill_limits(const struct st_limits *lim)
{
    struct st_limits l = lim ? *lim : (struct st_limits){0};
    if (!l.max_header)
        l.max_header = 64u << 20;
    if (!l.max_tensors)
        l.max_tensors = 100000;
    if (!l.max_elems)
        l.max_elems = 1ull << 32;
    if (l.max_rank <= 0 || l.max_rank > ST_MAX_RANK)
        l.max_rank = ST_MAX_RANK;
    return l;
}

int st_open_mem(struct st_file **out, const void *data, size_t size, const struct st_limits *lim,
                struct err *e)
{
    *out = NULL;
    struct st_limits l = fill_limits(lim);
    struct st_file *f = cm_xcalloc(1, sizeof *f);
    f->base = data;
    f->size = size;
    int rc = parse(f, &l, e);
    if (rc < 0) {
        st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int st_open(struct st_file **out, const char *path, const struct st_limits *lim, struct err *e)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = err_set(e, ST_ERR_IO, ERR_INTERNAL, "model_unreadable", "could not open %s: %s",
                         path, strerror(errno));
        if (e)
            e->sys_errno = errno;
        return rc;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return err_set(e, ST_ERR_IO, ERR_INTERNAL, "model_unreadable",
                       "could not read %s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    void *m = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (m == MAP_FAILED)
        return err_set(e, ST_ERR_IO, ERR_INTERNAL, "model_unreadable", "could not map %s: %s", path,
                       strerror(errno));
    int rc = st_open_mem(out, m ? m : "", size, lim, e);
    if (rc < 0) {
        if (m)
            munmap(m, size);
        if (e) { /* name the file: the parser saw bytes only */
            char tmp[sizeof e->msg];
            memcpy(tmp, e->msg, sizeof tmp);
            snprintf(e->msg, sizeof e->msg, "%.80s: %.170s", path, tmp);
        }
        return rc;
    }
    (*out)->mapped = m != NULL;
    return 0;
}

void st_close(struct st_file *f)
{
    if (!f)
        return;
    if (f->mapped)
        munmap((void *)f->base, f->size);
    for (size_t i = 0; i < f->nmeta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].val);
    }
    free(f->meta);
    free(f->t);
    free(f->by_name);
    free(f->names);
    free(f);
}

size_t st_count(const struct st_file *f)
{
    return f->n;
}

const struct st_tensor *st_at(const struct st_file *f, size_t i)
{
    return i < f->n ? &f->t[i] : NULL;
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->t[f->by_name[mid]].name, name);
        if (c == 0)
            return &f->t[f->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *st_meta(const struct st_file *f, const char *key)
{
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].val;
    return NULL;
}

const void *st_data(const struct st_file *f, const struct st_tensor *t)
{
    return f->data + t->begin;
}

/* ---- scalar conversions ---- */

float st_bf16_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

float st_half_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (ex == 0x1f)
        u = s | 0x7f800000u | m << 13;
    else if (ex)
        u = s | (ex + 112) << 23 | m << 13;
    else if (m) { /* subnormal: normalise */
        int k = 0;
        while (!(m & 0x400)) {
            m <<= 1;
            k++;
        }
        u = s | (uint32_t)(113 - k) << 23 | (m & 0x3ff) << 13;
    } else
        u = s;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

uint16_t st_f32_to_half(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    uint16_t s = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf, nan (keep it a nan) */
        return s | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0);
    if (a >= 0x477ff000u) /* rounds to >= 65520: overflow */
        return s | 0x7c00;
    if (a < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (a < 0x33000000u)
            return s;
        /* value = m * 2^(e-150) and the half subnormal unit is 2^-24 */
        uint32_t m = (a & 0x7fffff) | 0x800000, sh = 126 - (a >> 23);
        uint32_t q = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return s | (uint16_t)q;
    }
    uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 */
    uint32_t q = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
        q++;
    return s | (uint16_t)q;
}

/* ---- row converters ---- */

static float load(const uint8_t *p, enum st_dtype d)
{
    if (d == ST_F32) {
        float x;
        memcpy(&x, p, 4);
        return x;
    }
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    return d == ST_F16 ? st_half_to_f32(h) : st_bf16_to_f32(h);
}

static void row_f32(const struct st_file *f, const struct st_tensor *t, uint64_t r, float *dst)
{
    size_t es = st_dtype_size(t->dtype);
    const uint8_t *p = f->data + t->begin + r * t->cols * es;
    for (uint64_t c = 0; c < t->cols; c++)
        dst[c] = load(p + c * es, t->dtype);
}

int st_rows_f32(const struct st_file *f, const struct st_tensor *t, uint64_t row0, uint64_t nrows,
                float *dst, struct err *e)
{
    if (row0 > t->rows || nrows > t->rows - row0)
        return err_set(e, ST_ERR_ARG, ERR_INTERNAL, "invalid_argument",
                       "rows %llu..%llu are outside tensor \"%.100s\" (%llu rows)",
                       (unsigned long long)row0, (unsigned long long)(row0 + nrows), t->name,
                       (unsigned long long)t->rows);
    for (uint64_t r = 0; r < nrows; r++)
        row_f32(f, t, row0 + r, dst + r * t->cols);
    return 0;
}

int st_to_f16(const struct st_file *f, const struct st_tensor *t, uint16_t *dst, struct err *e)
{
    (void)e;
    size_t es = st_dtype_size(t->dtype);
    const uint8_t *p = f->data + t->begin;
    for (uint64_t i = 0; i < t->nelem; i++) {
        if (t->dtype == ST_F16)
            dst[i] = (uint16_t)(p[i * 2] | p[i * 2 + 1] << 8); /* exact: no round trip */
        else
            dst[i] = st_f32_to_half(load(p + i * es, t->dtype));
    }
    return 0;
}

/* a row buffer for the quantisers: one row of fp32, bounded by the limits */
static float *row_buf(const struct st_tensor *t)
{
    return cm_xmalloc((t->cols + 1) * sizeof(float));
}

int st_to_i8(const struct st_file *f, const struct st_tensor *t, int8_t *q, float *scale,
             struct err *e)
{
    (void)e;
    float *row = row_buf(t);
    for (uint64_t r = 0; r < t->rows; r++) {
        row_f32(f, t, r, row);
        float m = 0;
        for (uint64_t c = 0; c < t->cols; c++)
            m = fmaxf(m, fabsf(row[c]));
        float s = m > 0 && isfinite(m) ? m / 127.0f : 1.0f;
        scale[r] = s;
        for (uint64_t c = 0; c < t->cols; c++) {
            float v = rintf(row[c] / s);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            q[r * t->cols + c] = (int8_t)(isnan(v) ? 0 : v);
        }
    }
    free(row);
    return 0;
}

int st_to_q4(const struct st_file *f, const struct st_tensor *t, int group, uint8_t *q,
             float *scale, struct err *e)
{
    if ((group != 32 && group != 64 && group != 128) || t->cols % (uint64_t)group)
        return err_set(e, ST_ERR_ARG, ERR_INTERNAL, "invalid_argument",
                       "cannot quantise tensor \"%.100s\" to 4-bit groups of %d: %llu columns "
                       "(groups of 32, 64 or 128 that divide the row)",
                       t->name, group, (unsigned long long)t->cols);
    float *row = row_buf(t);
    uint64_t ng = t->cols / (uint64_t)group;
    for (uint64_t r = 0; r < t->rows; r++) {
        row_f32(f, t, r, row);
        uint8_t *qr = q + r * t->cols / 2;
        for (uint64_t g = 0; g < ng; g++) {
            const float *w = row + g * (uint64_t)group;
            float m = 0;
            for (int i = 0; i < group; i++)
                m = fmaxf(m, fabsf(w[i]));
            float s = m > 0 && isfinite(m) ? m / 7.0f : 1.0f;
            scale[r * ng + g] = s;
            for (int i = 0; i < group; i++) {
                float v = rintf(w[i] / s);
                v = v > 7 ? 7 : v < -8 ? -8 : v;
                unsigned u = (unsigned)((isnan(v) ? 0 : (int)v) + 8);
                uint64_t c = g * (uint64_t)group + (uint64_t)i;
                if (c & 1)
                    qr[c / 2] = (uint8_t)(qr[c / 2] | u << 4);
                else
                    qr[c / 2] = (uint8_t)u;
            }
        }
    }
    free(row);
    return 0;
}
