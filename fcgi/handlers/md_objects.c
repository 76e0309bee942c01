/*
 * md_objects.c: object names to COCO classes for the Moondream detect and
 * point routes.
 *
 * Design: two static tables (the 80 class names in model order, and
 * synonym -> class lists) and a small normaliser; no allocation, so the
 * handler can call it before anything is enqueued.  The class list must
 * equal models/centernet.json "labels" (tests/moondream/test_md_objects.c
 * checks it).  See fcgi/handlers/md_objects.h for the matching rules.
 */
#include "fcgi/handlers/md_objects.h"

#include <stdio.h>
#include <string.h>

static const char *const coco[API_MD_COCO_N] = {
    "person",        "bicycle",      "car",
    "motorcycle",    "airplane",     "bus",
    "train",         "truck",        "boat",
    "traffic light", "fire hydrant", "stop sign",
    "parking meter", "bench",        "bird",
    "cat",           "dog",          "horse",
    "sheep",         "cow",          "elephant",
    "bear",          "zebra",        "giraffe",
    "backpack",      "umbrella",     "handbag",
    "tie",           "suitcase",     "frisbee",
    "skis",          "snowboard",    "sports ball",
    "kite",          "baseball bat", "baseball glove",
    "skateboard",    "surfboard",    "tennis racket",
    "bottle",        "wine glass",   "cup",
    "fork",          "knife",        "spoon",
    "bowl",          "banana",       "apple",
    "sandwich",      "orange",       "broccoli",
    "carrot",        "hot dog",      "pizza",
    "donut",         "cake",         "chair",
    "couch",         "potted plant", "bed",
    "dining table",  "toilet",       "tv",
    "laptop",        "mouse",        "remote",
    "keyboard",      "cell phone",   "microwave",
    "oven",          "toaster",      "sink",
    "refrigerator",  "book",         "clock",
    "vase",          "scissors",     "teddy bear",
    "hair drier",    "toothbrush",
};

/* synonym -> up to 6 classes (-1 terminates); singular forms, plurals are
 * derived; irregular plurals are listed */
struct syn {
    const char *name;
    int cls[6];
};

#define S1(n, a)                                                                                   \
    {                                                                                              \
        n,                                                                                         \
        {                                                                                          \
            a, -1                                                                                  \
        }                                                                                          \
    }
static const struct syn syns[] = {
    S1("people", 0),
    S1("man", 0),
    S1("men", 0),
    S1("woman", 0),
    S1("women", 0),
    S1("boy", 0),
    S1("girl", 0),
    S1("child", 0),
    S1("children", 0),
    S1("kid", 0),
    S1("human", 0),
    S1("pedestrian", 0),
    S1("guy", 0),
    S1("lady", 0),
    S1("ladies", 0),
    S1("adult", 0),
    S1("baby", 0),
    S1("player", 0),
    S1("persons", 0),
    S1("someone", 0),
    S1("somebody", 0),
    S1("figure", 0),
    S1("bike", 1),
    S1("cycle", 1),
    S1("automobile", 2),
    S1("auto", 2),
    S1("sedan", 2),
    S1("taxi", 2),
    S1("cab", 2),
    S1("suv", 2),
    S1("jeep", 2),
    S1("van", 2),
    S1("motorbike", 3),
    S1("scooter", 3),
    S1("moped", 3),
    S1("plane", 4),
    S1("aeroplane", 4),
    S1("aircraft", 4),
    S1("jet", 4),
    S1("airliner", 4),
    S1("coach", 5),
    S1("minibus", 5),
    S1("locomotive", 6),
    S1("tram", 6),
    S1("lorry", 7),
    S1("pickup", 7),
    S1("pickup truck", 7),
    S1("ship", 8),
    S1("canoe", 8),
    S1("kayak", 8),
    S1("yacht", 8),
    S1("sailboat", 8),
    S1("traffic signal", 9),
    S1("stoplight", 9),
    S1("traffic lights", 9),
    S1("hydrant", 10),
    S1("parking sign", 11),
    S1("meter", 12),
    S1("park bench", 13),
    S1("pigeon", 14),
    S1("seagull", 14),
    S1("gull", 14),
    S1("duck", 14),
    S1("sparrow", 14),
    S1("robin", 14),
    S1("crow", 14),
    S1("kitten", 15),
    S1("kitty", 15),
    S1("puppy", 16),
    S1("doggy", 16),
    S1("pony", 17),
    S1("foal", 17),
    S1("lamb", 18),
    S1("cattle", 19),
    S1("bull", 19),
    S1("calf", 19),
    S1("calves", 19),
    S1("ox", 19),
    S1("oxen", 19),
    S1("rucksack", 24),
    S1("knapsack", 24),
    S1("parasol", 25),
    S1("purse", 26),
    S1("bag", 26),
    S1("handbags", 26),
    S1("necktie", 27),
    S1("bow tie", 27),
    S1("luggage", 28),
    S1("travel bag", 28),
    S1("ski", 30),
    S1("ball", 32),
    S1("football", 32),
    S1("soccer ball", 32),
    S1("basketball", 32),
    S1("tennis ball", 32),
    S1("volleyball", 32),
    S1("bat", 34),
    S1("mitt", 35),
    S1("glove", 35),
    S1("racket", 38),
    S1("racquet", 38),
    S1("tennis racquet", 38),
    S1("wineglass", 40),
    S1("glass", 40),
    S1("champagne glass", 40),
    S1("mug", 41),
    S1("coffee mug", 41),
    S1("teacup", 41),
    S1("coffee cup", 41),
    S1("tea cup", 41),
    S1("espresso cup", 41),
    S1("coffee", 41),
    S1("espresso", 41),
    S1("knives", 43),
    S1("dish", 45),
    S1("sub", 48),
    S1("burger", 48),
    S1("hamburger", 48),
    S1("hotdog", 52),
    S1("doughnut", 54),
    S1("cupcake", 55),
    S1("stool", 56),
    S1("armchair", 56),
    S1("seat", 56),
    S1("sofa", 57),
    S1("settee", 57),
    S1("plant", 58),
    S1("houseplant", 58),
    S1("flower pot", 58),
    S1("pot plant", 58),
    S1("table", 60),
    S1("dinner table", 60),
    S1("kitchen table", 60),
    S1("desk", 60),
    S1("television", 62),
    S1("tv monitor", 62),
    S1("monitor", 62),
    S1("screen", 62),
    S1("tv set", 62),
    S1("tvs", 62),
    S1("notebook computer", 63),
    S1("notebook", 63),
    S1("computer mouse", 64),
    S1("mice", 64),
    S1("remote control", 65),
    S1("tv remote", 65),
    S1("controller", 65),
    S1("phone", 67),
    S1("cellphone", 67),
    S1("mobile phone", 67),
    S1("smartphone", 67),
    S1("mobile", 67),
    S1("iphone", 67),
    S1("microwave oven", 68),
    S1("stove", 69),
    S1("basin", 71),
    S1("fridge", 72),
    S1("novel", 73),
    S1("wall clock", 74),
    S1("scissor", 76),
    S1("teddy", 77),
    S1("stuffed animal", 77),
    S1("plush toy", 77),
    S1("plushie", 77),
    S1("hair dryer", 78),
    S1("hairdryer", 78),
    S1("blow dryer", 78),
    S1("tooth brush", 79),
    S1("face", API_MD_FACE),
    S1("human face", API_MD_FACE),
    {"vehicle", {2, 3, 5, 7, -1}},
    {"animal", {14, 15, 16, 17, 18, 19}},
    {"pet", {15, 16, -1}},
    {"fruit", {46, 47, 49, -1}},
    {"vegetable", {50, 51, -1}},
    {"computer", {63, 62, -1}},
    {"utensil", {42, 43, 44, -1}},
    {"cutlery", {42, 43, 44, -1}},
    {"silverware", {42, 43, 44, -1}},
    {"furniture", {56, 57, 59, 60, 13, -1}},
};
#undef S1

static const char *const stop_words[] = {
    "on",     "in",       "at",      "with", "near",    "next",    "by",      "of",      "under",
    "behind", "beside",   "besides", "from", "wearing", "holding", "that",    "which",   "who",
    "whose",  "to",       "inside",  "over", "above",   "below",   "between", "sitting", "standing",
    "riding", "carrying", "against", "for",  "into",    "onto",    "and",     "or",      NULL,
};
static const char *const articles[] = {"a", "an", "the", "some", "all", "any", "every", NULL};

#define MAX_OBJECT 256
#define MAX_WORDS 16

const char *api_md_coco_label(int i)
{
    return i >= 0 && i < API_MD_COCO_N ? coco[i] : NULL;
}

const char *api_md_coco_names(void)
{
    static char buf[1024];
    static int done;
    /* filled once; the tables are constant, so racing writers write the
     * same bytes (and vkv-api calls this first from main, see h_moondream.c) */
    if (!done) {
        size_t n = 0;
        for (int i = 0; i < API_MD_COCO_N; i++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "", coco[i]);
        done = 1;
    }
    return buf;
}

static int in_list(const char *w, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(w, list[i]) == 0)
            return 1;
    return 0;
}

/* exact lookup of one normalised phrase (no plural handling) */
static int lookup_exact(const char *p, int *cls, int max)
{
    for (int i = 0; i < API_MD_COCO_N; i++) {
        if (strcmp(p, coco[i]) == 0) {
            if (max > 0)
                cls[0] = i;
            return max > 0;
        }
    }
    for (size_t i = 0; i < sizeof(syns) / sizeof(syns[0]); i++) {
        if (strcmp(p, syns[i].name) != 0)
            continue;
        int n = 0;
        for (int k = 0; k < 6 && syns[i].cls[k] >= 0 && n < max; k++)
            cls[n++] = syns[i].cls[k];
        return n;
    }
    return 0;
}

/* lookup with English plural endings on the last word */
static int lookup(const char *p, int *cls, int max)
{
    int n = lookup_exact(p, cls, max);
    if (n)
        return n;
    size_t len = strlen(p);
    char t[MAX_OBJECT + 4];
    if (len < 3 || len >= MAX_OBJECT)
        return 0;
    static const struct {
        const char *from, *to;
    } rules[] = {
        {"ies", "y"},   {"ves", "f"}, {"ves", "fe"}, {"ches", "ch"}, {"shes", "sh"},
        {"sses", "ss"}, {"ses", "s"}, {"xes", "x"},  {"oes", "o"},   {"s", ""},
    };
    for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        size_t fl = strlen(rules[r].from);
        if (len <= fl || strcmp(p + len - fl, rules[r].from) != 0)
            continue;
        memcpy(t, p, len - fl);
        strcpy(t + len - fl, rules[r].to);
        n = lookup_exact(t, cls, max);
        if (n)
            return n;
    }
    return 0;
}

int api_md_object_match(const char *object, int *cls, int max)
{
    if (!object || max <= 0)
        return 0;
    size_t len = strlen(object);
    if (len == 0 || len > MAX_OBJECT)
        return 0;
    /* 1. normalise into words */
    char buf[MAX_OBJECT + 1];
    char *words[MAX_WORDS];
    int nw = 0;
    size_t o = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char ch = (unsigned char)object[i];
        int alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
        if (alnum) {
            buf[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        } else if (ch == '\'') {
            continue; /* "people's" -> "peoples" handled by plurals */
        } else if (o > 0 && buf[o - 1] != 0) {
            buf[o++] = 0;
        }
    }
    if (o > 0 && buf[o - 1] != 0)
        buf[o++] = 0;
    for (size_t i = 0; i < o && nw < MAX_WORDS;) {
        char *w = &buf[i];
        i += strlen(w) + 1;
        if (in_list(w, articles))
            continue;
        /* 2. cut at the first preposition, once a head word was seen */
        if (nw > 0 && in_list(w, stop_words))
            break;
        if (in_list(w, stop_words))
            continue;
        words[nw++] = w;
    }
    if (nw == 0)
        return 0;
    /* 3. longest run of words, rightmost first */
    char phrase[MAX_OBJECT + 1];
    for (int span = nw; span >= 1; span--) {
        for (int start = nw - span; start >= 0; start--) {
            size_t pl = 0;
            for (int k = 0; k < span; k++) {
                size_t wl = strlen(words[start + k]);
                if (pl + wl + 2 > sizeof(phrase))
                    break;
                if (k)
                    phrase[pl++] = ' ';
                memcpy(phrase + pl, words[start + k], wl);
                pl += wl;
            }
            phrase[pl] = 0;
            int n = lookup(phrase, cls, max);
            if (n)
                return n;
        }
    }
    return 0;
}
