/**
 * HTTP access to the core API (UI.md §3.1). Every URL is relative to the document base so the
 * page works under a reverse-proxy prefix (§1.4); every request has a 15 s timeout; error texts
 * follow F-16.4 and never read `undefined`, `null` or `[object Object]`.
 */

export const API_BASE = new URL('dsx-connect/api/v1/', document.baseURI);
const TIMEOUT_MS = 15000;

/** Absolute URL of an API path such as `scan/jobs` (no leading slash). */
export function apiUrl(path, params) {
  const url = new URL(path, API_BASE);
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && v !== undefined && v !== '') url.searchParams.set(k, String(v));
    }
  }
  return url;
}

/** A failed request: `reason` is the human-readable F-16.4 text, `status` 0 for network/timeout. */
export class ApiError extends Error {
  constructor(reason, status = 0, body = null) {
    super(reason);
    this.reason = reason;
    this.status = status;
    this.body = body;
  }
}

/**
 * Performs a request. Resolves to `{ok, status, headers, body}` for any HTTP answer (body parsed
 * as JSON when possible, else text); rejects with ApiError only for network failures/timeouts.
 */
export async function request(path, { method = 'GET', params, timeout = TIMEOUT_MS, base } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  const url = base ? new URL(path, base) : apiUrl(path, params);
  let res;
  try {
    // State-changing calls say they are not a cross-site form (the core's CSRF rule).
    const headers = method === 'GET' || method === 'HEAD' ? { Accept: 'application/json' } : { Accept: 'application/json', 'X-DSX-CSRF': '1' };
    res = await fetch(url, { method, signal: ctrl.signal, headers, cache: 'no-store' });
  } catch (err) {
    clearTimeout(timer);
    throw new ApiError(ctrl.signal.aborted ? 'request timed out' : 'cannot reach the server');
  }
  let text = '';
  try {
    text = await res.text();
  } catch {
    clearTimeout(timer);
    throw new ApiError(ctrl.signal.aborted ? 'request timed out' : 'cannot reach the server');
  }
  clearTimeout(timer);
  let body = text;
  if (text) {
    try { body = JSON.parse(text); } catch { body = text; }
  } else {
    body = null;
  }
  return { ok: res.ok, status: res.status, statusText: res.statusText, headers: res.headers, body };
}

/** GET/POST/DELETE that resolves to the JSON body of a 2xx answer and rejects with ApiError otherwise. */
export async function fetchJson(path, opts) {
  const res = await request(path, opts);
  if (!res.ok) throw new ApiError(reasonOf(res), res.status, res.body);
  return res.body;
}

const isText = (v) => typeof v === 'string' && v.trim() !== '' && v !== 'undefined' && v !== 'null';

/**
 * The reason of a non-2xx answer (F-16.4): `detail` string; else the `msg`s of a `detail` array;
 * else `message`; else `description`; else `HTTP <status> <statusText>`.
 */
export function reasonOf(res) {
  const b = res.body;
  if (b && typeof b === 'object' && !Array.isArray(b)) {
    if (isText(b.detail)) return b.detail;
    if (Array.isArray(b.detail)) {
      const msgs = b.detail.map((d) => (d && isText(d.msg) ? d.msg : null)).filter(Boolean);
      if (msgs.length) return msgs.join('; ');
    }
    if (isText(b.message)) return b.message;
    if (isText(b.description)) return b.description;
  }
  return `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
}

/** The reason of anything thrown by request()/fetchJson(), for toasts. */
export function errorText(err) {
  if (err instanceof ApiError) return err.reason;
  return 'unexpected error';
}
