/*
 * test_md_decode.c: the CenterNet CPU decode and the mask outline against
 * synthetic inputs, and against a literal re-implementation of the tfjs
 * graph tail (MaxPool 3x3 SAME, Equal, Mul, full sort, TopKV2 k=100) on
 * random heat maps.  No device, no model files.  See tests/moondream/README.md.
 */
#include "tasks/rt_task_detect.h"

#include "tests/lib/th.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define H 128
#define W 128
#define C 80

static float *heat_new(void)
{
    return calloc((size_t)H * W * C, sizeof(float));
}

static float *wh_new(float l, float t, float r, float b)
{
    float *wh = malloc((size_t)H * W * 4 * sizeof(float));
    for (int i = 0; i < H * W; i++) {
        wh[i * 4 + 0] = l;
        wh[i * 4 + 1] = t;
        wh[i * 4 + 2] = r;
        wh[i * 4 + 3] = b;
    }
    return wh;
}

static void put(float *heat, int y, int x, int c, float v)
{
    heat[((size_t)y * W + x) * C + c] = v;
}

/* a 3x3 blob with its maximum in the middle, as a real heat map has */
static void blob(float *heat, int y, int x, int c, float v)
{
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
            if (y + dy >= 0 && y + dy < H && x + dx >= 0 && x + dx < W)
                put(heat, y + dy, x + dx, c, v * ((dx || dy) ? 0.5f : 1.0f));
}

/* ---- the literal graph tail, for the randomised comparison --------------- */

struct cand {
    float s;
    int64_t i;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* keypoints * (keypoints == maxpool(keypoints)), reshape, top 100 */
static int graph_tail(const float *heat, struct cand *top)
{
    size_t n = (size_t)H * W * C;
    struct cand *all = malloc(n * sizeof(*all));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                float v = heat[((size_t)y * W + x) * C + c], m = -INFINITY;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= H || xx < 0 || xx >= W)
                            continue;
                        float u = heat[((size_t)yy * W + xx) * C + c];
                        if (u > m)
                            m = u;
                    }
                size_t i = ((size_t)y * W + x) * C + c;
                all[i].s = v == m ? v : 0.0f;
                all[i].i = (int64_t)i;
            }
    qsort(all, n, sizeof(*all), cand_cmp);
    memcpy(top, all, 100 * sizeof(*top));
    free(all);
    return 100;
}

static void test_synthetic(void)
{
    float *heat = heat_new(), *wh = wh_new(10, 20, 30, 40);
    blob(heat, 50, 60, 0, 0.9f);  /* person */
    blob(heat, 10, 100, 2, 0.7f); /* car */
    blob(heat, 0, 0, 41, 0.6f);   /* cup, at the corner: SAME padding */
    blob(heat, 127, 127, 41, 0.5f);
    blob(heat, 90, 20, 5, 0.1f); /* below min_score */
    struct rt_centernet_opts o = rt_centernet_opts_default();
    struct rt_det d[100];
    struct err e;
    int n = rt_centernet_decode(heat, wh, H, W, C, &o, d, &e);
    TH_EQ_INT(n, 4, "decode finds the four peaks above 0.2 (blob shoulders are not peaks)");
    TH_CHECK(n >= 1 && d[0].cls == 0 && d[0].score == 0.9f, "best first: person 0.9");
    TH_CHECK(n >= 1 && d[0].x1 == 4 * 60 - 10 && d[0].y1 == 4 * 50 - 20 && d[0].x2 == 4 * 60 + 30 &&
                 d[0].y2 == 4 * 50 + 40,
             "box = 4x-l, 4y-t, 4x+r, 4y+b");
    TH_CHECK(n >= 2 && d[1].cls == 2, "second: car");
    TH_CHECK(n >= 3 && d[2].cls == 41 && d[2].x1 == -10 && d[2].y1 == -20,
             "corner peak kept (padding never wins the max-pool)");
    TH_CHECK(n >= 4 && d[3].cls == 41 && d[3].x2 == 4 * 127 + 30, "far corner peak");

    /* plateau: two equal neighbours are both peaks; lower index first */
    memset(heat, 0, (size_t)H * W * C * sizeof(float));
    put(heat, 5, 5, 7, 0.8f);
    put(heat, 5, 6, 7, 0.8f);
    n = rt_centernet_decode(heat, wh, H, W, C, &o, d, &e);
    TH_EQ_INT(n, 2, "equal neighbours are both peaks (Equal against the pool)");
    TH_CHECK(n == 2 && d[0].idx < d[1].idx, "ties ordered by flat index, as TopKV2");

    /* a higher neighbour in another class does not suppress */
    put(heat, 5, 7, 8, 0.95f);
    n = rt_centernet_decode(heat, wh, H, W, C, &o, d, &e);
    TH_EQ_INT(n, 3, "the max-pool is per channel");

    /* top-k caps the count */
    memset(heat, 0, (size_t)H * W * C * sizeof(float));
    for (int y = 0; y < H; y += 4)
        for (int x = 0; x < W; x += 4)
            put(heat, y, x, 1, 0.3f + 0.0001f * (float)(y * W + x) / 16.0f);
    o.topk = 100;
    n = rt_centernet_decode(heat, wh, H, W, C, &o, d, &e);
    TH_EQ_INT(n, 100, "1024 peaks capped at topk 100");
    int sorted = 1;
    for (int i = 1; i < n; i++)
        if (d[i].score > d[i - 1].score)
            sorted = 0;
    TH_CHECK(sorted, "candidates sorted by score");

    /* NaN never becomes a detection */
    memset(heat, 0, (size_t)H * W * C * sizeof(float));
    put(heat, 3, 3, 3, NAN);
    n = rt_centernet_decode(heat, wh, H, W, C, &o, d, &e);
    TH_EQ_INT(n, 0, "NaN scores are skipped");

    n = rt_centernet_decode(heat, wh, 0, W, C, &o, d, &e);
    TH_CHECK(n < 0 && strcmp(e.code, "invalid_detection_head") == 0, "bad sizes are refused");
    free(heat);
    free(wh);
}

static void test_against_graph_tail(void)
{
    float *heat = heat_new(), *wh = malloc((size_t)H * W * 4 * sizeof(float));
    struct cand top[100];
    struct rt_det d[100];
    struct err e;
    srand(12345);
    int all_ok = 1;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < (size_t)H * W * C; i++) {
            /* sparse smooth-ish scores with ties (quantised to 1/64) */
            float r = (float)(rand() % 64) / 64.0f;
            heat[i] = (rand() % 8 == 0) ? r : 0.0f;
        }
        for (size_t i = 0; i < (size_t)H * W * 4; i++)
            wh[i] = (float)(rand() % 1000) / 10.0f;
        struct rt_centernet_opts o = rt_centernet_opts_default();
        o.min_score = 0.0f; /* keep everything the graph keeps */
        int n = rt_centernet_decode(heat, wh, H, W, C, &o, d, &e);
        graph_tail(heat, top);
        if (n != 100) {
            all_ok = 0;
            printf("# round %d: n = %d\n", round, n);
            continue;
        }
        for (int i = 0; i < 100; i++) {
            if (d[i].idx != top[i].i || d[i].score != top[i].s) {
                printf("# round %d rank %d: idx %lld/%lld score %g/%g\n", round, i,
                       (long long)d[i].idx, (long long)top[i].i, d[i].score, top[i].s);
                all_ok = 0;
                break;
            }
            int64_t cell = top[i].i / C;
            int x = (int)(cell % W), y = (int)(cell / W);
            if (d[i].cls != (int)(top[i].i % C) || d[i].x1 != 4.0f * x - wh[cell * 4] ||
                d[i].y2 != 4.0f * y + wh[cell * 4 + 3]) {
                all_ok = 0;
                break;
            }
        }
    }
    TH_CHECK(all_ok, "decode = literal MaxPool/Equal/TopKV2/Gather tail on 3 random heat maps");
    free(heat);
    free(wh);
}

static struct rt_det box(float x1, float y1, float x2, float y2, float s, int cls)
{
    struct rt_det d = {x1, y1, x2, y2, s, cls, 0};
    return d;
}

static void test_nms(void)
{
    struct rt_det d[5];
    d[0] = box(0, 0, 100, 100, 0.9f, 0);
    d[1] = box(10, 10, 110, 110, 0.8f, 0);   /* IoU 0.68 with d0: dropped */
    d[2] = box(10, 10, 110, 110, 0.7f, 1);   /* other class: kept per class */
    d[3] = box(200, 200, 300, 300, 0.6f, 0); /* disjoint: kept */
    d[4] = box(50, 0, 150, 100, 0.5f, 0);    /* IoU 1/3 with d0: kept at 0.5 */
    TH_CHECK(fabsf(rt_det_iou(&d[0], &d[4]) - 1.0f / 3.0f) < 1e-6f,
             "IoU of half-overlapping boxes");
    struct rt_det a[5];
    memcpy(a, d, sizeof(d));
    int n = rt_det_nms(a, 5, 0.5f, 1, 100);
    TH_EQ_INT(n, 4, "per-class NMS keeps 4 of 5");
    TH_CHECK(n == 4 && a[0].score == 0.9f && a[1].cls == 1 && a[2].score == 0.6f &&
                 a[3].score == 0.5f,
             "kept in score order");
    memcpy(a, d, sizeof(d));
    n = rt_det_nms(a, 5, 0.5f, 0, 100);
    TH_EQ_INT(n, 3, "class-agnostic NMS also drops the other-class duplicate");
    memcpy(a, d, sizeof(d));
    n = rt_det_nms(a, 5, 0.3f, 1, 2);
    TH_EQ_INT(n, 2, "max_keep caps the result");
    struct rt_det z = box(5, 5, 5, 50, 0.9f, 0);
    TH_CHECK(rt_det_iou(&z, &d[0]) == 0.0f, "empty box has IoU 0");
}

static void test_json(void)
{
    const char *labels[] = {"person", "bicycle", "car"};
    struct rt_det d[2];
    d[0] = box(-10, 256, 128, 600, 0.75f, 2);
    d[1] = box(0, 0, 512, 512, 0.5f, 9);
    json_t *j = rt_det_result_json(d, 2, 512, 512, labels, 3, 800, 600);
    TH_CHECK(j != NULL, "result JSON built");
    json_t *o = json_array_get(json_object_get(j, "objects"), 0);
    TH_EQ_STR(json_string_value(json_object_get(o, "label")), "car", "label from the class list");
    TH_CHECK(json_real_value(json_object_get(o, "x_min")) == 0.0 &&
                 json_real_value(json_object_get(o, "y_min")) == 0.5 &&
                 json_real_value(json_object_get(o, "x_max")) == 0.25 &&
                 json_real_value(json_object_get(o, "y_max")) == 1.0,
             "normalised by the input size and clamped to 0..1");
    o = json_array_get(json_object_get(j, "objects"), 1);
    TH_EQ_STR(json_string_value(json_object_get(o, "label")), "class_9",
              "unknown class named by index");
    TH_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "image"), "width")), 800,
              "image size recorded");
    json_decref(j);
}

static void test_mask(void)
{
    int h = 64, w = 64;
    float *m = calloc((size_t)h * w, sizeof(float));
    char *path = NULL;
    float bb[4];
    struct err e;
    int n = rt_mask_svg_path(m, h, w, 0.5f, 1.0f, &path, bb, &e);
    TH_CHECK(n == 0 && path && path[0] == 0, "empty mask: empty path");
    free(path);

    for (int y = 16; y < 48; y++)
        for (int x = 8; x < 40; x++)
            m[y * w + x] = 0.9f;
    /* a hole and a small second component */
    for (int y = 24; y < 32; y++)
        for (int x = 16; x < 24; x++)
            m[y * w + x] = 0.0f;
    m[2 * w + 60] = 1.0f;
    n = rt_mask_svg_path(m, h, w, 0.5f, 1.0f, &path, bb, &e);
    TH_EQ_INT(n, 4, "a square with a hole: the outer outline has 4 corners");
    TH_EQ_STR(path, "M 0.125,0.250 L 0.625,0.250 L 0.625,0.750 L 0.125,0.750 Z",
              "outline normalised, clockwise from the top-left");
    TH_CHECK(bb[0] == 0.125f && bb[1] == 0.25f && bb[2] == 0.625f && bb[3] == 0.75f,
             "bbox of the largest component");
    free(path);

    /* a disc: simplified to a polygon close to the circle */
    memset(m, 0, (size_t)h * w * sizeof(float));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if ((x - 32 + 0.5) * (x - 32 + 0.5) + (y - 32 + 0.5) * (y - 32 + 0.5) < 20 * 20)
                m[y * w + x] = 1.0f;
    n = rt_mask_svg_path(m, h, w, 0.5f, 1.0f, &path, bb, &e);
    TH_CHECK(n >= 8 && n <= 64, "disc outline simplified to %d vertices", n);
    TH_CHECK(path && strncmp(path, "M ", 2) == 0 && strstr(path, " Z") != NULL, "SVG path syntax");
    free(path);

    /* diagonal-only pixels are two components (4-connectivity) */
    memset(m, 0, (size_t)h * w * sizeof(float));
    m[10 * w + 10] = m[11 * w + 11] = 1.0f;
    m[11 * w + 12] = 1.0f;
    n = rt_mask_svg_path(m, h, w, 0.5f, 0.1f, &path, bb, &e);
    TH_CHECK(n >= 4 && bb[0] == 11.0f / 64 && bb[2] == 13.0f / 64,
             "diagonal neighbours are separate; the 2-pixel one wins");
    free(path);

    n = rt_mask_svg_path(m, 0, w, 0.5f, 1.0f, &path, bb, &e);
    TH_CHECK(n < 0 && path == NULL, "bad mask size refused");
    free(m);
}

static void test_glue(void)
{
    struct rt_centernet_opts o;
    struct err e;
    json_error_t je;
    json_t *post = json_loads("{\"kind\":\"centernet\",\"stride\":4,\"topk\":50,"
                              "\"min_score\":0.3,\"nms_iou\":0.4}",
                              0, &je);
    TH_EQ_INT(rt_centernet_opts_from_json(post, &o, &e), 0, "manifest post settings read");
    TH_CHECK(o.topk == 50 && o.min_score == 0.3f && o.nms_iou == 0.4f && o.per_class == 1,
             "values from the manifest, defaults elsewhere");
    json_decref(post);
    post = json_loads("{\"topk\":0}", 0, &je);
    TH_CHECK(rt_centernet_opts_from_json(post, &o, &e) < 0 &&
                 strcmp(e.code, "invalid_manifest") == 0,
             "topk 0 refused");
    json_decref(post);

    float *heat = heat_new(), *wh = wh_new(40, 40, 40, 40);
    blob(heat, 64, 64, 0, 0.9f);
    put(heat, 64, 65, 0, 0.85f); /* a second peak?  no: 0.85 < 0.9 next to it */
    blob(heat, 20, 20, 41, 0.6f);
    blob(heat, 22, 21, 41, 0.5f); /* overlapping cup (IoU 0.75): NMS drops it */
    const char *labels[80];
    for (int i = 0; i < 80; i++)
        labels[i] = "x";
    labels[0] = "person";
    labels[41] = "cup";
    o = rt_centernet_opts_default();
    char *res = NULL;
    int n = rt_task_detect_post(&o, heat, wh, H, W, C, 512, 512, labels, 80, 640, 480, &res, &e);
    TH_EQ_INT(n, 2, "post: person + one cup after NMS");
    json_t *j = res ? json_loads(res, 0, &je) : NULL;
    json_t *o0 = json_array_get(json_object_get(j, "objects"), 0);
    TH_EQ_STR(json_string_value(json_object_get(o0, "label")), "person", "post: best first");
    TH_CHECK(fabs(json_real_value(json_object_get(o0, "x_min")) - (256.0 - 40) / 512) < 1e-6,
             "post: normalised box");
    json_decref(j);
    free(res);
    free(heat);
    free(wh);

    float *m = calloc(64 * 64, sizeof(float));
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 64; x++)
            m[y * 64 + x] = 1.0f;
    TH_EQ_INT(rt_task_segment_post(m, 64, 64, 0.5f, &res, &e), 0, "segment post");
    j = res ? json_loads(res, 0, &je) : NULL;
    TH_EQ_STR(json_string_value(json_object_get(j, "path")),
              "M 0.000,0.000 L 1.000,0.000 L 1.000,0.500 L 0.000,0.500 Z", "segment path");
    TH_CHECK(json_real_value(json_object_get(j, "coverage")) == 0.5 &&
                 json_real_value(json_object_get(json_object_get(j, "bbox"), "y_max")) == 0.5,
             "segment coverage and bbox");
    json_decref(j);
    free(res);
    free(m);
}

int main(void)
{
    test_synthetic();
    test_against_graph_tail();
    test_nms();
    test_json();
    test_mask();
    test_glue();
    return th_done();
}
