// faces_compare.js: compares the attributes of `vkv run faces` (one JSON
// line per image) with faces_ref.js (one line per aligned crop,
// <image>.f<i>.ppm = face i of <image>) and prints TAP lines with the
// deltas (suite 35-models).
//
//   node faces_compare.js REF.jsonl OURS.jsonl LABEL --desc D --age A --male M --emo E
//     per face: every descriptor component within D (both L2-normalised),
//     age within A years, P(male) within M, every expression probability
//     within E and the same top expression; at least one face compared
'use strict';
const fs = require('fs');
const path = require('path');

const EMO = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];

function lines(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function main() {
  const [refF, oursF, label, ...rest] = process.argv.slice(2);
  const opt = (k) => { const i = rest.indexOf(k); if (i < 0) throw new Error(`${k} missing`); return parseFloat(rest[i + 1]); };
  const tD = opt('--desc'), tA = opt('--age'), tM = opt('--male'), tE = opt('--emo');
  const ref = new Map(lines(refF).map((j) => [j.file, j]));
  const w = { d: 0, cos: 1, a: 0, m: 0, e: 0 };
  let n = 0, fails = 0;
  for (const o of lines(oursF)) {
    const base = path.basename(o.file).replace(/\.[^.]*$/, '');
    (o.faces || []).forEach((f, i) => {
      const key = `${base}.f${i}.ppm`;
      const r = ref.get(key);
      if (!r) { console.log(`not ok - ${label} ${key}: no reference result`); fails++; return; }
      n++;
      let d = 0, cos = 0;
      for (let k = 0; k < r.descriptor.length; k++) {
        d = Math.max(d, Math.abs(r.descriptor[k] - f.descriptor[k]));
        cos += r.descriptor[k] * f.descriptor[k];
      }
      if (f.descriptor.length !== r.descriptor.length) d = Infinity;
      const male = f.gender === 'male' ? 0.5 + f.gender_score / 2 : 0.5 - f.gender_score / 2;
      const da = Math.abs(r.age - f.age), dm = Math.abs(r.male - male);
      const pe = EMO.map((l) => f.emotions[l]);
      const de = Math.max(...pe.map((v, k) => Math.abs(v - r.emotion[k])));
      const topR = EMO[r.emotion.indexOf(Math.max(...r.emotion))];
      w.d = Math.max(w.d, d); w.cos = Math.min(w.cos, cos); w.a = Math.max(w.a, da);
      w.m = Math.max(w.m, dm); w.e = Math.max(w.e, de);
      const good = d <= tD && da <= tA && dm <= tM && de <= tE && topR === f.emotion;
      if (!good) fails++;
      console.log(`${good ? 'ok' : 'not ok'} - ${label} ${key}: descriptor max |d| ${d.toExponential(2)} ` +
                  `(cos ${cos.toFixed(6)}), age ${f.age} vs ${r.age}, P(male) |d| ${dm.toExponential(2)}, ` +
                  `expression ${f.emotion} vs ${topR} max |dp| ${de.toExponential(2)}`);
    });
  }
  if (n === 0) { console.log(`not ok - ${label}: no face compared`); fails++; }
  console.log(`# ${label}: ${n} faces, worst descriptor |d| ${w.d.toExponential(3)} (cos >= ${w.cos.toFixed(6)}), ` +
              `age ${w.a.toFixed(2)} y, P(male) ${w.m.toExponential(3)}, expression ${w.e.toExponential(3)}, ` +
              `bounds ${tD} ${tA} ${tM} ${tE}, ${fails} failed`);
  return fails ? 1 : 0;
}
process.exitCode = main();
