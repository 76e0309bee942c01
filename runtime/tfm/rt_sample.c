/*
 * rt_sample.c: argmax / temperature / top-p sampling with a seed (see
 * rt_sample.h).
 */
#include "runtime/tfm/rt_sample.h"
#include "runtime/tfm/rt_tf_ref.h"

#include <math.h>
#include <stdlib.h>

int rt_sample_init(struct rt_sampler *sm, uint32_t n, uint64_t seed, struct err *e)
{
    sm->n = n;
    sm->v = malloc((size_t)n * sizeof(*sm->v) + 8);
    if (sm->v == NULL) {
        rt_sample_free(sm);
        return err_set(e, -2, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate sampler scratch");
    }
    /* splitmix64 to spread the seed over the state */
    for (int i = 0; i < 2; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        sm->s[i] = z ^ (z >> 31);
    }
    if (sm->s[0] == 0 && sm->s[1] == 0)
        sm->s[0] = 1;
    return 0;
}

void rt_sample_free(struct rt_sampler *sm)
{
    free(sm->v);
    sm->v = NULL;
}

double rt_sample_uniform(struct rt_sampler *sm)
{
    /* xoroshiro128+ */
    uint64_t s0 = sm->s[0], s1 = sm->s[1], r = s0 + s1;
    s1 ^= s0;
    sm->s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    sm->s[1] = (s1 << 37) | (s1 >> 27);
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

/* descending probability, then ascending id: a total order */
static int cmp_desc(const void *a, const void *b)
{
    const struct rt_sample_pi *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

static void swap(struct rt_sample_pi *a, struct rt_sample_pi *b)
{
    struct rt_sample_pi t = *a;
    *a = *b;
    *b = t;
}

/* reorders v so that v[0..k) are its k first entries in cmp_desc order
 * (quickselect with a three-way partition), then sorts those */
static void top_k(struct rt_sample_pi *v, uint32_t n, uint32_t k)
{
    uint32_t lo = 0, hi = n;
    while (hi - lo > 1) {
        struct rt_sample_pi pv = v[lo + (hi - lo) / 2];
        uint32_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            int c = cmp_desc(&v[i], &pv);
            if (c < 0)
                swap(&v[lt++], &v[i++]);
            else if (c > 0)
                swap(&v[i], &v[--gt]);
            else
                i++;
        }
        if (k <= lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            break;
    }
    qsort(v, k, sizeof(*v), cmp_desc);
}

uint32_t rt_sample_pick(struct rt_sampler *sm, const float *logits, float temperature, float top_p)
{
    uint32_t n = sm->n;
    if (!(temperature > 0))
        return rt_tfr_argmax(logits, n);
    float m = -INFINITY;
    for (uint32_t i = 0; i < n; i++)
        m = logits[i] > m ? logits[i] : m;
    if (m == -INFINITY)
        return 0;
    /* logits more than 40 temperatures below the maximum have probability
     * ratios under e^-40 (4e-18): below fp32 resolution of a sum >= 1, so
     * skipping them changes nothing and saves most exp() calls */
    double sum = 0;
    float thr = m - 40.0f * temperature, inv_t = 1.0f / temperature;
    struct rt_sample_pi *v = sm->v;
    uint32_t nc = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!(logits[i] >= thr))
            continue;
        v[nc].p = expf((logits[i] - m) * inv_t);
        v[nc].i = i;
        sum += v[nc].p;
        nc++;
    }
    n = nc;
    /* nucleus: entries whose preceding mass (sorted descending) is <= top_p */
    uint32_t kept = n;
    if (top_p < 1) {
        double lim = (double)top_p * sum;
        for (uint32_t k = 64;; k *= 8) {
            if (k > n)
                k = n;
            top_k(v, n, k);
            double before = 0;
            uint32_t i = 0;
            while (i < k && before <= lim)
                before += v[i++].p;
            if (before > lim || k == n) {
                kept = i;
                break;
            }
        }
    }
    double tot = 0;
    for (uint32_t i = 0; i < kept; i++)
        tot += v[i].p;
    double u = rt_sample_uniform(sm) * tot, c = 0;
    for (uint32_t i = 0; i < kept; i++) {
        c += v[i].p;
        if (u < c && v[i].p > 0)
            return v[i].i;
    }
    for (uint32_t i = kept; i-- > 0;)
        if (v[i].p > 0)
            return v[i].i;
    return v[0].i;
}
