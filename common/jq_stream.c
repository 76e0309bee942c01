/*
 * jq_stream.c: the queue's side of text generation (part of the jq module,
 * declared in jq.h): a worker publishes the text a job has generated so
 * far and hands a running job back at a token boundary when a higher tier
 * waits; vkv-api follows one job's text as it grows.  Statements in
 * schema/queries/jq_stream.sql, functions in migration 0006.
 */
#include "common/jq.h"

#include "common/cm.h"
#include "common/pgx_impl.h"

#include "sql_queries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int jqs_fail(struct pgx *c, struct err *e)
{
    pgx_reset(c);
    return e != NULL && e->status < 0 ? e->status : JQ_ERR_DB;
}

int jq_job_progress(struct pgx *c, const char *worker, int64_t id, const char *text, struct err *e)
{
    char j[24];
    const char *v[3] = {worker, pgx_i64(j, id), text ? text : ""};
    PGresult *r = pgx_exec(c, SQLQ_JQ_PROGRESS_SET, 3, v, NULL, NULL, 0, e);
    if (r == NULL)
        return jqs_fail(c, e);
    int mine = PQntuples(r) == 1 && atoi(PQgetvalue(r, 0, 0)) == 1;
    pgx_reset(c);
    if (!mine)
        return err_set(e, JQ_ERR_CONFLICT, ERR_CONFLICT, "lease_lost",
                       "job %lld is not running on worker %s", (long long)id, worker);
    return JQ_OK;
}

int jq_job_higher_waiting(struct pgx *c, const char *model, int tier, int *yes, struct err *e)
{
    char t[24];
    *yes = 0;
    const char *v[2] = {model, pgx_i64(t, tier)};
    PGresult *r = pgx_exec(c, SQLQ_JQ_HIGHER_WAITING, 2, v, NULL, NULL, 0, e);
    if (r == NULL)
        return jqs_fail(c, e);
    *yes = PQntuples(r) == 1 && atoi(PQgetvalue(r, 0, 0)) == 1;
    pgx_reset(c);
    return JQ_OK;
}

int jq_job_suspend(struct pgx *c, const char *worker, int64_t id, const char *resume_json,
                   int *state_out, struct err *e)
{
    char j[24];
    const char *v[3] = {worker, pgx_i64(j, id), resume_json};
    PGresult *r = pgx_exec(c, SQLQ_JQ_SUSPEND, 3, v, NULL, NULL, 0, e);
    if (r == NULL)
        return jqs_fail(c, e);
    if (PQntuples(r) != 1) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_CONFLICT, ERR_CONFLICT, "lease_lost",
                       "cannot suspend job %lld: not running on worker %s", (long long)id, worker);
    }
    if (state_out != NULL)
        *state_out = jq_state_parse(PQgetvalue(r, 0, 0));
    pgx_reset(c);
    return JQ_OK;
}

int jq_stream_open(struct pgx *c, int64_t job_id, struct err *e)
{
    int rc = jq_listen(c, JQ_CHAN_JOB_DONE, e);
    if (rc != JQ_OK)
        return rc;
    char j[24];
    const char *v[1] = {pgx_i64(j, job_id)};
    PGresult *r = pgx_exec(c, SQLQ_JQ_STREAM_LISTEN, 1, v, NULL, NULL, 0, e);
    if (r == NULL)
        return jqs_fail(c, e);
    pgx_reset(c);
    return JQ_OK;
}

void jq_stream_close(struct pgx *c, int64_t job_id)
{
    char j[24];
    const char *v[1] = {pgx_i64(j, job_id)};
    struct err e;
    err_clear(&e);
    /* a broken connection loses its LISTENs anyway: nothing to undo */
    (void)pgx_exec(c, SQLQ_JQ_STREAM_UNLISTEN, 1, v, NULL, NULL, 0, &e);
    pgx_reset(c);
}

/* the job's state and progress text (new string or NULL) */
static int jqs_get(struct pgx *c, int64_t tenant_id, int64_t job_id, int *state, char **text,
                   struct err *e)
{
    char t[24], j[24];
    const char *v[2] = {pgx_i64(t, tenant_id), pgx_i64(j, job_id)};
    PGresult *r = pgx_exec(c, SQLQ_JQ_STREAM_GET, 2, v, NULL, NULL, 0, e);
    if (r == NULL)
        return jqs_fail(c, e);
    if (PQntuples(r) < 1) {
        pgx_reset(c);
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_NOT_FOUND, "not_found", "job %lld not found",
                       (long long)job_id);
    }
    *state = jq_state_parse(PQgetvalue(r, 0, 0));
    *text = PQgetisnull(r, 0, 1) ? NULL : cm_xstrdup(PQgetvalue(r, 0, 1));
    pgx_reset(c);
    return JQ_OK;
}

int jq_stream_wait(struct pgx *c, int64_t tenant_id, int64_t job_id, size_t sent, int timeout_ms,
                   int *state, char **text, struct err *e)
{
    *text = NULL;
    *state = JQ_STATE_QUEUED;
    char want[24], chan[64];
    pgx_i64(want, job_id);
    snprintf(chan, sizeof(chan), "vkv_job_progress_%s", want);
    double deadline = cm_now_ms() + timeout_ms;
    int check = 1;
    for (int guard = 0; guard < 10000000; guard++) {
        if (check) {
            free(*text);
            *text = NULL;
            int rc = jqs_get(c, tenant_id, job_id, state, text, e);
            if (rc != JQ_OK)
                return rc;
            if (*state != JQ_STATE_QUEUED && *state != JQ_STATE_RUNNING)
                return JQ_OK;
            if (*text != NULL && strlen(*text) > sent)
                return JQ_OK;
            check = 0;
        }
        double left = deadline - cm_now_ms();
        if (left <= 0)
            break;
        /* poll fallback: look at the job at least every 250 ms (a lost
         * LISTEN after a reconnect costs latency, never the stream) */
        int slice = left > 250 ? 250 : (int)left + 1;
        char ch[64], payload[8192];
        int w = pgx_notify_wait(c, slice, ch, sizeof(ch), payload, sizeof(payload), e);
        if (w < 0 || w == 0 || strcmp(ch, chan) == 0 ||
            (strcmp(ch, JQ_CHAN_JOB_DONE) == 0 && jq_done_payload_has(payload, job_id)))
            check = 1;
    }
    return JQ_EMPTY;
}
