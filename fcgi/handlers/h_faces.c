/*
 * h_faces.c: POST /v1/faces (faces with age, gender, expression; the
 * descriptors stored for the tenant) and POST /v1/faces/similar (the
 * tenant's faces most like a face, by id, by descriptor or by an image).
 *
 * /v1/faces is /v1/classify with task "faces": the job's result as the
 * worker wrote it, after migration 0007's trigger moved each descriptor into
 * the faces table and left "face_id" in its place.  "descriptor": true reads
 * them back into the answer (1024 numbers per face, about 10 KB).
 *
 * /v1/faces/similar searches in memory (fcgi/api_faces.c).  A search by
 * image runs a faces job with params {"store": false}: its faces are not
 * added to the tenant's (the trigger leaves their descriptors in the
 * result), and face "face_index" (default 0, the most confident) is the
 * query.  README, "Faces" and "Face search".
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"
#include "fcgi/handlers/handlers.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/jq.h"
#include "common/pgx.h"
#include "sql_queries.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM 1024

/* a boolean field (JSON true/false, or "true"/"false" from a form); removed */
static int take_bool(json_t *body, const char *k, int *out, struct err *e)
{
    json_t *v = json_object_get(body, k);
    *out = 0;
    if (v == NULL || json_is_null(v)) {
        json_object_del(body, k);
        return API_OK;
    }
    if (json_is_boolean(v))
        *out = json_is_true(v);
    else if (json_is_string(v) &&
             (!strcmp(json_string_value(v), "true") || !strcmp(json_string_value(v), "false")))
        *out = !strcmp(json_string_value(v), "true");
    else
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"%s\" must be true or false", k);
    json_object_del(body, k);
    return API_OK;
}

/* an integer field in lo..hi (a JSON integer or a decimal string); removed */
static int take_int(json_t *body, const char *k, long long def, long long lo, long long hi,
                    long long *out, struct err *e)
{
    json_t *v = json_object_get(body, k);
    *out = def;
    if (v == NULL || json_is_null(v)) {
        json_object_del(body, k);
        return API_OK;
    }
    long long x = 0;
    int ok = 0;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
        ok = 1;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        x = strtoll(s, &end, 10);
        ok = s[0] != '\0' && end != NULL && *end == '\0';
    }
    if (!ok || x < lo || x > hi)
        return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                       "field \"%s\" must be an integer in %lld..%lld", k, lo, hi);
    json_object_del(body, k);
    *out = x;
    return API_OK;
}

/* "descriptor": true -> each stored face's descriptor into out */
static int add_descriptors(struct api_ctx *ctx, struct api_req *r, int64_t job_id, json_t *out,
                           void *arg, struct err *e)
{
    (void)arg;
    char tb[24], jb[24];
    const char *v[2] = {pgx_i64(tb, r->tenant.id), pgx_i64(jb, job_id)};
    PGresult *res = pgx_exec(ctx->db, SQLQ_FACES_OF_JOB, 2, v, NULL, NULL, 0, e);
    if (res == NULL)
        return API_ERR;
    json_t *faces = json_object_get(out, "faces");
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *f = json_array_get(faces, (size_t)atoi(PQgetvalue(res, i, 0)));
        /* real[] as text is {a,b,...}: the same numbers as a JSON array */
        char *t = ar_strdup(ctx->ar, PQgetvalue(res, i, 2));
        size_t l = t ? strlen(t) : 0;
        if (f == NULL || l < 2)
            continue;
        t[0] = '[';
        t[l - 1] = ']';
        json_t *a = json_loads(t, 0, NULL);
        if (a != NULL)
            json_object_set_new(f, "descriptor", a);
    }
    return API_OK;
}

int api_h_faces(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    json_t *body = NULL;
    struct api_image fimg;
    int nfimg = 0, desc = 0;
    if (api_req_body(ctx, r, &body, &fimg, &nfimg, &e) != API_OK ||
        take_bool(body, "descriptor", &desc, &e) != API_OK)
        return api_reply_err(r, &e);
    json_t *task = json_object_get(body, "task");
    if (task == NULL) {
        json_object_set_new(body, "task", json_string("faces"));
    } else if (!json_is_string(task) || strcmp(json_string_value(task), "faces") != 0) {
        return api_reply_error(r, 400, "invalid_field", 0,
                               "field \"task\" must be \"faces\" here (or left out)");
    }
    struct api_job_spec spec;
    if (api_job_spec_from_json(ctx, r, body, &spec, &e) != API_OK)
        return api_reply_err(r, &e);
    return api_call_sync_reply_hook(ctx, r, &spec, &fimg, nfimg,
                                    API_SYNC_ADD_IDS | API_SYNC_OOM_503,
                                    desc ? add_descriptors : NULL, NULL);
}

/* the query descriptor of a search by image: a faces job not stored */
static int query_from_image(struct api_ctx *ctx, struct api_req *r, json_t *body,
                            const struct api_image *fimg, int nfimg, long long face_index, float *q,
                            json_t *query, struct err *e)
{
    json_t *jb = json_object();
    api_json_own(ctx->ar, jb);
    const char *keep[] = {"image_url", "tier", "priority", "deadline_ms", "model", NULL};
    for (int i = 0; keep[i]; i++) {
        json_t *v = json_object_get(body, keep[i]);
        if (v != NULL)
            json_object_set(jb, keep[i], v);
    }
    json_object_set_new(jb, "task", json_string("faces"));
    json_object_set_new(jb, "params", json_pack("{s:b}", "store", 0));
    struct api_job_spec spec;
    if (api_job_spec_from_json(ctx, r, jb, &spec, e) != API_OK)
        return API_ERR;
    if (nfimg > 0) {
        if (spec.image.data != NULL)
            return err_set(e, API_ERR_INVALID, ERR_INVALID, "invalid_field",
                           "give the image either as image_url or as a file, not both");
        spec.image = *fimg;
    }
    json_t *job = NULL;
    int64_t id = 0;
    if (api_call_sync(ctx, r, &spec, 0, &job, &id, e) != API_OK)
        return API_ERR;
    const char *state = json_string_value(json_object_get(job, "state"));
    if (state == NULL || strcmp(state, "succeeded") != 0)
        return err_set(e, API_ERR, ERR_INTERNAL, "inference_failed", "job %lld %s: %s",
                       (long long)id, state ? state : "ended",
                       json_string_value(json_object_get(job, "error"))
                           ? json_string_value(json_object_get(job, "error"))
                           : "no detail");
    json_t *faces = json_object_get(json_object_get(job, "result"), "faces");
    json_t *f = json_array_get(faces, (size_t)face_index);
    if (f == NULL)
        return err_set(e, API_ERR_INVALID, ERR_UNPROCESSABLE, "no_face",
                       "the image has %zu face(s); face_index %lld is not one of them",
                       json_array_size(faces), face_index);
    json_t *d = json_object_get(f, "descriptor");
    if (!json_is_array(d) || json_array_size(d) != DIM)
        return err_set(e, API_ERR, ERR_INTERNAL, "internal", "job %lld: face without descriptor",
                       (long long)id);
    for (int i = 0; i < DIM; i++)
        q[i] = (float)json_number_value(json_array_get(d, (size_t)i));
    json_object_set_new(query, "job_id", json_integer(id));
    json_object_set_new(query, "face_index", json_integer(face_index));
    json_object_set(query, "box", json_object_get(f, "box"));
    return API_OK;
}

int api_h_faces_similar(struct api_ctx *ctx, struct api_req *r)
{
    struct err e;
    err_clear(&e);
    json_t *body = NULL;
    struct api_image fimg;
    int nfimg = 0;
    long long face_id = 0, limit = 10, face_index = 0;
    if (api_req_body(ctx, r, &body, &fimg, &nfimg, &e) != API_OK ||
        take_int(body, "face_id", 0, 1, INT64_MAX, &face_id, &e) != API_OK ||
        take_int(body, "limit", 10, 1, 100, &limit, &e) != API_OK ||
        take_int(body, "face_index", 0, 0, 63, &face_index, &e) != API_OK)
        return api_reply_err(r, &e);
    double min_sim = -1;
    json_t *ms = json_object_get(body, "min_similarity");
    if (ms != NULL) {
        if (json_is_string(ms))
            min_sim = strtod(json_string_value(ms), NULL);
        else if (json_is_number(ms))
            min_sim = json_number_value(ms);
        if ((!json_is_number(ms) && !json_is_string(ms)) || !(min_sim >= -1 && min_sim <= 1))
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "field \"min_similarity\" must be a number in -1..1");
        json_object_del(body, "min_similarity");
    }
    json_t *dj = json_object_get(body, "descriptor");
    int has_img = nfimg > 0 || json_object_get(body, "image_url") != NULL;
    if ((face_id > 0) + (dj != NULL) + has_img != 1)
        return api_reply_error(r, 400, "invalid_field", 0,
                               "give exactly one of face_id, descriptor, or an image "
                               "(image_url or a file field \"image\")");
    const char *known[] = {"descriptor",  "image_url", "tier", "priority",
                           "deadline_ms", "model",     NULL};
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= !strcmp(k, known[i]);
        if (!ok)
            return api_reply_error(r, 400, "unknown_field", 0, "unknown field \"%.64s\"", k);
    }
    float q[DIM];
    json_t *query = json_object();
    api_json_own(ctx->ar, query);
    if (face_id > 0) {
        char tb[24], fb[24];
        const char *p[2] = {pgx_i64(tb, r->tenant.id), pgx_i64(fb, face_id)};
        PGresult *res = pgx_exec(ctx->db, SQLQ_FACE_DESCRIPTOR, 2, p, NULL, NULL, 1, &e);
        if (res == NULL)
            return api_reply_err(r, &e);
        /* another tenant's face is not found, exactly like a missing one */
        if (PQntuples(res) != 1 ||
            api_faces_parse_vec(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), q, DIM) < 0)
            return api_reply_error(r, 404, "not_found", 0, "no face %lld", face_id);
        json_object_set_new(query, "face_id", json_integer(face_id));
    } else if (dj != NULL) {
        if (!json_is_array(dj) || json_array_size(dj) != DIM)
            return api_reply_error(r, 400, "invalid_field", 0,
                                   "field \"descriptor\" must be an array of %d numbers", DIM);
        for (int i = 0; i < DIM; i++) {
            json_t *x = json_array_get(dj, (size_t)i);
            if (!json_is_number(x) || !isfinite(json_number_value(x)))
                return api_reply_error(r, 400, "invalid_field", 0,
                                       "descriptor[%d] is not a finite number", i);
            q[i] = (float)json_number_value(x);
        }
        json_object_set_new(query, "descriptor", json_true());
    } else if (query_from_image(ctx, r, body, &fimg, nfimg, face_index, q, query, &e) != API_OK) {
        if (strcmp(e.code, "tier_full") == 0)
            return api_reply_error(r, 429, "tier_full", jq_retry_after_s(), "%s", e.msg);
        return api_reply_err(r, &e);
    }
    struct api_face_match m[100];
    int n = 0;
    int64_t searched = 0;
    const char *how = "exact";
    double t0 = cm_now_ms();
    if (api_faces_search(ctx, r->tenant.id, q, (int)limit, face_id, m, &n, &searched, &how, &e) !=
        API_OK)
        return api_reply_err(r, &e);
    double search_ms = cm_now_ms() - t0;
    while (n > 0 && m[n - 1].score < min_sim)
        n--;
    /* what the answer shows of each match */
    json_t *matches = json_array();
    json_t *out =
        json_pack("{s:o, s:o, s:I, s:s, s:f, s:s}", "query", json_incref(query), "matches", matches,
                  "searched", (json_int_t)searched, "search", how, "search_ms",
                  round(search_ms * 1000) / 1000, "request_id", r->request_id);
    if (out == NULL)
        return api_reply_error(r, 503, "out_of_memory", 1, "out of memory");
    if (n > 0) {
        char *arr = ar_alloc(ctx->ar, (size_t)n * 24 + 4);
        size_t o = 0;
        arr[o++] = '{';
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(arr + o, 24, "%s%lld", i ? "," : "", (long long)m[i].id);
        arr[o++] = '}';
        arr[o] = '\0';
        char tb[24];
        const char *p[2] = {pgx_i64(tb, r->tenant.id), arr};
        PGresult *res = pgx_exec(ctx->db, SQLQ_FACES_ROWS, 2, p, NULL, NULL, 1, &e);
        if (res == NULL) {
            json_decref(out);
            return api_reply_err(r, &e);
        }
        for (int i = 0; i < n; i++) {
            for (int row = 0; row < PQntuples(res); row++) {
                if (pgx_bin_i64(res, row, 0) != m[i].id)
                    continue;
                json_t *f = json_object();
                json_object_set_new(f, "face_id", json_integer(m[i].id));
                json_object_set_new(f, "similarity", json_real(round(m[i].score * 1e6) / 1e6));
                json_object_set_new(f, "job_id", json_integer(pgx_bin_i64(res, row, 2)));
                json_object_set_new(f, "face_index", json_integer(pgx_bin_i32(res, row, 3)));
                json_object_set_new(f, "box", json_loads(PQgetvalue(res, row, 4), 0, NULL));
                static const char *fl[] = {"score", "age", NULL, "gender_score"};
                for (int c = 5; c <= 9; c++) {
                    if (PQgetisnull(res, row, c))
                        continue;
                    if (c == 7 || c == 9)
                        json_object_set_new(f, c == 7 ? "gender" : "emotion",
                                            json_string(PQgetvalue(res, row, c)));
                    else
                        json_object_set_new(f, fl[c - 5],
                                            json_real(round(pgx_bin_f32(res, row, c) * 1e6) / 1e6));
                }
                json_array_append_new(matches, f);
            }
        }
    }
    return api_reply_json(r, 200, out, NULL);
}
