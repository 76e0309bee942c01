// compare.js: compares `vkv run` JSON lines with a reference's and prints
// TAP lines ("ok - ..." / "not ok - ...") with the deltas, for suite
// 35-models.  Lines are matched by image basename.
//
//   node compare.js nsfw  REF.jsonl OURS.jsonl LABEL [--tol 0.01]
//       top-1 equal and every probability within tol
//   node compare.js faces REF.jsonl OURS.jsonl LABEL [--iou 0.95] [--score 0.01]
//       same number of faces; each reference face matched by IoU >= iou
//       with |score delta| <= score
//   --margin M  (nsfw) top-1 must agree only where the reference's top-1
//               leads its top-2 by more than M (near ties are reported)
//   --near S    (faces) a face present on one side only is tolerated (and
//               reported) when its score is below S (threshold crossings)
//   --lm L      (faces) every landmark of a matched face within L of the
//               reference's, as a fraction of the reference box's width
//               (BlazeFace's 6 keypoints; they were never compared)
//   --max-unmatched N  (faces) faces present on one side only (either side,
//               any score) do not fail their image; their total over all
//               images must be <= N (each is printed with its score)
//   --subset    compare only the images present in OURS
// REF lines are nsfw_ref.js / blazeface_ref.js output, or `vkv run` lines
// (for the quantisation comparisons: fp32 as reference).
'use strict';
const fs = require('fs');
const path = require('path');

const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

function load(file) {
  const m = new Map();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const j = JSON.parse(line);
    m.set(path.basename(j.file), j);
  }
  return m;
}

function probs(j) {
  if (j.probs) return j.probs;
  const p = new Array(LABELS.length).fill(NaN);
  for (const l of j.labels) p[l.class] = l.score;
  return p;
}

function iou(a, b) {
  const iw = Math.min(a.x_max, b.x_max) - Math.max(a.x_min, b.x_min);
  const ih = Math.min(a.y_max, b.y_max) - Math.max(a.y_min, b.y_min);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const area = (r) => (r.x_max - r.x_min) * (r.y_max - r.y_min);
  return inter / (area(a) + area(b) - inter);
}

// largest landmark distance between two faces, in units of a's box width
// (Infinity when the landmark lists differ in length or names)
function lmDelta(a, b) {
  const la = a.landmarks || [], lb = b.landmarks || [];
  if (la.length !== lb.length || la.length === 0) return Infinity;
  const w = Math.max(a.box.x_max - a.box.x_min, 1e-9);
  let d = 0;
  for (let i = 0; i < la.length; i++) {
    if (la[i].name !== lb[i].name) return Infinity;
    d = Math.max(d, Math.hypot(la[i].x - lb[i].x, la[i].y - lb[i].y) / w);
  }
  return d;
}

function main() {
  const [mode, refF, oursF, label, ...rest] = process.argv.slice(2);
  const opt = (k, d) => { const i = rest.indexOf(k); return i >= 0 ? parseFloat(rest[i + 1]) : d; };
  const ref = load(refF);
  const ours = load(oursF);
  let fails = 0;
  let worst = 0, worstIou = 1, worstLm = 0, unmatched = 0;
  if (ref.size === 0) { console.log(`not ok - ${label}: reference produced no results`); return 1; }
  for (const [name, r] of ref) {
    const o = ours.get(name);
    if (!o && rest.includes('--subset')) continue;
    if (!o) { console.log(`not ok - ${label} ${name}: no result from us`); fails++; continue; }
    if (mode === 'nsfw') {
      const tol = opt('--tol', 0.01);
      const pr = probs(r);
      const po = probs(o);
      const d = Math.max(...pr.map((v, i) => Math.abs(v - po[i])));
      const tr = pr.indexOf(Math.max(...pr));
      const to = po.indexOf(Math.max(...po));
      worst = Math.max(worst, d);
      const sorted = [...pr].sort((x, y) => y - x);
      const margin = sorted[0] - sorted[1];
      const tieOk = tr !== to && margin <= opt('--margin', -1);
      if (tieOk) console.log(`# ${label} ${name}: top-1 flips on a near tie (margin ${margin.toFixed(4)})`);
      const good = (tr === to || tieOk) && d <= tol && Number.isFinite(d);
      if (!good) fails++;
      console.log(`${good ? 'ok' : 'not ok'} - ${label} ${name}: top-1 ${LABELS[tr]} vs ${LABELS[to]} ` +
                  `(${pr[tr].toFixed(4)} vs ${po[to].toFixed(4)}), max |dp| ${d.toExponential(2)} <= ${tol}`);
    } else {
      const tIou = opt('--iou', 0.95);
      const tScore = opt('--score', 0.01);
      const fr = r.faces;
      const fo = o.faces;
      const near = opt('--near', -1);
      const tLm = opt('--lm', -1);
      const maxUn = opt('--max-unmatched', -1);
      let good = true;
      let msg = `${fr.length} vs ${fo.length} faces`;
      const matched = new Set();
      for (const a of fr) {
        let best = null;
        let bi = -1;
        for (const b of fo) { const v = iou(a.box, b.box); if (v > bi) { bi = v; best = b; } }
        if (bi < 0.5 && a.score < near) { msg += `; unmatched ours-missing face ${a.score.toFixed(4)} (near threshold)`; continue; }
        if (bi < 0.5 && maxUn >= 0) { unmatched++; msg += `; missing face ${a.score.toFixed(4)} (counted)`; continue; }
        if (best) matched.add(best);
        const ds = best ? Math.abs(a.score - best.score) : Infinity;
        worst = Math.max(worst, ds);
        msg += `; IoU ${bi.toFixed(4)} score ${a.score.toFixed(4)} vs ${best ? best.score.toFixed(4) : '-'}`;
        if (!(bi >= tIou && ds <= tScore)) good = false;
        worstIou = Math.min(worstIou, bi);
        if (tLm >= 0) {
          const dl = best ? lmDelta(a, best) : Infinity;
          worstLm = Math.max(worstLm, dl);
          msg += ` landmarks ${dl.toExponential(2)}`;
          if (!(dl <= tLm)) good = false;
        }
      }
      for (const b of fo) {
        if (matched.has(b)) continue;
        if (maxUn >= 0) { unmatched++; msg += `; extra face ${b.score.toFixed(4)} (counted)`; }
        else if (b.score < near) msg += `; extra face ${b.score.toFixed(4)} (near threshold)`;
        else { msg += `; extra face ${b.score.toFixed(4)}`; good = false; }
      }
      if (!good) fails++;
      console.log(`${good ? 'ok' : 'not ok'} - ${label} ${name}: ${msg} (IoU >= ${tIou}, |ds| <= ${tScore}` +
                  `${tLm >= 0 ? `, landmarks <= ${tLm} box widths` : ''})`);
    }
  }
  const maxUnAll = opt('--max-unmatched', -1);
  if (mode === 'faces' && maxUnAll >= 0) {
    const good = unmatched <= maxUnAll;
    if (!good) fails++;
    console.log(`${good ? 'ok' : 'not ok'} - ${label}: ${unmatched} faces on one side only <= ${maxUnAll}`);
  }
  console.log(`# ${label}: ${ref.size} images, worst delta ${worst.toExponential(3)}` +
              `${mode === 'faces' ? `, worst IoU ${worstIou.toFixed(4)}, worst landmark ${worstLm.toExponential(3)}` : ''}` +
              `, ${fails} failed`);
  return fails ? 1 : 0;
}
process.exitCode = main();
