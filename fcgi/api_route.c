/*
 * api_route.c: the router and tier names.
 *
 * A route pattern is a path whose "{}" segments match any one non-empty
 * segment, captured in r->pp in order.  The table is scanned in order (a
 * few dozen entries: a linear scan costs less than the JSON parse).  A
 * path that some route matches with another method answers 405, anything
 * else 404.  See fcgi/README.md.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include <string.h>
#include <strings.h>

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
        hit = rt;
        break;
    }
    return hit;
}

static const char *const tier_names[] = {"BACKGROUND", "PRELOAD", "INTERACTIVE", "IMMEDIATE"};

int api_tier_parse_str(const char *s)
{
    if (s == NULL)
        return -1;
    if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
        return s[0] - '0';
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, tier_names[i]) == 0)
            return i;
    return -1;
}

int api_tier_parse_json(const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t t = json_integer_value(v);
        return t >= 0 && t <= 3 ? (int)t : -1;
    }
    if (json_is_string(v))
        return api_tier_parse_str(json_string_value(v));
    return -1;
}

const char *api_tier_name(int tier)
{
    return tier >= 0 && tier <= 3 ? tier_names[tier] : "?";
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
