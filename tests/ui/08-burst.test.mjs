/**
 * Performance under a result burst (docs/reference/UI.md, "Performance", E2E-24) and the
 * 20,000-result benchmark: the stub answers with no delay, the core scans with 4 workers, and the
 * page measures long tasks (PerformanceObserver 'longtask'), the largest gap between animation
 * frames and the number of result rows in the DOM. The measured numbers are printed.
 *
 * E2E-24 drives the page with Playwright like every scenario. The benchmark drives it through
 * lib/cdp.mjs instead: the same Chromium and flags, without Playwright's per-message DevTools
 * instrumentation on the renderer (see there), so its timings are the page's own.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { startStub, startCore, makeFlatTree, stopAll, WORK, waitFor, waitIdle, sleep } from './lib/servers.mjs';
import { scenario, goto, tid, card, shot, closeBrowser } from './lib/browser.mjs';
import { waitCardState, startFullScan, sumCounts } from './lib/cards.mjs';
import { launchLean } from './lib/cdp.mjs';

const BENCH_FILES = Number(process.env.UI_BENCH_FILES || 20000);
/**
 * Timing limits are benchmark material (bench/ui_burst.sh sets UI_PERF=1): on a shared two-core
 * CI machine they measure the load, not the page. Without UI_PERF the burst still checks the
 * bounded DOM and the exact counts, and prints its timings.
 */
const PERF = process.env.UI_PERF === '1';
/** Longest main-thread task: 100 ms for the benchmark (the issue), 200 ms for E2E-24 (docs/reference/UI.md). */
const BENCH_MAX_TASK_MS = Number(process.env.UI_BENCH_MAX_TASK_MS || 100);
const BURST_MAX_TASK_MS = Number(process.env.UI_BURST_MAX_TASK_MS || 200);
const treeBurst = path.join(WORK, 'burst-tree');
const treeBench = path.join(WORK, 'bench-tree');
let stub;
let core;
let uuidBurst;
let uuidBench;

before(async () => {
  stub = await startStub({ delayMs: 0 });
  makeFlatTree(treeBurst, 2000);
  if (PERF) makeFlatTree(treeBench, BENCH_FILES);
  core = await startCore({ trees: PERF ? [treeBurst, treeBench] : [treeBurst], stub, concurrency: 4 });
  const list = await core.connectors();
  uuidBurst = list.find((c) => c.asset === treeBurst).uuid;
  if (PERF) uuidBench = list.find((c) => c.asset === treeBench).uuid;
});
after(async () => { await closeBrowser(); await stopAll(); });

/** Installed before any page script: long tasks, animation-frame gaps and DOM row counts. */
function monitor() {
  const perf = { armed: false, longtasks: [], maxGap: 0, gapsOver100: 0, maxRows: 0, samples: 0 };
  window.__perf = perf;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        perf.anyLongtask = Math.max(perf.anyLongtask || 0, e.duration);
        if (perf.armed) perf.longtasks.push(Math.round(e.duration));
      }
    }).observe({ type: 'longtask', buffered: false });
  } catch { perf.noLongtask = true; }
  let last = performance.now();
  const tick = (t) => {
    const gap = t - last;
    last = t;
    if (perf.armed) {
      if (gap > perf.maxGap) perf.maxGap = gap;
      if (gap > 100) perf.gapsOver100 += 1;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  setInterval(() => {
    const tb = document.querySelector('[data-testid="results-table"]');
    if (!tb || !perf.armed) return;
    perf.samples += 1;
    const n = tb.querySelectorAll('.result-row').length;
    if (n > perf.maxRows) perf.maxRows = n;
  }, 100);
}

/** Checks a finished burst against the server and prints its numbers. */
async function report(name, expected, jobId, perf, secs, view) {
  const summary = await core.json(`scan/jobs/${jobId}`);
  const fmt = new Intl.NumberFormat('en-US');
  const r = {
    scenario: name, files: expected, seconds: secs.toFixed(1), resultsPerSecond: Math.round(expected / secs),
    longTasks: perf.longtasks.length, longestTaskMs: perf.longtasks.length ? Math.max(...perf.longtasks) : 0,
    maxFrameGapMs: Math.round(perf.maxGap), frameGapsOver100ms: perf.gapsOver100,
    maxResultRowsInDom: perf.maxRows, resultRowsAtEnd: view.rows, sseFrames: view.frames,
    loadAverage: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
  console.log(`# PERF ${JSON.stringify(r)}`);
  assert.equal(Number(summary.processed_count), expected, 'server processed every file');
  assert.equal(view.note.split(': ')[1].split(' / ')[0], fmt.format(Number(summary.processed_count)), 'final summary = server');
  assert.equal(sumCounts(view.counts), Number(summary.processed_count) + Number(summary.failed_count) + Number(summary.skipped_count));
  assert.match(view.counts, new RegExp(`${fmt.format(Number(summary.verdict_benign))} benign`));
  assert.ok(perf.maxRows <= 500 && view.rows <= 500, `≤ 500 result rows in the DOM (max ${perf.maxRows})`);
  return r;
}

/** What the card and table show at the end (evaluated in the page). */
function finalView(uuid) {
  const c = document.querySelector(`[data-testid="connector-card"][data-connector-uuid="${uuid}"]`);
  return {
    note: c.querySelector('[data-testid="job-note"]').textContent.trim(),
    counts: c.querySelector('[data-testid="job-counts"]').textContent.trim(),
    rows: document.querySelectorAll('[data-testid="result-row"]').length,
    frames: window.dsxUi.frames().frames,
  };
}

/** E2E-24: the burst in a Playwright page (with the common assertions of every scenario). */
async function burst(page, uuid, expected, name) {
  await page.addInitScript(monitor);
  await goto(page);
  await page.waitForSelector(`${tid('connector-card')}[data-connector-uuid="${uuid}"][data-ready="true"]`);
  await page.waitForTimeout(500);
  await page.evaluate(() => { window.__perf.armed = true; });
  const t0 = Date.now();
  const jobId = await startFullScan(page, uuid);
  await waitCardState(page, uuid, 'done', 600000);
  const secs = (Date.now() - t0) / 1000;
  await sleep(500);
  const perf = await page.evaluate(() => { window.__perf.armed = false; return window.__perf; });
  return report(name, expected, jobId, perf, secs, await page.evaluate(finalView, uuid));
}

/** The benchmark: the burst in a page driven over a bare CDP pipe, polled twice a second. */
async function leanBurst(uuid, expected, name) {
  const browser = await launchLean();
  try {
    const page = await browser.page(core.base, monitor);
    const cardSel = `[data-testid="connector-card"][data-connector-uuid="${uuid}"]`;
    await waitFor(() => page.evaluate((sel) => !!document.querySelector(`${sel}[data-ready="true"]`), cardSel),
      { timeout: 15000, interval: 250, what: 'card ready' });
    // Calibration: a deliberate 150 ms task must be seen, or "no long task" would mean nothing.
    await page.evaluate(() => {
      window.__perf.anyLongtask = 0;
      setTimeout(() => { const end = performance.now() + 150; while (performance.now() < end); }, 0);
    });
    await waitFor(() => page.evaluate(() => window.__perf.anyLongtask >= 150), { timeout: 5000, interval: 100, what: 'the long-task observer to see a 150 ms calibration task' });
    await sleep(500);
    const t0 = Date.now();
    await page.evaluate((sel) => {
      window.__perf.armed = true;
      document.querySelector(`${sel} [data-testid="btn-full-scan"]`).click();
    }, cardSel);
    await waitFor(() => page.evaluate((sel) => document.querySelector(sel).dataset.state === 'done', cardSel),
      { timeout: 600000, interval: 500, what: 'card done' });
    const secs = (Date.now() - t0) / 1000;
    await sleep(500);
    const perf = await page.evaluate(() => { window.__perf.armed = false; return window.__perf; });
    // The page's only job on this connector (the click went through the page, not this process).
    const job = (await core.json('scan/jobs')).find((j) => j.connector_uuid === uuid);
    return await report(name, expected, job.job_id, perf, secs, await page.evaluate(finalView, uuid));
  } finally {
    await browser.close();
  }
}

test('E2E-24 burst (2,000 files, stub delay 0, 4 workers)', { timeout: 180000 }, async () => {
  await scenario('E2E-24', core, {}, async (page) => {
    const r = await burst(page, uuidBurst, 2000, 'E2E-24');
    if (PERF) assert.ok(r.longestTaskMs <= BURST_MAX_TASK_MS, `no long task > ${BURST_MAX_TASK_MS} ms (longest ${r.longestTaskMs} ms)`);
    await shot(page, '24-burst-done-1280.png');
  });
});

test(`benchmark: ${BENCH_FILES} results streaming at full speed`, { timeout: 900000, skip: !PERF && 'a benchmark: bench/ui_burst.sh' }, async () => {
  await waitIdle(core);
  const r = await leanBurst(uuidBench, BENCH_FILES, 'bench');
  assert.ok(r.longestTaskMs <= BENCH_MAX_TASK_MS, `main thread never blocked > ${BENCH_MAX_TASK_MS} ms (longest task ${r.longestTaskMs} ms)`);
});
