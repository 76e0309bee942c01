/*
 * test_tok.c: the tokenizer (import/tok.c): encode/decode on a tokenizer
 * built here, the stream decoder, the GPT-2 split pattern's Unicode classes
 * and hostile tokenizer.json files.
 *
 *   test_tok                          the unit tests (suite 10-unit)
 *   test_tok --dump TOK.json CORPUS   one JSON line {"ids", "text"} per string
 *                                     of the JSON array CORPUS (suite 12-import
 *                                     compares them with @huggingface/tokenizers);
 *                                     exits 1 if the stream decoder ever disagrees
 *                                     with tok_decode
 *   test_tok --dump-decode TOK.json IDS   one JSON line {"ids", "text"} per id list
 *                                     of the JSON array of arrays IDS, decoded by
 *                                     the stream decoder (checked against tok_decode)
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "import/tok.h"
#include "tests/lib/th.h"

/* vocab: the 256 byte-level characters (id = byte) + merges below */
static char *mini_json(const char *extra_vocab, const char *merges, const char *added,
                       const char *pre)
{
    static const char *const hex = "0123456789abcdef";
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "{\"model\":{\"type\":\"BPE\",\"vocab\":{");
    int m = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        int cp = keep ? b : 256 + m++;
        char u[8];
        if (cp == '"' || cp == '\\')
            snprintf(u, sizeof u, "\\%c", cp);
        else if (cp < 0x80)
            snprintf(u, sizeof u, "%c", cp);
        else
            snprintf(u, sizeof u, "\\u%c%c%c%c", hex[cp >> 12], hex[(cp >> 8) & 15],
                     hex[(cp >> 4) & 15], hex[cp & 15]);
        n += (size_t)snprintf(s + n, cap - n, "%s\"%s\":%d", b ? "," : "", u, b);
    }
    n += (size_t)snprintf(s + n, cap - n, "%s%s},\"merges\":[%s]},", *extra_vocab ? "," : "",
                          extra_vocab, merges);
    n += (size_t)snprintf(s + n, cap - n,
                          "\"added_tokens\":[%s],\"normalizer\":null,\"pre_tokenizer\":%s,"
                          "\"decoder\":{\"type\":\"ByteLevel\"}}",
                          added, pre);
    return s;
}

#define BL "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}"

static struct tok_tokenizer *load(const char *json, struct err *e)
{
    struct tok_tokenizer *t = NULL;
    tok_load_mem(&t, json, strlen(json), NULL, e);
    return t;
}

static int enc_eq(struct tok_tokenizer *t, const char *text, const int32_t *want, size_t nw)
{
    int32_t *ids;
    size_t n;
    struct err e;
    if (tok_encode(t, text, strlen(text), &ids, &n, &e) != 0)
        return 0;
    int ok = n == nw && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!ok) {
        printf("# encode \"%s\":", text);
        for (size_t i = 0; i < n; i++)
            printf(" %d", ids[i]);
        printf("\n");
    }
    free(ids);
    return ok;
}

static void test_basic(void)
{
    struct err e;
    /* merges: "h e" -> he 256, "l l" -> ll 257, "he ll" -> hell 258, "Ġ w" -> Ġw 259 */
    char *j = mini_json("\"he\":256,\"ll\":257,\"hell\":258,\"\\u0120w\":259",
                        "\"h e\",[\"l\",\"l\"],\"he ll\",\"\\u0120 w\"",
                        "{\"id\":260,\"content\":\"<|eot|>\",\"special\":true},"
                        "{\"id\":261,\"content\":\"<s>\",\"special\":true,\"lstrip\":true,"
                        "\"rstrip\":true}",
                        BL);
    struct tok_tokenizer *t = load(j, &e);
    TH_CHECK(t != NULL, "mini tokenizer loads (%s)", t ? "" : e.msg);
    if (!t) {
        free(j);
        return;
    }
    TH_EQ_INT(tok_vocab_size(t), 262, "vocab size = largest id + 1");
    TH_CHECK(enc_eq(t, "hello", (int32_t[]){258, 'o'}, 2), "merges in rank order: hello = hell o");
    TH_CHECK(enc_eq(t, "hello world", (int32_t[]){258, 'o', 259, 'o', 'r', 'l', 'd'}, 7),
             "space joins the next word (Ġw)");
    TH_CHECK(enc_eq(t, "a<|eot|>b", (int32_t[]){'a', 260, 'b'}, 3), "special token matched first");
    TH_CHECK(enc_eq(t, "a  <s>  b", (int32_t[]){'a', 261, 'b'}, 3), "lstrip/rstrip absorb spaces");
    TH_CHECK(enc_eq(t, "", NULL, 0), "empty text, no ids");
    TH_EQ_INT(tok_id(t, "hell"), 258, "tok_id");
    TH_EQ_STR(tok_token(t, 260), "<|eot|>", "tok_token");
    TH_CHECK(tok_is_special(t, 260) && !tok_is_special(t, 258), "special flag");

    struct tok_buf b = {0};
    int32_t ids[] = {258, 'o', 260, 259};
    TH_EQ_INT(tok_decode(t, ids, 4, 0, &b, &e), 0, "decode");
    TH_EQ_STR(b.p, "hello<|eot|> w", "decode maps Ġ back to a space, specials verbatim");
    b.n = 0;
    tok_decode(t, ids, 4, 1, &b, &e);
    TH_EQ_STR(b.p, "hello w", "skip_special drops <|eot|>");
    b.n = 0;
    int32_t bad = 9999;
    TH_EQ_INT(tok_decode(t, &bad, 1, 0, &b, &e), TOK_ERR_ARG, "unknown id refused");
    TH_CHECK(strstr(e.msg, "unknown token id 9999") != NULL, "... %s", e.msg);

    /* stream: the 4 bytes of U+1F600 as 4 byte tokens */
    int32_t emoji[] = {0xf0, 0x9f, 0x98, 0x80};
    struct tok_stream s;
    tok_stream_init(&s);
    b.n = 0;
    size_t seen[4];
    for (int i = 0; i < 4; i++) {
        tok_stream_push(t, &s, emoji[i], 0, &b, &e);
        seen[i] = b.n;
    }
    TH_CHECK(seen[0] == 0 && seen[1] == 0 && seen[2] == 0 && seen[3] == 4,
             "stream holds a split emoji until its last byte");
    TH_EQ_STR(b.p, "\xf0\x9f\x98\x80", "stream emits the whole emoji");
    b.n = 0;
    tok_stream_push(t, &s, 0xf0, 0, &b, &e);
    tok_stream_push(t, &s, 0x9f, 0, &b, &e);
    tok_stream_push(t, &s, 'a', 0, &b, &e);
    TH_EQ_STR(b.p,
              "\xef\xbf\xbd"
              "a",
              "broken sequence: one U+FFFD then the next char");
    b.n = 0;
    tok_stream_push(t, &s, 0xe2, 0, &b, &e);
    tok_stream_flush(&s, &b);
    TH_EQ_STR(b.p, "\xef\xbf\xbd", "flush turns an incomplete tail into U+FFFD");
    b.n = 0;
    int32_t inv[] = {0xff, 0xc0, 0x80, 'x'};
    tok_decode(t, inv, 4, 0, &b, &e);
    TH_EQ_STR(b.p, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx", "invalid bytes: one U+FFFD each");
    b.n = 0;
    int32_t surr[] = {0xed, 0xa0, 0x80};
    tok_decode(t, surr, 3, 0, &b, &e);
    TH_EQ_STR(b.p, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "surrogate encoding: 3 x U+FFFD");
    free(b.p);

    /* invalid UTF-8 input encodes byte by byte without crashing */
    int32_t *out;
    size_t n;
    TH_EQ_INT(tok_encode(t,
                         "\xff\xfe"
                         "a",
                         3, &out, &n, &e),
              0, "invalid UTF-8 input encodes");
    TH_CHECK(n == 3 && out[0] == 0xff && out[1] == 0xfe && out[2] == 'a',
             "... as its bytes (%zu ids)", n);
    free(out);
    tok_free(t);
    free(j);
}

static void test_classes(void)
{
    TH_EQ_INT(tok_uclass('a'), 1, "a is a letter");
    TH_EQ_INT(tok_uclass(0x56fe), 1, "CJK ideograph is a letter");
    TH_EQ_INT(tok_uclass(0x0663), 2, "Arabic-Indic digit is a number");
    TH_EQ_INT(tok_uclass(0x00bd), 2, "1/2 is a number (No)");
    TH_EQ_INT(tok_uclass(0x3000), 3, "ideographic space is White_Space");
    TH_EQ_INT(tok_uclass(0x0085), 3, "NEL is White_Space");
    TH_EQ_INT(tok_uclass(0x200b), 0, "zero width space is not White_Space");
    TH_EQ_INT(tok_uclass(0x1f600), 0, "emoji is other");
    TH_EQ_INT(tok_uclass(0x0301), 0, "combining mark is other (Mn)");
}

static void hostile(const char *what, const char *json, int status, const char *want)
{
    struct err e;
    err_clear(&e);
    struct tok_tokenizer *t = (struct tok_tokenizer *)1;
    int rc = tok_load_mem(&t, json, strlen(json), NULL, &e);
    int ok = rc == status && t == NULL && strstr(e.msg, want);
    if (!ok)
        printf("# rc %d: %s\n", rc, e.msg);
    TH_CHECK(ok, "%s: refused with \"%s\"", what, want);
}

static void test_hostile(void)
{
    hostile("bad JSON", "{\"model\":", TOK_ERR_FORMAT, "bad JSON at line 1");
    hostile("not an object", "[]", TOK_ERR_FORMAT, "not a JSON object");
    hostile("WordPiece", "{\"model\":{\"type\":\"WordPiece\"}}", TOK_ERR_UNSUPP,
            "model type \"WordPiece\" is not supported");
    char *j = mini_json("", "\"a b\"", "", "{\"type\":\"Whitespace\"}");
    hostile("Whitespace pre-tokenizer", j, TOK_ERR_UNSUPP, "pre_tokenizer \"Whitespace\"");
    free(j);
    j = mini_json("", "\"a b\"", "", BL);
    hostile("merge making an unknown token", j, TOK_ERR_FORMAT,
            "merge 0 \"a b\" uses or makes a token not in the vocab");
    free(j);
    j = mini_json("", "\"ab\"", "", BL);
    hostile("merge without a space", j, TOK_ERR_FORMAT, "merge 0 \"ab\" is not \"a b\"");
    free(j);
    j = mini_json("", "[\"a\"]", "", BL);
    hostile("one-element merge", j, TOK_ERR_FORMAT, "neither");
    free(j);
    j = mini_json("\"zz\":65", "", "", BL);
    hostile("id reused", j, TOK_ERR_FORMAT, "id 65 is given to both");
    free(j);
    j = mini_json("\"zz\":-3", "", "", BL);
    hostile("negative id", j, TOK_ERR_FORMAT, "not a non-negative integer");
    free(j);
    j = mini_json("\"zz\":99999999", "", "", BL);
    hostile("huge id", j, TOK_ERR_LIMIT, "id 99999999 of zz exceeds the limit");
    free(j);
    j = mini_json("", "", "{\"id\":300,\"content\":\"<x>\",\"single_word\":true}", BL);
    hostile("single_word", j, TOK_ERR_UNSUPP, "single_word");
    free(j);
    j = mini_json("", "", "{\"id\":300,\"content\":\"\"}", BL);
    hostile("empty added token", j, TOK_ERR_FORMAT, "is empty");
    free(j);
    j = mini_json("", "", "",
                  "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
                  "{\"Regex\":\"\\\\w+\"},\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\","
                  "\"use_regex\":false}]}");
    hostile("other Split regex", j, TOK_ERR_UNSUPP, "Split pattern (only the GPT-2 one is)");
    free(j);
    hostile("duplicate keys",
            "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1,\"a\":2},\"merges\":[]},"
            "\"pre_tokenizer\":" BL ",\"decoder\":{\"type\":\"ByteLevel\"}}",
            TOK_ERR_FORMAT, "duplicate");
    hostile("normalizer",
            "{\"normalizer\":{\"type\":\"NFC\"},\"model\":{\"type\":\"BPE\",\"vocab\":{},"
            "\"merges\":[]},\"pre_tokenizer\":" BL ",\"decoder\":{\"type\":\"ByteLevel\"}}",
            TOK_ERR_UNSUPP, "normalizer \"NFC\"");
    hostile("no decoder",
            "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"pre_tokenizer\":" BL "}",
            TOK_ERR_UNSUPP, "decoder (byte-level BPE needs ByteLevel) \"null\"");
    struct tok_limits lim = {.max_vocab = 100};
    struct tok_tokenizer *t;
    struct err e;
    j = mini_json("", "", "", BL);
    TH_EQ_INT(tok_load_mem(&t, j, strlen(j), &lim, &e), TOK_ERR_LIMIT, "vocab limit");
    TH_CHECK(strstr(e.msg, "256 vocab entries, more than 100"), "... %s", e.msg);
    lim = (struct tok_limits){.max_file = 100};
    TH_EQ_INT(tok_load_mem(&t, j, strlen(j), &lim, &e), TOK_ERR_LIMIT, "file size limit");
    lim = (struct tok_limits){.max_text = 4};
    TH_EQ_INT(tok_load_mem(&t, j, strlen(j), &lim, &e), 0, "loads with a small text limit");
    int32_t *ids;
    size_t n;
    TH_EQ_INT(tok_encode(t, "hello", 5, &ids, &n, &e), TOK_ERR_LIMIT, "text limit");
    TH_CHECK(strstr(e.msg, "text of 5 bytes exceeds"), "... %s", e.msg);
    tok_free(t);
    free(j);
    TH_EQ_INT(tok_load(&t, "/nonexistent/tokenizer.json", NULL, &e), TOK_ERR_IO, "missing file");
}

static int dump(const char *tokp, const char *corpusp)
{
    struct err e;
    struct tok_tokenizer *t;
    if (tok_load(&t, tokp, NULL, &e) != 0) {
        fprintf(stderr, "test_tok: %s\n", e.msg);
        return 1;
    }
    json_error_t je;
    json_t *c = json_load_file(corpusp, JSON_ALLOW_NUL, &je);
    if (!json_is_array(c)) {
        fprintf(stderr, "test_tok: %s: %s\n", corpusp, je.text);
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < json_array_size(c); i++) {
        json_t *s = json_array_get(c, i);
        int32_t *ids;
        size_t n;
        if (tok_encode(t, json_string_value(s), json_string_length(s), &ids, &n, &e) != 0) {
            fprintf(stderr, "test_tok: text %zu: %s\n", i, e.msg);
            rc = 1;
            continue;
        }
        struct tok_buf full = {0}, st = {0};
        tok_decode(t, ids, n, 0, &full, &e);
        struct tok_stream ss;
        tok_stream_init(&ss);
        tok_buf_put(&st, "", 0);
        for (size_t k = 0; k < n; k++) {
            size_t before = st.n;
            tok_stream_push(t, &ss, ids[k], 0, &st, &e);
            /* every piece the stream emits is valid UTF-8 on its own */
            json_t *piece = json_stringn(st.p + before, st.n - before);
            if (!piece) {
                fprintf(stderr, "test_tok: text %zu: stream emitted invalid UTF-8\n", i);
                rc = 1;
            }
            json_decref(piece);
        }
        tok_stream_flush(&ss, &st);
        if (full.n != st.n || memcmp(full.p, st.p, full.n) != 0) {
            fprintf(stderr, "test_tok: text %zu: stream decode differs from tok_decode\n", i);
            rc = 1;
        }
        json_t *a = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(a, json_integer(ids[k]));
        json_t *o = json_pack("{s:o,s:s%}", "ids", a, "text", full.p, full.n);
        char *line = json_dumps(o, JSON_COMPACT);
        printf("%s\n", line);
        free(line);
        json_decref(o);
        free(full.p);
        free(st.p);
        free(ids);
    }
    json_decref(c);
    tok_free(t);
    return rc;
}

static int dump_decode(const char *tokp, const char *idsp)
{
    struct err e;
    struct tok_tokenizer *t;
    if (tok_load(&t, tokp, NULL, &e) != 0) {
        fprintf(stderr, "test_tok: %s\n", e.msg);
        return 1;
    }
    json_error_t je;
    json_t *c = json_load_file(idsp, 0, &je);
    int rc = json_is_array(c) ? 0 : 1;
    for (size_t i = 0; i < json_array_size(c); i++) {
        json_t *l = json_array_get(c, i);
        size_t n = json_array_size(l);
        int32_t *ids = calloc(n + 1, sizeof *ids);
        for (size_t k = 0; k < n; k++)
            ids[k] = (int32_t)json_integer_value(json_array_get(l, k));
        struct tok_buf full = {0}, st = {0};
        struct tok_stream ss;
        tok_stream_init(&ss);
        tok_buf_put(&st, "", 0);
        for (size_t k = 0; k < n; k++) {
            size_t before = st.n;
            if (tok_stream_push(t, &ss, ids[k], 0, &st, &e) != 0)
                rc = 1;
            json_t *piece = json_stringn(st.p + before, st.n - before);
            if (!piece)
                rc = 1; /* a piece that is not valid UTF-8 on its own */
            json_decref(piece);
        }
        tok_stream_flush(&ss, &st);
        tok_decode(t, ids, n, 0, &full, &e);
        if (full.n != st.n || memcmp(full.p, st.p, full.n) != 0)
            rc = 1;
        json_t *o = json_pack("{s:O,s:s%}", "ids", l, "text", st.p, st.n);
        char *line = json_dumps(o, JSON_COMPACT);
        printf("%s\n", line);
        free(line);
        json_decref(o);
        free(full.p);
        free(st.p);
        free(ids);
    }
    if (rc)
        fprintf(stderr, "test_tok: the stream decoder disagreed or emitted a split character\n");
    json_decref(c);
    tok_free(t);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--dump-decode") == 0)
        return dump_decode(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "--dump") == 0)
        return dump(argv[2], argv[3]);
    test_basic();
    test_classes();
    test_hostile();
    return th_done();
}
