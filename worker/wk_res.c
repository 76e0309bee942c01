/*
 * wk_res.c: model residency inside a VRAM budget.
 *
 * A model is loaded on first use and stays resident until the budget needs
 * its bytes for another model; the victim is the least recently used model
 * not pinned by the batch in hand.  The engine is asked to load within the
 * bytes left (limit_bytes), so an out-of-memory answer comes either from the
 * budget or from the device itself; both are handled the same way: evict
 * and retry, then halve the batch the model is planned for, then give up
 * with a transient error (another device may have room).  Every load and
 * unload is counted and timed per model and in total.
 *
 * The main thread mutates; the heartbeat thread reads wk_res_json() under
 * the mutex.  See worker/README.md.
 */
#include "worker/wk.h"

#include "common/cm.h"
#include "common/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wk_status_str(int status)
{
    switch (status) {
    case WK_OK:
        return "ok";
    case WK_ERR:
        return "error";
    case WK_ERR_OOM:
        return "out of device memory";
    case WK_ERR_DEVICE_LOST:
        return "device lost";
    case WK_ERR_INPUT:
        return "invalid input";
    case WK_ERR_CANCELED:
        return "canceled";
    case WK_SUSPENDED:
        return "suspended";
    default:
        return "unknown status";
    }
}

void wk_res_init(struct wk_res *r, const struct wk_engine_ops *ops, void *ctx, size_t budget)
{
    memset(r, 0, sizeof(*r));
    r->ops = ops;
    r->ctx = ctx;
    r->budget = budget;
    pthread_mutex_init(&r->mu, NULL);
}

void wk_res_free(struct wk_res *r)
{
    for (int i = 0; i < r->n_models; i++)
        if (r->models[i].handle != NULL) {
            r->models[i].in_use = 0;
            wk_res_unload(r, &r->models[i], 0);
        }
}

size_t wk_res_used(struct wk_res *r)
{
    size_t used = 0;
    for (int i = 0; i < r->n_models; i++)
        if (r->models[i].handle != NULL)
            used += r->models[i].bytes;
    return used;
}

static struct wk_res_model *res_find(struct wk_res *r, const char *model)
{
    for (int i = 0; i < r->n_models; i++)
        if (strcmp(r->models[i].name, model) == 0)
            return &r->models[i];
    return NULL;
}

void wk_res_unload(struct wk_res *r, struct wk_res_model *m, int evict)
{
    CM_ASSERT(m->handle != NULL && !m->in_use);
    double t0 = cm_now_ms();
    void *h = m->handle;
    pthread_mutex_lock(&r->mu);
    m->handle = NULL;
    pthread_mutex_unlock(&r->mu);
    r->ops->unload(r->ctx, h);
    double dt = cm_now_ms() - t0;
    pthread_mutex_lock(&r->mu);
    m->unloads++;
    m->unload_ms_total += dt;
    r->unloads++;
    r->unload_ms_total += dt;
    if (evict) {
        m->evictions++;
        r->evictions++;
    }
    size_t freed = m->bytes;
    m->bytes = 0;
    pthread_mutex_unlock(&r->mu);
    log_info("%s model %s (%zu bytes, %.1f ms)", evict ? "evicted" : "unloaded", m->name, freed,
             dt);
}

int wk_res_evict_one(struct wk_res *r, const struct wk_res_model *keep)
{
    struct wk_res_model *victim = NULL;
    for (int i = 0; i < r->n_models; i++) {
        struct wk_res_model *m = &r->models[i];
        if (m == keep || m->handle == NULL || m->in_use)
            continue;
        if (victim == NULL || m->last_used < victim->last_used)
            victim = m;
    }
    if (victim == NULL)
        return 0;
    wk_res_unload(r, victim, 1);
    return 1;
}

void wk_res_note_oom(struct wk_res *r, struct wk_res_model *m)
{
    pthread_mutex_lock(&r->mu);
    r->oom_events++;
    if (m != NULL)
        m->oom_events++;
    pthread_mutex_unlock(&r->mu);
}

int wk_res_acquire(struct wk_res *r, const char *model, int max_batch, struct wk_res_model **out,
                   struct err *e)
{
    CM_ASSERT(max_batch >= 1);
    if (strlen(model) >= WK_MODEL_NAME_LEN)
        return err_set(e, WK_ERR, ERR_INVALID, "unknown_model", "invalid model name: \"%.64s...\"",
                       model);
    struct wk_res_model *m = res_find(r, model);
    if (m == NULL) {
        if (r->n_models == WK_MAX_MODELS) {
            /* reuse the slot of a model that is not resident */
            for (int i = 0; i < r->n_models && m == NULL; i++)
                if (r->models[i].handle == NULL && !r->models[i].in_use)
                    m = &r->models[i];
            if (m == NULL)
                return err_set_transient(e, WK_ERR, "too_many_models",
                                         "could not load model %s: %d models resident", model,
                                         WK_MAX_MODELS);
            pthread_mutex_lock(&r->mu);
            memset(m, 0, sizeof(*m));
            pthread_mutex_unlock(&r->mu);
        } else {
            pthread_mutex_lock(&r->mu);
            m = &r->models[r->n_models++];
            memset(m, 0, sizeof(*m));
            pthread_mutex_unlock(&r->mu);
        }
        snprintf(m->name, sizeof(m->name), "%s", model);
    }
    if (m->handle != NULL) {
        m->last_used = ++r->clock;
        m->in_use = 1;
        *out = m;
        return WK_OK;
    }

    int batch = max_batch;
    for (int tries = 0; tries < 4 * WK_MAX_MODELS + 16; tries++) {
        size_t used = wk_res_used(r);
        size_t limit = used < r->budget ? r->budget - used : 0;
        void *h = NULL;
        size_t bytes = 0;
        struct err le;
        err_clear(&le);
        int rc = WK_ERR_OOM;
        double t0 = cm_now_ms();
        if (limit > 0)
            rc = r->ops->load(r->ctx, model, batch, limit, &h, &bytes, &le);
        double dt = cm_now_ms() - t0;
        if (rc == WK_OK && bytes > limit) {
            /* the engine could not enforce the limit itself: same as OOM */
            r->ops->unload(r->ctx, h);
            h = NULL;
            rc = WK_ERR_OOM;
        }
        if (rc == WK_OK) {
            pthread_mutex_lock(&r->mu);
            m->handle = h;
            m->bytes = bytes;
            m->max_batch = batch;
            m->last_used = ++r->clock;
            m->in_use = 1;
            m->loads++;
            m->last_load_ms = dt;
            m->load_ms_total += dt;
            r->loads++;
            r->load_ms_total += dt;
            pthread_mutex_unlock(&r->mu);
            log_info("loaded model %s for batch %d: %zu bytes in %.1f ms (resident %zu of %zu "
                     "bytes)",
                     model, batch, bytes, dt, wk_res_used(r), r->budget);
            *out = m;
            return WK_OK;
        }
        if (rc == WK_ERR_DEVICE_LOST) {
            err_set(e, WK_ERR_DEVICE_LOST, ERR_UNAVAILABLE, "device_lost",
                    "device lost while loading %s", model);
            return WK_ERR_DEVICE_LOST;
        }
        if (rc != WK_ERR_OOM) {
            pthread_mutex_lock(&r->mu);
            r->load_failures++;
            pthread_mutex_unlock(&r->mu);
            if (e != NULL)
                *e = le;
            return rc;
        }
        wk_res_note_oom(r, m);
        log_warn("out of device memory loading %s for batch %d (limit %zu bytes)", model, batch,
                 limit);
        if (wk_res_evict_one(r, m))
            continue;
        if (batch > 1) {
            batch /= 2;
            continue;
        }
        pthread_mutex_lock(&r->mu);
        r->load_failures++;
        pthread_mutex_unlock(&r->mu);
        return err_set_transient(e, WK_ERR_OOM, "out_of_device_memory",
                                 "could not load model %s: out of device memory even alone at "
                                 "batch 1 (budget %zu bytes, in use by pinned models %zu)",
                                 model, r->budget, wk_res_used(r));
    }
    return err_set_transient(e, WK_ERR_OOM, "out_of_device_memory",
                             "could not load model %s: too many out-of-memory retries", model);
}

void wk_res_release(struct wk_res *r, struct wk_res_model *m)
{
    (void)r;
    if (m != NULL)
        m->in_use = 0;
}

char *wk_res_json(struct wk_res *r)
{
    pthread_mutex_lock(&r->mu);
    json_t *o = json_object();
    json_t *models = json_array();
    size_t used = 0;
    for (int i = 0; i < r->n_models; i++) {
        const struct wk_res_model *m = &r->models[i];
        if (m->handle != NULL)
            used += m->bytes;
        json_array_append_new(
            models, json_pack("{s:s, s:b, s:I, s:i, s:I, s:I, s:I, s:I, s:f, s:f}", "model",
                              m->name, "resident", m->handle != NULL, "bytes", (json_int_t)m->bytes,
                              "max_batch", m->max_batch, "loads", (json_int_t)m->loads, "unloads",
                              (json_int_t)m->unloads, "evictions", (json_int_t)m->evictions,
                              "oom_events", (json_int_t)m->oom_events, "last_load_ms",
                              m->last_load_ms, "load_ms_total", m->load_ms_total));
    }
    json_object_set_new(o, "budget_bytes", json_integer((json_int_t)r->budget));
    json_object_set_new(o, "used_bytes", json_integer((json_int_t)used));
    json_object_set_new(o, "loads", json_integer(r->loads));
    json_object_set_new(o, "unloads", json_integer(r->unloads));
    json_object_set_new(o, "evictions", json_integer(r->evictions));
    json_object_set_new(o, "oom_events", json_integer(r->oom_events));
    json_object_set_new(o, "load_failures", json_integer(r->load_failures));
    json_object_set_new(o, "load_ms_total", json_real(r->load_ms_total));
    json_object_set_new(o, "unload_ms_total", json_real(r->unload_ms_total));
    json_object_set_new(o, "models", models);
    pthread_mutex_unlock(&r->mu);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    CM_ASSERT(s != NULL);
    return s;
}
