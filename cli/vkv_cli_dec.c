/*
 * vkv_cli_dec.c: `vkv decode`, a decoder-only language model (Moondream 2's
 * text model shape, runtime/tfm/rt_dec.h) loaded from a safetensors file
 * (import/st.h) and a config, run on token ids or on text (import/tok.h),
 * printing the prompt ids, the last prefill logits, greedy tokens and the
 * logits after each of them as one JSON object - the same fields
 * tests/ref/moondream_ref.py prints, so the two can be compared.
 *
 *   vkv decode WEIGHTS.safetensors [--config FILE|JSON] [--wtype f32|f16|i8|q4]
 *              (--ids 1,2,3 | --text STR --tokenizer tokenizer.json)
 *              [--prefix P] [--generate N] [--force ID,...] [--stop ID,...]
 *              [--device SEL] [--no-logits] [--hidden]
 *
 * --force feeds the given ids instead of the greedy choice (teacher
 * forcing), so a quantised run's step logits stay comparable with the
 * reference's after the first differing token.
 *
 * The config is the reference's JSON ({"text": {"dim", "n_layers",
 * "n_heads", "ff_dim", "vocab_size", "max_context", "rot_dim",
 * "rope_theta", "ln_eps"}}), each field defaulting to Moondream 2's.
 *   vkv tokenize TOKENIZER.json (--text STR | --ids 1,2,3) [--skip-special]
 *
 * prints {"ids", "tokens" (each id's content as in the file), "text"
 * (decode of the ids)}: encode when given text, decode when given ids.
 *
 * Weights: every "model.text.*" tensor (BF16/F16/F32) is converted to fp32
 * one tensor at a time and handed to the device (quantised there for
 * i8/q4); no whole-model host copy exists.
 */
#include "cli/vkv_cli_dev.h"
#include "cli/vkv_cli_dec.h"
#include "runtime/rt.h"
#include "runtime/tfm/rt_dec.h"
#include "import/st.h"
#include "import/tok.h"
#include "common/cm.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEC_MAX_IDS 4096

static int parse_ids(const char *s, uint32_t *out, int cap)
{
    int n = 0;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v > UINT32_MAX || n == cap)
            return -1;
        out[n++] = (uint32_t)v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

static int load_config(const char *arg, struct rt_dec_config *c)
{
    *c = rt_dec_config_moondream2();
    if (!arg)
        return 0;
    json_error_t je;
    json_t *root = arg[0] == '{' ? json_loads(arg, 0, &je) : json_load_file(arg, 0, &je);
    if (!root) {
        fprintf(stderr, "vkv: invalid --config: %s\n", je.text);
        return -1;
    }
    json_t *t = json_object_get(root, "text");
    struct {
        const char *k;
        uint32_t *u;
        float *f;
    } f[] = {{"dim", &c->dim, NULL},          {"n_layers", &c->n_layers, NULL},
             {"n_heads", &c->n_heads, NULL},  {"ff_dim", &c->ff_dim, NULL},
             {"vocab_size", &c->vocab, NULL}, {"max_context", &c->max_context, NULL},
             {"rot_dim", &c->rot_dim, NULL},  {"rope_theta", NULL, &c->rope_theta},
             {"ln_eps", NULL, &c->ln_eps}};
    int rc = 0;
    for (size_t i = 0; i < CM_ARRAY_LEN(f); i++) {
        json_t *v = json_object_get(t, f[i].k);
        if (!v)
            continue;
        if (f[i].u && json_is_integer(v) && json_integer_value(v) > 0 &&
            json_integer_value(v) <= (json_int_t)UINT32_MAX)
            *f[i].u = (uint32_t)json_integer_value(v);
        else if (f[i].f && json_is_number(v))
            *f[i].f = (float)json_number_value(v);
        else {
            fprintf(stderr, "vkv: --config text.%s is not a valid number\n", f[i].k);
            rc = -1;
        }
    }
    json_decref(root);
    return rc;
}

/* every model.text.* tensor of f, converted to fp32 one at a time */
static int load_weights(struct rt_dec *m, const struct st_file *f, struct err *e)
{
    size_t used = 0;
    for (size_t i = 0; i < st_count(f); i++) {
        const struct st_tensor *t = st_at(f, i);
        if (strncmp(t->name, "model.text.", 11) != 0)
            continue;
        float *x = malloc((t->nelem ? t->nelem : 1) * sizeof *x);
        if (!x)
            return err_set(e, -1, ERR_INTERNAL, "out_of_memory",
                           "could not allocate %llu floats for %s", (unsigned long long)t->nelem,
                           t->name);
        int rc = st_rows_f32(f, t, 0, t->rows, x, e);
        if (rc == 0)
            rc = rt_dec_tensor_set(m, t->name, x, t->nelem, e);
        free(x);
        if (rc < 0)
            return rc;
        used++;
    }
    if (!used)
        return err_set(e, -1, ERR_INTERNAL, "invalid_model",
                       "no model.text.* tensor in the weights file");
    return rt_dec_ready(m, e);
}

static json_t *floats_json(const float *x, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(x[i]));
    return a;
}

static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

int vkv_cli_decode(int argc, char **argv)
{
    const char *weights = NULL, *config = NULL, *ids_s = NULL, *text = NULL, *tokp = NULL,
               *device = "0", *stop_s = NULL, *force_s = NULL;
    int wtype = RT_TF_F32, generate = 0, logits_out = 1, hidden_out = 0;
    long prefix = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--config") == 0 && v)
            config = argv[++i];
        else if (strcmp(a, "--ids") == 0 && v)
            ids_s = argv[++i];
        else if (strcmp(a, "--text") == 0 && v)
            text = argv[++i];
        else if (strcmp(a, "--tokenizer") == 0 && v)
            tokp = argv[++i];
        else if (strcmp(a, "--device") == 0 && v)
            device = argv[++i];
        else if (strcmp(a, "--force") == 0 && v)
            force_s = argv[++i];
        else if (strcmp(a, "--stop") == 0 && v)
            stop_s = argv[++i];
        else if (strcmp(a, "--prefix") == 0 && v)
            prefix = strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "--generate") == 0 && v)
            generate = atoi(argv[++i]);
        else if (strcmp(a, "--no-logits") == 0)
            logits_out = 0;
        else if (strcmp(a, "--hidden") == 0)
            hidden_out = 1;
        else if (strcmp(a, "--wtype") == 0 && v) {
            v = argv[++i];
            wtype = strcmp(v, "f32") == 0   ? RT_TF_F32
                    : strcmp(v, "f16") == 0 ? RT_TF_F16
                    : strcmp(v, "i8") == 0  ? RT_TF_I8
                    : strcmp(v, "q4") == 0  ? RT_TF_Q4
                                            : -1;
            if (wtype < 0)
                return 2;
        } else if (a[0] != '-' && !weights)
            weights = a;
        else
            return 2;
    }
    if (!weights || (!ids_s == !text) || (text && !tokp) || generate < 0 || generate > 4096 ||
        prefix < 0)
        return 2;

    struct rt_dec_config cfg;
    if (load_config(config, &cfg) < 0)
        return 1;
    struct err e;
    err_clear(&e);
    uint32_t *ids = cm_xcalloc(DEC_MAX_IDS, sizeof *ids), stop[64], *force = NULL;
    int n_ids = 0, n_stop = 0, n_force = 0, rc = 1;
    struct tok_tokenizer *tok = NULL;
    if (tokp && tok_load(&tok, tokp, NULL, &e) < 0) {
        fprintf(stderr, "vkv: %s\n", e.msg);
        free(ids);
        return 1;
    }
    if (ids_s) {
        n_ids = parse_ids(ids_s, ids, DEC_MAX_IDS);
    } else {
        int32_t *t;
        size_t n;
        if (tok_encode(tok, text, strlen(text), &t, &n, &e) < 0) {
            fprintf(stderr, "vkv: %s\n", e.msg);
            goto out_tok;
        }
        n_ids = n <= DEC_MAX_IDS ? (int)n : -1;
        for (int i = 0; i < n_ids; i++)
            ids[i] = (uint32_t)t[i];
        free(t);
    }
    if (n_ids <= 0) {
        fprintf(stderr, "vkv: need 1 to %d token ids\n", DEC_MAX_IDS);
        goto out_tok;
    }
    force = cm_xcalloc(DEC_MAX_IDS, sizeof *force);
    if (force_s && (n_force = parse_ids(force_s, force, DEC_MAX_IDS)) < 0) {
        fprintf(stderr, "vkv: invalid --force list\n");
        goto out_tok;
    }
    if (stop_s && (n_stop = parse_ids(stop_s, stop, 64)) < 0) {
        fprintf(stderr, "vkv: invalid --stop list\n");
        goto out_tok;
    }

    struct st_file *sf = NULL;
    struct rt_device *dev = NULL;
    struct rt_dec *m = NULL;
    struct rt_dec_run *r = NULL;
    float *logits = NULL;
    uint32_t max_len = (uint32_t)n_ids + (uint32_t)generate + 1;
    if (max_len > cfg.max_context)
        max_len = cfg.max_context;
    if (st_open(&sf, weights, NULL, &e) < 0 || vkv_cli_device_create(device, &dev, &e) < 0 ||
        rt_dec_init(dev, &cfg, wtype, &m, &e) < 0 || load_weights(m, sf, &e) < 0 ||
        rt_dec_run_init(m, max_len, (uint32_t)n_ids, 0, &r, &e) < 0) {
        fprintf(stderr, "vkv: %s\n", e.msg);
        goto out;
    }
    st_close(sf); /* the weights live on the device now */
    sf = NULL;
    logits = cm_xmalloc((size_t)cfg.vocab * sizeof *logits);
    if (rt_dec_prefill(r, ids, NULL, (uint32_t)n_ids, (uint32_t)prefix, logits, &e) < 0) {
        fprintf(stderr, "vkv: %s\n", e.msg);
        goto out;
    }
    json_t *o = json_object(), *toks = json_array(), *gen = json_array(), *steps = json_array();
    for (int i = 0; i < n_ids; i++)
        json_array_append_new(toks, json_integer(ids[i]));
    json_object_set_new(o, "tokens", toks);
    json_object_set_new(o, "prefix", json_integer(prefix));
    if (hidden_out) {
        float *h = cm_xmalloc((size_t)n_ids * cfg.dim * sizeof *h);
        if (rt_dec_hidden(r, (uint32_t)n_ids, h, &e) == 0) {
            json_t *rows = json_array();
            for (int i = 0; i < n_ids; i++)
                json_array_append_new(rows, floats_json(h + (size_t)i * cfg.dim, cfg.dim));
            json_object_set_new(o, "hidden_last", rows);
        }
        free(h);
    }
    if (logits_out)
        json_object_set_new(o, "logits_last", floats_json(logits, cfg.vocab));
    int32_t *gen_ids = cm_xcalloc((size_t)generate + 1, sizeof *gen_ids);
    int n_gen = 0, failed = 0;
    /* greedy, stepping by hand so each step's logits can be printed */
    for (int g = 0; g < generate; g++) {
        uint32_t next = g < n_force ? force[g] : argmax(logits, cfg.vocab);
        int is_stop = 0;
        for (int k = 0; k < n_stop; k++)
            is_stop |= stop[k] == next;
        if (is_stop)
            break;
        json_array_append_new(gen, json_integer(next));
        gen_ids[n_gen++] = (int32_t)next;
        if ((uint32_t)(n_ids + g + 1) >= max_len)
            break;
        if (rt_dec_step(r, next, logits, &e) < 0) {
            fprintf(stderr, "vkv: %s\n", e.msg);
            failed = 1;
            break;
        }
        if (logits_out)
            json_array_append_new(steps, floats_json(logits, cfg.vocab));
    }
    json_object_set_new(o, "generated", gen);
    json_object_set_new(o, "step_logits", steps);
    if (tok) {
        struct tok_buf b = {0};
        if (tok_decode(tok, gen_ids, (size_t)n_gen, 1, &b, &e) == 0)
            json_object_set_new(o, "text", json_stringn(b.p ? b.p : "", b.n));
        free(b.p);
    }
    struct rt_dec_stats st = rt_dec_run_stats(r);
    json_object_set_new(o, "weights_device_bytes",
                        json_integer((json_int_t)rt_dec_device_bytes(m)));
    json_object_set_new(o, "step_dispatches", json_integer(st.step_dispatches));
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    printf("%s\n", s);
    free(s);
    json_decref(o);
    free(gen_ids);
    rc = failed;
    if (rt_device_validation_errors(dev) > 0) { /* RT_VALIDATE=1: the layers must stay quiet */
        fprintf(stderr, "vkv: %d Vulkan validation errors\n", rt_device_validation_errors(dev));
        rc = 1;
    }
out:
    free(logits);
    rt_dec_run_free(r);
    rt_dec_free(m);
    if (dev)
        rt_device_destroy(dev);
    st_close(sf);
out_tok:
    tok_free(tok);
    free(ids);
    free(force);
    return rc;
}

int vkv_cli_tokenize(int argc, char **argv)
{
    const char *tokp = NULL, *text = NULL, *ids_s = NULL;
    int skip = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--text") == 0 && i + 1 < argc)
            text = argv[++i];
        else if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc)
            ids_s = argv[++i];
        else if (strcmp(argv[i], "--skip-special") == 0)
            skip = 1;
        else if (argv[i][0] != '-' && !tokp)
            tokp = argv[i];
        else
            return 2;
    }
    if (!tokp || !text == !ids_s)
        return 2;
    struct err e;
    err_clear(&e);
    struct tok_tokenizer *tok = NULL;
    if (tok_load(&tok, tokp, NULL, &e) < 0) {
        fprintf(stderr, "vkv: %s\n", e.msg);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 1;
    if (text) {
        if (tok_encode(tok, text, strlen(text), &ids, &n, &e) < 0)
            goto out;
    } else {
        uint32_t *u = cm_xcalloc(DEC_MAX_IDS, sizeof *u);
        int k = parse_ids(ids_s, u, DEC_MAX_IDS);
        if (k < 0) {
            free(u);
            fprintf(stderr, "vkv: invalid --ids list\n");
            tok_free(tok);
            return 2;
        }
        ids = cm_xcalloc((size_t)k + 1, sizeof *ids);
        for (int i = 0; i < k; i++)
            ids[i] = (int32_t)u[i];
        n = (size_t)k;
        free(u);
    }
    struct tok_buf b = {0};
    if (tok_decode(tok, ids, n, skip, &b, &e) < 0) {
        free(b.p);
        goto out;
    }
    json_t *o = json_object(), *ja = json_array(), *jt = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(ja, json_integer(ids[i]));
        json_array_append_new(jt, json_string(tok_token(tok, ids[i])));
    }
    json_object_set_new(o, "ids", ja);
    json_object_set_new(o, "tokens", jt);
    json_object_set_new(o, "text", json_stringn(b.p, b.n));
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(o);
    free(b.p);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "vkv: %s\n", e.msg);
    free(ids);
    tok_free(tok);
    return rc;
}
