/*
 * fsim.h: exact-enough nearest-neighbour search over face descriptors in
 * memory (prefix fsim_).  A matrix holds L2-normalised vectors quantised
 * to int8 with one scale per row (1 KB per 1024-d face instead of 4 KB);
 * fsim_topk scans every row with an int32 dot product and keeps the best
 * k.  The caller re-scores those k candidates with the float vectors
 * (fcgi/api_faces.c reads them from PostgreSQL), so the answer's order and
 * scores are the exact ones whenever the true neighbours are among the
 * int8 candidates (measured: tests/unit, bench/faces.sh).
 * Used by vkv-api (fcgi/api_faces.c), the unit tests and bench/.
 *
 * Threads: a matrix is not locked; concurrent fsim_topk calls are safe,
 * fsim_add needs the caller's exclusive lock.
 */
#ifndef VKV_FSIM_H
#define VKV_FSIM_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define FSIM_MAX_DIM 4096

struct fsim_mat {
    int dim;
    size_t n, cap; /* rows held, rows allocated */
    int64_t *ids;  /* caller's id of each row, ascending when added so */
    int8_t *q;     /* n * dim */
    float *scale;  /* per row: value = q * scale */
};

/* an empty matrix of dim (1..FSIM_MAX_DIM) columns; allocates nothing */
void fsim_init(struct fsim_mat *m, int dim);

/* frees the rows; m is empty afterwards (fsim_init state); NULL ok */
void fsim_free(struct fsim_mat *m);

/* bytes held by m's rows; cannot fail */
size_t fsim_bytes(const struct fsim_mat *m);

/*
 * Quantises v (dim floats) to q (dim int8) with *scale = max|v| / 127.
 * Cannot fail.
 */
void fsim_quantize(const float *v, int dim, int8_t *q, float *scale);

/*
 * Appends row v (dim floats, normalised by the caller) with id.  Grows by
 * doubling.  Returns 0, or <0 with e set (ERR_RESOURCE: no memory).
 */
int fsim_add(struct fsim_mat *m, int64_t id, const float *v, struct err *e);

/*
 * The k rows (k >= 1) with the highest approximate dot product with q
 * (dim floats), best first, skipping the row with id skip (0 = none):
 * writes ids[0..r) and scores[0..r) and returns r = min(k, rows).  Uses a
 * scratch of k entries on the stack up to 1024 (k is capped there).
 * Cannot fail.
 */
int fsim_topk(const struct fsim_mat *m, const float *q, int k, int64_t skip, int64_t *ids,
              float *scores);

/* dot product of two float vectors of dim; cannot fail */
float fsim_dot(const float *a, const float *b, int dim);

#endif
