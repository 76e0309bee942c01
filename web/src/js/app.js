// app.js: sign-in, navigation (hash routes: #overview, #jobs, #job/ID,
// #try, #admin) and who the key belongs to.  Only job ids appear in the
// URL; the key stays in sessionStorage.
import { get, keyGet, keySet, keyClear } from './api.js';
import { $, banner } from './ui.js';
import * as overview from './overview.js';
import * as jobs from './jobs.js';
import * as tryit from './try.js';
import * as admin from './admin.js';

const state = { admin: false, tenants: [], tasks: [] };
const pages = ['signin', 'overview', 'jobs', 'job', 'try', 'admin'];

// who is this key (GET /v1/whoami); an admin also gets the tenant list
async function whoami() {
  const [me, m] = await Promise.all([get('/v1/whoami'), get('/v1/models')]);
  state.tasks = m.tasks || [];
  state.admin = !!me.admin;
  state.tenantId = me.tenant_id;
  state.tenants = state.admin ? ((await get('/v1/admin/tenants')).tenants || []) : [];
}

function show(page) {
  for (const p of pages) $(`#page-${p}`).hidden = p !== page;
  for (const a of document.querySelectorAll('#nav a'))
    if (a.dataset.page === page || (page === 'job' && a.dataset.page === 'jobs'))
      a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
}

function route() {
  overview.stop(); jobs.stop(); admin.stop();
  if (!keyGet()) { signedOut(); return; }
  const h = location.hash.replace(/^#/, '') || 'overview';
  const [page, arg] = h.split('/');
  if (page === 'jobs') { show('jobs'); jobs.start(state, state.tasks); }
  else if (page === 'job' && arg) { show('job'); jobs.showJob(arg); }
  else if (page === 'try') { show('try'); tryit.start(); }
  else if (page === 'admin' && state.admin) { show('admin'); admin.start(); }
  else { show('overview'); overview.start(state); }
  document.title = `vkvision: ${page}`;
}

function signedOut() {
  $('#nav').hidden = true;
  $('#who').hidden = true;
  show('signin');
  $('#signin-key').focus();
}

async function signedIn() {
  await whoami();
  $('#nav').hidden = false;
  $('#who').hidden = false;
  $('#nav-admin').hidden = !state.admin;
  $('#who-text').textContent = state.admin ? 'admin key' : 'tenant key';
  document.body.dataset.role = state.admin ? 'admin' : 'tenant';
  route();
}

function setup() {
  jobs.setup(state);
  tryit.setup();
  admin.setup();
  $('#signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const k = $('#signin-key').value.trim();
    $('#signin-error').textContent = '';
    keySet(k);
    try {
      await signedIn();
      $('#signin-key').value = '';
    } catch (e) {
      keyClear();
      $('#signin-error').textContent = e.status === 401 ? 'That key is not valid.' : e.message;
    }
  });
  $('#signout').addEventListener('click', () => {
    keyClear();
    state.admin = false;
    document.body.dataset.role = '';
    overview.stop(); jobs.stop(); admin.stop();
    location.hash = '';
    signedOut();
  });
  window.addEventListener('hashchange', () => { if (keyGet()) route(); });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && keyGet()) route();
  });
  if (keyGet()) signedIn().catch((e) => { banner(e.message); keyClear(); signedOut(); });
  else signedOut();
}

setup();
