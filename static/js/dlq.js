/**
 * Dead-letter queue (docs/reference/UI.md, F-12): the header count, and a dialog listing every
 * queue the server reports (not a hard-coded list) with its items, per-queue and global
 * Requeue/Clear. Clearing asks for confirmation; every action reports the server's counts in a
 * toast.
 */
import { request, fetchJson, reasonOf, errorText } from './api.js';
import { on } from './bus.js';
import { h, byTestId, replaceChildren, setText, setAttr, setBusy, show } from './dom.js';
import { openDialog, confirmDialog } from './dialogs.js';
import { clip, fmtCount, toNum, visible } from './format.js';
import { toast } from './toast.js';
import { hasRole } from './auth.js';

const PAGE = 10;
const NUDGE_GAP_MS = 5000;
let dlg;
let queuesEl;
let summaryEl;
let total = 0;
const lastFailed = new Map();
let nudgeTimer = null;
let lastNudge = -Infinity;
/** queue type → {section, list, more, loaded, length} of the open dialog. */
const open = new Map();

export function initDlq() {
  dlg = byTestId('dlq-dialog');
  queuesEl = dlg.querySelector('.dlq-queues');
  summaryEl = dlg.querySelector('.dlq-summary');
  byTestId('dlq-button').addEventListener('click', (e) => { openDialog(dlg, e.currentTarget); loadDialog(); });
  byTestId('dlq-requeue-all').addEventListener('click', (e) => requeue(null, e.currentTarget));
  byTestId('dlq-clear-all').addEventListener('click', (e) => clear(null, e.currentTarget));
  dlg.addEventListener('close', () => open.clear());
  // F-12.1: a rising failed_count means new dead letters; refresh the count at most every 5 s.
  on('job', ({ job }) => {
    const prev = lastFailed.get(job.id);
    lastFailed.set(job.id, job.failed);
    if (prev !== undefined && job.failed > prev) nudge();
  });
}

function nudge() {
  if (nudgeTimer) return;
  const wait = Math.max(0, lastNudge + NUDGE_GAP_MS - performance.now());
  nudgeTimer = setTimeout(() => { nudgeTimer = null; lastNudge = performance.now(); refreshDlqStats(); }, wait);
}

/** `GET admin/dead-letter/stats` → header badge; returns the stats object (or null). */
export async function refreshDlqStats() {
  try {
    const stats = await fetchJson('admin/dead-letter/stats');
    total = toNum(stats?.total_items) ?? 0;
    const btn = byTestId('dlq-button');
    setText(byTestId('dlq-count'), fmtCount(total));
    btn.classList.toggle('has-items', total > 0);
    setAttr(btn, 'aria-label', `Dead-letter queue, ${fmtCount(total)} item${total === 1 ? '' : 's'}`);
    return stats;
  } catch {
    return null;
  }
}

async function loadDialog() {
  replaceChildren(queuesEl, h('p', { class: 'muted', text: 'Loading…' }));
  const stats = await refreshDlqStats();
  if (!stats) {
    setText(summaryEl, '');
    replaceChildren(queuesEl, h('p', { class: 'error-text', text: 'Failed to load the dead-letter queues.' }));
    return;
  }
  setText(summaryEl, `${fmtCount(total)} item${total === 1 ? '' : 's'} in ${fmtCount(toNum(stats.active_queues) ?? 0)} queue(s).`);
  const queues = stats.queues && typeof stats.queues === 'object' ? stats.queues : {};
  open.clear();
  const sections = [];
  for (const [type, q] of Object.entries(queues)) {
    const section = buildQueue(type, q || {});
    sections.push(section);
  }
  replaceChildren(queuesEl, sections.length ? sections : [h('p', { class: 'muted', text: 'No dead-letter queues.' })]);
  for (const type of open.keys()) loadItems(type, false);
}

function buildQueue(type, q) {
  const length = toNum(q.length) ?? 0;
  // Requeue needs role operator, Clear admin (docs/AUTH.md, "Routes by role"); auth.js hides them
  // below it.
  const requeueBtn = h('button', { type: 'button', class: 'btn btn-small', testid: 'dlq-requeue', 'data-min-role': 'operator' }, h('span', { class: 'btn-text', text: 'Requeue' }));
  const clearBtn = h('button', { type: 'button', class: 'btn btn-small btn-danger', testid: 'dlq-clear', 'data-min-role': 'admin' }, h('span', { class: 'btn-text', text: 'Clear' }));
  const more = h('button', { type: 'button', class: 'btn btn-small', testid: 'dlq-load-more', hidden: true }, h('span', { class: 'btn-text', text: 'Load more' }));
  const list = h('ul', { class: 'dlq-items' });
  const label = visible(type);
  const section = h('section', { class: 'dlq-queue', testid: 'dlq-queue', 'data-queue': type, 'aria-label': `Queue ${label}` },
    h('div', { class: 'dlq-queue-head' },
      h('h3', {}, `${label} `, h('span', { class: 'muted', text: `(${fmtCount(length)} item${length === 1 ? '' : 's'})` })),
      h('div', { class: 'row-actions' }, requeueBtn, clearBtn)),
    list, more);
  setAttr(requeueBtn, 'aria-label', `Requeue ${label}`);
  setAttr(clearBtn, 'aria-label', `Clear ${label}`);
  requeueBtn.disabled = length === 0;
  clearBtn.disabled = length === 0;
  requeueBtn.addEventListener('click', () => requeue(type, requeueBtn));
  clearBtn.addEventListener('click', () => clear(type, clearBtn, length));
  more.addEventListener('click', () => loadItems(type, true));
  open.set(type, { section, list, more, loaded: 0, length });
  return section;
}

async function loadItems(type, append) {
  const q = open.get(type);
  if (!q) return;
  if (q.length === 0) {
    replaceChildren(q.list);
    show(q.more, false);
    return;
  }
  if (!hasRole('operator')) {
    // Listing dead letters needs role operator (they name files and jobs); viewers see counts.
    replaceChildren(q.list, h('li', { class: 'muted', text: 'Listing items needs role operator.' }));
    show(q.more, false);
    return;
  }
  const start = append ? q.loaded : 0;
  const end = start + PAGE - 1; // inclusive (F-12.2)
  setBusy(q.more, true, 'Loading…');
  try {
    const res = await fetchJson(`admin/dead-letter/items/${encodeURIComponent(type)}`, { params: { start, end } });
    const items = Array.isArray(res?.items) ? res.items : [];
    const nodes = items.map(buildItem);
    if (append) q.list.append(...nodes); else replaceChildren(q.list, nodes);
    q.loaded = start + items.length;
    const totalLen = toNum(res?.total_length) ?? q.length;
    show(q.more, q.loaded < totalLen && items.length > 0);
  } catch (err) {
    q.list.append(h('li', { class: 'error-text', text: `Failed to load items: ${errorText(err)}` }));
  } finally {
    setBusy(q.more, false);
  }
}

function buildItem(item) {
  const it = item && typeof item === 'object' ? item : {};
  const req = it.payload && typeof it.payload === 'object' && it.payload.scan_request && typeof it.payload.scan_request === 'object' ? it.payload.scan_request : {};
  const meta = it.meta && typeof it.meta === 'object' ? it.meta : {};
  const chain = it.chain && typeof it.chain === 'object' ? it.chain : {};
  const rows = [];
  const add = (label, value) => {
    if (value === null || value === undefined || value === '') return;
    rows.push(h('dt', { text: label }), h('dd', { class: 'mono', text: visible(String(value)) }));
  };
  add('Reason', it.reason);
  const details = typeof it.error_details === 'string' ? it.error_details : null;
  if (details) {
    const short = visible(clip(details, 200));
    const dd = details.length > 200
      ? h('dd', {}, h('details', {}, h('summary', { class: 'mono', text: short }), h('p', { class: 'mono', text: visible(details) })))
      : h('dd', { class: 'mono', text: short });
    rows.push(h('dt', { text: 'Error' }), dd);
  }
  add('Retries', it.retry_count);
  add('Location', req.location);
  add('Metainfo', req.metainfo);
  add('Job id', req.scan_job_id ?? meta.job_id);
  add('Task id', chain.scan_request_task_id ?? meta.task_id);
  add('Failed at', meta.failed_at ?? it.failed_at ?? it.timestamp ?? it.created_at);
  return h('li', { class: 'dlq-item', testid: 'dlq-item' }, h('dl', { class: 'details' }, rows));
}

/** Requeue one queue (`type`) or all (null). */
async function requeue(type, btn) {
  setBusy(btn, true, 'Requeueing…');
  try {
    const res = await request(type ? `admin/dead-letter/requeue/${encodeURIComponent(type)}` : 'admin/dead-letter/requeue', { method: 'POST' });
    if (!res.ok) throw new Error(reasonOf(res));
    const b = res.body || {};
    let n = 0;
    if (type) n = toNum(b.requeued_count) ?? 0;
    else if (Array.isArray(b.results)) n = b.results.reduce((a, r) => a + (toNum(r?.requeued_count) ?? 0), 0);
    const failed = type ? toNum(b.failed_count) ?? 0 : 0;
    toast(failed > 0 ? 'warning' : 'success', `Requeued ${fmtCount(n)} item${n === 1 ? '' : 's'}${failed > 0 ? `, ${fmtCount(failed)} failed` : ''}`);
  } catch (err) {
    toast('error', `Requeue failed: ${err.reason || err.message || errorText(err)}`);
  } finally {
    setBusy(btn, false);
    await after();
    followUp();
  }
}

/**
 * Requeued items are processed after the answer; one that fails again returns to the DLQ without
 * changing its job's counters (docs/reference/CORE-API.md, "Dead letters and job accounting"), so
 * no failed_count rise will announce it. A few bounded follow-up refreshes (2 s, 5 s, 10 s after
 * the action) show the count settle.
 */
function followUp() {
  for (const ms of [2000, 5000, 10000]) setTimeout(after, ms);
}

/** Clear one queue (`type`, with its length) or all (null), after confirmation. */
async function clear(type, btn, length) {
  const n = type ? length : total;
  const ok = await confirmDialog({
    title: 'Delete dead-letter items',
    text: `Delete ${fmtCount(n)} dead-letter item${n === 1 ? '' : 's'}? This cannot be undone.`,
    okLabel: 'Delete',
    cancelLabel: 'Cancel',
  });
  if (!ok) return;
  setBusy(btn, true, 'Clearing…');
  try {
    const res = await request(type ? `admin/dead-letter/clear/${encodeURIComponent(type)}` : 'admin/dead-letter/clear', { method: 'DELETE' });
    if (!res.ok) throw new Error(reasonOf(res));
    const b = res.body;
    const cleared = Array.isArray(b) ? b.reduce((a, r) => a + (toNum(r?.cleared_count) ?? 0), 0) : toNum(b?.cleared_count) ?? 0;
    toast('success', `Cleared ${fmtCount(cleared)} item${cleared === 1 ? '' : 's'}`);
  } catch (err) {
    toast('error', `Clear failed: ${err.reason || err.message || errorText(err)}`);
  } finally {
    setBusy(btn, false);
    await after();
  }
}

async function after() {
  if (dlg.open) await loadDialog(); else await refreshDlqStats();
}
