/**
 * Authentication helpers of the UI tests (docs/AUTH.md, "Sessions"; docs/UI.md, "Administration"):
 * the environment of a core with authentication on and a bootstrap admin, an API session for the
 * harness (cookie + CSRF token, like a browser), signing in through the UI's login page, and a
 * second HTTP server on another loopback port that serves an "attacker" page for the CSRF
 * scenarios.
 */
import http from 'node:http';
import { freePort, waitFor } from './servers.mjs';
import { tid } from './browser.mjs';

export const ADMIN = { username: 'admin', password: 'admin-password-1234' };

/** Core environment: auth on, a bootstrap admin, audit refusals coalesced over 1 s (not 60). */
export const AUTH_ENV = {
  DSXCONNECT_AUTH__ENABLED: 'true',
  DSXCONNECT_AUTH__BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
  DSXCONNECT_AUTH__BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
  DSXCONNECT_AUTH__AUDIT_COALESCE_SECS: '1',
};

/**
 * Signs in over the API (as the login page does) and returns a session whose `call(path, init)`
 * sends the cookie, the CSRF token and JSON bodies.
 */
export async function apiSession(core, { username, password }) {
  const r = await fetch(`${core.api}auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }),
  });
  if (r.status !== 200) throw new Error(`login ${username}: HTTP ${r.status} ${await r.text()}`);
  const body = await r.json();
  const cookie = r.headers.get('set-cookie').split(';')[0];
  const call = async (path, { method = 'GET', json, headers = {} } = {}) => {
    const h = { cookie, ...headers };
    if (method !== 'GET') h['x-dsx-csrf'] = body.csrf_token;
    if (json !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(core.api + path, { method, headers: h, body: json === undefined ? undefined : JSON.stringify(json) });
    const text = await res.text();
    let parsed = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* text */ }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return { cookie, csrf: body.csrf_token, role: body.role, user: body.user, call };
}

/** Waits until the core lists `n` connectors (read through `session`); returns the list. */
export async function waitConnectors(session, n = 1) {
  return waitFor(async () => {
    const r = await session.call('connectors/list');
    return r.status === 200 && r.body.length >= n ? r.body : null;
  }, { timeout: 30000, what: `${n} connector(s) listed` });
}

/** Signs in through the login page; resolves when the UI shows the user in the header. */
export async function uiLogin(page, { username, password }) {
  const base = page.core.base;
  if (!page.url().startsWith(`${base}login`)) await page.goto(`${base}login`);
  await page.locator(tid('login-username')).fill(username);
  await page.locator(tid('login-password')).fill(password);
  await page.locator(tid('login-submit')).click();
  await page.waitForURL(base, { timeout: 20000 });
  await waitFor(async () => (await page.locator(tid('user-name')).textContent()) === username, { what: `${username} in the header`, timeout: 10000 });
}

/** Audit records through an admin session (all pages up to `max`). */
export async function auditRecords(session, params = {}, max = 1000) {
  const q = new URLSearchParams({ limit: String(Math.min(max, 1000)), ...params });
  const r = await session.call(`admin/audit?${q}`);
  if (r.status !== 200) throw new Error(`audit: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.items;
}

/** A plain page on another loopback port: the origin of cross-origin/cross-site attacks. */
export async function startAttacker() {
  const port = await freePort();
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><head><title>attacker</title></head><body><p>attacker page</p></body></html>');
  });
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { port, origin: (host) => `http://${host}:${port}`, close: () => new Promise((r) => srv.close(r)) };
}
