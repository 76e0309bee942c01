/*
 * wk_batch.c: run one claimed batch of jobs for one model.
 *
 * The batch is run in chunks of at most the size the model was loaded for
 * (normally the whole batch in one chunk).  Between chunks the checkpoint
 * callback sees cancel requests and shutdown.  Out of device memory while
 * running: every other unpinned model is evicted and the chunk retried; then
 * the chunk is halved, down to one image; an image that cannot run even
 * alone is handed back with a transient error so the queue retries it
 * (perhaps on another device).  No path drops an item: each ends done with a
 * result or an error, except after a lost device, when the process exits
 * and the leases expire.  See worker/README.md.
 */
#include "worker/wk.h"

#include "common/cm.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

static void item_fail(struct wk_item *it, int status, const struct err *e)
{
    it->status = status;
    if (e != NULL)
        it->err = *e;
    it->done = 1;
}

/* runs items[0..n) (all not done) in chunks of `chunk`; returns WK_OK or DEVICE_LOST */
static int batch_chunks(struct wk_res *r, struct wk_res_model *m, int n, struct wk_item *items,
                        wk_checkpoint_fn cp, void *cp_arg)
{
    int chunk = m->max_batch;
    int i = 0;
    int evicted_for_run = 0;
    while (i < n) {
        if (cp != NULL && cp(cp_arg, n - i, items + i)) {
            struct err e;
            err_set_transient(&e, WK_ERR_CANCELED, "worker_stopping",
                              "could not finish: worker stopping");
            for (int k = i; k < n; k++)
                if (!items[k].done)
                    item_fail(&items[k], WK_ERR_CANCELED, &e);
            return WK_OK;
        }
        /* gather the next chunk of items that are still to run: skip the
         * ones a checkpoint has canceled (they are done) */
        struct wk_item *run[WK_MAX_BATCH];
        int k = i, c = 0;
        while (k < n && c < chunk) {
            if (!items[k].done)
                run[c++] = &items[k];
            k++;
        }
        if (c == 0) {
            i = k;
            continue;
        }
        /* run needs a contiguous array: copy in and out */
        struct wk_item tmp[WK_MAX_BATCH];
        for (int j = 0; j < c; j++)
            tmp[j] = *run[j];
        struct err e;
        err_clear(&e);
        int rc = r->ops->run(r->ctx, m->handle, c, tmp, &e);
        if (r->ops->model_bytes != NULL) {
            size_t b = r->ops->model_bytes(r->ctx, m->handle);
            pthread_mutex_lock(&r->mu);
            m->bytes = b;
            pthread_mutex_unlock(&r->mu);
        }
        if (rc == WK_OK) {
            for (int j = 0; j < c; j++) {
                tmp[j].done = 1;
                tmp[j].batch_size = c;
                *run[j] = tmp[j];
            }
            i = k;
            continue;
        }
        if (rc == WK_ERR_DEVICE_LOST)
            return WK_ERR_DEVICE_LOST;
        if (rc == WK_ERR_OOM) {
            wk_res_note_oom(r, m);
            log_warn("out of device memory running %s at batch %d", m->name, c);
            if (!evicted_for_run) {
                /* first remedy: make the whole budget this model's */
                evicted_for_run = 1;
                int any = 0;
                while (wk_res_evict_one(r, m))
                    any = 1;
                if (any)
                    continue;
            }
            if (chunk > 1) {
                chunk = c > 1 ? c / 2 : 1;
                continue;
            }
            err_set_transient(&e, WK_ERR_OOM, "out_of_device_memory",
                              "could not run model %s: out of device memory at batch 1", m->name);
            item_fail(run[0], WK_ERR_OOM, &e);
            i = k;
            continue;
        }
        /* any other error of the engine fails this chunk's items with it */
        if (e.code[0] == '\0')
            err_set(&e, rc, ERR_INTERNAL, "inference_failed", "could not run model %s: %s", m->name,
                    wk_status_str(rc));
        for (int j = 0; j < c; j++)
            item_fail(run[j], rc == WK_ERR_INPUT ? WK_ERR_INPUT : WK_ERR, &e);
        i = k;
    }
    return WK_OK;
}

int wk_batch_run(struct wk_res *r, const char *model, int max_batch, int n, struct wk_item *items,
                 wk_checkpoint_fn cp, void *cp_arg)
{
    CM_ASSERT(n >= 1 && n <= WK_MAX_BATCH);
    if (max_batch > WK_MAX_BATCH)
        max_batch = WK_MAX_BATCH;
    if (max_batch < 1)
        max_batch = 1;
    for (int i = 0; i < n; i++) {
        items[i].status = WK_OK;
        items[i].done = 0;
        err_clear(&items[i].err);
    }
    if (cp != NULL && cp(cp_arg, n, items)) {
        struct err e;
        err_set_transient(&e, WK_ERR_CANCELED, "worker_stopping",
                          "could not start: worker stopping");
        for (int i = 0; i < n; i++)
            if (!items[i].done)
                item_fail(&items[i], WK_ERR_CANCELED, &e);
        return WK_OK;
    }
    struct wk_res_model *m = NULL;
    struct err e;
    err_clear(&e);
    int rc = wk_res_acquire(r, model, max_batch, &m, &e);
    if (rc == WK_ERR_DEVICE_LOST)
        return rc;
    if (rc != WK_OK) {
        for (int i = 0; i < n; i++)
            if (!items[i].done)
                item_fail(&items[i], rc, &e);
        return WK_OK;
    }
    rc = batch_chunks(r, m, n, items, cp, cp_arg);
    wk_res_release(r, m);
    return rc;
}
