// ref_bench.js: reference-runtime timings for bench/models.sh: the model
// alone (no decode, no pre/post-processing) on a fixed random input, batch 1
// latency and batched throughput, in this process.
//
//   node ref_bench.js tfjs MODEL.json SIZE ITERS BATCH [CHANNELS]   (@tensorflow/tfjs, CPU backend;
//        CHANNELS 3 unless given: 1 for a grayscale input such as emotion's)
//   node ref_bench.js tfjs-wasm MODEL.json SIZE ITERS BATCH
//        (@tensorflow/tfjs-backend-wasm: XNNPACK, WebAssembly SIMD, one thread:
//        the package turns threads off under node, tfjs issue 3830, and its
//        threaded binary cannot start a worker from a blob: URL there)
//   node ref_bench.js onnx MODEL.onnx SIZE ITERS BATCH   (onnxruntime-node, CPU EP)
// Prints one JSON line {"runtime","load_ms","latency_ms_median","latency_ms_min","cpu_ms",
// "throughput_ips","batch"}.
'use strict';
const fs = require('fs');
const path = require('path');

function median(a) { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; }
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const [kind, file, sizeS, itersS, batchS, chS] = process.argv.slice(2);
  const ch = chS ? parseInt(chS, 10) : 3;
  const size = parseInt(sizeS, 10);
  const iters = parseInt(itersS, 10);
  const batch = parseInt(batchS, 10);
  const rnd = (n) => { const a = new Float32Array(n); let s = 1; for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; a[i] = s / 2147483648; } return a; };
  let run;
  let runtime;
  const t0 = now();
  if (kind === 'tfjs' || kind === 'tfjs-wasm') {
    const tf = require('@tensorflow/tfjs');
    if (kind === 'tfjs-wasm') {
      const wasm = require('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm')) || !(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')))
        throw new Error('tfjs-backend-wasm: no WebAssembly SIMD backend');
      runtime = '@tensorflow/tfjs-backend-wasm ' + require('@tensorflow/tfjs-backend-wasm/package.json').version +
                ' (simd, ' + wasm.getThreadsCount() + ' thread)';
    } else {
      await tf.setBackend('cpu');
      runtime = '@tensorflow/tfjs ' + require('@tensorflow/tfjs/package.json').version + ' (cpu backend)';
    }
    const mj = JSON.parse(fs.readFileSync(file, 'utf8'));
    const specs = [];
    const bufs = [];
    for (const g of mj.weightsManifest) {
      specs.push(...g.weights);
      for (const p of g.paths) bufs.push(fs.readFileSync(path.join(path.dirname(file), p)));
    }
    const all = Buffer.concat(bufs);
    const art = { modelTopology: mj.modelTopology, weightSpecs: specs,
                  weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length) };
    const graph = mj.format === 'graph-model';
    const m = graph ? await tf.loadGraphModel(tf.io.fromMemory(art)) : await tf.loadLayersModel(tf.io.fromMemory(art));
    // graph models here have a fixed batch of 1 in their placeholder: a
    // batch is b runs; layers models take the batch in one predict
    const one = async (b) => {
      const x = tf.tensor4d(rnd(b * size * size * ch), [b, size, size, ch]);
      const y = graph ? m.execute(x) : m.predict(x);
      const ys = Array.isArray(y) ? y : [y];
      for (const t of ys) { await t.data(); t.dispose(); }
      x.dispose();
    };
    run = async (b) => {
      if (!graph) return one(b);
      for (let i = 0; i < b; i++) await one(1);
    };
  } else {
    const ort = require('onnxruntime-node');
    const s = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], logSeverityLevel: 3 });
    runtime = 'onnxruntime-node ' + require('onnxruntime-node/package.json').version + ' (cpu)';
    run = async (b) => {
      // the keijiro export has a fixed batch of 1: a batch is b runs
      for (let i = 0; i < b; i++) {
        await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', rnd(size * size * 3), [1, size, size, 3]) });
      }
    };
  }
  await run(1);
  const load = now() - t0;
  const lat = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < iters; i++) { const t = now(); await run(1); lat.push(now() - t); }
  const c1 = process.cpuUsage(c0);
  // CPU of the whole process (every thread) per inference: the work itself
  // when the machine is shared, comparable with vkv bench's cpu_ms
  const cpu = (c1.user + c1.system) / 1000 / iters;
  await run(batch);
  const reps = Math.max(2, iters >> 2);
  const tb = now();
  for (let i = 0; i < reps; i++) await run(batch);
  const thr = reps * batch * 1000 / (now() - tb);
  console.log(JSON.stringify({ runtime, load_ms: +load.toFixed(1), latency_ms_median: +median(lat).toFixed(2),
                                latency_ms_min: +Math.min(...lat).toFixed(2), cpu_ms: +cpu.toFixed(2),
                               throughput_ips: +thr.toFixed(2), batch }));
}
main().catch((e) => { console.error(e); process.exit(1); });
