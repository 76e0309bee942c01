#!/usr/bin/python3
"""moondream_ref.py: the PyTorch reference for the transformer runtime.

Written from the published Moondream 2 math (not from its code): a
Phi-shaped decoder-only language model (one LayerNorm per block, attention
and MLP in parallel on it, fused QKV with bias, rotary embedding on the
first rot_dim dims of each head, tanh-GELU MLP, final LayerNorm, lm_head
with bias) and a SigLIP-shaped ViT encoder (linear patch embedding,
learned positions, pre-LN blocks, tanh-GELU, final LayerNorm) with the
crop-merge projection, under Moondream 2's tensor names
(model.text.*, model.vision.*).  Every size comes from a config, so tests
run it small and benches at full size.

Weights are random from a seed (or read from a safetensors file), rounded
to the dtype they are saved in, and the forward pass runs on the rounded
values in float64 (or float32 with --compute f32): the runtime loading the
same file computes the same function, and the reference's own rounding is
far below the tolerances compared.

Run with Debian's python3-torch: /usr/bin/python3 (a pyenv python3 may come
first on PATH).

  moondream_ref.py [--config FILE|JSON] [--seed N] [--dtype bf16|f16|f32]
                   [--weights IN.safetensors] [--save OUT.safetensors]
                   [--text 1,2,3] [--prefix P] [--generate N]
                   [--vision] [--pixel-seed N | --pixels FILE.f32] [--tiling HxW]
                   [--no-hidden] [--compute f64|f32] [--out FILE.json]
  moondream_ref.py --self-test    checks its pieces against torch.nn, TAP lines

Output (stdout or --out): one JSON object
  {"config": {...}, "text": {"tokens", "prefix", "hidden": [L+1][T][dim]
   (after the embedding, then after each block), "logits": [T][vocab],
   "generated": [...], "step_logits": [[vocab]...]},
   "vision": {"crops", "tiling", "hidden": [L+1][B][N][enc_dim],
   "features": [B][N][enc_dim] (after post_ln), "projected": [N][proj_out]}}
"hidden" is left out with --no-hidden.  Rotary: freqs 1/theta^(2i/rot_dim);
r = x[:rot/2], m = x[rot/2:rot], r' = r cos - m sin, m' = r sin + m cos,
written interleaved [r'0, m'0, r'1, ...] as upstream does (q.k is the same
as the half-split layout; only a K cache differs by that permutation).
"""
import argparse
import json
import math
import struct
import sys

import torch

DEFAULT = {
    "text": {"dim": 2048, "n_layers": 24, "n_heads": 32, "ff_dim": 8192,
             "vocab_size": 51200, "max_context": 2048, "rot_dim": 32,
             "rope_theta": 10000.0, "ln_eps": 1e-5},
    "vision": {"enc_dim": 1152, "n_layers": 27, "n_heads": 16, "ff_dim": 4304,
               "patch_size": 14, "crop_size": 378, "in_channels": 3,
               "overlap_margin": 4, "proj_inner_dim": 8192, "proj_out_dim": 2048,
               "ln_eps": 1e-5},
    "region": {"dim": 2048, "coord_feat_dim": 256, "coord_out_dim": 1024, "size_feat_dim": 512,
               "size_out_dim": 2048, "inner_dim": 8192},
}

ST_DTYPES = {"f32": (torch.float32, "F32"), "f16": (torch.float16, "F16"),
             "bf16": (torch.bfloat16, "BF16")}
ST_FROM = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def load_config(arg):
    cfg = json.loads(json.dumps(DEFAULT))
    if arg:
        user = json.loads(arg) if arg.lstrip().startswith("{") else json.load(open(arg))
        for part in ("text", "vision", "region"):
            cfg[part].update(user.get(part, {}))
        if "dim" not in user.get("region", {}):
            cfg["region"]["dim"] = cfg["text"]["dim"]
    t = cfg["text"]
    if t["dim"] % t["n_heads"]:
        sys.exit("config: text dim must be a multiple of n_heads")
    hd = t["dim"] // t["n_heads"]
    if t["rot_dim"] > hd or t["rot_dim"] % 2:
        sys.exit("config: rot_dim must be even and <= the head size %d" % hd)
    v = cfg["vision"]
    if v["enc_dim"] % v["n_heads"] or v["crop_size"] % v["patch_size"]:
        sys.exit("config: enc_dim % n_heads and crop_size % patch_size must be 0")
    return cfg


def shapes(cfg):
    """name -> shape, Moondream 2's names; Linear weights are [out, in]"""
    t, v = cfg["text"], cfg["vision"]
    s = {"model.text.wte": [t["vocab_size"], t["dim"]]}
    for i in range(t["n_layers"]):
        p = "model.text.blocks.%d." % i
        s[p + "ln.weight"] = [t["dim"]]
        s[p + "ln.bias"] = [t["dim"]]
        s[p + "attn.qkv.weight"] = [3 * t["dim"], t["dim"]]
        s[p + "attn.qkv.bias"] = [3 * t["dim"]]
        s[p + "attn.proj.weight"] = [t["dim"], t["dim"]]
        s[p + "attn.proj.bias"] = [t["dim"]]
        s[p + "mlp.fc1.weight"] = [t["ff_dim"], t["dim"]]
        s[p + "mlp.fc1.bias"] = [t["ff_dim"]]
        s[p + "mlp.fc2.weight"] = [t["dim"], t["ff_dim"]]
        s[p + "mlp.fc2.bias"] = [t["dim"]]
    s["model.text.post_ln.weight"] = [t["dim"]]
    s["model.text.post_ln.bias"] = [t["dim"]]
    s["model.text.lm_head.weight"] = [t["vocab_size"], t["dim"]]
    s["model.text.lm_head.bias"] = [t["vocab_size"]]
    d, ps, n = v["enc_dim"], v["patch_size"], (v["crop_size"] // v["patch_size"]) ** 2
    s["model.vision.patch_emb.weight"] = [d, v["in_channels"] * ps * ps]
    s["model.vision.patch_emb.bias"] = [d]
    s["model.vision.pos_emb"] = [1, n, d]
    for i in range(v["n_layers"]):
        p = "model.vision.blocks.%d." % i
        for ln in ("ln1", "ln2"):
            s[p + ln + ".weight"] = [d]
            s[p + ln + ".bias"] = [d]
        s[p + "attn.qkv.weight"] = [3 * d, d]
        s[p + "attn.qkv.bias"] = [3 * d]
        s[p + "attn.proj.weight"] = [d, d]
        s[p + "attn.proj.bias"] = [d]
        s[p + "mlp.fc1.weight"] = [v["ff_dim"], d]
        s[p + "mlp.fc1.bias"] = [v["ff_dim"]]
        s[p + "mlp.fc2.weight"] = [d, v["ff_dim"]]
        s[p + "mlp.fc2.bias"] = [d]
    s["model.vision.post_ln.weight"] = [d]
    s["model.vision.post_ln.bias"] = [d]
    s["model.vision.proj_mlp.fc1.weight"] = [v["proj_inner_dim"], 2 * d]
    s["model.vision.proj_mlp.fc1.bias"] = [v["proj_inner_dim"]]
    s["model.vision.proj_mlp.fc2.weight"] = [v["proj_out_dim"], v["proj_inner_dim"]]
    s["model.vision.proj_mlp.fc2.bias"] = [v["proj_out_dim"]]
    r = cfg["region"]
    s["model.region.coord_features"] = [1, r["coord_feat_dim"] // 2]
    s["model.region.coord_encoder.weight"] = [r["dim"], r["coord_feat_dim"]]
    s["model.region.coord_encoder.bias"] = [r["dim"]]
    s["model.region.coord_decoder.fc1.weight"] = [r["inner_dim"], r["dim"]]
    s["model.region.coord_decoder.fc1.bias"] = [r["inner_dim"]]
    s["model.region.coord_decoder.fc2.weight"] = [r["coord_out_dim"], r["inner_dim"]]
    s["model.region.coord_decoder.fc2.bias"] = [r["coord_out_dim"]]
    s["model.region.size_features"] = [2, r["size_feat_dim"] // 2]
    s["model.region.size_encoder.weight"] = [r["dim"], r["size_feat_dim"]]
    s["model.region.size_encoder.bias"] = [r["dim"]]
    s["model.region.size_decoder.fc1.weight"] = [r["inner_dim"], r["dim"]]
    s["model.region.size_decoder.fc1.bias"] = [r["inner_dim"]]
    s["model.region.size_decoder.fc2.weight"] = [r["size_out_dim"], r["inner_dim"]]
    s["model.region.size_decoder.fc2.bias"] = [r["size_out_dim"]]
    return s


def random_weights(cfg, seed, parts):
    """scaled so activations stay O(1) through the layers: weights
    N(0, 1/fan_in), biases N(0, 0.02^2), LayerNorm gains 1 + N(0, 0.1^2) and
    biases N(0, 0.1^2), embeddings N(0, 1), positions N(0, 0.25)"""
    g = torch.Generator().manual_seed(seed)
    w = {}
    for name, shp in shapes(cfg).items():
        if name.split(".")[1] not in parts:
            continue
        x = torch.randn(shp, generator=g, dtype=torch.float32)
        kind = name.split(".")[-2]
        if kind in ("ln", "ln1", "ln2", "post_ln"):
            x = 1 + 0.1 * x if name.endswith(".weight") else 0.1 * x
        elif name.endswith(".bias"):
            x = 0.02 * x
        elif name.endswith("wte"):
            pass
        elif name.endswith("pos_emb"):
            x = 0.5 * x
        elif name.endswith("_features"):
            pass
        else:
            x = x / math.sqrt(shp[-1])
        w[name] = x
    return w


def save_safetensors(path, w, dtype):
    tdt, sname = ST_DTYPES[dtype]
    hdr, blobs, off = {"__metadata__": {"format": "pt", "writer": "moondream_ref.py"}}, [], 0
    for name in sorted(w):
        t = w[name].to(tdt).contiguous()
        raw = t.view(torch.int16 if t.element_size() == 2 else torch.int32).numpy().tobytes()
        hdr[name] = {"dtype": sname, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    hdr = json.loads(data[8:8 + n])
    base, w = 8 + n, {}
    for name, d in hdr.items():
        if name == "__metadata__":
            continue
        if d["dtype"] not in ST_FROM:
            sys.exit("%s: dtype %s not supported" % (name, d["dtype"]))
        b, e = d["data_offsets"]
        raw = bytearray(data[base + b:base + e])
        t = torch.frombuffer(raw, dtype=ST_FROM[d["dtype"]]) if raw else \
            torch.zeros(0, dtype=ST_FROM[d["dtype"]])
        w[name] = t.reshape(d["shape"])
    return w


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def linear(x, w, b):
    return x @ w.T + b


def rope(x, pos, rot, theta):
    """x [H, T, hd]; rotates the first rot dims (see the module docstring)"""
    half = rot // 2
    freqs = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.float64)[:half] / rot))
    ang = pos.to(torch.float64)[:, None] * freqs[None, :]
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    r, m = x[..., :half], x[..., half:rot]
    r2, m2 = r * cos - m * sin, r * sin + m * cos
    inter = torch.stack((r2, m2), -1).flatten(-2)
    return torch.cat((inter, x[..., rot:]), -1)


def attention(q, k, v, mask):
    """q,k,v [H, T, hd]; mask [T, T] bool, True = attend"""
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, -1) @ v


def text_forward(cfg, w, tokens, prefix, keep_hidden):
    hidden, logits, _ = text_forward_x(cfg, w, w["model.text.wte"][torch.tensor(tokens)], prefix,
                                       keep_hidden)
    return hidden, logits


def text_forward_x(cfg, w, x, prefix, keep_hidden, last_only=False):
    """x [T, dim] input embeddings; returns hidden list, logits, the last
    block's residual stream (what the region head reads)"""
    t = cfg["text"]
    H, D = t["n_heads"], t["dim"]
    hd = D // H
    T = x.shape[0]
    pos = torch.arange(T)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    mask[:prefix, :prefix] = True
    hidden = [x] if keep_hidden else []
    for i in range(t["n_layers"]):
        p = "model.text.blocks.%d." % i
        h = layer_norm(x, w[p + "ln.weight"], w[p + "ln.bias"], t["ln_eps"])
        qkv = linear(h, w[p + "attn.qkv.weight"], w[p + "attn.qkv.bias"])
        q, k, v = (z.reshape(T, H, hd).transpose(0, 1) for z in qkv.split(D, -1))
        q = rope(q, pos, t["rot_dim"], t["rope_theta"])
        k = rope(k, pos, t["rot_dim"], t["rope_theta"])
        a = attention(q, k, v, mask).transpose(0, 1).reshape(T, D)
        a = linear(a, w[p + "attn.proj.weight"], w[p + "attn.proj.bias"])
        m = linear(gelu_tanh(linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])),
                   w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
        x = x + a + m
        if keep_hidden:
            hidden.append(x)
    y = layer_norm(x[-1:] if last_only else x, w["model.text.post_ln.weight"],
                   w["model.text.post_ln.bias"], t["ln_eps"])
    logits = linear(y, w["model.text.lm_head.weight"], w["model.text.lm_head.bias"])
    return hidden, logits, x


def fourier(x, f):
    a = 2 * math.pi * (x @ f)
    return torch.cat((torch.cos(a), torch.sin(a)), -1)


def region_mlp(w, name, h):
    p = "model.region." + name
    return linear(gelu_tanh(linear(h, w[p + ".fc1.weight"], w[p + ".fc1.bias"])),
                  w[p + ".fc2.weight"], w[p + ".fc2.bias"])


def encode_coord(w, c):
    f = fourier(torch.tensor([c], dtype=w["model.region.coord_features"].dtype),
                w["model.region.coord_features"])
    return linear(f, w["model.region.coord_encoder.weight"], w["model.region.coord_encoder.bias"])


def encode_size(w, wh):
    f = fourier(torch.tensor(wh, dtype=w["model.region.size_features"].dtype),
                w["model.region.size_features"])
    return linear(f, w["model.region.size_encoder.weight"], w["model.region.size_encoder.bias"])


def md_task(cfg, w, proj, bos, prompt, task, max_tokens, eos, max_objects):
    """Moondream 2's task on projected image features: [bos] + image as the
    bidirectional prefix, then the prompt; caption/query: greedy tokens until
    eos or max_tokens; detect/point: the region loop of the published code.
    Full recompute per position (exact, small sizes only)."""
    wte = w["model.text.wte"]
    P = proj.shape[0] + 1
    seq = torch.cat((wte[bos][None], proj, wte[torch.tensor(prompt)]), 0)
    _, logits, res = text_forward_x(cfg, w, seq, P, False, True)
    out = {"prompt": prompt, "prompt_logits": tolist(logits[-1])}
    if task in ("caption", "query"):
        gen, lg = [], logits[-1]
        while len(gen) < max_tokens:
            nxt = int(torch.argmax(lg))
            if nxt == eos:
                break
            gen.append(nxt)
            seq = torch.cat((seq, wte[nxt][None]), 0)
            _, l2, _ = text_forward_x(cfg, w, seq, P, False, True)
            lg = l2[-1]
        out["tokens"] = gen
        return out
    r = cfg["region"]
    bins = r["size_out_dim"] // 2
    h, nxt, objs = res[-1], int(torch.argmax(logits[-1])), []

    def step(e):
        nonlocal seq
        seq = torch.cat((seq, e[None]), 0)
        _, l2, r2 = text_forward_x(cfg, w, seq, P, False, True)
        return l2[-1], r2[-1]

    while nxt != eos and len(objs) < max_objects:
        x = int(torch.argmax(region_mlp(w, "coord_decoder", h))) / r["coord_out_dim"]
        _, h = step(encode_coord(w, x))
        y = int(torch.argmax(region_mlp(w, "coord_decoder", h))) / r["coord_out_dim"]
        lg, h = step(encode_coord(w, y))
        if task == "detect":
            s = region_mlp(w, "size_decoder", h).reshape(2, bins)
            sw, sh = (2 ** (int(torch.argmax(s[k])) / (bins - 1) * 10 - 10) for k in (0, 1))
            objs.append({"x_min": x - sw / 2, "y_min": y - sh / 2, "x_max": x + sw / 2,
                         "y_max": y + sh / 2})
            lg, h = step(encode_size(w, [sw, sh]))
        else:
            objs.append({"x": x, "y": y})
        nxt = int(torch.argmax(lg))
    out["objects"] = objs
    return out


def create_patches(img, ps):
    B, C, Hh, Ww = img.shape
    x = img.reshape(B, C, Hh // ps, ps, Ww // ps, ps).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (Hh // ps) * (Ww // ps), C * ps * ps)


def reconstruct(local, th, tw, grid, margin):
    """local [n, grid, grid, C] -> [(win*th + 2m), (win*tw + 2m), C]"""
    win = grid - 2 * margin
    C = local.shape[-1]
    out = torch.zeros(win * th + 2 * margin, win * tw + 2 * margin, C, dtype=local.dtype)
    for ty in range(th):
        for tx in range(tw):
            crop = local[ty * tw + tx]
            y0 = 0 if ty == 0 else margin
            y1 = grid if ty == th - 1 else grid - margin
            x0 = 0 if tx == 0 else margin
            x1 = grid if tx == tw - 1 else grid - margin
            out[ty * win + y0:ty * win + y1, tx * win + x0:tx * win + x1] = crop[y0:y1, x0:x1]
    return out


def vision_forward(cfg, w, crops, tiling, keep_hidden):
    v = cfg["vision"]
    d, H = v["enc_dim"], v["n_heads"]
    hd = d // H
    x = linear(create_patches(crops, v["patch_size"]), w["model.vision.patch_emb.weight"],
               w["model.vision.patch_emb.bias"])
    x = x + w["model.vision.pos_emb"]
    B, N, _ = x.shape
    hidden = [x] if keep_hidden else []
    for i in range(v["n_layers"]):
        p = "model.vision.blocks.%d." % i
        h = layer_norm(x, w[p + "ln1.weight"], w[p + "ln1.bias"], v["ln_eps"])
        qkv = linear(h, w[p + "attn.qkv.weight"], w[p + "attn.qkv.bias"])
        q, k, vv = (z.reshape(B, N, H, hd).transpose(1, 2) for z in qkv.split(d, -1))
        a = attention(q, k, vv, None).transpose(1, 2).reshape(B, N, d)
        x = x + linear(a, w[p + "attn.proj.weight"], w[p + "attn.proj.bias"])
        h = layer_norm(x, w[p + "ln2.weight"], w[p + "ln2.bias"], v["ln_eps"])
        x = x + linear(gelu_tanh(linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])),
                       w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
        if keep_hidden:
            hidden.append(x)
    feats = layer_norm(x, w["model.vision.post_ln.weight"], w["model.vision.post_ln.bias"],
                       v["ln_eps"])
    grid = v["crop_size"] // v["patch_size"]
    th, tw = tiling
    glob = feats[0]
    local = feats[1:].reshape(th * tw, grid, grid, d)
    r = reconstruct(local, th, tw, grid, v["overlap_margin"])
    pooled = torch.nn.functional.adaptive_avg_pool2d(r.permute(2, 0, 1)[None], (grid, grid))
    pooled = pooled[0].permute(1, 2, 0).reshape(grid * grid, d)
    f = torch.cat((glob, pooled), -1)
    proj = linear(gelu_tanh(linear(f, w["model.vision.proj_mlp.fc1.weight"],
                                   w["model.vision.proj_mlp.fc1.bias"])),
                  w["model.vision.proj_mlp.fc2.weight"], w["model.vision.proj_mlp.fc2.bias"])
    return hidden, feats, proj


def self_test():
    """checks the hand-written pieces against torch's own modules; prints
    TAP lines (suite 12-import runs it)"""
    F = torch.nn.functional
    g = torch.Generator().manual_seed(3)
    fails = 0

    def check(ok, what):
        nonlocal fails
        fails += not ok
        print("%s - moondream_ref: %s" % ("ok" if ok else "not ok", what))

    x = torch.randn(5, 24, generator=g, dtype=torch.float64)
    lw, lb = torch.randn(24, generator=g, dtype=torch.float64), torch.randn(24, generator=g,
                                                                         dtype=torch.float64)
    check(torch.allclose(layer_norm(x, lw, lb, 1e-5), F.layer_norm(x, (24,), lw, lb, 1e-5),
                         atol=1e-12), "layer_norm == F.layer_norm")
    check(torch.allclose(gelu_tanh(x), F.gelu(x, approximate="tanh"), atol=1e-12),
          "gelu_tanh == F.gelu(approximate='tanh')")
    # attention without mask == nn.MultiheadAttention with identity projections
    H, T, hd = 3, 6, 8
    q, k, v = (torch.randn(H, T, hd, generator=g, dtype=torch.float64) for _ in range(3))
    mha = torch.nn.MultiheadAttention(H * hd, H, bias=False, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.eye(H * hd).repeat(3, 1))
        mha.out_proj.weight.copy_(torch.eye(H * hd))
    flat = lambda z: z.transpose(0, 1).reshape(T, H * hd)
    ref, _ = mha(flat(q), flat(k), flat(v), need_weights=False)
    check(torch.allclose(flat(attention(q, k, v, None)), ref, atol=1e-10),
          "attention == nn.MultiheadAttention")
    # prefix-LM mask: causal rows see the prefix and themselves, prefix rows see the prefix
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    causal[:2, :2] = True
    ref, _ = mha(flat(q), flat(k), flat(v), need_weights=False, attn_mask=~causal)
    check(torch.allclose(flat(attention(q, k, v, causal)), ref, atol=1e-10),
          "prefix-causal mask == nn.MultiheadAttention attn_mask")
    # rotary: rotating q and k by positions m, n gives q.k depending on m - n only, and the
    # interleaved output has the same dot products as the half-split (NeoX) layout
    pos = torch.tensor([3, 10])
    a = rope(q[:1, :1].expand(1, 2, hd).clone(), pos, 4, 10000.0)
    b = rope(k[:1, :1].expand(1, 2, hd).clone(), pos + 5, 4, 10000.0)
    check(abs(float(a[0, 0] @ b[0, 0]) - float(a[0, 1] @ b[0, 1])) < 1e-10,
          "rope: q.k depends on the position difference only")
    check(torch.equal(rope(q, torch.zeros(T, dtype=torch.long), 4, 1e4)[..., 4:], q[..., 4:]),
          "rope: dims past rot_dim pass through")
    # adaptive pool bins: PyTorch's floor/ceil bins on a 5 -> 3 grid
    r = torch.arange(25, dtype=torch.float64).reshape(1, 1, 5, 5)
    p = F.adaptive_avg_pool2d(r, (3, 3))
    check(float(p[0, 0, 1, 1]) == float(r[0, 0, 1:4, 1:4].mean()), "adaptive pool bins")
    return fails


def tolist(x):
    return x.to(torch.float64).tolist()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="JSON file or inline JSON; overrides Moondream 2's sizes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dtype", choices=sorted(ST_DTYPES), default="f32")
    ap.add_argument("--weights", help="read weights from this safetensors file")
    ap.add_argument("--save", help="write the (random) weights here as safetensors")
    ap.add_argument("--parts", default="text,vision",
                    help="which weights to build (text, vision, region)")
    ap.add_argument("--text", help="comma-separated token ids to run the decoder on")
    ap.add_argument("--prefix", type=int, default=0, help="positions attending both ways")
    ap.add_argument("--generate", type=int, default=0, help="greedy tokens after the prompt")
    ap.add_argument("--vision", action="store_true", help="run the vision encoder")
    ap.add_argument("--pixel-seed", type=int, default=2)
    ap.add_argument("--pixels", help="float32 file [crops, C, S, S] in [-1, 1]")
    ap.add_argument("--tiling", default="1x1", help="local crops HxW (crops = 1 + H*W)")
    ap.add_argument("--task", help="after --vision: comma-separated tasks (caption, query, "
                    "detect, point) run on the projected features")
    ap.add_argument("--save-pixels", help="write the crops (float32) here")
    ap.add_argument("--prompt", help="comma-separated prompt token ids (after the image)")
    ap.add_argument("--bos", type=int, default=0)
    ap.add_argument("--eos", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--max-objects", type=int, default=4)
    ap.add_argument("--no-hidden", action="store_true")
    ap.add_argument("--compute", choices=("f64", "f32"), default="f64")
    ap.add_argument("--out")
    ap.add_argument("--self-test", action="store_true", help="check the pieces, print TAP")
    a = ap.parse_args()
    if a.self_test:
        sys.exit(1 if self_test() else 0)

    cfg = load_config(a.config)
    if a.weights:
        w = load_safetensors(a.weights)
    else:
        w = {k: v.to(ST_DTYPES[a.dtype][0])
             for k, v in random_weights(cfg, a.seed, a.parts.split(",")).items()}
        if a.save:
            save_safetensors(a.save, w, a.dtype)
    cdt = torch.float64 if a.compute == "f64" else torch.float32
    w = {k: v.to(cdt) for k, v in w.items()}
    out = {"config": cfg}
    with torch.no_grad():
        if a.text:
            toks = [int(s) for s in a.text.split(",")]
            vocab = cfg["text"]["vocab_size"]
            if any(x < 0 or x >= vocab for x in toks):
                sys.exit("--text: token ids must be in [0, %d)" % vocab)
            hidden, logits = text_forward(cfg, w, toks, a.prefix, not a.no_hidden)
            res = {"tokens": toks, "prefix": a.prefix, "logits": tolist(logits)}
            if not a.no_hidden:
                res["hidden"] = [tolist(h) for h in hidden]
            gen, steps, seq, lg = [], [], list(toks), logits[-1]
            for _ in range(a.generate):  # full recompute per step: exact, small sizes only
                nxt = int(torch.argmax(lg))
                gen.append(nxt)
                seq.append(nxt)
                _, l2 = text_forward(cfg, w, seq, a.prefix, False)
                lg = l2[-1]
                steps.append(tolist(lg))
            res["generated"], res["step_logits"] = gen, steps
            out["text"] = res
        if a.vision:
            v = cfg["vision"]
            th, tw = (int(s) for s in a.tiling.lower().split("x"))
            nc, S = 1 + th * tw, v["crop_size"]
            if a.pixels:
                crops = torch.frombuffer(bytearray(open(a.pixels, "rb").read()),
                                         dtype=torch.float32).reshape(nc, v["in_channels"], S, S)
            else:
                g = torch.Generator().manual_seed(a.pixel_seed)
                crops = torch.rand(nc, v["in_channels"], S, S, generator=g) * 2 - 1
            hidden, feats, proj = vision_forward(cfg, w, crops.to(cdt), (th, tw), not a.no_hidden)
            res = {"crops": nc, "tiling": [th, tw], "features": tolist(feats),
                   "projected": tolist(proj)}
            if not a.no_hidden:
                res["hidden"] = [tolist(h) for h in hidden]
            out["vision"] = res
            if a.save_pixels:
                crops.to(torch.float32).numpy().tofile(a.save_pixels)
            for task in (a.task.split(",") if a.task else []):
                prompt = [int(x) for x in a.prompt.split(",")]
                out[task] = md_task(cfg, w, proj, a.bos, prompt, task, a.max_tokens, a.eos,
                                    a.max_objects)
    s = json.dumps(out)
    if a.out:
        open(a.out, "w").write(s + "\n")
    else:
        print(s)


if __name__ == "__main__":
    main()
