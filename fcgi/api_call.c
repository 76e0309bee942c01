/*
 * api_call.c: the synchronous call, for routes that answer with a result
 * (POST /v1/classify, the Moondream routes): enqueue at a tier, wait for
 * the job to end, return its JSON.
 *
 * The wait uses jq_job_wait_done (LISTEN vkv_job_done + a 1 s polling
 * fallback) on the thread's own connection, in slices so that a stopping
 * server does not hold the thread for the whole timeout.  A call that
 * times out cancels its job: nobody would read the result, and GPU time is
 * the scarce resource (Moondream Station keeps running abandoned work).
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/jq.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

#define API_CALL_SLICE_MS 1000

int api_call_sync(struct api_ctx *ctx, struct api_req *r, const struct api_job_spec *spec,
                  long long timeout_ms, json_t **job, int64_t *job_id, struct err *e)
{
    *job = NULL;
    if (timeout_ms <= 0)
        timeout_ms = ctx->wait_timeout_ms;
    int existed = 0;
    int rc = api_job_enqueue(ctx, r, spec, 0, job_id, &existed, e);
    if (rc != JQ_OK)
        return rc;
    double until = cm_now_ms() + (double)timeout_ms;
    char *text = NULL;
    for (;;) {
        double left = until - cm_now_ms();
        if (left <= 0 || api_stopping()) {
            int st = 0;
            struct err ce;
            err_clear(&ce);
            jq_job_cancel(ctx->db, r->tenant.id, *job_id, &st, &ce);
            free(text);
            return err_set(e, API_ERR, ERR_TIMEOUT, "timeout",
                           "job %lld did not finish within %lld ms; it was canceled",
                           (long long)*job_id, timeout_ms);
        }
        int slice = left > API_CALL_SLICE_MS ? API_CALL_SLICE_MS : (int)left + 1;
        free(text);
        text = NULL;
        rc = jq_job_wait_done(ctx->db, r->tenant.id, *job_id, slice, &text, e);
        if (rc == JQ_OK)
            break;
        if (rc != JQ_EMPTY) {
            free(text);
            return rc;
        }
    }
    json_error_t je;
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    free(text);
    if (j == NULL)
        return err_set(e, API_ERR, ERR_INTERNAL, "internal",
                       "could not parse the job json of job %lld", (long long)*job_id);
    *job = api_json_own(ctx->ar, j);
    if (*job == NULL)
        return err_set(e, API_ERR, ERR_UNAVAILABLE, "out_of_memory", "out of request memory");
    return API_OK;
}
