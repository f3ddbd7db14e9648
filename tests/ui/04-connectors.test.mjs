/**
 * Connectors: E2E-03 cards and sanitisation, live registration/unregistration of a standalone
 * connector, E2E-19 connector offline and back, E2E-22 error texts, and a tree with names that
 * are not UTF-8 and an unreadable folder (issue 15).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startStub, startCore, startConnector, startFakeConnector, makeTreeA, makeFlatTree, makeHostileTree, stopAll, WORK, waitFor, sleep, waitIdle } from './lib/servers.mjs';
import { scenario, goto, tid, card, shot, closeBrowser, apiRequests } from './lib/browser.mjs';
import { waitCardState, startFullScan, waitDone } from './lib/cards.mjs';

const EVIL = '<img src=x onerror="window.__xss=1">Evil & Co';
const GOOD_ICON = `data:image/svg+xml;base64,${Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#c0392b"/></svg>').toString('base64')}`;
const HOSTILE_SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=3" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" fill="red"/><image href="http://example.invalid/x.png"/></svg>';
const HUGE = `data:image/png;base64,${'A'.repeat(9000)}`;
const JS_URL = 'javascript:window.__xss=4';

let stub;
let core;
let uuidA;
let second;
let fake;

before(async () => {
  stub = await startStub({ delayMs: 150 });
  core = await startCore({ trees: [makeTreeA(path.join(WORK, 'conn-tree-a'))], stub });
  uuidA = (await core.connectors())[0].uuid;
  second = await startConnector(core, { tree: makeFlatTree(path.join(WORK, 'tree-b'), 10), name: 'second-connector', displayName: EVIL, displayIcon: GOOD_ICON });
  fake = await startFakeConnector(core, { icon: HOSTILE_SVG });
});
after(async () => { await closeBrowser(); await stopAll(); });

/** DOM facts every card check needs: on* attributes anywhere, foreign inline SVG content. */
async function domSafety(page) {
  return page.evaluate(() => {
    const onAttrs = [];
    for (const el of document.querySelectorAll('*')) for (const a of el.attributes) if (/^on/i.test(a.name)) onAttrs.push(`${el.tagName}.${a.name}`);
    const foreignSvg = [...document.querySelectorAll('svg')].filter((s) => !(s.children.length === 1 && s.firstElementChild.tagName === 'use'
      && /^static\/img\/icons\.svg#/.test(s.firstElementChild.getAttribute('href')))).length;
    return { onAttrs, foreignSvg };
  });
}

test('E2E-03 cards and sanitisation', { timeout: 90000 }, async () => {
  for (const [variant, icon] of [['svg-onload', HOSTILE_SVG], ['huge', HUGE], ['javascript', JS_URL]]) {
    await fake.setIcon(icon);
    await scenario(`E2E-03-${variant}`, core, {}, async (page) => {
      await goto(page);
      const cards = page.locator(tid('connector-card'));
      await waitFor(async () => (await cards.count()) === 3, { what: 'three cards' });
      const evil = card(page, second.uuid);
      await waitFor(async () => (await evil.locator(tid('connector-name')).textContent()) === EVIL, { what: 'evil name literal' });
      const evilImg = evil.locator(`${tid('connector-icon')} img`);
      await evilImg.waitFor();
      assert.match(await evilImg.getAttribute('src'), /^data:image\/svg\+xml/);
      const f = card(page, fake.uuid);
      await waitFor(async () => (await f.locator(tid('connector-ready')).textContent()).trim() === 'Not ready', { what: 'fake not ready' });
      await waitFor(async () => (await f.locator(tid('connector-name')).textContent()) === 'Fake & broken', { what: 'fake config loaded' });
      if (variant === 'svg-onload') {
        const img = f.locator(`${tid('connector-icon')} img`);
        await img.waitFor();
        assert.match(await img.getAttribute('src'), /^data:image\/svg\+xml/);
        await page.waitForTimeout(500); // give an injected onload every chance to run
      } else {
        assert.equal(await f.locator(`${tid('connector-icon')} img`).count(), 0, `${variant}: no <img>`);
        assert.equal(await f.locator(`${tid('connector-icon')} svg.icon use`).getAttribute('href'), 'static/img/icons.svg#plug');
      }
      const safety = await domSafety(page);
      assert.deepEqual(safety.onAttrs, [], 'no on* attributes');
      assert.equal(safety.foreignSvg, 0, 'no inline svg with connector markup');
      for (const u of [uuidA, second.uuid, fake.uuid]) {
        const c = card(page, u);
        assert.equal((await c.locator(tid('connector-uuid')).textContent()).trim(), `${u.slice(0, 8)}…`);
        assert.equal(await c.locator(tid('connector-uuid')).getAttribute('title'), u);
        assert.ok((await c.locator(tid('connector-asset')).textContent()).trim().length > 0);
        assert.ok((await c.locator(tid('connector-filter')).textContent()).trim().length > 0);
      }
      assert.equal((await card(page, uuidA).locator(tid('connector-filter')).textContent()).trim(), 'none');
      if (variant === 'svg-onload') await shot(page, '03-cards-1280.png');
    });
  }
  await fake.setIcon(HOSTILE_SVG);
});

test('live registry: a connector registering and unregistering appears and disappears', { timeout: 90000 }, async () => {
  await scenario('live-registry', core, { clock: true }, async (page) => {
    await goto(page);
    const cards = page.locator(tid('connector-card'));
    await waitFor(async () => (await cards.count()) === 3, { what: 'three cards' });
    const extra = await startConnector(core, { tree: makeFlatTree(path.join(WORK, 'tree-c'), 3), name: 'live-connector', displayName: 'Live connector' });
    // Generous: a connector process starting on a loaded 2-core machine takes a while to register.
    await waitFor(async () => (await cards.count()) === 4, { what: 'card appears live', timeout: 45000 });
    const c = card(page, extra.uuid);
    // The page's clock is frozen: let its readiness re-checks run (a connector may register
    // before its first repository check ends).
    await waitFor(async () => {
      if ((await c.getAttribute('data-ready')) === 'true') return true;
      await page.clock.runFor(2000);
      return false;
    }, { what: 'ready', timeout: 45000 });
    assert.equal((await c.locator(tid('connector-name')).textContent()), 'Live connector');
    await extra.stop('SIGTERM'); // the connector unregisters itself on SIGTERM
    await waitFor(async () => (await c.getAttribute('data-online')) === 'false', { what: 'offline', timeout: 30000 });
    await waitFor(() => page.locator(`${tid('toast')}[data-kind="warning"]`, { hasText: 'Live connector disconnected' }).count(), { what: 'warning toast' });
    await page.clock.fastForward(61000);
    await waitFor(async () => (await cards.count()) === 3, { what: 'card removed after 60 s', timeout: 5000 });
  });
});

test('E2E-19 connector offline and back', { timeout: 90000 }, async () => {
  await scenario('E2E-19', core, { clock: true }, async (page) => {
    await goto(page);
    const c = card(page, second.uuid);
    await waitFor(async () => (await c.getAttribute('data-ready')) === 'true', { what: 'second ready' });
    const model = (await core.connectors()).find((x) => x.uuid === second.uuid);
    await page.evaluate((u) => { document.querySelector(`[data-connector-uuid="${u}"]`).__marker = 'same'; }, second.uuid);
    await fetch(`${core.api}connectors/unregister/${second.uuid}`, { method: 'DELETE' });
    await waitFor(async () => (await c.getAttribute('data-online')) === 'false', { what: 'offline' });
    assert.equal((await c.locator(tid('connector-ready')).textContent()).trim(), 'Offline');
    assert.ok(await c.locator(tid('btn-full-scan')).isDisabled(), 'Full Scan disabled');
    await waitFor(() => page.locator(`${tid('toast')}[data-kind="warning"]`, { hasText: `${EVIL} disconnected` }).count(), { what: 'warning toast' });
    await shot(page, '19-offline-card-1280.png');
    const r = await fetch(`${core.api}connectors/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(model) });
    assert.ok(r.ok);
    await waitFor(async () => (await c.getAttribute('data-online')) === 'true', { what: 'online again' });
    assert.equal(await page.evaluate((u) => document.querySelector(`[data-connector-uuid="${u}"]`).__marker, second.uuid), 'same', 'same element');
    await fetch(`${core.api}connectors/unregister/${second.uuid}`, { method: 'DELETE' });
    await waitFor(async () => (await c.getAttribute('data-online')) === 'false', { what: 'offline again' });
    await page.clock.fastForward(61000);
    await waitFor(async () => (await c.count()) === 0, { what: 'card removed', timeout: 5000 });
    // Put the connector back for later scenarios.
    await fetch(`${core.api}connectors/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(model) });
  });
});

test('E2E-22 error texts', { timeout: 90000 }, async () => {
  await waitIdle(core);
  await scenario('E2E-22', core, {}, async (page) => {
    await goto(page);
    const f = card(page, fake.uuid);
    await f.waitFor();
    const resp = page.waitForResponse((r) => r.url().includes(`connectors/full_scan/${fake.uuid}`));
    await f.locator(tid('btn-full-scan')).click();
    const r = await resp;
    const body = await r.json();
    assert.ok(r.status() >= 400);
    const t = page.locator(`${tid('toast')}[data-kind="error"]`).first();
    await t.waitFor();
    const text = await t.textContent();
    assert.ok(text.includes(String(body.detail)), `toast contains the core's detail: ${text}`);
    for (const bad of ['undefined', 'null', '[object Object]']) assert.ok(!text.includes(bad), `no ${bad} in: ${text}`);
    await waitCardState(page, fake.uuid, 'idle', 2000);
    await shot(page, '22-error-toast-1280.png');

    // Pause answered 404: job forgotten, card idle. A slow scanner keeps frames away meanwhile.
    const c = card(page, uuidA);
    await startFullScan(page, uuidA);
    await waitDone(page, uuidA, 3);
    await stub.setDelay(20000);
    await sleep(300);
    await page.route('**/scan/jobs/*/pause', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"detail":"job_not_found"}' }), { times: 1 });
    await c.locator(tid('btn-pause')).click();
    await waitFor(() => page.locator(`${tid('toast')}[data-kind="warning"]`, { hasText: 'Job no longer exists' }).count(), { what: '404 toast' });
    assert.equal(await c.getAttribute('data-state'), 'idle');

    // Pause answered 409: one GET scan/jobs/{id}, then "Job is already …".
    await page.reload();
    await waitCardState(page, uuidA, 'running', 5000);
    await page.route('**/scan/jobs/*/pause', (route) => route.fulfill({ status: 409, contentType: 'application/json', body: '{"detail":"job_paused"}' }), { times: 1 });
    const t0 = Date.now();
    await c.locator(tid('btn-pause')).click();
    await waitFor(() => page.locator(`${tid('toast')}[data-kind="warning"]`, { hasText: /^Job is already running/ }).count(), { what: '409 toast' });
    assert.equal(apiRequests(page, /^scan\/jobs\/[^/]+$/, t0).length, 1, 'one GET scan/jobs/{id}');
    await stub.setDelay(150);
    const job = await c.locator(tid('job-pill')).getAttribute('title');
    await fetch(`${core.api}scan/jobs/${job}/cancel`, { method: 'POST' });
  });
});

test('issue 15: names that are not UTF-8 are scanned, an unreadable folder is shown on the job', { timeout: 90000 }, async () => {
  await waitIdle(core);
  await stub.setDelay(0);
  const tree = makeHostileTree();
  try {
    const hostile = await startConnector(core, { tree: tree.dir, name: 'hostile-connector', unprivileged: tree.base });
    await scenario('issue-15', core, {}, async (page) => {
      await goto(page);
      const c = card(page, hostile.uuid);
      await page.waitForSelector(`${tid('connector-card')}[data-connector-uuid="${hostile.uuid}"][data-ready="true"]`);
      const job = await startFullScan(page, hostile.uuid);
      await waitCardState(page, hostile.uuid, 'done', 60000);
      // Not a clean complete scan: the note and the count line say so.
      assert.match((await c.locator(tid('job-note')).textContent()).trim(), new RegExp(`^Scan complete with warnings: ${tree.files} /`));
      assert.equal((await c.locator(tid('job-unreadable')).textContent()).trim(), '1 unreadable');
      assert.match(await c.locator(tid('job-counts')).textContent(), /1 malicious/);
      await waitFor(() => page.locator(`${tid('toast')}[data-kind="warning"]`, { hasText: '1 unreadable' }).count(), { what: 'warning toast' });
      // The jobs table shows it with the failures.
      const row = page.locator(`${tid('job-row')}[data-job-id="${job}"]`);
      await waitFor(async () => /0 \+ 1 unreadable/.test(await row.textContent()), { what: 'jobs table row with the unreadable count' });
      const summary = await (await fetch(`${core.api}scan/jobs/${job}`)).json();
      assert.equal(summary.unreadable_count, '1');
      assert.equal(summary.processed_count, String(tree.files));
    });
  } finally {
    tree.remove();
  }
});
