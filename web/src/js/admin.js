// admin.js: tiers (pause/resume), tenants and their keys (prefixes only),
// queue settings (editable).  Shown only for an admin key; the API refuses the same
// routes to a tenant key (403 admin_required), so hiding is not the guard.
import { get, post } from './api.js';
import { el, $, clear, fmtTime, numCell, banner, TIERS } from './ui.js';

let active = false, timer = 0;

export function setup() {
  $('#admin-settings').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const [k, v] of new FormData(ev.target)) body[k] = Number(v);
    const msg = $('#admin-settings-msg');
    try {
      const j = await post('/v1/admin/settings', body);
      fillSettings(j.settings || {});
      msg.textContent = `saved ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      msg.textContent = e.message;
    }
  });
}

// the settings form is filled once per visit and after a save, never by
// the poll (it would overwrite what the operator is typing)
export async function start() {
  active = true;
  load();
  try { fillSettings((await get('/v1/admin/settings')).settings || {}); } catch (e) { banner(`Settings: ${e.message}`); }
}
export function stop() { active = false; clearTimeout(timer); }

async function load() {
  clearTimeout(timer);
  try {
    const [queue, tenants] = await Promise.all([get('/v1/queue'), get('/v1/admin/tenants')]);
    if (!active) return;
    renderTiers(queue);
    renderTenants(tenants.tenants || []);
  } catch (e) {
    banner(`Admin: ${e.message}`);
  }
  if (active) timer = setTimeout(load, 3000);
}

function renderTiers(queue) {
  const tb = clear($('#admin-tiers tbody'));
  for (let t = 3; t >= 0; t--) {
    const q = (queue.tiers || []).find((x) => x.tier === t) || {};
    const name = q.name || TIERS[t];
    const b = el('button', { type: 'button', 'data-tier': t, class: q.paused ? '' : 'secondary',
      'aria-label': `${q.paused ? 'Resume' : 'Pause'} tier ${name}`,
      text: q.paused ? 'Resume' : 'Pause' });
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await post(`/v1/admin/tiers/${t}/${q.paused ? 'resume' : 'pause'}`);
      } catch (e) {
        banner(`Tier ${name}: ${e.message}`);
      }
      load();
    });
    tb.append(el('tr', { 'data-tier': t },
      el('th', { scope: 'row', text: `${t} ${name}` }),
      numCell(q.queued, `admin-tier-${t}-queued`), numCell(q.running, `admin-tier-${t}-running`),
      el('td', { 'data-k': `admin-tier-${t}-paused`, 'data-v': q.paused ? '1' : '0',
                 class: q.paused ? 'paused' : '', text: q.paused ? 'paused' : 'serving' }),
      el('td', {}, b)));
  }
}

function renderTenants(ts) {
  const tb = clear($('#admin-tenants tbody'));
  for (const t of ts) {
    const keys = el('ul', { class: 'items' });
    for (const k of t.keys || [])
      keys.append(el('li', { 'data-key-prefix': k.prefix, text:
        `${k.prefix}… ${k.is_admin ? 'admin' : 'tenant'} key, created ${fmtTime(k.created_at)}` +
        (k.revoked_at ? `, revoked ${fmtTime(k.revoked_at)}` : '') }));
    tb.append(el('tr', { 'data-tenant': t.id },
      numCell(t.id), el('td', { text: t.name }), numCell(t.queued), numCell(t.running),
      el('td', {}, keys)));
  }
}

function fillSettings(s) {
  const f = $('#admin-settings');
  for (const [k, v] of Object.entries(s)) if (f.elements[k]) f.elements[k].value = String(v);
}
