/**
 * HTTP access to the core API (docs/reference/UI.md, "HTTP calls"). Every URL is relative to the
 * document base so the page works under a reverse-proxy prefix ("Relative addresses"); every
 * request has a 15 s timeout; error texts follow F-16.4 and never read `undefined`, `null` or
 * `[object Object]`.
 *
 * Sessions (docs/AUTH.md, "Sessions"): every state-changing call carries `X-DSX-CSRF` — the
 * session's CSRF token, kept in this module's memory only (never in storage), or a constant marker
 * when authentication is off — and a body is always JSON. A `401 not_authenticated|session_expired`
 * hands over to the sign-in page through the handler auth.js installs.
 */
import { minRoleFor } from './roles.js';

export const API_BASE = new URL('dsx-connect/api/v1/', document.baseURI);
const TIMEOUT_MS = 15000;
const SESSION_GONE = new Set(['not_authenticated', 'session_expired']);

let csrfToken = null;
let onSessionGone = null;

/** The CSRF token of the current session (null: auth off or signed out). Memory only. */
export function setCsrfToken(token) {
  csrfToken = typeof token === 'string' && token ? token : null;
}

/** Installs the handler of an API answer saying the session is missing or over. */
export function onUnauthenticated(fn) {
  onSessionGone = fn;
}

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
 * Performs a request; `json` is sent as the JSON body. Resolves to `{ok, status, headers, body,
 * minRole}` for any HTTP answer (body parsed as JSON when possible, else text); rejects with
 * ApiError only for network failures/timeouts. `quiet401` leaves a 401 to the caller (sign-in).
 */
export async function request(path, { method = 'GET', params, timeout = TIMEOUT_MS, base, json, quiet401 = false } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  const url = base ? new URL(path, base) : apiUrl(path, params);
  let res;
  try {
    const headers = { Accept: 'application/json' };
    // State-changing calls prove they come from this page (the core's CSRF rule, docs/AUTH.md,
    // "Browsers: Host and CSRF checks").
    if (method !== 'GET' && method !== 'HEAD') headers['X-DSX-CSRF'] = csrfToken || '1';
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    }
    res = await fetch(url, { method, signal: ctrl.signal, headers, body, cache: 'no-store', credentials: 'same-origin' });
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
  const detail = body && typeof body === 'object' ? body.detail : null;
  if (res.status === 401 && !quiet401 && SESSION_GONE.has(detail) && onSessionGone) onSessionGone(detail);
  const minRole = res.status === 403 && detail === 'insufficient_role' ? minRoleFor(method, base ? '' : path) : null;
  return { ok: res.ok, status: res.status, statusText: res.statusText, headers: res.headers, body, minRole };
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
 * else `message`; else `description`; else `HTTP <status> <statusText>`. A `403
 * insufficient_role` reads `Needs role <least role of the route>`.
 */
export function reasonOf(res) {
  const b = res.body;
  if (res.minRole) return `Needs role ${res.minRole}`;
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
