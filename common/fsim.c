/*
 * fsim.c: int8 descriptor matrix and top-k scan (see fsim.h).
 *
 * The scan is the cost of a search: rows * dim multiply-adds of int8 into
 * int32 (SSE2 where there is SSE2: sign-extend to 16 bits, pairwise
 * multiply-add into 32).  A row's 1024 products of at most 127 * 127 sum
 * below 2^24: no overflow.
 */
#include "common/fsim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FSIM_MAX_K 1024

void fsim_init(struct fsim_mat *m, int dim)
{
    memset(m, 0, sizeof(*m));
    m->dim = dim;
}

void fsim_free(struct fsim_mat *m)
{
    if (m == NULL)
        return;
    free(m->ids);
    free(m->q);
    free(m->scale);
    fsim_init(m, m->dim);
}

size_t fsim_bytes(const struct fsim_mat *m)
{
    return m->cap * ((size_t)m->dim + sizeof(float) + sizeof(int64_t));
}

void fsim_quantize(const float *v, int dim, int8_t *q, float *scale)
{
    float mx = 0;
    for (int i = 0; i < dim; i++)
        mx = fabsf(v[i]) > mx ? fabsf(v[i]) : mx;
    float inv = mx > 0 ? 127.0f / mx : 0.0f;
    for (int i = 0; i < dim; i++)
        q[i] = (int8_t)lrintf(v[i] * inv);
    *scale = mx / 127.0f;
}

int fsim_add(struct fsim_mat *m, int64_t id, const float *v, struct err *e)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        int64_t *ids = realloc(m->ids, cap * sizeof(*ids));
        if (ids != NULL)
            m->ids = ids;
        int8_t *q = ids ? realloc(m->q, cap * (size_t)m->dim) : NULL;
        if (q != NULL)
            m->q = q;
        float *sc = q ? realloc(m->scale, cap * sizeof(*sc)) : NULL;
        if (sc == NULL)
            return err_set(e, -1, ERR_RESOURCE, "out_of_memory",
                           "no memory for %zu face descriptors", cap);
        m->scale = sc;
        m->cap = cap;
    }
    fsim_quantize(v, m->dim, m->q + m->n * (size_t)m->dim, &m->scale[m->n]);
    m->ids[m->n++] = id;
    return 0;
}

#if defined(__SSE2__)
/*
 * SSE2 (every x86-64): 16 int8 at a time, sign-extended to int16 by
 * interleaving with their sign mask, pmaddwd into 4 int32 lanes.  -O2 left
 * the plain loop scalar (a sign-extending multiply per element, 8x slower
 * on the 100k-face bench).
 */
#include <emmintrin.h>

static int32_t dot8(const int8_t *a, const int8_t *b, int dim)
{
    __m128i acc = _mm_setzero_si128(), zero = _mm_setzero_si128();
    int i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
        __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        __m128i xs = _mm_cmpgt_epi8(zero, x), ys = _mm_cmpgt_epi8(zero, y);
        acc =
            _mm_add_epi32(acc, _mm_madd_epi16(_mm_unpacklo_epi8(x, xs), _mm_unpacklo_epi8(y, ys)));
        acc =
            _mm_add_epi32(acc, _mm_madd_epi16(_mm_unpackhi_epi8(x, xs), _mm_unpackhi_epi8(y, ys)));
    }
    int32_t lane[4];
    _mm_storeu_si128((__m128i *)(void *)lane, acc);
    int32_t s = lane[0] + lane[1] + lane[2] + lane[3];
    for (; i < dim; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}
#else
static int32_t dot8(const int8_t *a, const int8_t *b, int dim)
{
    int32_t s = 0;
    for (int i = 0; i < dim; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}
#endif

float fsim_dot(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

/* min-heap on score of the best k so far */
struct cand {
    float s;
    int64_t id;
};

static void sift_down(struct cand *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].s < h[m].s)
            m = l;
        if (r < n && h[r].s < h[m].s)
            m = r;
        if (m == i)
            return;
        struct cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int cand_desc(const void *a, const void *b)
{
    float x = ((const struct cand *)a)->s, y = ((const struct cand *)b)->s;
    return x < y ? 1 : x > y ? -1 : 0;
}

int fsim_topk(const struct fsim_mat *m, const float *q, int k, int64_t skip, int64_t *ids,
              float *scores)
{
    int8_t qq[FSIM_MAX_DIM];
    float qs;
    struct cand h[FSIM_MAX_K];
    if (k > FSIM_MAX_K)
        k = FSIM_MAX_K;
    if (k < 1 || m->dim < 1 || m->dim > FSIM_MAX_DIM)
        return 0;
    fsim_quantize(q, m->dim, qq, &qs);
    int n = 0;
    for (size_t r = 0; r < m->n; r++) {
        if (m->ids[r] == skip)
            continue;
        float s = (float)dot8(qq, m->q + r * (size_t)m->dim, m->dim) * qs * m->scale[r];
        if (n < k) {
            h[n].s = s;
            h[n++].id = m->ids[r];
            if (n == k)
                for (int i = k / 2 - 1; i >= 0; i--)
                    sift_down(h, k, i);
        } else if (s > h[0].s) {
            h[0].s = s;
            h[0].id = m->ids[r];
            sift_down(h, k, 0);
        }
    }
    qsort(h, (size_t)n, sizeof(h[0]), cand_desc);
    for (int i = 0; i < n; i++) {
        ids[i] = h[i].id;
        scores[i] = h[i].s;
    }
    return n;
}
