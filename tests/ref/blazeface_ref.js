// blazeface_ref.js: the BlazeFace reference for the fidelity test (suite
// 35-models) and bench/models.sh.  onnxruntime-node runs the keijiro ONNX
// model (CPU execution provider); the preprocessing is @tensorflow/tfjs's
// (pad to a square with black at the right/bottom, resizeBilinear with
// half-pixel centres to 256x256, x/127.5 - 1) and the decode is written
// here from the MediaPipe/keijiro description (anchors, sigmoid scores,
// weighted NMS), independently of tasks/rt_task.c.
// Input: binary PPM files.  Output: one JSON line per image in the shape
// of `vkv run` ({"file", "faces":[{"box":{x_min,..}, "score", "landmarks"}]}).
//
//   NODE_PATH=var/ref/node_modules node tests/ref/blazeface_ref.js MODEL.onnx MANIFEST.json a.ppm ...
//   ... --bench N   prints {"latency_ms_median", "throughput_ips"} instead
'use strict';
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const ort = require('onnxruntime-node');
const { readPpm } = require('./ppm.js');

function preprocess(im, size) {
  return tf.tidy(() => {
    let x = tf.tensor3d(im.rgb, [im.h, im.w, 3], 'int32').toFloat();
    const s = Math.max(im.w, im.h);
    if (im.w !== im.h) x = tf.pad(x, [[0, s - im.h], [0, s - im.w], [0, 0]]);
    x = tf.image.resizeBilinear(x, [size, size], false, true);
    return x.div(127.5).sub(1).expandDims(0);
  });
}

function decode(post, size, scoresL, regsL) {
  const cands = [];
  let layer = 0;
  for (const { stride, per_cell: per } of post.anchors) {
    const grid = size / stride;
    const sc = scoresL[layer];
    const rg = regsL[layer];
    let a = 0;
    for (let y = 0; y < grid; y++) {
      for (let x = 0; x < grid; x++) {
        for (let k = 0; k < per; k++, a++) {
          const logit = Math.max(-80, Math.min(80, sc[a]));
          const score = 1 / (1 + Math.exp(-logit));
          if (!(score >= post.min_score)) continue;
          const r = rg.subarray(a * 16, a * 16 + 16);
          const ax = (x + 0.5) / grid;
          const ay = (y + 0.5) / grid;
          const lm = [];
          for (let q = 0; q < 6; q++) lm.push([ax + r[4 + 2 * q] / size, ay + r[5 + 2 * q] / size]);
          cands.push({ cx: ax + r[0] / size, cy: ay + r[1] / size, w: r[2] / size, h: r[3] / size, score, lm });
        }
      }
    }
    layer++;
  }
  cands.sort((p, q) => q.score - p.score);
  const iou = (p, q) => {
    const iw = Math.min(p.cx + p.w / 2, q.cx + q.w / 2) - Math.max(p.cx - p.w / 2, q.cx - q.w / 2);
    const ih = Math.min(p.cy + p.h / 2, q.cy + q.h / 2) - Math.max(p.cy - p.h / 2, q.cy - q.h / 2);
    if (iw <= 0 || ih <= 0) return 0;
    const inter = iw * ih;
    return inter / (p.w * p.h + q.w * q.h - inter);
  };
  const out = [];
  const used = new Array(cands.length).fill(false);
  for (let i = 0; i < cands.length && out.length < post.max_faces; i++) {
    if (used[i]) continue;
    const group = [cands[i]];
    for (let j = i + 1; j < cands.length; j++) {
      if (used[j]) continue;
      if (iou(cands[i], cands[j]) >= post.nms_iou) { group.push(cands[j]); used[j] = true; }
    }
    const ws = group.reduce((s, c) => s + c.score, 0);
    const avg = (f) => group.reduce((s, c) => s + f(c) * c.score, 0) / ws;
    const d = { cx: avg((c) => c.cx), cy: avg((c) => c.cy), w: avg((c) => c.w), h: avg((c) => c.h), score: cands[i].score };
    d.lm = [0, 1, 2, 3, 4, 5].map((q) => [avg((c) => c.lm[q][0]), avg((c) => c.lm[q][1])]);
    out.push(d);
  }
  return out;
}

function toJson(faces, im, names) {
  const s = Math.max(im.w, im.h);
  const sx = s / im.w;
  const sy = s / im.h;
  const cl = (v) => Math.max(0, Math.min(1, v));
  return faces.map((d) => ({
    box: { x_min: cl((d.cx - d.w / 2) * sx), y_min: cl((d.cy - d.h / 2) * sy),
           x_max: cl((d.cx + d.w / 2) * sx), y_max: cl((d.cy + d.h / 2) * sy) },
    score: d.score,
    landmarks: d.lm.map(([x, y], q) => ({ name: names[q], x: x * sx, y: y * sy })),
  }));
}

async function main() {
  const args = process.argv.slice(2);
  let bench = 0;
  const bi = args.indexOf('--bench');
  if (bi >= 0) { bench = parseInt(args[bi + 1], 10); args.splice(bi, 2); }
  const [onnx, manifest, ...files] = args;
  if (!onnx || !manifest || files.length === 0) {
    console.error('usage: blazeface_ref.js MODEL.onnx MANIFEST.json IMAGE.ppm... [--bench N]');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const man = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  const size = man.input.width;
  const sess = await ort.InferenceSession.create(onnx, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  const inName = sess.inputNames[0];
  const run = async (im) => {
    const x = preprocess(im, size);
    const data = await x.data();
    x.dispose();
    const r = await sess.run({ [inName]: new ort.Tensor('float32', data, [1, size, size, 3]) });
    // scores [1,A,1] and boxes [1,A,16], layers by anchor count descending
    const outs = sess.outputNames.map((n) => r[n]);
    const sc = outs.filter((t) => t.dims[2] === 1).sort((p, q) => q.dims[1] - p.dims[1]);
    const rg = outs.filter((t) => t.dims[2] === 16).sort((p, q) => q.dims[1] - p.dims[1]);
    return decode(man.post, size, sc.map((t) => t.data), rg.map((t) => t.data));
  };
  if (bench > 0) {
    const im = readPpm(files[0]);
    await run(im);
    const lat = [];
    const t0 = Date.now();
    for (let i = 0; i < bench; i++) {
      const t = process.hrtime.bigint();
      await run(im);
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const total = Date.now() - t0;
    lat.sort((p, q) => p - q);
    console.log(JSON.stringify({ runtime: 'onnxruntime-node ' + require('onnxruntime-node/package.json').version,
                                 latency_ms_median: lat[lat.length >> 1], throughput_ips: bench * 1000 / total }));
    return;
  }
  for (const f of files) {
    const im = readPpm(f);
    const faces = await run(im);
    console.log(JSON.stringify({ file: f, faces: toJson(faces, im, man.post.landmarks) }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
