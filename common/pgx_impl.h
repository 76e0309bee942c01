/*
 * pgx_impl.h: the insides of struct pgx, shared by pgx.c and the queue
 * client (jq.c keeps its per-connection limits and depth cache here).
 * Nothing outside common/ includes this file.
 */
#ifndef VKV_PGX_IMPL_H
#define VKV_PGX_IMPL_H

#include "common/pgx.h"

#include <stdint.h>

#define PGX_MAX_LISTENS 8

struct pgx {
    PGconn *conn;
    char *conninfo; /* owned; NULL: use keywords/values */
    char *kw_store[12], *val_store[12];
    const char *kw[13], *val[13]; /* NULL-terminated, point into *_store */
    unsigned char *prepared;      /* [SQLQ_COUNT]: prepared on this conn */
    struct ar *ar;                /* scratch arena: PQclear callbacks */
    int reconnects;
    double last_try_ms;  /* last failed connect attempt */
    char last_fail[200]; /* libpq's reason for it, repeated while retrying */
    int last_txstatus;   /* PQtransactionStatus after the last exec */
    int tx_broken;       /* connection lost inside a transaction */
    int listens[PGX_MAX_LISTENS];
    int n_listens;
    double notified_ms; /* cm_now_ms() when the last notification was taken */
    /* the per-connection state of the layer above (the queue client's
     * struct jq_conn, jq.c), owned by that layer: pgx only frees it with
     * the connection */
    void *client;
    void (*client_free)(void *client);
};

#endif
