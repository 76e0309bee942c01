// md2_client.mjs: the official `moondream` client (0.2.0, unmodified) through
// nginx -> vkv-api -> PostgreSQL -> vkv-worker running Moondream 2 on our
// runtime (a reduced random-weight model, so the text is meaningless; every
// part of the path is real).  Run by suite 62-vlm-api with MD_URL, MD_KEY,
// MD_CLIENT_MODULES, MD_IMAGES and MD_EXPECT (the vkv md results, greedy).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { vl } = require(path.join(path.resolve(process.env.MD_CLIENT_MODULES), 'moondream'));
const URL_ = process.env.MD_URL, KEY = process.env.MD_KEY;
const expect = JSON.parse(fs.readFileSync(process.env.MD_EXPECT, 'utf8'));
let fail = 0;
const ok = (c, what, detail) => {
  if (!c) fail++;
  console.log(`${c ? 'ok' : 'not ok'} - ${what}${!c && detail !== undefined ? ' (' + String(detail).slice(0, 400) + ')' : ''}`);
};
const md = new vl({ apiKey: KEY, endpoint: `${URL_}/v1` });
const photo = fs.readFileSync(path.join(process.env.MD_IMAGES, 'grace_hopper.jpg'));
const image = { imageUrl: `data:image/jpeg;base64,${photo.toString('base64')}` };
const greedy = { temperature: 0, max_tokens: 6 };

function raw(route, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(`${URL_}/v1/${route}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Moondream-Auth': KEY,
                 'Content-Length': Buffer.byteLength(data) },
    }, res => {
      let text = '';
      res.on('data', c => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

// the client as an app uses it (no settings: the published defaults,
// temperature 0.5, top_p 0.3, sampled with the job id as seed)
let r = await md.caption({ image, length: 'short' });
ok(typeof r.caption === 'string' && r.caption.length > 0, 'client caption (whole): a caption', JSON.stringify(r));
r = await md.query({ image, question: 'What is this?' });
ok(typeof r.answer === 'string' && r.answer.length > 0, 'client query (whole): an answer', JSON.stringify(r));
function getJson(route) {
  return new Promise((resolve, reject) => {
    http.get(`${URL_}/v1/${route}`, { headers: { 'X-Moondream-Auth': KEY } }, rr => {
      let t = ''; rr.on('data', c => { t += c; }); rr.on('end', () => resolve(JSON.parse(t)));
    }).on('error', reject);
  });
}
// the newest job of a task, whole (result included)
async function lastJob(task) {
  const l = await getJson(`jobs?task=${task}&limit=1`);
  const id = (l.jobs || l.items || l.data || [])[0]?.id;
  return id ? getJson(`jobs/${id}`) : null;
}

// token by token: the published defaults generate until the reduced
// model's context is full (~70 tokens), published every 50 ms at most
let s = await md.caption({ image, length: 'long', stream: true });
let parts = [], times = [];
for await (const c of s.caption) { parts.push(c); times.push(Date.now()); }
let job = await lastJob('caption');
const fin = job && Date.parse(job.finished_at);
ok(parts.length > 1 && job && job.result && parts.join('') === job.result.caption,
   'client caption (stream): several chunks that join to the job\'s whole caption',
   JSON.stringify({ parts, result: job && job.result && job.result.caption }));
ok(job && times[0] < fin - 100,
   'client caption (stream): the first chunk arrived before the job completed',
   `first chunk ${times[0]}, job finished ${fin}`);
s = await md.query({ image, question: 'What is this?', stream: true });
parts = [];
for await (const c of s.answer) parts.push(c);
ok(parts.length > 0 && parts.join('').length > 0, 'client query (stream): chunks', JSON.stringify(parts));

// greedy settings: the same text as vkv md on the same photo, whole and streamed
const body = { image_url: image.imageUrl, settings: greedy };
let w = await raw('caption', { ...body, length: 'normal' });
ok(w.status === 200 && JSON.parse(w.text).caption === expect.caption,
   'caption, settings temperature 0 / max_tokens 6: equals vkv md\'s greedy caption', w.text);
w = await raw('query', { ...body, question: 'What is this?' });
ok(w.status === 200 && JSON.parse(w.text).answer === expect.answer,
   'query, greedy: equals vkv md\'s answer', w.text);
const sse = t => t.split('\n').filter(l => l.startsWith('data: ')).map(l => JSON.parse(l.slice(6)));
w = await raw('query', { ...body, question: 'What is this?', stream: true });
ok(sse(w.text).map(e => e.chunk || '').join('') === expect.answer, 'query stream, greedy: chunks join to vkv md\'s answer', w.text);

// the wire format of a stream
const wr = await raw('caption', { ...body, stream: true });
const ev = wr.text.split('\n').filter(l => l.startsWith('data: ')).map(l => JSON.parse(l.slice(6)));
ok(wr.status === 200 && /text\/event-stream/.test(wr.headers['content-type']) && ev.length >= 2 &&
   ev.slice(0, -1).every(e => typeof e.chunk === 'string' && e.completed === false) &&
   ev[ev.length - 1].completed === true && !wr.text.includes('[DONE]'),
   'caption stream wire format: data: {"chunk", "completed": false} ... {"completed": true}', wr.text);

// settings honoured: max_tokens bounds the answer
const one = await raw('caption', { image_url: image.imageUrl, settings: { temperature: 0, max_tokens: 1 } });
const oj = JSON.parse(one.text);
ok(one.status === 200 && oj.caption === expect.caption1, 'settings.max_tokens 1: a one-token caption', one.text);
const bad = await raw('caption', { image_url: image.imageUrl, settings: { top_p: 0 } });
ok(bad.status === 400 && /top_p/.test(bad.text), 'settings.top_p 0 refused with 400', bad.text);

// detect and point: any object name through the region head
const dc = await md.detect({ image, object: 'A' });
ok(Array.isArray(dc.objects) && dc.objects.length > 0 &&
   dc.objects.every(o => ['x_min', 'y_min', 'x_max', 'y_max'].every(k => typeof o[k] === 'number')),
   'client detect (any object name): boxes', JSON.stringify(dc).slice(0, 300));
const pc = await md.point({ image, object: 'A' });
ok(Array.isArray(pc.points) && pc.points.length > 0 && pc.points.every(p => typeof p.x === 'number'),
   'client point: points', JSON.stringify(pc).slice(0, 300));
const close = (a, b) => a.length === b.length && a.every((o, i) => Object.keys(b[i]).every(k => Math.abs(o[k] - b[i][k]) < 1e-6));
w = await raw('detect', { image_url: image.imageUrl, object: 'A', settings: { max_objects: 2 } });
ok(w.status === 200 && close(JSON.parse(w.text).objects, expect.objects),
   'detect, settings.max_objects 2: the boxes of vkv md', w.text);
w = await raw('point', { image_url: image.imageUrl, object: 'A', variant: 'moondream2', settings: { max_objects: 2 } });
ok(w.status === 200 && close(JSON.parse(w.text).points, expect.points) && JSON.parse(w.text).count === 2,
   'point with variant moondream2: the points of vkv md', w.text);

// IMMEDIATE preemption at token boundaries: a BACKGROUND caption (greedy,
// 64 tokens, streamed so the test knows it is generating) gives way to an
// IMMEDIATE caption at the next token, is queued again with its tokens,
// and continues afterwards with its attempts unchanged
function rawStream(route, body, onFirst) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(`${URL_}/v1/${route}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Moondream-Auth': KEY,
                 'Content-Length': Buffer.byteLength(data) },
    }, res => {
      let text = '', first = false;
      res.on('data', c => {
        text += c;
        if (!first && text.includes('"chunk"')) { first = true; onFirst(); }
      });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}
let imP = null;
const bgR = await rawStream('caption', { image_url: image.imageUrl, length: 'normal', stream: true,
                                         tier: 'BACKGROUND', settings: { temperature: 0, max_tokens: 64 } },
  () => { imP = raw('caption', { image_url: image.imageUrl, length: 'short', settings: greedy }); });
const imR = imP ? await imP : { status: 0, text: '{}' };
const bgEv = sse(bgR.text), bgFin = bgEv[bgEv.length - 1] || {};
const bgJ = bgFin.job_id ? await getJson(`jobs/${bgFin.job_id}`) : {};
const imJ = imR.status === 200 ? await getJson(`jobs/${JSON.parse(imR.text).job_id}`) : {};
ok(imR.status === 200 && bgR.status === 200 && Date.parse(imJ.finished_at) < Date.parse(bgJ.finished_at),
   'IMMEDIATE caption sent while a BACKGROUND caption generates: it finishes first',
   JSON.stringify({ im: imJ.finished_at, bg: bgJ.finished_at, st: imR.status }));
ok(bgJ.state === 'succeeded' && bgJ.attempts === 1 && Array.isArray(bgJ.params?.resume_tokens) &&
   bgJ.params.resume_tokens.length > 0,
   'the BACKGROUND caption was suspended with its tokens, completed afterwards, attempts unchanged (1)',
   JSON.stringify({ state: bgJ.state, attempts: bgJ.attempts, params: bgJ.params }));
ok(bgEv.map(e => e.chunk || '').join('') === expect.caption64 && bgJ.result?.caption === expect.caption64,
   'the suspended and resumed greedy caption equals vkv md\'s uninterrupted one (stream and result)',
   JSON.stringify({ got: bgJ.result?.caption, want: expect.caption64 }));

// GET /v1/models lists the model
const lm = await new Promise(res => http.get(`${URL_}/v1/models`, { headers: { 'X-Moondream-Auth': KEY } },
  rr => { let t = ''; rr.on('data', c => { t += c; }); rr.on('end', () => res(JSON.parse(t))); }));
ok(JSON.stringify(lm).includes('moondream2') && !(lm.unavailable || []).some(u => u.task === 'caption'),
   'GET /v1/models lists moondream2 and no longer lists caption as unavailable', JSON.stringify(lm).slice(0, 400));
process.exit(fail ? 1 : 0);
