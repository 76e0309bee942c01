/*
 * md2.c: Moondream 2's vision encoder, projection, region head and the
 * glue to the text decoder (see md2.h).  The encoder is one recorded
 * sequence per batch size: patches are made on the host (a reshape into
 * rows padded to kp columns), everything else runs on the device.  The
 * region head's four small MLPs are recorded once at load and replayed on
 * host-visible buffers.
 */
#include "vlm/md2.h"
#include "import/st.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V_QKV = 0, V_PROJ, V_FC1, V_FC2, V_N };
enum { R_CENC = 0, R_CFC1, R_CFC2, R_SENC, R_SFC1, R_SFC2, R_N };

struct md2 {
    struct rt_device *dev;
    struct md2_config c;
    int wtype;
    uint32_t N, grid, kp; /* image tokens, grid side, padded patch vector */
    struct rt_dec *text;
    struct rt_tf_weight patch, *vl, proj1, proj2, reg[R_N];
    /* device fp32: pos_emb, per layer ln1 w b ln2 w b, post_ln w b, state (zeros) */
    struct rt_tf_buf *vp;
    uint64_t off_ln, off_post, off_state;
    float *coord_f, *size_f; /* host: Fourier frequencies [1][cf/2], [2][sf/2] */
    uint8_t *seen;           /* tensors set, by index (see tensor_slot) */
    int n_slots;
    float *hostp; /* vision small params staged until ready */
    /* region head: host-visible io buffer, recorded sequences */
    struct rt_tf_buf *rio;
    uint64_t r_in, r_tmp, r_out, r_feat, r_enc;
    struct rt_tf_seq *rseq[4]; /* coord decode, size decode, coord encode, size encode */
};

struct md2_image {
    struct md2 *m;
    struct rt_dec_run *run;
    struct rt_kv_snap *snap;
    float *hid, *emb, *lg; /* host scratch: hidden rows, one embedding row, logits */
    uint32_t hid_rows;
};

struct md2_config md2_config_default(void)
{
    struct md2_config c;
    c.text = rt_dec_config_moondream2();
    c.vision = (struct md2_vision_config){1152, 27, 16, 4304, 14, 378, 3, 4, 12, 8192, 2048, 1e-5f};
    c.region = (struct md2_region_config){2048, 256, 1024, 512, 2048, 8192};
    return c;
}

static int get_u(json_t *o, const char *k1, const char *k2, uint32_t *v, struct err *e)
{
    json_t *x = json_object_get(o, k1);
    if (x == NULL && k2 != NULL)
        x = json_object_get(o, k2);
    if (x == NULL)
        return 0;
    if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > 1 << 20)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_config",
                       "config.json: %s must be an integer in 1..1048576", k1);
    *v = (uint32_t)json_integer_value(x);
    return 0;
}

static int get_f(json_t *o, const char *k, float *v, struct err *e)
{
    json_t *x = json_object_get(o, k);
    if (x == NULL)
        return 0;
    if (!json_is_number(x) || json_number_value(x) <= 0)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_config",
                       "config.json: %s must be a positive number", k);
    *v = (float)json_number_value(x);
    return 0;
}

int md2_config_parse(const char *json, size_t n, struct md2_config *c, struct err *e)
{
    json_error_t je;
    json_t *root = json_loadb(json, n, 0, &je);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_config", "config.json: %s",
                       root ? "not an object" : je.text);
    }
    json_t *t = json_object_get(root, "text"), *v = json_object_get(root, "vision"),
           *r = json_object_get(root, "region");
    int rc = 0;
    uint32_t kvh = 0;
    if (t != NULL) {
        rc |= get_u(t, "dim", NULL, &c->text.dim, e);
        rc |= get_u(t, "ff_dim", NULL, &c->text.ff_dim, e);
        rc |= get_u(t, "n_layers", NULL, &c->text.n_layers, e);
        rc |= get_u(t, "vocab_size", NULL, &c->text.vocab, e);
        rc |= get_u(t, "max_context", NULL, &c->text.max_context, e);
        rc |= get_u(t, "n_heads", NULL, &c->text.n_heads, e);
        rc |= get_u(t, "rot_dim", NULL, &c->text.rot_dim, e);
        rc |= get_u(t, "n_kv_heads", NULL, &kvh, e);
        rc |= get_f(t, "rope_theta", &c->text.rope_theta, e);
        rc |= get_f(t, "ln_eps", &c->text.ln_eps, e);
    }
    if (v != NULL) {
        struct md2_vision_config *x = &c->vision;
        rc |= get_u(v, "enc_dim", NULL, &x->enc_dim, e);
        rc |= get_u(v, "enc_patch_size", "patch_size", &x->patch, e);
        rc |= get_u(v, "enc_n_layers", "n_layers", &x->n_layers, e);
        rc |= get_u(v, "enc_ff_dim", "ff_dim", &x->ff_dim, e);
        rc |= get_u(v, "enc_n_heads", "n_heads", &x->n_heads, e);
        rc |= get_u(v, "proj_out_dim", NULL, &x->proj_out, e);
        rc |= get_u(v, "proj_inner_dim", NULL, &x->proj_inner, e);
        rc |= get_u(v, "crop_size", NULL, &x->crop, e);
        rc |= get_u(v, "in_channels", NULL, &x->in_ch, e);
        rc |= get_u(v, "max_crops", NULL, &x->max_crops, e);
        json_t *om = json_object_get(v, "overlap_margin");
        if (json_is_integer(om) && json_integer_value(om) >= 0 && json_integer_value(om) < 64)
            x->margin = (uint32_t)json_integer_value(om);
        else if (om != NULL)
            rc |= err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_config",
                          "config.json: overlap_margin must be an integer in 0..63");
        rc |= get_f(v, "ln_eps", &x->ln_eps, e);
    }
    if (r != NULL) {
        struct md2_region_config *x = &c->region;
        rc |= get_u(r, "dim", NULL, &x->dim, e);
        rc |= get_u(r, "coord_feat_dim", NULL, &x->coord_feat, e);
        rc |= get_u(r, "coord_out_dim", NULL, &x->coord_out, e);
        rc |= get_u(r, "size_feat_dim", NULL, &x->size_feat, e);
        rc |= get_u(r, "size_out_dim", NULL, &x->size_out, e);
        rc |= get_u(r, "inner_dim", NULL, &x->inner, e);
    }
    if (json_object_get(r, "dim") == NULL) /* the region head works on the text's stream */
        c->region.dim = c->text.dim;
    json_decref(root);
    if (rc != 0)
        return RT_ERR_INVALID;
    if (kvh != 0 && kvh != c->text.n_heads)
        return err_set(e, RT_UNSUPPORTED, ERR_INVALID, "unsupported_config",
                       "config.json: n_kv_heads %u != n_heads %u (grouped attention) unsupported",
                       kvh, c->text.n_heads);
    const struct md2_vision_config *x = &c->vision;
    if (x->crop % x->patch != 0 || x->enc_dim % x->n_heads != 0 ||
        x->crop / x->patch <= 2 * x->margin || c->region.dim != c->text.dim ||
        x->proj_out != c->text.dim || c->region.coord_feat % 2 || c->region.size_feat % 4 ||
        c->region.size_out % 2 || c->region.size_out < 4)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_config",
                       "config.json: inconsistent sizes (crop %% patch, enc_dim %% heads, "
                       "projection and region dims equal to the text dim)");
    return 0;
}

/* ---- loading ------------------------------------------------------------ */

const struct md2_config *md2_get_config(const struct md2 *m)
{
    return &m->c;
}

struct rt_dec *md2_text(struct md2 *m)
{
    return m->text;
}

uint32_t md2_image_tokens(const struct md2 *m)
{
    return m->N;
}

uint64_t md2_device_bytes(const struct md2 *m)
{
    uint64_t b = rt_dec_device_bytes(m->text) + m->patch.bytes + m->proj1.bytes + m->proj2.bytes;
    for (uint32_t i = 0; i < m->c.vision.n_layers * V_N; i++)
        b += m->vl[i].bytes;
    for (int i = 0; i < R_N; i++)
        b += m->reg[i].bytes;
    return b + (m->vp ? m->vp->b.size : 0) + (m->rio ? m->rio->b.size : 0);
}

void md2_free(struct md2 *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < 4; i++)
        rt_tf_seq_free(m->rseq[i]);
    rt_dec_free(m->text);
    rt_tf_weight_free(m->dev, &m->patch);
    rt_tf_weight_free(m->dev, &m->proj1);
    rt_tf_weight_free(m->dev, &m->proj2);
    if (m->vl != NULL)
        for (uint32_t i = 0; i < m->c.vision.n_layers * V_N; i++)
            rt_tf_weight_free(m->dev, &m->vl[i]);
    for (int i = 0; i < R_N; i++)
        rt_tf_weight_free(m->dev, &m->reg[i]);
    rt_tf_buf_free(m->dev, m->vp);
    rt_tf_buf_free(m->dev, m->rio);
    free(m->vl), free(m->coord_f), free(m->size_f), free(m->seen), free(m->hostp);
    free(m);
}

/* the type a linear of input size k is stored in */
static int lin_type(int wtype, uint32_t k)
{
    if (wtype == RT_TF_Q4 && k % 32 != 0)
        return RT_TF_I8;
    return wtype;
}

/* one linear: w [n][k] (+ bias later); bias kept pending in *bias_host */
struct pending {
    float *w, *b;
    uint32_t n, k, kp;
};

static int upload(struct md2 *m, struct pending *p, struct rt_tf_weight *out, struct err *e)
{
    if (p->w == NULL || p->b == NULL)
        return 0;
    int rc = 0;
    if (p->kp != p->k) { /* pad columns with zeros */
        float *w = calloc((size_t)p->n * p->kp, sizeof(float));
        if (w == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                           "no memory for a weight");
        for (uint32_t r = 0; r < p->n; r++)
            memcpy(w + (size_t)r * p->kp, p->w + (size_t)r * p->k, (size_t)p->k * 4);
        free(p->w);
        p->w = w;
    }
    rc = rt_tf_weight_upload(m->dev, lin_type(m->wtype, p->kp), p->n, p->kp, p->w, p->b, out, e);
    free(p->w), free(p->b);
    p->w = p->b = NULL;
    return rc;
}

/* small vision params staged on the host: offsets in floats */
static uint64_t n_small(const struct md2 *m)
{
    const struct md2_vision_config *v = &m->c.vision;
    return (uint64_t)m->N * v->enc_dim + (uint64_t)(v->n_layers * 4 + 2) * v->enc_dim;
}

static int expect(const struct st_tensor *t, uint64_t n, struct err *e)
{
    if (t->nelem != n)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                       "tensor %s has %llu elements, the config wants %llu", t->name,
                       (unsigned long long)t->nelem, (unsigned long long)n);
    return 0;
}

/* vision / region tensor t (name without "model.") with data x (floats) */
static int set_tensor(struct md2 *m, const char *name, const struct st_tensor *t, float **x,
                      struct pending *pv, struct pending *pr, struct pending *pp,
                      struct pending *pe, struct err *e)
{
    const struct md2_vision_config *v = &m->c.vision;
    const struct md2_region_config *r = &m->c.region;
    uint32_t d = v->enc_dim;
    unsigned l;
    char rest[64];
    struct pending *p = NULL;
    int isb = 0;
    uint32_t n = 0, k = 0, kp = 0;
    if (strcmp(name, "vision.pos_emb") == 0) {
        if (expect(t, (uint64_t)m->N * d, e) < 0)
            return RT_ERR_INVALID;
        memcpy(m->hostp, *x, (size_t)m->N * d * 4);
        m->seen[0] = 1;
        return 0;
    }
    if (strncmp(name, "vision.post_ln.", 15) == 0) {
        isb = strcmp(name + 15, "bias") == 0;
        if (!isb && strcmp(name + 15, "weight") != 0)
            goto unknown;
        if (expect(t, d, e) < 0)
            return RT_ERR_INVALID;
        memcpy(m->hostp + m->off_post / 4 + (size_t)isb * d, *x, (size_t)d * 4);
        m->seen[1 + isb] = 1;
        return 0;
    }
    if (sscanf(name, "vision.blocks.%u.%63s", &l, rest) == 2 && l < v->n_layers) {
        static const char *lns[] = {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"};
        for (int i = 0; i < 4; i++)
            if (strcmp(rest, lns[i]) == 0) {
                if (expect(t, d, e) < 0)
                    return RT_ERR_INVALID;
                memcpy(m->hostp + m->off_ln / 4 + ((size_t)l * 4 + (size_t)i) * d, *x,
                       (size_t)d * 4);
                m->seen[3 + l * 4 + (uint32_t)i] = 1;
                return 0;
            }
        static const char *ls[] = {"attn.qkv.", "attn.proj.", "mlp.fc1.", "mlp.fc2."};
        static const int mul[] = {3, 1, 0, 1};
        for (int i = 0; i < V_N; i++) {
            size_t ln = strlen(ls[i]);
            if (strncmp(rest, ls[i], ln) != 0)
                continue;
            p = &pv[l * V_N + (uint32_t)i];
            n = i == V_FC1 ? v->ff_dim : d * (uint32_t)mul[i];
            k = kp = i == V_FC2 ? v->ff_dim : d;
            isb = strcmp(rest + ln, "bias") == 0;
            if (!isb && strcmp(rest + ln, "weight") != 0)
                goto unknown;
            break;
        }
    } else if (strncmp(name, "vision.patch_emb.", 17) == 0) {
        p = pe;
        n = d, k = v->in_ch * v->patch * v->patch, kp = m->kp;
        isb = strcmp(name + 17, "bias") == 0;
    } else if (strncmp(name, "vision.proj_mlp.fc", 18) == 0 &&
               (name[18] == '1' || name[18] == '2') && name[19] == '.') {
        int two = name[18] == '2';
        p = &pp[two];
        n = two ? v->proj_out : v->proj_inner;
        k = kp = two ? v->proj_inner : 2 * d;
        isb = strcmp(name + 20, "bias") == 0;
    } else if (strcmp(name, "region.coord_features") == 0 ||
               strcmp(name, "region.size_features") == 0) {
        int sz = name[7] == 's';
        uint64_t want = sz ? r->size_feat : r->coord_feat / 2;
        if (expect(t, want, e) < 0)
            return RT_ERR_INVALID;
        /* [1][f] or [2][f] as in the file ([f][1] / [f][2] in legacy files: transposed) */
        float **dst = sz ? &m->size_f : &m->coord_f;
        free(*dst);
        *dst = *x;
        *x = NULL;
        if (sz && t->rank == 2 && t->shape[0] != 2) { /* [f][2] -> [2][f] */
            float *tr = malloc((size_t)want * 4);
            if (tr == NULL)
                return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
            uint64_t f = want / 2;
            for (uint64_t i = 0; i < f; i++)
                tr[i] = (*dst)[i * 2], tr[f + i] = (*dst)[i * 2 + 1];
            free(*dst);
            *dst = tr;
        }
        m->seen[3 + v->n_layers * 4 + (uint32_t)sz] = 1;
        return 0;
    } else {
        static const char *rs[] = {"coord_encoder.", "coord_decoder.fc1.", "coord_decoder.fc2.",
                                   "size_encoder.",  "size_decoder.fc1.",  "size_decoder.fc2."};
        if (strncmp(name, "region.", 7) != 0)
            goto unknown;
        for (int i = 0; i < R_N; i++) {
            size_t ln = strlen(rs[i]);
            if (strncmp(name + 7, rs[i], ln) != 0)
                continue;
            static const int enc[] = {1, 0, 0, 1, 0, 0};
            p = &pr[i];
            if (enc[i]) {
                n = r->dim, k = i == R_CENC ? r->coord_feat : r->size_feat;
            } else if (i == R_CFC1 || i == R_SFC1) {
                n = r->inner, k = r->dim;
            } else {
                n = i == R_CFC2 ? r->coord_out : r->size_out, k = r->inner;
            }
            kp = k;
            isb = strcmp(name + 7 + ln, "bias") == 0;
            if (!isb && strcmp(name + 7 + ln, "weight") != 0)
                goto unknown;
            break;
        }
    }
    if (p == NULL)
        goto unknown;
    if (expect(t, isb ? n : (uint64_t)n * k, e) < 0)
        return RT_ERR_INVALID;
    p->n = n, p->k = k, p->kp = kp;
    float **slot = isb ? &p->b : &p->w;
    free(*slot);
    *slot = *x;
    *x = NULL;
    return 0;
unknown:
    return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", "unknown tensor %s", t->name);
}

static int record_region(struct md2 *m, struct err *e);

int md2_load(struct rt_device *d, const char *path, const struct md2_config *c, int wtype,
             struct md2 **out, struct err *e)
{
    const struct md2_vision_config *v = &c->vision;
    if (v->crop % v->patch != 0 || v->enc_dim % v->n_heads != 0 ||
        (v->enc_dim / v->n_heads != 64 && v->enc_dim / v->n_heads != 72))
        return err_set(e, RT_UNSUPPORTED, ERR_INVALID, "unsupported_config",
                       "vision head size %u unsupported (64 or 72)", v->enc_dim / v->n_heads);
    struct md2 *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory for a model");
    m->dev = d;
    m->c = *c;
    m->wtype = wtype;
    m->grid = v->crop / v->patch;
    m->N = m->grid * m->grid;
    m->kp = (v->in_ch * v->patch * v->patch + 31) / 32 * 32;
    m->n_slots = 3 + (int)v->n_layers * 4 + 2;
    m->off_ln = (uint64_t)m->N * v->enc_dim * 4;
    m->off_post = m->off_ln + (uint64_t)v->n_layers * 4 * v->enc_dim * 4;
    m->vl = calloc((size_t)v->n_layers * V_N, sizeof(*m->vl));
    m->seen = calloc((size_t)m->n_slots, 1);
    m->hostp = malloc(n_small(m) * 4);
    struct pending *pv = calloc((size_t)v->n_layers * V_N, sizeof(*pv));
    struct pending pr[R_N] = {{0}}, pp[2] = {{0}}, pe = {0};
    struct st_file *f = NULL;
    int rc = 0;
    if (m->vl == NULL || m->seen == NULL || m->hostp == NULL || pv == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory for a model");
        goto done;
    }
    if ((rc = st_open(&f, path, NULL, e)) < 0 ||
        (rc = rt_dec_init(d, &c->text, wtype, &m->text, e)) < 0)
        goto done;
    for (size_t i = 0; i < st_count(f) && rc == 0; i++) {
        const struct st_tensor *t = st_at(f, i);
        const char *name = t->name;
        if (strncmp(name, "model.", 6) == 0)
            name += 6;
        float *x = malloc((size_t)t->nelem * sizeof(float) + 4);
        if (x == NULL) {
            rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory for tensor %s",
                         t->name);
            break;
        }
        rc = st_rows_f32(f, t, 0, t->rows, x, e);
        if (rc == 0 && strncmp(name, "text.", 5) == 0)
            rc = rt_dec_tensor_set(m->text, name + 5, x, t->nelem, e);
        else if (rc == 0)
            rc = set_tensor(m, name, t, &x, pv, pr, pp, &pe, e);
        free(x);
        /* a linear goes to the device as soon as its weight and bias are both read */
        for (uint32_t j = 0; rc == 0 && j < v->n_layers * V_N; j++)
            rc = upload(m, &pv[j], &m->vl[j], e);
        for (int j = 0; rc == 0 && j < R_N; j++)
            rc = upload(m, &pr[j], &m->reg[j], e);
        if (rc == 0)
            rc = upload(m, &pp[0], &m->proj1, e);
        if (rc == 0)
            rc = upload(m, &pp[1], &m->proj2, e);
        if (rc == 0)
            rc = upload(m, &pe, &m->patch, e);
    }
    if (rc < 0)
        goto done;
    /* every tensor present */
    const char *missing = NULL;
    for (int i = 0; i < m->n_slots && missing == NULL; i++)
        if (!m->seen[i])
            missing = i == 0                         ? "vision.pos_emb"
                      : i < 3                        ? "vision.post_ln"
                      : i < 3 + (int)v->n_layers * 4 ? "a vision block LayerNorm"
                                                     : "region Fourier features";
    for (uint32_t j = 0; missing == NULL && j < v->n_layers * V_N; j++)
        if (m->vl[j].buf == NULL)
            missing = "a vision block linear (weight and bias)";
    for (int j = 0; missing == NULL && j < R_N; j++)
        if (m->reg[j].buf == NULL)
            missing = "a region head linear (weight and bias)";
    if (missing == NULL && (m->patch.buf == NULL || m->proj1.buf == NULL || m->proj2.buf == NULL))
        missing = "vision.patch_emb / vision.proj_mlp";
    if (missing != NULL) {
        rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", "%s: %s missing", path,
                     missing);
        goto done;
    }
    if ((rc = rt_dec_ready(m->text, e)) < 0)
        goto done;
    m->off_state = n_small(m) * 4;
    if ((rc = rt_tf_buf_init(d, m->off_state + 256, 0, &m->vp, e)) < 0 ||
        (rc = rt_tf_buf_write(d, m->vp, 0, m->hostp, n_small(m) * 4, e)) < 0)
        goto done;
    uint32_t zero[64] = {0};
    if ((rc = rt_tf_buf_write(d, m->vp, m->off_state, zero, sizeof zero, e)) < 0)
        goto done;
    rc = record_region(m, e);
done:
    for (uint32_t j = 0; pv != NULL && j < v->n_layers * V_N; j++)
        free(pv[j].w), free(pv[j].b);
    for (int j = 0; j < R_N; j++)
        free(pr[j].w), free(pr[j].b);
    free(pp[0].w), free(pp[0].b), free(pp[1].w), free(pp[1].b), free(pe.w), free(pe.b);
    free(pv);
    free(m->hostp);
    m->hostp = NULL;
    st_close(f);
    if (rc < 0) {
        md2_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- vision --------------------------------------------------------------- */

static struct rt_tf_ref vsub(struct md2 *m, uint64_t off_floats_bytes, uint64_t n)
{
    return rt_tf_sub(rt_tf_whole(m->vp), off_floats_bytes, n * 4);
}

/* records the encoder for b crops: patches -> feats (post_ln), in buffers given */
static int record_encoder(struct md2 *m, struct rt_tf_seq *s, uint32_t b, struct rt_tf_ref pat,
                          struct rt_tf_buf *x, struct rt_tf_buf *h, struct rt_tf_buf *qkv,
                          struct rt_tf_buf *att, struct rt_tf_buf *ff, struct rt_tf_ref feats,
                          struct err *e)
{
    const struct md2_vision_config *v = &m->c.vision;
    uint32_t d = v->enc_dim, N = m->N, rows = b * N, hd = d / v->n_heads;
    struct rt_tf_ref X = rt_tf_sub(rt_tf_whole(x), 0, (uint64_t)rows * d * 4),
                     H = rt_tf_sub(rt_tf_whole(h), 0, (uint64_t)rows * d * 4);
    int rc = rt_tf_linear(s, &m->patch, pat, m->kp, H, d, rows, RT_TF_ACT_NONE, 0, e);
    if (rc == 0)
        rc = rt_tf_eltwise(s, RT_TF_ADD, H, vsub(m, 0, (uint64_t)N * d), N * d, X, rows * d, e);
    for (uint32_t l = 0; rc == 0 && l < v->n_layers; l++) {
        uint64_t lo = m->off_ln + (uint64_t)l * 4 * d * 4;
        const struct rt_tf_weight *w = &m->vl[l * V_N];
        rc = rt_tf_layernorm(s, X, d, vsub(m, lo, d), vsub(m, lo + d * 4, d), H, d, rows, d,
                             v->ln_eps, e);
        if (rc == 0)
            rc = rt_tf_linear(s, &w[V_QKV], H, d, rt_tf_whole(qkv), 3 * d, rows, RT_TF_ACT_NONE, 0,
                              e);
        if (rc == 0) {
            struct rt_tf_attn a = {0};
            a.q = (struct rt_tf_view){rt_tf_whole(qkv), 0, 3 * d, N * 3 * d};
            a.k = (struct rt_tf_view){rt_tf_whole(qkv), d, 3 * d, N * 3 * d};
            a.v = (struct rt_tf_view){rt_tf_whole(qkv), 2 * d, 3 * d, N * 3 * d};
            a.o = (struct rt_tf_view){rt_tf_whole(att), 0, d, N * d};
            a.state = vsub(m, m->off_state, 1);
            a.st = 0;
            a.t = N, a.batch = b, a.heads = v->n_heads, a.hd = hd;
            a.prefix = 0, a.causal = 0;
            a.scale = 1.0f / sqrtf((float)hd);
            rc = rt_tf_attention(s, &a, e);
        }
        if (rc == 0)
            rc = rt_tf_linear(s, &w[V_PROJ], rt_tf_whole(att), d, X, d, rows, RT_TF_ACT_NONE, 1, e);
        if (rc == 0)
            rc = rt_tf_layernorm(s, X, d, vsub(m, lo + 2 * d * 4, d), vsub(m, lo + 3 * d * 4, d), H,
                                 d, rows, d, v->ln_eps, e);
        if (rc == 0)
            rc = rt_tf_linear(s, &w[V_FC1], H, d, rt_tf_whole(ff), v->ff_dim, rows,
                              RT_TF_ACT_GELU_TANH, 0, e);
        if (rc == 0)
            rc = rt_tf_linear(s, &w[V_FC2], rt_tf_whole(ff), v->ff_dim, X, d, rows, RT_TF_ACT_NONE,
                              1, e);
    }
    if (rc == 0)
        rc = rt_tf_layernorm(s, X, d, vsub(m, m->off_post, d), vsub(m, m->off_post + d * 4, d),
                             feats, d, rows, d, v->ln_eps, e);
    return rc;
}

/* crops [b][C][S][S] -> patch rows [b*N][kp] (c*p*p + py*p + px; zero padded) */
static void patchify(const struct md2 *m, const float *crops, uint32_t b, float *out)
{
    const struct md2_vision_config *v = &m->c.vision;
    uint32_t p = v->patch, S = v->crop, g = m->grid;
    memset(out, 0, (size_t)b * m->N * m->kp * 4);
    for (uint32_t i = 0; i < b; i++)
        for (uint32_t c = 0; c < v->in_ch; c++)
            for (uint32_t y = 0; y < S; y++)
                for (uint32_t x = 0; x < S; x++) {
                    uint32_t patch = (y / p) * g + x / p, k = c * p * p + (y % p) * p + x % p;
                    out[((size_t)i * m->N + patch) * m->kp + k] =
                        crops[(((size_t)i * v->in_ch + c) * S + y) * S + x];
                }
}

int md2_vision(struct md2 *m, const float *crops, uint32_t n, uint32_t th, uint32_t tw, float *proj,
               float *feats_out, struct err *e)
{
    const struct md2_vision_config *v = &m->c.vision;
    if (n != 1 + th * tw || n > 1 + v->max_crops * 4 || th == 0 || tw == 0)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_crops",
                       "%u crops for a %ux%u tiling", n, th, tw);
    uint32_t d = v->enc_dim, N = m->N, g = m->grid, mg = v->margin, win = g - 2 * mg;
    uint64_t range = rt_device_caps(m->dev)->max_storage_range;
    uint64_t per = (uint64_t)N * 4 * (v->ff_dim > 3 * d ? v->ff_dim : 3 * d);
    uint64_t perp = (uint64_t)N * m->kp * 4;
    uint32_t bc = (uint32_t)(range / (per > perp ? per : perp));
    if (bc == 0)
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "one crop's activations exceed maxStorageBufferRange");
    if (bc > n)
        bc = n;
    uint32_t RH = win * th + 2 * mg, RW = win * tw + 2 * mg;
    struct rt_tf_buf *pat = NULL, *x = NULL, *h = NULL, *qkv = NULL, *att = NULL, *ff = NULL,
                     *fe = NULL, *rec = NULL, *cat = NULL, *pi = NULL, *po = NULL;
    struct rt_tf_seq *s = NULL;
    float *ph = NULL;
    uint64_t rows = (uint64_t)bc * N;
    int rc = 0;
    if ((rc = rt_tf_buf_init(m->dev, (uint64_t)n * N * m->kp * 4, 0, &pat, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, rows * d * 4, 0, &x, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, rows * d * 4, 0, &h, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, rows * 3 * d * 4, 0, &qkv, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, rows * d * 4, 0, &att, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, rows * v->ff_dim * 4, 0, &ff, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, (uint64_t)n * N * d * 4, 0, &fe, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, (uint64_t)RH * RW * d * 4, 0, &rec, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, (uint64_t)N * 2 * d * 4, 0, &cat, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, (uint64_t)N * v->proj_inner * 4, 0, &pi, e)) < 0 ||
        (rc = rt_tf_buf_init(m->dev, (uint64_t)N * v->proj_out * 4, 1, &po, e)) < 0)
        goto out;
    if ((ph = malloc((uint64_t)n * N * m->kp * 4)) == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory for patches");
        goto out;
    }
    /* every batch of the encoder, then the merge, in one command buffer */
    patchify(m, crops, n, ph);
    if ((rc = rt_tf_buf_write(m->dev, pat, 0, ph, (uint64_t)n * N * m->kp * 4, e)) < 0 ||
        (rc = rt_tf_seq_init(m->dev, &s, e)) < 0)
        goto out;
    for (uint32_t c0 = 0; c0 < n && rc == 0; c0 += bc) {
        uint32_t b = n - c0 < bc ? n - c0 : bc;
        rc = record_encoder(
            m, s, b,
            rt_tf_sub(rt_tf_whole(pat), (uint64_t)c0 * N * m->kp * 4, (uint64_t)b * N * m->kp * 4),
            x, h, qkv, att, ff,
            rt_tf_sub(rt_tf_whole(fe), (uint64_t)c0 * N * d * 4, (uint64_t)b * N * d * 4), e);
    }
    /* merge, pool, project */
    struct rt_tf_ref F = rt_tf_whole(fe);
    for (uint32_t ty = 0; ty < th && rc == 0; ty++)
        for (uint32_t tx = 0; tx < tw && rc == 0; tx++) {
            uint32_t y0 = ty == 0 ? 0 : mg, y1 = ty == th - 1 ? g : g - mg;
            uint32_t x0 = tx == 0 ? 0 : mg, x1 = tx == tw - 1 ? g : g - mg;
            uint32_t dims[4] = {1, y1 - y0, x1 - x0, d};
            uint32_t ss[4] = {0, g * d, d, 1}, ds[4] = {0, RW * d, d, 1};
            uint32_t crop = 1 + ty * tw + tx;
            uint32_t soff = (crop * N + y0 * g + x0) * d;
            uint32_t doff = ((ty * win + y0) * RW + tx * win + x0) * d;
            rc = rt_tf_copy(s, F, rt_tf_whole(rec), dims, ss, ds, soff, doff, e);
        }
    if (rc == 0) /* pooled grid into the right half of cat: pool into h first */
        rc = rt_tf_pool(s, rt_tf_whole(rec), rt_tf_whole(x), 1, RH, RW, d, g, g, e);
    uint32_t dims[4] = {1, 1, N, d}, ss[4] = {0, 0, d, 1}, ds[4] = {0, 0, 2 * d, 1};
    if (rc == 0)
        rc = rt_tf_copy(s, F, rt_tf_whole(cat), dims, ss, ds, 0, 0, e);
    if (rc == 0)
        rc = rt_tf_copy(s, rt_tf_whole(x), rt_tf_whole(cat), dims, ss, ds, 0, d, e);
    if (rc == 0)
        rc = rt_tf_linear(s, &m->proj1, rt_tf_whole(cat), 2 * d, rt_tf_whole(pi), v->proj_inner, N,
                          RT_TF_ACT_GELU_TANH, 0, e);
    if (rc == 0)
        rc = rt_tf_linear(s, &m->proj2, rt_tf_whole(pi), v->proj_inner, rt_tf_whole(po),
                          v->proj_out, N, RT_TF_ACT_NONE, 0, e);
    if (rc == 0 && (rc = rt_tf_seq_end(s, e)) == 0 && (rc = rt_tf_seq_submit(s, e)) == 0)
        rc = rt_tf_buf_read(m->dev, po, 0, proj, (uint64_t)N * v->proj_out * 4, e);
    if (rc == 0 && feats_out != NULL)
        rc = rt_tf_buf_read(m->dev, fe, 0, feats_out, (uint64_t)n * N * d * 4, e);
out:
    rt_tf_seq_free(s);
    free(ph);
    rt_tf_buf_free(m->dev, pat), rt_tf_buf_free(m->dev, x), rt_tf_buf_free(m->dev, h);
    rt_tf_buf_free(m->dev, qkv), rt_tf_buf_free(m->dev, att), rt_tf_buf_free(m->dev, ff);
    rt_tf_buf_free(m->dev, fe), rt_tf_buf_free(m->dev, rec), rt_tf_buf_free(m->dev, cat);
    rt_tf_buf_free(m->dev, pi), rt_tf_buf_free(m->dev, po);
    return rc;
}

/* ---- region head ----------------------------------------------------------- */

/* rio layout (floats): in [dim], tmp [inner], out [max(coord_out, size_out)],
 * feat [max(coord_feat, size_feat)], enc [dim] */
static int record_region(struct md2 *m, struct err *e)
{
    const struct md2_region_config *r = &m->c.region;
    uint32_t cf = r->coord_feat > r->size_feat ? r->coord_feat : r->size_feat;
    uint32_t co = r->coord_out > r->size_out ? r->coord_out : r->size_out;
    m->r_in = 0;
    m->r_tmp = m->r_in + (uint64_t)r->dim * 4;
    m->r_out = m->r_tmp + (uint64_t)r->inner * 4;
    m->r_feat = m->r_out + (uint64_t)co * 4;
    m->r_enc = m->r_feat + (uint64_t)cf * 4;
    int rc = rt_tf_buf_init(m->dev, m->r_enc + (uint64_t)r->dim * 4, 0, &m->rio, e);
    struct rt_tf_ref io = rt_tf_whole(m->rio);
    struct rt_tf_ref in = rt_tf_sub(io, m->r_in, (uint64_t)r->dim * 4),
                     tmp = rt_tf_sub(io, m->r_tmp, (uint64_t)r->inner * 4),
                     out = rt_tf_sub(io, m->r_out, (uint64_t)co * 4),
                     feat = rt_tf_sub(io, m->r_feat, (uint64_t)cf * 4),
                     enc = rt_tf_sub(io, m->r_enc, (uint64_t)r->dim * 4);
    for (int i = 0; i < 4 && rc == 0; i++) {
        struct rt_tf_seq *s = NULL;
        if ((rc = rt_tf_seq_init(m->dev, &s, e)) < 0)
            break;
        m->rseq[i] = s;
        if (i < 2) { /* decoders: in -> fc1 + gelu -> fc2 -> out */
            const struct rt_tf_weight *w1 = &m->reg[i == 0 ? R_CFC1 : R_SFC1],
                                      *w2 = &m->reg[i == 0 ? R_CFC2 : R_SFC2];
            rc = rt_tf_linear(s, w1, in, r->dim, tmp, r->inner, 1, RT_TF_ACT_GELU_TANH, 0, e);
            if (rc == 0)
                rc = rt_tf_linear(s, w2, tmp, r->inner, out, w2->n, 1, RT_TF_ACT_NONE, 0, e);
        } else { /* encoders: feat -> enc */
            const struct rt_tf_weight *w = &m->reg[i == 2 ? R_CENC : R_SENC];
            rc = rt_tf_linear(s, w, feat, w->k, enc, r->dim, 1, RT_TF_ACT_NONE, 0, e);
        }
        if (rc == 0)
            rc = rt_tf_seq_end(s, e);
    }
    return rc;
}

/* argmax of n floats (first on ties) */
static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* decoder which (0 coord, 1 size) on hidden row h: logits into m->rio out */
static int region_decode(struct md2 *m, int which, const float *h, float *logits, uint32_t n,
                         struct err *e)
{
    int rc = rt_tf_buf_write(m->dev, m->rio, m->r_in, h, (uint64_t)m->c.region.dim * 4, e);
    if (rc == 0)
        rc = rt_tf_seq_submit(m->rseq[which], e);
    if (rc == 0)
        rc = rt_tf_buf_read(m->dev, m->rio, m->r_out, logits, (uint64_t)n * 4, e);
    return rc;
}

/* Fourier features of vals (1 coord or 2 sizes) then the encoder: emb [dim] */
static int region_encode(struct md2 *m, int size, const float *vals, float *emb, struct err *e)
{
    const struct md2_region_config *r = &m->c.region;
    uint32_t f = size ? r->size_feat / 2 : r->coord_feat / 2, ni = size ? 2 : 1;
    const float *w = size ? m->size_f : m->coord_f;
    float feat[8192];
    if (2 * f > sizeof feat / sizeof feat[0])
        return err_set(e, RT_UNSUPPORTED, ERR_INTERNAL, "unsupported_shape",
                       "region features too wide");
    for (uint32_t j = 0; j < f; j++) {
        double a = 0;
        for (uint32_t i = 0; i < ni; i++)
            a += (double)vals[i] * w[(size_t)i * f + j];
        a *= 2 * M_PI;
        feat[j] = (float)cos(a);
        feat[f + j] = (float)sin(a);
    }
    int rc = rt_tf_buf_write(m->dev, m->rio, m->r_feat, feat, (uint64_t)2 * f * 4, e);
    if (rc == 0)
        rc = rt_tf_seq_submit(m->rseq[size ? 3 : 2], e);
    if (rc == 0)
        rc = rt_tf_buf_read(m->dev, m->rio, m->r_enc, emb, (uint64_t)r->dim * 4, e);
    return rc;
}

/* ---- images and tasks ---------------------------------------------------- */

uint64_t md2_image_device_bytes(const struct md2_image *im)
{
    return rt_dec_run_device_bytes(im->run) + (im->snap ? im->snap->buf->b.size : 0);
}

void md2_image_free(struct md2_image *im)
{
    if (im == NULL)
        return;
    if (im->snap != NULL)
        rt_kv_snap_free(im->m->dev, im->snap);
    rt_dec_run_free(im->run);
    free(im->hid), free(im->emb), free(im->lg);
    free(im);
}

int md2_image_init(struct md2 *m, const float *proj, uint32_t bos, uint32_t max_len,
                   uint64_t budget, struct md2_image **out, struct err *e)
{
    const struct rt_dec_config *c = &m->c.text;
    uint32_t P = m->N + 1;
    if (max_len == 0 || max_len > c->max_context)
        max_len = c->max_context;
    if (max_len <= P || bos >= c->vocab)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                       "context %u too short for the %u image positions (or bos %u >= vocab)",
                       max_len, P, bos);
    struct md2_image *im = calloc(1, sizeof(*im));
    uint32_t *ids = malloc((size_t)P * 4);
    float *emb = malloc((size_t)P * c->dim * 4);
    int rc = 0;
    if (im == NULL || ids == NULL || emb == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory for an image");
        goto out;
    }
    im->m = m;
    im->hid_rows = P;
    im->hid = malloc((size_t)P * c->dim * 4);
    im->emb = malloc((size_t)c->dim * 4);
    im->lg = malloc((size_t)c->vocab * 4);
    if (im->hid == NULL || im->emb == NULL || im->lg == NULL) {
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory for an image");
        goto out;
    }
    ids[0] = bos;
    for (uint32_t i = 1; i < P; i++)
        ids[i] = RT_DEC_EMBED;
    memset(emb, 0, (size_t)c->dim * 4);
    memcpy(emb + c->dim, proj, (size_t)m->N * c->dim * 4);
    if ((rc = rt_dec_run_init(m->text, max_len, P, budget, &im->run, e)) < 0 ||
        (rc = rt_dec_prefill(im->run, ids, emb, P, P, NULL, e)) < 0 ||
        (rc = rt_kv_snapshot(rt_dec_run_kv(im->run), &im->snap, e)) < 0)
        goto out;
out:
    free(ids);
    free(emb);
    if (rc < 0) {
        md2_image_free(im);
        return rc;
    }
    *out = im;
    return 0;
}

/* restores the prefix and prefills the prompt; logits of its last position */
static int prompt(struct md2_image *im, const uint32_t *ids, uint32_t n, float *logits,
                  struct err *e)
{
    if (n == 0)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument", "empty prompt");
    int rc = rt_kv_restore(rt_dec_run_kv(im->run), im->snap, e);
    /* in pieces of the rows the run was planned for: a resumed answer
     * (prompt + the tokens generated before) may be longer; the cache makes
     * the pieces equal to one prefill */
    for (uint32_t off = 0; rc == 0 && off < n; off += im->hid_rows) {
        uint32_t k = n - off < im->hid_rows ? n - off : im->hid_rows;
        rc = rt_dec_prefill(im->run, ids + off, NULL, k, im->m->N + 1, logits, e);
    }
    return rc;
}

int md2_prefill(struct md2_image *im, const uint32_t *ids, uint32_t n, float *logits, struct err *e)
{
    return prompt(im, ids, n, logits, e);
}

struct rt_dec_run *md2_image_run(struct md2_image *im)
{
    return im->run;
}

int md2_generate(struct md2_image *im, const uint32_t *ids, uint32_t n, const struct rt_dec_gen *g,
                 uint32_t *out, uint32_t cap, uint32_t *n_out, float *first_logits, struct err *e)
{
    uint32_t V = im->m->c.text.vocab;
    int rc = prompt(im, ids, n, im->lg, e);
    if (rc < 0)
        return rc;
    if (first_logits != NULL)
        memcpy(first_logits, im->lg, (size_t)V * 4);
    return rt_dec_generate(im->run, im->lg, g, out, cap, n_out, e);
}

int md2_generate_more(struct md2_image *im, const uint32_t *ids, uint32_t n,
                      const struct rt_dec_gen *g, uint32_t *out, uint32_t cap, uint32_t *n_out,
                      struct err *e)
{
    if (n == 0 || n > im->hid_rows)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "prompt_too_long", "prompt of %u tokens",
                       n);
    int rc = rt_dec_prefill(im->run, ids, NULL, n, im->m->N + 1, im->lg, e);
    if (rc < 0)
        return rc;
    return rt_dec_generate(im->run, im->lg, g, out, cap, n_out, e);
}

/* one position from an embedding row: logits (or NULL) and hidden */
static int feed(struct md2_image *im, const float *emb, float *logits, struct err *e)
{
    uint32_t id = RT_DEC_EMBED;
    int rc = rt_dec_prefill(im->run, &id, emb, 1, im->m->N + 1, logits, e);
    if (rc == 0)
        rc = rt_dec_hidden(im->run, 1, im->hid, e);
    return rc;
}

int md2_locate(struct md2_image *im, const uint32_t *ids, uint32_t n, int detect, uint32_t eos,
               uint32_t max_objects, struct md2_obj *out, uint32_t *n_out, struct err *e)
{
    struct md2 *m = im->m;
    const struct md2_region_config *r = &m->c.region;
    uint32_t D = m->c.text.dim, V = m->c.text.vocab, bins = r->size_out / 2;
    float *lbuf = malloc((size_t)(r->coord_out > r->size_out ? r->coord_out : r->size_out) * 4);
    *n_out = 0;
    if (lbuf == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
    /* the whole prompt's residual rows are read back: one piece */
    int rc = n > im->hid_rows ? err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "prompt_too_long",
                                        "prompt of %u tokens (at most %u)", n, im->hid_rows)
                              : prompt(im, ids, n, im->lg, e);
    if (rc == 0)
        rc = rt_dec_hidden(im->run, n, im->hid, e);
    /* the last row of the prompt's residual stream */
    const float *h = im->hid + (size_t)(n - 1) * D;
    uint32_t next = rc == 0 ? argmax(im->lg, V) : eos;
    uint32_t len = rt_dec_run_kv(im->run)->len, cap = rt_dec_run_kv(im->run)->cap;
    while (rc == 0 && next != eos && *n_out < max_objects && len + 3 <= cap) {
        float xy[2];
        for (int k = 0; k < 2 && rc == 0; k++) {
            if ((rc = region_decode(m, 0, h, lbuf, r->coord_out, e)) < 0)
                break;
            xy[k] = (float)argmax(lbuf, r->coord_out) / (float)r->coord_out;
            rc = region_encode(m, 0, &xy[k], im->emb, e);
            if (rc == 0)
                rc = feed(im, im->emb, k == 1 && !detect ? im->lg : NULL, e);
            h = im->hid;
        }
        if (rc < 0)
            break;
        struct md2_obj *o = &out[(*n_out)++];
        o->x = xy[0], o->y = xy[1];
        o->x_min = o->x_max = xy[0], o->y_min = o->y_max = xy[1];
        if (detect) {
            if ((rc = region_decode(m, 1, h, lbuf, r->size_out, e)) < 0)
                break;
            float wh[2];
            for (int k = 0; k < 2; k++)
                wh[k] =
                    exp2f((float)argmax(lbuf + (size_t)k * bins, bins) / (float)(bins - 1) * 10.0f -
                          10.0f);
            o->x_min = xy[0] - wh[0] / 2, o->x_max = xy[0] + wh[0] / 2;
            o->y_min = xy[1] - wh[1] / 2, o->y_max = xy[1] + wh[1] / 2;
            if ((rc = region_encode(m, 1, wh, im->emb, e)) < 0 ||
                (rc = feed(im, im->emb, im->lg, e)) < 0)
                break;
            h = im->hid;
        }
        next = argmax(im->lg, V);
        len = rt_dec_run_kv(im->run)->len;
    }
    free(lbuf);
    return rc;
}
