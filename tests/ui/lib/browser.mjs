/**
 * Browser side of the UI end-to-end tests (docs/reference/UI.md, "Browser scenarios"): Debian's
 * Chromium driven by playwright-core (no browser download), contexts with fixed
 * locale/timezone/motion settings, recorders for requests, console, page errors, CSP violations and
 * dialogs, the common assertions of every scenario, and screenshots.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO } from './servers.mjs';

export const SHOT_DIR = path.resolve(REPO, process.env.SCREENSHOT_DIR || 'target/e2e/screenshots');
export const DOCS_SHOT_DIR = path.join(REPO, 'docs', 'screenshots');
fs.mkdirSync(SHOT_DIR, { recursive: true });

/** Chromium launch flags ("Browser scenarios"; also used by the benchmark's lean driver, cdp.mjs). */
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser = null;

/** One browser per test file; Playwright gives it a fresh temporary profile (user-data-dir). */
export async function getBrowser() {
  if (!browser) {
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS, headless: true });
  }
  return browser;
}

export async function closeBrowser() {
  if (browser) await browser.close();
  browser = null;
}

/**
 * Content types the UI needs. A core whose disk override (DSXCONNECT_UI__STATIC_DIR) serves
 * `.js`/`.css`/`.svg` as application/octet-stream breaks the page under `nosniff`; U-03 reports
 * that as a failure, and with UI_MIME_SHIM=1 the browser tests patch the header so the remaining
 * scenarios can still run (never the default).
 */
const TYPES = { js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml', png: 'image/png', html: 'text/html' };

/** A context + page with recorders attached. `opts`: viewport, colorScheme, storageState, … */
export async function openPage(core, opts = {}) {
  const b = await getBrowser();
  const { clock, bypassCSP, ...ctxOpts } = opts;
  const context = await b.newContext({
    locale: 'en-US', timezoneId: 'UTC', reducedMotion: 'reduce', viewport: { width: 1280, height: 800 },
    bypassCSP: !!bypassCSP, ...ctxOpts,
  });
  if (process.env.UI_MIME_SHIM === '1') {
    await context.route('**/static/**', async (route) => {
      const resp = await route.fetch();
      const ext = route.request().url().split('?')[0].split('.').pop();
      await route.fulfill({ response: resp, headers: { ...resp.headers(), 'content-type': TYPES[ext] || resp.headers()['content-type'] } });
    });
  }
  const page = await context.newPage();
  const rec = { requests: [], responses: [], console: [], errors: [], dialogs: [], origin: new URL(core.base).origin };
  page.on('request', (r) => rec.requests.push({ url: r.url(), method: r.method(), t: Date.now() }));
  page.on('response', (r) => rec.responses.push({ url: r.url(), status: r.status(), t: Date.now() }));
  page.on('console', (m) => rec.console.push({ type: m.type(), text: m.text(), url: m.location()?.url || '' }));
  page.on('pageerror', (e) => rec.errors.push(String(e && e.stack || e)));
  page.on('dialog', (d) => { rec.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  // Init scripts are exempt from the page's CSP: they record CSP violations for the assertions.
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  if (clock) await page.clock.install(clock === true ? {} : clock);
  page.rec = rec;
  page.core = core;
  return page;
}

export async function goto(page, query = '') {
  await page.goto(page.core.base + query);
  await page.waitForSelector('[data-testid="connectors-grid"]', { state: 'attached' });
}

/** API requests matching `pattern` (a string contained in the path after the API base, or a RegExp). */
export function apiRequests(page, pattern, since = 0) {
  const api = `${page.core.base}dsx-connect/api/v1/`;
  return page.rec.requests.filter((r) => r.t >= since && r.url.startsWith(api)
    && (pattern instanceof RegExp ? pattern.test(r.url.slice(api.length)) : r.url.slice(api.length).startsWith(pattern)));
}

/**
 * Console errors that count. Chromium logs "Failed to load resource" for every non-2xx answer,
 * including API answers the UI handles on purpose (503 readyz, 404 docs probe, 409/404 control);
 * those are only counted when they concern a static asset of the page.
 */
export function consoleErrors(page) {
  const api = `${page.core.base}dsx-connect/api/v1/`;
  return page.rec.console.filter((m) => m.type === 'error'
    && !(m.text.startsWith('Failed to load resource') && (m.url.startsWith(api) || m.url === `${page.core.base}docs`)));
}

/** docs/reference/UI.md, "Browser scenarios": assertions every scenario ends with. */
export async function commonAssertions(page) {
  const rec = page.rec;
  const foreign = rec.requests.filter((r) => !r.url.startsWith(rec.origin) && !r.url.startsWith('data:'));
  assert.deepEqual(foreign.map((r) => r.url), [], 'every request goes to the core origin');
  assert.deepEqual(rec.errors, [], 'no page errors');
  assert.deepEqual(consoleErrors(page).map((m) => `${m.text} ${m.url}`), [], 'no console errors');
  if (!page.isClosed()) {
    const csp = await page.evaluate(() => window.__csp || []);
    assert.deepEqual(csp, [], 'no CSP violations');
    assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined', 'no injected script ran');
  }
  assert.deepEqual(rec.dialogs, [], 'no alert/confirm dialogs');
}

/** A screenshot under target/e2e/screenshots/ (and optionally a compact copy for docs/). */
export async function shot(page, name, { fullPage = false, docs = null } = {}) {
  await page.screenshot({ path: path.join(SHOT_DIR, name), fullPage, animations: 'disabled', caret: 'hide' });
  if (docs && process.env.DOCS_SCREENSHOTS !== '0') {
    fs.mkdirSync(DOCS_SHOT_DIR, { recursive: true });
    const file = path.join(DOCS_SHOT_DIR, docs);
    await page.screenshot({ path: file, fullPage: false, animations: 'disabled', caret: 'hide' });
    // Small files for the repository: palette-compress when pngquant is installed (optional).
    if (fs.existsSync('/usr/bin/pngquant')) {
      spawnSync('/usr/bin/pngquant', ['--force', '--skip-if-larger', '--quality=65-90', '--strip', '--output', file, file]);
    }
  }
}

/** Saves the failure artifacts of a scenario (screenshot, HTML, console log). */
export async function failArtifacts(page, scenario) {
  try {
    if (page.isClosed()) return;
    await page.screenshot({ path: path.join(SHOT_DIR, `FAIL-${scenario}.png`), fullPage: true });
    fs.writeFileSync(path.join(SHOT_DIR, `FAIL-${scenario}.html`), await page.content());
    fs.writeFileSync(path.join(SHOT_DIR, `FAIL-${scenario}.console.txt`),
      [...page.rec.console.map((m) => `${m.type}: ${m.text} ${m.url}`), ...page.rec.errors.map((e) => `pageerror: ${e}`)].join('\n'));
  } catch { /* best effort */ }
}

/** Runs a scenario body with its page, saving artifacts on failure and closing the context. */
export async function scenario(name, core, opts, body) {
  const page = await openPage(core, opts);
  try {
    await body(page);
    await commonAssertions(page);
  } catch (err) {
    await failArtifacts(page, name);
    throw err;
  } finally {
    await page.context().close().catch(() => {});
  }
}

export const tid = (id) => `[data-testid="${id}"]`;
export const card = (page, uuid) => page.locator(`${tid('connector-card')}[data-connector-uuid="${uuid}"]`);

/** Numbers of a progress text such as `12 / 205 files (5.9%)`. */
export function parseProgress(text) {
  const m = /([\d,]+) \/ ([\d,]+) files/.exec(text || '');
  return m ? { done: Number(m[1].replace(/,/g, '')), total: Number(m[2].replace(/,/g, '')) } : null;
}
