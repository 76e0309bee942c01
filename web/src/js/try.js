// try.js: drop or pick an image, choose task, model and tier, follow the
// job through the queue (server-sent events over fetch) and draw the result.
import { post, followJob, get } from './api.js';
import { el, $, clear, banner } from './ui.js';
import { drawResult, listResult, blobToImage } from './draw.js';
import { localInputs } from './jobs.js';

let models = [], file = null, img = null, abort = null;

export function setup() {
  const drop = $('#try-drop'), input = $('#try-file');
  input.addEventListener('change', () => pick(input.files[0]));
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    if (ev.dataTransfer.files[0]) pick(ev.dataTransfer.files[0]);
  });
  drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); input.click(); }
  });
  $('#try-task').addEventListener('change', fillModels);
  $('#try-form').addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
}

export async function start() {
  if (models.length) return;
  try {
    const m = await get('/v1/models');
    models = m.models || [];
    const tasks = [...new Set(models.flatMap((x) => x.tasks || []))];
    const sel = clear($('#try-task'));
    for (const t of tasks) sel.append(el('option', { value: t, text: t }));
    fillModels();
  } catch (e) {
    banner(`Models: ${e.message}`);
  }
}

function fillModels() {
  const task = $('#try-task').value;
  const sel = clear($('#try-model'));
  for (const m of models.filter((x) => (x.tasks || []).includes(task)))
    sel.append(el('option', { value: m.name, text: m.name }));
  $('#try-object-l').hidden = task !== 'detect';
}

async function pick(f) {
  if (!f) return;
  file = f;
  try {
    img = await blobToImage(f);
    drawResult($('#try-canvas'), img, null);
    $('#try-note').textContent = `${f.name}: ${img.width}×${img.height}`;
  } catch (e) {
    img = null;
    $('#try-note').textContent = `${f.name}: the browser cannot show this file`;
  }
}

function step(text, cls) {
  const li = el('li', { class: cls || '', text });
  $('#try-steps').append(li);
  return li;
}

async function run() {
  $('#try-error').textContent = '';
  if (!file) { $('#try-error').textContent = 'Pick an image first.'; return; }
  if (abort) abort.abort();
  abort = new AbortController();
  clear($('#try-steps'));
  clear($('#try-items'));
  const canvas = $('#try-canvas');
  delete canvas.dataset.done;
  const task = $('#try-task').value, tier = $('#try-tier').value;
  const objName = $('#try-object').value.trim().toLowerCase();
  const filter = task === 'detect' && objName ? (l) => String(l).toLowerCase() === objName : null;
  const fd = new FormData();
  fd.append('task', task);
  fd.append('model', $('#try-model').value);
  fd.append('tier', tier);
  fd.append('image', file, file.name || 'image');
  const btn = $('#try-submit');
  btn.disabled = true;
  try {
    const j = await post('/v1/jobs', fd);
    localInputs.set(String(j.id), file);
    step(`job ${j.id} queued at ${j.tier_name}`, 'done');
    canvas.dataset.job = String(j.id);
    let last = null, running = null;
    const ended = new Set(['done', 'failed', 'canceled', 'expired']);
    last = await followJob(j.id, (name, job) => {
      if (name === 'running' && !running) running = step(`running on ${job.worker || '?'}`, 'done');
      else if (ended.has(name)) step(name === 'done' ? `done in ${job.run_ms ?? '?'} ms (waited ${job.wait_ms ?? '?'} ms)`
                                                     : name, name === 'done' ? 'done' : 'bad');
    }, abort.signal);
    if (!last) throw new Error('the event stream ended without a job');
    if (last.state !== 'succeeded') {
      $('#try-error').textContent = `${last.state}: ${last.error || 'no error message'}`;
      canvas.dataset.done = last.state;
      return;
    }
    const n = drawResult(canvas, img, last.result, filter);
    listResult($('#try-items'), last.result, filter);
    $('#try-note').append(` — ${n} boxes drawn`);
    canvas.dataset.done = 'succeeded';
  } catch (e) {
    if (e.name !== 'AbortError') $('#try-error').textContent = e.message;
    canvas.dataset.done = 'error';
  } finally {
    btn.disabled = false;
  }
}
