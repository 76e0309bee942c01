/*
 * tok.c: byte-level BPE from tokenizer.json (tok.h).
 *
 * Vocab entries are kept as written (the byte-level alphabet maps each byte
 * to one code point); BPE runs on vocab ids: a word's bytes become the ids
 * of their one-character tokens, then pairs merge by rank with a binary
 * heap (lowest rank first, leftmost on ties; the same order as the Rust and
 * JavaScript references), so a word of n bytes costs O(n log n).
 */
#include "import/tok.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cm.h"
#include "import/tok_ucd.h"

struct tok_added {
    char *content;
    size_t len;
    int32_t id;
    int special, lstrip, rstrip;
};

/* open-addressing hash of strings -> id */
struct smap {
    uint32_t *slot; /* index + 1 into keys, 0 empty */
    size_t cap;
};

struct pentry {
    uint64_t key; /* a << 32 | b, ~0 empty */
    int32_t rank, id;
};

struct tok_tokenizer {
    char **tok;    /* id -> content (NULL for unused ids) */
    uint32_t *len; /* id -> content bytes */
    size_t nid;    /* largest id + 1 */
    int32_t *keys; /* smap key i -> id */
    size_t nkeys;
    struct smap map;
    struct pentry *pairs;
    size_t pcap;
    int32_t byte_id[256]; /* id of the token of each single byte, -1 none */
    uint16_t byte_cp[256];
    uint8_t cp_byte[324]; /* inverse for code points < 324 */
    uint8_t cp_ok[324];
    struct tok_added *added; /* sorted by first byte */
    size_t nadded;
    uint32_t added_first[257]; /* added[added_first[c] .. added_first[c+1]) start with c */
    uint8_t *special;          /* id -> special added token */
    uint8_t *is_added;
    int use_regex, prefix_space, ignore_merges;
    int32_t unk;
    size_t max_text;
};

/* ---------- small helpers ---------- */

void tok_buf_put(struct tok_buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1)
            c *= 2;
        char *q = realloc(b->p, c);
        CM_ASSERT(q != NULL);
        b->p = q;
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
}

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int32_t smap_get(const struct tok_tokenizer *t, const char *s, size_t n)
{
    if (!t->map.cap)
        return -1;
    for (size_t i = fnv(s, n) & (t->map.cap - 1);; i = (i + 1) & (t->map.cap - 1)) {
        uint32_t k = t->map.slot[i];
        if (!k)
            return -1;
        int32_t id = t->keys[k - 1];
        if (t->len[id] == n && memcmp(t->tok[id], s, n) == 0)
            return id;
    }
}

static void smap_put(struct tok_tokenizer *t, int32_t id)
{
    for (size_t i = fnv(t->tok[id], t->len[id]) & (t->map.cap - 1);; i = (i + 1) & (t->map.cap - 1))
        if (!t->map.slot[i]) {
            t->keys[t->nkeys++] = id;
            t->map.slot[i] = (uint32_t)t->nkeys;
            return;
        }
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static const struct pentry *pair_get(const struct tok_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = mix(key) & (t->pcap - 1);; i = (i + 1) & (t->pcap - 1)) {
        if (t->pairs[i].key == ~0ull)
            return NULL;
        if (t->pairs[i].key == key)
            return &t->pairs[i];
    }
}

static void pair_put(struct tok_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = mix(key) & (t->pcap - 1);; i = (i + 1) & (t->pcap - 1))
        if (t->pairs[i].key == ~0ull || t->pairs[i].key == key) {
            t->pairs[i] = (struct pentry){key, rank, id}; /* a later duplicate wins */
            return;
        }
}

/* decodes one UTF-8 character at s[0..n); returns its length, *cp (0xFFFD-ish for invalid) */
static size_t u8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t need;
    uint32_t v, lo = 0x80, hi = 0xbf;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        v = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else {
        *cp = 0xfffd0000u | c; /* invalid byte: an "other" character */
        return 1;
    }
    if (n < need + 1) {
        *cp = 0xfffd0000u | c;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (s[i] < lo || s[i] > hi) {
            *cp = 0xfffd0000u | c;
            return 1;
        }
        lo = 0x80;
        hi = 0xbf;
        v = v << 6 | (s[i] & 0x3f);
    }
    *cp = v;
    return need + 1;
}

static void put_cp(struct tok_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    tok_buf_put(b, u, n);
}

int tok_uclass(uint32_t cp)
{
    if ((cp >= 9 && cp <= 13) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
        (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
        cp == 0x205f || cp == 0x3000)
        return 3;
    size_t lo = 0, hi = sizeof tok_ucd_ranges / sizeof tok_ucd_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < tok_ucd_ranges[mid][0])
            hi = mid;
        else if (cp > tok_ucd_ranges[mid][1])
            lo = mid + 1;
        else
            return (int)tok_ucd_ranges[mid][2];
    }
    return 0;
}

/* class of the character at s[i], its length in *l; 0 at the end */
static int cls_at(const uint8_t *s, size_t n, size_t i, size_t *l)
{
    uint32_t cp;
    *l = u8_next(s + i, n - i, &cp);
    return cp >> 16 == 0xfffd && cp > 0x10ffff ? 0 : tok_uclass(cp);
}

/* ---------- GPT-2 split pattern ---------- */

/* length of the pattern's match at s[i] (always >= 1) */
static size_t gpt2_match(const uint8_t *s, size_t n, size_t i)
{
    static const char *const contr[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t k = 0; k < sizeof contr / sizeof contr[0]; k++) {
        size_t cl = strlen(contr[k]);
        if (n - i >= cl && memcmp(s + i, contr[k], cl) == 0)
            return cl;
    }
    size_t l, j = i;
    int c = cls_at(s, n, j, &l);
    /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" */
    size_t start = j;
    if (s[j] == ' ' && j + 1 < n) {
        size_t l2;
        int c2 = cls_at(s, n, j + 1, &l2);
        if (c2 != 3) {
            j++;
            c = c2;
            l = l2;
        }
    }
    if (c != 3) {
        int want = c;
        while (j < n) {
            int cc = cls_at(s, n, j, &l);
            if (want == 0 ? cc != 0 : cc != want)
                break;
            j += l;
        }
        return j - start;
    }
    /* "\s+(?!\S)|\s+": the run, less its last character when a non-space follows */
    size_t last = j;
    while (j < n && cls_at(s, n, j, &l) == 3) {
        last = j;
        j += l;
    }
    if (j < n && last > i)
        return last - i;
    return j - i;
}

/* ---------- BPE ---------- */

struct node {
    int32_t id;
    int32_t prev, next; /* -1 none */
};

struct hent {
    int32_t rank, pos; /* order: rank, then position */
    int32_t left, right;
    int32_t lid, rid;
};

static int hless(const struct hent *a, const struct hent *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void hpush(struct hent *h, size_t *n, struct hent e)
{
    size_t i = (*n)++;
    h[i] = e;
    while (i && hless(&h[i], &h[(i - 1) / 2])) {
        struct hent x = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = x;
        i = (i - 1) / 2;
    }
}

static struct hent hpop(struct hent *h, size_t *n)
{
    struct hent top = h[0];
    h[0] = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && hless(&h[l], &h[m]))
            m = l;
        if (r < *n && hless(&h[r], &h[m]))
            m = r;
        if (m == i)
            break;
        struct hent x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
    return top;
}

static void try_pair(const struct tok_tokenizer *t, struct node *nd, int32_t a, struct hent *h,
                     size_t *hn)
{
    int32_t b = nd[a].next;
    if (b < 0 || nd[a].id < 0 || nd[b].id < 0)
        return;
    const struct pentry *p = pair_get(t, nd[a].id, nd[b].id);
    if (p)
        hpush(h, hn, (struct hent){p->rank, a, a, b, nd[a].id, nd[b].id});
}

/* appends the ids of one pre-token (raw bytes) */
static void bpe_word(const struct tok_tokenizer *t, const uint8_t *w, size_t n, int32_t **ids,
                     size_t *nids, size_t *cap)
{
    if (!n)
        return;
    if (t->ignore_merges) { /* the whole word as one token, when it is one */
        struct tok_buf b = {0};
        for (size_t i = 0; i < n; i++)
            put_cp(&b, t->byte_cp[w[i]]);
        int32_t id = smap_get(t, b.p, b.n);
        free(b.p);
        if (id >= 0) {
            if (*nids == *cap) {
                *cap = *cap ? *cap * 2 : 64;
                *ids = realloc(*ids, *cap * sizeof **ids);
                CM_ASSERT(*ids != NULL);
            }
            (*ids)[(*nids)++] = id;
            return;
        }
    }
    struct node *nd = cm_xmalloc(n * sizeof *nd);
    struct hent *h = cm_xmalloc((3 * n + 1) * sizeof *h); /* n - 1 pairs + 2 per merge */
    size_t hn = 0;
    for (size_t i = 0; i < n; i++)
        nd[i] = (struct node){t->byte_id[w[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    for (size_t i = 0; i + 1 < n; i++)
        try_pair(t, nd, (int32_t)i, h, &hn);
    while (hn) {
        struct hent e = hpop(h, &hn);
        int32_t a = e.left, b = e.right;
        if (nd[a].id != e.lid || nd[a].next != b || nd[b].id != e.rid)
            continue; /* stale: a side merged since */
        nd[a].id = pair_get(t, e.lid, e.rid)->id;
        nd[a].next = nd[b].next;
        if (nd[b].next >= 0)
            nd[nd[b].next].prev = a;
        nd[b].id = -2; /* dead */
        if (nd[a].prev >= 0)
            try_pair(t, nd, nd[a].prev, h, &hn);
        try_pair(t, nd, a, h, &hn);
    }
    for (int32_t i = 0; i >= 0; i = nd[i].next) {
        int32_t id = nd[i].id >= 0 ? nd[i].id : t->unk;
        if (id < 0)
            continue; /* a byte with no token and no unk: dropped, as the reference does */
        if (*nids == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *ids = realloc(*ids, *cap * sizeof **ids);
            CM_ASSERT(*ids != NULL);
        }
        (*ids)[(*nids)++] = id;
    }
    free(nd);
    free(h);
}

/* pre-tokenizes and encodes a section without added tokens */
static void encode_section(const struct tok_tokenizer *t, const uint8_t *s, size_t n, int32_t **ids,
                           size_t *nids, size_t *cap)
{
    if (!n)
        return;
    uint8_t *tmp = NULL;
    if (t->prefix_space && s[0] != ' ') {
        tmp = cm_xmalloc(n + 1);
        tmp[0] = ' ';
        memcpy(tmp + 1, s, n);
        s = tmp;
        n++;
    }
    if (!t->use_regex)
        bpe_word(t, s, n, ids, nids, cap);
    else
        for (size_t i = 0; i < n;) {
            size_t l = gpt2_match(s, n, i);
            bpe_word(t, s + i, l, ids, nids, cap);
            i += l;
        }
    free(tmp);
}

/* longest added token starting at s[i], or NULL */
static const struct tok_added *added_at(const struct tok_tokenizer *t, const uint8_t *s, size_t n,
                                        size_t i)
{
    const struct tok_added *best = NULL;
    for (size_t k = t->added_first[s[i]]; k < t->added_first[s[i] + 1]; k++) {
        const struct tok_added *a = &t->added[k];
        if (a->len <= n - i && (!best || a->len > best->len) &&
            memcmp(s + i, a->content, a->len) == 0)
            best = a;
    }
    return best;
}

static size_t ws_back(const uint8_t *s, size_t from, size_t to)
{
    /* start of the White_Space run ending at `to` (not before from) */
    size_t j = to;
    while (j > from) {
        size_t k = j - 1;
        while (k > from && (s[k] & 0xc0) == 0x80)
            k--;
        size_t l;
        if (cls_at(s, to, k, &l) != 3 || k + l != j)
            break;
        j = k;
    }
    return j;
}

/* the added token whose content is exactly s[0..n), or NULL */
static const struct tok_added *added_eq(const struct tok_tokenizer *t, const uint8_t *s, size_t n)
{
    if (!n)
        return NULL;
    for (size_t k = t->added_first[s[0]]; k < t->added_first[s[0] + 1]; k++)
        if (t->added[k].len == n && memcmp(t->added[k].content, s, n) == 0)
            return &t->added[k];
    return NULL;
}

struct section {
    size_t a, b; /* byte range, trimmed in place */
};

/*
 * Sections follow the reference: split the text at added tokens
 * (leftmost-longest, on the original text), then, in order, a section that
 * is (still) an added token trims the White_Space off the end of the
 * section before it (lstrip) and off the start of the one after it
 * (rstrip); a trimmed token section that no longer equals a token is text.
 */
int tok_encode(const struct tok_tokenizer *t, const char *text, size_t n, int32_t **ids,
               size_t *nids, struct err *e)
{
    *ids = NULL;
    *nids = 0;
    if (n > t->max_text)
        return err_set(e, TOK_ERR_LIMIT, ERR_TOO_LARGE, "text_too_long",
                       "text of %zu bytes exceeds the tokenizer limit of %zu", n, t->max_text);
    const uint8_t *s = (const uint8_t *)text;
    size_t cap = 0, ns = 0, scap = 16, sec = 0, i = 0;
    struct section *sv = cm_xmalloc(scap * sizeof *sv);
    while (i <= n) {
        const struct tok_added *a = i < n && t->nadded ? added_at(t, s, n, i) : NULL;
        if (i < n && !a) {
            i++;
            continue;
        }
        if (ns + 2 > scap) {
            scap *= 2;
            sv = realloc(sv, scap * sizeof *sv);
            CM_ASSERT(sv != NULL);
        }
        if (i > sec)
            sv[ns++] = (struct section){sec, i};
        if (!a)
            break;
        sv[ns++] = (struct section){i, i + a->len};
        i += a->len;
        sec = i;
    }
    for (size_t k = 0; k < ns; k++) {
        const struct tok_added *a = added_eq(t, s + sv[k].a, sv[k].b - sv[k].a);
        if (!a)
            continue;
        if (a->lstrip && k > 0)
            sv[k - 1].b = ws_back(s, sv[k - 1].a, sv[k - 1].b);
        if (a->rstrip && k + 1 < ns) {
            size_t l;
            while (sv[k + 1].a < sv[k + 1].b && cls_at(s, sv[k + 1].b, sv[k + 1].a, &l) == 3)
                sv[k + 1].a += l;
        }
    }
    for (size_t k = 0; k < ns; k++) {
        const struct tok_added *a = added_eq(t, s + sv[k].a, sv[k].b - sv[k].a);
        if (!a) {
            encode_section(t, s + sv[k].a, sv[k].b - sv[k].a, ids, nids, &cap);
            continue;
        }
        if (*nids == cap) {
            cap = cap ? cap * 2 : 64;
            *ids = realloc(*ids, cap * sizeof **ids);
            CM_ASSERT(*ids != NULL);
        }
        (*ids)[(*nids)++] = a->id;
    }
    free(sv);
    return 0;
}

/* ---------- decode ---------- */

/*
 * WHATWG UTF-8 decoding of b[0..n) into out; when !final, a trailing
 * incomplete (but so far valid) sequence is not decoded: returns its length.
 */
static size_t u8_lossy(const uint8_t *b, size_t n, int final, struct tok_buf *out)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = u8_next(b + i, n - i, &cp);
        if (cp <= 0x10ffff) {
            put_cp(out, cp);
            i += l;
            continue;
        }
        /* invalid or incomplete at i: is it a valid prefix cut by the end? */
        uint8_t c = b[i];
        size_t need = c >= 0xc2 && c <= 0xdf   ? 1
                      : c >= 0xe0 && c <= 0xef ? 2
                      : c >= 0xf0 && c <= 0xf4 ? 3
                                               : 0;
        size_t k = 1;
        uint8_t lo = c == 0xe0   ? 0xa0
                     : c == 0xf0 ? 0x90
                                 : 0x80,
                hi = c == 0xed   ? 0x9f
                     : c == 0xf4 ? 0x8f
                                 : 0xbf;
        while (k <= need && i + k < n && b[i + k] >= lo && b[i + k] <= hi) {
            k++;
            lo = 0x80;
            hi = 0xbf;
        }
        if (need && i + k == n && !final)
            return n - i;    /* wait for more bytes */
        put_cp(out, 0xfffd); /* one U+FFFD per maximal subpart */
        i += need ? k : 1;
    }
    return 0;
}

/* bytes of a (non-added) token: byte-level chars back to bytes */
static void token_bytes(const struct tok_tokenizer *t, int32_t id, struct tok_buf *raw)
{
    const uint8_t *s = (const uint8_t *)t->tok[id];
    size_t n = t->len[id], start = raw->n;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = u8_next(s + i, n - i, &cp);
        if (cp >= 324 || !t->cp_ok[cp]) { /* not byte-level: the raw content (as Rust does) */
            raw->n = start;
            tok_buf_put(raw, s, n);
            return;
        }
        uint8_t by = t->cp_byte[cp];
        tok_buf_put(raw, &by, 1);
        i += l;
    }
}

static int bad_id(int32_t id, struct err *e)
{
    return err_set(e, TOK_ERR_ARG, ERR_INVALID, "invalid_token", "unknown token id %d", (int)id);
}

int tok_decode(const struct tok_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
               struct tok_buf *out, struct err *e)
{
    struct tok_stream s;
    tok_stream_init(&s);
    tok_buf_put(out, "", 0);
    for (size_t i = 0; i < n; i++) {
        int rc = tok_stream_push(t, &s, ids[i], skip_special, out, e);
        if (rc < 0)
            return rc;
    }
    tok_stream_flush(&s, out);
    return 0;
}

void tok_stream_init(struct tok_stream *s)
{
    memset(s, 0, sizeof *s);
}

int tok_stream_push(const struct tok_tokenizer *t, struct tok_stream *s, int32_t id,
                    int skip_special, struct tok_buf *out, struct err *e)
{
    if (id < 0 || (size_t)id >= t->nid || !t->tok[id])
        return bad_id(id, e);
    tok_buf_put(out, "", 0);
    if (skip_special && t->special[id])
        return 0;
    if (t->is_added[id]) { /* verbatim, and ends the byte run before it */
        tok_stream_flush(s, out);
        tok_buf_put(out, t->tok[id], t->len[id]);
        return 0;
    }
    struct tok_buf raw = {0};
    tok_buf_put(&raw, s->pend, (size_t)s->npend);
    token_bytes(t, id, &raw);
    size_t keep = u8_lossy((const uint8_t *)raw.p, raw.n, 0, out);
    /* keep <= 3: a valid prefix of one character */
    memcpy(s->pend, raw.p + raw.n - keep, keep);
    s->npend = (int)keep;
    free(raw.p);
    return 0;
}

void tok_stream_flush(struct tok_stream *s, struct tok_buf *out)
{
    tok_buf_put(out, "", 0);
    if (s->npend)
        u8_lossy(s->pend, (size_t)s->npend, 1, out);
    s->npend = 0;
}

/* ---------- queries ---------- */

int32_t tok_id(const struct tok_tokenizer *t, const char *content)
{
    return smap_get(t, content, strlen(content));
}

const char *tok_token(const struct tok_tokenizer *t, int32_t id)
{
    return id >= 0 && (size_t)id < t->nid ? t->tok[id] : NULL;
}

size_t tok_vocab_size(const struct tok_tokenizer *t)
{
    return t->nid;
}

int tok_is_special(const struct tok_tokenizer *t, int32_t id)
{
    return id >= 0 && (size_t)id < t->nid && t->special[id];
}

/* ---------- loading ---------- */

static int fmt(struct err *e, const char *fmt_, const char *a)
{
    return err_set(e, TOK_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_tokenizer", fmt_, a);
}

static int unsupp(struct err *e, const char *what, const char *val)
{
    return err_set(e, TOK_ERR_UNSUPP, ERR_UNPROCESSABLE, "unsupported_tokenizer",
                   "tokenizer.json: %s \"%.100s\" is not supported", what, val);
}

static int flag(json_t *o, const char *k, int def)
{
    json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* sets id -> content; refuses conflicting reuse of an id */
static int set_token(struct tok_tokenizer *t, int32_t id, const char *s, size_t n, struct err *e)
{
    if (t->tok[id]) {
        if (t->len[id] == n && memcmp(t->tok[id], s, n) == 0)
            return 0;
        return err_set(e, TOK_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_tokenizer",
                       "tokenizer.json: id %d is given to both \"%.60s\" and \"%.60s\"", (int)id,
                       t->tok[id], s);
    }
    t->tok[id] = cm_xmalloc(n + 1);
    memcpy(t->tok[id], s, n);
    t->tok[id][n] = 0;
    t->len[id] = (uint32_t)n;
    if (smap_get(t, s, n) < 0)
        smap_put(t, id);
    return 0;
}

static int check_id(json_t *v, const struct tok_limits *lim, const char *what, struct err *e)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fmt(e, "tokenizer.json: %s has an id that is not a non-negative integer", what);
    if ((uint64_t)json_integer_value(v) >= lim->max_vocab)
        return err_set(e, TOK_ERR_LIMIT, ERR_TOO_LARGE, "tokenizer_too_large",
                       "tokenizer.json: id %lld of %.60s exceeds the limit of %zu",
                       (long long)json_integer_value(v), what, lim->max_vocab);
    return 0;
}

static int check_pretok(struct tok_tokenizer *t, json_t *p, struct err *e)
{
    static const char gpt2[] =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    const char *ty = json_string_value(json_object_get(p, "type"));
    if (!ty)
        return fmt(e, "tokenizer.json: pre_tokenizer has no type%s", "");
    if (strcmp(ty, "ByteLevel") == 0) {
        t->prefix_space = flag(p, "add_prefix_space", 0);
        t->use_regex = flag(p, "use_regex", 1);
        return 1;
    }
    if (strcmp(ty, "Sequence") != 0)
        return unsupp(e, "pre_tokenizer", ty);
    json_t *seq = json_object_get(p, "pretokenizers");
    size_t n = json_array_size(seq);
    int split = 0, bl = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *q = json_array_get(seq, i);
        const char *qt = json_string_value(json_object_get(q, "type"));
        if (qt && strcmp(qt, "Split") == 0 && i == 0) {
            const char *re =
                json_string_value(json_object_get(json_object_get(q, "pattern"), "Regex"));
            const char *beh = json_string_value(json_object_get(q, "behavior"));
            if (!re || strcmp(re, gpt2) != 0)
                return unsupp(e, "Split pattern (only the GPT-2 one is)", re ? re : "(none)");
            if (!beh || strcmp(beh, "Isolated") != 0 || flag(q, "invert", 0))
                return unsupp(e, "Split behavior", beh ? beh : "(none)");
            split = 1;
        } else if (qt && strcmp(qt, "ByteLevel") == 0 && i == n - 1) {
            t->prefix_space = flag(q, "add_prefix_space", 0);
            if (flag(q, "use_regex", 1) && split)
                return unsupp(e, "Split followed by ByteLevel with use_regex", "true");
            bl = 1;
        } else
            return unsupp(e, "pre_tokenizer in a Sequence", qt ? qt : "(no type)");
    }
    if (!bl)
        return unsupp(e, "pre_tokenizer Sequence without ByteLevel", "Sequence");
    t->use_regex = split ? 1 : flag(json_array_get(seq, n - 1), "use_regex", 1);
    return 1;
}

static int cmp_first(const void *a, const void *b)
{
    const struct tok_added *x = a, *y = b;
    return (int)(uint8_t)x->content[0] - (int)(uint8_t)y->content[0];
}

static int load_json(struct tok_tokenizer *t, json_t *root, const struct tok_limits *lim,
                     struct err *e)
{
    if (!json_is_object(root))
        return fmt(e, "tokenizer.json: not a JSON object%s", "");
    json_t *model = json_object_get(root, "model");
    const char *mt = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model))
        return fmt(e, "tokenizer.json: no \"model\" object%s", "");
    if (!mt || strcmp(mt, "BPE") != 0)
        return unsupp(e, "model type", mt ? mt : "(none)");
    json_t *v;
    if ((v = json_object_get(model, "dropout")) && !json_is_null(v))
        return unsupp(e, "BPE dropout", "non-null");
    if (flag(model, "byte_fallback", 0))
        return unsupp(e, "BPE byte_fallback", "true");
    const char *ks[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        const char *sv = json_string_value(json_object_get(model, ks[k]));
        if (sv && *sv)
            return unsupp(e, ks[k], sv);
    }
    t->ignore_merges = flag(model, "ignore_merges", 0);
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm))
        return unsupp(e, "normalizer",
                      json_string_value(json_object_get(norm, "type"))
                          ? json_string_value(json_object_get(norm, "type"))
                          : "?");
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!json_is_object(pre))
        return unsupp(e, "pre_tokenizer (byte-level BPE needs ByteLevel)", "null");
    int rc = check_pretok(t, pre, e);
    if (rc < 0)
        return rc;
    json_t *dec = json_object_get(root, "decoder");
    const char *dt = json_string_value(json_object_get(dec, "type"));
    if (!dt || strcmp(dt, "ByteLevel") != 0)
        return unsupp(e, "decoder (byte-level BPE needs ByteLevel)", dt ? dt : "null");

    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges"),
           *added = json_object_get(root, "added_tokens");
    if (!json_is_object(vocab) || !json_is_array(merges))
        return fmt(e, "tokenizer.json: model needs a \"vocab\" object and a \"merges\" array%s",
                   "");
    if (added && !json_is_null(added) && !json_is_array(added))
        return fmt(e, "tokenizer.json: added_tokens is not an array%s", "");
    size_t nv = json_object_size(vocab), nm = json_array_size(merges), na = json_array_size(added);
    if (nv > lim->max_vocab)
        return err_set(e, TOK_ERR_LIMIT, ERR_TOO_LARGE, "tokenizer_too_large",
                       "tokenizer.json: %zu vocab entries, more than %zu", nv, lim->max_vocab);
    if (nm > lim->max_merges)
        return err_set(e, TOK_ERR_LIMIT, ERR_TOO_LARGE, "tokenizer_too_large",
                       "tokenizer.json: %zu merges, more than %zu", nm, lim->max_merges);
    if (na > lim->max_added)
        return err_set(e, TOK_ERR_LIMIT, ERR_TOO_LARGE, "tokenizer_too_large",
                       "tokenizer.json: %zu added tokens, more than %zu", na, lim->max_added);
    /* ids: the largest id sizes the tables */
    size_t nid = 0;
    const char *k;
    json_object_foreach(vocab, k, v)
    {
        if ((rc = check_id(v, lim, k, e)) < 0)
            return rc;
        if ((size_t)json_integer_value(v) + 1 > nid)
            nid = (size_t)json_integer_value(v) + 1;
        if (strlen(k) > lim->max_token_len)
            return err_set(e, TOK_ERR_LIMIT, ERR_TOO_LARGE, "tokenizer_too_large",
                           "tokenizer.json: token \"%.40s...\" is %zu bytes, more than %zu", k,
                           strlen(k), lim->max_token_len);
    }
    for (size_t i = 0; i < na; i++) {
        json_t *a = json_array_get(added, i);
        if (!json_is_object(a) || !json_is_string(json_object_get(a, "content")))
            return fmt(e, "tokenizer.json: an added token has no content string%s", "");
        if ((rc = check_id(json_object_get(a, "id"), lim,
                           json_string_value(json_object_get(a, "content")), e)) < 0)
            return rc;
        size_t id = (size_t)json_integer_value(json_object_get(a, "id"));
        if (id + 1 > nid)
            nid = id + 1;
    }
    t->nid = nid;
    t->tok = cm_xcalloc(nid + 1, sizeof *t->tok);
    t->len = cm_xcalloc(nid + 1, sizeof *t->len);
    t->special = cm_xcalloc(nid + 1, 1);
    t->is_added = cm_xcalloc(nid + 1, 1);
    t->keys = cm_xcalloc(nv + na + 1, sizeof *t->keys);
    t->map.cap = 16;
    while (t->map.cap < 2 * (nv + na) + 16)
        t->map.cap *= 2;
    t->map.slot = cm_xcalloc(t->map.cap, sizeof *t->map.slot);
    json_object_foreach(vocab, k, v)
    {
        if ((rc = set_token(t, (int32_t)json_integer_value(v), k, strlen(k), e)) < 0)
            return rc;
    }
    t->added = cm_xcalloc(na + 1, sizeof *t->added);
    for (size_t i = 0; i < na; i++) {
        json_t *a = json_array_get(added, i);
        const char *c = json_string_value(json_object_get(a, "content"));
        size_t cl = json_string_length(json_object_get(a, "content"));
        int32_t id = (int32_t)json_integer_value(json_object_get(a, "id"));
        if (cl == 0 || cl > lim->max_token_len || strlen(c) != cl)
            return fmt(e, "tokenizer.json: added token \"%.60s\" is empty, too long or holds NUL",
                       c);
        if (flag(a, "single_word", 0))
            return unsupp(e, "added token with single_word", c);
        if ((rc = set_token(t, id, c, cl, e)) < 0)
            return rc;
        struct tok_added *d = &t->added[t->nadded++];
        *d = (struct tok_added){
            t->tok[id], cl, id, flag(a, "special", 0), flag(a, "lstrip", 0), flag(a, "rstrip", 0)};
        t->special[id] = (uint8_t)d->special;
        t->is_added[id] = 1;
    }
    qsort(t->added, t->nadded, sizeof *t->added, cmp_first);
    for (size_t i = 0, c = 0; c < 257; c++) {
        while (i < t->nadded && (uint8_t)t->added[i].content[0] < c)
            i++;
        t->added_first[c] = (uint32_t)i;
    }
    /* the byte-level alphabet (GPT-2's bytes_to_unicode) */
    int m = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        t->byte_cp[b] = (uint16_t)(keep ? b : 256 + m++);
        t->cp_byte[t->byte_cp[b]] = (uint8_t)b;
        t->cp_ok[t->byte_cp[b]] = 1;
        struct tok_buf cb = {0};
        put_cp(&cb, t->byte_cp[b]);
        t->byte_id[b] = smap_get(t, cb.p, cb.n);
        free(cb.p);
    }
    json_t *unk = json_object_get(model, "unk_token");
    t->unk = -1;
    if (json_is_string(unk) &&
        (t->unk = smap_get(t, json_string_value(unk), json_string_length(unk))) < 0)
        return fmt(e, "tokenizer.json: unk_token \"%.60s\" is not in the vocab",
                   json_string_value(unk));

    t->pcap = 16;
    while (t->pcap < 2 * nm + 16)
        t->pcap *= 2;
    t->pairs = cm_xmalloc(t->pcap * sizeof *t->pairs);
    memset(t->pairs, 0xff, t->pcap * sizeof *t->pairs);
    struct tok_buf cat = {0};
    for (size_t i = 0; i < nm; i++) {
        json_t *mv = json_array_get(merges, i);
        const char *a, *b;
        size_t al, bl;
        if (json_is_string(mv)) {
            a = json_string_value(mv);
            const char *sp = strchr(a, ' ');
            if (!sp || sp == a || !sp[1] || strchr(sp + 1, ' ')) {
                free(cat.p);
                return err_set(e, TOK_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_tokenizer",
                               "tokenizer.json: merge %zu \"%.60s\" is not \"a b\"", i, a);
            }
            al = (size_t)(sp - a);
            b = sp + 1;
            bl = strlen(b);
        } else if (json_is_array(mv) && json_array_size(mv) == 2 &&
                   json_is_string(json_array_get(mv, 0)) && json_is_string(json_array_get(mv, 1))) {
            a = json_string_value(json_array_get(mv, 0));
            b = json_string_value(json_array_get(mv, 1));
            al = strlen(a);
            bl = strlen(b);
        } else {
            free(cat.p);
            return err_set(e, TOK_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_tokenizer",
                           "tokenizer.json: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", i);
        }
        int32_t ia = smap_get(t, a, al), ib = smap_get(t, b, bl);
        cat.n = 0;
        tok_buf_put(&cat, a, al);
        tok_buf_put(&cat, b, bl);
        int32_t ic = smap_get(t, cat.p, cat.n);
        if (ia < 0 || ib < 0 || ic < 0) {
            char what[200];
            snprintf(what, sizeof what, "%.*s %.*s", (int)(al > 60 ? 60 : al), a,
                     (int)(bl > 60 ? 60 : bl), b);
            free(cat.p);
            return err_set(
                e, TOK_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_tokenizer",
                "tokenizer.json: merge %zu \"%s\" uses or makes a token not in the vocab", i, what);
        }
        pair_put(t, ia, ib, (int32_t)i, ic);
    }
    free(cat.p);
    return 0;
}

static struct tok_limits fill(const struct tok_limits *l0)
{
    struct tok_limits l = l0 ? *l0 : (struct tok_limits){0};
    if (!l.max_file)
        l.max_file = 64u << 20;
    if (!l.max_vocab)
        l.max_vocab = 1u << 20;
    if (!l.max_merges)
        l.max_merges = 1u << 21;
    if (!l.max_token_len)
        l.max_token_len = 1024;
    if (!l.max_added)
        l.max_added = 65536;
    if (!l.max_text)
        l.max_text = 16u << 20;
    return l;
}

int tok_load_mem(struct tok_tokenizer **out, const char *json, size_t n,
                 const struct tok_limits *lim0, struct err *e)
{
    *out = NULL;
    struct tok_limits lim = fill(lim0);
    if (n > lim.max_file)
        return err_set(e, TOK_ERR_LIMIT, ERR_TOO_LARGE, "tokenizer_too_large",
                       "tokenizer.json of %zu bytes exceeds the limit of %zu", n, lim.max_file);
    json_error_t je;
    json_t *root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(e, TOK_ERR_FORMAT, ERR_UNPROCESSABLE, "invalid_tokenizer",
                       "tokenizer.json: bad JSON at line %d column %d: %s", je.line, je.column,
                       je.text);
    struct tok_tokenizer *t = cm_xcalloc(1, sizeof *t);
    t->max_text = lim.max_text;
    int rc = load_json(t, root, &lim, e);
    json_decref(root);
    if (rc < 0) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int tok_load(struct tok_tokenizer **out, const char *path, const struct tok_limits *lim0,
             struct err *e)
{
    *out = NULL;
    struct tok_limits lim = fill(lim0);
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) < 0) {
        int rc = err_set(e, TOK_ERR_IO, ERR_INTERNAL, "tokenizer_unreadable",
                         "could not open %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return rc;
    }
    if ((uint64_t)sb.st_size > lim.max_file) {
        fclose(f);
        return err_set(e, TOK_ERR_LIMIT, ERR_TOO_LARGE, "tokenizer_too_large",
                       "%s: %lld bytes exceeds the tokenizer.json limit of %zu", path,
                       (long long)sb.st_size, lim.max_file);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = cm_xmalloc(n + 1);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return err_set(e, TOK_ERR_IO, ERR_INTERNAL, "tokenizer_unreadable", "could not read %s",
                       path);
    }
    int rc = tok_load_mem(out, buf, n, &lim, e);
    free(buf);
    if (rc < 0 && e) {
        char tmp[sizeof e->msg];
        memcpy(tmp, e->msg, sizeof tmp);
        snprintf(e->msg, sizeof e->msg, "%.80s: %.170s", path, tmp);
    }
    return rc;
}

void tok_free(struct tok_tokenizer *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nid; i++)
        free(t->tok[i]);
    free(t->tok);
    free(t->len);
    free(t->keys);
    free(t->map.slot);
    free(t->pairs);
    free(t->added);
    free(t->special);
    free(t->is_added);
    free(t);
}
