#!/usr/bin/python3
"""md_crops_ref.py: Moondream 2's crops of real images with Pillow, as the
published code makes them when pyvips is absent (overlap tiling, resize with
Image.LANCZOS, crop 0 = whole image at crop x crop, local windows every
(crop/patch - 2*margin)*patch pixels, normalised (x/255 - 0.5)/0.5, CHW).

  md_crops_ref.py [--crop 378 --patch 14 --margin 4 --max-crops 12] OUTDIR IMAGE...

For each IMAGE writes OUTDIR/<i>.rgb (int32 w, h, th, tw, then the RGB8
pixels as Pillow decoded them), OUTDIR/<i>.f32 (the crops, float32) and
OUTDIR/<i>.src (the image path), for tests/vlm/md_crop_test.c.
"""
import argparse
import math
import os
import struct

import numpy as np
from PIL import Image


def select_tiling(h, w, win, max_crops):
    if h <= win or w <= win:
        return 1, 1
    min_h, min_w = math.ceil(h / win), math.ceil(w / win)
    if min_h * min_w > max_crops:
        r = math.sqrt(max_crops / (min_h * min_w))
        return max(1, math.floor(min_h * r)), max(1, math.floor(min_w * r))
    ht, wt = math.floor(math.sqrt(max_crops * h / w)), math.floor(math.sqrt(max_crops * w / h))
    ht, wt = max(ht, min_h), max(wt, min_w)
    if ht * wt > max_crops:
        if wt > ht:
            wt = math.floor(max_crops / ht)
        else:
            ht = math.floor(max_crops / wt)
    return max(1, ht), max(1, wt)


def crops(img, crop, patch, margin, max_crops):
    a = np.asarray(img)
    H, W = a.shape[:2]
    win, m2 = (crop // patch - 2 * margin) * patch, 2 * margin * patch
    th, tw = select_tiling(H - m2, W - m2, win, max_crops)
    glob = np.asarray(img.resize((crop, crop), Image.LANCZOS))
    loc = np.asarray(img.resize((tw * win + m2, th * win + m2), Image.LANCZOS))
    out = [glob]
    for i in range(th):
        for j in range(tw):
            out.append(loc[i * win:i * win + crop, j * win:j * win + crop])
    x = np.stack(out).astype(np.float32)
    x = (x / np.float32(255) - np.float32(0.5)) / np.float32(0.5)
    return th, tw, np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crop", type=int, default=378)
    ap.add_argument("--patch", type=int, default=14)
    ap.add_argument("--margin", type=int, default=4)
    ap.add_argument("--max-crops", type=int, default=12)
    ap.add_argument("outdir")
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    for i, path in enumerate(a.images):
        img = Image.open(path).convert("RGB")
        th, tw, x = crops(img, a.crop, a.patch, a.margin, a.max_crops)
        with open(os.path.join(a.outdir, "%d.rgb" % i), "wb") as f:
            f.write(struct.pack("<4i", img.width, img.height, th, tw))
            f.write(np.asarray(img).tobytes())
        x.tofile(os.path.join(a.outdir, "%d.f32" % i))
        with open(os.path.join(a.outdir, "%d.src" % i), "w") as f:
            f.write(path)


if __name__ == "__main__":
    main()
