/*
 * tf_bench.c: vkv-tf-bench, the transformer benchmarks (bench/transformer.sh).
 * Prints one JSON line per figure, each next to the device's own limits
 * measured in the same run:
 *
 *   vkv-tf-bench micro [--m M] [--iters N]
 *       copy bandwidth (vkCmdCopyBuffer, read + write bytes / s), peak
 *       multiply-add rate (tf_peak), one-row matmul at the 2B model's
 *       shapes per weight type as a fraction of the copy bandwidth (weight
 *       bytes / s), many-row matmul (m rows) as a fraction of the peak.
 *   vkv-tf-bench limits [--iters N]
 *       the copy bandwidth and peak multiply-add lines of micro only (what
 *       bench/runtime-ops.sh compares the convolution kernels with).
 *   vkv-tf-bench decoder [--weights i8|q4|f16|f32] [--layers N] [--prefill T]
 *                        [--tokens N] [--config tiny]
 *       Moondream 2's text decoder with random weights: load time, device
 *       bytes, prefill time, decode ms/token, host ms per step and its
 *       fraction of the step, dispatches and barriers per token, host
 *       sampling time (top-p over the vocabulary).
 *
 * Device: RT_DEVICE (default 0).  Timings are wall clock around submit +
 * fence wait with several dispatches per submission (best of --iters), and
 * the process CPU time of the same runs (lavapipe's worker threads
 * included): on a shared CPU-only machine the cpu_* fractions are the
 * stable ones.
 */
#include "common/cm.h"
#include "runtime/tfm/rt_dec.h"
#include "runtime/tfm/rt_sample.h"

#include <math.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static struct rt_device *dev;
static uint32_t rng = 1;

static void fill(float *p, size_t n, float a)
{
    for (size_t i = 0; i < n; i++) {
        rng = rng * 1664525u + 1013904223u;
        p[i] = a * ((float)(rng >> 8) / (float)(1u << 24) * 2.0f - 1.0f);
    }
}

static int die(const char *what, const struct err *e)
{
    fprintf(stderr, "vkv-tf-bench: %s: %s\n", what, e->msg);
    return 1;
}

/* process CPU time (every thread: lavapipe's workers included), ms */
static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}
static double last_cpu; /* CPU ms per repetition of the last time_seq (best run) */

/* ms per repetition of a sequence built by fn (reps recorded in one submission) */
typedef int (*rec_fn)(struct rt_tf_seq *s, void *ud, struct err *e);
static double time_seq(rec_fn fn, void *ud, int reps, int runs, struct err *e)
{
    struct rt_tf_seq *s = NULL;
    if (rt_tf_seq_init(dev, &s, e) < 0)
        return -1;
    for (int i = 0; i < reps; i++)
        if (fn(s, ud, e) < 0) {
            rt_tf_seq_free(s);
            return -1;
        }
    double best = 1e30;
    if (rt_tf_seq_end(s, e) < 0 || rt_tf_seq_submit(s, e) < 0) { /* warm-up */
        rt_tf_seq_free(s);
        return -1;
    }
    last_cpu = 1e30;
    for (int r = 0; r < runs; r++) {
        double t0 = cm_now_ms(), c0 = cpu_ms();
        if (rt_tf_seq_submit(s, e) < 0) {
            rt_tf_seq_free(s);
            return -1;
        }
        double t = (cm_now_ms() - t0) / reps, c = (cpu_ms() - c0) / reps;
        best = t < best ? t : best;
        last_cpu = c < last_cpu ? c : last_cpu;
    }
    rt_tf_seq_free(s);
    return best;
}

struct copy_ud {
    struct rt_tf_ref a, b;
};
static int rec_copy(struct rt_tf_seq *s, void *ud, struct err *e)
{
    struct copy_ud *c = ud;
    return rt_tf_seq_copy(s, c->a, c->b, e);
}

struct peak_ud {
    struct rt_tf_ref out;
    uint32_t groups, iters;
};
static int rec_peak(struct rt_tf_seq *s, void *ud, struct err *e)
{
    struct peak_ud *p = ud;
    return rt_tf_peak(s, p->out, p->groups, p->iters, e);
}

struct lin_ud {
    struct rt_tf_weight *w;
    struct rt_tf_ref x, y;
    uint32_t m;
};
static int rec_lin(struct rt_tf_seq *s, void *ud, struct err *e)
{
    struct lin_ud *l = ud;
    return rt_tf_linear(s, l->w, l->x, l->w->k, l->y, l->w->n, l->m, 0, 0, e);
}

static int micro(uint32_t m_rows, int runs, int limits_only)
{
    struct err e = {0};
    const struct rt_caps *caps = rt_device_caps(dev);
    uint64_t cb = caps->max_storage_range < (256ull << 20) ? caps->max_storage_range : 256ull << 20;
    struct rt_tf_buf *a = NULL, *b = NULL;
    if (rt_tf_buf_init(dev, cb, 0, &a, &e) < 0 || rt_tf_buf_init(dev, cb, 0, &b, &e) < 0)
        return die("copy buffers", &e);
    struct copy_ud cu = {rt_tf_whole(a), rt_tf_whole(b)};
    double ms = time_seq(rec_copy, &cu, 4, runs, &e);
    if (ms < 0)
        return die("copy", &e);
    double copy_gbs = 2.0 * (double)cb / (ms * 1e6), copy_cpu = last_cpu;
    printf("{\"bench\":\"copy_bandwidth\",\"device\":\"%s\",\"bytes\":%llu,\"ms\":%.3f,"
           "\"cpu_ms\":%.3f,\"gb_per_s\":%.2f,"
           "\"note\":\"read+write bytes per second of vkCmdCopyBuffer\"}\n",
           caps->name, (unsigned long long)cb, ms, copy_cpu, copy_gbs);
    fflush(stdout);
    rt_tf_buf_free(dev, b);
    uint32_t groups = caps->type[0] == 'c' ? 256 : 8192, iters = caps->type[0] == 'c' ? 512 : 4096;
    struct peak_ud pu = {rt_tf_whole(a), groups, iters};
    ms = time_seq(rec_peak, &pu, 4, runs, &e);
    if (ms < 0)
        return die("peak", &e);
    double fma = (double)groups * 64 * 32 * iters;
    double peak_g = fma / (ms * 1e6), peak_cpu = fma / (last_cpu * 1e6);
    printf("{\"bench\":\"peak_fma\",\"groups\":%u,\"iters\":%u,\"ms\":%.3f,\"cpu_ms\":%.3f,"
           "\"gfma_per_s\":%.2f,\"gflops\":%.2f}\n",
           groups, iters, ms, last_cpu, peak_g, 2 * peak_g);
    fflush(stdout);
    rt_tf_buf_free(dev, a);
    if (limits_only)
        return 0;

    /* one-row (decode) and many-row (prefill) matmul at the 2B model's shapes */
    static const uint32_t shapes[][2] = {{6144, 2048}, {8192, 2048}, {2048, 8192}, {51200, 2048}};
    static const int types[] = {RT_TF_I8, RT_TF_Q4, RT_TF_F16};
    size_t n_types = getenv("TF_BENCH_QUICK") ? 1 : 3, n_shapes = getenv("TF_BENCH_QUICK") ? 1 : 4;
    float *w = malloc((size_t)51200 * 2048 * 4), *xh = malloc((size_t)m_rows * 8192 * 4 + 16);
    if (w == NULL || xh == NULL)
        return die("host memory", &(struct err){.msg = "out of memory"});
    fill(w, (size_t)51200 * 2048, 0.05f);
    fill(xh, (size_t)m_rows * 8192, 1.0f);
    struct rt_tf_buf *xb = NULL, *yb = NULL;
    if (rt_tf_buf_init(dev, (uint64_t)m_rows * 8192 * 4, 0, &xb, &e) < 0 ||
        rt_tf_buf_init(dev,
                       (uint64_t)m_rows * 51200 * 4 > caps->max_storage_range
                           ? caps->max_storage_range
                           : (uint64_t)m_rows * 51200 * 4,
                       0, &yb, &e) < 0 ||
        rt_tf_buf_write(dev, xb, 0, xh, (uint64_t)m_rows * 8192 * 4, &e) < 0)
        return die("activations", &e);
    for (size_t ti = 0; ti < n_types; ti++)
        for (size_t si = 0; si < n_shapes; si++) {
            uint32_t n = shapes[si][0], k = shapes[si][1];
            struct rt_tf_weight W;
            if (rt_tf_weight_upload(dev, types[ti], n, k, w, NULL, &W, &e) < 0)
                return die("weight", &e);
            uint64_t wbytes = W.bytes;
            struct lin_ud lu = {&W, rt_tf_whole(xb), rt_tf_whole(yb), 1};
            ms = time_seq(rec_lin, &lu, 6, runs, &e);
            if (ms < 0)
                return die("linear mv", &e);
            double gbs = (double)wbytes / (ms * 1e6);
            printf("{\"bench\":\"linear_one_row\",\"weights\":\"%s\",\"k\":%u,\"n\":%u,"
                   "\"ms\":%.3f,\"cpu_ms\":%.3f,\"weight_bytes\":%llu,\"gb_per_s\":%.2f,"
                   "\"fraction_of_copy_bw\":%.3f,\"cpu_fraction_of_copy_bw\":%.3f}\n",
                   rt_tf_wtype_name(types[ti]), k, n, ms, last_cpu, (unsigned long long)wbytes, gbs,
                   gbs / copy_gbs, ((double)wbytes / last_cpu) / (2.0 * (double)cb / copy_cpu));
            fflush(stdout);
            /* many rows: only where y fits one binding */
            if ((uint64_t)m_rows * n * 4 <= caps->max_storage_range) {
                lu.m = m_rows;
                ms = time_seq(rec_lin, &lu, 1, runs, &e);
                if (ms < 0)
                    return die("linear mm", &e);
                double g = (double)m_rows * n * k / (ms * 1e6);
                printf("{\"bench\":\"linear_many_rows\",\"weights\":\"%s\",\"m\":%u,\"k\":%u,"
                       "\"n\":%u,\"ms\":%.3f,\"cpu_ms\":%.3f,\"gfma_per_s\":%.2f,"
                       "\"fraction_of_peak\":%.3f,\"cpu_fraction_of_peak\":%.3f}\n",
                       rt_tf_wtype_name(types[ti]), m_rows, k, n, ms, last_cpu, g, g / peak_g,
                       ((double)m_rows * n * k / (last_cpu * 1e6)) / peak_cpu);
                fflush(stdout);
            }
            rt_tf_weight_free(dev, &W);
        }
    rt_tf_buf_free(dev, xb);
    rt_tf_buf_free(dev, yb);
    free(w);
    free(xh);
    return 0;
}

static int decoder(int wtype, uint32_t layers, uint32_t prefill, uint32_t tokens, int tiny)
{
    struct err e = {0};
    struct rt_dec_config c = rt_dec_config_moondream2();
    if (tiny)
        c = (struct rt_dec_config){256, 2, 4, 1024, 4096, 512, 32, 10000.0f, 1e-5f, 0};
    if (layers > 0)
        c.n_layers = layers;
    struct rt_dec *m = NULL;
    double t0 = cm_now_ms();
    if (rt_dec_init(dev, &c, wtype, &m, &e) < 0)
        return die("init", &e);
    /* random weights, one tensor at a time (the largest is the 51200-row head) */
    size_t big = (size_t)c.vocab * c.dim > (size_t)c.ff_dim * c.dim * 3
                     ? (size_t)c.vocab * c.dim
                     : (size_t)c.ff_dim * c.dim * 3;
    float *w = malloc(big * 4);
    if (w == NULL)
        return die("host memory", &(struct err){.msg = "out of memory"});
    fill(w, big, 1.0f);
    char nm[64];
    static const char *lin[] = {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"};
    uint32_t ln[4] = {3 * c.dim, c.dim, c.ff_dim, c.dim}, lk[4] = {c.dim, c.dim, c.dim, c.ff_dim};
    int rc = 0;
    /* scaled so activations stay O(1) through the blocks */
    for (size_t i = 0; i < big; i++)
        w[i] *= 0.02f;
    rc |= rt_dec_tensor_set(m, "wte", w, (uint64_t)c.vocab * c.dim, &e);
    rc |= rt_dec_tensor_set(m, "lm_head.weight", w, (uint64_t)c.vocab * c.dim, &e);
    rc |= rt_dec_tensor_set(m, "lm_head.bias", w, c.vocab, &e);
    float *ones = malloc((size_t)c.ff_dim * 3 * 4);
    for (uint32_t i = 0; i < c.ff_dim * 3; i++)
        ones[i] = 1.0f;
    rc |= rt_dec_tensor_set(m, "post_ln.weight", ones, c.dim, &e);
    rc |= rt_dec_tensor_set(m, "post_ln.bias", w, c.dim, &e);
    for (uint32_t l = 0; l < c.n_layers && rc == 0; l++) {
        snprintf(nm, sizeof(nm), "blocks.%u.ln.weight", l);
        rc |= rt_dec_tensor_set(m, nm, ones, c.dim, &e);
        snprintf(nm, sizeof(nm), "blocks.%u.ln.bias", l);
        rc |= rt_dec_tensor_set(m, nm, w, c.dim, &e);
        for (int j = 0; j < 4; j++) {
            snprintf(nm, sizeof(nm), "blocks.%u.%s.weight", l, lin[j]);
            rc |= rt_dec_tensor_set(m, nm, w + l * 97, (uint64_t)ln[j] * lk[j], &e);
            snprintf(nm, sizeof(nm), "blocks.%u.%s.bias", l, lin[j]);
            rc |= rt_dec_tensor_set(m, nm, w + l, ln[j], &e);
        }
    }
    free(w);
    free(ones);
    if (rc < 0 || rt_dec_ready(m, &e) < 0)
        return die("weights", &e);
    double load_ms = cm_now_ms() - t0;
    struct rt_dec_run *r = NULL;
    uint32_t max_len = prefill + tokens + 1;
    if (rt_dec_run_init(m, max_len, prefill, 0, &r, &e) < 0)
        return die("run", &e);
    uint32_t *ids = malloc((size_t)prefill * 4);
    for (uint32_t i = 0; i < prefill; i++)
        ids[i] = (i * 7919u) % c.vocab;
    float *lg = malloc((size_t)c.vocab * 4);
    t0 = cm_now_ms();
    if (rt_dec_prefill(r, ids, NULL, prefill, prefill, lg, &e) < 0)
        return die("prefill", &e);
    double pre_ms = cm_now_ms() - t0;
    struct rt_dec_gen g = {.max_tokens = tokens, .temperature = 0, .top_p = 1};
    uint32_t *out = malloc((size_t)tokens * 4 + 4), n = 0;
    t0 = cm_now_ms();
    int end = rt_dec_generate(r, lg, &g, out, tokens, &n, &e);
    double gen_ms = cm_now_ms() - t0;
    if (end < 0)
        return die("generate", &e);
    struct rt_dec_stats st = rt_dec_run_stats(r);
    /* host sampling cost at the real vocabulary: top-p 0.3, temperature 0.5 */
    struct rt_sampler sm;
    rt_sample_init(&sm, c.vocab, 1, &e);
    double s0 = cm_now_ms();
    for (int i = 0; i < 20; i++)
        rt_sample_pick(&sm, lg, 0.5f, 0.3f);
    double samp_ms = (cm_now_ms() - s0) / 20;
    s0 = cm_now_ms();
    for (int i = 0; i < 20; i++)
        rt_sample_pick(&sm, lg, 0, 1);
    double argmax_ms = (cm_now_ms() - s0) / 20;
    rt_sample_free(&sm);
    double step = st.steps ? st.step_ms / st.steps : 0, host = st.steps ? st.host_ms / st.steps : 0;
    printf(
        "{\"bench\":\"decoder\",\"device\":\"%s\",\"weights\":\"%s\",\"layers\":%u,\"dim\":%u,"
        "\"vocab\":%u,\"load_ms\":%.0f,\"weight_bytes\":%llu,\"run_bytes\":%llu,"
        "\"prefill_positions\":%u,\"prefill_ms\":%.1f,\"tokens\":%u,\"decode_ms_per_token\":%.2f,"
        "\"tokens_per_s\":%.2f,\"host_ms_per_step\":%.3f,\"host_fraction\":%.4f,"
        "\"dispatches_per_token\":%d,\"barriers_per_token\":%d,\"prefill_dispatches\":%d,"
        "\"host_top_p_sample_ms\":%.3f,\"host_argmax_ms\":%.3f,\"generate_ms\":%.1f}\n",
        rt_device_caps(dev)->name, rt_tf_wtype_name(wtype), c.n_layers, c.dim, c.vocab, load_ms,
        (unsigned long long)rt_dec_device_bytes(m), (unsigned long long)rt_dec_run_device_bytes(r),
        prefill, pre_ms, st.steps, step, step > 0 ? 1000.0 / step : 0, host,
        step > 0 ? host / step : 0, st.step_dispatches, st.step_barriers, st.prefill_dispatches,
        samp_ms, argmax_ms, gen_ms);
    free(ids);
    free(lg);
    free(out);
    rt_dec_run_free(r);
    rt_dec_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "micro") != 0 && strcmp(argv[1], "limits") != 0 &&
                     strcmp(argv[1], "decoder") != 0)) {
        fprintf(stderr, "usage: vkv-tf-bench micro [--m M] [--iters N]\n"
                        "       vkv-tf-bench limits [--iters N]\n"
                        "       vkv-tf-bench decoder [--weights i8|q4|f16|f32] [--layers N] "
                        "[--prefill T] [--tokens N] [--config tiny]\n");
        return 2;
    }
    uint32_t m_rows = 128, layers = 0, prefill = 32, tokens = 8;
    int runs = 3, wtype = RT_TF_I8, tiny = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--m") == 0)
            m_rows = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--iters") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--weights") == 0)
            wtype = rt_tf_wtype_parse(argv[i + 1]);
        else if (strcmp(argv[i], "--layers") == 0)
            layers = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--prefill") == 0)
            prefill = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tokens") == 0)
            tokens = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--config") == 0)
            tiny = strcmp(argv[i + 1], "tiny") == 0;
        else {
            fprintf(stderr, "vkv-tf-bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (wtype < 0 || m_rows == 0 || m_rows > 2048 || runs < 1 || prefill == 0 || tokens == 0) {
        fprintf(stderr, "vkv-tf-bench: bad option value\n");
        return 2;
    }
    struct err e = {0};
    if (env_device_create(getenv("RT_DEVICE"), &dev, &e) < 0)
        return die("device", &e);
    int rc = strcmp(argv[1], "decoder") == 0 ? decoder(wtype, layers, prefill, tokens, tiny)
                                             : micro(m_rows, runs, strcmp(argv[1], "limits") == 0);
    rt_device_destroy(dev);
    return rc;
}
