/*
 * rt_task_detect.c: CPU decode of the CenterNet detection head (peak
 * picking, top-k, boxes, NMS, result JSON) and of person masks (largest
 * component -> traced outline -> simplified SVG path).
 *
 * The tfjs CenterNet graph ends in MaxPool/Equal/TopKV2/GatherV2 over a
 * 128x128x80 heat map: 1.3 M floats, a few milliseconds of scalar code.
 * Running that on the GPU would need integer TopK and Gather kernels for
 * no gain, so the plan stops at `keypoints` + `wh` and this file finishes
 * the job, reproducing the graph's arithmetic exactly (see the header).
 * Mask tracing walks pixel edges, so the outline is exact before it is
 * simplified.  See tests/moondream/README.md ("Detection decode").
 */
#include "tasks/rt_task_detect.h"

#include "runtime/rt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rt_centernet_opts rt_centernet_opts_default(void)
{
    struct rt_centernet_opts o;
    o.topk = 100;
    o.stride = 4.0f;
    o.min_score = 0.2f;
    o.nms_iou = 0.5f;
    o.per_class = 1;
    o.max_out = 100;
    return o;
}

/* a before b in TopKV2 order: higher score, then lower flat index */
static int det_before(float sa, int64_t ia, float sb, int64_t ib)
{
    return sa > sb || (sa == sb && ia < ib);
}

/*
 * Inserts a candidate into out[0..*n) kept sorted in TopKV2 order, holding
 * at most k entries.  k is small (100) and peaks above the threshold are
 * few, so a binary search + memmove beats a heap in practice.
 */
static void topk_insert(struct rt_det *out, int *n, int k, float s, int64_t idx)
{
    if (*n == k && !det_before(s, idx, out[k - 1].score, out[k - 1].idx))
        return;
    int lo = 0, hi = *n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (det_before(out[mid].score, out[mid].idx, s, idx))
            lo = mid + 1;
        else
            hi = mid;
    }
    int last = *n < k ? *n : k - 1;
    if (last > lo)
        memmove(&out[lo + 1], &out[lo], (size_t)(last - lo) * sizeof(*out));
    out[lo].score = s;
    out[lo].idx = idx;
    if (*n < k)
        (*n)++;
}

int rt_centernet_decode(const float *heat, const float *wh, int h, int w, int c,
                        const struct rt_centernet_opts *o, struct rt_det *out, struct err *e)
{
    if (!heat || !wh || !o || !out || h <= 0 || w <= 0 || c <= 0 || o->topk <= 0 ||
        (int64_t)h * w * c > (int64_t)1 << 30)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "invalid_detection_head",
                       "invalid detection head: %dx%dx%d, topk %d", h, w, c, o ? o->topk : 0);
    int n = 0;
    int64_t hw_c = (int64_t)w * c;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const float *p = heat + ((int64_t)y * w + x) * c;
            for (int k = 0; k < c; k++) {
                float v = p[k];
                /* NaN fails this test too */
                if (!(v >= o->min_score))
                    continue;
                int peak = 1;
                for (int dy = -1; dy <= 1 && peak; dy++) {
                    int yy = y + dy;
                    if (yy < 0 || yy >= h)
                        continue;
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx;
                        if (xx < 0 || xx >= w || (dx == 0 && dy == 0))
                            continue;
                        if (p[(int64_t)dy * hw_c + (int64_t)dx * c + k] > v) {
                            peak = 0;
                            break;
                        }
                    }
                }
                if (peak)
                    topk_insert(out, &n, o->topk, v, ((int64_t)y * w + x) * c + k);
            }
        }
    }
    for (int i = 0; i < n; i++) {
        int64_t idx = out[i].idx;
        int cls = (int)(idx % c);
        int64_t cell = idx / c;
        int x = (int)(cell % w), y = (int)(cell / w);
        const float *b = wh + cell * 4;
        float cx = o->stride * (float)x, cy = o->stride * (float)y;
        out[i].cls = cls;
        out[i].x1 = cx - b[0];
        out[i].y1 = cy - b[1];
        out[i].x2 = cx + b[2];
        out[i].y2 = cy + b[3];
    }
    return n;
}

float rt_det_iou(const struct rt_det *a, const struct rt_det *b)
{
    /* tf.image.nonMaxSuppression normalises corner order first */
    float ax1 = fminf(a->x1, a->x2), ax2 = fmaxf(a->x1, a->x2);
    float ay1 = fminf(a->y1, a->y2), ay2 = fmaxf(a->y1, a->y2);
    float bx1 = fminf(b->x1, b->x2), bx2 = fmaxf(b->x1, b->x2);
    float by1 = fminf(b->y1, b->y2), by2 = fmaxf(b->y1, b->y2);
    float area_a = (ax2 - ax1) * (ay2 - ay1);
    float area_b = (bx2 - bx1) * (by2 - by1);
    if (area_a <= 0.0f || area_b <= 0.0f)
        return 0.0f;
    float iw = fminf(ax2, bx2) - fmaxf(ax1, bx1);
    float ih = fminf(ay2, by2) - fmaxf(ay1, by1);
    if (iw <= 0.0f || ih <= 0.0f)
        return 0.0f;
    float inter = iw * ih;
    return inter / (area_a + area_b - inter);
}

int rt_det_nms(struct rt_det *d, int n, float iou, int per_class, int max_keep)
{
    int kept = 0;
    for (int i = 0; i < n && kept < max_keep; i++) {
        int drop = 0;
        for (int j = 0; j < kept; j++) {
            if (per_class && d[j].cls != d[i].cls)
                continue;
            if (rt_det_iou(&d[j], &d[i]) > iou) {
                drop = 1;
                break;
            }
        }
        if (!drop)
            d[kept++] = d[i];
    }
    return kept;
}

static double clamp01(double v)
{
    return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

/* rounds to 1e-6 so JSON stays short and both sides compare stably */
static json_t *jnum(double v)
{
    return json_real(round(v * 1e6) / 1e6);
}

json_t *rt_det_result_json(const struct rt_det *d, int n, int in_w, int in_h,
                           const char *const *labels, int nlabels, int img_w, int img_h)
{
    json_t *root = json_object();
    json_t *arr = json_array();
    json_t *img = json_object();
    if (!root || !arr || !img)
        goto oom;
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        char name[32];
        const char *label = name;
        if (d[i].cls >= 0 && d[i].cls < nlabels && labels && labels[d[i].cls])
            label = labels[d[i].cls];
        else
            snprintf(name, sizeof(name), "class_%d", d[i].cls);
        if (!o || json_array_append_new(arr, o) < 0)
            goto oom;
        if (json_object_set_new(o, "label", json_string(label)) < 0 ||
            json_object_set_new(o, "class", json_integer(d[i].cls)) < 0 ||
            json_object_set_new(o, "score", jnum(d[i].score)) < 0 ||
            json_object_set_new(o, "x_min", jnum(clamp01((double)fminf(d[i].x1, d[i].x2) / in_w))) <
                0 ||
            json_object_set_new(o, "y_min", jnum(clamp01((double)fminf(d[i].y1, d[i].y2) / in_h))) <
                0 ||
            json_object_set_new(o, "x_max", jnum(clamp01((double)fmaxf(d[i].x1, d[i].x2) / in_w))) <
                0 ||
            json_object_set_new(o, "y_max", jnum(clamp01((double)fmaxf(d[i].y1, d[i].y2) / in_h))) <
                0)
            goto oom;
    }
    if (json_object_set_new(img, "width", json_integer(img_w)) < 0 ||
        json_object_set_new(img, "height", json_integer(img_h)) < 0)
        goto oom;
    if (json_object_set_new(root, "objects", arr) < 0) {
        arr = NULL;
        goto oom;
    }
    arr = NULL;
    if (json_object_set_new(root, "image", img) < 0) {
        img = NULL;
        goto oom;
    }
    return root;
oom:
    json_decref(arr);
    json_decref(img);
    json_decref(root);
    return NULL;
}

/* ---- masks to SVG paths -------------------------------------------------- */

#define MASK_MAX_SIDE 4096

struct pt {
    int x, y;
};

/* squared distance of p from the segment a-b */
static double seg_dist2(struct pt p, struct pt a, struct pt b)
{
    double dx = b.x - a.x, dy = b.y - a.y;
    double px = p.x - a.x, py = p.y - a.y;
    double len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0.0;
    if (t < 0)
        t = 0;
    if (t > 1)
        t = 1;
    double ex = px - t * dx, ey = py - t * dy;
    return ex * ex + ey * ey;
}

/*
 * Douglas-Peucker on pts[a..b] with an explicit stack (outlines can be
 * tens of thousands of points long); marks survivors in keep[].
 * stack must hold 2 * (b - a + 1) ints.
 */
static void dp_simplify(const struct pt *pts, int a, int b, double eps2, unsigned char *keep,
                        int *stack)
{
    int sp = 0;
    keep[a] = keep[b] = 1;
    stack[sp++] = a;
    stack[sp++] = b;
    while (sp > 0) {
        int hi = stack[--sp], lo = stack[--sp];
        double best = -1.0;
        int bi = -1;
        for (int i = lo + 1; i < hi; i++) {
            double d2 = seg_dist2(pts[i], pts[lo], pts[hi]);
            if (d2 > best) {
                best = d2;
                bi = i;
            }
        }
        if (bi >= 0 && best > eps2) {
            keep[bi] = 1;
            stack[sp++] = lo;
            stack[sp++] = bi;
            stack[sp++] = bi;
            stack[sp++] = hi;
        }
    }
}

int rt_mask_svg_path(const float *mask, int h, int w, float thr, float eps_px, char **path,
                     float bbox[4], struct err *e)
{
    *path = NULL;
    bbox[0] = bbox[1] = bbox[2] = bbox[3] = 0.0f;
    if (!mask || h <= 0 || w <= 0 || h > MASK_MAX_SIDE || w > MASK_MAX_SIDE)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "invalid_mask", "invalid mask size: %dx%d",
                       w, h);
    size_t np = (size_t)w * (size_t)h;
    size_t nv = (size_t)(w + 1) * (size_t)(h + 1);
    int *lab = malloc(np * sizeof(int));
    int *queue = malloc(np * sizeof(int));
    /* up to two outgoing boundary edges per pixel corner */
    int *out_e = malloc(nv * 2 * sizeof(int));
    struct pt *loop = NULL, *best = NULL;
    unsigned char *keep = NULL;
    int *stack = NULL;
    char *s = NULL;
    int ret = 0;
    if (!lab || !queue || !out_e)
        goto oom;

    /* 1. 4-connected components of the foreground; remember the largest */
    for (size_t i = 0; i < np; i++)
        lab[i] = mask[i] >= thr ? 0 : -1;
    int ncomp = 0, big = -1;
    size_t big_n = 0;
    int bx0 = 0, by0 = 0, bx1 = 0, by1 = 0;
    for (size_t i = 0; i < np; i++) {
        if (lab[i] != 0)
            continue;
        int id = ++ncomp;
        size_t qh = 0, qt = 0, cnt = 0;
        int mnx = w, mny = h, mxx = -1, mxy = -1;
        lab[i] = id;
        queue[qt++] = (int)i;
        while (qh < qt) {
            int q = queue[qh++];
            int x = q % w, y = q / w;
            cnt++;
            if (x < mnx)
                mnx = x;
            if (x > mxx)
                mxx = x;
            if (y < mny)
                mny = y;
            if (y > mxy)
                mxy = y;
            int nb[4] = {x > 0 ? q - 1 : -1, x < w - 1 ? q + 1 : -1, y > 0 ? q - w : -1,
                         y < h - 1 ? q + w : -1};
            for (int k = 0; k < 4; k++) {
                if (nb[k] >= 0 && lab[nb[k]] == 0) {
                    lab[nb[k]] = id;
                    queue[qt++] = nb[k];
                }
            }
        }
        if (cnt > big_n) {
            big_n = cnt;
            big = id;
            bx0 = mnx, by0 = mny, bx1 = mxx, by1 = mxy;
        }
    }
    if (big < 0) {
        s = strdup("");
        if (!s)
            goto oom;
        *path = s;
        s = NULL;
        goto done;
    }
    bbox[0] = (float)bx0 / (float)w;
    bbox[1] = (float)by0 / (float)h;
    bbox[2] = (float)(bx1 + 1) / (float)w;
    bbox[3] = (float)(by1 + 1) / (float)h;

    /* 2. directed boundary edges, foreground on the right (y down) */
    for (size_t v = 0; v < nv * 2; v++)
        out_e[v] = -1;
    size_t nedges = 0;
    int W1 = w + 1;
#define IN(xx, yy)                                                                                 \
    ((xx) >= 0 && (xx) < w && (yy) >= 0 && (yy) < h &&                                             \
     lab[(size_t)(yy) * (size_t)w + (size_t)(xx)] == big)
#define ADD_EDGE(ax, ay, bx, by)                                                                   \
    do {                                                                                           \
        int va_ = (ay)*W1 + (ax), vb_ = (by)*W1 + (bx);                                            \
        if (out_e[va_ * 2] < 0)                                                                    \
            out_e[va_ * 2] = vb_;                                                                  \
        else                                                                                       \
            out_e[va_ * 2 + 1] = vb_;                                                              \
        nedges++;                                                                                  \
    } while (0)
    for (int y = by0; y <= by1; y++) {
        for (int x = bx0; x <= bx1; x++) {
            if (!IN(x, y))
                continue;
            if (!IN(x, y - 1))
                ADD_EDGE(x, y, x + 1, y);
            if (!IN(x + 1, y))
                ADD_EDGE(x + 1, y, x + 1, y + 1);
            if (!IN(x, y + 1))
                ADD_EDGE(x + 1, y + 1, x, y + 1);
            if (!IN(x - 1, y))
                ADD_EDGE(x, y + 1, x, y);
        }
    }
#undef ADD_EDGE
#undef IN

    /* 3. chain edges into closed loops; keep the one with the largest
     * positive (clockwise on screen = outer) area */
    loop = malloc((nedges + 1) * sizeof(*loop));
    best = malloc((nedges + 1) * sizeof(*best));
    if (!loop || !best)
        goto oom;
    size_t best_n = 0;
    long long best_area = 0;
    for (size_t v0 = 0; v0 < nv; v0++) {
        while (out_e[v0 * 2] >= 0 || out_e[v0 * 2 + 1] >= 0) {
            size_t n = 0;
            int v = (int)v0, pdx = 0, pdy = 0;
            long long area2 = 0;
            for (size_t guard = 0; guard <= nedges; guard++) {
                int *o = &out_e[(size_t)v * 2];
                int pick;
                if (o[0] >= 0 && o[1] >= 0) {
                    /* a saddle: turn right (stay with the current pixel),
                     * which keeps diagonal-only neighbours apart */
                    int vx = v % W1, vy = v / W1;
                    int dx0 = o[0] % W1 - vx, dy0 = o[0] / W1 - vy;
                    /* right turn of (pdx,pdy) in y-down coordinates */
                    int rx = -pdy, ry = pdx;
                    pick = (dx0 == rx && dy0 == ry) ? 0 : 1;
                } else {
                    pick = o[0] >= 0 ? 0 : 1;
                }
                int nxt = o[pick];
                o[pick] = -1;
                if (pick == 0 && o[1] >= 0) {
                    o[0] = o[1];
                    o[1] = -1;
                }
                int x0 = v % W1, y0 = v / W1, x1 = nxt % W1, y1 = nxt / W1;
                loop[n].x = x0;
                loop[n].y = y0;
                n++;
                area2 += (long long)x0 * y1 - (long long)x1 * y0;
                pdx = x1 - x0;
                pdy = y1 - y0;
                v = nxt;
                if ((size_t)v == v0)
                    break;
            }
            if (area2 > best_area) {
                best_area = area2;
                best_n = n;
                struct pt *t = best;
                best = loop;
                loop = t;
            }
        }
    }
    if (best_n < 3) {
        s = strdup("");
        if (!s)
            goto oom;
        *path = s;
        s = NULL;
        goto done;
    }

    /* 4. drop collinear corners, then Douglas-Peucker on the closed loop
     * split at point 0 and the point farthest from it */
    size_t m = 0;
    for (size_t i = 0; i < best_n; i++) {
        struct pt a = best[(i + best_n - 1) % best_n], b = best[i], c = best[(i + 1) % best_n];
        long long cross =
            (long long)(b.x - a.x) * (c.y - b.y) - (long long)(b.y - a.y) * (c.x - b.x);
        if (cross != 0)
            loop[m++] = b;
    }
    if (m < 3) {
        s = strdup("");
        if (!s)
            goto oom;
        *path = s;
        s = NULL;
        goto done;
    }
    keep = calloc(m + 1, 1);
    stack = malloc((2 * (m + 1) + 8) * sizeof(int));
    if (!keep || !stack)
        goto oom;
    size_t far = 0;
    long long fd = -1;
    for (size_t i = 1; i < m; i++) {
        long long dx = loop[i].x - loop[0].x, dy = loop[i].y - loop[0].y;
        if (dx * dx + dy * dy > fd) {
            fd = dx * dx + dy * dy;
            far = i;
        }
    }
    loop[m] = loop[0]; /* close the loop for the second half */
    double eps2 = (double)eps_px * (double)eps_px;
    dp_simplify(loop, 0, (int)far, eps2, keep, stack);
    dp_simplify(loop, (int)far, (int)m, eps2, keep, stack);

    /* 5. write "M x,y L x,y ... Z" */
    size_t cap = 32 + m * 32, len = 0;
    s = malloc(cap);
    if (!s)
        goto oom;
    int nverts = 0;
    for (size_t i = 0; i < m; i++) {
        if (!keep[i])
            continue;
        int k = snprintf(s + len, cap - len, "%s%.3f,%.3f", nverts ? " L " : "M ",
                         (double)loop[i].x / w, (double)loop[i].y / h);
        if (k < 0 || (size_t)k >= cap - len)
            goto oom;
        len += (size_t)k;
        nverts++;
    }
    if (len + 3 > cap)
        goto oom;
    memcpy(s + len, " Z", 3);
    *path = s;
    s = NULL;
    ret = nverts;
    goto done;

oom:
    ret = err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                  "could not allocate the outline of a %dx%d mask", w, h);
    if (e)
        e->transient = 1;
done:
    free(s);
    free(stack);
    free(keep);
    free(best);
    free(loop);
    free(out_e);
    free(queue);
    free(lab);
    return ret;
}

/* ---- glue for the task runner ------------------------------------------- */

int rt_centernet_opts_from_json(const json_t *post, struct rt_centernet_opts *o, struct err *e)
{
    *o = rt_centernet_opts_default();
    if (post == NULL || json_is_null(post))
        return 0;
    if (!json_is_object(post))
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "invalid_manifest",
                       "\"post\" is not an object");
    const json_t *v;
    if ((v = json_object_get(post, "topk")) != NULL)
        o->topk = (int)json_integer_value(v);
    if ((v = json_object_get(post, "stride")) != NULL)
        o->stride = (float)json_number_value(v);
    if ((v = json_object_get(post, "min_score")) != NULL)
        o->min_score = (float)json_number_value(v);
    if ((v = json_object_get(post, "nms_iou")) != NULL)
        o->nms_iou = (float)json_number_value(v);
    if ((v = json_object_get(post, "per_class")) != NULL)
        o->per_class = json_is_true(v);
    if ((v = json_object_get(post, "max_out")) != NULL)
        o->max_out = (int)json_integer_value(v);
    if (o->topk < 1 || o->topk > 1000 || !(o->stride > 0.0f) || !(o->min_score >= 0.0f) ||
        !(o->nms_iou > 0.0f && o->nms_iou <= 1.0f) || o->max_out < 1 || o->max_out > 1000)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "invalid_manifest",
                       "invalid detection settings: topk %d, stride %g, min_score %g, "
                       "nms_iou %g, max_out %d",
                       o->topk, (double)o->stride, (double)o->min_score, (double)o->nms_iou,
                       o->max_out);
    return 0;
}

int rt_task_detect_post(const struct rt_centernet_opts *o, const float *heat, const float *wh,
                        int h, int w, int c, int in_w, int in_h, const char *const *labels,
                        int nlabels, int img_w, int img_h, char **result, struct err *e)
{
    *result = NULL;
    if (in_w <= 0 || in_h <= 0)
        return err_set(e, RT_ERR_INVALID, ERR_INTERNAL, "invalid_detection_head",
                       "invalid model input size %dx%d", in_w, in_h);
    struct rt_det *d = malloc((size_t)o->topk * sizeof(*d));
    if (d == NULL)
        return err_set_transient(e, RT_ERR_OOM, "out_of_memory", "could not allocate %d boxes",
                                 o->topk);
    int n = rt_centernet_decode(heat, wh, h, w, c, o, d, e);
    if (n >= 0) {
        n = rt_det_nms(d, n, o->nms_iou, o->per_class, o->max_out);
        json_t *j = rt_det_result_json(d, n, in_w, in_h, labels, nlabels, img_w, img_h);
        *result = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (*result == NULL)
            n = err_set_transient(e, RT_ERR_OOM, "out_of_memory",
                                  "could not build the detection result");
    }
    free(d);
    return n;
}

int rt_task_segment_post(const float *mask, int h, int w, float thr, char **result, struct err *e)
{
    *result = NULL;
    char *path = NULL;
    float bb[4];
    /* 1 mask pixel of tolerance: a 256x256 mask gives ~30-80 vertices */
    int n = rt_mask_svg_path(mask, h, w, thr, 1.0f, &path, bb, e);
    if (n < 0)
        return n;
    size_t fg = 0, np = (size_t)h * (size_t)w;
    for (size_t i = 0; i < np; i++)
        fg += mask[i] >= thr;
    json_t *j = json_pack("{s:s, s:{s:f, s:f, s:f, s:f}, s:f, s:i}", "path", path, "bbox", "x_min",
                          (double)bb[0], "y_min", (double)bb[1], "x_max", (double)bb[2], "y_max",
                          (double)bb[3], "coverage", round((double)fg / (double)np * 1e4) / 1e4,
                          "vertices", n);
    free(path);
    *result = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (*result == NULL)
        return err_set_transient(e, RT_ERR_OOM, "out_of_memory",
                                 "could not build the segment result");
    return 0;
}
