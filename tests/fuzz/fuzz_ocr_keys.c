/*
 * fuzz_ocr_keys.c: the OCR character list parser (rt_ocr_keys_parse,
 * tasks/rt_task_ocr.c): one UTF-8 character per line, read from a model
 * folder an operator may fill.
 *
 * On success every entry must be one valid, non-empty, NUL-terminated
 * character inside the block, and the count at most the line count.
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "common/cm.h"
#include "tasks/rt_task_ocr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *chars = NULL;
    uint32_t *offs = NULL;
    struct err e;
    err_clear(&e);
    int n = rt_ocr_keys_parse(data, size, &chars, &offs, &e);
    if (n < 0) {
        CM_ASSERT(chars == NULL && offs == NULL && e.msg[0] != '\0');
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    CM_ASSERT(n >= 1 && (size_t)n <= lines);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(chars + offs[i]);
        CM_ASSERT(offs[i] + l < size + 1 && l >= 1 && l <= 4);
    }
    free(chars);
    free(offs);
    return 0;
}
