#!/usr/bin/python3
"""tagger_model.py: a small multi-label tagger in the layout WD14-style
taggers ship (an ONNX model with one NHWC float input in BGR 0..255 and one
[N, K] output of sigmoid probabilities, plus selected_tags.csv), built with
python3-onnx for suite 38-tagger and the analyze tests.

    /usr/bin/python3 tests/models/tagger_model.py OUT [--size 64] [--seed 7]

writes OUT/manifests/tiny-tagger.json and OUT/cache/tiny-tagger/{model.onnx,
selected_tags.csv}.  The graph: Transpose to NCHW, two 3x3 stride-2
convolutions with ReLU, global average pooling, Gemm, Sigmoid (the ops a
WD14 head ends with).  Weights are random (fixed seed), with the last bias
set so that on flat grey images of 0..255 each tag's logit spans about -3..3:
different photos then cross different thresholds.
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TAGS = [
    # (name, category, threshold or "") -- WD14's categories: 9 rating, 0 general, 4 character
    ("general", 9, ""), ("sensitive", 9, ""), ("questionable", 9, ""), ("explicit", 9, ""),
    ("outdoors", 0, ""), ("sky", 0, ""), ("cloud", 0, ""), ("tree", 0, ""),
    ("animal", 0, ""), ("cat", 0, ""), ("food", 0, "0.6"), ("^_^", 0, ""),
    ("long_hair", 0, ""), ("no_humans", 0, ""),
    ("hatsune_miku", 4, ""), ("sherlock_holmes", 4, ""),
]


def conv_np(x, w, b, stride):
    """NCHW 3x3 convolution, padding 1 (the reference for the calibration only)"""
    n, c, h, wd = x.shape
    k = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    oh, ow = (h + 2 - 3) // stride + 1, (wd + 2 - 3) // stride + 1
    out = np.zeros((n, k, oh, ow), np.float64)
    for dy in range(3):
        for dx in range(3):
            patch = xp[:, :, dy:dy + stride * oh:stride, dx:dx + stride * ow:stride]
            out += np.einsum('nchw,kc->nkhw', patch, w[:, :, dy, dx])
    return out + b[None, :, None, None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--seed', type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    k = len(TAGS)
    w1 = rng.normal(0, 1.0 / (27 * 64), (8, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 1.0 / 72, (16, 8, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.05, 16).astype(np.float32)
    w3 = rng.normal(0, 1.0, (16, k)).astype(np.float32)
    # calibration on flat colours and noise: the logits' mean to 0, spread to ~1.5
    probe = [np.full((1, 3, 16, 16), v, np.float64) for v in (0, 64, 128, 192, 255)]
    probe += [rng.uniform(0, 255, (1, 3, 16, 16)), np.stack([np.full((16, 16), v) for v in (255, 0, 0)])[None]]
    feats = []
    for x in probe:
        h = np.maximum(conv_np(x, w1.astype(np.float64), b1.astype(np.float64), 2), 0)
        h = np.maximum(conv_np(h, w2.astype(np.float64), b2.astype(np.float64), 2), 0)
        feats.append(h.mean(axis=(2, 3))[0])
    logits = np.array(feats) @ w3.astype(np.float64)
    sd = logits.std(axis=0) + 1e-6
    w3 = (w3 / sd[None, :] * 1.5).astype(np.float32)
    b3 = (-(logits / sd[None, :] * 1.5).mean(axis=0)).astype(np.float32)

    s = a.size
    inp = helper.make_tensor_value_info('input_1', TensorProto.FLOAT, ['batch', s, s, 3])
    outp = helper.make_tensor_value_info('predictions_sigmoid', TensorProto.FLOAT, ['batch', k])
    inits = [numpy_helper.from_array(v, n) for v, n in
             ((w1, 'w1'), (b1, 'b1'), (w2, 'w2'), (b2, 'b2'), (w3, 'w3'), (b3, 'b3'))]
    nodes = [
        helper.make_node('Transpose', ['input_1'], ['nchw'], perm=[0, 3, 1, 2]),
        helper.make_node('Conv', ['nchw', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['c1'], ['r1']),
        helper.make_node('Conv', ['r1', 'w2', 'b2'], ['c2'], kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['c2'], ['r2']),
        helper.make_node('GlobalAveragePool', ['r2'], ['gap']),
        helper.make_node('Flatten', ['gap'], ['flat'], axis=1),
        helper.make_node('Gemm', ['flat', 'w3', 'b3'], ['logits']),
        helper.make_node('Sigmoid', ['logits'], ['predictions_sigmoid']),
    ]
    g = helper.make_graph(nodes, 'tiny_tagger', [inp], [outp], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)],
                          producer_name='vkvision-tests')
    m.ir_version = 8
    onnx.checker.check_model(m)

    cache = os.path.join(a.out, 'cache', 'tiny-tagger')
    mans = os.path.join(a.out, 'manifests')
    os.makedirs(cache, exist_ok=True)
    os.makedirs(mans, exist_ok=True)
    onnx.save(m, os.path.join(cache, 'model.onnx'))
    with open(os.path.join(cache, 'selected_tags.csv'), 'w') as f:
        f.write('tag_id,name,category,count,threshold\n')
        for i, (name, cat, thr) in enumerate(TAGS):
            f.write('%d,%s,%d,%d,%s\n' % (1000 + i, name, cat, 100000 - i, thr))
    man = {
        'name': 'tiny-tagger',
        'description': 'a small random multi-label tagger in the WD14 layout (tests only)',
        'task': 'tag',
        'format': 'onnx',
        'model': 'model.onnx',
        'tags': 'selected_tags.csv',
        'input': {'height': s, 'width': s, 'channels': 3, 'resize': 'bilinear',
                  'align_corners': False, 'half_pixel': True, 'letterbox': True,
                  'pad_value': 255, 'pad_center': True, 'scale': 1, 'mean': [0, 0, 0],
                  'std': [1, 1, 1], 'layout': 'NHWC', 'color': 'BGR'},
        'batch_limit': 8,
        'post': {'kind': 'multilabel', 'thresholds': {'general': 0.35, 'character': 0.85},
                 'max_tags': 64, 'underscores': 'spaces'},
    }
    with open(os.path.join(mans, 'tiny-tagger.json'), 'w') as f:
        json.dump(man, f, indent=2)
        f.write('\n')


if __name__ == '__main__':
    main()
