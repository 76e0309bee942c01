/*
 * rt_tags.h: the tag table of a multi-label tagger and the choice of tags
 * from its probabilities (task "tag"; used by tasks/rt_task.c, the fuzz
 * target and the unit tests).
 *
 * The table is the CSV WD14-style taggers ship beside their model
 * (selected_tags.csv): a header row naming the columns, then one row per
 * model output in output order.  Columns by name: `name` (required), `category`
 * (optional: a number, 0 general, 1 artist, 3 copyright, 4 character, 5
 * meta, 9 rating, or one of those words; default 0), `threshold`
 * (optional, 0..1, this tag's own cut) and any others (`tag_id`, `count`:
 * ignored).  RFC 4180 quoting ("a,b", "say ""hi""") is understood; a UTF-8
 * byte order mark is skipped.  The file is operator-installed but parsed
 * as untrusted bytes (fuzz target `tags`).
 *
 *   struct rt_tags *t;
 *   rt_tags_parse(buf, len, 1, &t, &e);       (1: underscores -> spaces)
 *   struct rt_tags_opts o = rt_tags_opts_default();
 *   json_t *r = rt_tags_result(t, &o, probs, n);   {"tags":[...], "rating":{...}}
 *   rt_tags_free(t);
 */
#ifndef VKV_RT_TAGS_H
#define VKV_RT_TAGS_H

#include "common/err.h"

#include <jansson.h>
#include <stddef.h>

#define RT_TAGS_MAX 65536          /* rows (WD14 v3 taggers have 10861) */
#define RT_TAGS_NAME_MAX 128       /* bytes of one name, with its NUL */
#define RT_TAGS_FILE_MAX (8 << 20) /* bytes of the CSV */
#define RT_TAGS_CATS 100           /* categories 0..99 */
#define RT_TAGS_CAT_RATING 9

struct rt_tags;

/*
 * Parses the CSV in buf[0..len).  spaces: 1 turns underscores into spaces
 * (the WD14 convention: "long_hair" -> "long hair"), except in the names
 * that are drawn faces ("^_^", "o_o", ...).  Returns 0 with *out a new table
 * (caller frees with rt_tags_free) or RT_ERR_INVALID with e naming the line
 * and what is wrong (code invalid_tags); nothing is left allocated then.
 */
int rt_tags_parse(const char *buf, size_t len, int spaces, struct rt_tags **out, struct err *e);

/* frees t; NULL ok */
void rt_tags_free(struct rt_tags *t);

/* rows of t; cannot fail */
int rt_tags_count(const struct rt_tags *t);

/* the name and category of row i (0 <= i < count); borrowed, valid until rt_tags_free */
const char *rt_tags_name(const struct rt_tags *t, int i);
int rt_tags_category(const struct rt_tags *t, int i);

/* the word of a category ("general", ..., "rating"), else NULL */
const char *rt_tags_category_word(int cat);

struct rt_tags_opts {
    float threshold[RT_TAGS_CATS]; /* per category; a row's own threshold wins */
    int max_tags;                  /* at most this many in "tags" */
    int sigmoid;                   /* 1: the outputs are logits */
};

/* WD14's usual cuts: 0.35 for every category, 0.85 for characters; 64 tags; cannot fail */
struct rt_tags_opts rt_tags_opts_default(void);

/*
 * The result of one image from its n outputs p[0..n) (n must equal the
 * table's count; the caller checks it at load):
 *   {"tags": [{"tag", "category", "score"}...],   best first, each at or
 *             over its threshold, rating rows excluded, at most max_tags
 *    "rating": {"tag", "score"}}                 the best rating row, only
 *                                                when the table has one
 * category is the word of the category, or its number as a string.
 * Returns a new object (caller decrefs); aborts only on out of memory.
 */
json_t *rt_tags_result(const struct rt_tags *t, const struct rt_tags_opts *o, const float *p,
                       int n);

#endif
