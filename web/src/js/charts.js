// charts.js: a small SVG line chart (no library).  series: [{cls, name,
// points: [[x, y], ...]}] with x in ms since the epoch.
import { el, clear } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

export function lineChart(box, series, opts) {
  const W = 400, H = 160, L = 40, R = 8, T = 8, B = 20;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = opts.xMin ?? Math.min(...xs), x1 = opts.xMax ?? Math.max(...xs);
  const y1 = Math.max(1, ...ys);
  const sx = (x) => L + ((x - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - (y / y1) * (H - T - B);
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  s.append(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }));
  s.append(svg('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  const top = svg('text', { x: 2, y: T + 8 }); top.textContent = String(Math.round(y1 * 10) / 10);
  const zero = svg('text', { x: 2, y: H - B }); zero.textContent = '0';
  const left = svg('text', { x: L, y: H - 4 }); left.textContent = opts.xLabel0 || '';
  const right = svg('text', { x: W - R - 30, y: H - 4 }); right.textContent = 'now';
  s.append(top, zero, left, right);
  for (const ser of series) {
    if (!ser.points.length) continue;
    s.append(svg('polyline', {
      class: ser.cls,
      points: ser.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' '),
    }));
    // sparse series (a minute here and there) would be invisible as lines
    if (ser.points.length <= 60)
      for (const p of ser.points)
        s.append(svg('circle', { class: `${ser.cls} dot`, cx: sx(p[0]).toFixed(1), cy: sy(p[1]).toFixed(1), r: 2.5 }));
  }
  const legend = el('div', { class: 'legend' },
    ...series.map((ser) => el('span', { class: ser.cls.replace('s', 'k'), text: '■ ' + ser.name })));
  clear(box).append(s, legend);
  // a text alternative for screen readers: the latest value of each series
  box.setAttribute('aria-description', series.map((ser) =>
    `${ser.name}: ${ser.points.length ? ser.points[ser.points.length - 1][1] : 'no data'}`).join(', '));
}
