/*
 * pgx.c: a PostgreSQL connection with lazily prepared named statements,
 * reconnection, and PGresults owned by an arena.
 *
 * Design: statements come from the generated table sqlq_table (schema/
 * queries/ embedded at build time) and are prepared under their own names
 * the first time a connection runs them.  Before a statement runs, a
 * connection whose socket has data waiting (the FATAL a server sends when it
 * shuts down) is drained, so a restarted server is noticed before we send
 * anything and the statement goes to a fresh connection.  A connection that
 * breaks while a transaction is open marks the transaction broken: every
 * statement but ROLLBACK then fails until the caller rolls back, so a
 * half-done transaction is never silently continued in autocommit mode.
 * See common/README.md.
 */
#include "common/pgx_impl.h"

#include "common/ar.h"
#include "common/cm.h"
#include "common/log.h"

#include "sql_queries.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* do not hammer a server that is down: one connect attempt per interval */
#define PGX_RETRY_INTERVAL_MS 200.0

static void pgx_clear_cb(void *r)
{
    PQclear(r);
}

/* server NOTICEs and WARNINGs go to the log at debug level, not stderr */
static void pgx_notice_cb(void *arg, const char *msg)
{
    (void)arg;
    log_debug("postgres: %.*s", (int)strcspn(msg, "\n"), msg);
}

static void pgx_set_kw(struct pgx *c, int i, const char *k, const char *v)
{
    c->kw_store[i] = cm_xstrdup(k);
    c->val_store[i] = cm_xstrdup(v);
    c->kw[i] = c->kw_store[i];
    c->val[i] = c->val_store[i];
}

/* builds keyword/value pairs from the caller's settings */
static void pgx_params_from(struct pgx *c, const struct pgx_settings *s)
{
    int n = 0;
    const char *host = s->host ? s->host : "";
    char abs[PATH_MAX + 1];
    /* libpq takes a socket directory only as an absolute path */
    if (host[0] != '/' && strchr(host, '/') != NULL && realpath(host, abs) != NULL)
        host = abs;
    char port[24];
    snprintf(port, sizeof(port), "%d", s->port);
    if (host[0] != '\0')
        pgx_set_kw(c, n++, "host", host);
    if (s->port > 0)
        pgx_set_kw(c, n++, "port", port);
    /* NULL or empty = libpq's own default (and its PG* environment variables) */
    const char *const opt[][2] = {{"dbname", s->dbname},
                                  {"user", s->user},
                                  {"password", s->password},
                                  {"passfile", s->passfile},
                                  {"sslmode", s->sslmode},
                                  {"sslrootcert", s->sslrootcert},
                                  {"channel_binding", s->channel_binding}};
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
        if (opt[i][1] != NULL && opt[i][1][0] != '\0')
            pgx_set_kw(c, n++, opt[i][0], opt[i][1]);
    pgx_set_kw(c, n++, "connect_timeout", "5");
    pgx_set_kw(c, n++, "application_name", "vkvision");
    c->kw[n] = NULL;
    c->val[n] = NULL;
}

static int pgx_connect(struct pgx *c, struct err *e)
{
    if (c->conn != NULL) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    memset(c->prepared, 0, SQLQ_COUNT);
    c->last_try_ms = cm_now_ms();
    if (c->conninfo != NULL)
        c->conn = PQconnectdb(c->conninfo);
    else
        c->conn = PQconnectdbParams(c->kw, c->val, 0);
    if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", c->conn ? PQerrorMessage(c->conn) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        snprintf(c->last_fail, sizeof(c->last_fail), "%s", msg);
        if (c->conn != NULL) {
            PQfinish(c->conn);
            c->conn = NULL;
        }
        return err_set_transient(e, PGX_ERR_DB, "db_unavailable",
                                 "could not connect to the database: %s", msg);
    }
    c->last_try_ms = 0;
    PQsetNoticeProcessor(c->conn, pgx_notice_cb, NULL);
    PGresult *sr = PQexec(c->conn, sqlq_table[SQLQ_PGX_SESSION].text);
    int sok = PQresultStatus(sr) == PGRES_COMMAND_OK;
    PQclear(sr);
    if (sok) {
        sr = PQexec(c->conn, sqlq_table[SQLQ_PGX_SESSION_TOAST].text);
        sok = PQresultStatus(sr) == PGRES_TUPLES_OK;
        PQclear(sr);
    }
    if (!sok)
        return err_set_transient(e, PGX_ERR_DB, "db_unavailable",
                                 "could not set up the session: %s", PQerrorMessage(c->conn));
    /* re-issue the LISTENs of the previous connection */
    for (int i = 0; i < c->n_listens; i++) {
        const struct sqlq *q = &sqlq_table[c->listens[i]];
        PGresult *r = PQexec(c->conn, q->text);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            return err_set_transient(e, PGX_ERR_DB, "db_unavailable",
                                     "could not listen again after reconnecting: %s",
                                     PQerrorMessage(c->conn));
    }
    return PGX_OK;
}

/*
 * Opens a connection (see pgx.h).  Cannot fail to return an object: on a
 * connection error *out is still set and the error is transient.
 */
int pgx_open(struct pgx **out, const struct pgx_settings *s, struct err *e)
{
    struct pgx *c = cm_xcalloc(1, sizeof(*c));
    c->prepared = cm_xcalloc(SQLQ_COUNT, 1);
    c->ar = ar_init(4096);
    CM_ASSERT(c->ar != NULL);
    if (s->conninfo != NULL)
        c->conninfo = cm_xstrdup(s->conninfo);
    else
        pgx_params_from(c, s);
    *out = c;
    return pgx_connect(c, e);
}

/* closes the connection and frees c; c may be NULL; cannot fail */
void pgx_free(struct pgx *c)
{
    if (c == NULL)
        return;
    if (c->client_free != NULL)
        c->client_free(c->client);
    ar_free(c->ar);
    if (c->conn != NULL)
        PQfinish(c->conn);
    for (int i = 0; i < 8; i++) {
        free(c->kw_store[i]);
        free(c->val_store[i]);
    }
    free(c->conninfo);
    free(c->prepared);
    free(c);
}

PGconn *pgx_conn_get(struct pgx *c)
{
    return c->conn;
}

struct ar *pgx_ar(struct pgx *c)
{
    return c->ar;
}

/* PQclears every result handed out since the last reset; cannot fail */
void pgx_reset(struct pgx *c)
{
    ar_reset(c->ar);
}

int pgx_reconnects_get(const struct pgx *c)
{
    return c->reconnects;
}

/* true when the server has sent something while we were idle (a FATAL
 * before it closed the connection): read it so libpq updates the status */
static void pgx_drain_idle(struct pgx *c)
{
    /* the FATAL message and the end of the stream may need two reads */
    for (int i = 0; i < 4 && PQstatus(c->conn) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(c->conn), .events = POLLIN};
        if (p.fd < 0 || poll(&p, 1, 0) <= 0)
            return;
        if (!PQconsumeInput(c->conn))
            return;
    }
}

/*
 * Makes sure c has a live connection: drains an idle socket, reconnects a
 * bad one (at most once per PGX_RETRY_INTERVAL_MS).  PGX_OK or PGX_ERR_DB.
 */
int pgx_check(struct pgx *c, struct err *e)
{
    if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
        pgx_drain_idle(c);
    if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
        return PGX_OK;
    if (c->last_txstatus == PQTRANS_INTRANS || c->last_txstatus == PQTRANS_INERROR)
        c->tx_broken = 1;
    c->last_txstatus = PQTRANS_IDLE;
    if (c->last_try_ms > 0 && cm_now_ms() - c->last_try_ms < PGX_RETRY_INTERVAL_MS)
        return err_set_transient(e, PGX_ERR_DB, "db_unavailable",
                                 "could not reach the database (retrying): %s", c->last_fail);
    int rc = pgx_connect(c, e);
    if (rc == PGX_OK) {
        c->reconnects++;
        log_warn("reconnected to the database (reconnect %d)", c->reconnects);
    }
    return rc;
}

const char *pgx_i64(char *buf, int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

int64_t pgx_bin_i64(const PGresult *r, int row, int col)
{
    uint64_t v;
    CM_ASSERT(PQgetlength(r, row, col) == 8);
    memcpy(&v, PQgetvalue(r, row, col), 8);
    return (int64_t)be64toh(v);
}

int32_t pgx_bin_i32(const PGresult *r, int row, int col)
{
    uint32_t v;
    CM_ASSERT(PQgetlength(r, row, col) == 4);
    memcpy(&v, PQgetvalue(r, row, col), 4);
    return (int32_t)be32toh(v);
}

float pgx_bin_f32(const PGresult *r, int row, int col)
{
    uint32_t v = (uint32_t)pgx_bin_i32(r, row, col);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* maps a failed result to a status and fills e; r may be NULL */
static int pgx_fail(struct pgx *c, PGresult *r, const char *what, struct err *e)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL)
        msg = PQerrorMessage(c->conn);
    char m[200];
    snprintf(m, sizeof(m), "%s", msg);
    m[strcspn(m, "\n")] = '\0';
    int rc;
    if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK || state == NULL ||
        strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
        strncmp(state, "53", 2) == 0) {
        if (c->last_txstatus == PQTRANS_INTRANS || c->last_txstatus == PQTRANS_INERROR)
            c->tx_broken = 1;
        rc = err_set_transient(e, PGX_ERR_DB, "db_unavailable", "could not run %s: %s", what, m);
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        rc = err_set_transient(e, PGX_ERR_CONFLICT, "conflict", "could not run %s: %s", what, m);
    } else if (strcmp(state, "23505") == 0) {
        rc = err_set(e, PGX_ERR_CONFLICT, ERR_CONFLICT, "conflict", "%s", m);
    } else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) {
        rc = err_set(e, PGX_ERR_INVALID, ERR_INVALID, "invalid_value", "%s", m);
    } else {
        rc = err_set(e, PGX_ERR, ERR_INTERNAL, "internal", "%s failed (%s): %s", what, state, m);
    }
    return rc;
}

/*
 * Runs named statement id (see pgx.h for the contract).  The result is
 * registered for PQclear on the scratch arena and cleared by pgx_reset.
 */
PGresult *pgx_exec(struct pgx *c, int id, int n, const char *const *vals, const int *lens,
                   const int *fmts, int result_binary, struct err *e)
{
    CM_ASSERT(id >= 0 && id < SQLQ_COUNT);
    const struct sqlq *q = &sqlq_table[id];
    int is_rollback = strncmp(q->text, "ROLLBACK", 8) == 0;
    /* first: noticing a dead connection here is what marks a transaction
     * broken, so the check must come before we look at tx_broken */
    if (pgx_check(c, e) != PGX_OK)
        return NULL;
    if (c->tx_broken) {
        if (!is_rollback) {
            err_set_transient(e, PGX_ERR_DB, "db_unavailable",
                              "could not run %s: the connection was lost inside a "
                              "transaction (roll back first)",
                              q->name);
            return NULL;
        }
        /* the server already rolled back when the connection died */
        c->tx_broken = 0;
        PGresult *r = PQmakeEmptyPGresult(c->conn, PGRES_COMMAND_OK);
        if (r == NULL || ar_on_reset(c->ar, pgx_clear_cb, r) != 0) {
            PQclear(r);
            err_set(e, PGX_ERR, ERR_INTERNAL, "internal", "out of memory");
            return NULL;
        }
        return r;
    }
    if (!c->prepared[id]) {
        PGresult *p = PQprepare(c->conn, q->name, q->text, 0, NULL);
        int ok = PQresultStatus(p) == PGRES_COMMAND_OK;
        if (!ok) {
            pgx_fail(c, p, q->name, e);
            PQclear(p);
            return NULL;
        }
        PQclear(p);
        c->prepared[id] = 1;
    }
    PGresult *r = PQexecPrepared(c->conn, q->name, n, vals, lens, fmts, result_binary);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        pgx_fail(c, r, q->name, e);
        PQclear(r);
        c->last_txstatus = c->conn ? (int)PQtransactionStatus(c->conn) : PQTRANS_IDLE;
        return NULL;
    }
    c->last_txstatus = (int)PQtransactionStatus(c->conn);
    if (ar_on_reset(c->ar, pgx_clear_cb, r) != 0) {
        PQclear(r);
        err_set(e, PGX_ERR, ERR_INTERNAL, "internal", "out of memory");
        return NULL;
    }
    return r;
}

/* runs an embedded migration script (see pgx.h); PGX_OK or an error */
int pgx_script(struct pgx *c, const char *sql, struct err *e)
{
    if (pgx_check(c, e) != PGX_OK)
        return e ? e->status : PGX_ERR_DB;
    PGresult *r = PQexec(c->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = PGX_OK;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        rc = pgx_fail(c, r, "migration script", e);
    c->last_txstatus = c->conn ? (int)PQtransactionStatus(c->conn) : PQTRANS_IDLE;
    PQclear(r);
    return rc;
}

/* LISTEN now and after every reconnect (see pgx.h) */
int pgx_listen(struct pgx *c, int id, struct err *e)
{
    for (int i = 0; i < c->n_listens; i++)
        if (c->listens[i] == id)
            return PGX_OK;
    if (c->n_listens >= PGX_MAX_LISTENS)
        return err_set(e, PGX_ERR_INVALID, ERR_INTERNAL, "internal", "too many LISTEN channels");
    PGresult *r = pgx_exec(c, id, 0, NULL, NULL, NULL, 0, e);
    if (r == NULL)
        return e ? e->status : PGX_ERR_DB;
    c->listens[c->n_listens++] = id;
    return PGX_OK;
}

static int pgx_take_notify(struct pgx *c, char *channel, size_t chlen, char *payload, size_t plen)
{
    PGnotify *nt = PQnotifies(c->conn);
    if (nt == NULL)
        return 0;
    if (channel != NULL && chlen > 0)
        snprintf(channel, chlen, "%s", nt->relname);
    if (payload != NULL && plen > 0)
        snprintf(payload, plen, "%s", nt->extra ? nt->extra : "");
    PQfreemem(nt);
    c->notified_ms = cm_now_ms();
    return 1;
}

double pgx_notified_ms(const struct pgx *c)
{
    return c->notified_ms;
}

/* drains one buffered notification without blocking; 1 or 0 */
int pgx_notify_poll(struct pgx *c, char *channel, size_t chlen, char *payload, size_t plen)
{
    if (c->conn == NULL)
        return 0;
    return pgx_take_notify(c, channel, chlen, payload, plen);
}

/* waits for a notification (see pgx.h); 1, 0 on timeout, or PGX_ERR_DB */
int pgx_notify_wait(struct pgx *c, int timeout_ms, char *channel, size_t chlen, char *payload,
                    size_t plen, struct err *e)
{
    if (pgx_check(c, e) != PGX_OK)
        return PGX_ERR_DB;
    double deadline = cm_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    /* the socket is looked at once even with timeout 0: a worker asks
     * between decode steps whether a notification arrived, without waiting */
    int looked = 0;
    for (;;) {
        if (pgx_take_notify(c, channel, chlen, payload, plen))
            return 1;
        double left = deadline - cm_now_ms();
        if (left <= 0 && looked)
            return 0;
        looked = 1;
        struct pollfd p = {.fd = PQsocket(c->conn), .events = POLLIN};
        int rc = poll(&p, 1, left > 0 ? (int)(left + 0.999) : 0);
        if (rc < 0 && errno != EINTR)
            return err_set_transient(e, PGX_ERR_DB, "db_unavailable",
                                     "could not wait for notifications: %s", strerror(errno));
        if (rc > 0 && (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK))
            return err_set_transient(e, PGX_ERR_DB, "db_unavailable",
                                     "could not wait for notifications: connection lost");
    }
}
