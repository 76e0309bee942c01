/*
 * md_objects.h: free-text object names ("people", "a red car", "coffee
 * mug", "man holding a cup") to the 80 COCO classes the CenterNet detector
 * knows, for POST /v1/detect and /v1/point.  Internal to fcgi/handlers.
 *
 * Matching, in order (see README.md "Moondream API"):
 *  1. normalise: lower case, ASCII letters/digits/spaces only, articles
 *     ("a", "an", "the", "some", "all") dropped, spaces collapsed;
 *  2. cut at the first preposition or relative word ("on", "with",
 *     "holding", "that", ...): the head noun phrase comes first in English;
 *  3. the longest run of words (rightmost on ties: "red car" -> "car")
 *     that is a class name, a synonym or a plural of either.  A synonym
 *     may name several classes ("vehicle" -> car, bus, truck, motorcycle).
 * Pure functions over static tables: thread-safe, cannot fail.
 */
#ifndef VKV_MD_OBJECTS_H
#define VKV_MD_OBJECTS_H

#define API_MD_COCO_N 80
#define API_MD_MAX_CLASSES 16
/* not a COCO class: faces are found by the face detector (task
 * detect_faces, BlazeFace); "face", "faces", "a woman's face" match it */
#define API_MD_FACE 1000

/*
 * Resolves object to class indices (0-based COCO-80, the order of
 * models/centernet.json "labels") in cls[0..max).  Returns how many (0
 * when nothing matches, including an empty or overlong object).
 */
int api_md_object_match(const char *object, int *cls, int max);

/* the class name of index i ("person"), or NULL outside 0..79 */
const char *api_md_coco_label(int i);

/* "person, bicycle, car, ..." (static, all 80 names; face is listed by
 * the caller when a face model is installed) */
const char *api_md_coco_names(void);

#endif
