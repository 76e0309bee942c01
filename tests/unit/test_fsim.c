/*
 * test_fsim.c: the int8 descriptor matrix of the face search
 * (common/fsim.c).  Descriptors are made here like FaceRes's (non-negative,
 * about half zeros, L2-normalised); each query has planted neighbours at
 * known similarities among random rows.  The int8 scan's candidate list
 * (4k + 64 rows, as fcgi/api_faces.c asks) must hold the exact top k of a
 * float brute force for every query: the API re-scores the candidates with
 * the float rows, so that is what makes its answer exact.
 */
#include "common/err.h"
#include "common/fsim.h"

#include "tests/lib/th.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DIM 1024
#define ROWS 20000
#define QUERIES 40
#define K 10

static uint64_t rng = 88172645463325252ull;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static void normalise(float *v)
{
    double s = 0;
    for (int i = 0; i < DIM; i++)
        s += (double)v[i] * v[i];
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(v[i] / sqrt(s));
}

/* a FaceRes-like vector: ReLU of a Gaussian-ish value */
static void person(float *v)
{
    for (int i = 0; i < DIM; i++) {
        double g = urand() + urand() + urand() - 1.5;
        v[i] = g > 0 ? (float)g : 0.0f;
    }
    normalise(v);
}

/* v = a mix of base and fresh noise with cosine about sim to base */
static void near(const float *base, double sim, float *v)
{
    float n[DIM];
    person(n);
    double d = 0;
    for (int i = 0; i < DIM; i++)
        d += (double)n[i] * base[i];
    for (int i = 0; i < DIM; i++)
        n[i] = (float)(n[i] - d * base[i]); /* orthogonal to base */
    normalise(n);
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(sim * base[i] + sqrt(1 - sim * sim) * n[i]);
    normalise(v);
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int main(void)
{
    struct err e;
    err_clear(&e);
    float *rows = malloc(sizeof(float) * DIM * ROWS);
    float q[QUERIES][DIM];
    struct fsim_mat m;
    fsim_init(&m, DIM);

    /* quantisation: each value within half a step */
    float v[DIM], scale;
    int8_t qq[DIM];
    person(v);
    fsim_quantize(v, DIM, qq, &scale);
    double worst = 0;
    for (int i = 0; i < DIM; i++)
        worst = fmax(worst, fabs(v[i] - qq[i] * scale));
    TH_CHECK(worst <= scale * 0.5 + 1e-7, "quantised values within half a step (%.3g <= %.3g)",
             worst, scale * 0.5);

    int64_t ids[4 * K + 64];
    float sc[4 * K + 64];
    TH_EQ_INT(fsim_topk(&m, v, K, 0, ids, sc), 0, "an empty matrix answers nothing");

    /* rows: random people, and for each query 5 neighbours at 0.9 .. 0.5 */
    int r = 0;
    for (int qi = 0; qi < QUERIES; qi++) {
        person(q[qi]);
        for (int j = 0; j < 5; j++, r++)
            near(q[qi], 0.9 - 0.1 * j, rows + (size_t)r * DIM);
    }
    for (; r < ROWS; r++)
        person(rows + (size_t)r * DIM);
    int added = 0;
    for (int i = 0; i < ROWS; i++)
        added += fsim_add(&m, 1000 + i, rows + (size_t)i * DIM, &e) == 0;
    TH_EQ_INT(added, ROWS, "%d rows added", ROWS);
    TH_CHECK(fsim_bytes(&m) >= (size_t)ROWS * DIM &&
                 fsim_bytes(&m) < (size_t)ROWS * DIM * 2 + 65536 * 12,
             "1 KB + 12 bytes per row of capacity (%zu bytes for %d rows, capacity doubled)",
             fsim_bytes(&m), ROWS);

    int missed = 0, order_ok = 0;
    double worst_err = 0;
    for (int qi = 0; qi < QUERIES; qi++) {
        int n = fsim_topk(&m, q[qi], 4 * K + 64, 0, ids, sc);
        /* exact top K by brute force */
        float *ex = malloc(sizeof(float) * ROWS);
        for (int i = 0; i < ROWS; i++)
            ex[i] = fsim_dot(q[qi], rows + (size_t)i * DIM, DIM);
        float kth[ROWS];
        memcpy(kth, ex, sizeof(float) * ROWS);
        qsort(kth, ROWS, sizeof(float), cmp_desc);
        for (int i = 0; i < ROWS; i++) {
            if (ex[i] < kth[K - 1])
                continue;
            int found = 0;
            for (int j = 0; j < n; j++)
                found |= ids[j] == 1000 + i;
            missed += !found;
        }
        for (int j = 0; j < n; j++)
            worst_err = fmax(worst_err, fabs(sc[j] - ex[ids[j] - 1000]));
        /* the planted neighbours come first, in their order */
        int ok = 1;
        for (int j = 0; j < 5; j++)
            ok &= ids[j] == 1000 + qi * 5 + j;
        order_ok += ok;
        free(ex);
    }
    TH_EQ_INT(missed, 0, "the int8 candidates (4k+64) hold the exact top %d of all %d queries", K,
              QUERIES);
    TH_EQ_INT(order_ok, QUERIES, "planted neighbours (0.9 .. 0.5) ranked first, in order");
    /* measured 1.1e-3; bound 5e-3 */
    TH_CHECK(worst_err < 5e-3, "int8 scores within 5e-3 of the exact cosine (%.2e)", worst_err);

    /* skip and k > rows */
    int n = fsim_topk(&m, q[0], 3, 1000, ids, sc);
    TH_CHECK(n == 3 && ids[0] == 1001, "skip leaves out the query's own row");
    struct fsim_mat s;
    fsim_init(&s, DIM);
    fsim_add(&s, 7, v, &e);
    fsim_add(&s, 8, rows, &e);
    n = fsim_topk(&s, v, 10, 0, ids, sc);
    TH_CHECK(n == 2 && ids[0] == 7 && fabsf(sc[0] - 1.0f) < 1e-2,
             "k above the rows gives every row, best first");
    fsim_free(&s);
    fsim_free(&m);
    TH_EQ_INT(fsim_bytes(&m), 0, "fsim_free leaves an empty matrix");
    free(rows);
    return th_done();
}
