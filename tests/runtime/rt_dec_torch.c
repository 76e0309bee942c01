/*
 * rt_dec_torch.c: the device decoder against the PyTorch reference
 * (tests/ref/moondream_ref.py): loads the reference's safetensors weights
 * (import/st.h) into rt_dec for each weight type, runs the reference's
 * prompt (prefix-LM mask) and its greedy continuation, and compares the
 * last block's hidden states, the prompt's last logits and every step's
 * logits.  fp32 must agree within 1e-4 relative to the largest logit; the
 * quantised types within their measured bounds (asserted, printed).
 *
 *   rt_dec_torch WEIGHTS.safetensors REF.json
 */
#include "import/st.h"
#include "runtime/tfm/rt_dec.h"
#include "tests/lib/th.h"

#include <jansson.h>
#include <math.h>
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

static uint32_t ju(json_t *o, const char *k)
{
    return (uint32_t)json_integer_value(json_object_get(o, k));
}

/* max |a - ref| over n values of a JSON array of numbers; *refmax = max |ref| */
static double diff_row(const float *a, json_t *ref, size_t n, double *refmax)
{
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double v = json_number_value(json_array_get(ref, i));
        double d = fabs(a[i] - v);
        m = d > m || d != d ? d : m;
        r = fabs(v) > r ? fabs(v) : r;
    }
    *refmax = r;
    return m;
}

static struct rt_dec *load(const char *path, const struct rt_dec_config *c, int wtype)
{
    struct err e = {0};
    struct st_file *f = NULL;
    struct rt_dec *m = NULL;
    if (st_open(&f, path, NULL, &e) < 0 || rt_dec_init(dev, c, wtype, &m, &e) < 0) {
        printf("# load: %s\n", e.msg);
        st_close(f);
        return NULL;
    }
    int rc = 0;
    for (size_t i = 0; i < st_count(f) && rc == 0; i++) {
        const struct st_tensor *t = st_at(f, i);
        if (strncmp(t->name, "model.text.", 11) != 0)
            continue;
        float *buf = malloc((size_t)t->nelem * sizeof(float) + 4);
        rc = buf == NULL ? -1 : st_rows_f32(f, t, 0, t->rows, buf, &e);
        if (rc == 0)
            rc = rt_dec_tensor_set(m, t->name, buf, t->nelem, &e);
        free(buf);
    }
    if (rc == 0)
        rc = rt_dec_ready(m, &e);
    st_close(f);
    if (rc < 0) {
        printf("# load: %s\n", e.msg);
        rt_dec_free(m);
        return NULL;
    }
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rt_dec_torch WEIGHTS.safetensors REF.json\n");
        return 2;
    }
    json_error_t je;
    json_t *ref = json_load_file(argv[2], 0, &je);
    TH_CHECK(ref != NULL, "reference JSON read: %s", ref ? "" : je.text);
    if (ref == NULL)
        return th_done();
    json_t *tc = json_object_get(json_object_get(ref, "config"), "text");
    json_t *tx = json_object_get(ref, "text");
    struct rt_dec_config c = {ju(tc, "dim"),
                              ju(tc, "n_layers"),
                              ju(tc, "n_heads"),
                              ju(tc, "ff_dim"),
                              ju(tc, "vocab_size"),
                              ju(tc, "max_context"),
                              ju(tc, "rot_dim"),
                              (float)json_number_value(json_object_get(tc, "rope_theta")),
                              (float)json_number_value(json_object_get(tc, "ln_eps")),
                              0};
    json_t *toks = json_object_get(tx, "tokens"), *logits = json_object_get(tx, "logits");
    json_t *gen = json_object_get(tx, "generated"), *steps = json_object_get(tx, "step_logits");
    json_t *hidden = json_object_get(tx, "hidden");
    uint32_t T = (uint32_t)json_array_size(toks), prefix = ju(tx, "prefix");
    uint32_t G = (uint32_t)json_array_size(gen), V = c.vocab, D = c.dim;
    struct err e = {0};
    if (env_device_create(getenv("RT_DEVICE"), &dev, &e) < 0) {
        TH_CHECK(0, "device created: %s", e.msg);
        return th_done();
    }
    uint32_t *ids = malloc((T + G + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < T; i++)
        ids[i] = (uint32_t)json_integer_value(json_array_get(toks, i));
    float *lg = malloc((size_t)V * 4), *hx = malloc((size_t)T * D * 4);
    /* bounds: fp32 1e-4 relative (measured 2.4e-7); f16 / i8 / q4: measured 4.3e-4,
     * 1.45e-2, 0.162 (random uniform weights, dim 128) x ~3 */
    static const int types[] = {RT_TF_F32, RT_TF_F16, RT_TF_I8, RT_TF_Q4};
    static const double tol[] = {1e-4, 1.5e-3, 4e-2, 0.4};
    for (int ti = 0; ti < 4; ti++) {
        int wt = types[ti];
        const char *wn = rt_tf_wtype_name(wt);
        struct rt_dec *m = load(argv[1], &c, wt);
        TH_CHECK(m != NULL, "%s: the reference's safetensors weights loaded", wn);
        if (m == NULL)
            continue;
        struct rt_dec_run *r = NULL;
        int rc = rt_dec_run_init(m, T + G + 1, T, 0, &r, &e);
        if (rc == 0)
            rc = rt_dec_prefill(r, ids, NULL, T, prefix, lg, &e);
        TH_CHECK(rc == 0, "%s: prefill of %u tokens (prefix %u): %s", wn, T, prefix, e.msg);
        if (rc < 0) {
            rt_dec_run_free(r);
            rt_dec_free(m);
            continue;
        }
        double rm, d = diff_row(lg, json_array_get(logits, T - 1), V, &rm), worst = d / rm;
        if (hidden != NULL && rt_dec_hidden(r, T, hx, &e) == 0) {
            json_t *hl = json_array_get(hidden, json_array_size(hidden) - 1);
            double hm = 0, hr = 0;
            for (uint32_t t = 0; t < T; t++) {
                double a, b = diff_row(hx + (size_t)t * D, json_array_get(hl, t), D, &a);
                hm = b > hm ? b : hm;
                hr = a > hr ? a : hr;
            }
            printf("# %s: last block hidden states max err %.3g (max |ref| %.3g, relative %.3g)\n",
                   wn, hm, hr, hm / hr);
            TH_CHECK(hm / hr <= tol[ti], "%s: hidden states within %.0e relative", wn, tol[ti]);
        }
        /* the reference's greedy tokens fed back, each step's logits compared */
        uint32_t same = 0, next = 0;
        for (uint32_t g = 0; g < G && rc == 0; g++) {
            float best = -INFINITY;
            for (uint32_t v = 0; v < V; v++)
                if (lg[v] > best)
                    best = lg[v], next = v;
            uint32_t want = (uint32_t)json_integer_value(json_array_get(gen, g));
            same += next == want;
            rc = rt_dec_step(r, want, lg, &e);
            double sm, sd = diff_row(lg, json_array_get(steps, g), V, &sm);
            worst = sd / sm > worst ? sd / sm : worst;
        }
        printf("# %s: logits max err relative to max |logit|: %.3g (tol %.0e); greedy tokens equal "
               "%u of %u\n",
               wn, worst, tol[ti], same, G);
        TH_CHECK(rc == 0 && worst <= tol[ti], "%s: prompt and %u step logits within %.0e relative",
                 wn, G, tol[ti]);
        if (wt == RT_TF_F32)
            TH_EQ_INT(same, G, "f32: every greedy token equals PyTorch's");
        rt_dec_run_free(r);
        rt_dec_free(m);
    }
    free(ids);
    free(lg);
    free(hx);
    json_decref(ref);
    TH_EQ_INT(rt_device_validation_errors(dev), 0, "no validation-layer errors");
    rt_device_destroy(dev);
    return th_done();
}
