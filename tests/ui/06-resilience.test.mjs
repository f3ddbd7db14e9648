/**
 * E2E-18 connection lost and restored: the core is killed (SIGKILL) and restarted on the same
 * port and data directory; the banner shows and hides, the page resynchronises once, and live
 * updates flow through the two new streams.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startStub, startCore, makeTreeA, stopAll, WORK, waitFor, sleep } from './lib/servers.mjs';
import { scenario, goto, tid, card, shot, closeBrowser, apiRequests } from './lib/browser.mjs';
import { waitCardState, waitDone, startFullScan } from './lib/cards.mjs';

let stub;
let core;

before(async () => {
  stub = await startStub({ delayMs: 100 });
  core = await startCore({ trees: [makeTreeA(path.join(WORK, 'res-tree-a'))], stub });
});
after(async () => { await closeBrowser(); await stopAll(); });

test('E2E-18 connection lost and restored', { timeout: 90000 }, async () => {
  await scenario('E2E-18', core, {}, async (page) => {
    await goto(page);
    const uuid = (await core.connectors())[0].uuid;
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    await waitFor(() => page.evaluate(() => window.dsxUi.streams().every((s) => s.state === 'open')), { what: 'streams open' });
    const banner = page.locator(tid('conn-banner'));
    assert.equal(await banner.isVisible(), false);

    const tKill = Date.now();
    await core.stop('SIGKILL');
    await waitFor(() => banner.isVisible(), { timeout: 5000, what: 'banner within 5 s of the kill' });
    assert.match(await banner.textContent(), /Live updates disconnected — reconnecting…/);
    assert.ok(Date.now() - tKill <= 5500);
    await shot(page, '18-banner-1280.png');
    await sleep(Math.max(0, 5000 - (Date.now() - tKill)));

    // Taken before the restart: the browser may reconnect while restart() is still waiting.
    const tUp = Date.now();
    await core.restart();
    await waitFor(async () => !(await banner.isVisible()), { timeout: 10000, what: 'banner hidden within 10 s of the restart' });
    await waitFor(() => page.locator(`${tid('toast')}[data-kind="success"]`, { hasText: 'Live updates restored' }).count(), { what: 'restored toast' });
    await sleep(1500);
    for (const p of [/^connectors\/list$/, /^scan\/jobs$/, /^admin\/dead-letter\/stats$/, /^test\/dsxa-connection$/]) {
      assert.equal(apiRequests(page, p, tUp).length, 1, `one resync request ${p}`);
    }
    const states = await page.evaluate(() => window.dsxUi.streams());
    assert.equal(states.length, 2);
    assert.ok(states.every((s) => s.state === 'open'), JSON.stringify(states));
    const sseOk = page.rec.responses.filter((r) => r.t >= tUp && /subscribe\//.test(r.url) && r.status === 200);
    assert.equal(sseOk.length, 2, 'exactly two event streams opened after the restart');

    const uuidNow = (await core.connectors())[0].uuid;
    assert.equal(uuidNow, uuid, 'the built-in connector kept its uuid');
    await card(page, uuid).locator(tid('btn-full-scan')).waitFor();
    await waitFor(async () => (await card(page, uuid).getAttribute('data-online')) === 'true', { what: 'card online' });
    await startFullScan(page, uuid);
    const first = await waitDone(page, uuid, 5, 15000);
    await waitDone(page, uuid, first.done + 5, 15000);
    await waitCardState(page, uuid, 'done', 60000);
  });
});
