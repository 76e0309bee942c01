// overview.js: workers and devices, tiers, charts; polls the queue and
// the workers every 2 s and the wait statistics every 10 s while the page
// is shown (and the tab visible).
import { get } from './api.js';
import { el, $, clear, fmtBytes, fmtNum, numCell, banner, TIERS } from './ui.js';
import { lineChart } from './charts.js';

const POLL_MS = 2000;
// the wait percentiles scan a day of job history: every 5th poll only
const STATS_EVERY = 5;
const DEPTH_KEEP_MS = 10 * 60 * 1000;
const depthHist = [];            // [{t, queued: [4]}], this tab only
const prevDone = new Map();      // worker -> {t, done}: jobs/s between polls
let timer = 0, active = false, state = { admin: false }, ticks = 0, stats = null;

export function start(st) {
  state = st;
  active = true;
  stats = null;   // a new visit (or another key) reads them at once
  tick();
}
export function stop() { active = false; clearTimeout(timer); }

async function tick() {
  clearTimeout(timer);
  if (!active) return;
  if (document.visibilityState !== 'hidden') {
    try {
      const fresh = !stats || ticks % STATS_EVERY === 0;
      const [gpus, queue, st] = await Promise.all([
        get('/v1/gpus'), get('/v1/queue'),
        fresh ? get('/v1/queue/stats', { tenant: state.admin ? 'all' : '' }) : stats,
      ]);
      ticks++;
      if (!active) return;
      stats = st;
      render(gpus, queue, stats);
    } catch (e) {
      banner(`Overview: ${e.message}`);
    }
  }
  if (active) timer = setTimeout(tick, POLL_MS);
}

function render(gpus, queue, stats) {
  $('#ov-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  $('#ov-scope').textContent = stats.scope === 'all' ? 'every tenant' : 'your tenant';
  renderTiers(queue, stats);
  renderWorkers(gpus.gpus || []);
  const now = Date.now();
  depthHist.push({ t: now, queued: TIERS.map((_, i) => tierOf(queue, i).queued || 0) });
  while (depthHist.length && depthHist[0].t < now - DEPTH_KEEP_MS) depthHist.shift();
  renderCharts(stats, now);
}

function tierOf(queue, t) { return (queue.tiers || []).find((x) => x.tier === t) || {}; }
function winOf(stats, w, t) {
  const win = (stats.windows || []).find((x) => x.window === w);
  return (win && (win.tiers || []).find((x) => x.tier === t)) || {};
}

function renderTiers(queue, stats) {
  const tb = clear($('#ov-tiers tbody'));
  for (let t = 3; t >= 0; t--) {
    const q = tierOf(queue, t);
    const w5 = winOf(stats, '5m', t), w1 = winOf(stats, '1h', t), w24 = winOf(stats, '24h', t);
    const pct = (w, win) => el('td', { class: 'num', 'data-k': `tier-${t}-wait-${win}`,
      'data-p50': w.wait_p50_ms ?? '', 'data-p99': w.wait_p99_ms ?? '',
      text: `${fmtNum(w.wait_p50_ms)} / ${fmtNum(w.wait_p99_ms)} ms` });
    tb.append(el('tr', { 'data-tier': t },
      el('th', { scope: 'row', text: `${t} ${q.name || TIERS[t]}` }),
      el('td', { 'data-k': `tier-${t}-paused`, 'data-v': q.paused ? '1' : '0',
                 class: q.paused ? 'paused' : '', text: q.paused ? 'paused' : 'no' }),
      numCell(q.queued, `tier-${t}-queued`), numCell(q.running, `tier-${t}-running`),
      el('td', { class: 'num', text: q.oldest_wait_ms == null ? '–' : `${fmtNum(q.oldest_wait_ms)} ms` }),
      pct(w5, '5m'), pct(w1, '1h'), pct(w24, '24h'),
      numCell(w5.jobs_per_s, `tier-${t}-jps-5m`, 3), numCell(w1.jobs_per_s, `tier-${t}-jps-1h`, 3)));
  }
}

function renderWorkers(ws) {
  const box = clear($('#ov-workers'));
  $('#ov-noworkers').hidden = ws.length > 0;
  const now = Date.now();
  for (const w of ws) {
    const d = w.device || {};
    const budget = d.vram_budget_bytes || 0, used = d.vram_used_bytes || 0;
    const prev = prevDone.get(w.name);
    let jps = null;
    if (prev && now > prev.t) jps = ((d.jobs_done || 0) - prev.done) / ((now - prev.t) / 1000);
    prevDone.set(w.name, { t: now, done: d.jobs_done || 0 });
    const bar = el('span', { class: 'w0' });
    bar.style.width = `${budget ? Math.min(100, (100 * used) / budget).toFixed(1) : 0}%`;
    const models = el('table', {},
      el('caption', { class: 'sr-only', text: `Models on ${w.name}` }),
      el('thead', {}, el('tr', {}, ...['Model', 'Resident', 'VRAM', 'Loads', 'Unloads', 'Last load ms']
        .map((h) => el('th', { scope: 'col', text: h })))));
    const mb = el('tbody');
    for (const m of d.models_seen || []) {
      mb.append(el('tr', { 'data-model': m.model },
        el('td', { text: m.model }), el('td', { text: m.resident ? 'yes' : 'no' }),
        el('td', { class: 'num', 'data-k': `w-${w.name}-m-${m.model}-bytes`, 'data-v': m.bytes,
                   text: m.resident ? fmtBytes(m.bytes) : '–' }),
        numCell(m.loads, `w-${w.name}-m-${m.model}-loads`),
        numCell(m.unloads, `w-${w.name}-m-${m.model}-unloads`),
        el('td', { class: 'num', text: fmtNum(m.last_load_ms, 1) })));
    }
    models.append(mb);
    const dl = el('dl', { class: 'fields' });
    const row = (k, v, key, raw) => dl.append(el('dt', { text: k }),
      el('dd', { 'data-k': key ? `w-${w.name}-${key}` : undefined, 'data-v': raw ?? v, text: v }));
    row('Status', `${w.status} (${d.state || '?'})`, 'status', w.status);
    row('Device', `${d.name || '?'} #${d.index ?? '?'} (${d.type || '?'}, ${d.engine || '?'})`);
    row('VRAM used / budget', `${fmtBytes(used)} / ${fmtBytes(budget)}`, 'vram', `${used}/${budget}`);
    row('Loads / unloads / evictions', `${d.loads ?? 0} / ${d.unloads ?? 0} / ${d.evictions ?? 0}`,
        'loads', `${d.loads ?? 0}/${d.unloads ?? 0}/${d.evictions ?? 0}`);
    row('Load / unload time total', `${fmtNum(d.load_ms_total, 1)} / ${fmtNum(d.unload_ms_total, 1)} ms`);
    row('Jobs done / failed / running', `${d.jobs_done ?? 0} / ${d.jobs_failed ?? 0} / ${d.jobs_running ?? 0}`,
        'jobs', `${d.jobs_done ?? 0}/${d.jobs_failed ?? 0}/${d.jobs_running ?? 0}`);
    row('Jobs/s (since last update)', jps === null ? '–' : jps.toFixed(2));
    row('Last seen', w.last_seen ? new Date(w.last_seen).toLocaleTimeString() : '–');
    box.append(el('article', { class: 'card', 'data-worker': w.name, 'aria-label': `Worker ${w.name}` },
      el('h4', { text: w.name }),
      el('div', { class: 'bar', role: 'meter', 'aria-label': 'VRAM used of budget',
                  'aria-valuemin': 0, 'aria-valuemax': budget, 'aria-valuenow': used }, bar),
      dl, el('div', { class: 'scroll' }, models)));
  }
}

function renderCharts(stats, now) {
  const names = TIERS.map((n, i) => ({ cls: `s${i}`, name: n }));
  lineChart($('#ch-depth'), names.map((s, i) => ({ ...s,
    points: depthHist.map((h) => [h.t, h.queued[i]]) })),
  { xMin: now - DEPTH_KEEP_MS, xMax: now, xLabel0: '-10 min' });
  const ser = stats.series || [];
  const hour0 = now - 60 * 60 * 1000;
  // one point per minute; minutes with no finished job count 0
  const minutes = [];
  for (let m = Math.floor(hour0 / 60000) * 60000; m <= now; m += 60000) minutes.push(m);
  const by = new Map(ser.map((s) => [`${new Date(s.minute).getTime()}:${s.tier}`, s]));
  lineChart($('#ch-done'), names.map((s, i) => ({ ...s,
    points: minutes.map((m) => [m, (by.get(`${m}:${i}`) || {}).finished || 0]) })),
  { xMin: hour0, xMax: now, xLabel0: '-60 min' });
  lineChart($('#ch-wait'), names.map((s, i) => ({ ...s,
    points: minutes.filter((m) => by.has(`${m}:${i}`))
      .map((m) => [m, Number(by.get(`${m}:${i}`).wait_p99_ms) || 0]) })),
  { xMin: hour0, xMax: now, xLabel0: '-60 min' });
}
