/*
 * test_st.c: the safetensors reader (import/st.c) on files built here:
 * valid files in the three dtypes, the converters' error bounds, and
 * hostile headers (truncated, overlapping, huge dims, bad JSON, header past
 * the end, dtype/size mismatch, unsupported dtype), each with its message.
 *
 *   test_st [FILE.safetensors ...]   also opens and converts each FILE
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import/st.h"
#include "tests/lib/th.h"

/* builds header length + json + data into a malloc'd buffer */
static uint8_t *mk(const char *json, const void *data, size_t dn, size_t *size)
{
    size_t hn = strlen(json);
    uint8_t *b = malloc(8 + hn + dn + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hn >> (8 * i));
    memcpy(b + 8, json, hn);
    if (dn)
        memcpy(b + 8 + hn, data, dn);
    *size = 8 + hn + dn;
    return b;
}

/* opens json+data and expects failure with status and a message containing want */
static void bad(const char *what, const char *json, size_t dn, int status, const char *want)
{
    uint8_t *zeros = calloc(dn + 1, 1);
    size_t n;
    uint8_t *b = mk(json, zeros, dn, &n);
    struct st_file *f = (struct st_file *)1;
    struct err e;
    err_clear(&e);
    int rc = st_open_mem(&f, b, n, NULL, &e);
    int ok = rc == status && f == NULL && strstr(e.msg, want) != NULL;
    if (!ok)
        printf("# rc %d msg \"%s\"\n", rc, e.msg);
    TH_CHECK(ok, "%s: refused with \"%s\"", what, want);
    free(b);
    free(zeros);
}

static void test_valid(void)
{
    /* a: F32 [2,3]; b: F16 [4]; c: BF16 [] (scalar) */
    float a[6] = {1, -2, 3.5f, 0, 1e-3f, -65504};
    uint16_t bh[4] = {0x3c00, 0xc000, 0x7bff, 0x0001}; /* 1, -2, 65504, 2^-24 */
    uint16_t cb = 0x4049;                              /* bf16 3.140625 */
    uint8_t data[24 + 8 + 2];
    memcpy(data, a, 24);
    memcpy(data + 24, bh, 8);
    memcpy(data + 32, &cb, 2);
    const char *js = "{\"__metadata__\":{\"format\":\"pt\"},"
                     "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[32,34]},"
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                     "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}   ";
    size_t n;
    uint8_t *buf = mk(js, data, sizeof data, &n);
    struct st_file *f;
    struct err e;
    TH_EQ_INT(st_open_mem(&f, buf, n, NULL, &e), 0, "valid three-dtype file opens");
    TH_EQ_INT(st_count(f), 3, "three tensors (metadata is not one)");
    TH_EQ_STR(st_meta(f, "format"), "pt", "__metadata__ readable");
    TH_EQ_STR(st_at(f, 0)->name, "a", "tensors in offset order");
    const struct st_tensor *ta = st_find(f, "a"), *tb = st_find(f, "b"), *tc = st_find(f, "c");
    TH_CHECK(ta && tb && tc && !st_find(f, "d"), "lookup by name");
    TH_CHECK(ta->rank == 2 && ta->rows == 2 && ta->cols == 3 && ta->dtype == ST_F32,
             "a is F32 2x3");
    TH_CHECK(tb->rows == 1 && tb->cols == 4, "rank 1 is one row");
    TH_CHECK(tc->rank == 0 && tc->nelem == 1 && tc->rows == 1 && tc->cols == 1, "scalar is 1x1");
    float r[6];
    TH_EQ_INT(st_rows_f32(f, ta, 1, 1, r, &e), 0, "row 1 of a");
    TH_CHECK(r[0] == 0 && r[1] == 1e-3f && r[2] == -65504, "f32 rows are exact");
    TH_EQ_INT(st_rows_f32(f, ta, 1, 2, r, &e), ST_ERR_ARG, "rows past the end refused");
    st_rows_f32(f, tb, 0, 1, r, &e);
    TH_CHECK(r[0] == 1 && r[1] == -2 && r[2] == 65504 && r[3] == ldexpf(1, -24),
             "f16 to f32 exact incl. max and subnormal");
    st_rows_f32(f, tc, 0, 1, r, &e);
    TH_CHECK(r[0] == 3.140625f, "bf16 to f32 exact");
    uint16_t h[6];
    st_to_f16(f, ta, h, &e);
    TH_CHECK(h[0] == 0x3c00 && h[1] == 0xc000 && h[5] == 0xfbff, "f32 to f16");
    TH_CHECK(fabsf(st_half_to_f32(h[4]) - 1e-3f) < 1e-3f * 0x1p-11f,
             "f16 rounding within half ulp");
    st_close(f);
    free(buf);
}

static void test_half(void)
{
    /* every half round-trips through f32, NaNs stay NaN */
    int bad_rt = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        float x = st_half_to_f32((uint16_t)i);
        uint16_t back = st_f32_to_half(x);
        if (isnan(x) ? !isnan(st_half_to_f32(back)) : back != i)
            bad_rt++;
    }
    TH_EQ_INT(bad_rt, 0, "all 65536 halves round-trip through f32");
    /* ties go to even; overflow to inf */
    TH_EQ_INT(st_f32_to_half(1.0f + 0x1p-11f), 0x3c00, "tie rounds to even (down)");
    TH_EQ_INT(st_f32_to_half(1.0f + 3 * 0x1p-11f), 0x3c02, "tie rounds to even (up)");
    TH_EQ_INT(st_f32_to_half(65520.0f), 0x7c00, "65520 overflows to inf");
    TH_EQ_INT(st_f32_to_half(65519.0f), 0x7bff, "65519 rounds to max");
    TH_EQ_INT(st_f32_to_half(0x1p-25f), 0, "2^-25 ties to zero");
    TH_EQ_INT(st_f32_to_half(0x1.8p-25f), 1, "1.5*2^-25 rounds up to the smallest subnormal");
}

static void test_quant(void)
{
    enum { R = 5, C = 128 };
    float *w = malloc(R * C * 4);
    srand(7);
    for (int i = 0; i < R * C; i++)
        w[i] = ((float)((double)rand() / RAND_MAX) - 0.5f) * (float)(1 + i / C);
    for (int c = 0; c < C; c++)
        w[3 * C + c] = 0; /* an all-zero row */
    char js[200];
    snprintf(js, sizeof js, "{\"w\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%d]}}",
             R, C, R * C * 4);
    size_t n;
    uint8_t *buf = mk(js, w, R * C * 4, &n);
    struct st_file *f;
    struct err e;
    TH_EQ_INT(st_open_mem(&f, buf, n, NULL, &e), 0, "quant test file opens");
    const struct st_tensor *t = st_find(f, "w");
    int8_t q8[R * C];
    float s8[R];
    st_to_i8(f, t, q8, s8, &e);
    double worst8 = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            double d = fabs(q8[r * C + c] * s8[r] - w[r * C + c]) / s8[r];
            worst8 = fmax(worst8, d);
        }
    TH_CHECK(worst8 <= 0.5 + 1e-4, "int8 error <= half a step (%.4f steps)", worst8);
    TH_CHECK(s8[3] == 1.0f && q8[3 * C] == 0, "all-zero row: scale 1, zeros");
    int maxq = 0;
    for (int c = 0; c < C; c++)
        maxq = abs(q8[c]) > maxq ? abs(q8[c]) : maxq;
    TH_EQ_INT(maxq, 127, "int8 uses the full range");
    uint8_t q4[R * C / 2];
    float s4[R * C / 32];
    TH_EQ_INT(st_to_q4(f, t, 32, q4, s4, &e), 0, "q4 group 32");
    double worst4 = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            int u = c & 1 ? q4[(r * C + c) / 2] >> 4 : q4[(r * C + c) / 2] & 15;
            float sc = s4[r * (C / 32) + c / 32];
            worst4 = fmax(worst4, fabs((u - 8) * sc - w[r * C + c]) / sc);
        }
    TH_CHECK(worst4 <= 0.5 + 1e-4, "q4 error <= half a step (%.4f steps)", worst4);
    TH_EQ_INT(st_to_q4(f, t, 48, q4, s4, &e), ST_ERR_ARG, "q4 group 48 refused");
    TH_CHECK(strstr(e.msg, "groups of 32, 64 or 128") != NULL, "message says which groups: %s",
             e.msg);
    st_close(f);
    free(buf);
    free(w);
}

static void test_hostile(void)
{
    size_t n;
    struct st_file *f;
    struct err e;
    uint8_t tiny[5] = {1, 0, 0, 0, 0};
    TH_EQ_INT(st_open_mem(&f, tiny, 5, NULL, &e), ST_ERR_FORMAT, "5-byte file refused");
    TH_CHECK(strstr(e.msg, "shorter than the 8-byte header length"), "... %s", e.msg);

    /* header length past EOF */
    uint8_t *b = mk("{}", NULL, 0, &n);
    b[0] = 200;
    TH_EQ_INT(st_open_mem(&f, b, n, NULL, &e), ST_ERR_FORMAT, "header past EOF refused");
    TH_CHECK(strstr(e.msg, "runs past the end"), "... %s", e.msg);
    b[0] = 0xff;
    b[7] = 0x7f;
    TH_EQ_INT(st_open_mem(&f, b, n, NULL, &e), ST_ERR_LIMIT, "2^63-byte header refused");
    TH_CHECK(strstr(e.msg, "exceeds the limit"), "... %s", e.msg);
    free(b);

    const char *T = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    b = mk(T, "0123456789abcdef", 16, &n);
    TH_EQ_INT(st_open_mem(&f, b, n - 1, NULL, &e), ST_ERR_FORMAT, "truncated data refused");
    TH_CHECK(strstr(e.msg, "truncated"), "... %s", e.msg);
    free(b);
    bad("trailing bytes", T, 17, ST_ERR_FORMAT, "trailing bytes");
    bad("bad JSON", "{\"t\":{\"dtype\":\"F32\",}", 0, ST_ERR_FORMAT, "bad JSON");
    bad("not an object", "[1,2]", 0, ST_ERR_FORMAT, "does not start with '{'");
    bad("duplicate key",
        "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        4, ST_ERR_FORMAT, "duplicate");
    bad("overlapping",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        12, ST_ERR_FORMAT, "overlap");
    bad("hole",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
        12, ST_ERR_FORMAT, "leave a hole");
    bad("huge dims",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
        "\"data_offsets\":[0,0]}}",
        0, ST_ERR_LIMIT, "more than 4294967296 elements");
    bad("dim beyond int64",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
        "\"data_offsets\":[0,0]}}",
        0, ST_ERR_FORMAT, "bad JSON");
    bad("negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
        ST_ERR_FORMAT, "non-negative integers");
    bad("rank 9",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
        ST_ERR_LIMIT, "rank 9");
    bad("dtype/size mismatch", "{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,12]}}",
        12, ST_ERR_FORMAT, "F16 with 3 elements (6 bytes) but data_offsets span 12 bytes");
    bad("unsupported dtype", "{\"w.q\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3,
        ST_ERR_DTYPE, "cannot load tensor \"w.q\": dtype \"I8\" is not supported");
    bad("begin > end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
        ST_ERR_FORMAT, "0 <= begin <= end");
    bad("missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, ST_ERR_FORMAT,
        "needs dtype, shape and data_offsets");
    bad("metadata not strings", "{\"__metadata__\":{\"x\":1}}", 0, ST_ERR_FORMAT,
        "__metadata__ \"x\" is not a string");

    struct st_limits lim = {.max_tensors = 1};
    b = mk("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
           "01234567", 8, &n);
    TH_EQ_INT(st_open_mem(&f, b, n, &lim, &e), ST_ERR_LIMIT, "tensor-count limit");
    TH_CHECK(strstr(e.msg, "2 tensors, more than 1"), "... %s", e.msg);
    free(b);

    TH_EQ_INT(st_open(&f, "/nonexistent/x.safetensors", NULL, &e), ST_ERR_IO, "missing file");
    TH_CHECK(strstr(e.msg, "could not open /nonexistent/x.safetensors"), "... %s", e.msg);
}

/* a file written by another program (tests/ref/ writes them): open, convert every tensor */
static void test_file(const char *path)
{
    struct st_file *f;
    struct err e;
    err_clear(&e);
    int rc = st_open(&f, path, NULL, &e);
    TH_EQ_INT(rc, 0, "%s opens (%s)", path, e.msg);
    if (rc)
        return;
    int bad_conv = 0;
    for (size_t i = 0; i < st_count(f); i++) {
        const struct st_tensor *t = st_at(f, i);
        float *x = malloc((t->nelem + 1) * 4);
        uint16_t *h = malloc((t->nelem + 1) * 2);
        st_rows_f32(f, t, 0, t->rows, x, &e);
        st_to_f16(f, t, h, &e);
        for (uint64_t k = 0; k < t->nelem; k++)
            if (t->dtype != ST_F32 &&
                fabsf(st_half_to_f32(h[k]) - x[k]) > fabsf(x[k]) * 0x1p-11f + 0x1p-25f)
                bad_conv++;
        free(x);
        free(h);
    }
    TH_EQ_INT(bad_conv, 0, "%s: %zu tensors convert", path, st_count(f));
    st_close(f);
}

int main(int argc, char **argv)
{
    test_valid();
    test_half();
    test_quant();
    test_hostile();
    for (int i = 1; i < argc; i++)
        test_file(argv[i]);
    return th_done();
}
