// api.js: the dashboard's only way to the API.  The key lives in
// sessionStorage (this tab only) and travels as an Authorization header;
// it is never put in a URL, a cookie or localStorage.
const KEY = 'vkv.key';

export function keyGet() { return sessionStorage.getItem(KEY); }
export function keySet(k) { sessionStorage.setItem(KEY, k); }
export function keyClear() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

function headers(extra) {
  const h = new Headers(extra || {});
  const k = keyGet();
  if (k) h.set('Authorization', 'Bearer ' + k);
  return h;
}

async function fail(res) {
  let code = '', msg = '';
  try {
    const j = await res.json();
    code = j.error && j.error.code;
    msg = j.error && j.error.message;
  } catch (_) { /* not JSON */ }
  throw new ApiError(res.status, code, msg || `${res.status} ${res.statusText}`);
}

// GET path (with query built from params, empty values left out) -> JSON
export async function get(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {}))
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  const res = await fetch(u, { headers: headers(), cache: 'no-store' });
  if (!res.ok) await fail(res);
  return res.json();
}

// GET path -> Blob (images); null for 204 No Content
export async function getBlob(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {}))
    if (v) u.searchParams.set(k, v);
  const res = await fetch(u, { headers: headers(), cache: 'no-store' });
  if (!res.ok) await fail(res);
  if (res.status === 204) return null;
  return res.blob();
}

export async function post(path, body) {
  const isForm = body instanceof FormData;
  const res = await fetch(new URL(path, location.origin), {
    method: 'POST',
    headers: headers(isForm || body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: isForm ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) await fail(res);
  return res.json();
}

// Follows a job's server-sent events (GET /v1/jobs/ID/events) through
// fetch, since EventSource cannot send the Authorization header.  Calls
// onEvent(name, job) for each event; resolves with the last job when the
// stream ends.  signal aborts it.
export async function followJob(id, onEvent, signal) {
  const res = await fetch(new URL(`/v1/jobs/${encodeURIComponent(id)}/events`, location.origin),
                          { headers: headers({ Accept: 'text/event-stream' }), signal });
  if (!res.ok) await fail(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '', last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      if (!data) continue;
      let job = null;
      try { job = JSON.parse(data); } catch (_) { continue; }
      last = job;
      onEvent(name, job);
    }
  }
  return last;
}
