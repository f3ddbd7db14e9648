/**
 * Job control and continuity: E2E-05 pause/resume, E2E-06 cancel, E2E-07 re-registration keeps
 * the card, E2E-10 copy job id, E2E-08 reload rehydration, E2E-09 paused job after idle and in
 * another browser, E2E-14 jobs history.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startStub, startCore, makeTreeA, stopAll, WORK, waitFor, waitIdle, waitJobDone, sleep } from './lib/servers.mjs';
import { scenario, goto, tid, card, shot, closeBrowser, apiRequests, openPage, commonAssertions, failArtifacts } from './lib/browser.mjs';
import { waitCardState, cardProgress, waitDone, armBusyProbe, readBusyProbe, startFullScan } from './lib/cards.mjs';

const CONCURRENCY = 2;
const treeA = path.join(WORK, 'control-tree-a');
let stub;
let core;
let uuid;

before(async () => {
  stub = await startStub({ delayMs: 150 });
  makeTreeA(treeA);
  // Built-in connectors heartbeat every 5 s here, so E2E-07 sees real (signed) heartbeats.
  core = await startCore({ trees: [treeA], stub, concurrency: CONCURRENCY, env: { DSXCONNECTOR_HEARTBEAT_INTERVAL_SECS: '5' } });
  uuid = (await core.connectors())[0].uuid;
});
after(async () => { await closeBrowser(); await stopAll(); });

/** Fresh tree-A and no active job before a scenario that scans. */
async function fresh() {
  for (const j of await core.json('scan/jobs')) {
    if (!['completed', 'cancelled'].includes(j.status)) await fetch(`${core.api}scan/jobs/${j.job_id}/cancel`, { method: 'POST' });
  }
  await waitIdle(core);
  makeTreeA(treeA);
}

const cancelJob = (id) => fetch(`${core.api}scan/jobs/${id}/cancel`, { method: 'POST' });

test('E2E-05 pause and resume feedback', { timeout: 90000 }, async () => {
  await fresh();
  await scenario('E2E-05', core, {}, async (page) => {
    await goto(page);
    const c = card(page, uuid);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    const job = await startFullScan(page, uuid);
    await waitDone(page, uuid, 20);
    await armBusyProbe(page, uuid);
    const t0 = Date.now();
    await c.locator(tid('btn-pause')).click();
    const busy = await readBusyProbe(page);
    assert.equal(busy.state, 'pausing');
    assert.ok(busy.ms <= 100, `Pausing… within 100 ms (${busy.ms.toFixed(1)} ms)`);
    assert.equal(busy.label, 'Pausing…', 'busy label');
    await waitCardState(page, uuid, 'paused', 1000);
    assert.ok(Date.now() - t0 <= 1500, 'paused within 1 s of the click');
    assert.ok(await c.locator(tid('btn-resume')).isVisible());
    assert.ok(await c.locator(tid('btn-cancel')).isVisible());
    assert.equal((await c.locator(tid('job-badge')).textContent()).trim(), 'Paused');
    const atPause = (await cardProgress(page, uuid)).done;
    await sleep(3000);
    const after3s = (await cardProgress(page, uuid)).done;
    assert.ok(after3s - atPause <= CONCURRENCY, `done stops growing (${atPause} → ${after3s})`);
    assert.match((await c.locator(tid('job-progress-text')).textContent()), /^Paused at /);
    await shot(page, '05-paused-1280.png');
    const t1 = Date.now();
    await c.locator(tid('btn-resume')).click();
    await waitCardState(page, uuid, 'running', 1000);
    assert.ok(Date.now() - t1 <= 1500, 'running within 1 s');
    await waitCardState(page, uuid, 'done', 60000);
    assert.match((await c.locator(tid('job-note')).textContent()).trim(), /^Scan complete: 205 \//);
    assert.equal((await core.json(`scan/jobs/${job}`)).status, 'completed');
  });
});

test('E2E-06 cancel with confirmation', { timeout: 90000 }, async () => {
  await fresh();
  await scenario('E2E-06', core, {}, async (page) => {
    await goto(page);
    const c = card(page, uuid);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    const job = await startFullScan(page, uuid);
    await waitDone(page, uuid, 10);
    await c.locator(tid('btn-cancel')).click();
    const dlg = page.locator(tid('confirm-dialog'));
    await dlg.waitFor();
    assert.match(await dlg.textContent(), /Cancel the scan of .+\? Items not yet scanned will be skipped\./);
    assert.equal((await dlg.locator(tid('confirm-cancel')).textContent()).trim(), 'Keep scanning');
    assert.equal((await dlg.locator(tid('confirm-ok')).textContent()).trim(), 'Cancel scan');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'confirm-cancel', 'Keep scanning has the focus');
    await shot(page, '06-cancel-confirm-1280.png');
    await page.keyboard.press('Escape');
    await waitFor(async () => !(await dlg.isVisible()), { what: 'dialog closed' });
    await sleep(500);
    assert.equal(await c.getAttribute('data-state'), 'running', 'Escape keeps the job running');
    await c.locator(tid('btn-cancel')).click();
    await dlg.waitFor();
    const t0 = Date.now();
    await dlg.locator(tid('confirm-ok')).click();
    await waitCardState(page, uuid, 'done', 1000);
    assert.ok(Date.now() - t0 <= 1500);
    assert.equal((await c.locator(tid('job-badge')).textContent()).trim(), 'Cancelled');
    assert.match((await c.locator(tid('job-note')).textContent()).trim(), /^Scan cancelled: [\d,]+ \/ \d\d:\d\d:\d\d$/);
    await waitFor(async () => /skipped/.test(await c.locator(tid('job-counts')).textContent()), { timeout: 2000, what: 'count line with skipped' });
    assert.ok(await c.locator(tid('btn-full-scan')).isVisible());
    const note1 = await c.locator(tid('job-note')).textContent();
    await sleep(2000);
    assert.equal(await c.locator(tid('job-note')).textContent(), note1, 'no later progress change');
    assert.equal((await core.json(`scan/jobs/${job}`)).status, 'cancelled');
    await shot(page, '06-cancelled-1280.png');
  });
});

test('E2E-07 heartbeat re-registration keeps the card, E2E-10 copy job id', { timeout: 90000 }, async () => {
  await fresh();
  await scenario('E2E-07', core, { permissions: ['clipboard-read', 'clipboard-write'] }, async (page) => {
    await goto(page);
    const c = card(page, uuid);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    const job = await startFullScan(page, uuid);
    await waitDone(page, uuid, 5);
    await page.evaluate((u) => {
      const el = document.querySelector(`[data-connector-uuid="${u}"]`);
      el.__marker = 'kept';
      el.querySelector('[data-testid="btn-pause"]').focus();
      window.__removed = [];
      new MutationObserver((muts) => {
        for (const m of muts) for (const n of m.removedNodes) if (n.nodeType === 1) window.__removed.push(n.className || n.tagName);
      }).observe(el, { childList: true, subtree: true });
    }, uuid);
    const before = (await cardProgress(page, uuid)).done;
    const model = (await core.connectors()).find((x) => x.uuid === uuid);
    // Only the built-in connector itself may re-register (signed, docs/AUTH.md): an unsigned
    // copy of its registration is refused and leaves the card alone …
    for (let i = 0; i < 3; i += 1) {
      const r = await fetch(`${core.api}connectors/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(model) });
      assert.equal(r.status, 401, 'unsigned re-registration of a built-in connector');
    }
    // … and its own heartbeats (every 5 s) keep the card as it is: wait for two of them.
    await sleep(11000);
    const check = await page.evaluate((u) => {
      const el = document.querySelector(`[data-connector-uuid="${u}"]`);
      return { marker: el.__marker, focused: document.activeElement?.dataset.testid, removed: window.__removed, state: el.dataset.state };
    }, uuid);
    assert.equal(check.marker, 'kept', 'same card element');
    assert.equal(check.focused, 'btn-pause', 'Pause still focused');
    assert.ok(!check.removed.some((cls) => /card-actions|job-pill|btn/.test(String(cls))), `action row and pill never removed: ${check.removed}`);
    assert.equal(check.state, 'running');
    assert.ok((await cardProgress(page, uuid)).done > before, 'progress continues');

    // E2E-10: copy by click, then by keyboard.
    await c.locator(tid('btn-copy-job')).click();
    await waitFor(() => page.locator(tid('toast'), { hasText: 'Job id copied' }).count(), { what: 'copy toast' });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), job);
    await page.evaluate(() => navigator.clipboard.writeText('other'));
    await c.locator(tid('btn-copy-job')).focus();
    await page.keyboard.press('Enter');
    await waitFor(async () => (await page.evaluate(() => navigator.clipboard.readText())) === job, { what: 'copied by keyboard' });
    await cancelJob(job);
    await waitCardState(page, uuid, 'done', 5000);
  });
});

test('E2E-08 reload rehydration, no polling', { timeout: 90000 }, async () => {
  await fresh();
  await scenario('E2E-08', core, {}, async (page) => {
    await goto(page);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    const job = await startFullScan(page, uuid);
    const { done: beforeDone } = await waitDone(page, uuid, 30);
    const tReload = Date.now();
    await page.reload();
    const c = card(page, uuid);
    await waitCardState(page, uuid, 'running', 2000);
    assert.equal(await c.locator(tid('job-pill')).getAttribute('title'), job, 'same job id');
    const after = await waitDone(page, uuid, beforeDone, 2000);
    assert.ok(after.done >= beforeDone);
    await shot(page, '08-rehydrated-1280.png');
    const tObserve = Date.now();
    await sleep(10000);
    const list = apiRequests(page, /^scan\/jobs$/, tReload);
    const one = apiRequests(page, /^scan\/jobs\/[^/]+$/, tReload);
    assert.ok(list.length <= 1, `at most one GET scan/jobs (${list.length})`);
    assert.ok(one.length <= 1, `at most one GET scan/jobs/{id} (${one.length})`);
    assert.equal(apiRequests(page, 'scan/jobs', tObserve).length, 0, 'no scan/jobs request while observing');
    const later = await cardProgress(page, uuid);
    assert.ok(!later || later.done > after.done || (await c.getAttribute('data-state')) === 'done', 'progress keeps rising');
    await cancelJob(job);
  });
});

test('E2E-09 paused job survives long idle and other browsers', { timeout: 90000 }, async () => {
  await fresh();
  const page = await openPage(core, { clock: true });
  let page2;
  try {
    await goto(page);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    const job = await startFullScan(page, uuid);
    await waitDone(page, uuid, 5);
    await card(page, uuid).locator(tid('btn-pause')).click();
    await waitCardState(page, uuid, 'paused', 2000);
    await page.clock.setSystemTime(Date.now() + 15 * 60 * 1000);
    await page.reload();
    await waitCardState(page, uuid, 'paused', 5000);
    assert.ok(await card(page, uuid).locator(tid('btn-resume')).isVisible());
    assert.ok(await card(page, uuid).locator(tid('btn-cancel')).isVisible());
    await shot(page, '09-paused-after-reload-1280.png');

    page2 = await openPage(core, {});
    await goto(page2);
    await waitCardState(page2, uuid, 'paused', 5000);
    assert.equal(await card(page2, uuid).locator(tid('job-pill')).getAttribute('title'), job);
    const t0 = Date.now();
    await card(page2, uuid).locator(tid('btn-resume')).click();
    await waitCardState(page, uuid, 'running', 2000);
    assert.ok(Date.now() - t0 <= 2500, 'first page follows within 2 s');
    await cancelJob(job);
    await commonAssertions(page);
    await commonAssertions(page2);
  } catch (err) {
    await failArtifacts(page, 'E2E-09');
    throw err;
  } finally {
    await page.context().close();
    if (page2) await page2.context().close();
  }
});

test('E2E-14 jobs history', { timeout: 90000 }, async () => {
  await fresh();
  const job = (await fetch(`${core.api}connectors/full_scan/${uuid}`, { method: 'POST' })).headers.get('x-job-id');
  await scenario('E2E-14', core, {}, async (page) => {
    await goto(page);
    const rows = page.locator(tid('job-row'));
    await waitFor(async () => (await rows.count()) >= 3, { what: 'job rows' });
    const statuses = await rows.evaluateAll((els) => els.map((e) => e.dataset.status));
    for (const s of ['completed', 'cancelled', 'running']) assert.ok(statuses.includes(s), `a ${s} row`);
    const all = await core.json('scan/jobs');
    const started = Object.fromEntries(all.map((j) => [j.job_id, Number(j.started_at)]));
    const order = await rows.evaluateAll((els) => els.map((e) => e.dataset.jobId));
    for (let i = 1; i < order.length; i += 1) assert.ok(started[order[i]] <= started[order[i - 1]], 'sorted by start, newest first');
    const badges = await rows.evaluateAll((els) => els.map((e) => e.querySelector('.badge').textContent));
    for (const b of ['Completed', 'Cancelled', 'Running']) assert.ok(badges.includes(b), b);
    const row = page.locator(`${tid('job-row')}[data-job-id="${job}"]`);
    const p1 = await row.locator('td.num').first().textContent();
    await sleep(2000);
    const p2 = await row.locator('td.num').first().textContent();
    assert.notEqual(p1, p2, 'running row updates live');
    await shot(page, '14-jobs-1280.png');
    await row.getByRole('button', { name: 'Pause' }).click();
    await waitFor(async () => (await row.getAttribute('data-status')) === 'paused', { timeout: 1500, what: 'row paused' });
    await waitCardState(page, uuid, 'paused', 1000);
    await cancelJob(job);
    await waitFor(async () => (await row.getAttribute('data-status')) === 'cancelled', { timeout: 5000, what: 'row cancelled' });
  });
  await waitJobDone(core, job);
});
