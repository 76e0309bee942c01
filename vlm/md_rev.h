/*
 * md_rev.h: which Moondream 2 revision a model directory holds, and whether
 * its tokenizer.json is the one that revision needs (prefix mdr_).
 *
 * One rule, shared by the loader (mdt_open) and the installer (vkv-admin
 * model install), so a directory the installer accepts is one the worker
 * loads.  No device, no weights: only the small files are read.
 *
 * The revision comes from, in order: the caller (an operator's
 * --revision), DIR/revision (one line), DIR/moondream.py when the operator
 * copied the repository's code (it names "starmie" from 2025-06-21 on),
 * else the tokenizer's shape: starmie-v1 (<|endoftext|> = 0,
 * <|md_reserved_N|>) means 2025-06-21, GPT-2's (<|endoftext|> = 50256) the
 * earlier 2025 revisions.  2025-06-21 with GPT-2's tokenizer (the
 * tokenizer.json inside that revision's own repository) or with none is
 * refused, naming the file needed.
 */
#ifndef VKV_MD_REV_H
#define VKV_MD_REV_H

#include "common/err.h"
#include "import/tok.h"

#include <stdint.h>

enum mdr_rev {
    MDR_REV_LEGACY = 1, /* 2025-01-09, 2025-03-27, 2025-04-14: GPT-2 tokenizer, bos = eos = 50256 */
    MDR_REV_STARMIE = 2, /* 2025-06-21: starmie-v1 tokenizer, bos = eos = 0 */
};

struct mdr_info {
    int rev;           /* enum mdr_rev */
    char revision[32]; /* "2025-06-21", ... */
    uint32_t bos, eos;
};

/* enum mdr_rev of a revision name, or 0 when it is not a 2025 revision */
int mdr_known(const char *revision);

/*
 * Detects dir's revision (revision: the caller's, or NULL) and loads its
 * tokenizer.json.  Returns 0 with *out filled and, when tok is not NULL,
 * *tok a new tokenizer (caller frees with tok_free); or <0 (RT status
 * values: -1 invalid, -4 unsupported) with e set: codes
 * unsupported_revision, tokenizer_missing, wrong_tokenizer.
 */
int mdr_detect(const char *dir, const char *revision, struct tok_tokenizer **tok,
               struct mdr_info *out, struct err *e);

#endif
