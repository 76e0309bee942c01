/*
 * log.c: logfmt lines on stderr.  A line is formatted into a stack buffer
 * and written with one write(2) so lines from threads never interleave.
 * Quotes and newlines in the message are escaped so a line stays a line.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "vkv";
static enum log_level log_min = LOG_LEVEL_INFO;
static _Thread_local char log_ctx_key[8];
static _Thread_local char log_ctx_val[64];

void log_init(const char *prog, enum log_level min_level)
{
    log_prog = prog;
    log_min = min_level;
}

int log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_ctx_set(const char *key, const char *value)
{
    if (key == NULL || value == NULL) {
        log_ctx_key[0] = '\0';
        return;
    }
    snprintf(log_ctx_key, sizeof(log_ctx_key), "%s", key);
    snprintf(log_ctx_val, sizeof(log_ctx_val), "%s", value);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char msg[1024], line[1400];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    size_t n;

    if (lvl < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = (size_t)snprintf(line, sizeof(line),
                         "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s prog=%s pid=%d",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, (int)(tv.tv_usec / 1000), names[lvl], log_prog, (int)getpid());
    if (log_ctx_key[0] != '\0' && n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%s", log_ctx_key, log_ctx_val);
    if (n + 8 < sizeof(line)) {
        memcpy(line + n, " msg=\"", 6);
        n += 6;
        for (const char *p = msg; *p != '\0' && n + 4 < sizeof(line); p++) {
            if (*p == '"' || *p == '\\') {
                line[n++] = '\\';
                line[n++] = *p;
            } else if (*p == '\n') {
                line[n++] = '\\';
                line[n++] = 'n';
            } else {
                line[n++] = *p;
            }
        }
        line[n++] = '"';
    }
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
