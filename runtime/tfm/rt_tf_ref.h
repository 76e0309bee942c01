/*
 * rt_tf_ref.h: CPU references of the transformer kernels (prefix rt_tfr_),
 * plain loops with double accumulation and the same index math as the
 * shaders (tf_*.comp), plus the weight quantisers shared by the device
 * upload and the references (so a reference with dequantised weights is
 * the exact oracle of a quantised kernel).  No GPU needed.  All pointers
 * are borrowed for the call; none of these can fail (shapes are the
 * caller's contract).
 */
#ifndef VKV_RT_TF_REF_H
#define VKV_RT_TF_REF_H

#include <stdint.h>

/* ---- quantisers (layouts: runtime/tfm/README.md) ------------------------- */

/* int8 symmetric per row: q[n*k], scale[n] = max|row| / 127 (1 for a zero row) */
void rt_tfr_quant_i8(const float *w, uint32_t n, uint32_t k, int8_t *q, float *scale);
/* q4 groups of 32 along k: packed[n*k/8] (low nibble first), scale/zero[n*k/32] */
void rt_tfr_quant_q4(const float *w, uint32_t n, uint32_t k, uint32_t *packed, float *scale,
                     float *zero);
/* w rounded to what a weight of type (enum rt_tf_wtype) holds: out[n*k]
 * (f16 round trip, int8 or q4 quantise + dequantise) */
void rt_tfr_round_weight(int type, const float *w, uint32_t n, uint32_t k, float *out);

/* ---- ops ------------------------------------------------------------------ */

float rt_tfr_gelu_tanh(float x);
float rt_tfr_gelu_erf(float x);

void rt_tfr_layernorm(const float *x, uint32_t ldx, const float *w, const float *b, float *y,
                      uint32_t ldy, uint32_t rows, uint32_t dim, float eps);

/* y[m, n] = act(sum_k x[m, k] w[n, k] + bias[n]) (+ y[m, n] if acc); act as enum rt_tf_act */
void rt_tfr_linear(const float *x, uint32_t ldx, const float *w, const float *bias, float *y,
                   uint32_t ldy, uint32_t m, uint32_t n, uint32_t k, int act, int acc);

/* masked softmax as tf_softmax.comp */
void rt_tfr_softmax(const float *x, float *y, uint32_t rows, uint32_t len, uint32_t ld, uint32_t t,
                    uint32_t pos0, uint32_t prefix, int causal, float scale);

/* attention as tf_attn.comp: element (b, row, h, d) at off + b*bs + row*ld + h*hd + d */
struct rt_tfr_view {
    const float *p;
    uint32_t off, ld, bs;
};
void rt_tfr_attention(struct rt_tfr_view q, struct rt_tfr_view k, struct rt_tfr_view v, float *o,
                      uint32_t ooff, uint32_t old, uint32_t obs, uint32_t pos0, uint32_t t,
                      uint32_t batch, uint32_t heads, uint32_t hd, uint32_t prefix, int causal,
                      float scale);

/* cos/sin table: cs[2 * (pos * rot/2 + i)] = cos, +1 = sin of pos / theta^(2i/rot) */
void rt_tfr_rope_table(float *cs, uint32_t max_pos, uint32_t rot, double theta);
/* as tf_rope.comp */
void rt_tfr_rope(const float *qkv, uint32_t ld, const float *cs, uint32_t pos0, float *qo,
                 uint32_t qld, float *kc, float *vc, uint32_t kld, uint32_t t, uint32_t d,
                 uint32_t hd, uint32_t rot, uint32_t max_pos);

void rt_tfr_pool(const float *x, float *y, uint32_t n, uint32_t h, uint32_t w, uint32_t c,
                 uint32_t oh, uint32_t ow);
void rt_tfr_copy(const float *x, float *y, const uint32_t dims[4], const uint32_t ss[4],
                 const uint32_t ds[4], uint32_t soff, uint32_t doff);
void rt_tfr_fourier(const float *x, const float *w, float *y, uint32_t m, uint32_t i, uint32_t f);
/* index of the largest value (first on ties; NaN never wins; 0 if none) */
uint32_t rt_tfr_argmax(const float *x, uint32_t len);

#endif
