/*
 * md_task.c: Moondream 2's tasks on a model directory (see md_task.h).
 * Prompt ids per revision are the published code's: the starmie templates
 * (caption [1, 32708, 2, L, 3], query [1, 15381, 2] + question + [3, 3],
 * detect [1, 7235, 476, 2] + " object" + [3], point [1, 2581, 2] + " object"
 * + [3]; the answer id 3 suppressed while answering) and the legacy text
 * templates ("\n\nShort caption:", "\n\nQuestion:", ...).
 */
#include "vlm/md_task.h"
#include "import/tok.h"
#include "vlm/md_crop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MDT_MAX_PROMPT 1024
#define MDT_MAX_OUT 4096

struct mdt_model {
    struct rt_device *dev;
    struct md2 *m;
    struct tok_tokenizer *tok;
    int rev;
    char revision[32];
    uint32_t bos, eos;
    struct mdc_geom geom;
    /* timings of the last mdt_run (ms; vision and prefix 0 when the image was kept) */
    double t_vision, t_prefix;
    int crops;
    /* the last image */
    struct md2_image *im;
    uint64_t im_hash;
    int im_w, im_h;
    /* device bytes the weights and the kept image may take together (0: no limit) */
    uint64_t max_bytes;
};

static char *read_file(const char *path, size_t max, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *p = malloc(max + 1);
    size_t k = p ? fread(p, 1, max, f) : 0;
    fclose(f);
    if (p != NULL)
        p[k] = 0;
    *n = k;
    return p;
}

const char *mdt_revision(const struct mdt_model *m)
{
    return m->revision;
}

int mdt_rev(const struct mdt_model *m)
{
    return m->rev;
}

struct md2 *mdt_md2(struct mdt_model *m)
{
    return m->m;
}

int mdt_limit(struct mdt_model *m, uint64_t max_bytes, struct err *e)
{
    uint64_t w = md2_device_bytes(m->m);
    if (max_bytes != 0 && w >= max_bytes)
        return err_set_transient(e, RT_ERR_OOM, "out_of_device_memory",
                                 "moondream2: the weights take %llu bytes, over the %llu bytes "
                                 "allowed",
                                 (unsigned long long)w, (unsigned long long)max_bytes);
    m->max_bytes = max_bytes;
    return 0;
}

uint64_t mdt_device_bytes(const struct mdt_model *m)
{
    return md2_device_bytes(m->m) + (m->im ? md2_image_device_bytes(m->im) : 0);
}

void mdt_close(struct mdt_model *m)
{
    if (m == NULL)
        return;
    md2_image_free(m->im);
    md2_free(m->m);
    tok_free(m->tok);
    free(m);
}

int mdt_open(struct rt_device *d, const char *dir, int wtype, struct mdt_model **out, struct err *e)
{
    char path[4096];
    size_t n = 0;
    struct mdt_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory for a model");
    m->dev = d;
    struct mdr_info ri;
    int rc = mdr_detect(dir, NULL, &m->tok, &ri, e);
    if (rc == 0) {
        m->rev = ri.rev;
        snprintf(m->revision, sizeof m->revision, "%s", ri.revision);
        m->bos = ri.bos;
        m->eos = ri.eos;
    }
    /* sizes, weights */
    struct md2_config c = md2_config_default();
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *txt = rc == 0 ? read_file(path, 1 << 16, &n) : NULL;
    if (txt != NULL) {
        rc = md2_config_parse(txt, n, &c, e);
        free(txt);
    }
    if (rc == 0 && c.text.vocab <= m->eos)
        rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_config", "vocab %u has no eos %u",
                     c.text.vocab, m->eos);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (rc == 0)
        rc = md2_load(d, path, &c, wtype, &m->m, e);
    if (rc < 0) {
        mdt_close(m);
        return rc;
    }
    m->geom = (struct mdc_geom){(int)c.vision.crop, (int)c.vision.patch, (int)c.vision.margin,
                                (int)c.vision.max_crops};
    *out = m;
    return 0;
}

/* ---- prompts ---------------------------------------------------------------- */

struct ids {
    uint32_t v[MDT_MAX_PROMPT];
    uint32_t n;
};

static int add(struct ids *p, const uint32_t *v, uint32_t n, struct err *e)
{
    if (p->n + n > MDT_MAX_PROMPT)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "prompt_too_long",
                       "the prompt is over %d tokens", MDT_MAX_PROMPT);
    memcpy(p->v + p->n, v, n * 4);
    p->n += n;
    return 0;
}

static int add_text(struct mdt_model *m, struct ids *p, const char *prefix, const char *s,
                    struct err *e)
{
    char buf[8192];
    int k = snprintf(buf, sizeof buf, "%s%s", prefix, s);
    if (k < 0 || (size_t)k >= sizeof buf)
        return err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "text_too_long", "text over %zu bytes",
                       sizeof buf - 1);
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tok_encode(m->tok, buf, (size_t)k, &ids, &n, e);
    uint32_t V = md2_get_config(m->m)->text.vocab;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= V)
            rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model",
                         "tokenizer id %d outside the model's vocabulary %u", ids[i], V);
    if (rc == 0 && p->n + n > MDT_MAX_PROMPT)
        rc = err_set(e, RT_ERR_TOO_LARGE, ERR_TOO_LARGE, "prompt_too_long",
                     "the prompt is over %d tokens", MDT_MAX_PROMPT);
    for (size_t i = 0; rc == 0 && i < n; i++)
        p->v[p->n++] = (uint32_t)ids[i];
    free(ids);
    return rc;
}

/* ---- running ---------------------------------------------------------------- */

static uint64_t fnv(const uint8_t *p, size_t n, int w, int h)
{
    uint64_t x = 1469598103934665603ull ^ (uint64_t)w ^ ((uint64_t)h << 32);
    for (size_t i = 0; i < n; i++)
        x = (x ^ p[i]) * 1099511628211ull;
    return x;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* what the KV cache and activations of a new image may take: the limit less
 * the weights (the previous image is freed before a new one is made) */
static uint64_t image_budget(const struct mdt_model *m)
{
    if (m->max_bytes == 0)
        return 0;
    uint64_t w = md2_device_bytes(m->m);
    return m->max_bytes > w ? m->max_bytes - w : 1;
}

/* a new image state for rgb within budget device bytes (0: no limit):
 * crops, vision encoder, prefix prefill and snapshot; timings into *tv,
 * *tp, crop count into *crops */
static int encode_new(struct mdt_model *m, const uint8_t *rgb, int w, int h, uint64_t budget,
                      struct md2_image **out, double *tv, double *tp, int *crops, struct err *e)
{
    float *crop = NULL, *proj = NULL;
    int n = 0, th = 0, tw = 0;
    *out = NULL;
    int rc = mdc_crops(&m->geom, rgb, w, h, &crop, &n, &th, &tw, e);
    const struct md2_config *c = md2_get_config(m->m);
    if (rc == 0 && (proj = malloc((size_t)md2_image_tokens(m->m) * c->text.dim * 4)) == NULL)
        rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
    double t0 = now_ms();
    if (rc == 0)
        rc = md2_vision(m->m, crop, (uint32_t)n, (uint32_t)th, (uint32_t)tw, proj, NULL, e);
    double t1 = now_ms();
    if (rc == 0)
        rc = md2_image_init(m->m, proj, m->bos, 0, budget, out, e);
    *tv = t1 - t0, *tp = now_ms() - t1, *crops = n;
    free(crop);
    free(proj);
    return rc;
}

/* the kept image (m->im) for rgb: reused when it is the same photo */
static int encode_image(struct mdt_model *m, const uint8_t *rgb, int w, int h, struct err *e)
{
    m->t_vision = m->t_prefix = 0;
    uint64_t hash = fnv(rgb, (size_t)w * h * 3, w, h);
    if (m->im != NULL && m->im_hash == hash && m->im_w == w && m->im_h == h)
        return 0;
    md2_image_free(m->im);
    m->im = NULL;
    int rc =
        encode_new(m, rgb, w, h, image_budget(m), &m->im, &m->t_vision, &m->t_prefix, &m->crops, e);
    if (rc == 0)
        m->im_hash = hash, m->im_w = w, m->im_h = h;
    return rc;
}

struct stream {
    struct mdt_model *m;
    const struct mdt_req *r;
    struct tok_stream ts;
    struct tok_buf buf;
    int answer;          /* 1: the answer (streamed, resumable); 0: reasoning */
    const uint32_t *ids; /* the generation's ids so far (rt_dec_generate writes them first) */
    uint32_t n;
    int suspended;
};

static int on_token(void *ud, uint32_t id)
{
    struct stream *s = ud;
    size_t before = s->buf.n;
    struct err e = {0};
    s->n++;
    if (tok_stream_push(s->m->tok, &s->ts, (int32_t)id, 1, &s->buf, &e) < 0)
        before = s->buf.n; /* an id outside the tokenizer: nothing to show */
    if (s->answer && s->r->on_text != NULL && s->buf.n > before && s->buf.p != NULL) {
        char *piece = strndup(s->buf.p + before, s->buf.n - before);
        int stop = piece ? s->r->on_text(s->r->ud, piece) : 0;
        free(piece);
        if (stop)
            return stop;
    }
    if (s->r->on_step != NULL &&
        s->r->on_step(s->r->ud, s->answer ? (s->buf.p ? s->buf.p : "") : NULL,
                      s->answer ? s->buf.n : 0, s->ids, s->n) != 0) {
        s->suspended = 1;
        return 1;
    }
    return 0;
}

static json_t *ids_json(const uint32_t *v, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static const char *finish(int end, int suspended)
{
    switch (end) {
    case RT_DEC_END_STOP:
        return "stop";
    case RT_DEC_END_LIMIT:
    case RT_DEC_END_CONTEXT:
        return "length";
    default:
        return suspended ? "suspended" : "canceled";
    }
}

/* one text generation: its stream, settings, prompt (+ resumed ids) */
struct gen {
    struct stream s;
    struct rt_dec_gen g;
    uint32_t stop;
    uint32_t *full; /* owned: prompt + resumed ids, or NULL */
    const uint32_t *pv;
    uint32_t pn, nr; /* prompt length (resumed ids included), resumed ids */
};

/*
 * Prepares a generation with streaming text (stream: the answer,
 * resumable from r->resume when more == 0) into out (the resumed ids
 * first).  G must stay where it is until gen_end.  0 or <0 with e.
 */
static int gen_setup(struct mdt_model *m, const struct mdt_req *r, const struct ids *p, int more,
                     const uint32_t *suppress, int n_sup, uint32_t stop_id, uint32_t *out,
                     int stream, struct gen *G, struct err *e)
{
    memset(G, 0, sizeof(*G));
    G->s = (struct stream){m, r, {{0}, 0}, {NULL, 0, 0}, stream, out, 0, 0};
    tok_stream_init(&G->s.ts);
    struct rt_dec_gen *g = &G->g;
    g->max_tokens = r->max_tokens ? r->max_tokens : 768;
    if (g->max_tokens > MDT_MAX_OUT)
        g->max_tokens = MDT_MAX_OUT;
    g->temperature = r->temperature;
    g->top_p = r->top_p > 0 ? r->top_p : 1.0f;
    g->seed = r->seed;
    G->stop = stop_id;
    g->stop = &G->stop, g->n_stop = 1;
    g->suppress = suppress, g->n_suppress = n_sup;
    g->cancel = r->cancel;
    g->on_token = on_token;
    g->ud = &G->s;
    G->pv = p->v, G->pn = p->n;
    /* a resumed answer: the tokens of the suspended run, then more */
    uint32_t nr = stream && !more && r->resume != NULL ? r->n_resume : 0;
    if (nr > g->max_tokens)
        nr = g->max_tokens;
    if (nr > 0) {
        G->full = malloc((size_t)(p->n + nr) * 4);
        if (G->full == NULL)
            return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
        memcpy(G->full, p->v, (size_t)p->n * 4);
        memcpy(G->full + p->n, r->resume, (size_t)nr * 4);
        G->pv = G->full, G->pn = p->n + nr;
        memcpy(out, r->resume, (size_t)nr * 4);
        for (uint32_t i = 0; i < nr; i++)
            (void)tok_stream_push(m->tok, &G->s.ts, (int32_t)r->resume[i], 1, &G->s.buf, e);
        err_clear(e);
        G->s.n = nr;
        g->max_tokens -= nr;
    }
    G->nr = nr;
    return 0;
}

/* ends G after its generation (end: enum rt_dec_end or <0, n_new ids
 * after the resumed ones): *n_out, *text (new; NULL when end < 0),
 * *suspended; returns end */
static int gen_end(struct gen *G, int end, uint32_t n_new, uint32_t *n_out, char **text,
                   int *suspended)
{
    free(G->full);
    G->full = NULL;
    *n_out = G->nr + n_new;
    tok_stream_flush(&G->s.ts, &G->s.buf);
    *text = G->s.buf.p != NULL ? G->s.buf.p : strdup("");
    *suspended = G->s.suspended;
    if (end < 0) {
        free(*text);
        *text = NULL;
    }
    return end;
}

/*
 * Generates with streaming text (see gen_setup); *text (new) the decoded
 * answer, out the ids (the resumed ones first), *suspended whether
 * on_step stopped it.
 */
static int gen_text(struct mdt_model *m, const struct mdt_req *r, const struct ids *p, int more,
                    const uint32_t *suppress, int n_sup, uint32_t stop_id, uint32_t *out,
                    uint32_t *n_out, char **text, int stream, int *suspended, struct err *e)
{
    struct gen G;
    int rc = gen_setup(m, r, p, more, suppress, n_sup, stop_id, out, stream, &G, e);
    if (rc < 0) {
        free(G.full);
        free(G.s.buf.p);
        return rc;
    }
    int end;
    uint32_t n_new = 0, nr = G.nr;
    if (nr > 0 && G.g.max_tokens == 0)
        end = RT_DEC_END_LIMIT; /* it had stopped on its last token */
    else
        end =
            more ? md2_generate_more(m->im, G.pv, G.pn, &G.g, out + nr, MDT_MAX_OUT - nr, &n_new, e)
                 : md2_generate(m->im, G.pv, G.pn, &G.g, out + nr, MDT_MAX_OUT - nr, &n_new, NULL,
                                e);
    return gen_end(&G, end, n_new, n_out, text, suspended);
}

/* the prompt of r's task for m's revision into p (empty on entry) */
static int build_prompt(struct mdt_model *m, const struct mdt_req *r, struct ids *p, struct err *e)
{
    const char *t = r->task ? r->task : "";
    int st = m->rev == MDR_REV_STARMIE;
    int rc = 0;
    if (strcmp(t, "caption") == 0) {
        const char *len = r->length ? r->length : "normal";
        static const uint32_t s_id[3] = {12492, 6382, 4059};
        static const uint32_t l_ids[3][5] = {
            {198, 198, 16438, 8305, 25}, {198, 198, 24334, 1159, 25}, {198, 198, 14617, 8305, 25}};
        int k = strcmp(len, "short") == 0    ? 0
                : strcmp(len, "normal") == 0 ? 1
                : strcmp(len, "long") == 0   ? 2
                                             : -1;
        if (k < 0)
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "caption length \"%s\": short, normal or long", len);
        uint32_t sp[5] = {1, 32708, 2, s_id[k], 3};
        rc = add(p, st ? sp : l_ids[k], 5, e);
    } else if (strcmp(t, "query") == 0) {
        if (r->question == NULL || !r->question[0])
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "missing_field", "missing question");
        if (r->reasoning && !st)
            return err_set(e, RT_UNSUPPORTED, ERR_INVALID, "unsupported_field",
                           "reasoning needs the 2025-06-21 revision (this model is %s)",
                           m->revision);
        static const uint32_t sq[3] = {1, 15381, 2}, lq[4] = {198, 198, 24361, 25};
        static const uint32_t la[4] = {198, 198, 33706, 25}, sa[2] = {3, 3}, sr[2] = {3, 4};
        rc = st ? add(p, sq, 3, e) : add(p, lq, 4, e);
        if (rc == 0)
            rc = add_text(m, p, st ? "" : " ", r->question, e);
        if (rc == 0)
            rc = st ? add(p, r->reasoning ? sr : sa, 2, e) : add(p, la, 4, e);
    } else if (strcmp(t, "detect") == 0 || strcmp(t, "point") == 0) {
        if (r->object == NULL || !r->object[0])
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "missing_field", "missing object");
        int det = t[0] == 'd';
        static const uint32_t sd[4] = {1, 7235, 476, 2}, spn[3] = {1, 2581, 2};
        static const uint32_t ld[4] = {198, 198, 47504, 25}, lp[4] = {198, 198, 12727, 25};
        static const uint32_t s_end = 3, l_end = 628;
        rc = st ? (det ? add(p, sd, 4, e) : add(p, spn, 3, e)) : add(p, det ? ld : lp, 4, e);
        if (rc == 0)
            rc = add_text(m, p, " ", r->object, e);
        if (rc == 0)
            rc = add(p, st ? &s_end : &l_end, 1, e);
    } else {
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_task",
                       "task \"%s\": caption, query, detect or point", t);
    }
    return rc;
}

int mdt_run(struct mdt_model *m, const uint8_t *rgb, int w, int h, const struct mdt_req *r,
            json_t **result, struct err *e)
{
    *result = NULL;
    const char *t = r->task ? r->task : "";
    int st = m->rev == MDR_REV_STARMIE;
    struct ids p = {{0}, 0};
    int rc = build_prompt(m, r, &p, e);
    if (rc < 0)
        return rc;
    double t0 = now_ms();
    if ((rc = encode_image(m, rgb, w, h, e)) < 0)
        return rc;
    double t1 = now_ms();
    json_t *res = json_object();
    if (res == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
    if (t[0] == 'd' || t[0] == 'p') {
        int det = t[0] == 'd';
        uint32_t mx = r->max_objects ? r->max_objects : 50;
        struct md2_obj *o = calloc(mx, sizeof(*o));
        uint32_t n = 0;
        rc = o ? md2_locate(m->im, p.v, p.n, det, m->eos, mx, o, &n, e)
               : err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
        json_t *a = json_array();
        for (uint32_t i = 0; rc == 0 && i < n; i++)
            json_array_append_new(a, det ? json_pack("{s:f, s:f, s:f, s:f}", "x_min", o[i].x_min,
                                                     "y_min", o[i].y_min, "x_max", o[i].x_max,
                                                     "y_max", o[i].y_max)
                                         : json_pack("{s:f, s:f}", "x", o[i].x, "y", o[i].y));
        json_object_set_new(res, det ? "objects" : "points", a);
        free(o);
    } else {
        uint32_t *out = malloc(MDT_MAX_OUT * 4), n = 0;
        char *text = NULL;
        uint32_t answer = 3, sup_ans[1] = {3}, sup_think[2] = {0, 6};
        int end = 0, susp = 0;
        if (out == NULL)
            rc = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
        if (rc == 0 && r->reasoning) { /* think until the answer id, then answer */
            end = gen_text(m, r, &p, 0, sup_think, 2, answer, out, &n, &text, 0, &susp, e);
            if (end < 0) {
                rc = end;
            } else if (susp) { /* a reasoning is not resumable: no answer yet */
                free(text);
                text = strdup("");
                n = 0;
            } else {
                json_object_set_new(res, "reasoning", json_string(text));
                json_object_set_new(res, "reasoning_tokens", ids_json(out, n));
                free(text);
                struct ids a = {{3}, 1};
                end = gen_text(m, r, &a, 1, sup_ans, 1, m->eos, out, &n, &text, 1, &susp, e);
            }
        } else if (rc == 0) {
            end = gen_text(m, r, &p, 0, st ? sup_ans : NULL, st ? 1 : 0, m->eos, out, &n, &text, 1,
                           &susp, e);
        }
        if (rc == 0 && end < 0)
            rc = end;
        if (rc == 0) {
            json_object_set_new(res, t[0] == 'c' ? "caption" : "answer", json_string(text));
            json_object_set_new(res, "tokens", ids_json(out, n));
            json_object_set_new(res, "finish_reason", json_string(finish(end, susp)));
        }
        free(text);
        free(out);
    }
    if (rc < 0) {
        json_decref(res);
        return rc;
    }
    json_object_set_new(res, "revision", json_string(m->revision));
    /* where the time went: crops + vision encoder, [bos] + image prefill
     * (0 when the image was kept), prompt + generation (or the region loop) */
    json_object_set_new(res, "metrics",
                        json_pack("{s:f, s:i, s:f, s:f, s:f}", "vision_ms", m->t_vision, "crops",
                                  m->crops, "prefix_ms", m->t_prefix, "generate_ms", now_ms() - t1,
                                  "total_ms", now_ms() - t0));
    *result = res;
    return 0;
}

/* a request decoded in a batch */
static int batchable(const struct mdt_req *r)
{
    const char *t = r->task ? r->task : "";
    return (strcmp(t, "caption") == 0 || strcmp(t, "query") == 0) && !r->reasoning;
}

static int fatal(int rc)
{
    return rc == RT_ERR_OOM || rc == RT_ERR_DEVICE_LOST;
}

int mdt_run_batch(struct mdt_model *m, int n, const struct mdt_image *img, const struct mdt_req *r,
                  json_t **result, struct err *errs, struct err *e)
{
    if (n < 0 || n > MDT_MAX_BATCH)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "internal", "batch of %d (at most %d)", n,
                       MDT_MAX_BATCH);
    struct one {
        int i;                 /* request index */
        struct md2_image *own; /* NULL: the model's kept image */
        struct ids p;
        struct gen G;
        uint32_t *out, n_new;
        float *lg;
        int end;
        double tv, tp, t0;
        int crops;
    } *b = calloc(MDT_MAX_BATCH, sizeof(*b));
    int later[MDT_MAX_BATCH], nl = 0, k = 0, rc = 0;
    if (b == NULL)
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
    for (int i = 0; i < n; i++) {
        result[i] = NULL;
        err_clear(&errs[i]);
        if (batchable(&r[i]))
            b[k++].i = i;
        else
            later[nl++] = i;
    }
    if (k < 2) { /* nothing to share */
        for (int j = 0; j < k; j++)
            later[nl++] = b[j].i;
        k = 0;
    }
    uint32_t V = md2_get_config(m->m)->text.vocab;
    /* the batch's activations and extra image states live for this call
     * only: what stays resident is the weights and the kept image */
    struct rt_dec_batch *batch = NULL;
    if (k > 0)
        rc = rt_dec_batch_init(md2_text(m->m), (uint32_t)k, &batch, e);
    /* prompts, images, prefills; a request that fails leaves the batch */
    int ready = 0;
    for (int j = 0; j < k && rc == 0; j++) {
        struct one *o = &b[j];
        const struct mdt_req *q = &r[o->i];
        struct err *ie = &errs[o->i];
        static const uint32_t sup_ans[1] = {3};
        const uint32_t *sup = m->rev == MDR_REV_STARMIE ? sup_ans : NULL;
        o->t0 = now_ms();
        int irc = build_prompt(m, q, &o->p, ie);
        if (irc == 0 && ready == 0) {
            irc = encode_image(m, img[o->i].rgb, img[o->i].w, img[o->i].h, ie);
            o->tv = m->t_vision, o->tp = m->t_prefix, o->crops = m->crops;
        } else if (irc == 0) {
            /* within the residency limit: what the weights, the kept
             * image, the batch and the images made so far leave */
            uint64_t budget = 0;
            if (m->max_bytes != 0) {
                uint64_t used = mdt_device_bytes(m) + rt_dec_batch_device_bytes(batch);
                for (int x = 0; x < j; x++)
                    used += b[x].own ? md2_image_device_bytes(b[x].own) : 0;
                budget = m->max_bytes > used ? m->max_bytes - used : 1;
            }
            irc = encode_new(m, img[o->i].rgb, img[o->i].w, img[o->i].h, budget, &o->own, &o->tv,
                             &o->tp, &o->crops, ie);
            if (irc == RT_ERR_OOM) { /* no room for one more image state: alone, after */
                err_clear(ie);
                later[nl++] = o->i;
                o->i = -1;
                continue;
            }
        }
        if (irc == 0 &&
            ((o->out = malloc(MDT_MAX_OUT * 4)) == NULL || (o->lg = malloc((size_t)V * 4)) == NULL))
            irc = err_set(ie, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
        if (irc == 0)
            irc = gen_setup(m, q, &o->p, 0, sup, sup ? 1 : 0, m->eos, o->out, 1, &o->G, ie);
        if (irc == 0 && !(o->G.nr > 0 && o->G.g.max_tokens == 0))
            irc = md2_prefill(o->own ? o->own : m->im, o->G.pv, o->G.pn, o->lg, ie);
        if (irc < 0 && fatal(irc)) {
            *e = *ie;
            rc = irc;
        } else if (irc < 0) {
            o->i = -1 - o->i; /* failed: errs holds why */
        } else {
            ready++;
        }
    }
    /* the decode steps, all sequences at once */
    struct rt_dec_run *runs[MDT_MAX_BATCH];
    float *first[MDT_MAX_BATCH];
    struct rt_dec_gen gs[MDT_MAX_BATCH];
    uint32_t *outs[MDT_MAX_BATCH], nn[MDT_MAX_BATCH];
    int ends[MDT_MAX_BATCH], who[MDT_MAX_BATCH], nb = 0;
    double tg = now_ms();
    for (int j = 0; j < k && rc == 0; j++) {
        struct one *o = &b[j];
        if (o->i < 0)
            continue;
        if (o->G.nr > 0 && o->G.g.max_tokens == 0) {
            o->end = RT_DEC_END_LIMIT; /* it had stopped on its last token */
            continue;
        }
        runs[nb] = md2_image_run(o->own ? o->own : m->im);
        first[nb] = o->lg;
        gs[nb] = o->G.g;
        outs[nb] = o->out + o->G.nr;
        who[nb++] = j;
    }
    if (rc == 0 && nb > 0)
        rc = rt_dec_generate_batch(batch, runs, (uint32_t)nb, first, gs, outs, MDT_MAX_OUT, nn,
                                   ends, e);
    double t_gen = now_ms() - tg;
    for (int x = 0; x < nb && rc == 0; x++)
        b[who[x]].end = ends[x], b[who[x]].n_new = nn[x];
    /* results */
    for (int j = 0; j < k; j++) {
        struct one *o = &b[j];
        if (o->i >= 0 && rc == 0) {
            const struct mdt_req *q = &r[o->i];
            uint32_t n_out = 0;
            char *text = NULL;
            int susp = 0;
            gen_end(&o->G, o->end, o->n_new, &n_out, &text, &susp);
            json_t *res = json_object();
            if (res != NULL) {
                json_object_set_new(res, q->task[0] == 'c' ? "caption" : "answer",
                                    json_string(text));
                json_object_set_new(res, "tokens", ids_json(o->out, n_out));
                json_object_set_new(res, "finish_reason", json_string(finish(o->end, susp)));
                json_object_set_new(res, "revision", json_string(m->revision));
                json_object_set_new(res, "metrics",
                                    json_pack("{s:f, s:i, s:f, s:f, s:f, s:i}", "vision_ms", o->tv,
                                              "crops", o->crops, "prefix_ms", o->tp, "generate_ms",
                                              t_gen, "total_ms", now_ms() - o->t0, "batch", nb));
            }
            result[o->i] = res;
            if (res == NULL)
                err_set(&errs[o->i], RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "no memory");
            free(text);
        } else {
            free(o->G.full);
            free(o->G.s.buf.p);
        }
        md2_image_free(o->own);
        free(o->out);
        free(o->lg);
    }
    free(b);
    rt_dec_batch_free(batch);
    /* the others, one by one */
    for (int j = 0; j < nl && rc == 0; j++) {
        int i = later[j];
        int irc = mdt_run(m, img[i].rgb, img[i].w, img[i].h, &r[i], &result[i], &errs[i]);
        if (irc < 0 && fatal(irc)) {
            *e = errs[i];
            rc = irc;
        }
    }
    if (rc < 0)
        for (int i = 0; i < n; i++) {
            json_decref(result[i]);
            result[i] = NULL;
        }
    return rc;
}
