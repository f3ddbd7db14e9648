/**
 * Page bootstrap and wiring (docs/reference/UI.md, F-08 load order, F-17.5 resynchronisation).
 * Order on load: `auth/session` (docs/AUTH.md, "Sessions"; the sign-in page when a session is
 * needed), then cards from `connectors/list`, both live streams, then one `GET scan/jobs` to
 * reattach running/paused jobs, then one `GET scan/jobs/{id}` per remembered job not listed — after
 * the cards exist, never on a timer (B4). Afterwards only SSE frames move the page: there is no
 * polling of jobs or results.
 */
import { fetchJson, request } from './api.js';
import { initTheme } from './theme.js';
import { loadVersion, initScannerStatus, refreshScanner, probeDocs } from './header.js';
import { initCards, upsertConnector, connectorEvent, connectorName, cards, goOffline, refreshReady, startScan, renderAll } from './cards.js';
import { applySummary, noteResultConnector, TERMINAL } from './jobs.js';
import { initJobsTable, filterByConnector, renderJobsTable } from './jobs-table.js';
import { initResults, addLive, reload as reloadResults, atTop, showJobResults } from './results.js';
import { initStats, statsNudge } from './stats.js';
import { initDlq, refreshDlqStats } from './dlq.js';
import { initConfig, openConnectorConfig } from './config.js';
import { startStreams, streamStates, debug } from './sse.js';
import { initAuth, checkSession } from './auth.js';
import { initAdmin } from './admin.js';
import { initSchedules, loadSchedules } from './schedules.js';
import { initUsers } from './admin-users.js';
import { initTokens } from './admin-tokens.js';
import { initAudit } from './admin-audit.js';
import { initConnectorSecurity } from './admin-connectors.js';
import { getActiveJobs, forgetJob } from './store.js';
import { byTestId, h, replaceChildren, show } from './dom.js';
import { toast } from './toast.js';
import { on } from './bus.js';

/** Loads `connectors/list` into cards; on resync, connectors no longer listed go offline. */
async function loadConnectors({ resync = false } = {}) {
  const grid = byTestId('connectors-grid');
  let list;
  try {
    list = await fetchJson('connectors/list');
  } catch (err) {
    if (!resync && cards.size === 0) {
      replaceChildren(grid, h('p', { class: 'error-text', text: `Failed to load connectors: ${err.reason || 'unexpected error'}` }));
    }
    toast('error', `Failed to load connectors: ${err.reason || 'unexpected error'}`);
    return false;
  }
  if (!resync) grid.querySelectorAll('p.error-text').forEach((p) => p.remove());
  const listed = new Set();
  for (const model of Array.isArray(list) ? list : []) {
    if (!model || typeof model !== 'object' || typeof model.uuid !== 'string') continue;
    listed.add(model.uuid);
    const known = cards.get(model.uuid);
    if (known && resync) {
      upsertConnector(model, { fetchDetails: false });
      if (!known.online) connectorEvent({ type: 'registered', uuid: model.uuid, name: model.name, url: model.url });
      else refreshReady(known, true);
    } else {
      upsertConnector(model);
    }
  }
  if (resync) for (const card of cards.values()) if (!listed.has(card.uuid)) goOffline(card);
  show(byTestId('connectors-empty'), cards.size === 0);
  return true;
}

/** One `GET scan/jobs`, applied as a REST snapshot ("Applying a job summary"). */
async function loadJobs() {
  const sentAt = performance.now();
  try {
    const list = await fetchJson('scan/jobs');
    const stored = getActiveJobs();
    const seen = new Set();
    for (const raw of Array.isArray(list) ? list : []) {
      const job = applySummary(raw, { source: 'rest', sentAt });
      if (!job) continue;
      seen.add(job.id);
      if (TERMINAL.has(job.status) && job.id in stored) forgetJob(job.id);
    }
    return seen;
  } catch (err) {
    toast('error', `Failed to load jobs: ${err.reason || 'unexpected error'}`);
    return null;
  }
}

/** F-08.1 second step: remembered jobs the list did not contain, one request each. */
async function rehydrateRemembered(seen) {
  const stored = getActiveJobs();
  await Promise.all(Object.keys(stored).filter((id) => !seen.has(id)).map(async (id) => {
    const sentAt = performance.now();
    try {
      const res = await request(`scan/jobs/${encodeURIComponent(id)}`);
      if (res.status === 404) { forgetJob(id); return; }
      if (!res.ok || !res.body || typeof res.body !== 'object') return;
      const status = String(res.body.status || '').toLowerCase();
      if (TERMINAL.has(status)) { forgetJob(id); return; }
      applySummary({ connector_uuid: stored[id].connectorUuid, ...res.body, job_id: id }, { source: 'rest', sentAt });
    } catch { /* keep the entry; a later reload tries again */ }
  }));
}

/* ---------------------------------------------------------------- live frames */

function onScanFrame(frame) {
  if (frame.type === 'scan_result') {
    const sr = frame.scan_result;
    if (!sr || typeof sr !== 'object') return false;
    const connUuid = sr.scan_request?.connector?.uuid;
    if (typeof sr.scan_job_id === 'string' && typeof connUuid === 'string') noteResultConnector(sr.scan_job_id, connUuid);
    // A frame without `job` never changes the job display (docs/reference/UI.md,
    // "Applying a job summary", B6).
    if (frame.job && typeof frame.job === 'object') applySummary(frame.job, { source: 'sse' });
    addLive(sr);
    statsNudge();
    return true;
  }
  if (frame.type === 'job_summary') {
    if (!frame.job || typeof frame.job !== 'object') return false;
    applySummary(frame.job, { source: 'sse' });
    return true;
  }
  return false;
}

function onConnectorFrame(frame) {
  if (['registered', 'refreshed', 'unregistered'].includes(frame.type)) {
    connectorEvent(frame);
    return true;
  }
  return false;
}

/* ---------------------------------------------------------------- resync (F-17.5) */

let resyncPending = false;
let resyncFallback = null;

/** After a reconnection: waits until both streams are open again, then resynchronises once. */
function onReconnected() {
  resyncPending = true;
  clearTimeout(resyncFallback);
  resyncFallback = setTimeout(runResync, 10000);
  setTimeout(() => {
    if (resyncPending && streamStates().every((s) => s.state === 'open')) runResync();
  }, 300);
}

async function runResync() {
  if (!resyncPending) return;
  resyncPending = false;
  clearTimeout(resyncFallback);
  await loadConnectors({ resync: true });
  await loadJobs();
  if (atTop()) reloadResults();
  refreshDlqStats();
  refreshScanner();
  loadSchedules();
  renderAll();
}

/* ---------------------------------------------------------------- start */

async function start() {
  initTheme();
  // Sign-in first (docs/AUTH.md, "Sessions"): without a session the page leaves for the sign-in
  // page.
  if (!(await initAuth())) return;
  initCards({ configure: openConnectorConfig, showJobs: filterByConnector });
  initJobsTable({ connectorName, showResults: showJobResults });
  initResults({ connectorName });
  initStats();
  initDlq();
  initConfig({ startSampleScan: startScan, connectorName });
  initAdmin();
  initUsers();
  initTokens();
  initAudit();
  initConnectorSecurity();
  initSchedules({
    connectorName,
    connectors: () => [...cards.values()].filter((c) => c.online).map((c) => ({ uuid: c.uuid, name: connectorName(c.uuid) })),
  });
  on('job', ({ job }) => { if (TERMINAL.has(job.status)) forgetJob(job.id); });

  loadVersion();
  initScannerStatus();
  probeDocs();
  refreshDlqStats();
  reloadResults();

  await loadConnectors();
  loadSchedules();
  startStreams({ onScanFrame, onConnectorFrame, onReconnected, onGaveUp: checkSession });
  const seen = await loadJobs();
  if (seen) await rehydrateRemembered(seen);
  renderJobsTable();
  renderAll();
}

// Debug hooks for tests and support (read-only snapshots; nothing is controlled through them).
window.dsxUi = Object.freeze({ streams: streamStates, frames: () => ({ ...debug }) });

start();
