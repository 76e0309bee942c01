/*
 * jq_schema.c: the migration runner and the start-up schema check.
 *
 * Migrations are embedded at build time (schema/gen_sql.sh) so a binary
 * always knows exactly which schema it was built for.  Each is applied in
 * its own transaction together with its schema_migrations row (version,
 * name, sha256 of the file); an applied file must never change, and a
 * mismatch makes every program refuse to start.  See schema/README.md.
 */
#include "common/jq.h"

#include "common/log.h"
#include "common/pgx_impl.h"

#include "sql_queries.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void jq_sha256_hex(const char *text, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
    sodium_bin2hex(out, 65, h, sizeof(h));
}

/*
 * Reads schema_migrations and compares.  *n_applied receives how many of
 * the embedded migrations are applied (they must be a prefix).
 */
static int jq_schema_compare(struct pgx *c, int *n_applied, struct err *e)
{
    *n_applied = 0;
    PGresult *r = pgx_exec(c, SQLQ_MIG_TABLE_EXISTS, 0, NULL, NULL, NULL, 0, e);
    if (r == NULL) {
        pgx_reset(c);
        return e ? e->status : JQ_ERR_DB;
    }
    int exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    pgx_reset(c);
    if (!exists)
        return JQ_OK;
    r = pgx_exec(c, SQLQ_MIG_LIST, 0, NULL, NULL, NULL, 0, e);
    if (r == NULL) {
        pgx_reset(c);
        return e ? e->status : JQ_ERR_DB;
    }
    int rows = PQntuples(r), rc = JQ_OK;
    for (int i = 0; i < rows; i++) {
        int version = atoi(PQgetvalue(r, i, 0));
        if (version != i + 1 || version > sqlq_n_migrations) {
            rc = err_set(e, JQ_ERR_CONFLICT, ERR_INTERNAL, "schema_mismatch",
                         "cannot use this database: it has migration %d (%s), this "
                         "binary knows %d migrations",
                         version, PQgetvalue(r, i, 1), sqlq_n_migrations);
            break;
        }
        char hex[65];
        jq_sha256_hex(sqlq_migrations[i].text, hex);
        if (strcmp(hex, PQgetvalue(r, i, 2)) != 0) {
            rc = err_set(e, JQ_ERR_CONFLICT, ERR_INTERNAL, "schema_mismatch",
                         "cannot use this database: migration %04d_%s was applied with "
                         "sha256 %.12s..., the file now has %.12s... (applied migrations "
                         "must never be edited)",
                         version, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), hex);
            break;
        }
        (*n_applied)++;
    }
    pgx_reset(c);
    return rc;
}

/* the start-up check (see jq.h) */
int jq_schema_check(struct pgx *c, struct err *e)
{
    int n;
    int rc = jq_schema_compare(c, &n, e);
    if (rc != JQ_OK)
        return rc;
    if (n < sqlq_n_migrations)
        return err_set(e, JQ_ERR_NOT_FOUND, ERR_INTERNAL, "schema_not_migrated",
                       "cannot use this database: %d of %d migrations applied (run "
                       "vkv-admin migrate)",
                       n, sqlq_n_migrations);
    return JQ_OK;
}

static int jq_mig_fail(struct pgx *c, struct err *e)
{
    int rc = e && e->status < 0 ? e->status : JQ_ERR_DB;
    struct err ignore;
    PGconn *pc = pgx_conn_get(c);
    if (pc != NULL && PQtransactionStatus(pc) != PQTRANS_IDLE)
        pgx_exec(c, SQLQ_JQ_TX_ROLLBACK, 0, NULL, NULL, NULL, 0, &ignore);
    pgx_exec(c, SQLQ_MIG_UNLOCK, 0, NULL, NULL, NULL, 0, &ignore);
    pgx_reset(c);
    return rc;
}

/* applies the missing migrations (see jq.h) */
int jq_schema_migrate(struct pgx *c, int *applied, struct err *e)
{
    if (applied != NULL)
        *applied = 0;
    if (sodium_init() < 0)
        return err_set(e, JQ_ERR, ERR_INTERNAL, "internal", "could not initialise libsodium");
    if (pgx_exec(c, SQLQ_MIG_LOCK_TIMEOUT, 0, NULL, NULL, NULL, 0, e) == NULL)
        return jq_mig_fail(c, e);
    if (pgx_exec(c, SQLQ_MIG_LOCK, 0, NULL, NULL, NULL, 0, e) == NULL) {
        /* say who holds it: the lock timed out (or failed) */
        struct err e2;
        err_clear(&e2);
        pgx_reset(c);
        PGresult *h = pgx_exec(c, SQLQ_MIG_LOCK_HOLDER, 0, NULL, NULL, NULL, 0, &e2);
        if (h != NULL && PQntuples(h) == 1)
            err_set(e, JQ_ERR_DB, ERR_UNAVAILABLE, "migration_locked",
                    "the migration lock (advisory 7411001) was not free within 10 s: held by pid "
                    "%s (user %s, application %s, from %s, %s for %s)",
                    PQgetvalue(h, 0, 0), PQgetvalue(h, 0, 1), PQgetvalue(h, 0, 2),
                    PQgetvalue(h, 0, 3), PQgetvalue(h, 0, 4), PQgetvalue(h, 0, 5));
        return jq_mig_fail(c, e);
    }
    if (pgx_exec(c, SQLQ_MIG_LOCK_TIMEOUT_OFF, 0, NULL, NULL, NULL, 0, e) == NULL ||
        pgx_exec(c, SQLQ_MIG_TABLE, 0, NULL, NULL, NULL, 0, e) == NULL)
        return jq_mig_fail(c, e);
    pgx_reset(c);
    int n;
    if (jq_schema_compare(c, &n, e) != JQ_OK)
        return jq_mig_fail(c, e);
    for (int i = n; i < sqlq_n_migrations; i++) {
        const struct sqlq_migration *m = &sqlq_migrations[i];
        char hex[65], ver[24];
        jq_sha256_hex(m->text, hex);
        const char *v[3] = {pgx_i64(ver, m->version), m->name + 5, hex};
        if (pgx_exec(c, SQLQ_JQ_TX_BEGIN, 0, NULL, NULL, NULL, 0, e) == NULL ||
            pgx_script(c, m->text, e) != PGX_OK ||
            pgx_exec(c, SQLQ_MIG_RECORD, 3, v, NULL, NULL, 0, e) == NULL ||
            pgx_exec(c, SQLQ_JQ_TX_COMMIT, 0, NULL, NULL, NULL, 0, e) == NULL) {
            if (e != NULL) {
                char m2[sizeof(e->msg)];
                memcpy(m2, e->msg, sizeof(m2));
                int k = snprintf(e->msg, sizeof(e->msg), "migration %s: ", m->name);
                if (k > 0 && (size_t)k < sizeof(e->msg))
                    memcpy(e->msg + k, m2, strnlen(m2, sizeof(e->msg) - (size_t)k - 1) + 1);
                e->msg[sizeof(e->msg) - 1] = '\0';
            }
            return jq_mig_fail(c, e);
        }
        pgx_reset(c);
        log_info("applied migration %s (sha256 %.12s...)", m->name, hex);
        if (applied != NULL)
            (*applied)++;
    }
    pgx_exec(c, SQLQ_MIG_UNLOCK, 0, NULL, NULL, NULL, 0, e);
    pgx_reset(c);
    return JQ_OK;
}
