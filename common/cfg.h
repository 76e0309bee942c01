/*
 * cfg.h: the configuration table (PostgreSQL's guc_tables.c, nginx's
 * ngx_command_t).  Every setting of every program is one row in cfg.c:
 * name, environment variable, type, default, bounds, secret flag, the
 * programs that read it, and a one-line description.
 *
 * Values come from the environment (VKV_*), then from an optional file of
 * KEY=VALUE lines (VKV_CONFIG_FILE or --config), file winning.  Everything
 * is validated at start; settings never change while a process runs.
 * Not thread-safe during cfg_load(); read-only (and thread-safe) after.
 */
#ifndef VKV_CFG_H
#define VKV_CFG_H

#include "common/err.h"

enum cfg_type { CFG_TYPE_STR, CFG_TYPE_INT, CFG_TYPE_BOOL };

/* which programs read a key */
enum {
    CFG_PROG_API = 1,
    CFG_PROG_WORKER = 2,
    CFG_PROG_CLI = 4,
    CFG_PROG_RUN = 8, /* scripts/run.sh and the nginx template */
    CFG_PROG_ALL = 15
};

struct cfg_entry {
    const char *name; /* the environment variable, e.g. "VKV_HTTP_PORT" */
    enum cfg_type type;
    const char *def;    /* default as text; NULL = required */
    long long min, max; /* bounds for CFG_TYPE_INT */
    int secret;         /* masked in logs */
    int progs;          /* CFG_PROG_* mask */
    const char *desc;
};

/* the whole table, terminated by a NULL name; borrowed, static */
const struct cfg_entry *cfg_table_get(void);

/*
 * Loads and validates every key used by prog (a CFG_PROG_* bit) from the
 * environment and then from file (may be NULL; VKV_CONFIG_FILE is used when
 * it is NULL).  Returns 0, or -1 with e filled (invalid value, unreadable
 * file, unknown key in the file).
 */
int cfg_load(int prog, const char *file, struct err *e);

/* values after cfg_load; borrowed, valid for the life of the process.
 * Asking for a key not in the table is a bug (asserts). */
const char *cfg_str(const char *name);
long long cfg_int(const char *name);
int cfg_bool(const char *name);

/* logs the effective configuration for prog, secrets masked */
void cfg_log(int prog);

/*
 * Handles the common command line: --check-config (exit 0/1 after
 * validation, like nginx -t), --config FILE, --print-config.  Returns 0 to
 * continue, or the exit status the program should return now (>= 0 means
 * exit with that value; -1 means continue).
 */
int cfg_main(int prog, int argc, char **argv);

/*
 * The settings a library takes as arguments, filled from the table: the
 * libraries (img.c, pgx.c, jq.c) read no configuration themselves; the
 * programs pass what these return.  Values are borrowed from the table
 * (valid for the life of the process).  Cannot fail.
 */
struct img_limits;
struct pgx_settings;
/* VKV_MAX_IMAGE_BYTES / _SIDE / _PIXELS, VKV_MAX_DECODE_CPU_MS */
void cfg_img_limits(struct img_limits *l);
/* VKV_PG_HOST / _PORT / _DB / _USER / _PASSWORD / _PASSFILE / _SSLMODE /
 * _SSLROOTCERT / _CHANNEL_BINDING */
void cfg_pgx_settings(struct pgx_settings *s);

#endif
