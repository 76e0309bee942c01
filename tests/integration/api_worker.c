/*
 * api_worker.c: a stand-in worker for the API tests: claims and completes
 * jobs through the same jq_ client the real vkv-worker uses, so the tests
 * can drive jobs through queued -> running -> succeeded/failed without a
 * GPU or a model.
 *
 *   api_test_worker run MODEL DELAY_MS RESULT_JSON   claim one job of MODEL
 *       (waiting up to 10 s for one), hold it DELAY_MS, complete it with
 *       RESULT_JSON; prints the job id
 *   api_test_worker fail MODEL MESSAGE               claim one, fail it
 *       permanently; prints the job id
 *   api_test_worker bytes MODEL TYPE TEXT            claim one, complete it
 *       with TEXT as its binary result of content type TYPE
 *   api_test_worker maintain                         jq_requeue_expired once
 *       (expired leases, deadlines); prints the number of jobs changed
 *
 * Connects with the VKV_PG_* settings (tests/lib/pg_tmp.sh exports them).
 */
#include "common/cfg.h"
#include "common/err.h"
#include "common/jq.h"
#include "common/pgx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKER "api-test-worker"

static int claim_one(struct pgx *c, const char *model, struct jq_job **jobs, int *n, struct err *e)
{
    const char *models[1] = {model};
    for (int i = 0; i < 100; i++) {
        int rc = jq_job_claim(c, WORKER, "test-device", models, 1, 1, 30, jobs, n, e);
        if (rc == JQ_OK && *n > 0)
            return 0;
        if (rc != JQ_EMPTY && rc != JQ_OK) {
            fprintf(stderr, "claim: %s\n", e->msg);
            return -1;
        }
        usleep(100000);
    }
    fprintf(stderr, "claim: no job of model %s within 10 s\n", model);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argc < 4 && strcmp(argv[1], "maintain") != 0)) {
        fprintf(stderr,
                "usage: %s run MODEL DELAY_MS RESULT_JSON | fail MODEL MESSAGE | "
                "bytes MODEL TYPE TEXT | maintain\n",
                argv[0]);
        return 2;
    }
    struct err e;
    err_clear(&e);
    struct pgx *c = NULL;
    /* VKV_PG_* from the environment (tests/lib/pg_tmp.sh exports them) */
    if (cfg_load(CFG_PROG_WORKER, NULL, &e) != 0) {
        fprintf(stderr, "config: %s\n", e.msg);
        return 1;
    }
    struct pgx_settings ps;
    cfg_pgx_settings(&ps);
    if (pgx_open(&c, &ps, &e) != PGX_OK) {
        fprintf(stderr, "connect: %s\n", e.msg);
        pgx_free(c);
        return 1;
    }
    struct jq_job *jobs = NULL;
    int n = 0, rc = 1;
    if (strcmp(argv[1], "maintain") == 0) {
        int changed = 0;
        if (jq_requeue_expired(c, &changed, &e) != JQ_OK) {
            fprintf(stderr, "maintain: %s\n", e.msg);
            goto out;
        }
        printf("%d\n", changed);
        rc = 0;
        goto out;
    }
    if (claim_one(c, argv[2], &jobs, &n, &e) != 0)
        goto out;
    int64_t id = jobs[0].id;
    if (strcmp(argv[1], "run") == 0 && argc >= 5) {
        usleep((useconds_t)atoi(argv[3]) * 1000);
        if (jq_job_complete(c, WORKER, id, argv[4], NULL, 0, NULL, "{\"test\":true}", &e) !=
            JQ_OK) {
            fprintf(stderr, "complete: %s\n", e.msg);
            goto out;
        }
    } else if (strcmp(argv[1], "bytes") == 0 && argc >= 5) {
        if (jq_job_complete(c, WORKER, id, "{\"bytes\":true}", (const uint8_t *)argv[4],
                            strlen(argv[4]), argv[3], NULL, &e) != JQ_OK) {
            fprintf(stderr, "complete: %s\n", e.msg);
            goto out;
        }
    } else if (strcmp(argv[1], "fail") == 0) {
        if (jq_job_fail(c, WORKER, id, argv[3], 0, &e) != JQ_OK) {
            fprintf(stderr, "fail: %s\n", e.msg);
            goto out;
        }
    } else {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        goto out;
    }
    printf("%lld\n", (long long)id);
    rc = 0;
out:
    jq_jobs_free(jobs, n);
    pgx_free(c);
    return rc;
}
