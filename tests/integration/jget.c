/*
 * jget.c: prints one field of a JSON file, for the shell tests (python or
 * node would cost a second per call on a loaded 2-core machine).
 *
 *   api_jget FILE PATH      PATH: dotted keys, numbers index arrays
 *                           ("error.code", "jobs.0.id"); "" = the root
 *
 * Strings print raw, true/false/numbers as JSON, objects and arrays as
 * compact JSON, null or a missing path as nothing.  Exit 0 always (a bad
 * file prints nothing), so tests compare the output.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 0;
    json_t *root = json_load_file(argv[1], JSON_DECODE_ANY, NULL);
    json_t *v = root;
    char *path = strdup(argv[2]);
    for (char *tok = strtok(path, "."); v && tok; tok = strtok(NULL, ".")) {
        if (json_is_array(v)) {
            char *end;
            long i = strtol(tok, &end, 10);
            v = *end == '\0' && i >= 0 ? json_array_get(v, (size_t)i) : NULL;
        } else {
            v = json_object_get(v, tok);
        }
    }
    if (v == NULL || json_is_null(v)) {
    } else if (json_is_string(v)) {
        fputs(json_string_value(v), stdout);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s)
            fputs(s, stdout);
        free(s);
    }
    putchar('\n');
    free(path);
    json_decref(root);
    return 0;
}
