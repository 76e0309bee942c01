/*
 * rt_task_faces.h: the `faces` task -- BlazeFace faces, each cropped and
 * aligned (rotated by the eye line), then age, gender and a 1024-d
 * descriptor (HSE FaceRes) and the expression (mini-Xception emotion).
 * A pipeline of three task-layer models named by the manifest's "parts";
 * rt_task.c loads and runs it through rt_task_model_load / rt_task_run
 * (task "faces"), so the worker and `vkv run` need nothing else.
 * Used by tasks/rt_task.c and the tests.  See tasks/README.md.
 *
 * Threads: a pipeline may be used by one thread at a time.
 */
#ifndef VKV_RT_TASK_FACES_H
#define VKV_RT_TASK_FACES_H

#include "common/err.h"
#include "runtime/rt.h"
#include "tasks/rt_task.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* side of the aligned crop: FaceRes's input; emotion resizes it to 64 */
#define RT_FACES_CROP 224
/* descriptor length (FaceRes global_pooling/Mean) */
#define RT_FACES_DESC 1024

struct rt_faces;

/*
 * Loads the pipeline of the manifest man (already parsed; borrowed): its
 * "parts" {detector, attributes, emotion} are manifests next to
 * manifest_path, loaded with o for dev.  Returns 0 and *out (caller frees
 * with rt_faces_free before destroying dev) or <0 with e set as
 * rt_task_model_load.
 */
int rt_faces_load(struct rt_device *dev, const char *manifest_path, const json_t *man,
                  const struct rt_task_opts *o, struct rt_faces **out, struct err *e);

/* frees f and its models; NULL ok */
void rt_faces_free(struct rt_faces *f);

/*
 * Runs n images and stores one new JSON result per image in results[i]
 * (caller decrefs): {"model": name, "image": {width, height}, "faces":
 * [{box, score, landmarks, angle, age, gender, gender_score, emotion,
 * emotion_score, emotions: {label: p}, descriptor}]} with descriptor the
 * L2-normalised vector as an array of 1024 numbers (6 significant digits).  Images are
 * borrowed.  Returns 0 or <0 with e set; on failure no result is left.
 */
int rt_faces_run(struct rt_faces *f, const char *name, const struct rt_image *imgs, int n,
                 json_t **results, struct err *e);

/* device bytes of the three models; cannot fail */
size_t rt_faces_bytes(const struct rt_faces *f);
size_t rt_faces_weight_bytes(const struct rt_faces *f);
int rt_faces_dispatch_count(const struct rt_faces *f);

/* ---- pieces, exposed for tests and the reference comparison -------------- */

/* one detected face in pixels of its image */
struct rt_faces_box {
    float x_min, y_min, x_max, y_max;
    float right_eye[2], left_eye[2];
};

/*
 * The box and eyes of face (one face of a detect_faces or faces result:
 * "box" and "landmarks" relative to the image) in pixels of a w x h image.
 * Missing fields read as 0.  Cannot fail.
 */
void rt_faces_box_from_json(const json_t *face, int w, int h, struct rt_faces_box *b);

/* the manifest's post.crop_scale (rt_faces_align's); cannot fail */
float rt_faces_crop_scale(const struct rt_faces *f);

/*
 * Writes the aligned crop of face b of img into out (side*side*3 RGB8):
 * a square of crop_scale * the box's longer side around the box centre,
 * rotated so the eye line is horizontal, sampled bilinearly (with up to
 * 4x4 samples per pixel when the square is larger than side, so a large
 * face is averaged, not aliased); outside the image is black.  Returns the
 * rotation in degrees (positive: the face was tilted clockwise in the image).
 * Cannot fail; allocates nothing.
 */
double rt_faces_align(const struct rt_image *img, const struct rt_faces_box *b, float crop_scale,
                      int side, uint8_t *out);

/*
 * Age from FaceRes's 100-bin softmax p as human's faceres.ts computes it
 * (the arg-max decade refined by its larger neighbour).  Cannot fail.
 */
double rt_faces_age(const float *p);

/*
 * Runs the attribute models on n crops (RT_FACES_CROP square RGB8, as
 * rt_faces_align writes them): age[i], male[i] (the sigmoid: P(male)),
 * emo[i*7 .. +7] and desc[i*RT_FACES_DESC ..] (raw, not normalised).
 * Returns 0 or <0 with e set.
 */
int rt_faces_attributes(struct rt_faces *f, const struct rt_image *crops, int n, float *age,
                        float *male, float *emo, float *desc, struct err *e);

#endif
