// esrgan_ref.js: the tfjs reference for upscaling (suite 36-upscale,
// bench/upscale.sh).  Loads @upscalerjs/esrgan-slim's Keras layers model
// (model.json + shard, unpacked by scripts/fetch-models.sh from the pinned
// tarball) into @tensorflow/tfjs on its pure-JS CPU backend and runs the
// whole image at once, as upscalerjs does without patchSize for this
// "rdn" architecture: input 0..255 float, output clipped to 0..255 and
// rounded.  Input and output: binary PPM.  Prints one JSON line with the
// run time (the first, warm-up run is not timed when --iters > 1).
//
//   NODE_PATH=var/ref/node_modules node tests/ref/esrgan_ref.js MODEL_DIR IN.ppm OUT.ppm [--iters N]
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { readPpm } = require('./ppm.js');

async function main() {
  const a = process.argv.slice(2);
  const it = a.indexOf('--iters');
  const iters = it >= 0 ? Number(a[it + 1]) : 1;
  const [dir, inp, outp] = a;
  if (!dir || !inp || !outp) {
    console.error('usage: esrgan_ref.js MODEL_DIR IN.ppm OUT.ppm [--iters N]');
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
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs: specs, weightData }));
  const im = readPpm(inp);
  let out = null;
  let ms = 0;
  for (let k = 0; k < iters; k++) {
    const t0 = process.hrtime.bigint();
    const y = tf.tidy(() => {
      const x = tf.tensor4d(Float32Array.from(im.rgb), [1, im.h, im.w, 3]);
      return model.predict(x).clipByValue(0, 255).round().cast('int32');
    });
    const d = await y.data();
    const [, oh, ow] = y.shape;
    y.dispose();
    if (k > 0 || iters === 1) ms += Number(process.hrtime.bigint() - t0) / 1e6;
    out = { w: ow, h: oh, d };
  }
  const n = iters > 1 ? iters - 1 : 1;
  const hdr = Buffer.from(`P6\n${out.w} ${out.h}\n255\n`);
  fs.writeFileSync(outp, Buffer.concat([hdr, Buffer.from(Uint8Array.from(out.d))]));
  console.log(JSON.stringify({ ms: ms / n, out_width: out.w, out_height: out.h,
    mpix_per_s: (out.w * out.h) / 1e6 / (ms / n / 1e3) }));
}
main().catch((e) => { console.error(e); process.exit(1); });
