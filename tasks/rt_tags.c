/*
 * rt_tags.c: WD14-style tag tables (CSV) and the multi-label choice of
 * tags (see rt_tags.h).
 *
 * The CSV is read in one pass over the bytes: every field is copied into
 * a bounded buffer, so a hostile file costs at most its own size.  Names
 * must be valid UTF-8 without control characters, because they go into
 * JSON results as they are.
 */
#include "tasks/rt_tags.h"

#include "common/cm.h"
#include "runtime/rt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BADT(...) err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_tags", __VA_ARGS__)
#define FIELDS_MAX 16

struct rt_tags {
    int n;
    char **name;
    int *cat;
    float *thr; /* < 0: the category's */
};

/* tag names that are faces drawn with underscores keep them (WD14's list) */
static const char *const kaomoji[] = {"0_0", "(o)_(o)", "+_+", "+_-", "._.",   "<o>_<o>", "<|>_<|>",
                                      "=_=", ">_<",     "3_3", "6_9", ">_o",   "@_@",     "^_^",
                                      "o_o", "u_u",     "x_x", "|_|", "||_||", NULL};

static const char *const cat_words[RT_TAGS_CATS] = {
    [0] = "general",   [1] = "artist", [3] = "copyright",
    [4] = "character", [5] = "meta",   [RT_TAGS_CAT_RATING] = "rating"};

const char *rt_tags_category_word(int cat)
{
    return cat >= 0 && cat < RT_TAGS_CATS ? cat_words[cat] : NULL;
}

void rt_tags_free(struct rt_tags *t)
{
    if (t == NULL)
        return;
    for (int i = 0; i < t->n; i++)
        free(t->name[i]);
    free(t->name);
    free(t->cat);
    free(t->thr);
    free(t);
}

int rt_tags_count(const struct rt_tags *t)
{
    return t ? t->n : 0;
}

const char *rt_tags_name(const struct rt_tags *t, int i)
{
    return t->name[i];
}

int rt_tags_category(const struct rt_tags *t, int i)
{
    return t->cat[i];
}

/* 1 when s[0..n) is UTF-8 without control characters (JSON-safe as is) */
static int utf8_clean(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        unsigned min;
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            k = 1, min = 0x80, c &= 0x1f;
        else if ((c & 0xf0) == 0xe0)
            k = 2, min = 0x800, c &= 0x0f;
        else if ((c & 0xf8) == 0xf0)
            k = 3, min = 0x10000, c &= 0x07;
        else
            return 0;
        if (k >= n - i)
            return 0; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + j] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* one CSV record: fields copied into f[0..*nf) (each < RT_TAGS_NAME_MAX bytes) */
struct rec {
    char f[FIELDS_MAX][RT_TAGS_NAME_MAX];
    size_t len[FIELDS_MAX];
    int nf;
};

/*
 * Reads the record at *pos of buf[0..len) into r and moves *pos past its
 * line end.  Returns 1 with a record, 0 at the end, <0 with e set.
 */
static int rec_read(const char *buf, size_t len, size_t *pos, int line, struct rec *r,
                    struct err *e)
{
    size_t p = *pos;
    if (p >= len)
        return 0;
    r->nf = 0;
    for (;;) {
        if (r->nf >= FIELDS_MAX)
            return BADT("tags line %d: more than %d columns", line, FIELDS_MAX);
        char *o = r->f[r->nf];
        size_t n = 0;
        int quoted = p < len && buf[p] == '"';
        if (quoted)
            p++;
        for (;;) {
            if (p >= len) {
                if (quoted)
                    return BADT("tags line %d: a quoted field is not closed", line);
                break;
            }
            char c = buf[p];
            if (quoted && c == '"') {
                if (p + 1 < len && buf[p + 1] == '"') {
                    p++;
                } else {
                    p++;
                    if (p < len && buf[p] != ',' && buf[p] != '\n' && buf[p] != '\r')
                        return BADT("tags line %d: text after a closing quote", line);
                    break;
                }
            } else if (!quoted && (c == ',' || c == '\n' || c == '\r')) {
                break;
            } else if (!quoted && c == '"') {
                return BADT("tags line %d: a quote inside an unquoted field", line);
            }
            if (n + 1 >= RT_TAGS_NAME_MAX)
                return BADT("tags line %d: a field longer than %d bytes", line,
                            RT_TAGS_NAME_MAX - 1);
            o[n++] = buf[p++];
        }
        o[n] = '\0';
        r->len[r->nf++] = n;
        if (p < len && buf[p] == ',') {
            p++;
            continue;
        }
        if (p < len && buf[p] == '\r')
            p++;
        if (p < len && buf[p] == '\n')
            p++;
        else if (p < len)
            return BADT("tags line %d: a carriage return alone", line);
        break;
    }
    *pos = p;
    return 1;
}

static int col_find(const struct rec *h, const char *name)
{
    for (int i = 0; i < h->nf; i++)
        if (strcmp(h->f[i], name) == 0)
            return i;
    return -1;
}

static int cat_parse(const char *s, int *out)
{
    for (int c = 0; c < RT_TAGS_CATS; c++)
        if (cat_words[c] && strcmp(s, cat_words[c]) == 0) {
            *out = c;
            return 0;
        }
    if (s[0] == '\0' || strlen(s) > 2)
        return -1;
    int v = 0;
    for (const char *q = s; *q; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        v = v * 10 + (*q - '0');
    }
    *out = v;
    return 0;
}

static void underscores(char *s)
{
    for (int k = 0; kaomoji[k]; k++)
        if (strcmp(s, kaomoji[k]) == 0)
            return;
    for (; *s; s++)
        if (*s == '_')
            *s = ' ';
}

int rt_tags_parse(const char *buf, size_t len, int spaces, struct rt_tags **out, struct err *e)
{
    *out = NULL;
    if (len > RT_TAGS_FILE_MAX)
        return BADT("tags file of %zu bytes, over the limit of %d", len, RT_TAGS_FILE_MAX);
    size_t pos = 0;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    struct rec *h = cm_xcalloc(2, sizeof(*h)), *r = h + 1;
    struct rt_tags *t = cm_xcalloc(1, sizeof(*t));
    /* rows are at most the lines, and at most RT_TAGS_MAX are kept */
    int cap = 1;
    for (size_t i = pos; i < len && cap <= RT_TAGS_MAX; i++)
        cap += buf[i] == '\n';
    t->name = cm_xcalloc((size_t)cap, sizeof(*t->name));
    t->cat = cm_xcalloc((size_t)cap, sizeof(*t->cat));
    t->thr = cm_xcalloc((size_t)cap, sizeof(*t->thr));
    int rc = rec_read(buf, len, &pos, 1, h, e);
    int ci = -1, cc = -1, ct = -1;
    if (rc == 0)
        rc = BADT("tags file is empty");
    if (rc > 0) {
        ci = col_find(h, "name");
        cc = col_find(h, "category");
        ct = col_find(h, "threshold");
        rc = ci < 0 ? BADT("tags header has no \"name\" column") : 0;
    }
    for (int line = 2; rc == 0; line++) {
        int got = rec_read(buf, len, &pos, line, r, e);
        if (got <= 0) {
            rc = got;
            break;
        }
        if (r->nf == 1 && r->len[0] == 0)
            continue; /* an empty line */
        if (r->nf != h->nf) {
            rc = BADT("tags line %d: %d columns, the header has %d", line, r->nf, h->nf);
            break;
        }
        if (t->n >= RT_TAGS_MAX) {
            rc = BADT("more than %d tags", RT_TAGS_MAX);
            break;
        }
        if (r->len[ci] == 0 || !utf8_clean((const unsigned char *)r->f[ci], r->len[ci])) {
            rc = BADT("tags line %d: the name is empty, not UTF-8 or has control characters", line);
            break;
        }
        int cat = 0;
        if (cc >= 0 && cat_parse(r->f[cc], &cat) != 0) {
            rc = BADT("tags line %d: category \"%.32s\" is not 0..%d or a category word", line,
                      r->f[cc], RT_TAGS_CATS - 1);
            break;
        }
        float thr = -1.0f;
        if (ct >= 0 && r->len[ct] > 0) {
            char *end;
            double v = strtod(r->f[ct], &end);
            if (*end != '\0' || !(v >= 0.0 && v <= 1.0)) {
                rc = BADT("tags line %d: threshold \"%.32s\" is not a number in 0..1", line,
                          r->f[ct]);
                break;
            }
            thr = (float)v;
        }
        CM_ASSERT(t->n < cap);
        t->name[t->n] = cm_xstrdup(r->f[ci]);
        if (spaces)
            underscores(t->name[t->n]);
        t->cat[t->n] = cat;
        t->thr[t->n] = thr;
        t->n++;
    }
    free(h);
    if (rc == 0 && t->n == 0)
        rc = BADT("tags file has a header and no tags");
    if (rc < 0) {
        rt_tags_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

struct rt_tags_opts rt_tags_opts_default(void)
{
    struct rt_tags_opts o;
    memset(&o, 0, sizeof(o));
    for (int c = 0; c < RT_TAGS_CATS; c++)
        o.threshold[c] = 0.35f;
    o.threshold[4] = 0.85f;
    o.max_tags = 64;
    return o;
}

struct pick {
    int i;
    float s;
};

static int pick_cmp(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->i - y->i;
}

/* rounded to 6 decimals, as every task's scores */
static double r6(double x)
{
    return round(x * 1e6) / 1e6;
}

json_t *rt_tags_result(const struct rt_tags *t, const struct rt_tags_opts *o, const float *p, int n)
{
    CM_ASSERT(n == t->n);
    struct pick *pk = cm_xcalloc((size_t)(n > 0 ? n : 1), sizeof(*pk));
    int np = 0, best_rating = -1;
    float best_rs = -1.0f;
    for (int i = 0; i < n; i++) {
        float s = p[i];
        if (!(s == s))
            s = o->sigmoid ? -INFINITY : 0.0f; /* NaN: never over a threshold */
        if (o->sigmoid)
            s = 1.0f / (1.0f + expf(-fmaxf(-80.0f, fminf(80.0f, s))));
        if (t->cat[i] == RT_TAGS_CAT_RATING) {
            if (s > best_rs) {
                best_rs = s;
                best_rating = i;
            }
            continue;
        }
        float thr = t->thr[i] >= 0 ? t->thr[i] : o->threshold[t->cat[i]];
        if (s >= thr)
            pk[np++] = (struct pick){i, s};
    }
    qsort(pk, (size_t)np, sizeof(*pk), pick_cmp);
    json_t *tags = json_array();
    for (int k = 0; k < np && k < o->max_tags; k++) {
        int i = pk[k].i;
        char num[8];
        const char *w = rt_tags_category_word(t->cat[i]);
        if (w == NULL) {
            snprintf(num, sizeof(num), "%d", t->cat[i]);
            w = num;
        }
        json_t *one =
            json_pack("{s:s, s:s, s:f}", "tag", t->name[i], "category", w, "score", r6(pk[k].s));
        CM_ASSERT(one != NULL);
        json_array_append_new(tags, one);
    }
    free(pk);
    json_t *res = json_pack("{s:o}", "tags", tags);
    CM_ASSERT(res != NULL);
    if (best_rating >= 0)
        json_object_set_new(
            res, "rating",
            json_pack("{s:s, s:f}", "tag", t->name[best_rating], "score", r6(best_rs)));
    return res;
}
