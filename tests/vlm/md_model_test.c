/*
 * md_model_test.c: Moondream 2 on the device (vlm/md2.c) against the
 * PyTorch reference (tests/ref/moondream_ref.py) at reduced sizes, stage by
 * stage, for each weight format:
 *   md_model_test MODEL.safetensors CONFIG.json REF.json CROPS.f32
 * vision features (after post_ln, every crop), the projection, the prompt's
 * logits after the image prefix, greedy caption tokens, detect boxes and
 * points through the region head.  Errors are relative to the largest
 * reference value of each stage; f32 within 1e-4, the quantised formats
 * within the bounds below (measured, times ~3).
 */
#include "tests/lib/th.h"
#include "vlm/md2.h"

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

/* relative bounds per format: features, projection, prompt logits.
 * Measured 2026-12-07 on lavapipe with tests/ref/md2_small.json (seed 1):
 * f32 2.6e-7 3.1e-7 2.1e-7; f16 3.9e-4 4.8e-4 4.3e-4; i8 1.2e-2 1.6e-2 1.6e-2;
 * q4 (asymmetric, groups of 32) 0.10 0.14 0.15.  Bounds ~3x (f32: 1e-4). */
static const double BOUND[4][3] = {
    {1e-4, 1e-4, 1e-4},       /* f32 */
    {1.5e-3, 1.5e-3, 1.5e-3}, /* f16 */
    {5e-2, 5e-2, 5e-2},       /* i8 */
    {0.45, 0.45, 0.45},       /* q4 */
};

static double rel(const float *a, json_t *ref, size_t n)
{
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        double r = json_number_value(json_array_get(ref, i));
        mx = fabs(r) > mx ? fabs(r) : mx;
        d = fabs(a[i] - r) > d ? fabs(a[i] - r) : d;
    }
    return mx > 0 ? d / mx : d;
}

/* flattens a nested JSON array of numbers into a new JSON array */
static void flat(json_t *x, json_t *out)
{
    if (json_is_array(x)) {
        size_t i;
        json_t *v;
        json_array_foreach(x, i, v) flat(v, out);
    } else {
        json_array_append(out, x);
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: md_model_test MODEL.safetensors CONFIG.json REF.json CROPS.f32\n");
        return 2;
    }
    struct err e = {0};
    json_error_t je;
    json_t *ref = json_load_file(argv[3], 0, &je);
    FILE *cf = fopen(argv[2], "rb");
    char cfg_text[8192];
    size_t cn = cf ? fread(cfg_text, 1, sizeof cfg_text, cf) : 0;
    if (cf)
        fclose(cf);
    struct md2_config c = md2_config_default();
    TH_CHECK(ref != NULL && md2_config_parse(cfg_text, cn, &c, &e) == 0, "reference and config: %s",
             ref ? e.msg : je.text);
    if (ref == NULL)
        return th_done();
    json_t *vis = json_object_get(ref, "vision");
    uint32_t th = (uint32_t)json_integer_value(json_array_get(json_object_get(vis, "tiling"), 0));
    uint32_t tw = (uint32_t)json_integer_value(json_array_get(json_object_get(vis, "tiling"), 1));
    uint32_t n = 1 + th * tw, S = c.vision.crop, N = (S / c.vision.patch) * (S / c.vision.patch);
    size_t npix = (size_t)n * 3 * S * S;
    float *crops = malloc(npix * 4);
    FILE *pf = fopen(argv[4], "rb");
    TH_CHECK(pf != NULL && fread(crops, 4, npix, pf) == npix, "crops read (%u)", n);
    if (pf)
        fclose(pf);
    json_t *rfeat = json_array(), *rproj = json_array();
    flat(json_object_get(vis, "features"), rfeat);
    flat(json_object_get(vis, "projected"), rproj);
    struct rt_device *dev = NULL;
    TH_CHECK(env_device_create(NULL, &dev, &e) == 0, "device: %s", e.msg);
    if (dev == NULL)
        return th_done();
    for (int wt = RT_TF_F32; wt <= RT_TF_Q4; wt++) {
        const char *tn = rt_tf_wtype_name(wt);
        struct md2 *m = NULL;
        int rc = md2_load(dev, argv[1], &c, wt, &m, &e);
        TH_CHECK(rc == 0, "%s: model loaded (%s)", tn, e.msg);
        if (rc < 0)
            continue;
        printf("# %s: %.1f MiB on the device\n", tn, md2_device_bytes(m) / 1048576.0);
        float *feats = malloc((size_t)n * N * c.vision.enc_dim * 4);
        float *proj = malloc((size_t)N * c.text.dim * 4);
        rc = md2_vision(m, crops, n, th, tw, proj, feats, &e);
        TH_CHECK(rc == 0, "%s: vision ran on %u crops (%s)", tn, n, e.msg);
        double ef = rel(feats, rfeat, json_array_size(rfeat)),
               ep = rel(proj, rproj, json_array_size(rproj));
        TH_CHECK(json_array_size(rfeat) == (size_t)n * N * c.vision.enc_dim && ef <= BOUND[wt][0],
                 "%s: vision features within %g relative of PyTorch (%.3g)", tn, BOUND[wt][0], ef);
        TH_CHECK(json_array_size(rproj) == (size_t)N * c.text.dim && ep <= BOUND[wt][1],
                 "%s: projection within %g relative of PyTorch (%.3g)", tn, BOUND[wt][1], ep);
        struct md2_image *im = NULL;
        rc = md2_image_init(m, proj, 0, 0, 0, &im, &e);
        TH_CHECK(rc == 0, "%s: image prefix prefilled and snapshotted (%s)", tn, e.msg);
        static const char *tasks[] = {"caption", "detect", "point"};
        for (int t = 0; t < 3 && im != NULL; t++) {
            json_t *rt = json_object_get(ref, tasks[t]);
            if (rt == NULL)
                continue;
            json_t *jp = json_object_get(rt, "prompt");
            uint32_t np = (uint32_t)json_array_size(jp), prompt[64];
            for (uint32_t i = 0; i < np && i < 64; i++)
                prompt[i] = (uint32_t)json_integer_value(json_array_get(jp, i));
            if (t == 0) {
                float *lg = malloc((size_t)c.text.vocab * 4);
                uint32_t out[64], nout = 0;
                uint32_t stop = 0;
                json_t *rtok = json_object_get(rt, "tokens");
                struct rt_dec_gen g = {0};
                g.max_tokens = (uint32_t)json_array_size(rtok) + 0;
                g.stop = &stop, g.n_stop = 1;
                rc = md2_generate(im, prompt, np, &g, out, 64, &nout, lg, &e);
                double el = rel(lg, json_object_get(rt, "prompt_logits"), c.text.vocab);
                TH_CHECK(rc > 0 && el <= BOUND[wt][2],
                         "%s: prompt logits after the image within %g relative (%.3g)", tn,
                         BOUND[wt][2], el);
                uint32_t same = 0;
                while (same < nout && same < json_array_size(rtok) &&
                       out[same] == (uint32_t)json_integer_value(json_array_get(rtok, same)))
                    same++;
                printf("# %s: %u of %zu greedy tokens equal to PyTorch's\n", tn, same,
                       json_array_size(rtok));
                if (wt == RT_TF_F32)
                    TH_CHECK(same == json_array_size(rtok) && nout == same,
                             "f32: greedy caption tokens equal PyTorch's (%u)", same);
                /* a second question on the same image reuses the prefix */
                uint32_t out2[64], nout2 = 0;
                rc = md2_generate(im, prompt, np, &g, out2, 64, &nout2, NULL, &e);
                TH_CHECK(rc > 0 && nout2 == nout && memcmp(out, out2, nout * 4) == 0,
                         "%s: the same prompt again from the KV snapshot gives the same tokens",
                         tn);
                free(lg);
            } else {
                struct md2_obj objs[16];
                uint32_t no = 0;
                json_t *ro = json_object_get(rt, "objects");
                rc = md2_locate(im, prompt, np, t == 1, 0, (uint32_t)json_array_size(ro), objs, &no,
                                &e);
                double worst = 0;
                for (uint32_t i = 0; rc == 0 && i < no && i < json_array_size(ro); i++) {
                    json_t *o = json_array_get(ro, i);
                    float got[4] = {objs[i].x_min, objs[i].y_min, objs[i].x_max, objs[i].y_max};
                    static const char *k4[] = {"x_min", "y_min", "x_max", "y_max"};
                    for (int k = 0; k < (t == 1 ? 4 : 2); k++) {
                        double r = json_number_value(
                            json_object_get(o, t == 1 ? k4[k] : (k == 0 ? "x" : "y")));
                        double g2 = t == 1 ? got[k] : (k == 0 ? objs[i].x : objs[i].y);
                        worst = fabs(g2 - r) > worst ? fabs(g2 - r) : worst;
                    }
                }
                printf("# %s: %s: %u objects, max coordinate difference %.3g\n", tn, tasks[t], no,
                       worst);
                TH_CHECK(rc == 0 && no == json_array_size(ro), "%s: %s found %u objects (%s)", tn,
                         tasks[t], no, e.msg);
                if (wt == RT_TF_F32)
                    TH_CHECK(worst <= 1e-6, "f32: %s coordinates%s equal PyTorch's (%.3g)",
                             tasks[t], t == 1 ? " and sizes" : "", worst);
            }
        }
        md2_image_free(im);
        free(feats), free(proj);
        md2_free(m);
    }
    free(crops);
    TH_EQ_INT(rt_device_validation_errors(dev), 0, "no validation errors");
    json_decref(rfeat), json_decref(rproj), json_decref(ref);
    rt_device_destroy(dev);
    return th_done();
}
