// tagger_ref.js: the reference of a WD14-style multi-label tagger for suite
// 38-tagger.  onnxruntime-node runs the ONNX model (CPU execution provider);
// the preprocessing is @tensorflow/tfjs's, written from the manifest
// (pad to a square with pad_value, centred when pad_center, resizeBilinear
// with the manifest's align_corners / half_pixel, channels reversed for
// BGR, x*scale - mean over std), and the choice of tags from the CSV is
// written here from the WD14 convention, independently of tasks/rt_tags.c
// (a row's threshold, else its category's; ratings: the best one).
// Input: binary PPM files.  Output: one JSON line per image in the shape of
// `vkv run` ({"file", "tags":[{tag, category, score}], "rating":{tag, score}})
// plus "probs" (every output value), "near" (tags within 1e-3 of their
// threshold) and "rating_margin" (best rating minus the second).
//
//   NODE_PATH=var/ref/node_modules node tests/ref/tagger_ref.js MODEL.onnx MANIFEST.json TAGS.csv a.ppm ...
'use strict';
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const ort = require('onnxruntime-node');
const { readPpm } = require('./ppm.js');

const CAT = { 0: 'general', 1: 'artist', 3: 'copyright', 4: 'character', 5: 'meta', 9: 'rating' };
const KAOMOJI = new Set(['0_0', '(o)_(o)', '+_+', '+_-', '._.', '<o>_<o>', '<|>_<|>', '=_=', '>_<',
  '3_3', '6_9', '>_o', '@_@', '^_^', 'o_o', 'u_u', 'x_x', '|_|', '||_||']);

// the test CSVs have no quoted fields: a plain split is enough here
function readTags(file, spaces) {
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  const head = lines[0].split(',');
  const ci = head.indexOf('name');
  const cc = head.indexOf('category');
  const ct = head.indexOf('threshold');
  return lines.slice(1).map((l) => {
    const f = l.split(',');
    let name = f[ci];
    if (spaces && !KAOMOJI.has(name)) name = name.replace(/_/g, ' ');
    const cat = cc >= 0 ? parseInt(f[cc], 10) : 0;
    const thr = ct >= 0 && f[ct] !== '' ? parseFloat(f[ct]) : null;
    return { name, cat, thr };
  });
}

function preprocess(im, inp) {
  return tf.tidy(() => {
    let x = tf.tensor3d(im.rgb, [im.h, im.w, 3], 'int32').toFloat();
    if (inp.letterbox && im.w !== im.h) {
      const s = Math.max(im.w, im.h);
      const ox = inp.pad_center ? Math.floor((s - im.w) / 2) : 0;
      const oy = inp.pad_center ? Math.floor((s - im.h) / 2) : 0;
      x = tf.pad(x, [[oy, s - im.h - oy], [ox, s - im.w - ox], [0, 0]], inp.pad_value || 0);
    }
    x = tf.image.resizeBilinear(x, [inp.height, inp.width], !!inp.align_corners, !!inp.half_pixel);
    if (inp.color === 'BGR') x = tf.reverse(x, -1);
    x = x.mul(inp.scale).sub(tf.tensor1d(inp.mean)).div(tf.tensor1d(inp.std));
    return x.expandDims(0);
  });
}

function choose(tags, post, probs) {
  const th = post.thresholds || {};
  const def = post.threshold !== undefined ? post.threshold : 0.35;
  const catThr = (c) => {
    if (th[CAT[c]] !== undefined) return th[CAT[c]];
    if (th[String(c)] !== undefined) return th[String(c)];
    return c === 4 && post.threshold === undefined ? 0.85 : def;
  };
  const picked = [];
  const near = []; // tags within 1e-3 of their cut: either side may round them the other way
  const ratings = [];
  tags.forEach((t, i) => {
    const s = probs[i];
    if (t.cat === 9) {
      ratings.push({ tag: t.name, score: s });
      return;
    }
    const thr = t.thr !== null ? t.thr : catThr(t.cat);
    if (Math.abs(s - thr) < 1e-3) near.push(t.name);
    if (s >= thr) picked.push({ i, tag: t.name, category: CAT[t.cat] || String(t.cat), score: s });
  });
  picked.sort((p, q) => q.score - p.score || p.i - q.i);
  const out = { tags: picked.slice(0, post.max_tags || 64).map(({ tag, category, score }) => ({ tag, category, score })) };
  ratings.sort((p, q) => q.score - p.score);
  if (ratings.length) {
    out.rating = ratings[0];
    out.rating_margin = ratings.length > 1 ? ratings[0].score - ratings[1].score : 1;
  }
  out.near = near;
  return out;
}

async function main() {
  const [onnx, manifest, csv, ...files] = process.argv.slice(2);
  if (!onnx || !manifest || !csv || files.length === 0) {
    console.error('usage: tagger_ref.js MODEL.onnx MANIFEST.json TAGS.csv IMAGE.ppm...');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const man = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  const tags = readTags(csv, (man.post.underscores || 'spaces') === 'spaces');
  const sess = await ort.InferenceSession.create(onnx, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  const inName = sess.inputNames[0];
  for (const f of files) {
    const im = readPpm(f);
    const x = preprocess(im, man.input);
    const data = await x.data();
    x.dispose();
    const r = await sess.run({ [inName]: new ort.Tensor('float32', data, [1, man.input.height, man.input.width, 3]) });
    const probs = Array.from(r[sess.outputNames[0]].data);
    console.log(JSON.stringify({ file: f, ...choose(tags, man.post, probs), probs }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
