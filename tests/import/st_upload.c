/*
 * st_upload.c: the safetensors converters' device formats (import/st.h:
 * f16, int8 per row, symmetric 4-bit in groups of 32/64/128) are what the
 * matmul kernels read: each converted weight is uploaded as is
 * (rt_tf_weight_upload_raw) and the device's y = x W^T + b is compared with
 * the same product computed here from the converter's output dequantised by
 * the formulas of import/README.md.  Both sides use the same weights, so
 * only the summation order differs: bound 1e-6 relative (measured <= 1.2e-7).  Needs a Vulkan
 * device (suite 32-decoder runs it on lavapipe with validation layers).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cm.h"
#include "import/st.h"
#include "runtime/rt.h"
#include "runtime/tfm/rt_tf.h"
#include "tests/lib/th.h"

static const char *env_get(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

/* a device with the runtime's settings from the environment (RT_VALIDATE, ...) */
static int env_device_create(const char *selector, struct rt_device **dev, struct err *e)
{
    struct rt_device_opts o = rt_device_opts_default();
    int rc = rt_device_opts_read(&o, env_get, NULL, e);
    o.selector = selector;
    return rc < 0 ? rc : rt_device_create(&o, dev, e);
}

enum { N = 48, K = 128 };

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* y = x W^T + b on the device, m rows */
static int run(struct rt_device *d, const struct rt_tf_weight *w, const float *x, int m, float *y,
               struct err *e)
{
    struct rt_tf_buf *bx = NULL, *by = NULL;
    struct rt_tf_seq *s = NULL;
    int rc = rt_tf_buf_init(d, (uint64_t)m * K * 4, 1, &bx, e);
    if (!rc)
        rc = rt_tf_buf_init(d, (uint64_t)m * N * 4, 1, &by, e);
    if (!rc)
        rc = rt_tf_buf_write(d, bx, 0, x, (uint64_t)m * K * 4, e);
    if (!rc)
        rc = rt_tf_seq_init(d, &s, e);
    if (!rc)
        rc = rt_tf_linear(s, w, rt_tf_whole(bx), K, rt_tf_whole(by), N, (uint32_t)m, 0, 0, e);
    if (!rc)
        rc = rt_tf_seq_end(s, e);
    if (!rc)
        rc = rt_tf_seq_submit(s, e);
    if (!rc)
        rc = rt_tf_buf_read(d, by, 0, y, (uint64_t)m * N * 4, e);
    rt_tf_seq_free(s);
    rt_tf_buf_free(d, bx);
    rt_tf_buf_free(d, by);
    return rc;
}

static double check(const char *what, struct rt_device *d, const struct rt_tf_weight *w,
                    const float *deq, const float *bias, const float *x, int m)
{
    float y[8 * N];
    struct err e;
    if (run(d, w, x, m, y, &e) != 0) {
        printf("# %s: %s\n", what, e.msg);
        return INFINITY;
    }
    double worst = 0, big = 0;
    for (int r = 0; r < m; r++)
        for (int n = 0; n < N; n++) {
            double acc = bias[n];
            for (int k = 0; k < K; k++)
                acc += (double)x[r * K + k] * deq[n * K + k];
            worst = fmax(worst, fabs(acc - y[r * N + n]));
            big = fmax(big, fabs(acc));
        }
    return worst / big;
}

int main(void)
{
    struct err e;
    struct rt_device *d;
    if (env_device_create(getenv("VKV_DEVICE") ? getenv("VKV_DEVICE") : "0", &d, &e) != 0) {
        TH_CHECK(0, "a Vulkan device (%s)", e.msg);
        return th_done();
    }
    /* a BF16 [N, K] tensor in a safetensors image */
    unsigned seed = 11;
    char hdr[128];
    int hn = snprintf(hdr, sizeof hdr,
                      "{\"w\":{\"dtype\":\"BF16\",\"shape\":[%d,%d],\"data_offsets\":[0,%d]}}", N,
                      K, N * K * 2);
    size_t size = 8 + (size_t)hn + (size_t)N * K * 2;
    uint8_t *img = calloc(size, 1);
    for (int i = 0; i < 8; i++)
        img[i] = (uint8_t)((uint64_t)hn >> (8 * i));
    memcpy(img + 8, hdr, (size_t)hn);
    for (int i = 0; i < N * K; i++) {
        float v = frand(&seed) * (1 + (float)(i / K) / 8);
        uint32_t u;
        memcpy(&u, &v, 4);
        img[8 + hn + 2 * i] = (uint8_t)(u >> 16);
        img[8 + hn + 2 * i + 1] = (uint8_t)(u >> 24);
    }
    struct st_file *f;
    TH_EQ_INT(st_open_mem(&f, img, size, NULL, &e), 0, "BF16 weight image opens");
    if (!f) {
        rt_device_destroy(d);
        return th_done();
    }
    const struct st_tensor *t = st_find(f, "w");
    float bias[N], x[8 * K], deq[N * K];
    for (int n = 0; n < N; n++)
        bias[n] = frand(&seed) / 4;
    for (int i = 0; i < 8 * K; i++)
        x[i] = frand(&seed);
    struct rt_tf_weight w;

    uint16_t h[N * K];
    st_to_f16(f, t, h, &e);
    for (int i = 0; i < N * K; i++)
        deq[i] = st_half_to_f32(h[i]);
    if (rt_tf_weight_upload_raw(d, RT_TF_F16, N, K, 0, h, NULL, NULL, bias, &w, &e) == 0) {
        for (int m = 1; m <= 8; m += 7) {
            double r = check("f16", d, &w, deq, bias, x, m);
            TH_CHECK(r <= 1e-6, "st_to_f16 -> f16 kernel, %d row(s): %.2e relative", m, r);
        }
        rt_tf_weight_free(d, &w);
    } else
        TH_CHECK(0, "f16 upload: %s", e.msg);

    int8_t q8[N * K];
    float s8[N];
    st_to_i8(f, t, q8, s8, &e);
    for (int i = 0; i < N * K; i++)
        deq[i] = q8[i] * s8[i / K];
    if (rt_tf_weight_upload_raw(d, RT_TF_I8, N, K, 0, q8, s8, NULL, bias, &w, &e) == 0) {
        for (int m = 1; m <= 8; m += 7) {
            double r = check("i8", d, &w, deq, bias, x, m);
            TH_CHECK(r <= 1e-6, "st_to_i8 -> i8 kernel, %d row(s): %.2e relative", m, r);
        }
        rt_tf_weight_free(d, &w);
    } else
        TH_CHECK(0, "i8 upload: %s", e.msg);

    for (int g = 32; g <= 128; g *= 2) {
        uint8_t q4[N * K / 2];
        float s4[N * K / 32];
        st_to_q4(f, t, g, q4, s4, &e);
        for (int i = 0; i < N * K; i++) {
            int u = i & 1 ? q4[i / 2] >> 4 : q4[i / 2] & 15;
            deq[i] = (float)(u - 8) * s4[(i / K) * (K / g) + (i % K) / g];
        }
        if (rt_tf_weight_upload_raw(d, RT_TF_Q4, N, K, (uint32_t)g, q4, s4, NULL, bias, &w, &e) ==
            0) {
            for (int m = 1; m <= 8; m += 7) {
                double r = check("q4", d, &w, deq, bias, x, m);
                TH_CHECK(r <= 1e-6, "st_to_q4 group %d -> q4 kernel, %d row(s): %.2e relative", g,
                         m, r);
            }
            rt_tf_weight_free(d, &w);
        } else
            TH_CHECK(0, "q4 group %d upload: %s", g, e.msg);
    }
    TH_EQ_INT(rt_device_validation_errors(d), 0, "no validation errors");
    st_close(f);
    free(img);
    rt_device_destroy(d);
    return th_done();
}
