// draw.js: a job's result drawn on its image (canvas), and the same result
// as a list of text items.  Results (tasks/rt_task*.c, fcgi/handlers/):
//   classify      {labels: [{label, score}]}
//   detect        {objects: [{label, score, x_min, y_min, x_max, y_max}]}  (0..1)
//   detect_faces  {faces: [{box: {x_min..}, score, landmarks: [{name, x, y}]}]}
//   segment       {path: "M x y L ...", bbox: {x_min..}, coverage}  (0..1)
//   points        {points: [{x, y}]}; text lines {lines: [{text, box}]};
//   captions      {caption} or {answer}
//   analyze       {results: {task: one of the above, or {model, error}}, tags}
// Labels and text are drawn with fillText and listed with textContent.
import { el, clear } from './ui.js';

const COLORS = ['#e11d48', '#2563eb', '#16a34a', '#d97706', '#7c3aed', '#0891b2'];

function boxOf(o) { return o && (o.box || o.bbox || o); }
function hasBox(b) { return b && ['x_min', 'y_min', 'x_max', 'y_max'].every((k) => typeof b[k] === 'number'); }

// the drawable shapes of a result; filter(label) keeps detections
export function shapes(result, filter) {
  const r = result || {};
  const out = { boxes: [], points: [], paths: [], lines: [], text: [] };
  for (const o of r.objects || []) {
    if (filter && !filter(o.label)) continue;
    if (hasBox(o)) out.boxes.push({ b: o, label: `${o.label ?? '?'} ${fmtScore(o.score)}` });
  }
  for (const f of r.faces || []) {
    if (hasBox(boxOf(f))) out.boxes.push({ b: boxOf(f), label: `face ${fmtScore(f.score)}` });
    for (const p of f.landmarks || []) out.points.push({ x: p.x, y: p.y, label: '' });
  }
  for (const p of r.points || []) out.points.push({ x: p.x, y: p.y, label: p.label || '' });
  if (typeof r.path === 'string') out.paths.push(r.path);
  for (const l of r.lines || r.text_lines || []) {
    if (hasBox(boxOf(l))) out.boxes.push({ b: boxOf(l), label: String(l.text ?? '') });
  }
  for (const k of ['caption', 'answer', 'text'])
    if (typeof r[k] === 'string') out.text.push(`${k}: ${r[k]}`);
  for (const l of r.labels || []) out.text.push(`${l.label} ${fmtScore(l.score)}`);
  // analyze: each model's result in its slot, drawn together
  if (r.results && typeof r.results === 'object' && !Array.isArray(r.results)) {
    for (const [task, sub] of Object.entries(r.results)) {
      if (!sub || typeof sub !== 'object') continue;
      if (sub.error !== undefined) {
        const msg = typeof sub.error === 'string' ? sub.error : (sub.error.message || JSON.stringify(sub.error));
        out.text.push(`${task} failed: ${msg}`);
        continue;
      }
      const s = shapes(sub, filter);
      for (const k of Object.keys(out)) out[k].push(...s[k].map((v) => (k === 'text' ? `${task}: ${v}` : v)));
    }
  }
  if (Array.isArray(r.tags) && r.tags.length)
    out.text.push(`tags: ${r.tags.map((t) => (typeof t === 'string' ? t : t && t.tag)).join(', ')}`);
  return out;
}

// the original image size a result states (analyze: its own or a slot's)
function imageOf(result) {
  const ok = (i) => i && i.width > 0 && i.height > 0;
  if (!result) return null;
  if (ok(result.image)) return result.image;
  for (const sub of Object.values((result.results && typeof result.results === 'object') ? result.results : {}))
    if (sub && ok(sub.image)) return sub.image;
  return null;
}

function fmtScore(s) { return typeof s === 'number' ? s.toFixed(2) : ''; }

// draws img (an ImageBitmap/HTMLImageElement, or null for a blank of the
// result's aspect) and the shapes on canvas; returns the number of boxes
export function drawResult(canvas, img, result, filter) {
  const sh = shapes(result, filter);
  // the size of the original when the result knows it (a thumbnail is
  // drawn scaled up), else the picture's, else 4:3
  const orig = imageOf(result);
  const iw = orig ? orig.width : img ? img.width : 640;
  const ih = orig ? orig.height : img ? img.height : 480;
  const maxSide = 960, s = Math.min(1, maxSide / Math.max(iw, ih));
  canvas.width = Math.max(1, Math.round(iw * s));
  canvas.height = Math.max(1, Math.round(ih * s));
  const W = canvas.width, H = canvas.height;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, W, H);
  if (img) g.drawImage(img, 0, 0, W, H);
  else { g.fillStyle = '#f3f4f6'; g.fillRect(0, 0, W, H); }
  const lw = Math.max(2, Math.round(Math.min(W, H) / 200));
  g.lineWidth = lw;
  g.font = `${Math.max(12, Math.round(H / 40))}px system-ui, sans-serif`;
  g.textBaseline = 'top';
  for (const p of sh.paths) {
    g.save();
    g.scale(W, H);
    g.fillStyle = 'rgba(37, 99, 235, 0.35)';
    g.strokeStyle = '#2563eb';
    g.lineWidth = lw / Math.min(W, H);
    try { const p2 = new Path2D(p); g.fill(p2); g.stroke(p2); } catch (_) { /* bad path */ }
    g.restore();
  }
  sh.boxes.forEach((bx, i) => {
    const c = COLORS[i % COLORS.length];
    const x = bx.b.x_min * W, y = bx.b.y_min * H;
    const w = (bx.b.x_max - bx.b.x_min) * W, h = (bx.b.y_max - bx.b.y_min) * H;
    g.strokeStyle = c;
    g.strokeRect(x, y, w, h);
    if (bx.label) {
      const tw = g.measureText(bx.label).width + 6, th = parseInt(g.font, 10) + 4;
      const ty = y - th >= 0 ? y - th : y;
      g.fillStyle = c;
      g.fillRect(x, ty, tw, th);
      g.fillStyle = '#fff';
      g.fillText(bx.label, x + 3, ty + 2);
    }
  });
  g.fillStyle = '#facc15';
  for (const p of sh.points) {
    g.beginPath();
    g.arc(p.x * W, p.y * H, lw * 1.5, 0, 2 * Math.PI);
    g.fill();
  }
  canvas.dataset.boxes = String(sh.boxes.length);
  canvas.dataset.points = String(sh.points.length);
  canvas.dataset.paths = String(sh.paths.length);
  return sh.boxes.length;
}

// the result as list items (text only)
export function listResult(ul, result, filter) {
  const sh = shapes(result, filter);
  clear(ul);
  for (const t of sh.text) ul.append(el('li', { class: 'r-text', text: t }));
  for (const b of sh.boxes) {
    const bb = b.b;
    ul.append(el('li', { class: 'r-box', text:
      `${b.label} [${[bb.x_min, bb.y_min, bb.x_max, bb.y_max].map((v) => v.toFixed(3)).join(', ')}]` }));
  }
  if (sh.points.length) ul.append(el('li', { text: `${sh.points.length} points` }));
  if (sh.paths.length && result.coverage !== undefined)
    ul.append(el('li', { text: `mask covers ${(result.coverage * 100).toFixed(1)}% of the image` }));
  if (!ul.children.length) ul.append(el('li', { text: 'nothing' }));
}

export async function blobToImage(blob) {
  return createImageBitmap(blob, { imageOrientation: 'from-image' });
}
