/*
 * api_query.c: the query parameters each route accepts.
 *
 * A query parameter no handler reads was ignored (GET /v1/jobs?stat=queued
 * listed every job) while an unknown body field is refused; now both are
 * refused: 400 `unknown_query_parameter`, naming it and the accepted ones,
 * checked after routing and before authentication.  A route missing from
 * the table accepts no parameter: a handler that starts reading one must
 * add it here (fcgi/README.md, "Adding a route").
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include <stdio.h>
#include <string.h>

struct api_query_rule {
    const char *method, *pattern;
    const char *const names[10];
};

static const struct api_query_rule api_query_rules[] = {
    {"POST", "/v1/jobs", {"wait", NULL}},
    {"POST", "/v1/upscale", {"wait", NULL}},
    {"GET",
     "/v1/jobs",
     {"state", "tier", "task", "model", "batch_id", "created_after", "limit", "cursor", "tenant",
      NULL}},
    /* tenant=all: an admin key reads any tenant's job (h_dash.c) */
    {"GET", "/v1/jobs/{}", {"tenant", NULL}},
    {"GET", "/v1/jobs/{}/input", {"tenant", NULL}},
    {"GET", "/v1/jobs/{}/thumbnail", {"tenant", NULL}},
    {"GET", "/v1/queue/stats", {"tenant", NULL}},
    {NULL, NULL, {NULL}},
};

int api_query_check(const struct api_route *rt, struct api_req *r)
{
    const char *const *names = NULL;
    for (const struct api_query_rule *q = api_query_rules; q->method; q++)
        if (strcmp(q->method, rt->method) == 0 && strcmp(q->pattern, rt->pattern) == 0)
            names = q->names;
    const char *p = r->query;
    while (p != NULL && *p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        size_t kl = eq ? (size_t)(eq - p) : seg;
        int known = kl == 0; /* "a&&b" or a trailing '&' */
        for (int i = 0; !known && names && names[i]; i++)
            known = strlen(names[i]) == kl && memcmp(names[i], p, kl) == 0;
        if (!known) {
            char allowed[160] = "";
            for (int i = 0; names && names[i]; i++) {
                size_t n = strlen(allowed);
                snprintf(allowed + n, sizeof allowed - n, "%s%s", i ? ", " : "", names[i]);
            }
            api_reply_error(r, 400, "unknown_query_parameter", 0,
                            "unknown query parameter \"%.*s\" for %s %s (accepted: %s)",
                            (int)(kl > 64 ? 64 : kl), p, rt->method, rt->pattern,
                            allowed[0] ? allowed : "none");
            return API_ERR;
        }
        p = amp ? amp + 1 : NULL;
    }
    return API_OK;
}
