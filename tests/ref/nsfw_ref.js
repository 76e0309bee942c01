// nsfw_ref.js: the nsfwjs reference for the fidelity test (suite 35-models).
// Runs nsfwjs@4.4.0 (its NSFWJS class: x/255, tf.image.resizeBilinear with
// alignCorners=true, the Keras MobileNetV2) on @tensorflow/tfjs's pure-JS
// CPU backend, with the weights unpacked by scripts/fetch-models.sh from
// the same npm tarball (the bundle's own base64 loader takes ~30 s here).
// Input: binary PPM files (the exact RGB pixels our decoder produced).
// Output: one JSON line per image: {"file", "probs":[5 in class order], "top"}
// (NSFWJS.infer gives the probabilities classify() sorts).
//
//   NODE_PATH=var/ref/node_modules node tests/ref/nsfw_ref.js MODEL_DIR|MODEL.json a.ppm b.ppm ...
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const nsfwjs = require('nsfwjs');
// the class order of nsfwjs' dist/*/nsfw_classes.js (not exported by the package)
const NSFW_CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
const { readPpm } = require('./ppm.js');

async function main() {
  let [dir, ...files] = process.argv.slice(2);
  if (dir && dir.endsWith('.json')) dir = path.dirname(dir);
  if (!dir || files.length === 0) {
    console.error('usage: nsfw_ref.js MODEL_DIR IMAGE.ppm...');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = [];
  const bufs = [];
  for (const g of mj.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.length);
  const handler = tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs: specs, weightData });
  const model = await nsfwjs.load(handler, { size: 224 });
  for (const f of files) {
    const im = readPpm(f);
    const x = tf.tensor3d(im.rgb, [im.h, im.w, 3], 'int32');
    const logits = model.infer(x);
    const probs = Array.from(await logits.data());
    logits.dispose();
    x.dispose();
    const best = probs.indexOf(Math.max(...probs));
    console.log(JSON.stringify({ file: f, probs, top: NSFW_CLASSES[best] }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
