/**
 * E2E-15 dead-letter queue panel. Dead letters are produced deterministically: the DSXA stub is
 * scripted to answer 400 (a non-retryable client error) to the next ten scans, so ten items of
 * the scan land in the `scan_request` queue; before Requeue it is scripted again, so the requeued
 * items fail again and come back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startStub, startCore, makeTreeA, stopAll, WORK, waitFor } from './lib/servers.mjs';
import { scenario, goto, tid, card, shot, closeBrowser } from './lib/browser.mjs';
import { waitCardState, startFullScan } from './lib/cards.mjs';

let stub;
let core;
let uuid;
const FAILS = 10;
const fail400 = () => Array.from({ length: FAILS }, () => ({ status: 400, body: 'scripted client error' }));

before(async () => {
  stub = await startStub({ delayMs: 20 });
  core = await startCore({
    trees: [makeTreeA(path.join(WORK, 'dlq-tree-a'))], stub,
    env: { DSXCONNECT_WORKERS__MAX_ATTEMPTS: '1', DSXCONNECT_WORKERS__RETRY_BACKOFF_BASE_SECS: '0.05' },
  });
  uuid = (await core.connectors())[0].uuid;
});
after(async () => { await closeBrowser(); await stopAll(); });

const dlqCount = async (page) => Number((await page.locator(tid('dlq-count')).textContent()).replace(/,/g, ''));

test('E2E-15 DLQ panel', { timeout: 90000 }, async () => {
  await scenario('E2E-15', core, {}, async (page) => {
    await goto(page);
    const c = card(page, uuid);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    await waitFor(async () => (await page.locator(tid('scanner-status')).getAttribute('data-state')) === 'ok', { what: 'scanner checked' });
    assert.equal(await dlqCount(page), 0);
    await stub.script(fail400());
    await startFullScan(page, uuid);
    await waitCardState(page, uuid, 'done', 60000);
    const tDone = Date.now();
    assert.match(await c.locator(tid('job-counts')).textContent(), new RegExp(`${FAILS} failed`));
    await waitFor(async () => (await dlqCount(page)) === FAILS, { timeout: 6000, what: `dlq-count ${FAILS} within 5 s of completion` });
    assert.ok(Date.now() - tDone <= 6000);
    assert.ok(await page.locator(tid('dlq-button')).evaluate((b) => b.classList.contains('has-items')), 'button emphasised');

    await page.click(tid('dlq-button'));
    const dlg = page.locator(tid('dlq-dialog'));
    const queue = dlg.locator(`${tid('dlq-queue')}[data-queue="scan_request"]`);
    await waitFor(async () => (await queue.locator(tid('dlq-item')).count()) === FAILS, { what: 'items listed' });
    const itemText = await queue.locator(tid('dlq-item')).first().textContent();
    assert.match(itemText, /Reason/);
    assert.ok(itemText.includes(path.join(WORK, 'dlq-tree-a')), 'location shown');
    for (const q of ['scan_request', 'verdict_action', 'scan_result']) {
      assert.equal(await dlg.locator(`${tid('dlq-queue')}[data-queue="${q}"]`).count(), 1, `queue ${q} listed`);
    }
    await shot(page, '15-dlq-1280.png');

    await stub.script(fail400());
    await queue.locator(tid('dlq-requeue')).click();
    const statsSeen = () => page.rec.responses.filter((r) => r.url.includes('admin/dead-letter/stats')).length;
    const before = statsSeen();
    await waitFor(() => page.locator(tid('toast'), { hasText: `Requeued ${FAILS} items` }).count(), { what: 'requeue toast' });
    // The count shown before the requeue was already 10: wait for refreshes made after it.
    await waitFor(async () => statsSeen() >= before + 2 && (await dlqCount(page)) === FAILS, { timeout: 15000, what: 'items fail again and return' });

    await dlg.locator(tid('dlq-clear-all')).click();
    const confirm = page.locator(tid('confirm-dialog'));
    await confirm.waitFor();
    assert.match(await confirm.textContent(), new RegExp(`Delete ${FAILS} dead-letter items\\? This cannot be undone\\.`));
    await confirm.locator(tid('confirm-ok')).click();
    await waitFor(() => page.locator(tid('toast'), { hasText: `Cleared ${FAILS} items` }).count(), { what: 'clear toast' });
    await waitFor(async () => (await dlqCount(page)) === 0, { what: 'count 0' });
    await page.keyboard.press('Escape');
  });
});
