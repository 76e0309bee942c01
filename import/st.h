/*
 * st.h: safetensors reader (prefix st_).
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * optional "__metadata__": {string: string}}), then the byte buffer the
 * offsets index (relative to its start).  The reader maps the file and
 * validates the whole header against limits before anything is read: known
 * dtype, rank, every dim and the element count within limits, end - begin ==
 * elements * dtype size, offsets inside the buffer, tensors neither
 * overlapping nor leaving holes, and the last end equal to the buffer size
 * (the file has no trailing bytes), as the format specifies.
 *
 * Only BF16, F16 and F32 are accepted; any other dtype (I8, F64, ...) is
 * refused with an error naming the tensor and the dtype.
 *
 * The tensor data is never copied whole: the converters read rows straight
 * from the mapping and write into caller memory (typically a mapped staging
 * buffer), in the device formats the matmul kernels read (README.md "Weight
 * formats").  A tensor of rank r >= 2 is viewed as rows = shape[0] and
 * cols = product of the other dims; rank 1 as one row; rank 0 as 1x1.
 */
#ifndef VKV_ST_H
#define VKV_ST_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum {
    ST_ERR_IO = -1,     /* could not open / stat / map the file */
    ST_ERR_FORMAT = -2, /* invalid file: header, JSON, offsets */
    ST_ERR_LIMIT = -3,  /* valid but larger than the limits allow */
    ST_ERR_DTYPE = -4,  /* dtype not supported */
    ST_ERR_ARG = -5,    /* caller asked for something the tensor cannot give */
};

#define ST_MAX_RANK 8

enum st_dtype { ST_F32 = 0, ST_F16 = 1, ST_BF16 = 2 };

struct st_limits {
    uint64_t max_header;  /* bytes of JSON header (0: 64 MiB) */
    uint64_t max_tensors; /* tensor count (0: 100000) */
    uint64_t max_elems;   /* elements of one tensor (0: 2^32) */
    int max_rank;         /* 0: ST_MAX_RANK */
};

struct st_tensor {
    const char *name; /* borrowed from the st_file */
    enum st_dtype dtype;
    int rank;
    uint64_t shape[ST_MAX_RANK];
    uint64_t nelem;
    uint64_t rows, cols; /* 2-D view: shape[0] x product(shape[1..]) */
    uint64_t begin, end; /* byte offsets into the data buffer */
};

struct st_file;

/*
 * Maps and validates path.  lim may be NULL (defaults).  Returns 0 and a
 * new *out (caller frees with st_close), or a negative ST_ERR_* with e set.
 */
int st_open(struct st_file **out, const char *path, const struct st_limits *lim, struct err *e);

/*
 * As st_open on bytes already in memory (borrowed: must outlive *out; used
 * by the fuzz target and tests).
 */
int st_open_mem(struct st_file **out, const void *data, size_t size, const struct st_limits *lim,
                struct err *e);

/* unmaps and frees f (NULL is fine); every borrowed pointer dies with it */
void st_close(struct st_file *f);

/* number of tensors, and the i-th in ascending offset order (borrowed) */
size_t st_count(const struct st_file *f);
const struct st_tensor *st_at(const struct st_file *f, size_t i);

/* the tensor called name, or NULL (borrowed) */
const struct st_tensor *st_find(const struct st_file *f, const char *name);

/* the value of "__metadata__"[key], or NULL (borrowed) */
const char *st_meta(const struct st_file *f, const char *key);

/* "F32", "F16", "BF16" (static) */
const char *st_dtype_name(enum st_dtype d);
size_t st_dtype_size(enum st_dtype d);

/* the raw bytes of t in the mapping (borrowed, may be unaligned) */
const void *st_data(const struct st_file *f, const struct st_tensor *t);

/*
 * Converts rows [row0, row0 + nrows) of t to fp32 into dst (caller-owned,
 * nrows * t->cols floats).  ST_ERR_ARG when the range is outside t.
 */
int st_rows_f32(const struct st_file *f, const struct st_tensor *t, uint64_t row0, uint64_t nrows,
                float *dst, struct err *e);

/* all of t as IEEE half, round to nearest even: dst holds t->nelem uint16 */
int st_to_f16(const struct st_file *f, const struct st_tensor *t, uint16_t *dst, struct err *e);

/*
 * Symmetric int8 per row (output channel): q holds t->nelem int8, scale
 * t->rows floats; W[r][c] ~= q[r*cols + c] * scale[r].
 */
int st_to_i8(const struct st_file *f, const struct st_tensor *t, int8_t *q, float *scale,
             struct err *e);

/*
 * Symmetric 4-bit in groups of `group` along a row (group in 32, 64, 128;
 * t->cols % group == 0, else ST_ERR_ARG): q holds t->nelem / 2 bytes (low
 * nibble = even column), scale t->rows * (t->cols / group) floats;
 * W ~= (nibble - 8) * scale[r * cols/group + c / group].
 */
int st_to_q4(const struct st_file *f, const struct st_tensor *t, int group, uint8_t *q,
             float *scale, struct err *e);

/* scalar conversions the converters use (exported for tests and the CPU reference) */
float st_half_to_f32(uint16_t h);
uint16_t st_f32_to_half(float x);
float st_bf16_to_f32(uint16_t b);

#endif
