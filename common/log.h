/*
 * log.h: one line per event on stderr, logfmt style:
 *   ts=2026-11-24T08:00:00.123Z level=info prog=vkv-api pid=12 req=ab12 msg="..."
 * The request or job id is set per thread with log_ctx_set() so every line
 * of a request carries it.  Thread-safe (one write(2) per line).
 */
#ifndef VKV_LOG_H
#define VKV_LOG_H

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* prog is borrowed and must outlive the process; cannot fail */
void log_init(const char *prog, enum log_level min_level);
/* parses "debug|info|warn|error"; returns -1 when unknown */
int log_level_parse(const char *s);
/* sets this thread's context, e.g. ("req", "ab12") or ("job", "42"); NULL clears */
void log_ctx_set(const char *key, const char *value);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
