// md_selfie_ref.js: MediaPipe selfie segmentation run by @tensorflow/tfjs,
// the reference for /v1/segment (tests/moondream/md_compare.mjs).
//
//   node tests/ref/md_selfie_ref.js MODEL_DIR IMG.ppm [IMG.ppm ...]
//
// Preprocessing as @vladmandic/human: tf.image.resizeBilinear to 256x256
// (align_corners=false, half_pixel_centers=false), /255.  The output
// `activation_10` [1,256,256,1] is the person probability; pixels >= 0.5
// are foreground.  Prints one JSON line per image: {"file", "coverage"
// (foreground fraction), "bbox" (of the largest 4-connected component,
// normalised, as tasks/rt_task_detect.c reports it)}.
'use strict';
const path = require('path');
const fs = require('fs');
const tf = require(path.join(process.env.VKV_REF_MODULES || path.join(__dirname, '../../var/ref/node_modules'), '@tensorflow/tfjs'));

function readPpm(file) {
  const b = fs.readFileSync(file);
  const head = b.toString('latin1', 0, 64).split(/\s+/);
  if (head[0] !== 'P6' || head[3] !== '255') throw new Error(file + ': not an 8-bit binary PPM');
  const w = +head[1], h = +head[2];
  return { w, h, rgb: b.subarray(b.length - w * h * 3) };
}

(async () => {
  const [dir, ...files] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'selfie.json')));
  const bin = Buffer.concat(j.weightsManifest.flatMap(g => g.paths.map(p => fs.readFileSync(path.join(dir, p)))));
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: j.modelTopology, weightSpecs: j.weightsManifest.flatMap(g => g.weights),
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length),
  }));
  for (const f of files) {
    const im = readPpm(f);
    const out = tf.tidy(() => {
      const x = tf.tensor3d(new Float32Array(im.rgb), [im.h, im.w, 3]).expandDims(0);
      return model.execute(tf.image.resizeBilinear(x, [256, 256], false, false).div(255));
    });
    const m = await out.data();
    out.dispose();
    const S = 256, lab = new Int32Array(S * S).fill(-1);
    let fg = 0;
    for (let i = 0; i < m.length; i++) if (m[i] >= 0.5) { lab[i] = 0; fg++; }
    let best = { n: 0 }, id = 0;
    for (let i = 0; i < lab.length; i++) {
      if (lab[i] !== 0) continue;
      id++;
      const q = [i];
      lab[i] = id;
      let n = 0, x0 = S, y0 = S, x1 = -1, y1 = -1;
      while (q.length) {
        const p = q.pop(), x = p % S, y = (p - x) / S;
        n++; x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
        for (const nb of [x > 0 ? p - 1 : -1, x < S - 1 ? p + 1 : -1, y > 0 ? p - S : -1, y < S - 1 ? p + S : -1])
          if (nb >= 0 && lab[nb] === 0) { lab[nb] = id; q.push(nb); }
      }
      if (n > best.n) best = { n, x0, y0, x1, y1 };
    }
    const bbox = best.n ? { x_min: best.x0 / S, y_min: best.y0 / S, x_max: (best.x1 + 1) / S, y_max: (best.y1 + 1) / S } : null;
    console.log(JSON.stringify({ file: path.basename(f), coverage: fg / m.length, bbox }));
  }
})().catch(e => { console.error(e.stack || String(e)); process.exit(1); });
