/*
 * rt_sample.h: token sampling on the host (prefix rt_sample_): argmax
 * (temperature 0), or softmax(logits / temperature) restricted to the
 * top-p nucleus as in the published Moondream code (sorted descending, an
 * entry is dropped when the probability mass before it exceeds top_p),
 * renormalised, drawn with a seeded generator (xoshiro-style, our own
 * stream: same seed, same tokens).  Host sampling reads the logits row
 * (vocab floats) once per step; partial selection keeps it O(vocab) for
 * small top_p, and logits 40 temperatures under the maximum are skipped.
 */
#ifndef VKV_RT_SAMPLE_H
#define VKV_RT_SAMPLE_H

#include "common/err.h"

#include <stdint.h>

struct rt_sample_pi {
    float p;
    uint32_t i;
};

struct rt_sampler {
    uint32_t n;             /* vocab */
    struct rt_sample_pi *v; /* n scratch */
    uint64_t s[2];
};

/* scratch for n logits and the generator seeded with seed; 0 or <0 (OOM) */
int rt_sample_init(struct rt_sampler *sm, uint32_t n, uint64_t seed, struct err *e);
void rt_sample_free(struct rt_sampler *sm);
/* a uniform float in [0, 1) from the generator; cannot fail */
double rt_sample_uniform(struct rt_sampler *sm);
/* the sampled id (logits borrowed; -inf entries never drawn); cannot fail */
uint32_t rt_sample_pick(struct rt_sampler *sm, const float *logits, float temperature, float top_p);

#endif
