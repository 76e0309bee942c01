/*
 * api_route.c: the router and the tier a request asks for.
 *
 * A route pattern is a path whose "{}" segments match any one non-empty
 * segment, captured in r->pp in order.  The table is scanned in order (a
 * few dozen entries: a linear scan costs less than the JSON parse).  A
 * path that some route matches with another method answers 405, anything
 * else 404.  See fcgi/README.md.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/cm.h"
#include "common/jq.h"

#include <stdio.h>
#include <string.h>

/* matches pattern against path, filling pp; 1 on a match */
static int match(const char *pattern, const char *path, const char **pp, int *npp, char *buf,
                 size_t bufsz)
{
    size_t used = 0;
    int n = 0;
    const char *a = pattern, *b = path;
    while (*a && *b) {
        if (a[0] == '{' && a[1] == '}') {
            const char *seg_end = strchr(b, '/');
            size_t sl = seg_end ? (size_t)(seg_end - b) : strlen(b);
            if (sl == 0 || n >= API_MAX_PATH_PARAMS || used + sl + 1 > bufsz)
                return 0;
            memcpy(buf + used, b, sl);
            buf[used + sl] = '\0';
            pp[n++] = buf + used;
            used += sl + 1;
            a += 2;
            b += sl;
            continue;
        }
        if (*a != *b)
            return 0;
        a++;
        b++;
    }
    /* tolerate one trailing slash on the request path */
    if (*a == '\0' && b[0] == '/' && b[1] == '\0')
        b++;
    if (*a != '\0' || *b != '\0')
        return 0;
    *npp = n;
    return 1;
}

const struct api_route *api_route_match(const struct api_route *table, struct api_req *r,
                                        int *path_matched)
{
    /* per-thread scratch for captured segments; copied into r->pp as
     * pointers, valid until the next match on this thread */
    static __thread char buf[1024];
    *path_matched = 0;
    const struct api_route *hit = NULL;
    for (const struct api_route *rt = table; rt->pattern != NULL; rt++) {
        const char *pp[API_MAX_PATH_PARAMS];
        int npp = 0;
        char tmp[1024];
        if (!match(rt->pattern, r->path, pp, &npp, tmp, sizeof(tmp)))
            continue;
        if (strcmp(rt->method, r->method) != 0 &&
            !(strcmp(rt->method, "GET") == 0 && strcmp(r->method, "HEAD") == 0)) {
            *path_matched = 1;
            continue;
        }
        /* re-run the match into the persistent buffer */
        match(rt->pattern, r->path, r->pp, &r->npp, buf, sizeof(buf));
        r->route = rt;
        hit = rt;
        break;
    }
    return hit;
}

/* a tier field as text for jq_priority_parse: NULL when absent or null, an
 * integer as its digits, a string as is, any other type "" (not a tier) */
static const char *tier_text(json_t *v, char *buf, size_t n)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, n, "%s", "");
    return buf;
}

int api_job_tier(const struct api_req *r, json_t *body, int *out, struct err *e)
{
    char tb[32], pb[32];
    const char *tier = body ? tier_text(json_object_get(body, "tier"), tb, sizeof(tb)) : NULL;
    const char *prio = body ? tier_text(json_object_get(body, "priority"), pb, sizeof(pb)) : NULL;
    int def = r->route != NULL ? r->route->tier : API_TIER_NONE;
    CM_ASSERT(def >= 0 && def < JQ_TIERS); /* only enqueuing routes ask */
    if (jq_priority_parse(r->priority, tier, prio, def, out, e) != JQ_OK)
        return API_ERR_INVALID;
    return API_OK;
}

int64_t api_id_parse(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v > 0 ? v : -1;
}
