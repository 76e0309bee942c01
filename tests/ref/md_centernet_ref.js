// md_centernet_ref.js: CenterNet run by @tensorflow/tfjs (pure-JS CPU
// backend) -- the reference for the Moondream detect route
// (tests/suites/60-moondream.sh, bench/moondream.sh).
//
//   node tests/ref/md_centernet_ref.js MODEL_DIR IMG.ppm [IMG.ppm ...]
//
// Each input is a binary PPM (P6) holding the RGB pixels our decoder
// produced (tests/moondream/md_ppm), so both sides see identical pixels.
// Preprocessing as @vladmandic/human: tf.image.resizeBilinear to 512x512
// (align_corners=false, half_pixel_centers=false), raw 0..255, no
// normalisation.  The graph's own tail (MaxPool/Equal/TopKV2/GatherV2)
// gives `tower_0/detections` [1,100,6] = x1,y1,x2,y2 (512-pixel input
// coordinates), score, class; then the same post-processing as
// tasks/rt_task_detect.c: score >= 0.2, per-class NMS at IoU 0.5
// (tf.image.nonMaxSuppression), coordinates / 512 clamped to 0..1.
// Prints one JSON line per image: {"file","ms","objects":[{label,class,
// score,x_min,y_min,x_max,y_max}]}.
'use strict';
const path = require('path');
const fs = require('fs');
const tf = require(path.join(process.env.VKV_REF_MODULES || path.join(__dirname, '../../var/ref/node_modules'), '@tensorflow/tfjs'));

const MIN_SCORE = 0.2, NMS_IOU = 0.5, SIZE = 512;

function readPpm(file) {
  const b = fs.readFileSync(file);
  // P6\n<w> <h>\n255\n<data>
  let pos = 0;
  const tok = () => {
    while (/\s/.test(String.fromCharCode(b[pos]))) pos++;
    if (b[pos] === 0x23) { while (b[pos] !== 0x0a) pos++; return tok(); }
    let s = '';
    while (!/\s/.test(String.fromCharCode(b[pos]))) s += String.fromCharCode(b[pos++]);
    return s;
  };
  if (tok() !== 'P6') throw new Error(file + ': not a binary PPM');
  const w = +tok(), h = +tok(), max = +tok();
  pos++;
  if (max !== 255 || b.length - pos < w * h * 3) throw new Error(file + ': bad PPM');
  return { w, h, rgb: b.subarray(pos, pos + w * h * 3) };
}

async function loadModel(dir) {
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'centernet.json')));
  const bins = j.weightsManifest.flatMap(g => g.paths.map(p => fs.readFileSync(path.join(dir, p))));
  const bin = Buffer.concat(bins);
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: j.modelTopology, format: j.format, generatedBy: j.generatedBy,
    convertedBy: j.convertedBy,
    weightSpecs: j.weightsManifest.flatMap(g => g.weights),
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length),
  }));
}

const labels = JSON.parse(fs.readFileSync(path.join(__dirname, '../../models/centernet.json'))).labels;
const clamp = v => Math.min(1, Math.max(0, v));
const r6 = v => Math.round(v * 1e6) / 1e6;

async function detect(model, img) {
  const t0 = Date.now();
  const out = tf.tidy(() => {
    const x = tf.tensor3d(new Float32Array(img.rgb), [img.h, img.w, 3]).expandDims(0);
    const resized = tf.image.resizeBilinear(x, [SIZE, SIZE], false, false);
    return model.execute(resized, 'tower_0/detections');
  });
  const det = (await out.array())[0];
  out.dispose();
  const ms = Date.now() - t0;
  // per class, in score order (the graph's TopKV2 is sorted)
  const byClass = new Map();
  det.forEach((d, i) => {
    if (!(d[4] >= MIN_SCORE)) return;
    if (!byClass.has(d[5])) byClass.set(d[5], []);
    byClass.get(d[5]).push(i);
  });
  const kept = [];
  for (const [, idx] of byClass) {
    const boxes = tf.tensor2d(idx.map(i => [det[i][1], det[i][0], det[i][3], det[i][2]]));
    const scores = tf.tensor1d(idx.map(i => det[i][4]));
    const sel = await tf.image.nonMaxSuppressionAsync(boxes, scores, 100, NMS_IOU, MIN_SCORE);
    for (const k of await sel.data()) kept.push(idx[k]);
    tf.dispose([boxes, scores, sel]);
  }
  kept.sort((a, b) => det[b][4] - det[a][4] || a - b);
  return {
    ms, objects: kept.map(i => {
      const d = det[i];
      return {
        label: labels[d[5]], class: d[5], score: r6(d[4]),
        x_min: r6(clamp(Math.min(d[0], d[2]) / SIZE)), y_min: r6(clamp(Math.min(d[1], d[3]) / SIZE)),
        x_max: r6(clamp(Math.max(d[0], d[2]) / SIZE)), y_max: r6(clamp(Math.max(d[1], d[3]) / SIZE)),
      };
    }),
  };
}

(async () => {
  const [dir, ...files] = process.argv.slice(2);
  if (!dir || files.length === 0) {
    console.error('usage: node md_centernet_ref.js MODEL_DIR IMG.ppm...');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const model = await loadModel(dir);
  for (const f of files) {
    const r = await detect(model, readPpm(f));
    console.log(JSON.stringify({ file: path.basename(f), ms: r.ms, objects: r.objects }));
  }
})().catch(e => { console.error(e.stack || String(e)); process.exit(1); });
