/*
 * rt_import_cut.c: import a tfjs graph model with chosen outputs, so the
 * plan stops before a tail that runs on the CPU (CenterNet's
 * MaxPool/TopKV2/GatherV2, decoded by rt_task_detect.c).  The importer
 * takes its outputs from model.json's signature; this rewrites that
 * signature in memory and imports from memory.  See rt_task_detect.h.
 */
#include "runtime/rt_import.h"
#include "runtime/rt_ir.h"
#include "runtime/rt_task_detect.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rt_import_tfjs_cut(const char *model_json_path, const char *const *outputs, int n_outputs,
                       const struct rt_import_opts *o, struct rt_graph **out, struct err *e)
{
    *out = NULL;
    if (n_outputs <= 0)
        return rt_import_tfjs(model_json_path, o, out, e);
    uint8_t *js = NULL;
    size_t js_len = 0;
    int rc = rt_import_file_read(model_json_path, RT_IMPORT_MAX_JSON, &js, &js_len, e);
    if (rc < 0)
        return rc;
    json_error_t je;
    json_t *root = json_loadb((const char *)js, js_len, JSON_REJECT_DUPLICATES, &je);
    free(js);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(e, RT_IMPORT_ERR_INVALID, 400, "invalid_model", "invalid model.json \"%s\"",
                       model_json_path);
    }
    /* the new outputs, as the importer reads them: signature.outputs */
    json_t *outs = json_object();
    json_t *sig = json_object_get(root, "signature");
    if (!json_is_object(sig)) {
        sig = json_object();
        json_object_set_new(root, "signature", sig);
    }
    for (int i = 0; i < n_outputs && outs; i++)
        json_object_set_new(outs, outputs[i], json_pack("{s:s}", "name", outputs[i]));
    if (outs == NULL || json_object_set_new(sig, "outputs", outs) < 0) {
        json_decref(root);
        return err_set(e, RT_IMPORT_ERR_OOM, 503, "out_of_memory", "could not allocate");
    }
    /* the shards, concatenated in manifest order, from beside model.json */
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", model_json_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    uint8_t *bin = NULL;
    size_t bin_len = 0;
    size_t gi, pi;
    json_t *grp, *pj;
    json_array_foreach(json_object_get(root, "weightsManifest"), gi, grp)
    {
        json_array_foreach(json_object_get(grp, "paths"), pi, pj)
        {
            const char *p = json_string_value(pj);
            char shard[1400];
            uint8_t *sb = NULL;
            size_t sl = 0;
            if (p == NULL || p[0] == '/' || strstr(p, "..") != NULL || strlen(p) > 255) {
                rc = err_set(e, RT_IMPORT_ERR_INVALID, 400, "invalid_model",
                             "invalid weight shard path in \"%s\"", model_json_path);
                goto out;
            }
            snprintf(shard, sizeof(shard), "%s%s", dir, p);
            rc = rt_import_file_read(shard, RT_IMPORT_MAX_FILE - (long long)bin_len, &sb, &sl, e);
            if (rc < 0)
                goto out;
            uint8_t *nb = realloc(bin, bin_len + sl + 1);
            if (nb == NULL) {
                free(sb);
                rc = err_set(e, RT_IMPORT_ERR_OOM, 503, "out_of_memory", "could not allocate");
                goto out;
            }
            bin = nb;
            memcpy(bin + bin_len, sb, sl);
            bin_len += sl;
            free(sb);
        }
    }
    char *text = json_dumps(root, JSON_COMPACT);
    if (text == NULL) {
        rc = err_set(e, RT_IMPORT_ERR_OOM, 503, "out_of_memory", "could not allocate");
        goto out;
    }
    rc = rt_import_tfjs_mem(text, strlen(text), bin, bin_len, o, out, e);
    free(text);
out:
    free(bin);
    json_decref(root);
    return rc;
}
