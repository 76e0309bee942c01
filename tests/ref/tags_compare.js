// tags_compare.js: compares two JSON-lines files of tagger results line by
// line (the reference of tagger_ref.js first, then `vkv run`'s): the same
// tags in the same order, except those the reference marks "near" their
// threshold; every common score within --tol; the same rating unless the
// best two ratings are within --tol.  Prints "ok - LABEL: ..." or
// "not ok - LABEL: ..." and "# max |dscore| ..." (suite 38-tagger).
//
//   node tests/ref/tags_compare.js REF.jsonl OURS.jsonl LABEL --tol 1e-5
'use strict';
const fs = require('fs');

const [refFile, oursFile, label, tolFlag, tolStr] = process.argv.slice(2);
const tol = tolFlag === '--tol' ? parseFloat(tolStr) : 1e-5;
const read = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const ref = read(refFile);
const ours = read(oursFile);
const bad = [];
let maxd = 0;
let common = 0;
if (ref.length !== ours.length || ref.length === 0) bad.push(`${ref.length} reference lines, ${ours.length} of ours`);
for (let k = 0; k < Math.min(ref.length, ours.length); k++) {
  const r = ref[k];
  const o = ours[k];
  const name = (r.file || String(k)).replace(/.*\//, '');
  const near = new Set(r.near || []);
  const rt = r.tags.filter((t) => !near.has(t.tag)).map((t) => t.tag);
  const ot = (o.tags || []).filter((t) => !near.has(t.tag)).map((t) => t.tag);
  if (rt.join('|') !== ot.join('|')) bad.push(`${name}: tags [${rt}] vs [${ot}]`);
  const os = new Map((o.tags || []).map((t) => [t.tag, t]));
  for (const t of r.tags) {
    const u = os.get(t.tag);
    if (!u) continue;
    common++;
    if (u.category !== t.category) bad.push(`${name}: ${t.tag} category ${t.category} vs ${u.category}`);
    maxd = Math.max(maxd, Math.abs(u.score - t.score));
  }
  if (r.rating) {
    if (!o.rating) bad.push(`${name}: no rating`);
    else {
      maxd = Math.max(maxd, Math.abs(o.rating.score - r.rating.score));
      if (o.rating.tag !== r.rating.tag && r.rating_margin > tol) bad.push(`${name}: rating ${r.rating.tag} vs ${o.rating.tag}`);
    }
  }
}
if (maxd > tol) bad.push(`max |dscore| ${maxd.toExponential(2)} over ${tol}`);
console.log(`# ${label}: max |dscore| ${maxd.toExponential(2)} over ${common} tags and the ratings of ${ref.length} images (bound ${tol})`);
if (bad.length) {
  console.log(`not ok - ${label}: ${bad.slice(0, 5).join('; ')}`);
  process.exit(1);
}
console.log(`ok - ${label}: same tags and ratings on ${ref.length} images`);
