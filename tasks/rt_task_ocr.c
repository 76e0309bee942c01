/*
 * rt_task_ocr.c: PP-OCRv4 around the ONNX graphs, following PaddleOCR's
 * tools/infer (DetResizeForTest limit_type "max", DBPostProcess with
 * score_mode "fast", get_rotate_crop_image, CTCLabelDecode, drop_score).
 * See rt_task_ocr.h and tasks/README.md (what differs from PaddleOCR).
 */
#include "tasks/rt_task_ocr.h"
#include "import/rt_import.h"
#include "common/cm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(...) err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", __VA_ARGS__)
#define OOM() err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory", "ocr: out of memory")

#define CACHE_N 4

enum graph { G_DET, G_REC, G_CLS };
static const char *const graph_name[3] = {"detection", "recognition", "orientation"};

struct ocr_exec {
    int h, w;
    int batch;              /* the plan's max_batch */
    int64_t steps, classes; /* recognition output [1, steps, classes] */
    struct rt_exec *x;
    uint64_t used;
};

struct rt_ocr {
    struct rt_device *dev;
    struct rt_ocr_opts op;
    uint8_t *onnx[3]; /* enum graph: detection, recognition, orientation (NULL: none) */
    size_t onnx_len[3];
    struct ocr_exec cache[3][CACHE_N];
    uint64_t tick;
    int made;
    char *chars;
    uint32_t *offs;
    int n_chars;
};

struct rt_ocr_opts rt_ocr_opts_default(void)
{
    struct rt_ocr_opts o = {
        .det_max_side = 960,
        .det_thresh = 0.3f,
        .box_thresh = 0.6f,
        .unclip_ratio = 1.5f,
        .min_score = 0.5f,
        .rec_max_w = 1600,
        .cls_thresh = 0.9f,
    };
    return o;
}

/* ---- character list ------------------------------------------------------ */

/* length of the UTF-8 character at s (n bytes left), 0 if invalid */
static int utf8_len(const uint8_t *s, size_t n)
{
    int l = s[0] < 0x80         ? 1
            : (s[0] >> 5) == 6  ? 2
            : (s[0] >> 4) == 14 ? 3
            : (s[0] >> 3) == 30 ? 4
                                : 0;
    if (l == 0 || (size_t)l > n)
        return 0;
    for (int i = 1; i < l; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    uint32_t cp = l == 1 ? s[0] : (uint32_t)(s[0] & (0x7F >> l));
    for (int i = 1; i < l; i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < minv[l] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp < 0x20)
        return 0;
    return l;
}

int rt_ocr_keys_parse(const uint8_t *buf, size_t len, char **chars, uint32_t **offs, struct err *e)
{
    *chars = NULL;
    *offs = NULL;
    if (len == 0 || len > RT_OCR_MAX_KEYS_BYTES)
        return BAD("character list of %zu bytes (1..%d)", len, RT_OCR_MAX_KEYS_BYTES);
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    if (lines > RT_OCR_MAX_KEYS)
        return BAD("character list of %zu lines (limit %d)", lines, RT_OCR_MAX_KEYS);
    char *c = malloc(len + 1);
    uint32_t *of = malloc((lines + 1) * sizeof(*of));
    if (c == NULL || of == NULL) {
        free(c);
        free(of);
        return OOM();
    }
    size_t p = 0, o = 0;
    int n = 0;
    while (p < len) {
        size_t q = p;
        while (q < len && buf[q] != '\n')
            q++;
        size_t end = q;
        if (end > p && buf[end - 1] == '\r')
            end--;
        if (end == p) {
            if (q >= len)
                break; /* a final newline */
            free(c);
            free(of);
            return BAD("character list: empty line %d", n + 1);
        }
        int l = utf8_len(buf + p, end - p);
        if (l == 0 || (size_t)l != end - p) {
            free(c);
            free(of);
            return BAD("character list: line %d is not one UTF-8 character", n + 1);
        }
        of[n++] = (uint32_t)o;
        memcpy(c + o, buf + p, (size_t)l);
        o += (size_t)l;
        c[o++] = '\0';
        p = q + 1;
    }
    if (n == 0) {
        free(c);
        free(of);
        return BAD("empty character list");
    }
    *chars = c;
    *offs = of;
    return n;
}

/* ---- load ------------------------------------------------------------------ */

static int file_get(const char *dir, const json_t *ocr, const char *key, uint8_t **buf, size_t *len,
                    long long max, struct err *e)
{
    const char *f = json_string_value(json_object_get(ocr, key));
    if (f == NULL || strchr(f, '/') || f[0] == '.')
        return BAD("manifest: ocr.%s must name a file of the model folder", key);
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, f);
    int rc = rt_import_file_read(path, max, buf, len, e);
    if (rc == RT_ERR_IO)
        snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg), " (run make models)");
    return rc;
}

static int num(const json_t *post, const char *k, double def, double lo, double hi, double *v,
               struct err *e)
{
    const json_t *j = json_object_get(post, k);
    *v = def;
    if (j == NULL)
        return 0;
    if (!json_is_number(j) || json_number_value(j) < lo || json_number_value(j) > hi)
        return BAD("manifest: post.%s must be a number in %g..%g", k, lo, hi);
    *v = json_number_value(j);
    return 0;
}

int rt_ocr_load(struct rt_device *dev, const json_t *man, const char *dir, struct rt_ocr **out,
                struct err *e)
{
    *out = NULL;
    const json_t *ocr = json_object_get(man, "ocr"), *post = json_object_get(man, "post");
    if (!json_is_object(ocr))
        return BAD("manifest: an ocr model needs \"ocr\": {det, rec, keys}");
    struct rt_ocr *o = cm_xcalloc(1, sizeof(*o));
    o->dev = dev;
    o->op = rt_ocr_opts_default();
    double v;
    int rc = 0;
    if (rc == 0 && (rc = num(post, "det_max_side", 960, 32, RT_OCR_MAX_SIDE_LIMIT, &v, e)) == 0)
        o->op.det_max_side = (int)v / 32 * 32;
    if (rc == 0 && (rc = num(post, "det_thresh", 0.3, 0, 1, &v, e)) == 0)
        o->op.det_thresh = (float)v;
    if (rc == 0 && (rc = num(post, "box_thresh", 0.6, 0, 1, &v, e)) == 0)
        o->op.box_thresh = (float)v;
    if (rc == 0 && (rc = num(post, "unclip_ratio", 1.5, 0, 10, &v, e)) == 0)
        o->op.unclip_ratio = (float)v;
    if (rc == 0 && (rc = num(post, "min_score", 0.5, 0, 1, &v, e)) == 0)
        o->op.min_score = (float)v;
    if (rc == 0 && (rc = num(post, "rec_max_width", 1600, RT_OCR_REC_MIN_W, 4000, &v, e)) == 0)
        o->op.rec_max_w = (int)v;
    if (rc == 0 && (rc = num(post, "cls_thresh", 0.9, 0, 1, &v, e)) == 0)
        o->op.cls_thresh = (float)v;
    if (rc == 0)
        rc = file_get(dir, ocr, "det", &o->onnx[G_DET], &o->onnx_len[G_DET], RT_IMPORT_MAX_FILE, e);
    if (rc == 0)
        rc = file_get(dir, ocr, "rec", &o->onnx[G_REC], &o->onnx_len[G_REC], RT_IMPORT_MAX_FILE, e);
    /* the orientation classifier is optional: without it no line is turned */
    if (rc == 0 && json_object_get(ocr, "cls") != NULL)
        rc = file_get(dir, ocr, "cls", &o->onnx[G_CLS], &o->onnx_len[G_CLS], RT_IMPORT_MAX_FILE, e);
    uint8_t *kb = NULL;
    size_t kl = 0;
    if (rc == 0)
        rc = file_get(dir, ocr, "keys", &kb, &kl, RT_OCR_MAX_KEYS_BYTES, e);
    if (rc == 0) {
        int n = rt_ocr_keys_parse(kb, kl, &o->chars, &o->offs, e);
        if (n < 0)
            rc = n;
        else
            o->n_chars = n;
    }
    free(kb);
    if (rc < 0) {
        rt_ocr_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

void rt_ocr_free(struct rt_ocr *o)
{
    if (o == NULL)
        return;
    for (int g = 0; g < 3; g++) {
        for (int i = 0; i < CACHE_N; i++)
            rt_exec_destroy(o->cache[g][i].x);
        free(o->onnx[g]);
    }
    free(o->chars);
    free(o->offs);
    free(o);
}

struct rt_ocr_opts rt_ocr_opts_of(const struct rt_ocr *o)
{
    return o->op;
}

int rt_ocr_exec_count(const struct rt_ocr *o)
{
    return o->made;
}

size_t rt_ocr_bytes(const struct rt_ocr *o)
{
    size_t n = 0;
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < CACHE_N; i++)
            if (o->cache[g][i].x)
                n += rt_exec_device_bytes(o->cache[g][i].x);
    return n;
}

/*
 * The executor of a graph at input h x w for runs of up to `need` items:
 * cached (one planned for at least that many), or imported and planned for
 * the next power of two (at most RT_OCR_BATCH), replacing a smaller plan of
 * the same shape, else the least recently used: a photo with one line of a
 * width plans that width for one line, not for a whole batch.
 */
static struct ocr_exec *exec_get(struct rt_ocr *o, enum graph gr, int h, int w, int need,
                                 struct err *e)
{
    struct ocr_exec *c = o->cache[gr];
    int rec = gr == G_REC;
    int lru = 0, same = -1;
    o->tick++;
    for (int i = 0; i < CACHE_N; i++) {
        if (c[i].x && c[i].h == h && c[i].w == w) {
            if (c[i].batch >= need) {
                c[i].used = o->tick;
                return &c[i];
            }
            same = i;
        }
        if (c[i].used < c[lru].used)
            lru = i;
    }
    if (same >= 0)
        lru = same;
    int batch = 1;
    while (batch < need && batch < RT_OCR_BATCH)
        batch *= 2;
    struct rt_import_opts io;
    memset(&io, 0, sizeof(io));
    io.in_h = h;
    io.in_w = w;
    struct rt_graph *g = NULL;
    if (rt_import_onnx_mem(o->onnx[gr], o->onnx_len[gr], &io, &g, e) < 0)
        return NULL;
    const struct rt_tensor *x = g->n_inputs == 1 ? &g->tensors[g->inputs[0]] : NULL;
    const struct rt_tensor *y0 = g->n_outputs == 1 ? &g->tensors[g->outputs[0]] : NULL;
    if (x == NULL || y0 == NULL || x->ndim != 4 || x->shape[1] != h || x->shape[2] != w ||
        x->shape[3] != 3 || (gr == G_DET && rt_tensor_nelem(y0) != (int64_t)h * w) ||
        (gr == G_REC && y0->ndim != 3) || (gr == G_CLS && rt_tensor_nelem(y0) != 2)) {
        rt_graph_free(g);
        BAD("ocr %s graph: unexpected input/output shapes at %dx%d", graph_name[gr], h, w);
        return NULL;
    }
    const struct rt_tensor *y = &g->tensors[g->outputs[0]];
    int64_t steps = y->ndim == 3 ? y->shape[1] : 0, classes = y->ndim == 3 ? y->shape[2] : 0;
    if (rec && classes != o->n_chars + 2) {
        rt_graph_free(g);
        BAD("ocr recognition graph has %lld classes, the character list %d (+ blank, space)",
            (long long)classes, o->n_chars);
        return NULL;
    }
    struct rt_plan_opts po = rt_plan_opts_default();
    po.max_batch = batch;
    struct rt_exec *ex = NULL;
    int rc = rt_exec_create(o->dev, g, &po, &ex, e);
    rt_graph_free(g);
    if (rc < 0)
        return NULL;
    rt_exec_destroy(c[lru].x);
    c[lru].x = ex;
    c[lru].h = h;
    c[lru].w = w;
    c[lru].batch = batch;
    c[lru].steps = steps;
    c[lru].classes = classes;
    c[lru].used = o->tick;
    o->made++;
    return &c[lru];
}

/* ---- geometry ---------------------------------------------------------- */

struct pt {
    double x, y;
};

static double cross(struct pt o, struct pt a, struct pt b)
{
    return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

static int pt_cmp(const void *a, const void *b)
{
    const struct pt *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return p->y < q->y ? -1 : (p->y > q->y);
}

/* convex hull of n points (sorted in place) into h (2n capacity); returns its size */
static int hull(struct pt *p, int n, struct pt *h)
{
    qsort(p, (size_t)n, sizeof(*p), pt_cmp);
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], p[i]) <= 0)
            k--;
        h[k++] = p[i];
    }
    for (int i = n - 2, t = k + 1; i >= 0; i--) {
        while (k >= t && cross(h[k - 2], h[k - 1], p[i]) <= 0)
            k--;
        h[k++] = p[i];
    }
    return k > 1 ? k - 1 : k;
}

/*
 * Minimum-area rectangle of a convex hull (rotating calipers over its
 * edges), as cv2.minAreaRect; then the corners ordered as PaddleOCR's
 * get_mini_boxes: top-left, top-right, bottom-right, bottom-left.  Returns
 * the shorter side.
 */
static double min_rect(const struct pt *h, int n, struct pt *box)
{
    struct pt c[4];
    if (n == 1) {
        for (int i = 0; i < 4; i++)
            c[i] = h[0];
    } else {
        double best = INFINITY;
        for (int i = 0; i < n; i++) {
            struct pt a = h[i], b = h[(i + 1) % n];
            double dx = b.x - a.x, dy = b.y - a.y, l = sqrt(dx * dx + dy * dy);
            if (l == 0)
                continue;
            double ux = dx / l, uy = dy / l;
            double lo = INFINITY, hi = -INFINITY, lo2 = INFINITY, hi2 = -INFINITY;
            for (int j = 0; j < n; j++) {
                double s = (h[j].x - a.x) * ux + (h[j].y - a.y) * uy;
                double t = -(h[j].x - a.x) * uy + (h[j].y - a.y) * ux;
                lo = s < lo ? s : lo;
                hi = s > hi ? s : hi;
                lo2 = t < lo2 ? t : lo2;
                hi2 = t > hi2 ? t : hi2;
            }
            double area = (hi - lo) * (hi2 - lo2);
            if (area < best - 1e-9) {
                best = area;
                double ss[4] = {lo, hi, hi, lo}, tt[4] = {lo2, lo2, hi2, hi2};
                for (int k = 0; k < 4; k++) {
                    c[k].x = a.x + ss[k] * ux - tt[k] * uy;
                    c[k].y = a.y + ss[k] * uy + tt[k] * ux;
                }
            }
        }
    }
    /* get_mini_boxes: sort by x; left pair, right pair, each by y */
    qsort(c, 4, sizeof(c[0]), pt_cmp);
    int i1 = c[1].y > c[0].y ? 0 : 1, i4 = 1 - i1;
    int i2 = c[3].y > c[2].y ? 2 : 3, i3 = 5 - i2;
    box[0] = c[i1];
    box[1] = c[i2];
    box[2] = c[i3];
    box[3] = c[i4];
    double w = hypot(c[0].x - c[1].x, c[0].y - c[1].y);
    double s1 = hypot(box[0].x - box[1].x, box[0].y - box[1].y);
    double s2 = hypot(box[1].x - box[2].x, box[1].y - box[2].y);
    (void)w;
    return s1 < s2 ? s1 : s2;
}

/* point in convex quad (either winding, edges included) */
static int in_quad(const struct pt *q, double x, double y)
{
    int pos = 0, neg = 0;
    struct pt p = {x, y};
    for (int i = 0; i < 4; i++) {
        double c = cross(q[i], q[(i + 1) % 4], p);
        pos |= c > 1e-9;
        neg |= c < -1e-9;
    }
    return !(pos && neg);
}

/* box_score_fast: mean probability over the box's pixels within its bounding box */
static double box_score(const float *map, int mw, int mh, const struct pt *b)
{
    double x0 = b[0].x, x1 = b[0].x, y0 = b[0].y, y1 = b[0].y;
    for (int i = 1; i < 4; i++) {
        x0 = fmin(x0, b[i].x);
        x1 = fmax(x1, b[i].x);
        y0 = fmin(y0, b[i].y);
        y1 = fmax(y1, b[i].y);
    }
    int xa = (int)floor(x0), xb = (int)ceil(x1), ya = (int)floor(y0), yb = (int)ceil(y1);
    xa = xa < 0 ? 0 : (xa > mw - 1 ? mw - 1 : xa);
    xb = xb < 0 ? 0 : (xb > mw - 1 ? mw - 1 : xb);
    ya = ya < 0 ? 0 : (ya > mh - 1 ? mh - 1 : ya);
    yb = yb < 0 ? 0 : (yb > mh - 1 ? mh - 1 : yb);
    double s = 0, sa = 0;
    long n = 0, na = 0;
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++) {
            double p = map[(size_t)y * (size_t)mw + (size_t)x];
            sa += p;
            na++;
            if (in_quad(b, x, y)) {
                s += p;
                n++;
            }
        }
    return n ? s / (double)n : (na ? sa / (double)na : 0);
}

struct box {
    struct pt p[4]; /* image pixels: tl, tr, br, bl */
    double score;
};

static int box_cmp(const void *a, const void *b)
{
    const struct box *p = a, *q = b;
    if (p->p[0].y != q->p[0].y)
        return p->p[0].y < q->p[0].y ? -1 : 1;
    return p->p[0].x < q->p[0].x ? -1 : (p->p[0].x > q->p[0].x);
}

/*
 * DB post-processing of a mw x mh probability map into boxes in image
 * pixels (w x h); returns the count (<= cap) or <0 with e set.
 */
static int db_boxes(const struct rt_ocr_opts *op, const float *map, int mw, int mh, int w, int h,
                    struct box *out, int cap, struct err *e)
{
    size_t np = (size_t)mw * (size_t)mh;
    int *lab = malloc(np * sizeof(int));
    int *stack = malloc(np * sizeof(int));
    struct pt *pts = malloc(np * sizeof(struct pt)), *hl = malloc(2 * np * sizeof(struct pt) + 16);
    if (!lab || !stack || !pts || !hl) {
        free(lab);
        free(stack);
        free(pts);
        free(hl);
        return OOM();
    }
    for (size_t i = 0; i < np; i++)
        lab[i] = map[i] > op->det_thresh ? 0 : -1;
    int n = 0, comps = 0;
    for (size_t s = 0; s < np && comps < 1000; s++) {
        if (lab[s] != 0)
            continue;
        /* 8-connected component (cv2.findContours' outer contours) */
        int sp = 0, cnt = 0;
        stack[sp++] = (int)s;
        lab[s] = 1;
        while (sp) {
            int i = stack[--sp], x = i % mw, y = i / mw;
            pts[cnt].x = x;
            pts[cnt].y = y;
            cnt++;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= mw || yy >= mh)
                        continue;
                    size_t j = (size_t)yy * (size_t)mw + (size_t)xx;
                    if (lab[j] == 0) {
                        lab[j] = 1;
                        stack[sp++] = (int)j;
                    }
                }
        }
        comps++;
        int nh = hull(pts, cnt, hl);
        struct pt b[4];
        if (min_rect(hl, nh, b) < 3)
            continue;
        double score = box_score(map, mw, mh, b);
        if (score < op->box_thresh)
            continue;
        /* unclip: the rectangle grown by area * ratio / perimeter on every side */
        double bw = hypot(b[1].x - b[0].x, b[1].y - b[0].y),
               bh = hypot(b[3].x - b[0].x, b[3].y - b[0].y);
        if (bw <= 0 || bh <= 0)
            continue;
        double d = bw * bh * op->unclip_ratio / (2 * (bw + bh));
        double ux = (b[1].x - b[0].x) / bw, uy = (b[1].y - b[0].y) / bw;
        double vx = (b[3].x - b[0].x) / bh, vy = (b[3].y - b[0].y) / bh;
        struct pt g[4];
        double su[4] = {-1, 1, 1, -1}, sv[4] = {-1, -1, 1, 1};
        for (int k = 0; k < 4; k++) {
            g[k].x = b[k].x + d * (su[k] * ux + sv[k] * vx);
            g[k].y = b[k].y + d * (su[k] * uy + sv[k] * vy);
        }
        struct pt gb[4];
        if (min_rect(g, 4, gb) < 5)
            continue;
        if (n >= cap)
            break;
        struct box *B = &out[n];
        for (int k = 0; k < 4; k++) {
            double x = round(gb[k].x / mw * w), y = round(gb[k].y / mh * h);
            B->p[k].x = fmin(fmax(x, 0), w - 1);
            B->p[k].y = fmin(fmax(y, 0), h - 1);
        }
        B->score = score;
        if ((int)hypot(B->p[0].x - B->p[1].x, B->p[0].y - B->p[1].y) <= 3 ||
            (int)hypot(B->p[0].x - B->p[3].x, B->p[0].y - B->p[3].y) <= 3)
            continue;
        n++;
    }
    free(lab);
    free(stack);
    free(pts);
    free(hl);
    /* reading order: by top-left y then x, then neighbours within 10 px swapped by x */
    qsort(out, (size_t)n, sizeof(*out), box_cmp);
    for (int i = 0; i < n - 1; i++)
        for (int j = i; j >= 0; j--) {
            if (fabs(out[j + 1].p[0].y - out[j].p[0].y) < 10 && out[j + 1].p[0].x < out[j].p[0].x) {
                struct box t = out[j];
                out[j] = out[j + 1];
                out[j + 1] = t;
            } else {
                break;
            }
        }
    return n;
}

/* ---- images ------------------------------------------------------------------- */

void rt_ocr_det_size(const struct rt_ocr_opts *op, int w, int h, int *dw, int *dh)
{
    int m = w > h ? w : h;
    double r = m > op->det_max_side ? (double)op->det_max_side / m : 1.0;
    int rh = (int)(h * r), rw = (int)(w * r);
    /* Python's round(): halves to even (an 80-pixel side gives 64, not 96) */
    rh = (int)rint(rh / 32.0) * 32;
    rw = (int)rint(rw / 32.0) * 32;
    *dh = rh < 32 ? 32 : rh;
    *dw = rw < 32 ? 32 : rw;
}

/* bilinear sample (cv2 INTER_LINEAR source coordinates, border replicate) */
static inline float sample(const uint8_t *rgb, int w, int h, double x, double y, int c)
{
    x = x < 0 ? 0 : (x > w - 1 ? w - 1 : x);
    y = y < 0 ? 0 : (y > h - 1 ? h - 1 : y);
    int x0 = (int)x, y0 = (int)y, x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    double fx = x - x0, fy = y - y0;
    double a = rgb[((size_t)y0 * w + x0) * 3 + c], b = rgb[((size_t)y0 * w + x1) * 3 + c];
    double cc = rgb[((size_t)y1 * w + x0) * 3 + c], d = rgb[((size_t)y1 * w + x1) * 3 + c];
    return (float)((a * (1 - fx) + b * fx) * (1 - fy) + (cc * (1 - fx) + d * fx) * fy);
}

/*
 * Resizes (half-pixel centres) img to ow x oh into out (NHWC floats of a
 * stride_w wide row, channels in BGR order as PaddleOCR feeds them),
 * normalised per channel.
 */
static void resize_norm(const uint8_t *rgb, int w, int h, int ow, int oh, int stride_w,
                        const float *mean, const float *std, float *out)
{
    double sx = (double)w / ow, sy = (double)h / oh;
    for (int y = 0; y < oh; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        for (int x = 0; x < ow; x++) {
            double fx = (x + 0.5) * sx - 0.5;
            float *o = out + ((size_t)y * stride_w + x) * 3;
            for (int c = 0; c < 3; c++) {
                float v = sample(rgb, w, h, fx, fy, 2 - c) / 255.0f;
                o[c] = (v - mean[c]) / std[c];
            }
        }
    }
}

/* the box's rectangle cut out and straightened (get_rotate_crop_image) */
static uint8_t *crop(const struct rt_image *img, const struct box *b, int *cw, int *ch)
{
    const struct pt *p = b->p;
    int w =
        (int)fmax(hypot(p[0].x - p[1].x, p[0].y - p[1].y), hypot(p[2].x - p[3].x, p[2].y - p[3].y));
    int h =
        (int)fmax(hypot(p[0].x - p[3].x, p[0].y - p[3].y), hypot(p[1].x - p[2].x, p[1].y - p[2].y));
    if (w < 1 || h < 1)
        return NULL;
    uint8_t *o = malloc((size_t)w * h * 3);
    if (o == NULL)
        return NULL;
    double ux = (p[1].x - p[0].x) / w, uy = (p[1].y - p[0].y) / w;
    double vx = (p[3].x - p[0].x) / h, vy = (p[3].y - p[0].y) / h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double sx = p[0].x + x * ux + y * vx, sy = p[0].y + x * uy + y * vy;
            for (int c = 0; c < 3; c++) {
                float v = sample(img->rgb, img->w, img->h, sx, sy, c);
                o[((size_t)y * w + x) * 3 + c] = (uint8_t)lrintf(v);
            }
        }
    if ((double)h / w >= 1.5) { /* vertical text: np.rot90 */
        uint8_t *r = malloc((size_t)w * h * 3);
        if (r == NULL) {
            free(o);
            return NULL;
        }
        for (int i = 0; i < w; i++)
            for (int j = 0; j < h; j++)
                memcpy(r + ((size_t)i * h + j) * 3, o + ((size_t)j * w + (w - 1 - i)) * 3, 3);
        free(o);
        o = r;
        int t = w;
        w = h;
        h = t;
    }
    *cw = w;
    *ch = h;
    return o;
}

static void dump(const struct rt_ocr_debug *dbg, const char *name, const float *v, size_t n)
{
    if (dbg == NULL || dbg->dump_dir == NULL)
        return;
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dbg->dump_dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(v, sizeof(float), n, f);
        fclose(f);
    }
}

static double r6(double v)
{
    return v == 0 ? 0 : round(v * 1e6) / 1e6;
}

/* one detected box on its way to a line */
struct line {
    uint8_t *c; /* the straightened crop (NULL: the box was degenerate) */
    int cw, ch;
    int angle;   /* 0 or 180 */
    double p180; /* the classifier's probability of "180" */
    int rw, W;   /* recognition: the crop's width at height 48, the padded input width */
    char *text;  /* CTC-decoded (NULL: not recognised) */
    double conf;
    int nc; /* characters decoded */
};

/* turns crop l 180 degrees in place */
static void turn180(struct line *l)
{
    size_t n = (size_t)l->cw * l->ch;
    for (size_t a = 0, b = n - 1; n > 1 && a < b; a++, b--)
        for (int k = 0; k < 3; k++) {
            uint8_t t = l->c[a * 3 + k];
            l->c[a * 3 + k] = l->c[b * 3 + k];
            l->c[b * 3 + k] = t;
        }
}

/*
 * The orientation classifier on the crops of ls[0..n) in batches of
 * RT_OCR_BATCH (PaddleOCR's TextClassifier: 48 high, at most 192 wide,
 * zero padded; each crop's input is the one it would have alone): turns a
 * crop 180 degrees in place when class "180" wins above cls_thresh.
 */
static int orient(struct rt_ocr *o, const struct rt_ocr_debug *dbg, struct line *ls, int n,
                  struct err *e)
{
    static const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    if (o->onnx[G_CLS] == NULL)
        return 0;
    const size_t one = (size_t)RT_OCR_CLS_W * RT_OCR_REC_H * 3;
    float *in = malloc(one * RT_OCR_BATCH * sizeof(float)), out[2 * RT_OCR_BATCH];
    int idx[RT_OCR_BATCH];
    if (in == NULL)
        return OOM();
    int rc = 0;
    for (int i = 0; rc == 0 && i < n;) {
        int m = 0;
        memset(in, 0, one * RT_OCR_BATCH * sizeof(float));
        for (; i < n && m < RT_OCR_BATCH; i++) {
            struct line *l = &ls[i];
            if (l->c == NULL)
                continue;
            int rw = (int)ceil(RT_OCR_REC_H * (double)l->cw / l->ch);
            rw = rw > RT_OCR_CLS_W ? RT_OCR_CLS_W : (rw < 1 ? 1 : rw);
            float *x = in + one * m;
            resize_norm(l->c, l->cw, l->ch, rw, RT_OCR_REC_H, RT_OCR_CLS_W, mean, std, x);
            char nm[32];
            snprintf(nm, sizeof(nm), "cls_%d.f32", i);
            dump(dbg, nm, x, one);
            idx[m++] = i;
        }
        if (m == 0)
            break;
        struct ocr_exec *x = exec_get(o, G_CLS, RT_OCR_REC_H, RT_OCR_CLS_W, m, e);
        if (x == NULL) {
            rc = e->status ? e->status : RT_ERR_INVALID;
            break;
        }
        const float *ins[1] = {in};
        float *outs[1] = {out};
        if ((rc = rt_exec_run(x->x, m, ins, outs, e)) < 0)
            break;
        for (int k = 0; k < m; k++) {
            struct line *l = &ls[idx[k]];
            const float *p = out + 2 * k;
            l->p180 = p[1];
            if (p[1] > p[0] && p[1] > o->op.cls_thresh) {
                l->angle = 180;
                turn180(l);
            }
        }
    }
    free(in);
    return rc;
}

/* CTC greedy decoding of one line's T x C probabilities into l: argmax per
 * step, repeats merged, blanks (0) dropped; 0 or RT_ERR_OOM */
static int ctc(const struct rt_ocr *o, const float *prob, int T, int C, struct line *l,
               struct err *e)
{
    char text[4096];
    size_t tl = 0;
    double conf = 0;
    int nc = 0, prev = -1;
    for (int t = 0; t < T; t++) {
        const float *r = prob + (size_t)t * C;
        int best = 0;
        for (int k = 1; k < C; k++)
            if (r[k] > r[best])
                best = k;
        if (best != 0 && best != prev) {
            const char *s = best <= o->n_chars ? o->chars + o->offs[best - 1] : " ";
            size_t sl = strlen(s);
            if (tl + sl < sizeof(text)) {
                memcpy(text + tl, s, sl);
                tl += sl;
            }
            conf += r[best];
            nc++;
        }
        prev = best;
    }
    text[tl] = '\0';
    l->text = strdup(text);
    if (l->text == NULL)
        return OOM();
    l->conf = nc ? conf / nc : 0;
    l->nc = nc;
    return 0;
}

/*
 * Recognition of ls[0..n) (crops classified already): the lines of each
 * input width W, in their order, in batches of RT_OCR_BATCH; each line's
 * input is the one it would have alone (its crop at height 48, zero-padded
 * to W), so a batch gives each line the probabilities of a run of its own.
 * PaddleOCR pads a batch to its widest line instead; the buckets keep the
 * planned shapes few and a line's result independent of its neighbours.
 */
static int recognise(struct rt_ocr *o, const struct rt_ocr_debug *dbg, struct line *ls, int n,
                     json_t *recs, struct err *e)
{
    static const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    int rc = 0, C = o->n_chars + 2;
    float *in = NULL, *prob = NULL;
    size_t in_cap = 0, prob_cap = 0;
    int idx[RT_OCR_BATCH];
    for (int i = 0; rc == 0 && i < n; i++) {
        if (ls[i].c == NULL || ls[i].text != NULL)
            continue;
        int W = ls[i].W, m = 0;
        size_t one = (size_t)W * RT_OCR_REC_H * 3;
        if (one * RT_OCR_BATCH > in_cap) {
            free(in);
            in_cap = one * RT_OCR_BATCH;
            if ((in = malloc(in_cap * sizeof(float))) == NULL) {
                rc = OOM();
                break;
            }
        }
        memset(in, 0, one * RT_OCR_BATCH * sizeof(float));
        /* this line and the next ones of its width not yet done */
        for (int j = i; j < n && m < RT_OCR_BATCH; j++) {
            struct line *l = &ls[j];
            if (l->c == NULL || l->text != NULL || l->W != W)
                continue;
            float *x = in + one * m;
            resize_norm(l->c, l->cw, l->ch, l->rw, RT_OCR_REC_H, W, mean, std, x);
            char nm[32];
            snprintf(nm, sizeof(nm), "rec_%d.f32", j);
            dump(dbg, nm, x, one);
            json_array_append_new(recs, json_pack("[iii]", j, RT_OCR_REC_H, W));
            idx[m++] = j;
        }
        struct ocr_exec *x = exec_get(o, G_REC, RT_OCR_REC_H, W, m, e);
        if (x == NULL) {
            rc = e->status ? e->status : RT_ERR_INVALID;
            break;
        }
        int T = (int)x->steps;
        size_t per = (size_t)T * C;
        if (per * RT_OCR_BATCH > prob_cap) {
            free(prob);
            prob_cap = per * RT_OCR_BATCH;
            if ((prob = malloc(prob_cap * sizeof(float))) == NULL) {
                rc = OOM();
                break;
            }
        }
        const float *ins[1] = {in};
        if ((rc = rt_exec_run(x->x, m, ins, &prob, e)) < 0)
            break;
        for (int k = 0; rc == 0 && k < m; k++) {
            char pn[32];
            snprintf(pn, sizeof(pn), "recout_%d.f32", idx[k]);
            dump(dbg, pn, prob + per * k, per);
            rc = ctc(o, prob + per * k, T, C, &ls[idx[k]], e);
        }
        i--; /* line i may have a width-W neighbour left beyond this batch */
    }
    free(in);
    free(prob);
    return rc;
}

/* ---- run ---------------------------------------------------------------------- */

int rt_ocr_run(struct rt_ocr *o, const char *name, const struct rt_image *img,
               const struct rt_ocr_debug *dbg, json_t **result, struct err *e)
{
    *result = NULL;
    if (img == NULL || img->rgb == NULL || img->w < 1 || img->h < 1 || img->w > 16384 ||
        img->h > 16384)
        return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_image", "ocr: bad image size");
    int dw, dh;
    rt_ocr_det_size(&o->op, img->w, img->h, &dw, &dh);
    float *map = NULL;
    int rc = 0;
    json_t *shapes = json_object();
    if (dbg && dbg->det_map) {
        if (dbg->det_map_w != dw || dbg->det_map_h != dh) {
            json_decref(shapes);
            return err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_argument",
                           "ocr: given map is %dx%d, the detection input is %dx%d", dbg->det_map_w,
                           dbg->det_map_h, dw, dh);
        }
        map = malloc((size_t)dw * dh * sizeof(float));
        if (map == NULL) {
            json_decref(shapes);
            return OOM();
        }
        memcpy(map, dbg->det_map, (size_t)dw * dh * sizeof(float));
    } else {
        static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
        float *in = malloc((size_t)dw * dh * 3 * sizeof(float));
        map = malloc((size_t)dw * dh * sizeof(float));
        struct ocr_exec *x = NULL;
        if (in == NULL || map == NULL)
            rc = OOM();
        else if ((x = exec_get(o, G_DET, dh, dw, 1, e)) == NULL)
            rc = e->status ? e->status : RT_ERR_INVALID;
        if (rc == 0) {
            resize_norm(img->rgb, img->w, img->h, dw, dh, dw, mean, std, in);
            dump(dbg, "det_in.f32", in, (size_t)dw * dh * 3);
            const float *ins[1] = {in};
            rc = rt_exec_run(x->x, 1, ins, &map, e);
        }
        free(in);
    }
    json_object_set_new(shapes, "det", json_pack("[ii]", dh, dw));
    dump(dbg, "det_map.f32", map, (size_t)dw * dh);
    struct box *boxes = NULL;
    int nb = 0;
    if (rc == 0) {
        boxes = malloc(RT_OCR_MAX_LINES * sizeof(*boxes));
        if (boxes == NULL)
            rc = OOM();
        else if ((nb = db_boxes(&o->op, map, dw, dh, img->w, img->h, boxes, RT_OCR_MAX_LINES, e)) <
                 0)
            rc = nb;
    }
    free(map);
    json_t *lines = json_array(), *recs = json_array(), *cls = json_array(), *bx = json_array();
    for (int i = 0; i < nb; i++)
        json_array_append_new(bx, json_pack("[ffffffff]", boxes[i].p[0].x, boxes[i].p[0].y,
                                            boxes[i].p[1].x, boxes[i].p[1].y, boxes[i].p[2].x,
                                            boxes[i].p[2].y, boxes[i].p[3].x, boxes[i].p[3].y));
    char *all = NULL;
    size_t all_len = 0;
    struct line *ls = nb > 0 ? calloc((size_t)nb, sizeof(*ls)) : NULL;
    if (nb > 0 && ls == NULL)
        rc = OOM();
    for (int i = 0; rc == 0 && i < nb; i++)
        ls[i].c = crop(img, &boxes[i], &ls[i].cw, &ls[i].ch);
    if (rc == 0)
        rc = orient(o, dbg, ls, nb, e);
    for (int i = 0; rc == 0 && i < nb; i++) {
        struct line *l = &ls[i];
        if (l->c == NULL)
            continue;
        json_array_append_new(cls, json_pack("[if]", i, l->p180));
        int rw = (int)ceil(RT_OCR_REC_H * (double)l->cw / l->ch);
        int W = RT_OCR_REC_MIN_W;
        while (W < rw && W < o->op.rec_max_w)
            W += RT_OCR_REC_STEP_W;
        if (W > o->op.rec_max_w)
            W = o->op.rec_max_w;
        l->rw = rw > W ? W : (rw < 1 ? 1 : rw);
        l->W = W;
    }
    if (rc == 0 && dbg && dbg->inputs_only) {
        /* the crops for another runtime, without recognising them here */
        static const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
        for (int i = 0; rc == 0 && i < nb; i++) {
            struct line *l = &ls[i];
            if (l->c == NULL)
                continue;
            float *in = calloc((size_t)l->W * RT_OCR_REC_H * 3, sizeof(float));
            if (in == NULL) {
                rc = OOM();
                break;
            }
            resize_norm(l->c, l->cw, l->ch, l->rw, RT_OCR_REC_H, l->W, mean, std, in);
            char nm[32];
            snprintf(nm, sizeof(nm), "rec_%d.f32", i);
            dump(dbg, nm, in, (size_t)l->W * RT_OCR_REC_H * 3);
            json_array_append_new(recs, json_pack("[iii]", i, RT_OCR_REC_H, l->W));
            free(in);
        }
    } else if (rc == 0) {
        rc = recognise(o, dbg, ls, nb, recs, e);
    }
    for (int i = 0; rc == 0 && i < nb; i++) {
        const struct line *l = &ls[i];
        if (l->text == NULL || l->nc == 0 || l->conf < o->op.min_score)
            continue;
        const struct box *b = &boxes[i];
        json_t *poly = json_array();
        double x0 = 1, y0 = 1, x1 = 0, y1 = 0;
        for (int k = 0; k < 4; k++) {
            double px = b->p[k].x / img->w, py = b->p[k].y / img->h;
            x0 = fmin(x0, px);
            x1 = fmax(x1, px);
            y0 = fmin(y0, py);
            y1 = fmax(y1, py);
            json_array_append_new(poly, json_pack("{s:f,s:f}", "x", r6(px), "y", r6(py)));
        }
        json_array_append_new(lines, json_pack("{s:s,s:f,s:f,s:i,s:o,s:{s:f,s:f,s:f,s:f}}", "text",
                                               l->text, "confidence", r6(l->conf), "box_score",
                                               r6(b->score), "angle", l->angle, "polygon", poly,
                                               "box", "x_min", r6(x0), "y_min", r6(y0), "x_max",
                                               r6(x1), "y_max", r6(y1)));
        size_t tl = strlen(l->text);
        char *na = realloc(all, all_len + tl + 2);
        if (na) {
            all = na;
            if (all_len)
                all[all_len++] = '\n';
            memcpy(all + all_len, l->text, tl);
            all_len += tl;
            all[all_len] = '\0';
        }
    }
    for (int i = 0; ls && i < nb; i++) {
        free(ls[i].c);
        free(ls[i].text);
    }
    free(ls);
    free(boxes);
    if (dbg && dbg->dump_dir) {
        json_object_set_new(shapes, "rec", recs);
        json_object_set_new(shapes, "cls", cls);
        json_object_set_new(shapes, "boxes", bx);
        char path[1200];
        snprintf(path, sizeof(path), "%s/shapes.json", dbg->dump_dir);
        json_dump_file(shapes, path, JSON_COMPACT);
    } else {
        json_decref(recs);
        json_decref(cls);
        json_decref(bx);
    }
    json_decref(shapes);
    if (rc < 0) {
        json_decref(lines);
        free(all);
        return rc;
    }
    *result = json_pack("{s:s,s:{s:i,s:i},s:o,s:s}", "model", name, "image", "width", img->w,
                        "height", img->h, "lines", lines, "text", all ? all : "");
    free(all);
    return 0;
}
