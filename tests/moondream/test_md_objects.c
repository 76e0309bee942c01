/*
 * test_md_objects.c: object names -> COCO classes for /v1/detect and
 * /v1/point, and the class table against models/centernet.json "labels".
 * Run from the repository root (tests/suites/60-moondream.sh).
 */
#include "fcgi/handlers/md_objects.h"

#include "tests/lib/th.h"

#include <jansson.h>
#include <string.h>

/* the first class object matches, or -1 */
static int first(const char *object)
{
    int cls[API_MD_MAX_CLASSES];
    int n = api_md_object_match(object, cls, API_MD_MAX_CLASSES);
    return n > 0 ? cls[0] : -1;
}

static int label_is(const char *object, const char *label)
{
    int c = first(object);
    const char *got = api_md_coco_label(c);
    int ok = got && strcmp(got, label) == 0;
    if (!ok)
        printf("# \"%s\" -> %s, expected %s\n", object, got ? got : "(none)", label);
    return ok;
}

int main(void)
{
    /* the class table is the model's label list */
    json_error_t je;
    json_t *m = json_load_file("models/centernet.json", 0, &je);
    json_t *labels = json_object_get(m, "labels");
    TH_EQ_INT(json_array_size(labels), API_MD_COCO_N, "manifest has 80 labels");
    int same = 1;
    for (int i = 0; i < API_MD_COCO_N; i++)
        if (!json_string_value(json_array_get(labels, (size_t)i)) ||
            strcmp(json_string_value(json_array_get(labels, (size_t)i)), api_md_coco_label(i)) != 0)
            same = 0;
    TH_CHECK(same, "class table equals models/centernet.json labels, in order");
    json_decref(m);

    TH_CHECK(label_is("person", "person"), "class name");
    TH_CHECK(label_is("Person", "person"), "case-insensitive");
    TH_CHECK(label_is("people", "person") && label_is("man", "person") &&
                 label_is("woman", "person") && label_is("women", "person") &&
                 label_is("children", "person") && label_is("kids", "person"),
             "people/man/woman/children/kids -> person");
    TH_CHECK(label_is("cars", "car") && label_is("buses", "bus") && label_is("benches", "bench") &&
                 label_is("knives", "knife") && label_is("dishes", "bowl") &&
                 label_is("ponies", "horse"),
             "plurals: cars, buses, benches, knives, dishes, ponies");
    TH_CHECK(label_is("mug", "cup") && label_is("coffee mugs", "cup") &&
                 label_is("a cup of coffee", "cup"),
             "mug, coffee mugs, a cup of coffee -> cup");
    TH_CHECK(label_is("the red car", "car") && label_is("a man holding a cup", "person") &&
                 label_is("person on the left", "person"),
             "head noun: adjectives and trailing phrases ignored");
    TH_CHECK(label_is("hot dogs", "hot dog") && label_is("dog", "dog") &&
                 label_is("teddy bear", "teddy bear") && label_is("bear", "bear"),
             "longest match first: hot dogs vs dog, teddy bear vs bear");
    TH_CHECK(label_is("coffee table", "dining table"), "coffee table -> dining table");
    TH_CHECK(label_is("sofa", "couch") && label_is("television", "tv") &&
                 label_is("smartphone", "cell phone") && label_is("fridge", "refrigerator") &&
                 label_is("motorbike", "motorcycle") && label_is("plane", "airplane") &&
                 label_is("hair dryer", "hair drier") && label_is("doughnut", "donut"),
             "common synonyms");
    TH_CHECK(label_is("traffic lights", "traffic light") && label_is("stop signs", "stop sign"),
             "plural of a two-word class");
    int cls[API_MD_MAX_CLASSES];
    int n = api_md_object_match("vehicles", cls, API_MD_MAX_CLASSES);
    TH_CHECK(n == 4 && cls[0] == 2, "vehicles -> car, motorcycle, bus, truck (%d)", n);
    n = api_md_object_match("animal", cls, 2);
    TH_EQ_INT(n, 2, "max caps the classes returned");
    TH_EQ_INT(first("face"), API_MD_FACE, "face: the face detector");
    TH_EQ_INT(first("faces"), API_MD_FACE, "faces: the face detector");
    TH_EQ_INT(first("the woman's face"), API_MD_FACE, "a woman's face: the face, not the woman");
    TH_EQ_INT(first("head"), -1, "head: no class");
    TH_EQ_INT(first("unicorn"), -1, "unknown word: no class");
    TH_EQ_INT(first(""), -1, "empty: no class");
    TH_EQ_INT(first("   the  "), -1, "only an article: no class");
    TH_EQ_INT(first("on"), -1, "only a preposition: no class");
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    TH_EQ_INT(first(big), -1, "overlong: no class");
    TH_EQ_INT(first("\xff\xfe person"), 0, "non-ASCII bytes are separators");
    TH_CHECK(strncmp(api_md_coco_names(), "person, bicycle, car,", 21) == 0 &&
                 strstr(api_md_coco_names(), "toothbrush") != NULL,
             "class list for warnings");
    TH_CHECK(api_md_coco_label(80) == NULL && api_md_coco_label(-1) == NULL, "label range");
    return th_done();
}
