/*
 * md2.h: Moondream 2 on one Vulkan device (prefix md2_): the SigLIP-shaped
 * vision encoder (all crops of an image batched), crop reconstruction,
 * adaptive pooling and the projection, the Phi-shaped text decoder
 * (runtime/tfm/rt_dec.h) and the region head (Fourier features,
 * coordinate and size MLPs), loaded from the official safetensors layout
 * (model.vision.*, model.text.*, model.region.*; the "model." prefix
 * optional).
 *
 *   md2_load(dev, "dir/model.safetensors", &cfg, RT_TF_I8, &m, &e);
 *   md2_vision(m, crops, n, th, tw, proj, NULL, &e);      image -> [N][dim]
 *   md2_image_init(m, proj, &im, &e);            prefix prefilled, snapshot
 *   md2_generate(im, prompt, n, &gen, out, cap, &n_out, NULL, &e);
 *   md2_locate(im, prompt, n, 1, max_objects, objs, &n_objs, &e);
 *
 * Every call that uses an md2_image first restores the image prefix from
 * its KV snapshot, so questions about one image never re-encode it.  A
 * model and its images are used by one thread at a time.
 */
#ifndef VKV_MD2_H
#define VKV_MD2_H

#include "runtime/tfm/rt_dec.h"

struct md2_vision_config {
    uint32_t enc_dim, n_layers, n_heads, ff_dim, patch, crop, in_ch, margin, max_crops;
    uint32_t proj_inner, proj_out;
    float ln_eps;
};

struct md2_region_config {
    uint32_t dim, coord_feat, coord_out, size_feat, size_out, inner;
};

struct md2_config {
    struct rt_dec_config text;
    struct md2_vision_config vision;
    struct md2_region_config region;
};

/* Moondream 2 (2B): the published code's defaults; cannot fail */
struct md2_config md2_config_default(void);

/*
 * Overrides c's sizes from a config.json text json[0..n) in the published
 * code's form {"text": {dim, ff_dim, n_layers, vocab_size, max_context,
 * n_heads, n_kv_heads}, "vision": {enc_dim, enc_patch_size, enc_n_layers,
 * enc_ff_dim, enc_n_heads, proj_out_dim, proj_inner_dim, crop_size,
 * in_channels, max_crops, overlap_margin}, "region": {dim, coord_feat_dim,
 * coord_out_dim, size_feat_dim, size_out_dim, inner_dim}} (the reference
 * program's spellings n_layers, n_heads, ff_dim, patch_size, rot_dim,
 * rope_theta, ln_eps too).  Keys left out keep c's values.  0 or <0 with e
 * (invalid JSON, a value out of range, n_kv_heads != n_heads).
 */
int md2_config_parse(const char *json, size_t n, struct md2_config *c, struct err *e);

struct md2;
struct md2_image;

/*
 * Loads the weights of path (safetensors; bf16/f16/f32) for config c on d:
 * every linear in wtype (enum rt_tf_wtype; where a q4 layer's input size
 * is not a multiple of 32 it is stored i8 instead), LayerNorms,
 * positions and biases fp32.  The patch embedding's input is padded to a
 * multiple of 32 columns.  No full-precision copy stays on the host.
 * Returns 0 and a new model in *out (free with md2_free after its images),
 * or <0 with e set (a missing or misshapen tensor is named).
 */
int md2_load(struct rt_device *d, const char *path, const struct md2_config *c, int wtype,
             struct md2 **out, struct err *e);
void md2_free(struct md2 *m);
const struct md2_config *md2_get_config(const struct md2 *m);
/* device bytes of the weights; cannot fail */
uint64_t md2_device_bytes(const struct md2 *m);
/* the text decoder (borrowed) */
struct rt_dec *md2_text(struct md2 *m);

/* image tokens N = (crop / patch)^2; cannot fail */
uint32_t md2_image_tokens(const struct md2 *m);

/*
 * Runs n crops (n == 1 + th*tw; [n][in_ch][crop][crop] floats, borrowed)
 * through the encoder in batches as large as the device's buffer range
 * allows, merges them and projects: proj receives N * text dim floats.
 * feats (NULL or n * N * enc_dim floats) receives the encoder output after
 * post_ln.  0 or <0 with e set.
 */
int md2_vision(struct md2 *m, const float *crops, uint32_t n, uint32_t th, uint32_t tw, float *proj,
               float *feats, struct err *e);

/*
 * Prefills [bos] + proj (N rows of text dim, borrowed) as the bidirectional
 * prefix of a new request state with room for max_len positions (0: the
 * model's context) and snapshots its KV cache.  budget: device bytes the
 * state may take (0 = no limit).  Returns 0 and *out (free with
 * md2_image_free), or <0 with e (RT_ERR_OOM transient over the budget).
 */
int md2_image_init(struct md2 *m, const float *proj, uint32_t bos, uint32_t max_len,
                   uint64_t budget, struct md2_image **out, struct err *e);
void md2_image_free(struct md2_image *im);
/* device bytes of the image's state (KV cache, activations, snapshot) */
uint64_t md2_image_device_bytes(const struct md2_image *im);

/*
 * Restores the image prefix, prefills prompt[0..n) and generates with g
 * (rt_dec_generate: stop ids, limit, sampling, streaming, cancel).
 * first_logits (NULL or vocab floats) receives the prompt's last logits
 * before sampling.  Returns enum rt_dec_end (> 0) with *n_out, or <0.
 */
int md2_generate(struct md2_image *im, const uint32_t *prompt, uint32_t n,
                 const struct rt_dec_gen *g, uint32_t *out, uint32_t cap, uint32_t *n_out,
                 float *first_logits, struct err *e);

/* restores the image prefix and prefills prompt[0..n) (any length up to
 * the context: in pieces of the run's prefill rows); logits (vocab floats)
 * receives the last position's.  0 or <0 with e. */
int md2_prefill(struct md2_image *im, const uint32_t *prompt, uint32_t n, float *logits,
                struct err *e);
/* the image's decoder run (borrowed): several images' runs decode together
 * with rt_dec_generate_batch after md2_prefill */
struct rt_dec_run *md2_image_run(struct md2_image *im);
/* as md2_generate without restoring the image prefix: continues after the
 * positions already in the cache (reasoning, then the answer) */
int md2_generate_more(struct md2_image *im, const uint32_t *prompt, uint32_t n,
                      const struct rt_dec_gen *g, uint32_t *out, uint32_t cap, uint32_t *n_out,
                      struct err *e);

struct md2_obj {
    float x_min, y_min, x_max, y_max; /* detect: a box, normalised, not clipped */
    float x, y;                       /* the centre (point: the point) */
};

/*
 * Restores the image prefix, prefills prompt and reads objects through the
 * region head as the published code does: while the greedy next token is
 * not eos and fewer than max_objects were found, x, y (and for detect the
 * size) are decoded from the residual stream and fed back as embeddings.
 * out holds max_objects entries.  0 with *n_out, or <0 with e.
 */
int md2_locate(struct md2_image *im, const uint32_t *prompt, uint32_t n, int detect, uint32_t eos,
               uint32_t max_objects, struct md2_obj *out, uint32_t *n_out, struct err *e);

#endif
