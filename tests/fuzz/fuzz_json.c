/*
 * fuzz_json.c: api_json_parse (fcgi/api_req.c), the JSON body parser that
 * cuts long plain string values out before jansson and puts them back.
 *
 * The first byte picks the shortest string cut (1..32 bytes, so that
 * short inputs take the cutting path) and whether duplicate keys are
 * refused; the rest is the text.  Checks, besides "no crash": the result
 * is exactly plain json_loadb's on the same text -- both NULL with the
 * same error text, line, column and position, or values json_equal and
 * dumping to the same bytes.  See tests/fuzz/README.md.
 */
#include "tests/fuzz/fuzz.h"

#include "common/cm.h"
#include "fcgi/api.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t min_len = 1 + (data[0] & 31);
    size_t flags = (data[0] & 32) ? JSON_REJECT_DUPLICATES : 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    json_error_t ea, eb;
    memset(&ea, 0, sizeof ea);
    memset(&eb, 0, sizeof eb);
    json_t *a = api_json_parse(p, n, min_len, flags, &ea);
    json_t *b = json_loadb(p, n, flags, &eb);
    CM_ASSERT((a == NULL) == (b == NULL));
    if (a == NULL) {
        CM_ASSERT(strcmp(ea.text, eb.text) == 0 && ea.line == eb.line && ea.column == eb.column &&
                  ea.position == eb.position);
        return 0;
    }
    CM_ASSERT(json_equal(a, b));
    char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    CM_ASSERT(da != NULL && db != NULL && strcmp(da, db) == 0);
    free(da);
    free(db);
    json_decref(a);
    json_decref(b);
    return 0;
}
