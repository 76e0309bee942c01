/*
 * test_tags.c: the tagger's tag table and choice of tags (tasks/rt_tags.c):
 * WD14's CSV as shipped, quoting, thresholds per row and per category,
 * ratings, ordering and the limit, and hostile tables (every refusal names
 * its line, nothing is left allocated: run under ASan by the sanitizer
 * build).  Run by suite 38-tagger.
 */
#include "tests/lib/th.h"

#include "tasks/rt_tags.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct rt_tags *parse(const char *csv, int spaces, struct err *e)
{
    struct rt_tags *t = NULL;
    err_clear(e);
    if (rt_tags_parse(csv, strlen(csv), spaces, &t, e) != 0)
        TH_CHECK(t == NULL, "a refused table leaves nothing (%s)", e->msg);
    return t;
}

static void test_wd14(void)
{
    struct err e;
    const char *csv = "tag_id,name,category,count\n"
                      "9999999,general,9,807489\n"
                      "9999998,sensitive,9,377165\n"
                      "470575,1girl,0,4225150\n"
                      "1821,long_hair,0,2788683\n"
                      "402,^_^,0,18302\n"
                      "1232,hatsune_miku,4,144870\n";
    struct rt_tags *t = parse(csv, 1, &e);
    TH_CHECK(t != NULL, "WD14's selected_tags.csv layout parses");
    if (t == NULL)
        return;
    TH_EQ_INT(rt_tags_count(t), 6, "one row per tag");
    TH_EQ_STR(rt_tags_name(t, 3), "long hair", "underscores become spaces");
    TH_EQ_STR(rt_tags_name(t, 4), "^_^", "a drawn face keeps its underscore");
    TH_EQ_INT(rt_tags_category(t, 5), 4, "category read");
    float p[6] = {0.2f, 0.7f, 0.36f, 0.34f, 0.9f, 0.84f};
    struct rt_tags_opts o = rt_tags_opts_default();
    json_t *r = rt_tags_result(t, &o, p, 6);
    json_t *tags = json_object_get(r, "tags");
    TH_EQ_INT((int)json_array_size(tags), 2, "two tags over their thresholds (0.35, 0.85)");
    TH_EQ_STR(json_string_value(json_object_get(json_array_get(tags, 0), "tag")), "^_^",
              "best first");
    TH_EQ_STR(json_string_value(json_object_get(json_array_get(tags, 1), "tag")), "1girl",
              "then the next");
    TH_EQ_STR(json_string_value(json_object_get(json_array_get(tags, 1), "category")), "general",
              "category as a word");
    TH_EQ_STR(json_string_value(json_object_get(json_object_get(r, "rating"), "tag")), "sensitive",
              "the best rating is the rating, whatever the thresholds");
    json_decref(r);
    /* the character cut moves with the manifest */
    o.threshold[4] = 0.5f;
    o.max_tags = 2;
    r = rt_tags_result(t, &o, p, 6);
    tags = json_object_get(r, "tags");
    TH_EQ_INT((int)json_array_size(tags), 2, "max_tags caps the list");
    TH_EQ_STR(json_string_value(json_object_get(json_array_get(tags, 1), "tag")), "hatsune miku",
              "a character over its category's threshold");
    json_decref(r);
    /* logits */
    o = rt_tags_opts_default();
    o.sigmoid = 1;
    float lg[6] = {0, 0, 2.0f, -2.0f, NAN, 10.0f};
    r = rt_tags_result(t, &o, lg, 6);
    tags = json_object_get(r, "tags");
    TH_EQ_INT((int)json_array_size(tags), 2, "sigmoid of logits; NaN is never a tag");
    TH_CHECK(fabs(json_number_value(json_object_get(json_array_get(tags, 1), "score")) - 0.880797) <
                 1e-6,
             "score = sigmoid(2) rounded to 6 decimals");
    json_decref(r);
    rt_tags_free(t);
    t = parse(csv, 0, &e);
    TH_EQ_STR(t ? rt_tags_name(t, 3) : "", "long_hair", "underscores kept when asked");
    rt_tags_free(t);
}

static void test_quoting(void)
{
    struct err e;
    struct rt_tags *t = parse("\xef\xbb\xbfname,category,threshold\r\n"
                              "\"sky, blue\",general,0.5\r\n"
                              "\"say \"\"hi\"\"\",meta,\r\n"
                              "\r\n"
                              "cloud,7,0.25",
                              1, &e);
    TH_CHECK(t != NULL, "BOM, CRLF, quotes, an empty line, no final newline: %s", e.msg);
    if (t == NULL)
        return;
    TH_EQ_INT(rt_tags_count(t), 3, "three rows");
    TH_EQ_STR(rt_tags_name(t, 0), "sky, blue", "a comma inside quotes");
    TH_EQ_STR(rt_tags_name(t, 1), "say \"hi\"", "doubled quotes");
    TH_EQ_INT(rt_tags_category(t, 1), 5, "category word meta = 5");
    float p[3] = {0.45f, 0.4f, 0.3f};
    struct rt_tags_opts o = rt_tags_opts_default();
    json_t *r = rt_tags_result(t, &o, p, 3);
    json_t *tags = json_object_get(r, "tags");
    TH_EQ_INT((int)json_array_size(tags), 2, "row thresholds win: 0.45 < 0.5 out, 0.3 >= 0.25 in");
    TH_EQ_STR(json_string_value(json_object_get(json_array_get(tags, 1), "category")), "7",
              "a category without a word as its number");
    TH_CHECK(json_object_get(r, "rating") == NULL, "no rating rows, no rating");
    json_decref(r);
    rt_tags_free(t);
}

static void test_hostile(void)
{
    static const struct {
        const char *csv;
        const char *what;
    } bad[] = {
        {"", "empty"},
        {"name\n", "header only"},
        {"tag_id,category\n1,0\n", "no name column"},
        {"name,category\nsky\n", "short row"},
        {"name\nsky,extra\n", "long row"},
        {"name,category\nsky,100\n", "category out of range"},
        {"name,category\nsky,-1\n", "negative category"},
        {"name,category\nsky,generic\n", "unknown category word"},
        {"name,threshold\nsky,1.5\n", "threshold over 1"},
        {"name,threshold\nsky,nan\n", "threshold nan"},
        {"name,threshold\nsky,0.5x\n", "threshold with junk"},
        {"name\n\"open\n", "unclosed quote"},
        {"name\n\"a\"b\n", "text after a closing quote"},
        {"name\nab\"c\n", "a quote in an unquoted field"},
        {"name\nline\rbreak\n", "a lone carriage return"},
        {"name\n\xff\xfe\n", "invalid UTF-8"},
        {"name\n\xed\xa0\x80\n", "a surrogate"},
        {"name\n\xc0\xaf\n", "an overlong encoding"},
        {"name\n\xe6\x97\n", "a truncated sequence"},
        {"name\n\"tab\there\"\n", "a control character"},
        {"name\n\"\"\n", "an empty name"},
        {"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,name\n", "too many columns"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err e;
        struct rt_tags *t = parse(bad[i].csv, 1, &e);
        TH_CHECK(t == NULL && strcmp(e.code, "invalid_tags") == 0 && e.msg[0] != '\0',
                 "refused: %s (%s)", bad[i].what, e.msg);
        rt_tags_free(t);
    }
    /* a name at the limit, and one over it */
    char buf[400];
    memset(buf, 0, sizeof(buf));
    strcpy(buf, "name\n");
    memset(buf + 5, 'a', RT_TAGS_NAME_MAX - 1);
    struct err e;
    struct rt_tags *t = parse(buf, 1, &e);
    TH_CHECK(t != NULL, "a name of %d bytes is kept", RT_TAGS_NAME_MAX - 1);
    rt_tags_free(t);
    buf[5 + RT_TAGS_NAME_MAX - 1] = 'a';
    t = parse(buf, 1, &e);
    TH_CHECK(t == NULL && strstr(e.msg, "longer") != NULL, "one byte more is refused: %s", e.msg);
    /* more rows than RT_TAGS_MAX */
    size_t big = 5 + (size_t)(RT_TAGS_MAX + 1) * 2;
    char *many = malloc(big + 1);
    TH_CHECK(many != NULL, "allocated");
    if (many != NULL) {
        memcpy(many, "name\n", 5);
        for (size_t k = 5; k < big; k += 2) {
            many[k] = 'x';
            many[k + 1] = '\n';
        }
        many[big] = '\0';
        t = parse(many, 1, &e);
        TH_CHECK(t == NULL && strstr(e.msg, "more than") != NULL, "%d rows refused: %s",
                 RT_TAGS_MAX + 1, e.msg);
        many[5 + (size_t)RT_TAGS_MAX * 2] = '\0';
        t = parse(many, 1, &e);
        TH_EQ_INT(rt_tags_count(t), RT_TAGS_MAX, "%d rows kept", RT_TAGS_MAX);
        rt_tags_free(t);
        free(many);
    }
}

int main(void)
{
    test_wd14();
    test_quoting();
    test_hostile();
    return th_done();
}
