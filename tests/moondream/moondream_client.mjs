// moondream_client.mjs: the official `moondream` npm client (0.2.0, pinned
// in tests/moondream/package.json) against vkvision through a real nginx.
// Run by tests/suites/60-moondream.sh; prints "ok - ..." / "not ok - ...".
//
//   MD_URL=http://127.0.0.1:PORT MD_KEY=... MD_MODE=surface|real \
//     node tests/moondream/moondream_client.mjs
//
// MD_MODE=surface: no model runs; jobs are completed by
//   tests/integration/api_test_worker (MD_TEST_WORKER) with results this
//   file supplies, to check the API surface with the real client: routes,
//   object matching, filtering, points, max_objects, SSE framing, errors.
// MD_MODE=real: a vkv-worker runs CenterNet (and, if MD_SEGMENT=1, the
//   person-segmentation model) on lavapipe; real photos from MD_IMAGES
//   (var/testdata/images) must give the expected objects and plausible boxes.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const require = createRequire(import.meta.url);
const MODS = path.resolve(process.env.MD_CLIENT_MODULES || 'var/md-client/node_modules');
const { vl } = require(path.join(MODS, 'moondream'));

const URL_ = process.env.MD_URL, KEY = process.env.MD_KEY, MODE = process.env.MD_MODE || 'surface';
const IMAGES = process.env.MD_IMAGES || 'var/testdata/images';
let pass = 0, fail = 0;
const ok = (cond, what, detail) => {
  if (cond) { pass++; console.log(`ok - ${what}`); }
  else { fail++; console.log(`not ok - ${what}${detail !== undefined ? ' (' + String(detail).slice(0, 300) + ')' : ''}`); }
};
const md = new vl({ apiKey: KEY, endpoint: `${URL_}/v1` });
const img = f => fs.readFileSync(path.join(IMAGES, f));
const durl = f => `data:image/${f.endsWith('.png') ? 'png' : 'jpeg'};base64,${img(f).toString('base64')}`;

// raw POST, to see statuses, headers and bodies the client hides
function raw(route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(`${URL_}/v1/${route}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Moondream-Auth': KEY,
                 'Content-Length': Buffer.byteLength(data), ...headers },
    }, res => {
      let text = '';
      res.on('data', c => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(120000, () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

async function rejects(p) {
  try { await p; return null; } catch (e) { return e.message; }
}

// surface mode: a stand-in worker completes the next job of `model`;
// api_test_worker waits 10 s for a job, so it is restarted (at most 6
// times) while the request is still on its way on a busy machine
function fakeJobOnce(model, result, how = 'run') {
  const args = how === 'run' ? ['run', model, '0', JSON.stringify(result)] : ['fail', model, 'synthetic failure'];
  return new Promise(resolve => {
    const w = spawn(process.env.MD_TEST_WORKER, args,
                    { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    w.stdout.on('data', c => { out += c; });
    w.stderr.on('data', c => { out += c; });
    w.on('error', err => resolve({ code: -1, out: String(err) }));
    w.on('exit', code => resolve({ code, out }));
  });
}
async function fakeJob(model, result, how = 'run') {
  let w;
  for (let i = 0; i < 6; i++) {
    w = await fakeJobOnce(model, result, how);
    if (w.code === 0 || !/within 10 s/.test(w.out)) break;
  }
  return w;
}

const inUnit = o => ['x_min', 'y_min', 'x_max', 'y_max'].every(k => typeof o[k] === 'number' && o[k] >= 0 && o[k] <= 1) &&
  o.x_min < o.x_max && o.y_min < o.y_max;

// ---------------------------------------------------------------- common
async function errorsAndStreams() {
  // caption: no captioning model can be obtained here -> 503, documented
  let m = await rejects(md.caption({ image: { imageUrl: durl('coffee.png') } }));
  ok(m && m.includes('503'), 'client: caption throws HTTP 503', m);
  let r = await raw('caption', { image_url: durl('coffee.png'), length: 'short' });
  ok(r.status === 503 && r.json?.error?.code === 'model_not_installed' &&
     /manifest/.test(r.json.error.message) && r.json.error.request_id,
     'caption: 503 model_not_installed, says how to add a model, has request_id', r.text);
  const models = await new Promise(resolve => http.get(`${URL_}/v1/models`,
    { headers: { 'X-Moondream-Auth': KEY } }, res => {
      let t = ''; res.on('data', c => { t += c; }); res.on('end', () => resolve(JSON.parse(t)));
    }));
  ok(models.unavailable?.some(u => u.task === 'caption' && /503/.test(u.reason)) &&
     models.unavailable.some(u => u.task === 'query') && !models.unavailable.some(u => u.task === 'detect'),
     'GET /v1/models lists caption and query as unavailable, detect as served', JSON.stringify(models.unavailable));
  r = await raw('query', { question: 'what is this?', image_url: durl('coffee.png'), reasoning: true });
  ok(r.status === 503 && r.json?.error?.code === 'model_not_installed', 'query: 503 model_not_installed', r.text);
  r = await raw('query', { question: 'text-only question' });
  ok(r.status === 503, 'query without an image is accepted up to the model check', r.status);

  // a stream that ends in an error before the first byte: the real status, and
  // the error as an "error" event (the JSON error body) then a non-JSON line
  const sseData = t => t.split('\n').filter(l => l.startsWith('data: ')).map(l => l.slice(6));
  r = await raw('caption', { image_url: durl('coffee.png'), stream: true });
  let d = sseData(r.text);
  ok(r.status === 503 && /text\/event-stream/.test(r.headers['content-type']) &&
     /^event: error\n/.test(r.text) && d.length === 2 &&
     JSON.parse(d[0]).error?.code === 'model_not_installed' && d[1] === 'model_not_installed',
     'caption stream, no model: 503, event "error" with the JSON error, then data: model_not_installed', r.text);
  // the Node client ignores a stream's status: it must raise, promptly, with the code
  for (const [what, call, key] of [
    ['caption', () => md.caption({ image: { imageUrl: durl('coffee.png') }, stream: true }), 'caption'],
    ['query', () => md.query({ image: { imageUrl: durl('coffee.png') }, question: 'what?', stream: true }), 'answer']]) {
    const t0 = Date.now();
    const chunks = [];
    const msg = await rejects((async () => {
      const s = await call();
      for await (const c of s[key]) chunks.push(c);
    })());
    ok(msg !== null && /model_not_installed/.test(msg) && chunks.length === 0 && Date.now() - t0 < 10000,
       `client ${what} stream, no model: the client raises an error naming model_not_installed, no chunks`,
       `${msg} ${JSON.stringify(chunks)}`);
  }
  r = await raw('caption', { image_url: 'data:image/jpeg;base64,AAAA', stream: true });
  d = sseData(r.text);
  ok(r.status === 400 && d.length === 2 && JSON.parse(d[0]).error?.code === 'invalid_image' &&
     d[1] === 'invalid_image', 'stream with a bad image: 400 before any byte, the error as events', r.text);
  r = await raw('caption', { image_url: 'data:image/jpeg;base64,AAAA' });
  ok(r.status === 400 && /application\/json/.test(r.headers['content-type']) &&
     r.json?.error?.code === 'invalid_image', 'no stream asked: the error is a JSON body', r.text);

  // validation, all before anything is enqueued
  const bad = [
    ['detect', { object: 'car' }, 400, 'missing_field', 'detect without image_url'],
    ['detect', { image_url: durl('coffee.png') }, 400, 'missing_field', 'detect without object'],
    ['detect', { image_url: durl('coffee.png'), object: 7 }, 400, 'invalid_field', 'object not a string'],
    ['detect', { image_url: durl('coffee.png'), object: '' }, 400, 'invalid_field', 'empty object'],
    ['detect', { image_url: 'not a url!', object: 'cup' }, 400, 'invalid_base64', 'garbage image_url'],
    ['detect', { image_url: 'data:text/plain;base64,aGk=', object: 'cup' }, 415, 'unsupported_image_type', 'text data URL'],
    ['detect', { image_url: durl('coffee.png'), object: 'cup', settings: { max_objects: 0 } }, 400, 'invalid_field', 'max_objects 0'],
    ['detect', { image_url: durl('coffee.png'), object: 'cup', settings: 3 }, 400, 'invalid_field', 'settings not an object'],
    ['point', { image_url: durl('coffee.png'), object: 'cup', priority: 'URGENT' }, 400, 'invalid_tier', 'bad priority'],
    ['caption', { image_url: durl('coffee.png'), length: 'epic' }, 400, 'invalid_field', 'bad caption length'],
    ['caption', { image_url: durl('coffee.png'), stream: 'yes' }, 400, 'invalid_field', 'stream not a boolean'],
    ['query', { image_url: durl('coffee.png') }, 400, 'missing_field', 'query without question'],
    ['segment', { image_url: durl('coffee.png'), object: 'car' }, 422, 'unsupported_object', 'segment of a car'],
  ];
  for (const [route, body, st, code, what] of bad) {
    r = await raw(route, body);
    ok(r.status === st && r.json?.error?.code === code && typeof r.json?.error?.message === 'string',
       `${route}: ${what} -> ${st} ${code}`, `${r.status} ${r.text}`);
  }
  r = await raw('detect', '{"image_url": ', {});
  ok(r.status === 400 && r.json?.error?.code === 'invalid_json', 'malformed JSON -> 400 invalid_json', r.text);
  r = await raw('detect', { image_url: durl('coffee.png'), object: 'cup' }, { 'X-Moondream-Auth': 'wrong-key' });
  ok(r.status === 401 && r.json?.error, 'wrong X-Moondream-Auth -> 401', r.status);
  const bad401 = new vl({ apiKey: 'nope', endpoint: `${URL_}/v1` });
  m = await rejects(bad401.detect({ image: { imageUrl: durl('coffee.png') }, object: 'cup' }));
  ok(m && m.includes('401'), 'client with a bad key throws HTTP 401', m);
  m = await rejects(md.segment({ image: { imageUrl: durl('coffee.png') }, object: 'car' }));
  ok(m && m.includes('422'), 'client: segment of a car throws HTTP 422', m);

  // an object the detector has no class for: 200, empty, warning naming the classes
  r = await raw('detect', { image_url: durl('coffee.png'), object: 'unicorn' });
  ok(r.status === 200 && Array.isArray(r.json?.objects) && r.json.objects.length === 0 &&
     /toothbrush/.test(r.json.warning) && /unicorn/.test(r.json.warning) && r.json.request_id &&
     r.json.metrics && typeof r.json.metrics.total_ms === 'number',
     'detect "unicorn": 200, [], warning lists the classes, request_id + metrics', r.text);
  const p = await md.point({ image: { imageUrl: durl('coffee.png') }, object: 'unicorns' });
  ok(Array.isArray(p.points) && p.points.length === 0, 'client point "unicorns": empty list');
}

// ---------------------------------------------------------------- surface
async function surface() {
  const canned = {
    objects: [
      { label: 'person', class: 0, score: 0.7, x_min: 0.1, y_min: 0.2, x_max: 0.3, y_max: 0.9 },
      { label: 'car', class: 2, score: 0.6, x_min: 0.5, y_min: 0.5, x_max: 0.9, y_max: 0.8 },
      { label: 'person', class: 0, score: 0.5, x_min: 0.6, y_min: 0.1, x_max: 0.7, y_max: 0.4 },
    ],
    image: { width: 800, height: 600 },
  };
  let [w, res] = await Promise.all([fakeJob('centernet', canned),
    md.detect({ image: img('scenetext01.jpg'), object: 'people' }).catch(e => ({ objects: [], e }))]);
  if (w.code !== 0) console.log("# test worker: " + w.out.replace(/\n/g, " "));
  ok(w.code === 0 && res.objects.length === 2 && res.objects.every(inUnit) &&
     res.objects[0].x_min === 0.1 && res.objects[1].y_max === 0.4,
     'client detect "people" (Buffer -> JPEG q95 data URL): the person boxes only', JSON.stringify(res) + w.out);
  [w, res] = await Promise.all([fakeJob('centernet', canned),
    md.point({ image: img('scenetext01.jpg'), object: 'cars' })]);
  ok(res.points.length === 1 && Math.abs(res.points[0].x - 0.7) < 1e-9 && Math.abs(res.points[0].y - 0.65) < 1e-9,
     'client point "cars": the centre of the car box', JSON.stringify(res));
  let r;
  [w, r] = await Promise.all([fakeJob('centernet', canned),
    raw('detect', { image_url: durl('scenetext01.jpg'), object: 'person', settings: { max_objects: 1 } },
        { 'X-Priority': 'BACKGROUND' })]);
  ok(r.status === 200 && r.json.objects.length === 1 && r.json.objects[0].score === 0.7 &&
     r.json.request_id && r.json.job_id > 0 && typeof r.json.metrics?.queue_ms === 'number' &&
     r.headers['x-request-id'] === r.json.request_id,
     'settings.max_objects caps the list; request_id, job_id, metrics.queue_ms', r.text);
  const job = await new Promise(resolve => http.get(`${URL_}/v1/jobs/${r.json.job_id}`,
    { headers: { Authorization: `Bearer ${KEY}` } }, res2 => {
      let t = ''; res2.on('data', c => { t += c; }); res2.on('end', () => resolve(JSON.parse(t)));
    }));
  ok(job.tier === 0 && job.task === 'detect', 'X-Priority: BACKGROUND puts the job in tier 0', JSON.stringify(job).slice(0, 200));
  [w, r] = await Promise.all([fakeJob('centernet', canned),
    raw('point', { image_url: durl('scenetext01.jpg'), object: 'person', variant: 'moondream-2' })]);
  const jid = r.json?.job_id;
  const job2 = await new Promise(resolve => http.get(`${URL_}/v1/jobs/${jid}`,
    { headers: { Authorization: `Bearer ${KEY}` } }, res2 => {
      let t = ''; res2.on('data', c => { t += c; }); res2.on('end', () => resolve(JSON.parse(t)));
    }));
  ok(r.status === 200 && r.json.count === 2 && /moondream-2/.test(r.json.warning) && job2.tier === 3,
     'unknown variant: answered by the default model with a warning; default tier IMMEDIATE', r.text);

  // faces: the face detector's result, reshaped
  const faces = { faces: [{ box: { x_min: 0.3, y_min: 0.2, x_max: 0.7, y_max: 0.6 }, score: 0.9, landmarks: [] }],
                  image: { width: 512, height: 600 } };
  [w, res] = await Promise.all([fakeJob('blazeface-back-tfjs', faces),
    md.detect({ image: img('grace_hopper.jpg'), object: 'face' })]);
  ok(res.objects.length === 1 && res.objects[0].x_min === 0.3 && res.objects[0].y_max === 0.6,
     'client detect "face": the face detector\'s boxes', JSON.stringify(res));
  [w, res] = await Promise.all([fakeJob('blazeface-back-tfjs', faces),
    md.point({ image: img('grace_hopper.jpg'), object: 'faces' })]);
  ok(res.points.length === 1 && Math.abs(res.points[0].x - 0.5) < 1e-9 && Math.abs(res.points[0].y - 0.4) < 1e-9,
     'client point "faces": the face centre', JSON.stringify(res));

  // the segment stream, framed for the client
  const seg = { path: 'M 0.100,0.100 L 0.900,0.100 L 0.900,0.900 L 0.100,0.900 Z',
                bbox: { x_min: 0.1, y_min: 0.1, x_max: 0.9, y_max: 0.9 }, coverage: 0.64 };
  [w, r] = await Promise.all([fakeJob('selfie', seg),
    raw('segment', { image_url: durl('astronaut.png'), object: 'woman', stream: true })]);
  const lines = r.text.split('\n');
  const data = lines.filter(l => l.startsWith('data: ')).map(l => JSON.parse(l.slice(6)));
  ok(r.status === 200 && /text\/event-stream/.test(r.headers['content-type']) &&
     !r.text.includes('[DONE]') && !lines.some(l => l.startsWith('data:{')) &&
     data[0]?.type === 'bbox' && data.at(-1)?.type === 'final' && data.at(-1).completed === true &&
     data.filter(d => d.type === 'path_delta').map(d => d.chunk).join('') === seg.path &&
     /\n\n$/.test(r.text),
     'segment SSE framing: "data: " lines, bbox, path deltas, final completed, no [DONE]', r.text);
  const [, s] = await Promise.all([fakeJob('selfie', seg),
    md.segment({ image: img('astronaut.png'), object: 'person', stream: true })]);
  const evs = [];
  for await (const ev of s.stream) evs.push(ev);
  ok(evs[0]?.bbox && evs.at(-1)?.completed === true && evs.at(-1).path === seg.path,
     'client segment stream: bbox first, final path', JSON.stringify(evs));
  [w, res] = await Promise.all([fakeJob('selfie', seg),
    md.segment({ image: img('astronaut.png'), object: 'person' })]);
  ok(res.path === seg.path && res.bbox.x_max === 0.9, 'client segment: path and bbox');
  // a failed job is a real error status, not 200
  const [fw, m] = await Promise.all([fakeJob('centernet', null, 'fail'),
    rejects(md.detect({ image: img('coffee.png'), object: 'cup' }))]);
  ok(fw.code === 0 && m && m.includes('500'), 'a failed job: the client gets HTTP 500', m + fw.out);
}

// ---------------------------------------------------------------- real
async function real() {
  // street scene with people and a car (opencv scenetext01)
  let res = await md.detect({ image: img('scenetext01.jpg'), object: 'person' });
  ok(res.objects.length >= 1 && res.objects.every(inUnit), `scenetext01: person found (${res.objects.length})`, JSON.stringify(res));
  const people = await md.detect({ image: img('scenetext01.jpg'), object: 'people' });
  ok(people.objects.length === res.objects.length, '"people" = "person"');
  const big = res.objects.filter(o => (o.y_max - o.y_min) > 0.1);
  ok(big.length >= 1, 'scenetext01: a person box taller than 10% of the image', JSON.stringify(res));
  res = await md.detect({ image: img('scenetext01.jpg'), object: 'cars' });
  ok(res.objects.length >= 1 && res.objects.every(inUnit) &&
     res.objects.some(o => (o.x_max - o.x_min) * (o.y_max - o.y_min) > 0.01),
     `scenetext01: car found with a plausible box (${res.objects.length})`, JSON.stringify(res));
  const pts = await md.point({ image: img('scenetext01.jpg'), object: 'car' });
  ok(pts.points.length === res.objects.length && pts.points.every((p, i) =>
       Math.abs(p.x - (res.objects[i].x_min + res.objects[i].x_max) / 2) < 1e-5 &&
       Math.abs(p.y - (res.objects[i].y_min + res.objects[i].y_max) / 2) < 1e-5),
     'point "car": one point per box, at its centre', JSON.stringify(pts));
  // a cup on a table (skimage coffee)
  res = await md.detect({ image: img('coffee.png'), object: 'mug' });
  const cup = res.objects[0];
  ok(res.objects.length >= 1 && inUnit(cup) && (cup.x_min + cup.x_max) / 2 > 0.3 && (cup.x_min + cup.x_max) / 2 < 0.7 &&
     (cup.y_min + cup.y_max) / 2 > 0.15 && (cup.y_min + cup.y_max) / 2 < 0.6,
     'coffee: "mug" finds the cup in the middle of the picture', JSON.stringify(res));
  res = await md.detect({ image: img('coffee.png'), object: 'car' });
  ok(res.objects.length === 0, 'coffee: no car', JSON.stringify(res));
  const r = await raw('detect', { image_url: durl('coffee.png'), object: 'cup' });
  ok(r.status === 200 && r.json.metrics && typeof r.json.metrics.queue_ms === 'number' &&
     Object.keys(r.json.metrics).some(k => /infer/.test(k)) && r.json.model === 'centernet',
     'detect metrics: queue and inference times from the worker', JSON.stringify(r.json?.metrics));
  // the official client's own integration test asks for "face"
  res = await md.detect({ image: img('grace_hopper.jpg'), object: 'face' });
  const f = res.objects[0];
  ok(res.objects.length === 1 && inUnit(f) && Math.abs((f.x_min + f.x_max) / 2 - 0.52) < 0.1 &&
     Math.abs((f.y_min + f.y_max) / 2 - 0.4) < 0.1,
     'grace_hopper: "face" finds one face near the top middle (BlazeFace)', JSON.stringify(res));
  if (process.env.MD_SEGMENT === '1') {
    const sg = await md.segment({ image: img('astronaut.png'), object: 'person' });
    ok(/^M [0-9.]+,[0-9.]+( L [0-9.]+,[0-9.]+){3,} Z$/.test(sg.path) && inUnit(sg.bbox) &&
       (sg.bbox.x_max - sg.bbox.x_min) > 0.3,
       'astronaut: person segment path and a plausible bbox', JSON.stringify(sg).slice(0, 300));
  }
}

try {
  await errorsAndStreams();
  if (MODE === 'surface') await surface();
  else await real();
} catch (e) {
  ok(false, 'client test ran to the end', e.stack);
}

console.log(`# ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
