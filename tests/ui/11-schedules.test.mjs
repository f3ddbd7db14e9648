/**
 * Schedules section (docs/SCHEDULES.md, "In the web UI"): a schedule created in the dialog runs on
 * time and its row shows the started run; an invalid cron expression is explained in the dialog;
 * a hostile name is shown as text; pause, edit and delete work from the row.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startStub, startCore, makeTreeA, stopAll, WORK, waitFor } from './lib/servers.mjs';
import { scenario, goto, tid, shot, closeBrowser } from './lib/browser.mjs';

const EVIL = '<img src=x onerror="window.__xss=5">nightly & co';

let stub;
let core;
let uuid;

before(async () => {
  stub = await startStub({ delayMs: 5 });
  core = await startCore({ trees: [makeTreeA(path.join(WORK, 'sched-tree-a'))], stub });
  uuid = (await core.connectors())[0].uuid;
});
after(async () => { await closeBrowser(); await stopAll(); });

test('schedules: create, run, explain errors, pause, edit, delete', { timeout: 120000 }, async () => {
  await scenario('schedules', core, {}, async (page) => {
    await goto(page);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    const rows = page.locator(tid('schedule-row'));
    await waitFor(async () => (await page.locator(tid('schedules-status')).textContent()) === 'No schedules.', { what: 'empty list' });

    // A cron expression that does not parse: the dialog stays open and says why.
    await page.click(tid('schedule-new'));
    const dlg = page.locator(tid('schedule-dialog'));
    await dlg.locator(tid('schedule-name')).fill(EVIL);
    assert.equal(await dlg.locator(tid('schedule-connector')).inputValue(), uuid);
    await dlg.locator(tid('schedule-cron')).fill('61 * * * *');
    await dlg.locator(tid('schedule-save')).click();
    const error = dlg.locator(tid('schedule-error'));
    await waitFor(async () => (await error.isVisible()) && /cron: invalid cron expression/.test(await error.textContent()), { what: 'the cron problem shown' });
    assert.ok(await dlg.evaluate((d) => d.open), 'the dialog stays open');

    // Every 10 seconds: created, listed, and run on time.
    await dlg.locator(tid('schedule-kind-interval')).check();
    assert.ok(await dlg.locator(tid('schedule-interval')).isVisible());
    assert.ok(!(await dlg.locator(tid('schedule-cron')).isVisible()), 'cron fields hidden for intervals');
    await dlg.locator(tid('schedule-interval')).fill('10');
    await dlg.locator(tid('schedule-filter')).fill('--exclude *.tmp');
    await dlg.locator(tid('schedule-save')).click();
    await waitFor(async () => !(await dlg.evaluate((d) => d.open)), { what: 'dialog closed' });
    await waitFor(async () => (await rows.count()) === 1, { what: 'one schedule row' });
    const row = rows.first();
    assert.equal(await row.locator('td').first().textContent(), EVIL, 'the name is shown as text');
    assert.match(await row.locator('td').nth(2).textContent(), /every 10 s/);
    assert.notEqual((await row.locator(tid('schedule-next')).textContent()).trim(), '—');
    await waitFor(async () => (await row.locator(tid('schedule-outcome')).count()) === 1
      && (await row.locator(tid('schedule-outcome')).textContent()) === 'started', { timeout: 45000, what: 'the first run started' });
    const [listed] = await core.json('schedules');
    assert.equal(listed.filter, '--exclude *.tmp');
    assert.match(listed.last_job_id, /^sched-/);
    await shot(page, 'schedules-1280.png', { docs: 'schedules.png' });

    // Pause from the row: no next run.
    await row.locator(tid('schedule-toggle')).click();
    await waitFor(async () => (await row.locator(tid('schedule-next')).textContent()) === 'paused', { what: 'paused' });
    assert.equal(await row.locator(tid('schedule-toggle')).textContent(), 'Resume');

    // Edit: the dialog is filled from the schedule; the change is saved.
    await row.locator(tid('schedule-edit')).click();
    assert.equal(await dlg.locator(tid('schedule-interval')).inputValue(), '10');
    assert.equal(await dlg.locator(tid('schedule-filter')).inputValue(), '--exclude *.tmp');
    await dlg.locator(tid('schedule-name')).fill('weekly');
    await dlg.locator(tid('schedule-kind-cron')).check();
    await dlg.locator(tid('schedule-cron')).fill('0 3 * * SUN');
    await dlg.locator(tid('schedule-timezone')).fill('Europe/Berlin');
    await dlg.locator(tid('schedule-save')).click();
    await waitFor(async () => (await rows.first().locator('td').first().textContent()) === 'weekly', { what: 'renamed' });
    assert.match(await rows.first().locator('td').nth(2).textContent(), /cron 0 3 \* \* SUN \(Europe\/Berlin\)/);
    assert.equal(await rows.first().locator(tid('schedule-next')).textContent(), 'paused', 'still paused after the edit');

    // Delete after confirmation.
    await rows.first().locator(tid('schedule-delete')).click();
    await page.click(tid('confirm-ok'));
    await waitFor(async () => (await rows.count()) === 0, { what: 'row gone' });
    assert.deepEqual(await core.json('schedules'), []);
  });
});
