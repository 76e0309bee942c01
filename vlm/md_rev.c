/*
 * md_rev.c: a Moondream 2 directory's revision and tokenizer (see md_rev.h).
 */
#include "vlm/md_rev.h"

#include "runtime/rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* guidance first: a long directory name is what err's message cuts */
#define STARMIE_HINT                                                                               \
    "revision 2025-06-21 needs tokenizer.json of https://huggingface.co/moondream/starmie-v1 "     \
    "(the one in vikhyatk/moondream2@2025-06-21 is the older GPT-2 tokenizer it no longer "        \
    "uses): put it in %s"

static char *read_small(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *p = malloc(max + 1);
    size_t k = p ? fread(p, 1, max, f) : 0;
    fclose(f);
    if (p != NULL)
        p[k] = 0;
    return p;
}

int mdr_known(const char *r)
{
    if (strcmp(r, "2025-06-21") == 0)
        return MDR_REV_STARMIE;
    if (strcmp(r, "2025-01-09") == 0 || strcmp(r, "2025-03-27") == 0 ||
        strcmp(r, "2025-04-14") == 0)
        return MDR_REV_LEGACY;
    return 0;
}

int mdr_detect(const char *dir, const char *revision, struct tok_tokenizer **tokp,
               struct mdr_info *out, struct err *e)
{
    char path[4096];
    int rev = 0;
    memset(out, 0, sizeof *out);
    char *txt = NULL;
    if (revision == NULL) {
        snprintf(path, sizeof path, "%s/revision", dir);
        txt = read_small(path, 64);
        if (txt != NULL)
            txt[strcspn(txt, " \r\n")] = 0;
        revision = txt;
    } else {
        snprintf(path, sizeof path, "--revision");
    }
    if (revision != NULL) {
        rev = mdr_known(revision);
        if (rev == 0) {
            err_set(e, RT_UNSUPPORTED, ERR_INVALID, "unsupported_revision",
                    "%s: revision \"%s\" unknown (2025-01-09, 2025-03-27, 2025-04-14 or "
                    "2025-06-21; earlier revisions have another architecture)",
                    path, revision);
            free(txt);
            return RT_UNSUPPORTED;
        }
        snprintf(out->revision, sizeof out->revision, "%s", revision);
        free(txt);
    } else {
        snprintf(path, sizeof path, "%s/moondream.py", dir);
        txt = read_small(path, 1 << 20);
        if (txt != NULL) {
            rev = strstr(txt, "starmie") != NULL ? MDR_REV_STARMIE : MDR_REV_LEGACY;
            snprintf(out->revision, sizeof out->revision, "%s",
                     rev == MDR_REV_STARMIE ? "2025-06-21" : "2025-04-14");
            free(txt);
        }
    }
    /* the tokenizer, and whether it is the one the revision needs */
    struct tok_tokenizer *tok = NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = tok_load(&tok, path, NULL, e);
    if (rc < 0) {
        if (rev == MDR_REV_STARMIE)
            err_set(e, RT_ERR_INVALID, ERR_INVALID, "tokenizer_missing", STARMIE_HINT, dir);
        return RT_ERR_INVALID;
    }
    int starmie = tok_id(tok, "<|md_reserved_0|>") >= 0 || tok_id(tok, "<|endoftext|>") == 0;
    int gpt2 = tok_id(tok, "<|endoftext|>") == 50256;
    rc = 0;
    if (rev == MDR_REV_STARMIE && !starmie)
        rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "wrong_tokenizer", STARMIE_HINT, dir);
    else if (rev == MDR_REV_LEGACY && !gpt2)
        rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "wrong_tokenizer",
                     "revision %s uses the GPT-2 tokenizer of vikhyatk/moondream2@%s "
                     "(<|endoftext|> = 50256); %s has another one",
                     out->revision, out->revision, path);
    else if (rev == 0 && !starmie && !gpt2)
        rc = err_set(e, RT_ERR_INVALID, ERR_INVALID, "wrong_tokenizer",
                     "%s is neither Moondream 2's GPT-2 tokenizer nor starmie-v1", path);
    if (rc < 0) {
        tok_free(tok);
        return rc;
    }
    if (rev == 0) {
        rev = starmie ? MDR_REV_STARMIE : MDR_REV_LEGACY;
        snprintf(out->revision, sizeof out->revision, "%s", starmie ? "2025-06-21" : "2025-04-14");
    }
    out->rev = rev;
    out->bos = out->eos = rev == MDR_REV_STARMIE ? 0 : 50256;
    if (tokp != NULL)
        *tokp = tok;
    else
        tok_free(tok);
    return 0;
}
