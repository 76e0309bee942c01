/*
 * pgx.h: one PostgreSQL connection with its named statements.
 *
 * Every statement the programs run lives in schema/queries/ (*.sql files) under a
 * `-- name: x` line; the build embeds them into $(B)/gen/sql_queries.{c,h}
 * (enum sqlq_id, SQLQ_<NAME>).  A pgx connection prepares each of them once
 * (PQprepare, lazily on first use) and runs them with PQexecPrepared, always
 * with parameters.  No SQL text is ever built at run time.
 *
 * Reconnect: before each statement the connection is checked; a connection
 * that the server closed (restart, pg_terminate_backend) is reset and its
 * statements prepared again.  A statement that fails because the connection
 * broke while it ran is NOT retried (the server may have committed it): the
 * caller gets PGX_ERR_DB with e->transient = 1 and may retry.
 *
 * Results: pgx_exec() returns a PGresult whose PQclear is registered on the
 * connection's scratch arena (pgx_ar()); pgx_reset() frees them all.  One
 * connection belongs to one thread at a time.  See common/README.md.
 */
#ifndef VKV_PGX_H
#define VKV_PGX_H

#include "common/err.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct ar;
struct pgx;

enum pgx_status {
    PGX_OK = 0,
    PGX_ERR = -1,
    PGX_ERR_DB = -5,       /* connection lost / server error (transient) */
    PGX_ERR_INVALID = -6,  /* bad argument */
    PGX_ERR_CONFLICT = -4, /* unique violation, serialization failure */
};

/* ---- connections ---------------------------------------------------- */

/*
 * Where to connect, given by the caller (programs fill it from their
 * settings with cfg_pgx_settings, common/cfg.h): conninfo, a libpq
 * conninfo string or URI ("" = libpq's own PG* environment variables),
 * wins when non-NULL; otherwise host (a socket directory or a host name; a
 * relative directory is made absolute), port, dbname, user and password
 * (NULL or "" = none given: libpq may take it from the passfile), and
 * the libpq options passfile, sslmode, sslrootcert, channel_binding (NULL
 * or "" = libpq's default).  Borrowed:
 * pgx_open copies what it keeps.
 */
struct pgx_settings {
    const char *conninfo;
    const char *host;
    int port;
    const char *dbname, *user, *password;
    /* libpq's passfile, sslmode, sslrootcert and channel_binding */
    const char *passfile, *sslmode, *sslrootcert, *channel_binding;
};

/*
 * Opens a connection as s says.  Returns a new connection in *out (caller
 * frees with pgx_free), or PGX_ERR_DB (transient) when the server cannot
 * be reached: the connection object is still returned, and reconnects on
 * its next use.
 */
int pgx_open(struct pgx **out, const struct pgx_settings *s, struct err *e);
/* closes and frees; c may be NULL */
void pgx_free(struct pgx *c);

/* the underlying libpq connection; borrowed, valid until the next pgx call */
PGconn *pgx_conn_get(struct pgx *c);
/* the scratch arena results are registered on; borrowed */
struct ar *pgx_ar(struct pgx *c);
/* PQclear every result of the last calls (resets the scratch arena) */
void pgx_reset(struct pgx *c);
/* reconnects now if the connection is bad; PGX_OK or PGX_ERR_DB */
int pgx_check(struct pgx *c, struct err *e);
/* number of times this connection was re-established (tests, metrics) */
int pgx_reconnects_get(const struct pgx *c);

/* ---- statements ------------------------------------------------------ */

/*
 * Runs named statement `id` (an enum sqlq_id value from sql_queries.h) with
 * n parameters.  vals[i] NULL is SQL NULL; lens/fmts may be NULL (all text);
 * fmts[i] = 1 sends vals[i] as binary of lens[i] bytes (bytea).
 * result_binary = 1 asks for binary results (bytea without hex escaping).
 * Returns the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK), borrowed: it is
 * cleared by pgx_reset(); or NULL with e filled: PGX_ERR_DB (transient,
 * connection or server trouble), PGX_ERR_CONFLICT (unique violation,
 * serialization failure, deadlock), PGX_ERR (other SQL error: a bug).
 */
PGresult *pgx_exec(struct pgx *c, int id, int n, const char *const *vals, const int *lens,
                   const int *fmts, int result_binary, struct err *e);

/* parameters as text: helpers for building vals[] (buf of >= 24 bytes) */
const char *pgx_i64(char *buf, int64_t v);

/*
 * Runs a whole SQL script without parameters (PQexec).  Only for the
 * migrations embedded from schema/migrations/, never for anything built at
 * run time.  PGX_OK or an error as pgx_exec.
 */
int pgx_script(struct pgx *c, const char *sql, struct err *e);

/* int8/int4 value of a binary-format result field */
int64_t pgx_bin_i64(const PGresult *r, int row, int col);
int32_t pgx_bin_i32(const PGresult *r, int row, int col);
/* float4 value of a binary-format result field */
float pgx_bin_f32(const PGresult *r, int row, int col);

/* ---- notifications --------------------------------------------------- */

/*
 * Runs LISTEN statement `id` now and again after every reconnect.
 * PGX_OK or an error as pgx_exec.
 */
int pgx_listen(struct pgx *c, int id, struct err *e);

/*
 * Waits up to timeout_ms for a notification on any LISTENed channel (0: reads
 * what the socket holds now without waiting).
 * Returns 1 with channel and payload filled (copied into the caller's buffers,
 * truncated), 0 on timeout, or PGX_ERR_DB when the connection broke (it is
 * reset on the next pgx call; LISTENs must then be issued again: see
 * pgx_reconnects_get; LISTENs made with pgx_listen are re-issued).
 */
int pgx_notify_wait(struct pgx *c, int timeout_ms, char *channel, size_t chlen, char *payload,
                    size_t plen, struct err *e);
/* cm_now_ms() (common/cm.h) when the last notification was taken from the
 * connection, 0 before the first: where a waiter's time went (Server-Timing) */
double pgx_notified_ms(const struct pgx *c);
/* as pgx_notify_wait with timeout 0, without touching the socket when
 * nothing is buffered: drains one already-received notification */
int pgx_notify_poll(struct pgx *c, char *channel, size_t chlen, char *payload, size_t plen);

#endif
