/**
 * E2E-04 full scan lifecycle, E2E-11 results, E2E-12 filters and paging, E2E-13 statistics,
 * E2E-16 connector configuration (the core runs with a secret in its configuration).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startStub, startCore, makeTreeA, stopAll, WORK, waitFor, waitIdle, freePort, XSS_NAME } from './lib/servers.mjs';
import { scenario, goto, tid, card, shot, closeBrowser, apiRequests } from './lib/browser.mjs';
import { waitCardState, cardProgress, armBusyProbe, readBusyProbe, startFullScan, sumCounts } from './lib/cards.mjs';

const SECRET = 'e2e-secret-4711';
const treeA = path.join(WORK, 'scan-tree-a');
let stub;
let core;
let uuid;
let firstJob;

before(async () => {
  stub = await startStub({ delayMs: 150 });
  makeTreeA(treeA);
  core = await startCore({
    trees: [treeA], stub,
    env: {
      DSXCONNECT_SUPERLOG__SPLUNK__TOKEN: SECRET,
      DSXCONNECT_SUPERLOG__SPLUNK__URL: `http://127.0.0.1:${await freePort()}/services/collector/event`,
    },
  });
  uuid = (await core.connectors())[0].uuid;
});
after(async () => { await closeBrowser(); await stopAll(); });

test('E2E-04 full scan lifecycle', { timeout: 90000 }, async () => {
  await scenario('E2E-04', core, {}, async (page) => {
    await goto(page);
    const c = card(page, uuid);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    await armBusyProbe(page, uuid);
    const tClick = Date.now();
    firstJob = await startFullScan(page, uuid, { dbl: true });
    const busy = await readBusyProbe(page);
    assert.ok(busy.ms <= 100, `busy within 100 ms (was ${busy.ms.toFixed(1)} ms, state ${busy.state})`);
    assert.ok(['starting', 'running'].includes(busy.state));
    await waitFor(async () => (await c.locator(tid('btn-pause')).isVisible()) && (await c.locator(tid('btn-cancel')).isVisible()),
      { timeout: 2000, what: 'Pause and Cancel within 2 s' });
    assert.equal(await c.locator(tid('job-pill')).getAttribute('title'), firstJob);
    await page.waitForTimeout(1000);
    assert.equal(apiRequests(page, `connectors/full_scan/${uuid}`).length, 1, 'exactly one full_scan request');

    // Sample the card until the server says completed.
    const samples = [];
    let shotTaken = false;
    await waitFor(async () => {
      const state = await c.getAttribute('data-state');
      const text = (await c.textContent()) || '';
      const now = await c.locator(tid('job-progress')).getAttribute('aria-valuenow').catch(() => null);
      const p = state === 'running' ? await cardProgress(page, uuid) : null;
      samples.push({ t: Date.now(), state, text, now: now === null ? null : Number(now), p });
      if (!shotTaken && p && p.done > 40 && /ETA/.test(p.text)) {
        shotTaken = true;
        await shot(page, '04-running-1280.png', { docs: 'scanning-1280.png' });
        await page.setViewportSize({ width: 375, height: 812 });
        await c.scrollIntoViewIfNeeded();
        await shot(page, '04-running-375.png', { docs: 'narrow-375.png' });
        await page.setViewportSize({ width: 1280, height: 800 });
      }
      return state === 'done';
    }, { timeout: 60000, interval: 250, what: 'scan done' });

    const running = samples.filter((s) => s.state === 'running' && s.p);
    assert.ok(running.length > 4, 'running samples');
    for (const s of samples) assert.ok(!/Processed 0/.test(s.text), 'no "Processed 0"');
    assert.ok(running.some((s) => /\d+ \/ 205 files \(\d+\.\d%\)/.test(s.p.text)), 'progress text with total and percent');
    assert.ok(running.some((s) => /files\/s/.test(s.p.text)), 'rate shown');
    assert.ok(running.some((s) => /ETA \d\d:\d\d:\d\d/.test(s.p.text)), 'ETA shown');
    const rising = running.some((a) => running.some((b) => b.t - a.t >= 2000 && b.t - a.t < 3500 && b.now > a.now));
    assert.ok(rising, 'aria-valuenow rises between samples 2 s apart');

    const note = (await c.locator(tid('job-note')).textContent()).trim();
    assert.match(note, /^Scan complete: 205 \/ \d\d:\d\d:\d\d$/);
    const counts = (await c.locator(tid('job-counts')).textContent()).trim();
    assert.match(counts, /3 malicious/);
    assert.equal(sumCounts(counts), 205, `counts add up to 205: ${counts}`);
    assert.equal((await c.locator(tid('job-badge')).textContent()).trim(), 'Completed');
    assert.ok(await c.locator(tid('btn-full-scan')).isEnabled());
    assert.equal(await c.locator(tid('job-pill')).isVisible(), false, 'pill hidden');
    await waitFor(() => page.locator(`${tid('toast')}[data-kind="success"]`, { hasText: 'Scan complete for' }).count(), { what: 'success toast' });
    assert.equal(apiRequests(page, 'scan/jobs', tClick).length, 0, 'no scan/jobs request after the click');
    await shot(page, '04-completed-1280.png', { docs: 'completed-1280.png' });
  });
});

test('E2E-11 results: history, order, colouring, safety', { timeout: 60000 }, async () => {
  await waitIdle(core);
  await scenario('E2E-11', core, {}, async (page) => {
    await goto(page);
    const rows = page.locator(tid('result-row'));
    await waitFor(async () => (await rows.count()) === 50, { what: '50 rows' });
    assert.ok(apiRequests(page, 'scan/results').some((r) => new URL(r.url).search === '?limit=50'), 'GET scan/results?limit=50');
    const ids = await rows.evaluateAll((els) => els.map((e) => Number(e.dataset.resultId)));
    for (let i = 1; i < ids.length; i += 1) assert.ok(ids[i] < ids[i - 1], 'ids strictly descending');
    // Page back until the whole first scan is loaded (205 < the 500-row cap).
    while (await page.locator(tid('btn-load-more')).isVisible()) {
      const n = await rows.count();
      await page.locator(tid('btn-load-more')).click();
      await waitFor(async () => (await rows.count()) > n || !(await page.locator(tid('btn-load-more')).isVisible()), { what: 'load more' });
    }
    const mal = page.locator(`${tid('result-row')}[data-verdict="Malicious"]`);
    assert.equal(await mal.count(), 3);
    const colours = await mal.evaluateAll((els) => els.map((e) => {
      const v = e.querySelector('.verdict');
      const probe = document.createElement('span');
      probe.style.color = 'var(--verdict-malicious)';
      document.body.append(probe);
      const want = getComputedStyle(probe).color;
      probe.remove();
      return { text: v.textContent.trim(), icon: v.querySelector('use').getAttribute('href'), color: getComputedStyle(v).color, want };
    }));
    for (const col of colours) {
      assert.equal(col.text, 'Malicious');
      assert.match(col.icon, /#virus$/);
      assert.equal(col.color, col.want, 'malicious colour');
    }
    const files = await rows.evaluateAll((els) => els.map((e) => e.querySelector('.cell-file .cell-clip').textContent));
    assert.ok(files.includes(XSS_NAME), 'XSS file name shown literally');
    assert.ok(files.includes('invoice⟨U+202E⟩txt.exe'), 'bidi control shown as a marker');
    assert.equal(await page.locator('[class*="undefined"]').count(), 0, 'no class containing undefined');
    await shot(page, '11-results-1280.png');

    const toggle = mal.first().locator('.toggle-details');
    await toggle.focus();
    await page.keyboard.press('Enter');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    const details = page.locator(tid('result-details')).first();
    await details.waitFor();
    const dtext = await details.textContent();
    assert.match(dtext, /[0-9a-f]{64}/, 'sha256 shown');
    assert.ok(dtext.includes(treeA), 'location shown');
    await details.scrollIntoViewIfNeeded();
    await shot(page, '11-result-details-1280.png');
    await page.keyboard.press('Enter');
    await page.evaluate(() => { document.querySelector('.results-wrap').scrollTop = 0; window.scrollTo(0, 0); });

    // New rows of a sample scan appear at the top.
    const resp = await fetch(`${core.api}connectors/full_scan/${uuid}?limit=5`, { method: 'POST' });
    const sampleJob = resp.headers.get('x-job-id');
    await waitFor(async () => (await rows.first().getAttribute('data-job-id')) === sampleJob, { timeout: 20000, what: 'sample rows on top' });
  });
});

test('E2E-12 results filters and paging', { timeout: 60000 }, async () => {
  await waitIdle(core);
  await scenario('E2E-12', core, {}, async (page) => {
    await goto(page);
    const rows = page.locator(tid('result-row'));
    await waitFor(async () => (await rows.count()) === 50, { what: '50 rows' });
    await page.selectOption(tid('filter-verdict'), 'Malicious');
    await waitFor(async () => (await rows.count()) === 3, { what: '3 malicious rows' });
    assert.ok(apiRequests(page, 'scan/results').some((r) => new URL(r.url).searchParams.get('verdict') === 'Malicious'));
    assert.deepEqual([...new Set(await rows.evaluateAll((els) => els.map((e) => e.dataset.verdict)))], ['Malicious']);
    assert.equal(new URL(page.url()).searchParams.get('verdict'), 'Malicious');
    await shot(page, '12-results-malicious-1280.png');
    await page.reload();
    await waitFor(async () => (await rows.count()) === 3, { what: 'filter restored after reload' });
    assert.equal(await page.locator(tid('filter-verdict')).inputValue(), 'Malicious');

    await page.click(tid('btn-clear-filters'));
    await waitFor(async () => (await rows.count()) === 50, { what: 'cleared' });
    assert.equal(new URL(page.url()).search, '');
    const jobRow = page.locator(`${tid('job-row')}[data-job-id="${firstJob}"]`);
    await jobRow.locator(tid('btn-job-results')).click();
    await waitFor(async () => apiRequests(page, 'scan/results').some((r) => new URL(r.url).searchParams.get('job_id') === firstJob), { what: 'job_id request' });
    await waitFor(async () => (await rows.count()) === 50, { what: 'job rows' });
    assert.deepEqual([...new Set(await rows.evaluateAll((els) => els.map((e) => e.dataset.jobId)))], [firstJob]);
    assert.equal(await page.locator(tid('filter-job')).inputValue(), firstJob);

    await page.click(tid('btn-clear-filters'));
    await waitFor(async () => (await rows.count()) === 50 && !(await page.locator(tid('filter-job')).inputValue()), { what: 'cleared' });
    const total = (await core.json('scan/results?limit=10000')).length;
    while (await page.locator(tid('btn-load-more')).isVisible()) {
      const n = await rows.count();
      const smallest = await rows.last().getAttribute('data-result-id');
      const req = page.waitForRequest((r) => r.url().includes('scan/results') && new URL(r.url()).searchParams.get('before_id') === smallest);
      await page.click(tid('btn-load-more'));
      await req;
      await waitFor(async () => (await rows.count()) > n || !(await page.locator(tid('btn-load-more')).isVisible()), { what: 'appended' });
    }
    const ids = await rows.evaluateAll((els) => els.map((e) => e.dataset.resultId));
    assert.equal(new Set(ids).size, ids.length, 'no duplicate ids');
    assert.equal(ids.length, Math.min(total, 500));
  });
});

test('E2E-13 statistics', { timeout: 60000 }, async () => {
  await scenario('E2E-13', core, {}, async (page) => {
    await goto(page);
    await page.click(tid('stats-button'));
    const dlg = page.locator(tid('stats-dialog'));
    await dlg.locator('tr[data-stat="Files scanned"]').waitFor();
    const s = await core.json('scan/stats');
    const fmt = (n) => (n < 0 ? '—' : new Intl.NumberFormat('en-US').format(n));
    const want = {
      'Files scanned': s.files_scanned, Benign: s.benign_count, Malicious: s.malicious_count, Unknown: s.unknown_count,
      Unsupported: s.unsupported_count, 'Not scanned': s.not_scanned_count, Encrypted: s.encrypted_count,
    };
    for (const [label, value] of Object.entries(want)) {
      assert.equal((await dlg.locator(`tr[data-stat="${label}"] td`).textContent()).trim(), fmt(value), label);
    }
    const sizeTitle = await dlg.locator('tr[data-stat="Total bytes scanned"] td').getAttribute('title');
    assert.equal(sizeTitle, `${s.total_file_size} bytes`);
    // Findings (24 h): the summary's count and its most recent findings.
    const f = await core.json('scan/findings/summary?recent=5');
    assert.ok(f.malicious > 0, 'the tree holds EICAR files');
    const findings = dlg.locator(tid('findings-count'));
    await findings.waitFor();
    const line = (await findings.textContent()).trim();
    assert.ok(line.startsWith(`${fmt(f.malicious)} malicious file`), line);
    assert.equal(await dlg.locator(`${tid('findings-recent')} tbody tr`).count(), f.recent.length);
    assert.ok((await dlg.locator(tid('findings-threats')).textContent()).includes(f.by_threat[0].label));
    await shot(page, '13-stats-1280.png');
    await page.keyboard.press('Escape');
    await waitFor(async () => !(await dlg.isVisible()), { what: 'dialog closed' });
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'stats-button', 'focus returns to the stats button');
  });
  // '-1' fields show '—': the stats dialog of a core without results.
  const stub2 = await startStub({ delayMs: 0 });
  const empty = await startCore({ trees: [], stub: stub2 });
  try {
    await scenario('E2E-13-empty', empty, {}, async (page) => {
      await goto(page);
      await page.click(tid('stats-button'));
      const dlg = page.locator(tid('stats-dialog'));
      await dlg.locator('tr[data-stat="Average file size"]').waitFor();
      assert.equal((await dlg.locator('tr[data-stat="Average file size"] td').textContent()).trim(), '—');
      assert.equal((await dlg.locator('tr[data-stat="Longest scan"] td').textContent()).trim(), '—');
      await dlg.locator(tid('findings-count')).waitFor();
      assert.equal((await dlg.locator(tid('findings-count')).textContent()).trim(), 'No malicious files in the last 24 hours.');
      await page.keyboard.press('Escape');
    });
  } finally {
    await empty.stop();
    await stub2.stop();
  }
});

test('E2E-16 connector configuration', { timeout: 60000 }, async () => {
  await waitIdle(core);
  await scenario('E2E-16', core, {}, async (page) => {
    await goto(page);
    const c = card(page, uuid);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    const cog = c.locator(tid('btn-connector-config'));
    assert.match(await cog.getAttribute('aria-label'), /^Configure /);
    await cog.click();
    const dlg = page.locator(tid('connector-config-dialog'));
    await waitFor(async () => (await dlg.locator(tid('config-tree')).textContent()).includes(treeA), { what: 'config tree' });
    await dlg.locator(tid('btn-preview')).click();
    const items = dlg.locator(`${tid('preview-list')} li`);
    await items.first().waitFor();
    const paths = await items.allTextContents();
    assert.ok(paths.length >= 1 && paths.length <= 5, `≤ 5 preview items (${paths.length})`);
    for (const p of paths) assert.ok(p.startsWith(treeA), p);
    await shot(page, '16-config-preview-1280.png');
    await dlg.locator(tid('btn-sample-scan')).click();
    assert.ok(await dlg.isVisible(), 'dialog stays open');
    await waitFor(() => page.locator(`${tid('toast')}`, { hasText: 'Sample scan started for' }).count(), { what: 'sample toast' });
    await page.keyboard.press('Escape');
    await waitFor(async () => !(await dlg.isVisible()), { what: 'dialog closed' });
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'btn-connector-config', 'focus returns to the cog');
    await waitCardState(page, uuid, 'done', 20000);
    assert.match((await c.locator(tid('job-note')).textContent()).trim(), /^Scan complete: 5 \/ \d\d:\d\d:\d\d$/);

    await page.click(tid('settings-button'));
    const settings = page.locator(tid('settings-dialog'));
    await waitFor(async () => (await settings.locator(tid('settings-tree')).textContent()).includes('scanner'), { what: 'settings tree' });
    const html = await page.content();
    assert.ok(!html.includes(SECRET), 'the secret appears nowhere in the page');
    assert.ok(!(await page.evaluate(() => document.body.innerText)).includes(SECRET));
    const tokenRow = settings.locator('li', { has: page.locator('.tree-key', { hasText: /^token:$/ }) });
    assert.ok(await tokenRow.count() > 0, 'the token key is listed (server: superlog.splunk.token in GET config)');
    // Every ancestor row (superlog, splunk) also "has" the token key; the token's own row is the
    // innermost, i.e. the last in document order.
    assert.equal((await tokenRow.last().locator('.tree-value').textContent()).trim(), '••••••');
    await page.keyboard.press('Escape');
  });
});
