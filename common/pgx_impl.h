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
    /* queue client (jq.c) */
    int64_t jq_depth_limit;
    int jq_max_attempts;
    int64_t jq_depth_seen[4], jq_depth_added[4];
    double jq_depth_at[4];
};

#endif
