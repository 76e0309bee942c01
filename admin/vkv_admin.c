/*
 * vkv_admin.c: `vkv-admin`, the operator's command line.
 *
 *   vkv-admin migrate                    apply schema/migrations (embedded)
 *   vkv-admin schema-check               exit 0 when the schema is current
 *   vkv-admin tenant create NAME         prints the tenant id
 *   vkv-admin key create TENANT [--admin]  prints the key ONCE (stored hashed)
 *   vkv-admin key revoke KEY_ID
 *   vkv-admin workers-prune [SECONDS]    forget workers not seen for that long
 *   vkv-admin tier pause|resume TIER     TIER: 0..3 or a tier name
 *   vkv-admin retention run [--days N]   default VKV_RETENTION_DAYS
 *   vkv-admin requeue-expired            expired leases and deadlines, once
 *   vkv-admin queue                      queue stats as JSON
 *   vkv-admin model install|fetch|list   Moondream 2 into the model cache
 *                                        (adm_model.h; no database needed)
 *
 * Connection: the VKV_PG_* settings (environment or --config FILE).  Every
 * command but migrate first checks the schema and refuses to run against a
 * database whose applied migrations differ from the embedded ones.
 * Exit status: 0 ok, 1 failure, 2 usage.  See admin/README.md.
 */
#include "admin/adm_model.h"
#include "common/cfg.h"
#include "common/jq.h"
#include "common/log.h"
#include "common/pgx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int adm_usage(void)
{
    fprintf(stderr, "usage: vkv-admin [--config FILE] COMMAND\n"
                    "  migrate | schema-check\n"
                    "  tenant create NAME\n"
                    "  key create TENANT [--admin] | key revoke KEY_ID\n"
                    "  tier pause|resume TIER\n"
                    "  retention run [--days N]\n"
                    "  requeue-expired | workers-prune [SECONDS] | queue\n"
                    "  model install moondream2 DIR | model fetch moondream2 | model list\n");
    return 2;
}

static int adm_fail(const char *what, const struct err *e)
{
    fprintf(stderr, "vkv-admin: %s: %s (%s)\n", what, e->msg, e->code);
    return 1;
}

/* a tenant given by name, or by id when it is all digits */
static int adm_tenant(struct pgx *c, const char *s, int64_t *id, struct err *e)
{
    if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s)) {
        *id = strtoll(s, NULL, 10);
        return JQ_OK;
    }
    return jq_tenant_get(c, s, id, e);
}

int main(int argc, char **argv)
{
    int rc = cfg_main(CFG_PROG_CLI, argc, argv);
    if (rc >= 0)
        return rc;
    /* drop --config FILE from the arguments */
    char *args[64];
    int n = 0;
    for (int i = 1; i < argc && n < 63; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        args[n++] = argv[i];
    }
    args[n] = NULL;
    if (n < 1)
        return adm_usage();
    /* files only: no database */
    if (strcmp(args[0], "model") == 0)
        return adm_model_main(n, args);

    struct err e;
    err_clear(&e);
    struct pgx *c = NULL;
    struct pgx_settings ps;
    cfg_pgx_settings(&ps);
    if (pgx_open(&c, &ps, &e) != PGX_OK) {
        pgx_free(c);
        return adm_fail("could not connect", &e);
    }
    const char *cmd = args[0];
    rc = 0;
    if (strcmp(cmd, "migrate") == 0) {
        int applied = 0;
        if (jq_schema_migrate(c, &applied, &e) != JQ_OK)
            rc = adm_fail("migrate", &e);
        else
            printf("migrations applied: %d\n", applied);
        pgx_free(c);
        return rc;
    }
    if (jq_schema_check(c, &e) != JQ_OK) {
        pgx_free(c);
        return adm_fail("schema check", &e);
    }
    if (strcmp(cmd, "schema-check") == 0) {
        printf("schema ok\n");
    } else if (strcmp(cmd, "tenant") == 0 && n == 3 && strcmp(args[1], "create") == 0) {
        int64_t id;
        if (jq_tenant_create(c, args[2], &id, &e) != JQ_OK)
            rc = adm_fail("tenant create", &e);
        else
            printf("%lld\n", (long long)id);
    } else if (strcmp(cmd, "key") == 0 && n >= 3 && strcmp(args[1], "create") == 0) {
        int admin = n == 4 && strcmp(args[3], "--admin") == 0;
        if (n > 4 || (n == 4 && !admin)) {
            rc = adm_usage();
        } else {
            int64_t tid, kid;
            char key[128];
            if (adm_tenant(c, args[2], &tid, &e) != JQ_OK ||
                jq_key_create(c, tid, admin, key, sizeof(key), &kid, &e) != JQ_OK) {
                rc = adm_fail("key create", &e);
            } else {
                /* the only time the key is ever shown */
                printf("%s\n", key);
                fprintf(stderr,
                        "key id %lld for tenant %lld%s; it is stored hashed and "
                        "cannot be shown again\n",
                        (long long)kid, (long long)tid, admin ? " (admin)" : "");
            }
        }
    } else if (strcmp(cmd, "key") == 0 && n == 3 && strcmp(args[1], "revoke") == 0) {
        if (jq_key_revoke(c, strtoll(args[2], NULL, 10), &e) != JQ_OK)
            rc = adm_fail("key revoke", &e);
    } else if (strcmp(cmd, "tier") == 0 && n == 3 &&
               (strcmp(args[1], "pause") == 0 || strcmp(args[1], "resume") == 0)) {
        int tier = jq_tier_parse(args[2]);
        int pause = strcmp(args[1], "pause") == 0;
        if (tier < 0) {
            fprintf(stderr, "vkv-admin: invalid tier: \"%s\"\n", args[2]);
            rc = 2;
        } else if ((pause ? jq_tier_pause(c, tier, &e) : jq_tier_resume(c, tier, &e)) != JQ_OK) {
            rc = adm_fail(args[1], &e);
        } else {
            printf("tier %s %s\n", jq_tier_str(tier), pause ? "paused" : "resumed");
        }
    } else if (strcmp(cmd, "retention") == 0 && n >= 2 && strcmp(args[1], "run") == 0) {
        long long days = cfg_int("VKV_RETENTION_DAYS");
        if (n == 4 && strcmp(args[2], "--days") == 0)
            days = strtoll(args[3], NULL, 10);
        else if (n != 2)
            return pgx_free(c), adm_usage();
        int64_t removed;
        if (days < 0 || days > 36500) {
            fprintf(stderr, "vkv-admin: invalid --days: %lld\n", days);
            rc = 2;
        } else if (jq_retention_run(c, (int)days, &removed, &e) != JQ_OK) {
            rc = adm_fail("retention run", &e);
        } else {
            printf("removed %lld rows older than %lld days\n", (long long)removed, days);
        }
    } else if (strcmp(cmd, "requeue-expired") == 0 && n == 1) {
        int changed;
        if (jq_requeue_expired(c, &changed, &e) != JQ_OK)
            rc = adm_fail("requeue-expired", &e);
        else
            printf("%d jobs changed\n", changed);
    } else if (strcmp(cmd, "workers-prune") == 0 && (n == 1 || n == 2)) {
        /* what every worker runs with its requeue (VKV_WORKER_PRUNE_S) */
        long long age = n == 2 ? strtoll(args[1], NULL, 10) : cfg_int("VKV_WORKER_PRUNE_S");
        int pruned = 0;
        if (age < 1)
            rc = 2, fprintf(stderr, "vkv-admin: workers-prune: seconds must be >= 1\n");
        else if (jq_workers_prune(c, (int)age, &pruned, &e) != JQ_OK)
            rc = adm_fail("workers-prune", &e);
        else
            printf("%d workers not seen for %lld s removed\n", pruned, age);
    } else if (strcmp(cmd, "queue") == 0 && n == 1) {
        char *json;
        if (jq_queue_stats_json(c, &json, &e) != JQ_OK)
            rc = adm_fail("queue", &e);
        else {
            printf("%s\n", json);
            free(json);
        }
    } else {
        rc = adm_usage();
    }
    pgx_free(c);
    return rc;
}
