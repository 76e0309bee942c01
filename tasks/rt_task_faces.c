/*
 * rt_task_faces.c: the `faces` pipeline (see rt_task_faces.h).
 *
 * Detection reuses the detector's own result JSON (the public contract of
 * detect_faces) and copies its faces into the answer, so a face of `faces`
 * is byte for byte a face of detect_faces plus its attributes.  Each face
 * is cut once as a 224x224 aligned crop; FaceRes takes it as is (its
 * manifest's resize is then the identity) and the emotion model resizes
 * the same crop to 64x64 grayscale, as human's emotion.ts does with its
 * face tensor.
 */
#include "tasks/rt_task_faces.h"

#include "common/cm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(...) err_set(e, RT_ERR_INVALID, ERR_INVALID, "invalid_model", __VA_ARGS__)

/* faces of one image that get attributes (the detector may find more) */
#define RT_FACES_MAX_PER_IMAGE 64
#define RT_FACES_N_EMO 7

struct rt_faces {
    struct rt_task_model *det, *attr, *emo;
    float crop_scale;
    int max_faces;
    int age_j, male_j, desc_j; /* FaceRes output indices by size */
    char emo_labels[RT_FACES_N_EMO][16];
};

static int part_load(struct rt_device *dev, const char *manifest_path, const json_t *parts,
                     const char *key, const struct rt_task_opts *o, struct rt_task_model **out,
                     struct err *e)
{
    const char *name = json_string_value(json_object_get(parts, key));
    if (name == NULL || name[0] == '\0' || strchr(name, '/') || strstr(name, ".."))
        return BAD("manifest \"%s\": parts.%s must name a model manifest", manifest_path, key);
    char path[1200];
    const char *slash = strrchr(manifest_path, '/');
    int dl = slash ? (int)(slash - manifest_path) : 1;
    snprintf(path, sizeof(path), "%.*s/%s.json", dl, slash ? manifest_path : ".", name);
    return rt_task_model_load(dev, path, o, out, e);
}

/* see rt_task_faces.h */
int rt_faces_load(struct rt_device *dev, const char *manifest_path, const json_t *man,
                  const struct rt_task_opts *o, struct rt_faces **out, struct err *e)
{
    *out = NULL;
    const json_t *parts = json_object_get(man, "parts");
    if (!json_is_object(parts))
        return BAD("manifest \"%s\": a faces pipeline needs \"parts\"", manifest_path);
    struct rt_faces *f = cm_xcalloc(1, sizeof(*f));
    f->crop_scale = 1.2f;
    f->max_faces = 32;
    const json_t *post = json_object_get(man, "post");
    const json_t *cs = json_object_get(post, "crop_scale");
    const json_t *mf = json_object_get(post, "max_faces");
    int rc = 0;
    if (cs != NULL) {
        if (!json_is_number(cs) || json_number_value(cs) < 0.5 || json_number_value(cs) > 4)
            rc = BAD("manifest \"%s\": post.crop_scale must be a number in 0.5..4", manifest_path);
        else
            f->crop_scale = (float)json_number_value(cs);
    }
    if (rc == 0 && mf != NULL) {
        if (!json_is_integer(mf) || json_integer_value(mf) < 1 ||
            json_integer_value(mf) > RT_FACES_MAX_PER_IMAGE)
            rc = BAD("manifest \"%s\": post.max_faces must be an integer in 1..%d", manifest_path,
                     RT_FACES_MAX_PER_IMAGE);
        else
            f->max_faces = (int)json_integer_value(mf);
    }
    if (rc == 0)
        rc = part_load(dev, manifest_path, parts, "detector", o, &f->det, e);
    if (rc == 0)
        rc = part_load(dev, manifest_path, parts, "attributes", o, &f->attr, e);
    if (rc == 0)
        rc = part_load(dev, manifest_path, parts, "emotion", o, &f->emo, e);
    if (rc == 0 && rt_task_model_kind(f->det) != RT_TASK_DETECT_FACES)
        rc = BAD("manifest \"%s\": parts.detector is not a detect_faces model", manifest_path);
    if (rc == 0) {
        const struct rt_task_input *in = rt_task_model_input(f->attr);
        f->age_j = f->male_j = f->desc_j = -1;
        for (int j = 0; j < rt_task_model_output_count(f->attr); j++) {
            int64_t s = rt_task_model_output_size(f->attr, j);
            if (s == 100)
                f->age_j = j;
            else if (s == 1)
                f->male_j = j;
            else if (s == RT_FACES_DESC)
                f->desc_j = j;
        }
        if (in->w != RT_FACES_CROP || in->h != RT_FACES_CROP || in->gray || f->age_j < 0 ||
            f->male_j < 0 || f->desc_j < 0)
            rc = BAD("manifest \"%s\": parts.attributes needs a %dx%d RGB input and outputs of "
                     "100 (age), 1 (gender) and %d (descriptor) values",
                     manifest_path, RT_FACES_CROP, RT_FACES_CROP, RT_FACES_DESC);
    }
    if (rc == 0 && (rt_task_model_output_count(f->emo) != 1 ||
                    rt_task_model_output_size(f->emo, 0) != RT_FACES_N_EMO))
        rc = BAD("manifest \"%s\": parts.emotion needs one output of %d values", manifest_path,
                 RT_FACES_N_EMO);
    if (rc == 0) {
        static const char *def[RT_FACES_N_EMO] = {"angry", "disgust",  "fear",   "happy",
                                                  "sad",   "surprise", "neutral"};
        for (int i = 0; i < RT_FACES_N_EMO; i++) {
            const char *l = rt_task_model_label(f->emo, i);
            snprintf(f->emo_labels[i], sizeof(f->emo_labels[i]), "%s", l ? l : def[i]);
        }
    }
    if (rc < 0) {
        rt_faces_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void rt_faces_free(struct rt_faces *f)
{
    if (f == NULL)
        return;
    rt_task_model_free(f->emo);
    rt_task_model_free(f->attr);
    rt_task_model_free(f->det);
    free(f);
}

size_t rt_faces_bytes(const struct rt_faces *f)
{
    return rt_task_model_bytes(f->det) + rt_task_model_bytes(f->attr) + rt_task_model_bytes(f->emo);
}

size_t rt_faces_weight_bytes(const struct rt_faces *f)
{
    return rt_task_model_weight_bytes(f->det) + rt_task_model_weight_bytes(f->attr) +
           rt_task_model_weight_bytes(f->emo);
}

int rt_faces_dispatch_count(const struct rt_faces *f)
{
    return rt_task_model_dispatch_count(f->det) + rt_task_model_dispatch_count(f->attr) +
           rt_task_model_dispatch_count(f->emo);
}

/* ---- alignment ------------------------------------------------------------ */

static inline float sample(const struct rt_image *img, float x, float y, int c)
{
    /* pixel centres at integer + 0.5; outside is black */
    x -= 0.5f;
    y -= 0.5f;
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float lx = x - (float)x0, ly = y - (float)y0;
    float v[4];
    for (int k = 0; k < 4; k++) {
        int xx = x0 + (k & 1), yy = y0 + (k >> 1);
        v[k] = xx < 0 || yy < 0 || xx >= img->w || yy >= img->h
                   ? 0.0f
                   : (float)img->rgb[((size_t)yy * (size_t)img->w + (size_t)xx) * 3 + (size_t)c];
    }
    float top = v[0] + (v[1] - v[0]) * lx, bot = v[2] + (v[3] - v[2]) * lx;
    return top + (bot - top) * ly;
}

/* see rt_task_faces.h */
double rt_faces_align(const struct rt_image *img, const struct rt_faces_box *b, float crop_scale,
                      int side, uint8_t *out)
{
    float cx = (b->x_min + b->x_max) * 0.5f, cy = (b->y_min + b->y_max) * 0.5f;
    float bw = b->x_max - b->x_min, bh = b->y_max - b->y_min;
    float sq = crop_scale * (bw > bh ? bw : bh);
    /* the subject's right eye is on the image's left: the eye line runs
     * from right_eye to left_eye, horizontal in the crop */
    double ang = atan2((double)(b->left_eye[1] - b->right_eye[1]),
                       (double)(b->left_eye[0] - b->right_eye[0]));
    if (!isfinite(ang))
        ang = 0;
    float ca = (float)cos(ang), sa = (float)sin(ang);
    int ss = (int)ceilf(sq / (float)side);
    ss = ss < 1 ? 1 : ss > 4 ? 4 : ss;
    float step = sq / (float)side;
    for (int v = 0; v < side; v++) {
        for (int u = 0; u < side; u++) {
            float acc[3] = {0, 0, 0};
            for (int j = 0; j < ss; j++) {
                for (int i = 0; i < ss; i++) {
                    float d = ((float)u + ((float)i + 0.5f) / (float)ss) * step - sq * 0.5f;
                    float g = ((float)v + ((float)j + 0.5f) / (float)ss) * step - sq * 0.5f;
                    float x = cx + d * ca - g * sa, y = cy + d * sa + g * ca;
                    for (int c = 0; c < 3; c++)
                        acc[c] += sample(img, x, y, c);
                }
            }
            uint8_t *o = out + ((size_t)v * (size_t)side + (size_t)u) * 3;
            for (int c = 0; c < 3; c++) {
                float p = acc[c] / (float)(ss * ss) + 0.5f;
                o[c] = (uint8_t)(p < 0 ? 0 : p > 255 ? 255 : p);
            }
        }
    }
    return ang * 180.0 / M_PI;
}

/* ---- attributes ----------------------------------------------------------- */

/* see rt_task_faces.h */
double rt_faces_age(const float *p)
{
    int a = 0;
    for (int i = 1; i < 100; i++)
        if (p[i] > p[a])
            a = i;
    float lo = a > 0 ? p[a - 1] : 0.0f, hi = a < 99 ? p[a + 1] : 0.0f;
    double age = lo > hi ? 10.0 * a - 100.0 * lo : 10.0 * a + 100.0 * hi;
    return round(age) / 10.0;
}

/* see rt_task_faces.h */
int rt_faces_attributes(struct rt_faces *f, const struct rt_image *crops, int n, float *age,
                        float *male, float *emo, float *desc, struct err *e)
{
    int rc = 0;
    for (int done = 0; done < n && rc == 0;) {
        int k = n - done;
        if (k > rt_task_model_batch_limit(f->attr))
            k = rt_task_model_batch_limit(f->attr);
        float *outs[16];
        rc = rt_task_run_raw(f->attr, crops + done, k, outs, e);
        if (rc < 0)
            break;
        for (int i = 0; i < k; i++) {
            age[done + i] = (float)rt_faces_age(outs[f->age_j] + (size_t)i * 100);
            male[done + i] = outs[f->male_j][i];
            memcpy(desc + (size_t)(done + i) * RT_FACES_DESC,
                   outs[f->desc_j] + (size_t)i * RT_FACES_DESC, RT_FACES_DESC * sizeof(float));
        }
        for (int j = 0; j < rt_task_model_output_count(f->attr); j++)
            free(outs[j]);
        done += k;
    }
    for (int done = 0; done < n && rc == 0;) {
        int k = n - done;
        if (k > rt_task_model_batch_limit(f->emo))
            k = rt_task_model_batch_limit(f->emo);
        float *outs[16];
        rc = rt_task_run_raw(f->emo, crops + done, k, outs, e);
        if (rc < 0)
            break;
        memcpy(emo + (size_t)done * RT_FACES_N_EMO, outs[0],
               (size_t)k * RT_FACES_N_EMO * sizeof(float));
        free(outs[0]);
        done += k;
    }
    return rc;
}

/* ---- result JSON ---------------------------------------------------------- */

static double r6(double x)
{
    if (x == 0 || !isfinite(x))
        return 0;
    char b[32];
    snprintf(b, sizeof(b), "%.6g", x);
    return strtod(b, NULL);
}

/* the L2-normalised descriptor as a JSON array (the faces migration's trigger
 * moves it into the faces table when the job is archived) */
static json_t *desc_json(const float *d)
{
    double s = 0;
    for (int i = 0; i < RT_FACES_DESC; i++)
        s += (double)d[i] * d[i];
    double inv = s > 0 ? 1.0 / sqrt(s) : 0.0;
    json_t *a = json_array();
    for (int i = 0; i < RT_FACES_DESC; i++)
        json_array_append_new(a, json_real(r6(d[i] * inv)));
    return a;
}

static float num(const json_t *o, const char *k)
{
    return (float)json_number_value(json_object_get(o, k));
}

/* the eye landmarks by name (the manifest may order them differently) */
static void eye(const json_t *lms, const char *name, int w, int h, float *xy)
{
    size_t i;
    json_t *l;
    xy[0] = xy[1] = 0;
    json_array_foreach(lms, i, l)
    {
        const char *n = json_string_value(json_object_get(l, "name"));
        if (n != NULL && !strcmp(n, name)) {
            xy[0] = num(l, "x") * (float)w;
            xy[1] = num(l, "y") * (float)h;
        }
    }
}

/* see rt_task_faces.h */
void rt_faces_box_from_json(const json_t *face, int w, int h, struct rt_faces_box *b)
{
    const json_t *bx = json_object_get(face, "box");
    b->x_min = num(bx, "x_min") * (float)w;
    b->x_max = num(bx, "x_max") * (float)w;
    b->y_min = num(bx, "y_min") * (float)h;
    b->y_max = num(bx, "y_max") * (float)h;
    const json_t *lms = json_object_get(face, "landmarks");
    eye(lms, "right_eye", w, h, b->right_eye);
    eye(lms, "left_eye", w, h, b->left_eye);
}

float rt_faces_crop_scale(const struct rt_faces *f)
{
    return f->crop_scale;
}

/* adds the attributes to the first nf faces of one detector result */
static int one_image(struct rt_faces *f, const struct rt_image *img, json_t *faces, struct err *e)
{
    int nf = (int)json_array_size(faces);
    if (nf > f->max_faces)
        nf = f->max_faces;
    if (nf == 0)
        return 0;
    size_t cb = (size_t)RT_FACES_CROP * RT_FACES_CROP * 3;
    uint8_t *px = malloc(cb * (size_t)nf);
    float *desc = malloc(sizeof(float) * RT_FACES_DESC * (size_t)nf);
    float age[RT_FACES_MAX_PER_IMAGE], male[RT_FACES_MAX_PER_IMAGE];
    float emo[RT_FACES_MAX_PER_IMAGE * RT_FACES_N_EMO];
    double ang[RT_FACES_MAX_PER_IMAGE];
    struct rt_image crops[RT_FACES_MAX_PER_IMAGE];
    if (px == NULL || desc == NULL) {
        free(px);
        free(desc);
        return err_set(e, RT_ERR_OOM, ERR_UNAVAILABLE, "out_of_memory",
                       "could not allocate %d face crops", nf);
    }
    for (int i = 0; i < nf; i++) {
        struct rt_faces_box b;
        rt_faces_box_from_json(json_array_get(faces, (size_t)i), img->w, img->h, &b);
        ang[i] = rt_faces_align(img, &b, f->crop_scale, RT_FACES_CROP, px + cb * (size_t)i);
        crops[i].rgb = px + cb * (size_t)i;
        crops[i].w = crops[i].h = RT_FACES_CROP;
    }
    int rc = rt_faces_attributes(f, crops, nf, age, male, emo, desc, e);
    for (int i = 0; i < nf && rc == 0; i++) {
        json_t *fj = json_array_get(faces, (size_t)i);
        json_object_set_new(fj, "angle", json_real(r6(ang[i])));
        json_object_set_new(fj, "age", json_real(round((double)age[i] * 10) / 10));
        json_object_set_new(fj, "gender", json_string(male[i] > 0.5f ? "male" : "female"));
        json_object_set_new(fj, "gender_score", json_real(r6(fabs(male[i] - 0.5) * 2)));
        const float *p = emo + (size_t)i * RT_FACES_N_EMO;
        int best = 0;
        json_t *all = json_object();
        for (int k = 0; k < RT_FACES_N_EMO; k++) {
            if (p[k] > p[best])
                best = k;
            json_object_set_new(all, f->emo_labels[k], json_real(r6(p[k])));
        }
        json_object_set_new(fj, "emotion", json_string(f->emo_labels[best]));
        json_object_set_new(fj, "emotion_score", json_real(r6(p[best])));
        json_object_set_new(fj, "emotions", all);
        json_object_set_new(fj, "descriptor", desc_json(desc + (size_t)i * RT_FACES_DESC));
    }
    free(px);
    free(desc);
    return rc;
}

/* see rt_task_faces.h */
int rt_faces_run(struct rt_faces *f, const char *name, const struct rt_image *imgs, int n,
                 json_t **results, struct err *e)
{
    int rc = rt_task_run(f->det, imgs, n, results, e);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n && rc == 0; i++) {
        json_object_set_new(results[i], "model", json_string(name));
        json_t *faces = json_object_get(results[i], "faces");
        /* at most max_faces faces, the best first, are answered */
        while ((int)json_array_size(faces) > f->max_faces)
            json_array_remove(faces, json_array_size(faces) - 1);
        rc = one_image(f, &imgs[i], faces, e);
    }
    if (rc < 0)
        for (int i = 0; i < n; i++) {
            json_decref(results[i]);
            results[i] = NULL;
        }
    return rc;
}
