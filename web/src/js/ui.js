// ui.js: small DOM helpers.  Everything that comes from a job or the API
// is set with textContent (el() never parses HTML), so a label such as
// "<img src=x onerror=...>" shows as those characters.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function $(sel, root) { return (root || document).querySelector(sel); }

export function clear(e) { e.replaceChildren(); return e; }

export function fmtNum(v, digits) {
  if (v === null || v === undefined || v === '') return '–';
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  return digits === undefined ? String(n) : n.toFixed(digits);
}

export function fmtBytes(b) {
  if (b === null || b === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = Number(b), i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

// a table cell holding a number, tagged for the browser tests (data-k)
export function numCell(v, key, digits) {
  return el('td', { class: 'num', 'data-k': key, 'data-v': v ?? '', text: fmtNum(v, digits) });
}

let bannerTimer = 0;
export function banner(msg) {
  const b = $('#banner');
  if (!msg) { b.hidden = true; b.textContent = ''; return; }
  b.textContent = msg;
  b.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { b.hidden = true; }, 8000);
}

export const TIERS = ['BACKGROUND', 'PRELOAD', 'INTERACTIVE', 'IMMEDIATE'];
