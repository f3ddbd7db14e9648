/**
 * E2E-01 offline load, E2E-02 version fallback, E2E-17 theme, E2E-23 empty and degraded states;
 * the header's engine line and the built-in engine's "Test engine" badge (issue 15).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startStub, startCore, makeTreeA, stopAll, WORK, waitFor } from './lib/servers.mjs';
import { scenario, goto, tid, shot, closeBrowser, apiRequests } from './lib/browser.mjs';

let stub;
let core;

before(async () => {
  stub = await startStub({ delayMs: 20 });
  core = await startCore({ trees: [makeTreeA(path.join(WORK, 'load-tree-a'))], stub });
});
after(async () => { await closeBrowser(); await stopAll(); });

const EXPECTED_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

test('E2E-01 offline load', { timeout: 60000 }, async () => {
  await scenario('E2E-01', core, {}, async (page) => {
    const resp = await page.goto(core.base);
    const headers = resp.headers();
    assert.equal(resp.status(), 200);
    assert.equal(headers['content-security-policy'], EXPECTED_CSP);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    // Authentication off (the default here): no sign-in, a visible "Authentication is off" badge
    // explaining protected mode, no user or Sign out, every control of the admin role shown.
    assert.equal(page.url(), core.base, 'no sign-in page with authentication off');
    assert.ok(await page.locator(tid('auth-off-badge')).isVisible(), '"Authentication is off" shown');
    assert.match(await page.locator(tid('auth-off-badge')).textContent(), /Authentication is off/);
    assert.match(await page.locator(tid('auth-off-badge')).getAttribute('title'), /protected mode.*loopback/);
    assert.equal(await page.locator(tid('user-chip')).isVisible(), false);
    assert.equal(await page.locator(tid('sign-out')).isVisible(), false);
    assert.ok(await page.locator(tid('btn-full-scan')).isVisible(), 'Full Scan shown');
    assert.ok(await page.locator(tid('admin-button')).isVisible(), 'Admin shown');
    const login = await fetch(`${core.base}login`);
    assert.equal(login.status, 200);
    assert.equal(login.headers.get('content-security-policy'), EXPECTED_CSP);
    // Sprite icons render: a <use> whose symbol did not load has an empty box.
    await waitFor(() => page.evaluate(() => {
      const use = document.querySelector('.brand-logo use');
      const box = use.getBBox();
      return box.width > 0 && box.height > 0;
    }), { what: 'sprite icon rendered', timeout: 5000 });
    const fav = await page.evaluate(async () => {
      const out = [];
      for (const l of document.querySelectorAll('link[rel~="icon"]')) {
        const r = await fetch(l.href);
        out.push([r.status, r.headers.get('content-type')]);
      }
      return out;
    });
    assert.ok(fav.length >= 2 && fav.every(([s, t]) => s === 200 && /^image\//.test(t)), `favicons: ${JSON.stringify(fav)}`);
    const meta = await core.json('meta');
    await waitFor(async () => (await page.locator(tid('version-badge')).textContent()) === `v${meta.version}`, { what: 'version badge' });
    await waitFor(async () => (await page.locator(tid('scanner-status')).getAttribute('data-state')) === 'ok', { what: 'scanner ok' });
    assert.match(await page.locator(tid('scanner-status')).textContent(), /Scanner connected/);
    // The active engine from /meta; DSXA reports no version, and it is not a test engine.
    assert.equal(meta.engine.name, 'dsxa');
    await waitFor(async () => (await page.locator(tid('engine-name')).textContent()) === 'Engine: dsxa', { what: 'engine line' });
    assert.equal(await page.locator(tid('engine-name')).getAttribute('title'), 'Engine: dsxa (version not reported by the engine)');
    assert.equal(await page.locator(tid('test-engine-badge')).isVisible(), false, 'no test-engine badge for DSXA');
    assert.equal(await page.locator(tid('dlq-count')).textContent(), '0');
    // Only relative URLs: every API request is under <base>dsx-connect/api/v1/.
    await shot(page, '01-home-light-1280.png', { docs: 'idle-1280.png' });
    // With authentication off the login page goes straight to the UI.
    await page.goto(`${core.base}login`);
    await page.waitForURL(core.base);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    const errorsBefore = page.rec.errors.length;
    await page.goto('about:blank');
    await page.waitForTimeout(300);
    assert.equal(page.rec.errors.length, errorsBefore, 'navigating away throws nothing');
  });
});

test('the built-in engine is labelled a test engine in the header', { timeout: 90000 }, async () => {
  const builtin = await startCore({ env: { DSXCONNECT_SCANNER__ENGINE: 'embedded' } });
  try {
    await scenario('E2E-engine', builtin, {}, async (page) => {
      await page.goto(builtin.base);
      const meta = await builtin.json('meta');
      assert.equal(meta.engine.test_engine, true);
      assert.match(meta.engine.version, /^builtin-test /);
      await waitFor(async () => (await page.locator(tid('engine-name')).textContent()) === `Engine: embedded (${meta.engine.version})`, { what: 'engine line' });
      const badge = page.locator(tid('test-engine-badge'));
      await waitFor(() => badge.isVisible(), { what: 'test-engine badge' });
      assert.match(await badge.textContent(), /Test engine/);
      assert.match(await badge.getAttribute('title'), /only the EICAR test file and the SHA-256 hash list/);
    });
  } finally {
    await builtin.stop();
  }
});

test('E2E-02 version fallback', { timeout: 60000 }, async () => {
  await scenario('E2E-02', core, {}, async (page) => {
    await page.route('**/dsx-connect/api/v1/meta', (r) => r.fulfill({ status: 500, contentType: 'application/json', body: '{"detail":"boom"}' }));
    await goto(page);
    const version = JSON.parse(await (await fetch(`${core.api}version`)).text());
    await waitFor(async () => (await page.locator(tid('version-badge')).textContent()) === `v${version}`, { what: 'fallback badge' });
    assert.ok(!(await page.locator(tid('version-badge')).textContent()).includes('"'));
    await page.route('**/dsx-connect/api/v1/version', (r) => r.fulfill({ status: 200, contentType: 'application/json', body: '"0.0.0"' }));
    await page.reload();
    await page.waitForSelector(tid('connector-card'));
    await page.waitForTimeout(500);
    assert.equal(await page.locator(tid('version-badge')).isVisible(), false, 'badge hidden for 0.0.0');
  });
});

test('E2E-17 theme', { timeout: 60000 }, async () => {
  await scenario('E2E-17', core, { colorScheme: 'dark' }, async (page) => {
    await goto(page);
    await page.waitForSelector(tid('connector-card'));
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    const toggle = page.locator(tid('theme-toggle'));
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    assert.equal(await toggle.getAttribute('aria-label'), 'Switch to light theme');
    await page.waitForTimeout(1500);
    await shot(page, '17-home-dark-1280.png', { docs: 'dark-1280.png' });
    const n = page.rec.requests.length;
    await toggle.click();
    await page.waitForTimeout(500);
    assert.equal(page.rec.requests.length, n, 'toggling makes no request');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    assert.equal(await page.evaluate(() => localStorage.getItem('dsx.theme')), 'light');
    assert.equal(await toggle.getAttribute('aria-label'), 'Switch to dark theme');
    await page.reload();
    await page.waitForSelector(tid('connector-card'));
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    await shot(page, '17-home-light-1280.png');
  });
});

test('E2E-23 empty and degraded states', { timeout: 90000 }, async () => {
  const stub2 = await startStub({ delayMs: 0 });
  const empty = await startCore({ trees: [], stub: stub2 });
  try {
    await scenario('E2E-23', empty, { clock: true }, async (page) => {
      await goto(page);
      await waitFor(() => page.locator(tid('connectors-empty')).isVisible(), { what: 'connectors empty' });
      assert.equal((await page.locator(tid('connectors-empty')).textContent()).trim(), 'No connectors registered.');
      await waitFor(() => page.locator(tid('results-empty')).isVisible(), { what: 'results empty' });
      assert.equal((await page.locator(tid('results-empty')).textContent()).trim(), 'No scan results yet.');
      await waitFor(async () => (await page.locator(tid('scanner-status')).getAttribute('data-state')) === 'ok', { what: 'scanner ok' });
      await shot(page, '23-empty-1280.png');

      await stub2.stop();
      const before = apiRequests(page, 'test/dsxa-connection').length;
      await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
      await waitFor(async () => (await page.locator(tid('scanner-status')).getAttribute('data-state')) === 'error', { what: 'scanner error', timeout: 20000 });
      assert.ok(apiRequests(page, 'test/dsxa-connection').length > before, 'visibilitychange refreshed the status');
      const text = (await page.locator(`${tid('scanner-status')} .scanner-text`).textContent()).trim();
      assert.match(text, /^Scanner not connected: /);
      const msg = text.slice('Scanner not connected: '.length);
      assert.ok(msg.length <= 81, `message ≤ 80 chars + …: ${msg.length}`);
      if (msg.length === 81) assert.ok(msg.endsWith('…'));
      assert.ok((await page.locator(tid('scanner-status')).getAttribute('title')).length >= msg.length - 1, 'full text in tooltip');
      await shot(page, '23-scanner-down-1280.png');

      const restarted = await startStub({ delayMs: 0, port: stub2.port });
      try {
        await page.clock.fastForward(61000);
        await waitFor(async () => (await page.locator(tid('scanner-status')).getAttribute('data-state')) === 'ok', { what: 'scanner ok after 60 s', timeout: 20000 });
      } finally {
        await restarted.stop();
      }
    });
  } finally {
    await empty.stop();
  }
});
