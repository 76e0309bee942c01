/*
 * wk_analyze.c: analyze jobs -- several models on one decoded photo, one
 * combined answer (see wk.h and worker/README.md, "Analyze").
 *
 * The image of each job is decoded once here; the decoded pixels go to
 * every model as wk_item.rgb, so the engines skip their own decode.  Each
 * (task, model) pair asked for by the claimed jobs runs as one
 * wk_batch_run over those jobs, which keeps batching across an album and
 * the residency / out-of-memory policy of ordinary jobs.  Parts are
 * independent: one failing model leaves its error in its slot.
 */
#include "worker/wk.h"

#include "common/cfg.h"
#include "common/cm.h"
#include "common/img.h"
#include "common/log.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define PAIRS_MAX (WK_ANALYZE_MAX_PARTS * 2)
#define TASK_LEN 32

struct part {
    char task[TASK_LEN];
    char model[WK_MODEL_NAME_LEN];
};

struct job {
    struct part parts[WK_ANALYZE_MAX_PARTS];
    int nparts;
    json_t *slot[WK_ANALYZE_MAX_PARTS]; /* result or {"model","error"} */
    int failed[WK_ANALYZE_MAX_PARTS];
    struct err first_err; /* of the first failed part */
    double infer_ms[WK_ANALYZE_MAX_PARTS];
    struct img dec;
    char *cap_params; /* the captioner's params from params.caption; NULL: the default */
};

/* parses {"tasks": [...], "models": {task: model}, "caption"?: {length, settings}} into j
 * (j->cap_params allocated when caption options are given); 0 or -1 with e */
static int params_parse(const char *text, struct job *j, struct err *e)
{
    json_t *p = json_loads(text ? text : "{}", 0, NULL);
    json_t *tasks = json_object_get(p, "tasks");
    json_t *models = json_object_get(p, "models");
    int rc = 0;
    if (!json_is_array(tasks) || json_array_size(tasks) == 0 ||
        json_array_size(tasks) > WK_ANALYZE_MAX_PARTS || !json_is_object(models)) {
        rc = err_set(e, WK_ERR_INPUT, ERR_INVALID, "invalid_params",
                     "analyze params need \"tasks\" (1..%d) and \"models\"", WK_ANALYZE_MAX_PARTS);
        goto out;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        const char *task = json_string_value(t);
        const char *model = json_string_value(json_object_get(models, task ? task : ""));
        if (task == NULL || model == NULL || strlen(task) >= TASK_LEN ||
            strlen(model) >= WK_MODEL_NAME_LEN) {
            rc = err_set(e, WK_ERR_INPUT, ERR_INVALID, "invalid_params",
                         "analyze params: task %zu has no model", i);
            goto out;
        }
        snprintf(j->parts[j->nparts].task, TASK_LEN, "%s", task);
        snprintf(j->parts[j->nparts].model, WK_MODEL_NAME_LEN, "%s", model);
        j->nparts++;
    }
    json_t *cap = json_object_get(p, "caption");
    if (json_is_object(cap)) {
        /* vkv-api checked the options (fcgi/handlers/h_analyze.c) */
        json_t *cp =
            json_pack("{s:s, s:O?, s:O?}", "task", "caption", "length",
                      json_object_get(cap, "length"), "settings", json_object_get(cap, "settings"));
        if (cp == NULL || json_string_value(json_object_get(cp, "length")) == NULL) {
            json_decref(cp);
            rc = err_set(e, WK_ERR_INPUT, ERR_INVALID, "invalid_params",
                         "analyze params: caption needs a length");
            goto out;
        }
        j->cap_params = json_dumps(cp, JSON_COMPACT);
        json_decref(cp);
        CM_ASSERT(j->cap_params != NULL);
    }
out:
    json_decref(p);
    return rc;
}

static int eng_model_index(const struct wk_engine *eng, const char *model)
{
    for (int i = 0; i < eng->n_models; i++)
        if (strcmp(eng->models[i], model) == 0)
            return i;
    return -1;
}

static void part_fail(struct job *j, int k, const char *code, const char *msg, int transient)
{
    j->slot[k] = json_pack("{s:s, s:{s:s, s:s}}", "model", j->parts[k].model, "error", "code", code,
                           "message", msg);
    j->failed[k] = 1;
    if (j->first_err.code[0] == '\0') {
        err_set(&j->first_err, WK_ERR, ERR_INTERNAL, code, "%s: %s", j->parts[k].task, msg);
        j->first_err.transient = transient;
    }
}

static int pair_index(struct part *pairs, int *np, const struct part *p)
{
    for (int i = 0; i < *np; i++)
        if (!strcmp(pairs[i].task, p->task) && !strcmp(pairs[i].model, p->model))
            return i;
    if (*np >= PAIRS_MAX)
        return -1;
    pairs[*np] = *p;
    return (*np)++;
}

/* ---- tags ---- */

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* adds tag once (a later source of the same tag is dropped); score < 0: none (caption words) */
static void tag_add(json_t *tags, json_t *details, const char *tag, const char *source,
                    json_int_t count, double score)
{
    size_t i;
    json_t *v;
    json_array_foreach(tags, i, v) if (strcmp(json_string_value(v), tag) == 0) return;
    json_t *t = json_string(tag);
    if (t == NULL)
        return; /* not UTF-8: a model's label we cannot show */
    json_array_append_new(tags, t);
    json_t *d = json_pack("{s:s, s:s, s:I}", "tag", tag, "source", source, "count", count);
    if (score >= 0)
        json_object_set_new(d, "score", json_real(score));
    json_array_append_new(details, d);
}

/* words of a caption that say nothing about the photo */
static const char *const stopwords[] = {
    "the",     "and",     "with",       "for",        "from",    "into",    "onto",    "over",
    "under",   "near",    "its",        "his",        "her",     "their",   "this",    "that",
    "these",   "those",   "there",      "here",       "are",     "was",     "were",    "has",
    "have",    "had",     "been",       "being",      "some",    "while",   "which",   "who",
    "what",    "where",   "when",       "very",       "also",    "other",   "each",    "both",
    "image",   "photo",   "picture",    "shows",      "showing", "depicts", "appears", "seen",
    "visible", "front",   "background", "foreground", "can",     "one",     "two",     "three",
    "several", "many",    "few",        "not",        "out",     "off",     "about",   "around",
    "behind",  "between", "they",       "them",       "she",     "him",     "you",     "our",
    "your",    "than",    "then",       "like",       "such",    "just",    "more",    "most",
    "all",     "any",     "upon",       "along",      NULL};

static int stopword(const char *w)
{
    for (int k = 0; stopwords[k]; k++)
        if (strcmp(stopwords[k], w) == 0)
            return 1;
    return 0;
}

/*
 * The caption's words as tags, in the caption's order: ASCII letters and
 * digits lowercased, bytes of other UTF-8 letters kept as they are (a word
 * is never cut inside a character), words of fewer than 3 bytes and
 * stopwords dropped, each once, at most WK_CAPTION_TAGS.
 */
static void caption_tags(json_t *tags, json_t *details, const char *text)
{
    char w[64];
    size_t n = 0, added = 0;
    for (const char *p = text;; p++) {
        unsigned char c = (unsigned char)*p;
        int in = c >= 0x80 || isalnum(c);
        if (in && n + 1 < sizeof(w)) {
            w[n++] = (char)tolower(c);
            continue;
        }
        if (in) {
            n = sizeof(w); /* too long to be a word: skip it whole */
            continue;
        }
        if (n >= 3 && n < sizeof(w)) {
            w[n] = '\0';
            if (!stopword(w) && added < WK_CAPTION_TAGS) {
                size_t before = json_array_size(tags);
                tag_add(tags, details, w, "caption", 1, -1);
                added += json_array_size(tags) > before;
            }
        }
        n = 0;
        if (c == '\0')
            break;
    }
}

struct obj_count {
    const char *label;
    json_int_t n;
    double best;
};

static int obj_cmp(const void *a, const void *b)
{
    const struct obj_count *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->label, y->label);
}

/* one attribute tag (gender:..., age:..., expression:...) and its faces */
struct attr {
    char tag[48];
    json_int_t n;
    double best;
};

static void attr_add(struct attr *a, size_t *na, size_t cap, const char *tag, double sc)
{
    size_t k;
    for (k = 0; k < *na && strcmp(a[k].tag, tag) != 0; k++)
        ;
    if (k == *na) {
        if (*na == cap)
            return;
        snprintf(a[k].tag, sizeof(a[k].tag), "%s", tag);
        a[k].n = 0;
        a[k].best = 0;
        (*na)++;
    }
    a[k].n++;
    if (sc > a[k].best)
        a[k].best = sc;
}

static int attr_cmp(const void *x, const void *y)
{
    const struct attr *a = x, *b = y;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return strcmp(a->tag, b->tag);
}

/* the age bracket of an age in years (WK_AGE_* bounds) */
static const char *age_bracket(double age)
{
    if (age < WK_AGE_TEEN)
        return "age:child";
    if (age < WK_AGE_ADULT)
        return "age:teen";
    if (age < WK_AGE_SENIOR)
        return "age:adult";
    return "age:senior";
}

/*
 * The faces part: "face" (every face), then gender:<g> for faces whose
 * gender_score reaches WK_TAG_GENDER_MIN, age:<bracket> for every face,
 * expression:<emotion> for faces whose emotion_score reaches
 * WK_TAG_EMOTION_MIN; within each group most faces first, then by name.
 * The prefixes keep the attribute words apart from the classifier's and the
 * tagger's ("neutral" is both an NSFW class and an expression).
 */
static void face_tags(json_t *tags, json_t *details, const json_t *faces)
{
    if (json_array_size(faces) == 0)
        return;
    struct attr g[4], a[4], x[8];
    size_t ng = 0, na = 0, nx = 0, i;
    double best = 0;
    json_t *f;
    json_array_foreach(faces, i, f)
    {
        double sc = json_number_value(json_object_get(f, "score"));
        best = sc > best ? sc : best;
        const char *gender = json_string_value(json_object_get(f, "gender"));
        double gs = json_number_value(json_object_get(f, "gender_score"));
        char buf[48];
        if (gender != NULL && gs >= WK_TAG_GENDER_MIN && strlen(gender) < 24) {
            snprintf(buf, sizeof(buf), "gender:%s", gender);
            attr_add(g, &ng, 4, buf, gs);
        }
        json_t *age = json_object_get(f, "age");
        if (json_is_number(age))
            attr_add(a, &na, 4, age_bracket(json_number_value(age)), sc);
        const char *emo = json_string_value(json_object_get(f, "emotion"));
        double es = json_number_value(json_object_get(f, "emotion_score"));
        if (emo != NULL && es >= WK_TAG_EMOTION_MIN && strlen(emo) < 24) {
            snprintf(buf, sizeof(buf), "expression:%s", emo);
            attr_add(x, &nx, 8, buf, es);
        }
    }
    tag_add(tags, details, "face", "faces", (json_int_t)json_array_size(faces), best);
    struct attr *groups[3] = {g, a, x};
    size_t counts[3] = {ng, na, nx};
    for (int k = 0; k < 3; k++) {
        qsort(groups[k], counts[k], sizeof(struct attr), attr_cmp);
        for (size_t m = 0; m < counts[k]; m++)
            tag_add(tags, details, groups[k][m].tag, "faces", groups[k][m].n, groups[k][m].best);
    }
}

void wk_analyze_tags(const json_t *results, json_t **tags, json_t **details)
{
    *tags = json_array();
    *details = json_array();
    CM_ASSERT(*tags != NULL && *details != NULL);
    /* the order is fixed (classify, detect, detect_faces, faces, ocr, tag,
     * caption), whatever the order of the tasks asked for */
    json_t *cls = json_object_get(results, "classify");
    json_t *top = json_array_get(json_object_get(cls, "labels"), 0);
    const char *label = json_string_value(json_object_get(top, "label"));
    if (label != NULL) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", label);
        lower(buf);
        double sc = json_number_value(json_object_get(top, "score"));
        tag_add(*tags, *details, buf, "classify", 1, sc);
        if (!strcmp(buf, "porn") || !strcmp(buf, "hentai") || !strcmp(buf, "sexy"))
            tag_add(*tags, *details, "nsfw", "classify", 1, sc);
    }
    json_t *objs = json_object_get(json_object_get(results, "detect"), "objects");
    size_t no = json_array_size(objs);
    if (no > 0) {
        struct obj_count *c = cm_xcalloc(no, sizeof(*c));
        size_t nc = 0, i, k;
        json_t *o;
        json_array_foreach(objs, i, o)
        {
            const char *l = json_string_value(json_object_get(o, "label"));
            double sc = json_number_value(json_object_get(o, "score"));
            if (l == NULL)
                continue;
            for (k = 0; k < nc && strcmp(c[k].label, l) != 0; k++)
                ;
            if (k == nc)
                c[nc++] = (struct obj_count){l, 0, 0.0};
            c[k].n++;
            if (sc > c[k].best)
                c[k].best = sc;
        }
        qsort(c, nc, sizeof(*c), obj_cmp);
        for (k = 0; k < nc; k++)
            tag_add(*tags, *details, c[k].label, "detect", c[k].n, c[k].best);
        free(c);
    }
    json_t *faces = json_object_get(json_object_get(results, "detect_faces"), "faces");
    if (json_array_size(faces) > 0) {
        double best = 0;
        size_t i;
        json_t *f;
        json_array_foreach(faces, i, f)
        {
            double sc = json_number_value(json_object_get(f, "score"));
            if (sc > best)
                best = sc;
        }
        tag_add(*tags, *details, "face", "detect_faces", (json_int_t)json_array_size(faces), best);
    }
    face_tags(*tags, *details, json_object_get(json_object_get(results, "faces"), "faces"));
    json_t *lines = json_object_get(json_object_get(results, "ocr"), "lines");
    if (json_array_size(lines) > 0) {
        double best = 0;
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l)
        {
            double sc = json_number_value(json_object_get(l, "confidence"));
            if (sc > best)
                best = sc;
        }
        tag_add(*tags, *details, "text", "ocr", (json_int_t)json_array_size(lines), best);
    }
    /* the multi-label tagger's tags as it chose them, then its rating */
    json_t *tg = json_object_get(results, "tag");
    json_t *t;
    size_t i;
    json_array_foreach(json_object_get(tg, "tags"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "tag"));
        if (name != NULL)
            tag_add(*tags, *details, name, "tag", 1,
                    json_number_value(json_object_get(t, "score")));
    }
    const char *rating = json_string_value(json_object_get(json_object_get(tg, "rating"), "tag"));
    if (rating != NULL) {
        char buf[160];
        double sc = json_number_value(json_object_get(json_object_get(tg, "rating"), "score"));
        snprintf(buf, sizeof(buf), "rating:%s", rating);
        tag_add(*tags, *details, buf, "tag", 1, sc);
        if (!strcmp(rating, "explicit") || !strcmp(rating, "questionable"))
            tag_add(*tags, *details, "nsfw", "tag", 1, sc);
    }
    const char *cap =
        json_string_value(json_object_get(json_object_get(results, "caption"), "caption"));
    if (cap != NULL)
        caption_tags(*tags, *details, cap);
}

/* ---- the run ---- */

/* the combined result of job j; NULL when every part failed */
static char *combine(struct job *j, double decode_ms)
{
    int ok = 0;
    json_t *tasks = json_array(), *results = json_object(), *failed = json_array();
    json_t *timings = json_pack("{s:f}", "decode", decode_ms);
    for (int k = 0; k < j->nparts; k++) {
        json_array_append_new(tasks, json_string(j->parts[k].task));
        json_object_set(results, j->parts[k].task, j->slot[k]);
        if (j->failed[k])
            json_array_append_new(failed, json_string(j->parts[k].task));
        else
            ok++;
        json_object_set_new(timings, j->parts[k].task, json_real(j->infer_ms[k]));
    }
    json_t *tags, *details;
    wk_analyze_tags(results, &tags, &details);
    json_t *o =
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:{s:i, s:i}, s:o}", "model", WK_ANALYZE_MODEL,
                  "tasks", tasks, "results", results, "failed", failed, "tags", tags, "tag_details",
                  details, "image", "width", j->dec.w, "height", j->dec.h, "timings_ms", timings);
    CM_ASSERT(o != NULL);
    char *s = ok > 0 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    CM_ASSERT(ok == 0 || s != NULL);
    return s;
}

/* runs the parts of jobs[0..n) (decoded already; items done = failed) */
static int run_window(struct wk_res *r, const struct wk_engine *eng, int max_batch, int n,
                      struct job *jobs, struct wk_item *items, struct wk_item *sub, int *who,
                      wk_checkpoint_fn cp, void *cp_arg)
{
    struct part pairs[PAIRS_MAX];
    int npairs = 0, rc = WK_OK;
    for (int i = 0; i < n; i++) {
        if (items[i].done)
            continue;
        for (int k = 0; k < jobs[i].nparts; k++)
            if (pair_index(pairs, &npairs, &jobs[i].parts[k]) < 0)
                part_fail(&jobs[i], k, "too_many_models",
                          "too many different models in one batch of analyze jobs", 1);
    }
    for (int p = 0; p < npairs && rc == WK_OK; p++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (items[i].done)
                continue;
            for (int k = 0; k < jobs[i].nparts; k++) {
                if (strcmp(jobs[i].parts[k].task, pairs[p].task) != 0 ||
                    strcmp(jobs[i].parts[k].model, pairs[p].model) != 0 || jobs[i].slot[k])
                    continue;
                memset(&sub[m], 0, sizeof(sub[m]));
                sub[m].job_id = items[i].job_id;
                if (strcmp(pairs[p].task, "caption") == 0) {
                    /* the captioner (Moondream 2) takes its task from params and decodes the
                     * photo itself: a second decode, small beside its seconds of generation */
                    sub[m].params_json =
                        jobs[i].cap_params ? jobs[i].cap_params : WK_ANALYZE_CAPTION_PARAMS;
                    sub[m].input = items[i].input;
                    sub[m].input_len = items[i].input_len;
                }
                sub[m].rgb = jobs[i].dec.rgb;
                sub[m].rgb_w = jobs[i].dec.w;
                sub[m].rgb_h = jobs[i].dec.h;
                who[m++] = i * WK_ANALYZE_MAX_PARTS + k;
            }
        }
        if (m == 0)
            continue;
        int mi = eng_model_index(eng, pairs[p].model);
        if (mi < 0) {
            for (int s = 0; s < m; s++)
                part_fail(&jobs[who[s] / WK_ANALYZE_MAX_PARTS], who[s] % WK_ANALYZE_MAX_PARTS,
                          "model_not_installed", "this worker does not run that model", 0);
            continue;
        }
        int lim_b = eng->model_batch[mi] < max_batch ? eng->model_batch[mi] : max_batch;
        rc = wk_batch_run(r, pairs[p].model, lim_b, m, sub, cp, cp_arg);
        if (rc != WK_OK)
            break; /* device lost: the caller hands every job back */
        for (int s = 0; s < m; s++) {
            struct job *j = &jobs[who[s] / WK_ANALYZE_MAX_PARTS];
            int k = who[s] % WK_ANALYZE_MAX_PARTS;
            struct wk_item *it = &items[who[s] / WK_ANALYZE_MAX_PARTS];
            j->infer_ms[k] = sub[s].infer_ms;
            if (sub[s].status == WK_ERR_CANCELED) {
                /* canceled, lease lost or worker stopping: the whole job */
                it->status = WK_ERR_CANCELED;
                it->err = sub[s].err;
                it->done = 1;
                j->slot[k] = json_null();
            } else if (sub[s].status != WK_OK) {
                part_fail(j, k, sub[s].err.code[0] ? sub[s].err.code : "inference_failed",
                          sub[s].err.msg, sub[s].err.transient);
            } else {
                json_t *res = json_loads(sub[s].result_json, 0, NULL);
                CM_ASSERT(res != NULL);
                j->slot[k] = res;
            }
            free(sub[s].result_json);
            sub[s].result_json = NULL;
        }
    }

    for (int i = 0; i < n && rc == WK_OK; i++) {
        struct wk_item *it = &items[i];
        if (it->done)
            continue;
        double p0 = cm_now_ms();
        for (int k = 0; k < jobs[i].nparts; k++)
            it->infer_ms += jobs[i].infer_ms[k];
        it->result_json = combine(&jobs[i], it->decode_ms);
        it->post_ms = cm_now_ms() - p0;
        if (it->result_json == NULL) {
            /* nothing to keep: the job fails with the first part's reason */
            it->status = WK_ERR;
            it->err = jobs[i].first_err;
        }
        it->done = 1;
    }
    return rc;
}

/* bytes of RGB8 pixels the photo of item it decodes to (0: unknown) */
static size_t decoded_bytes(const struct wk_item *it, const struct img_limits *lim)
{
    struct img_info info;
    struct err e;
    err_clear(&e);
    if (it->input == NULL || img_probe(it->input, it->input_len, lim, &info, &e) != IMG_OK)
        return 0;
    return (size_t)info.w * (size_t)info.h * 3;
}

int wk_analyze_run(struct wk_res *r, const struct wk_engine *eng, int max_batch, size_t decoded_max,
                   int n, struct wk_item *items, wk_checkpoint_fn cp, void *cp_arg)
{
    CM_ASSERT(n >= 1 && n <= WK_MAX_BATCH);
    struct job *jobs = cm_xcalloc((size_t)n, sizeof(*jobs));
    struct wk_item *sub = cm_xcalloc((size_t)n, sizeof(*sub));
    int *who = cm_xcalloc((size_t)n, sizeof(*who));
    int rc = WK_OK;
    struct img_limits lim;
    cfg_img_limits(&lim);

    /* windows of jobs whose decoded photos fit decoded_max together (at least one job each): the
     * pixels of a whole batch of photos at the image limits need not fit in memory at once */
    for (int lo = 0; lo < n && rc == WK_OK;) {
        size_t held = 0;
        int hi = lo;
        for (; hi < n; hi++) {
            struct wk_item *it = &items[hi];
            size_t need = decoded_bytes(it, &lim);
            if (hi > lo && held + need > decoded_max)
                break;
            it->status = WK_OK;
            it->done = 0;
            it->batch_size = n;
            err_clear(&it->err);
            if (params_parse(it->params_json, &jobs[hi], &it->err) != 0) {
                it->status = WK_ERR_INPUT;
                it->done = 1;
                continue;
            }
            /* the one decode of this photo */
            double t0 = cm_now_ms();
            int drc = it->input == NULL ? IMG_ERR_INVALID
                                        : img_decode(it->input, it->input_len, &lim, NULL,
                                                     &jobs[hi].dec, NULL, &it->err);
            it->decode_ms = cm_now_ms() - t0;
            if (drc != IMG_OK) {
                if (it->input == NULL)
                    err_set(&it->err, WK_ERR_INPUT, ERR_INVALID, "invalid_image",
                            "job has no input image");
                it->status = WK_ERR_INPUT;
                it->done = 1;
                continue;
            }
            held += (size_t)jobs[hi].dec.w * (size_t)jobs[hi].dec.h * 3;
        }
        rc = run_window(r, eng, max_batch, hi - lo, jobs + lo, items + lo, sub, who, cp, cp_arg);
        for (int i = lo; i < hi; i++) {
            for (int k = 0; k < jobs[i].nparts; k++) {
                json_decref(jobs[i].slot[k]);
                jobs[i].slot[k] = NULL;
            }
            img_free(&jobs[i].dec);
            free(jobs[i].cap_params);
            jobs[i].cap_params = NULL;
        }
        lo = hi;
    }
    free(jobs);
    free(sub);
    free(who);
    return rc;
}
