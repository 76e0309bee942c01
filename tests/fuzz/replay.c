/*
 * replay.c: a plain main() for the fuzz harnesses (instead of libFuzzer).
 *
 *   fuzz_<name>_replay FILE|DIR...
 *
 * Runs LLVMFuzzerTestOneInput once per file (the files of a directory in
 * name order, not recursive).  Each input is copied into a buffer of
 * exactly its size, so ASan (make SANITIZE=address,undefined) catches any
 * read past the end.  Prints one line per directory and exits 0 when every
 * input ran; a crash is the sanitizer's or the kernel's to report.
 * See tests/fuzz/README.md.
 */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* a harness without setup leaves this undefined */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* largest input replayed; the corpora hold small seeds */
#define REPLAY_MAX_BYTES (64u << 20)

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: could not open \"%s\": %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 ||
        (unsigned long long)st.st_size > REPLAY_MAX_BYTES) {
        fprintf(stderr, "replay: cannot replay \"%s\": not a file under 64 MiB\n", path);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    /* malloc(0) may return NULL; keep a real (empty) buffer for ASan */
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL || fread(buf, 1, n, f) != n) {
        fprintf(stderr, "replay: could not read \"%s\"\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int replay_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: could not open \"%s\": %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (nn == NULL) {
                rc = -1;
                break;
            }
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, replay_name_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) != 0)
                rc = -1;
            else
                (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int count = 0;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: could not stat \"%s\": %s\n", argv[i], strerror(errno));
            rc = 1;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i], &count) != 0)
                rc = 1;
        } else if (replay_file(argv[i]) == 0) {
            count = 1;
        } else {
            rc = 1;
        }
        printf("replayed %d inputs from %s\n", count, argv[i]);
    }
    return rc;
}
