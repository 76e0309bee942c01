// ppm.js: reads a binary PPM (P6, maxval 255) as written by `vkv run --dump-rgb`.
'use strict';
const fs = require('fs');

function readPpm(file) {
  const b = fs.readFileSync(file);
  let i = 2;
  const v = [];
  if (b[0] !== 0x50 || b[1] !== 0x36) throw new Error(`${file}: not a P6 PPM`);
  while (v.length < 3) {
    while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09 || b[i] === 0x23)) {
      if (b[i] === 0x23) while (i < b.length && b[i] !== 0x0a) i++;
      else i++;
    }
    let n = 0;
    while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39) n = n * 10 + (b[i++] - 0x30);
    v.push(n);
  }
  i++;
  const [w, h, max] = v;
  if (max !== 255 || b.length - i < w * h * 3) throw new Error(`${file}: bad PPM header`);
  return { w, h, rgb: new Uint8Array(b.buffer, b.byteOffset + i, w * h * 3) };
}

module.exports = { readPpm };
