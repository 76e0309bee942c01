/*
 * rt_tf_ref.c: CPU references of the transformer kernels and the weight
 * quantisers (see rt_tf_ref.h).  Accumulation in double so the reference
 * is closer to exact than the kernels it judges.
 */
#include "runtime/tfm/rt_tf_ref.h"
#include "runtime/ir/rt_ir.h"

#include <math.h>
#include <string.h>

void rt_tfr_quant_i8(const float *w, uint32_t n, uint32_t k, int8_t *q, float *scale)
{
    for (uint32_t r = 0; r < n; r++) {
        const float *row = w + (uint64_t)r * k;
        float mx = 0;
        for (uint32_t i = 0; i < k; i++)
            mx = fabsf(row[i]) > mx ? fabsf(row[i]) : mx;
        float s = mx > 0 ? mx / 127.0f : 1.0f;
        scale[r] = s;
        for (uint32_t i = 0; i < k; i++) {
            float v = row[i] / s;
            v = v < -127 ? -127 : (v > 127 ? 127 : v);
            q[(uint64_t)r * k + i] = (int8_t)rintf(v);
        }
    }
}

void rt_tfr_quant_q4(const float *w, uint32_t n, uint32_t k, uint32_t *packed, float *scale,
                     float *zero)
{
    uint64_t groups = (uint64_t)n * k / 32;
    memset(packed, 0, (size_t)((uint64_t)n * k / 8) * 4);
    for (uint64_t g = 0; g < groups; g++) {
        const float *v = w + g * 32;
        float lo = v[0], hi = v[0];
        for (int i = 1; i < 32; i++) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        float s = hi > lo ? (hi - lo) / 15.0f : 1.0f;
        float z = -lo / s;
        scale[g] = s;
        zero[g] = z;
        for (int i = 0; i < 32; i++) {
            float qf = floorf(v[i] / s + z + 0.5f);
            uint32_t qv = qf < 0 ? 0 : (qf > 15 ? 15 : (uint32_t)qf);
            uint64_t e = g * 32 + (uint64_t)i;
            packed[e / 8] |= qv << (4 * (e % 8));
        }
    }
}

void rt_tfr_round_weight(int type, const float *w, uint32_t n, uint32_t k, float *out)
{
    uint64_t total = (uint64_t)n * k;
    if (type == 1) {
        for (uint64_t i = 0; i < total; i++)
            out[i] = rt_f16_to_f32(rt_f32_to_f16(w[i]));
    } else if (type == 2) {
        for (uint32_t r = 0; r < n; r++) {
            float s;
            const float *row = w + (uint64_t)r * k;
            float mx = 0;
            for (uint32_t i = 0; i < k; i++)
                mx = fabsf(row[i]) > mx ? fabsf(row[i]) : mx;
            s = mx > 0 ? mx / 127.0f : 1.0f;
            for (uint32_t i = 0; i < k; i++) {
                float v = row[i] / s;
                v = v < -127 ? -127 : (v > 127 ? 127 : v);
                out[(uint64_t)r * k + i] = rintf(v) * s;
            }
        }
    } else if (type == 3) {
        for (uint64_t g = 0; g < total / 32; g++) {
            const float *v = w + g * 32;
            float lo = v[0], hi = v[0];
            for (int i = 1; i < 32; i++) {
                lo = v[i] < lo ? v[i] : lo;
                hi = v[i] > hi ? v[i] : hi;
            }
            float s = hi > lo ? (hi - lo) / 15.0f : 1.0f;
            float z = -lo / s;
            for (int i = 0; i < 32; i++) {
                float qf = floorf(v[i] / s + z + 0.5f);
                qf = qf < 0 ? 0 : (qf > 15 ? 15 : qf);
                out[g * 32 + (uint64_t)i] = (qf - z) * s;
            }
        }
    } else {
        memcpy(out, w, (size_t)total * sizeof(float));
    }
}

float rt_tfr_gelu_tanh(float x)
{
    double v = x;
    return (float)(0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
}

float rt_tfr_gelu_erf(float x)
{
    double v = x;
    return (float)(0.5 * v * (1.0 + erf(v * 0.70710678118654752)));
}

static float act(int a, float v)
{
    return a == 1 ? rt_tfr_gelu_tanh(v) : (a == 2 ? rt_tfr_gelu_erf(v) : v);
}

void rt_tfr_layernorm(const float *x, uint32_t ldx, const float *w, const float *b, float *y,
                      uint32_t ldy, uint32_t rows, uint32_t dim, float eps)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *xr = x + (uint64_t)r * ldx;
        double s = 0, q = 0;
        for (uint32_t i = 0; i < dim; i++)
            s += xr[i];
        double mean = s / dim;
        for (uint32_t i = 0; i < dim; i++)
            q += (xr[i] - mean) * (xr[i] - mean);
        double inv = 1.0 / sqrt(q / dim + eps);
        for (uint32_t i = 0; i < dim; i++)
            y[(uint64_t)r * ldy + i] = (float)((xr[i] - mean) * inv * w[i] + b[i]);
    }
}

void rt_tfr_linear(const float *x, uint32_t ldx, const float *w, const float *bias, float *y,
                   uint32_t ldy, uint32_t m, uint32_t n, uint32_t k, int a, int acc)
{
    for (uint32_t r = 0; r < m; r++)
        for (uint32_t c = 0; c < n; c++) {
            double s = 0;
            const float *xr = x + (uint64_t)r * ldx, *wr = w + (uint64_t)c * k;
            for (uint32_t i = 0; i < k; i++)
                s += (double)xr[i] * wr[i];
            float v = act(a, (float)(s + (bias ? bias[c] : 0)));
            float *yo = y + (uint64_t)r * ldy + c;
            *yo = acc ? *yo + v : v;
        }
}

static int keep(uint32_t j, uint32_t q, uint32_t kv, uint32_t prefix, int causal)
{
    return j < kv && (!causal || j < prefix || j <= q);
}

void rt_tfr_softmax(const float *x, float *y, uint32_t rows, uint32_t len, uint32_t ld, uint32_t t,
                    uint32_t pos0, uint32_t prefix, int causal, float scale)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *xr = x + (uint64_t)r * ld;
        float *yr = y + (uint64_t)r * ld;
        uint32_t q = pos0 + r % t, kv = pos0 + t;
        double m = -INFINITY, s = 0;
        for (uint32_t j = 0; j < len; j++)
            if (keep(j, q, kv, prefix, causal) && (double)xr[j] * scale > m)
                m = (double)xr[j] * scale;
        for (uint32_t j = 0; j < len; j++)
            if (keep(j, q, kv, prefix, causal))
                s += exp((double)xr[j] * scale - m);
        for (uint32_t j = 0; j < len; j++)
            yr[j] =
                keep(j, q, kv, prefix, causal) ? (float)(exp((double)xr[j] * scale - m) / s) : 0.0f;
    }
}

void rt_tfr_attention(struct rt_tfr_view q, struct rt_tfr_view k, struct rt_tfr_view v, float *o,
                      uint32_t ooff, uint32_t old, uint32_t obs, uint32_t pos0, uint32_t t,
                      uint32_t batch, uint32_t heads, uint32_t hd, uint32_t prefix, int causal,
                      float scale)
{
    uint32_t kv = pos0 + t;
    double sc[8192], acc[128];
    if (kv > 8192 || hd > 128)
        return; /* beyond the reference's fixed scratch: callers stay below */
    for (uint32_t b = 0; b < batch; b++)
        for (uint32_t h = 0; h < heads; h++)
            for (uint32_t r = 0; r < t; r++) {
                const float *qr = q.p + q.off + (uint64_t)b * q.bs + (uint64_t)r * q.ld + h * hd;
                uint32_t qp = pos0 + r;
                double m = -INFINITY, s = 0;
                for (uint32_t j = 0; j < kv; j++) {
                    sc[j] = -INFINITY;
                    if (!keep(j, qp, kv, prefix, causal))
                        continue;
                    const float *kr =
                        k.p + k.off + (uint64_t)b * k.bs + (uint64_t)j * k.ld + h * hd;
                    double d = 0;
                    for (uint32_t i = 0; i < hd; i++)
                        d += (double)qr[i] * kr[i];
                    sc[j] = d * scale;
                    m = sc[j] > m ? sc[j] : m;
                }
                for (uint32_t i = 0; i < hd; i++)
                    acc[i] = 0;
                for (uint32_t j = 0; j < kv; j++) {
                    if (sc[j] == -INFINITY)
                        continue;
                    double p = exp(sc[j] - m);
                    s += p;
                    const float *vr =
                        v.p + v.off + (uint64_t)b * v.bs + (uint64_t)j * v.ld + h * hd;
                    for (uint32_t i = 0; i < hd; i++)
                        acc[i] += p * vr[i];
                }
                float *orow = o + ooff + (uint64_t)b * obs + (uint64_t)r * old + h * hd;
                for (uint32_t i = 0; i < hd; i++)
                    orow[i] = s > 0 ? (float)(acc[i] / s) : 0.0f;
            }
}

void rt_tfr_rope_table(float *cs, uint32_t max_pos, uint32_t rot, double theta)
{
    for (uint32_t p = 0; p < max_pos; p++)
        for (uint32_t i = 0; i < rot / 2; i++) {
            /* as the published code: freqs in fp32, angle pos * freq in fp32 */
            float f = (float)(1.0 / pow(theta, (double)(2 * i) / rot));
            float a = (float)p * f;
            cs[2 * ((uint64_t)p * (rot / 2) + i)] = (float)cos((double)a);
            cs[2 * ((uint64_t)p * (rot / 2) + i) + 1] = (float)sin((double)a);
        }
}

void rt_tfr_rope(const float *qkv, uint32_t ld, const float *cs, uint32_t pos0, float *qo,
                 uint32_t qld, float *kc, float *vc, uint32_t kld, uint32_t t, uint32_t d,
                 uint32_t hd, uint32_t rot, uint32_t max_pos)
{
    for (uint32_t r = 0; r < t; r++) {
        uint32_t pos = pos0 + r < max_pos ? pos0 + r : max_pos - 1;
        const float *x = qkv + (uint64_t)r * ld;
        for (uint32_t col = 0; col < d; col++) {
            uint32_t h = col / hd, dd = col % hd;
            float qv = x[col], kv = x[d + col];
            if (dd < rot) {
                uint32_t i = dd / 2, half = rot / 2;
                float c = cs[2 * ((uint64_t)pos * half + i)],
                      s = cs[2 * ((uint64_t)pos * half + i) + 1];
                const float *qh = x + h * hd, *kh = x + d + h * hd;
                qv = (dd & 1) == 0 ? qh[i] * c - qh[half + i] * s : qh[i] * s + qh[half + i] * c;
                kv = (dd & 1) == 0 ? kh[i] * c - kh[half + i] * s : kh[i] * s + kh[half + i] * c;
            }
            qo[(uint64_t)r * qld + col] = qv;
            kc[(uint64_t)pos * kld + col] = kv;
            vc[(uint64_t)pos * kld + col] = x[2 * d + col];
        }
    }
}

void rt_tfr_pool(const float *x, float *y, uint32_t n, uint32_t h, uint32_t w, uint32_t c,
                 uint32_t oh, uint32_t ow)
{
    for (uint32_t b = 0; b < n; b++)
        for (uint32_t oy = 0; oy < oh; oy++)
            for (uint32_t ox = 0; ox < ow; ox++) {
                uint32_t y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
                uint32_t x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
                for (uint32_t ch = 0; ch < c; ch++) {
                    double s = 0;
                    for (uint32_t yy = y0; yy < y1; yy++)
                        for (uint32_t xx = x0; xx < x1; xx++)
                            s += x[(((uint64_t)b * h + yy) * w + xx) * c + ch];
                    y[(((uint64_t)b * oh + oy) * ow + ox) * c + ch] =
                        (float)(s / ((y1 - y0) * (x1 - x0)));
                }
            }
}

void rt_tfr_copy(const float *x, float *y, const uint32_t dims[4], const uint32_t ss[4],
                 const uint32_t ds[4], uint32_t soff, uint32_t doff)
{
    for (uint32_t a = 0; a < dims[0]; a++)
        for (uint32_t b = 0; b < dims[1]; b++)
            for (uint32_t c = 0; c < dims[2]; c++)
                for (uint32_t d = 0; d < dims[3]; d++)
                    y[doff + a * ds[0] + b * ds[1] + c * ds[2] + d * ds[3]] =
                        x[soff + a * ss[0] + b * ss[1] + c * ss[2] + d * ss[3]];
}

void rt_tfr_fourier(const float *x, const float *w, float *y, uint32_t m, uint32_t i, uint32_t f)
{
    for (uint32_t r = 0; r < m; r++)
        for (uint32_t j = 0; j < f; j++) {
            double s = 0;
            for (uint32_t k = 0; k < i; k++)
                s += (double)x[r * i + k] * w[k * f + j];
            s *= 6.283185307179586;
            y[r * 2 * f + j] = (float)cos(s);
            y[r * 2 * f + f + j] = (float)sin(s);
        }
}

uint32_t rt_tfr_argmax(const float *x, uint32_t len)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t j = 0; j < len; j++)
        if (!isnan(x[j]) && (best == UINT32_MAX || x[j] > x[best]))
            best = j;
    return best == UINT32_MAX ? 0 : best;
}
