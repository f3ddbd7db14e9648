/**
 * Single sign-on in real Chromium (docs/AUTH.md, "Single sign-on") against a real OpenID provider on loopback
 * (tests/oidc: panva's oidc-provider), with authentication on:
 *   OIDC-01 the login page offers single sign-on; alice (group dsx-admins) signs in at the
 *           provider and lands in the UI as an admin;
 *   OIDC-02 nora (no mapped group) ends on the login page with the "no role" explanation, and
 *           has no session;
 *   OIDC-03 a state changed on the way back and a nonce changed on the way out are both
 *           rejected (login page, "single sign-on failed"), without a session.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startCore, stopAll, freePort, waitFor, REPO } from './lib/servers.mjs';
import { openPage, tid, closeBrowser } from './lib/browser.mjs';
import { AUTH_ENV } from './lib/auth.mjs';

let core;
let provider;
let issuer;

/** Starts tests/oidc/provider.mjs with one confidential client; resolves with its issuer. */
function startProvider(callback) {
  const clients = [{ client_id: 'dsx-ui', client_secret: 'ui-client-secret-0123', redirect_uris: [callback] }];
  provider = spawn('node', [path.join(REPO, 'tests/oidc/provider.mjs')], {
    env: { ...process.env, OIDC_CLIENTS: JSON.stringify(clients) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    provider.stdout.on('data', (d) => {
      out += d;
      const m = /OIDC_READY (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    provider.on('exit', (code) => reject(new Error(`the OIDC provider exited (${code}): run scripts/setup.sh`)));
  });
}

before(async () => {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/dsx-connect/api/v1/auth/oidc/callback`;
  issuer = await startProvider(callback);
  core = await startCore({
    port,
    env: {
      ...AUTH_ENV,
      DSXCONNECT_AUTH__OIDC__ISSUER: issuer,
      DSXCONNECT_AUTH__OIDC__CLIENT_ID: 'dsx-ui',
      DSXCONNECT_AUTH__OIDC__CLIENT_SECRET: 'ui-client-secret-0123',
      DSXCONNECT_AUTH__OIDC__REDIRECT_URL: callback,
      DSXCONNECT_AUTH__OIDC__ROLE_MAP: 'dsx-admins=admin,dsx-operators=operator',
    },
  });
});
after(async () => {
  await closeBrowser();
  await stopAll();
  provider?.kill();
});

/** From the login page through the provider's form; resolves after the form is submitted. */
async function signInAtProvider(page, username) {
  await page.goto(`${core.base}login`);
  await page.locator(tid('login-sso')).waitFor({ state: 'visible' });
  await page.locator(tid('login-sso-button')).click();
  await page.waitForURL((u) => u.href.startsWith(issuer), { timeout: 20000 });
  await page.locator('#username').fill(username);
  await page.locator('#password').fill('correct horse battery');
  await page.locator('#login').click();
}

async function loginMessage(page) {
  await page.waitForURL((u) => u.pathname === '/login', { timeout: 20000 });
  const msg = page.locator(tid('login-message'));
  await waitFor(async () => ((await msg.textContent()) || '').trim().length > 0, { what: 'login message', timeout: 10000 });
  return msg.textContent();
}

async function session(page) {
  return page.evaluate(async () => (await fetch('dsx-connect/api/v1/auth/session')).json());
}

test('OIDC-01 an admin signs in through the provider', { timeout: 90000 }, async () => {
  const page = await openPage(core);
  try {
    await signInAtProvider(page, 'alice');
    await page.waitForURL(core.base, { timeout: 20000 });
    await waitFor(async () => (await page.locator(tid('user-name')).textContent()) === 'alice', { what: 'alice in the header', timeout: 15000 });
    assert.match(await page.locator(tid('user-role')).textContent(), /admin/);
    const s = await session(page);
    assert.equal(s.method, 'oidc');
    assert.equal(s.role, 'admin');
    assert.equal(await page.locator(tid('admin-button')).isVisible(), true);
    assert.deepEqual(page.rec.errors, [], 'no page errors');
  } finally {
    await page.context().close();
  }
});

test('OIDC-02 a user with no mapped group gets the no-role page', { timeout: 90000 }, async () => {
  const page = await openPage(core);
  try {
    await signInAtProvider(page, 'nora');
    const msg = await loginMessage(page);
    assert.match(msg, /no role/i);
    assert.equal((await session(page)).authenticated, false);
    const refused = page.rec.responses.find((r) => r.url.includes('/auth/oidc/callback'));
    assert.equal(refused?.status, 403);
  } finally {
    await page.context().close();
  }
});

/**
 * Starts a sign-in the way the SSO button does, but through the context's request API (which
 * shares the browser's cookies) so the provider URL can be changed before the browser goes there.
 */
async function providerUrl(page) {
  const r = await page.context().request.get(`${core.api}auth/oidc/login`, { maxRedirects: 0 });
  assert.equal(r.status(), 302);
  return new URL(r.headers().location);
}

async function loginAt(page, url, username) {
  await page.goto(url);
  await page.locator('#username').fill(username);
  await page.locator('#password').fill('correct horse battery');
  await page.locator('#login').click();
}

test('OIDC-03 a tampered state or nonce is rejected', { timeout: 120000 }, async () => {
  // The state coming back is not the one this browser started with.
  let page = await openPage(core);
  try {
    const url = await providerUrl(page);
    await page.context().addCookies([{ name: 'dsx_oidc', value: 'A'.repeat(43), url: core.base }]);
    await loginAt(page, url.href, 'oscar');
    assert.match(await loginMessage(page), /single sign-on failed/i);
    assert.equal((await session(page)).authenticated, false);
  } finally {
    await page.context().close();
  }
  // The nonce sent to the provider is not the one the core stored.
  page = await openPage(core);
  try {
    const url = await providerUrl(page);
    url.searchParams.set('nonce', 'B'.repeat(43));
    await loginAt(page, url.href, 'oscar');
    assert.match(await loginMessage(page), /single sign-on failed/i);
    assert.equal((await session(page)).authenticated, false);
    const refused = page.rec.responses.find((r) => r.url.includes('/auth/oidc/callback'));
    assert.equal(refused?.status, 401);
  } finally {
    await page.context().close();
  }
});
