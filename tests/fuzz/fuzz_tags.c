/*
 * fuzz_tags.c: the tagger's tag table (tasks/rt_tags.c, a WD14-style CSV).
 *
 * Parses the bytes both ways (underscores kept and turned into spaces:
 * the two must accept the same files with the same rows); on success
 * checks every name is a non-empty string, then chooses tags for a fixed
 * ramp of probabilities and requires a result whose tags are at most
 * max_tags, best first.
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "common/cm.h"
#include "tasks/rt_tags.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rt_tags *t = NULL, *u = NULL;
    struct err e, e2;
    int rc = rt_tags_parse((const char *)data, size, 0, &t, &e);
    int rc2 = rt_tags_parse((const char *)data, size, 1, &u, &e2);
    CM_ASSERT((rc == 0) == (rc2 == 0));
    if (rc != 0) {
        CM_ASSERT(t == NULL && u == NULL && e.msg[0] != '\0' &&
                  strcmp(e.code, "invalid_tags") == 0);
        return 0;
    }
    int n = rt_tags_count(t);
    CM_ASSERT(n >= 1 && n == rt_tags_count(u));
    float *p = calloc((size_t)n, sizeof(float));
    CM_ASSERT(p != NULL);
    for (int i = 0; i < n; i++) {
        CM_ASSERT(rt_tags_name(t, i)[0] != '\0');
        p[i] = (float)(i % 17) / 16.0f;
    }
    struct rt_tags_opts o = rt_tags_opts_default();
    o.max_tags = 8;
    json_t *r = rt_tags_result(u, &o, p, n);
    json_t *tags = json_object_get(r, "tags");
    CM_ASSERT(json_is_array(tags) && json_array_size(tags) <= 8);
    double prev = 2.0;
    size_t i;
    json_t *v;
    json_array_foreach(tags, i, v)
    {
        double s = json_number_value(json_object_get(v, "score"));
        CM_ASSERT(s <= prev && json_string_value(json_object_get(v, "tag")) != NULL);
        prev = s;
    }
    char *dump = json_dumps(r, JSON_COMPACT);
    CM_ASSERT(dump != NULL);
    free(dump);
    json_decref(r);
    free(p);
    rt_tags_free(t);
    rt_tags_free(u);
    return 0;
}
