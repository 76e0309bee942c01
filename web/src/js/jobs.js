// jobs.js: the job list (filters: tier, state, task; tenant for an admin)
// and a job's detail with its result drawn on its input.
import { get, getBlob } from './api.js';
import { el, $, clear, fmtNum, fmtTime, banner } from './ui.js';
import { drawResult, listResult, blobToImage } from './draw.js';

let state = { admin: false, tenants: [] }, cursor = null, timer = 0, active = false;
// inputs this tab submitted (try-it): a finished job's input is not kept
// by the server, so its detail can still show the picture
export const localInputs = new Map();

function filters() {
  const f = new FormData($('#jobs-filter'));
  const p = {};
  for (const k of ['tier', 'state', 'task']) if (f.get(k)) p[k] = f.get(k);
  if (state.admin && f.get('tenant')) p.tenant = f.get('tenant');
  return p;
}

export function setup(st) {
  state = st;
  $('#jobs-filter').addEventListener('submit', (ev) => { ev.preventDefault(); load(false); });
  $('#jobs-more').addEventListener('click', () => load(true));
}

export function start(st, tasks) {
  state = st;
  active = true;
  $('#jobs-tenant-l').hidden = !state.admin;
  for (const th of document.querySelectorAll('#jobs-table .admin-col')) th.hidden = !state.admin;
  const sel = $('#jobs-filter select[name=task]');
  if (sel.options.length <= 1)
    for (const t of tasks) sel.append(el('option', { value: t, text: t }));
  const ts = $('#jobs-filter select[name=tenant]');
  if (state.admin && ts.options.length <= 2)
    for (const t of state.tenants) ts.append(el('option', { value: t.id, text: `${t.name} (${t.id})` }));
  load(false);
}
export function stop() { active = false; clearTimeout(timer); }

async function load(more) {
  clearTimeout(timer);
  try {
    const p = filters();
    p.limit = 50;
    if (more && cursor) p.cursor = cursor;
    const j = await get('/v1/jobs', p);
    if (!active) return;
    render(j.jobs || [], more);
    cursor = j.next_cursor;
    $('#jobs-more').hidden = !cursor;
  } catch (e) {
    banner(`Jobs: ${e.message}`);
  }
  // refresh the first page while it is shown
  if (active && !more) timer = setTimeout(() => load(false), 3000);
}

function tenantName(id) {
  const t = state.tenants.find((x) => x.id === id);
  return t ? t.name : String(id);
}

function render(jobs, append) {
  const tb = $('#jobs-table tbody');
  if (!append) clear(tb);
  for (const j of jobs) {
    tb.append(el('tr', { 'data-job': j.id, 'data-tenant': j.tenant_id },
      el('td', {}, el('a', { href: `#job/${j.id}`, text: j.id })),
      state.admin ? el('td', { text: tenantName(j.tenant_id) }) : null,
      el('td', { text: j.task }), el('td', { text: j.model }),
      el('td', { text: j.tier_name }),
      el('td', { class: `state-${j.state}`, text: j.state }),
      el('td', { text: fmtTime(j.enqueued_at) }),
      el('td', { class: 'num', text: fmtNum(j.wait_ms) }),
      el('td', { class: 'num', text: fmtNum(j.run_ms) }),
      el('td', { class: 'err', text: j.error || '' })));
  }
  $('#jobs-count').textContent = `${tb.children.length} jobs shown`;
}

// ---- detail
export async function showJob(id) {
  const fields = clear($('#job-fields'));
  $('#job-id').textContent = id;
  $('#job-error').textContent = '';
  $('#job-raw').textContent = '';
  clear($('#job-items'));
  const note = $('#job-canvas-note');
  note.textContent = 'loading…';
  // set again once this job is drawn (the browser tests wait for them)
  delete $('#job-canvas').dataset.src;
  delete $('#job-canvas').dataset.boxes;
  let j;
  try {
    j = await get(`/v1/jobs/${encodeURIComponent(id)}`, { tenant: state.admin ? 'all' : '' });
  } catch (e) {
    note.textContent = '';
    banner(`Job ${id}: ${e.message}`);
    return;
  }
  const add = (k, v) => fields.append(el('dt', { text: k }), el('dd', { 'data-f': k, text: v ?? '–' }));
  add('state', j.state);
  add('task / model', `${j.task} / ${j.model}`);
  add('tier', `${j.tier} ${j.tier_name}`);
  if (state.admin) add('tenant', tenantName(j.tenant_id));
  add('attempts', `${j.attempts} of ${j.max_attempts}`);
  add('enqueued', fmtTime(j.enqueued_at));
  add('started', fmtTime(j.started_at));
  add('finished', fmtTime(j.finished_at));
  add('wait', j.wait_ms == null ? null : `${j.wait_ms} ms`);
  add('run', j.run_ms == null ? null : `${j.run_ms} ms`);
  add('worker / device', j.worker ? `${j.worker} / ${j.device ?? ''}` : null);
  add('input', `${j.input_type ?? '?'}, ${j.input_bytes ?? '?'} bytes`);
  for (const [k, v] of Object.entries(j.timings || {}))
    add(`timing ${k}`, typeof v === 'number' && k.endsWith('_ms') ? `${v} ms` : JSON.stringify(v));
  $('#job-error').textContent = j.error || 'none';
  $('#job-error').className = j.error ? 'error-text' : 'note';
  $('#job-raw').textContent = JSON.stringify(j, null, 2);
  listResult($('#job-items'), j.result);
  // the picture: this tab's own upload, else the thumbnail vkv-api kept
  // (204 when none), else the full input while the job is live
  let img = null, src = 'none';
  const scope = { tenant: state.admin ? 'all' : '' };
  try {
    let blob = localInputs.get(String(j.id));
    if (blob) src = 'local';
    if (!blob && (blob = await getBlob(`/v1/jobs/${encodeURIComponent(id)}/thumbnail`, scope))) src = 'thumbnail';
    if (!blob && (j.state === 'queued' || j.state === 'running') &&
        (blob = await getBlob(`/v1/jobs/${encodeURIComponent(id)}/input`, scope))) src = 'input';
    if (blob) img = await blobToImage(blob);
  } catch (_) { img = null; }
  if (!img) src = 'none';
  const canvas = $('#job-canvas');
  const n = drawResult(canvas, img, j.result);
  canvas.dataset.src = src;
  note.textContent = (src === 'thumbnail' ? 'Drawn on the thumbnail kept for this job. ' : '') +
    (src === 'none' ? 'No picture was kept for this job (thumbnails are kept for a day; ' +
      'VKV_THUMB_SIDE=0 keeps none): the result is drawn on a blank of the image\'s size. ' : '') +
    `${n} boxes drawn.`;
}
