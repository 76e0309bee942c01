/*
 * api_group.c: the group enqueue of one vkv-api process.  Concurrent
 * requests that each enqueue one job (POST /v1/jobs, /v1/upscale, the
 * synchronous calls) hand their row to a shared list; one of them, the
 * leader, writes every row waiting there in one statement on its own
 * connection (jq_job_enqueue_rows: one round trip and one commit for all),
 * then wakes the others with their own id, idempotent replay or error.
 * While a leader's statement runs, new rows gather for the next leader, so
 * the group grows with the load and a lone request waits for nobody.  With
 * VKV_ENQUEUE_GROUP_WAIT_US > 0 a leader also waits up to that long while
 * other threads are still serving short requests that have not handed a
 * row yet (not those whose row already waits or runs in another leader's
 * statement, nor long requests).  Rows with no idempotency key go in
 * jq_enqueue_rows_plain, the leaner statement (common/jq.c).
 *
 * Guarantees kept: a row answers only after its statement committed (a 2xx
 * means the job is stored); each row keeps its tenant, idempotency key and
 * depth check (common/jq.h); a statement that fails runs its rows one by
 * one, so one bad row does not fail its neighbours.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/cm.h"
#include "common/jq.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* rows per statement at most: the statement's arrays grow with it, and a
 * longer group makes its first row wait longer */
#define API_GROUP_ROWS_MAX 256

struct api_group_wait {
    struct jq_row row;
    int taken, done;
    struct api_group_wait *next;
};

static pthread_mutex_t api_group_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t api_group_cv; /* CLOCK_MONOTONIC, set by api_group_init */
static int api_group_on, api_group_max = 1, api_group_wait_us, api_group_leaders = 1;
static struct api_group_wait *api_group_head, **api_group_tail = &api_group_head;
static int api_group_pending, api_group_leading;
/* requests being served that have not handed a row yet and may still
 * (the leader's gather waits for these); a thread counts its own once */
static int api_group_coming, api_group_gathering;
static _Thread_local int api_group_counted;
static atomic_llong api_group_stmts, api_group_rows_total;

void api_group_init(int max_rows, int leaders, int wait_us)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&api_group_cv, &a);
    pthread_condattr_destroy(&a);
    api_group_max = max_rows < 1                    ? 1
                    : max_rows > API_GROUP_ROWS_MAX ? API_GROUP_ROWS_MAX
                                                    : max_rows;
    api_group_wait_us = wait_us < 0 ? 0 : wait_us;
    api_group_leaders = leaders < 1 ? 1 : leaders;
    api_group_on = 1;
}

void api_group_request(int delta)
{
    if (delta > 0) {
        pthread_mutex_lock(&api_group_mu);
        api_group_coming++;
        api_group_counted = 1;
        pthread_mutex_unlock(&api_group_mu);
    } else {
        api_group_not_coming();
    }
}

void api_group_not_coming(void)
{
    if (!api_group_counted)
        return;
    pthread_mutex_lock(&api_group_mu);
    api_group_coming--;
    api_group_counted = 0;
    if (api_group_gathering > 0)
        pthread_cond_broadcast(&api_group_cv);
    pthread_mutex_unlock(&api_group_mu);
}

void api_group_stats(long long *statements, long long *rows, int *waiting)
{
    *statements = atomic_load(&api_group_stmts);
    *rows = atomic_load(&api_group_rows_total);
    pthread_mutex_lock(&api_group_mu);
    *waiting = api_group_pending;
    pthread_mutex_unlock(&api_group_mu);
}

/* the leader's optional wait for rows still on their way (lock held) */
static void api_group_gather(void)
{
    if (api_group_wait_us <= 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += (long)api_group_wait_us * 1000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    /* requests still being served that may bring a row: not those whose
     * row waits already, answered or in another leader's statement, nor
     * long requests (event streams, synchronous waits), which
     * api_group_not_coming took out when they became long */
    api_group_gathering++;
    while (api_group_pending < api_group_max && api_group_coming > 0) {
        if (pthread_cond_timedwait(&api_group_cv, &api_group_mu, &until) != 0)
            break;
    }
    api_group_gathering--;
}

int api_group_enqueue(struct pgx *db, struct jq_row *row)
{
    if (!api_group_on) {
        jq_job_enqueue_rows(db, row, 1);
        return row->rc;
    }
    struct api_group_wait me;
    memset(&me, 0, sizeof(me));
    me.row = *row;
    pthread_mutex_lock(&api_group_mu);
    if (api_group_counted) {
        api_group_coming--;
        api_group_counted = 0;
    }
    *api_group_tail = &me;
    api_group_tail = &me.next;
    api_group_pending++;
    pthread_cond_broadcast(&api_group_cv); /* a gathering leader counts it */
    while (!me.done) {
        /* a row that waits while leaders run joins a later group; a
         * taken row waits for its leader */
        if (api_group_leading >= api_group_leaders || me.taken) {
            pthread_cond_wait(&api_group_cv, &api_group_mu);
            continue;
        }
        api_group_leading++;
        api_group_gather();
        /* take the oldest rows, at most api_group_max (ours may stay for the
         * next leader, possibly us again) */
        struct api_group_wait *take[API_GROUP_ROWS_MAX];
        int n = 0;
        while (api_group_head != NULL && n < api_group_max) {
            take[n] = api_group_head;
            take[n++]->taken = 1;
            api_group_head = api_group_head->next;
        }
        if (api_group_head == NULL)
            api_group_tail = &api_group_head;
        api_group_pending -= n;
        if (n == 0) {
            /* another leader took every row (ours too) while we gathered */
            api_group_leading--;
            pthread_cond_broadcast(&api_group_cv);
            continue;
        }
        pthread_mutex_unlock(&api_group_mu);

        struct jq_row *rows = cm_xcalloc((size_t)n, sizeof(*rows));
        for (int i = 0; i < n; i++)
            rows[i] = take[i]->row;
        jq_job_enqueue_rows(db, rows, n);
        atomic_fetch_add(&api_group_stmts, 1);
        atomic_fetch_add(&api_group_rows_total, n);

        pthread_mutex_lock(&api_group_mu);
        for (int i = 0; i < n; i++) {
            take[i]->row = rows[i];
            take[i]->done = 1;
        }
        free(rows);
        api_group_leading--;
        pthread_cond_broadcast(&api_group_cv);
    }
    pthread_mutex_unlock(&api_group_mu);
    *row = me.row;
    return row->rc;
}
