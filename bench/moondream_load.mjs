// moondream_load.mjs: closed-loop load on POST /v1/detect (bench/moondream.sh).
//
//   node bench/moondream_load.mjs URL KEY IMAGE CONCURRENCY SECONDS [MAX_REQUESTS]
//
// The body is what the official client sends for a Buffer: the image
// re-encoded as JPEG quality 95 in a data URL (sharp, from the pinned
// client's node_modules).  Keep-alive connections, CONCURRENCY requests in
// flight.  Prints one JSON line: requests, req/s, latency p50/p90/p99 (ms,
// measured by this client), and the medians of the server's own metrics
// (queue_ms, preprocess_ms, inference_ms, postprocess_ms, total_ms), so the
// model's share of a call is inference_ms / latency.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const require = createRequire(import.meta.url);
const sharp = require(path.resolve(process.env.MD_CLIENT_MODULES || 'var/md-client/node_modules', 'sharp'));
const [url, key, image, conc = '1', secs = '20', maxReq = '100000'] = process.argv.slice(2);
const jpeg = await sharp(fs.readFileSync(image)).toFormat('jpeg', { quality: 95 }).toBuffer();
const body = JSON.stringify({ image_url: `data:image/jpeg;base64,${jpeg.toString('base64')}`, object: 'person' });
const agent = new http.Agent({ keepAlive: true, maxSockets: +conc });
const lat = [], met = {};
let n = 0, errors = 0;
const stopAt = Date.now() + +secs * 1000;

function one() {
  return new Promise(resolve => {
    const t0 = process.hrtime.bigint();
    const req = http.request(`${url}/v1/detect`, {
      method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'X-Moondream-Auth': key,
                 'Content-Length': Buffer.byteLength(body) },
    }, res => {
      let t = '';
      res.on('data', c => { t += c; });
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (res.statusCode !== 200) { errors++; resolve(); return; }
        lat.push(ms);
        const m = JSON.parse(t).metrics || {};
        for (const [k, v] of Object.entries(m)) (met[k] ||= []).push(v);
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(body);
  });
}

const t0 = Date.now();
await Promise.all(Array.from({ length: +conc }, async () => {
  while (Date.now() < stopAt && n < +maxReq) { n++; await one(); }
}));
const wall = (Date.now() - t0) / 1000;
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };
const r2 = v => Math.round(v * 100) / 100;
const out = { concurrency: +conc, requests: lat.length, errors, seconds: r2(wall), req_per_s: r2(lat.length / wall),
              p50_ms: r2(q(lat, 0.5)), p90_ms: r2(q(lat, 0.9)), p99_ms: r2(q(lat, 0.99)), server_median: {} };
for (const [k, v] of Object.entries(met)) out.server_median[k] = r2(q(v, 0.5));
console.log(JSON.stringify(out));
agent.destroy();
