// dashboard.test.mjs: the operator's dashboard (web/) in Debian's chromium,
// driven by puppeteer-core, against the stack tests/suites/70-dashboard.sh
// started.  Prints "ok - ..." / "not ok - ..." lines; exits 1 on a failure.
//
// Checks: every page loads with no console error, page error or failed
// request; the overview's numbers equal the API's at the same moment; the
// try-it page draws as many boxes as POST /v1/detect returns for the photo;
// pausing a tier on the admin page pauses it (GET /v1/queue); a tenant key
// sees no admin controls and no other tenant's jobs; markup in a label,
// caption or error shows as text; the page fits a phone screen and its
// controls have accessible names.  Screenshots go to $DASH_TMP/shots.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const env = process.env;
const require = createRequire(path.join(env.DASH_MODULES, 'x.js'));
const puppeteer = require('puppeteer-core');
const U = env.DASH_URL, SHOTS = path.join(env.DASH_TMP, 'shots');
mkdirSync(SHOTS, { recursive: true });
const WAIT = Number(env.DASH_WAIT_MS || 120000);

let failed = 0;
const ok = (d) => console.log(`ok - ${d}`);
const nok = (d, why) => { failed++; console.log(`not ok - ${d}`); if (why) console.log(`# ${String(why).split('\n').join('\n# ')}`); };
const check = (d, cond, why) => (cond ? ok(d) : nok(d, why));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(key, p, init) {
  const res = await fetch(U + p, { ...(init || {}), headers: { Authorization: `Bearer ${key}`, ...((init || {}).headers || {}) } });
  const t = await res.text();
  let j = null;
  try { j = JSON.parse(t); } catch (_) { /* not JSON */ }
  return { status: res.status, json: j, text: t };
}

// polls fn until it returns a truthy value, at most ms; returns the value
async function until(ms, fn) {
  const end = Date.now() + ms;
  let v;
  for (;;) {
    try { v = await fn(); } catch (_) { v = undefined; }
    if (v || Date.now() > end) return v;
    await sleep(200);
  }
}

const browser = await puppeteer.launch({
  executablePath: env.DASH_CHROME,
  headless: true,
  userDataDir: path.join(env.DASH_TMP, 'chrome-profile'),
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage'],
});

// a page that records every console error, page error and failed request
async function newPage(ctx, name) {
  const page = await ctx.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    // a stream the page aborts on purpose (a new try-it run) is not a failure
    if (!/ERR_ABORTED/.test(r.failure()?.errorText || '')) page.problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) page.problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.label = name;
  await page.setViewport({ width: 1200, height: 900 });
  return page;
}
function clean(page, what) {
  check(`${page.label}: ${what} with no console error and no failed request`, page.problems.length === 0,
        page.problems.join('\n'));
  page.problems.length = 0;
}
// a screenshot, and a copy at half size (drawn by the browser on a canvas)
// for the README (web/screenshots/, copied by hand)
let scaler = null;
async function shot(page, name) {
  const buf = await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  scaler = scaler || await browser.newPage();
  const url = await scaler.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = Math.round(img.width / 2); c.height = Math.round(img.height / 2);
    const g = c.getContext('2d');
    g.imageSmoothingQuality = 'high';
    g.drawImage(img, 0, 0, c.width, c.height);
    return c.toDataURL('image/png');
  }, Buffer.from(buf).toString('base64'));
  mkdirSync(path.join(SHOTS, 'small'), { recursive: true });
  writeFileSync(path.join(SHOTS, 'small', `${name}.png`), Buffer.from(url.split(',')[1], 'base64'));
}
async function signIn(page, key) {
  await page.goto(`${U}/dashboard/`, { waitUntil: 'load' });
  await page.waitForSelector('#signin-key', { visible: true, timeout: 10000 });
  await page.type('#signin-key', key);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])', { timeout: 10000 });
}
const attr = (page, sel, a) => page.$eval(sel, (e, a) => e.getAttribute(a), a).catch(() => null);

try {
  // ================================================================ admin
  const ctx = await browser.createBrowserContext();
  const page = await newPage(ctx, 'admin');
  await signIn(page, env.DASH_ADMIN_KEY);
  check('admin: signed in, the Admin link is shown', await page.$eval('#nav-admin', (e) => !e.hidden));
  check('the key is not in the URL, a cookie or localStorage',
        !page.url().includes(env.DASH_ADMIN_KEY) &&
        (await page.cookies()).length === 0 &&
        await page.evaluate(() => localStorage.length === 0));

  // ---- try it: the boxes drawn = what POST /v1/detect returns
  const photo = readFileSync(env.DASH_PHOTO);
  const det = await api(env.DASH_ADMIN_KEY, '/v1/detect', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ image_url: `data:image/jpeg;base64,${photo.toString('base64')}`, object: env.DASH_OBJECT }) });
  const nDet = det.json && det.json.objects ? det.json.objects.length : -1;
  check(`POST /v1/detect finds ${nDet} "${env.DASH_OBJECT}" in ${path.basename(env.DASH_PHOTO)}`, nDet > 0, det.text.slice(0, 300));
  await page.goto(`${U}/dashboard/#try`);
  await page.waitForSelector('#try-task option[value="detect"]', { timeout: 10000 });
  await page.select('#try-task', 'detect');
  await page.select('#try-model', 'centernet');
  await page.select('#try-tier', 'IMMEDIATE');
  const fileInput = await page.$('#try-file');
  await fileInput.uploadFile(env.DASH_PHOTO);
  await page.waitForFunction(() => document.querySelector('#try-note').textContent.includes('×'), { timeout: 10000 });
  await page.type('#try-object', env.DASH_OBJECT);
  await page.click('#try-submit');
  await page.waitForFunction(() => document.querySelector('#try-canvas').dataset.done, { timeout: WAIT });
  const done = await attr(page, '#try-canvas', 'data-done');
  const nDrawn = Number(await attr(page, '#try-canvas', 'data-boxes'));
  check('try it: the job succeeds', done === 'succeeded', `${done}: ${await page.$eval('#try-error', (e) => e.textContent)}`);
  check(`try it: draws ${nDet} boxes, as many as /v1/detect returns`, nDrawn === nDet, `drawn ${nDrawn}, detect ${nDet}`);
  const steps = await page.$$eval('#try-steps li', (es) => es.map((e) => e.textContent));
  check('try it: the job was followed queued -> running -> done', steps.length === 3 && /queued/.test(steps[0]) &&
        /running/.test(steps[1]) && /^done/.test(steps[2]), steps.join(' | '));
  const tryId = await attr(page, '#try-canvas', 'data-job');
  clean(page, 'try it runs a job');
  await shot(page, 'try');

  // ---- overview: the numbers equal the API's at the same moment
  await page.goto(`${U}/dashboard/#overview`);
  await page.waitForSelector('#ov-tiers tbody tr[data-tier="0"]', { timeout: 10000 });
  // the worker has loaded CenterNet for the try-it job
  await until(30000, () => page.$('.card[data-worker] tr[data-model="centernet"]'));
  // one comparison: the page's last poll against the API read right after;
  // retried while a poll is in flight (bounded)
  let diffs = null;
  await until(20000, async () => {
    const before = await page.$eval('#ov-updated', (e) => e.textContent);
    const [q, g, s] = await Promise.all([api(env.DASH_ADMIN_KEY, '/v1/queue'), api(env.DASH_ADMIN_KEY, '/v1/gpus'),
                                         api(env.DASH_ADMIN_KEY, '/v1/queue/stats?tenant=all')]);
    const dom = await page.$$eval('[data-k]', (es) => Object.fromEntries(es.map((e) => [e.dataset.k, {
      v: e.dataset.v, p50: e.dataset.p50, p99: e.dataset.p99 }])));
    const after = await page.$eval('#ov-updated', (e) => e.textContent);
    if (before !== after) return false;   // the page updated meanwhile: again
    diffs = [];
    const same = (k, want, got) => { if (String(want ?? '') !== String(got ?? '')) diffs.push(`${k}: api ${want} page ${got}`); };
    for (const t of q.json.tiers) {
      same(`tier ${t.tier} queued`, t.queued, dom[`tier-${t.tier}-queued`]?.v);
      same(`tier ${t.tier} running`, t.running, dom[`tier-${t.tier}-running`]?.v);
      same(`tier ${t.tier} paused`, t.paused ? 1 : 0, dom[`tier-${t.tier}-paused`]?.v);
    }
    for (const w of s.json.windows)
      for (const t of w.tiers) {
        same(`tier ${t.tier} ${w.window} p50`, t.wait_p50_ms, dom[`tier-${t.tier}-wait-${w.window}`]?.p50);
        same(`tier ${t.tier} ${w.window} p99`, t.wait_p99_ms, dom[`tier-${t.tier}-wait-${w.window}`]?.p99);
        if (w.window !== '24h') same(`tier ${t.tier} ${w.window} jobs/s`, t.jobs_per_s, dom[`tier-${t.tier}-jps-${w.window}`]?.v);
      }
    for (const w of g.json.gpus) {
      const d = w.device || {};
      same(`${w.name} status`, w.status, dom[`w-${w.name}-status`]?.v);
      same(`${w.name} vram`, `${d.vram_used_bytes || 0}/${d.vram_budget_bytes || 0}`, dom[`w-${w.name}-vram`]?.v);
      same(`${w.name} loads`, `${d.loads ?? 0}/${d.unloads ?? 0}/${d.evictions ?? 0}`, dom[`w-${w.name}-loads`]?.v);
      same(`${w.name} jobs`, `${d.jobs_done ?? 0}/${d.jobs_failed ?? 0}/${d.jobs_running ?? 0}`, dom[`w-${w.name}-jobs`]?.v);
      for (const m of d.models_seen || []) {
        same(`${w.name} ${m.model} loads`, m.loads, dom[`w-${w.name}-m-${m.model}-loads`]?.v);
        same(`${w.name} ${m.model} bytes`, m.bytes, dom[`w-${w.name}-m-${m.model}-bytes`]?.v);
      }
    }
    return diffs.length === 0;
  });
  check('overview: every tier, window, worker and model figure equals the API', diffs && diffs.length === 0,
        (diffs || ['never compared']).join('\n'));
  check(`overview: BACKGROUND shows ${env.DASH_BG_QUEUED} queued and paused`,
        (await attr(page, '[data-k="tier-0-queued"]', 'data-v')) === env.DASH_BG_QUEUED &&
        (await attr(page, '[data-k="tier-0-paused"]', 'data-v')) === '1');
  check('overview: three charts drawn', (await page.$$('.chart svg')).length === 3);
  check('overview: the worker card shows CenterNet resident with its VRAM',
        Number(await attr(page, '.card[data-worker] [data-k$="-m-centernet-bytes"]', 'data-v')) > 0);
  clean(page, 'overview loads and updates');
  await shot(page, 'overview');

  // ---- jobs: an admin sees every tenant with ?tenant=all
  await page.goto(`${U}/dashboard/#jobs`);
  await page.waitForSelector('#jobs-tenant-l:not([hidden])', { timeout: 10000 });
  await page.select('#jobs-filter select[name=tenant]', 'all');
  await page.click('#jobs-filter button[type=submit]');
  await until(10000, async () => (await page.$$eval('#jobs-table tbody tr', (es) => new Set(es.map((e) => e.dataset.tenant)).size)) >= 2);
  const tenantsSeen = await page.$$eval('#jobs-table tbody tr', (es) => [...new Set(es.map((e) => e.dataset.tenant))]);
  check('jobs: an admin with tenant "all" sees several tenants\' jobs', tenantsSeen.includes(env.DASH_ACME_ID) &&
        tenantsSeen.includes(env.DASH_OTHER_ID), tenantsSeen.join(','));
  await shot(page, 'jobs');
  await page.select('#jobs-filter select[name=tenant]', '');
  await page.select('#jobs-filter select[name=state]', 'succeeded');
  await page.click('#jobs-filter button[type=submit]');
  const onlyMine = await until(10000, async () => {
    const rows = await page.$$eval('#jobs-table tbody tr', (es) => es.map((e) => [e.dataset.job, e.children[5].textContent]));
    return rows.length > 0 && rows.every((r) => r[1] === 'succeeded') && rows.some((r) => r[0] === tryId) ? rows : null;
  });
  check('jobs: the state filter shows only succeeded jobs, the try-it job among them', !!onlyMine);
  clean(page, 'jobs list loads and filters');
  await page.goto(`${U}/dashboard/#job/${tryId}`);
  await page.waitForFunction(() => document.querySelector('#job-canvas').dataset.boxes !== undefined, { timeout: 10000 });
  const tryJob = (await api(env.DASH_ADMIN_KEY, `/v1/jobs/${tryId}`)).json;
  const nAll = tryJob.result.objects.length;
  check(`job detail: the try-it job draws all its ${nAll} boxes on this tab's copy of its input`,
        Number(await attr(page, '#job-canvas', 'data-boxes')) === nAll && (await attr(page, '#job-canvas', 'data-src')) === 'local',
        `boxes ${await attr(page, '#job-canvas', 'data-boxes')}, src ${await attr(page, '#job-canvas', 'data-src')}`);
  clean(page, 'job detail loads');
  await shot(page, 'job');

  // ---- admin: pause a tier on the page, check it through the API
  await page.goto(`${U}/dashboard/#admin`);
  await page.waitForSelector('#admin-tiers button[data-tier="2"]', { timeout: 10000 });
  const paused2 = async () => (await api(env.DASH_ADMIN_KEY, '/v1/queue')).json.tiers.find((t) => t.tier === 2).paused;
  check('INTERACTIVE is not paused before', (await paused2()) === false);
  await page.click('#admin-tiers button[data-tier="2"]');
  check('admin: "Pause" on INTERACTIVE pauses it (GET /v1/queue)', await until(10000, async () => (await paused2()) === true));
  await page.waitForFunction(() => document.querySelector('[data-k="admin-tier-2-paused"]')?.dataset.v === '1', { timeout: 10000 });
  const keysShown = await page.$$eval('#admin-tenants li[data-key-prefix]', (es) => es.map((e) => e.textContent));
  check('admin: three keys listed by prefix, never the key', keysShown.length === 3 &&
        !keysShown.some((t) => t.includes(env.DASH_ADMIN_KEY) || t.includes(env.DASH_ACME_KEY)), keysShown.join('\n'));
  const setApi = async () => (await api(env.DASH_ADMIN_KEY, '/v1/admin/settings')).json.settings;
  const s0 = await setApi();
  await page.waitForFunction((v) => document.querySelector('#admin-settings [name=fair_quantum_ms]').value === v,
                             { timeout: 10000 }, String(s0.fair_quantum_ms));
  check('admin: the settings form shows the API\'s queue settings', true);
  const fq = s0.fair_quantum_ms === 750 ? 500 : 750;
  await page.$eval('#admin-settings [name=fair_quantum_ms]', (e) => { e.value = ''; });
  await page.type('#admin-settings [name=fair_quantum_ms]', String(fq));
  await page.click('#admin-settings button[type=submit]');
  check(`admin: saving fair_quantum_ms = ${fq} changes it (GET /v1/admin/settings), the rest stays`,
        await until(10000, async () => { const s1 = await setApi(); return s1.fair_quantum_ms === fq && s1.aging_ms === s0.aging_ms; }));
  await shot(page, 'admin');
  await page.click('#admin-tiers button[data-tier="2"]');
  check('admin: "Resume" resumes it', await until(10000, async () => (await paused2()) === false));
  clean(page, 'admin page loads, pauses and resumes');

  // ---- a phone-sized screen: no horizontal scrolling of the page
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  await page.goto(`${U}/dashboard/#overview`);
  await page.waitForSelector('#ov-tiers tbody tr', { timeout: 10000 });
  await sleep(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check('phone (390 px): the page does not scroll sideways (wide tables scroll in place)', overflow <= 0, `${overflow}px too wide`);
  await shot(page, 'phone-overview');
  // every visible control has an accessible name
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, button, canvas, [role]')]
    .filter((e) => e.offsetParent !== null || e.tagName === 'CANVAS')
    .filter((e) => !(e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.closest('label') ||
                     (e.id && document.querySelector(`label[for="${e.id}"]`)) || e.textContent.trim()))
    .map((e) => e.outerHTML.slice(0, 80)));
  check('every control has an accessible name (label, aria-label or text)', unnamed.length === 0, unnamed.join('\n'));
  clean(page, 'phone layout');
  await ctx.close();

  // ================================================================ tenant
  const tctx = await browser.createBrowserContext();
  const tp = await newPage(tctx, 'tenant');
  await signIn(tp, env.DASH_ACME_KEY);
  check('tenant key: no Admin link', await tp.$eval('#nav-admin', (e) => e.hidden));
  await tp.goto(`${U}/dashboard/#admin`);
  await sleep(500);
  check('tenant key: #admin shows no admin page and no pause button',
        await tp.$eval('#page-admin', (e) => e.hidden) && (await tp.$$('#admin-tiers button')).length === 0);
  await tp.goto(`${U}/dashboard/#jobs`);
  await tp.waitForSelector('#jobs-table tbody tr', { timeout: 10000 });
  check('tenant key: no tenant filter', await tp.$eval('#jobs-tenant-l', (e) => e.hidden));
  const rows = await tp.$$eval('#jobs-table tbody tr', (es) => es.map((e) => e.dataset.tenant));
  check(`tenant key: every job listed is its own (${rows.length} rows)`, rows.length > 0 && rows.every((t) => t === env.DASH_ACME_ID),
        rows.join(','));
  // markup in an error and a label is text
  const xerr = await tp.$eval(`#jobs-table tr[data-job="${env.DASH_XSS_ID}"] td.err`, (e) => e.textContent).catch(() => null);
  check('jobs list: an error with markup shows as text', xerr === env.DASH_XSS_ERR, xerr);
  await tp.goto(`${U}/dashboard/#job/${env.DASH_XSS_ID}`);
  await tp.waitForFunction(() => document.querySelector('#job-canvas').dataset.boxes !== undefined, { timeout: 10000 });
  const shown = await tp.evaluate(() => ({
    err: document.querySelector('#job-error').textContent,
    items: [...document.querySelectorAll('#job-items li')].map((e) => e.textContent),
    injected: document.querySelectorAll('main img, main script').length,
    xss: window.__xss,
  }));
  check('job detail: the error shows as text', shown.err === env.DASH_XSS_ERR, shown.err);
  check('job detail: the label and the caption show as text', shown.items.some((t) => t.startsWith(env.DASH_XSS_LABEL)) &&
        shown.items.includes(`caption: ${env.DASH_XSS_LABEL}`), shown.items.join('\n'));
  check('job detail: no element was created from the markup and none of it ran', shown.injected === 0 && shown.xss === undefined,
        JSON.stringify(shown));
  check('job detail: a job without a thumbnail says so and draws on a blank',
        (await attr(tp, '#job-canvas', 'data-src')) === 'none' &&
        (await tp.$eval('#job-canvas-note', (e) => e.textContent)).includes('No picture was kept'));
  await shot(tp, 'job-markup');
  // a finished job of another client: drawn on the thumbnail vkv-api kept
  await tp.goto(`${U}/dashboard/#job/${env.DASH_THUMB_JOB}`);
  await tp.waitForFunction((id) => document.querySelector('#job-id').textContent === id &&
    document.querySelector('#job-canvas').dataset.src, { timeout: 10000 }, env.DASH_THUMB_JOB);
  check(`job detail: a finished detect job (curl) is drawn on its thumbnail with its ${env.DASH_THUMB_BOXES} boxes`,
        (await attr(tp, '#job-canvas', 'data-src')) === 'thumbnail' &&
        (await attr(tp, '#job-canvas', 'data-boxes')) === env.DASH_THUMB_BOXES,
        `src ${await attr(tp, '#job-canvas', 'data-src')}, boxes ${await attr(tp, '#job-canvas', 'data-boxes')}`);
  await shot(tp, 'job-thumbnail');
  // an analyze job: every slot drawn together, a failed slot as text
  await tp.goto(`${U}/dashboard/#job/${env.DASH_ANALYZE_ID}`);
  await tp.waitForFunction((id) => document.querySelector('#job-id').textContent === id &&
    document.querySelector('#job-canvas').dataset.src, { timeout: 10000 }, env.DASH_ANALYZE_ID);
  const an = await tp.evaluate(() => ({ boxes: document.querySelector('#job-canvas').dataset.boxes,
    w: document.querySelector('#job-canvas').width, h: document.querySelector('#job-canvas').height,
    items: [...document.querySelectorAll('#job-items li')].map((e) => e.textContent) }));
  check('job detail: an analyze job draws its detect slot\'s 2 boxes at the image\'s 3:2 and lists each slot',
        an.boxes === '2' && Math.abs(an.w / an.h - 1.5) < 0.01 &&
        an.items.includes('classify: Neutral 0.98') && an.items.includes('detect_faces failed: out of memory') &&
        an.items.includes('tags: neutral, cup, dining table'), JSON.stringify(an));
  // another tenant's job by id is "not found" for this key
  const other = await api(env.DASH_ACME_KEY, `/v1/jobs?limit=500`);
  check('tenant key: the API lists none of the other tenant\'s jobs',
        other.status === 200 && other.json.jobs.every((j) => String(j.tenant_id) === env.DASH_ACME_ID));
  clean(tp, 'tenant pages load');
  await tctx.close();
} catch (e) {
  nok('the browser test ran to the end', e.stack || e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
