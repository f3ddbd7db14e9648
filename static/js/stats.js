/**
 * Statistics dialog (docs/reference/UI.md, F-10): `GET scan/stats` on open and on Refresh; while
 * open, live results trigger a refresh at most once per 2 s. Negative values are the model's
 * "no data" defaults and show `—`. Below the table, "Findings (24 h)" from `GET
 * scan/findings/summary`: the malicious count, the top threats and the most recent findings (all
 * peer text as text).
 */
import { fetchJson, errorText } from './api.js';
import { h, byTestId, replaceChildren, setBusy } from './dom.js';
import { openDialog } from './dialogs.js';
import { clip, fmtCount, fmtDateTime, fmtMicros, fmtSize, toNum, visible } from './format.js';

const MIN_GAP_MS = 2000;
const RECENT = 5;
const TOP_THREATS = 5;
let dlg;
let body;
let refreshBtn;
let lastAt = 0;
let timer = null;
let inflight = false;

const count = (v) => { const n = toNum(v); return n === null || n < 0 ? '—' : fmtCount(n); };
const micros = (v) => { const n = toNum(v); return n === null || n < 0 ? '—' : fmtMicros(n); };
const size = (v) => { const n = toNum(v); return n === null || n < 0 ? '—' : fmtSize(n); };
const sizeTitle = (v) => { const n = toNum(v); return n === null || n < 0 ? null : `${n} bytes`; };

export function initStats() {
  dlg = byTestId('stats-dialog');
  body = dlg.querySelector('.stats-body');
  refreshBtn = byTestId('stats-refresh');
  byTestId('stats-button').addEventListener('click', (e) => { openDialog(dlg, e.currentTarget); refresh(); });
  refreshBtn.addEventListener('click', refresh);
}

/** Called for every live result: refreshes an open dialog, throttled (F-10.1). */
export function statsNudge() {
  if (!dlg || !dlg.open || timer) return;
  const wait = Math.max(0, lastAt + MIN_GAP_MS - performance.now());
  timer = setTimeout(() => { timer = null; if (dlg.open) refresh(); }, wait);
}

async function refresh() {
  if (inflight) return;
  inflight = true;
  lastAt = performance.now();
  setBusy(refreshBtn, true, 'Refreshing…');
  if (!body.firstChild) replaceChildren(body, h('p', { class: 'muted', text: 'Loading…' }));
  try {
    const [s, f] = await Promise.all([
      fetchJson('scan/stats'),
      fetchJson(`scan/findings/summary?recent=${RECENT}`).catch(() => null),
    ]);
    render(s && typeof s === 'object' ? s : {}, f && typeof f === 'object' ? f : null);
  } catch (err) {
    replaceChildren(body, h('p', { class: 'error-text', text: `Failed to load statistics: ${errorText(err)}` }));
  } finally {
    inflight = false;
    lastAt = performance.now();
    setBusy(refreshBtn, false);
  }
}

function render(s, findings) {
  const rows = [
    ['Files scanned', count(s.files_scanned)],
    ['Benign', count(s.benign_count)],
    ['Malicious', count(s.malicious_count)],
    ['Unknown', count(s.unknown_count)],
    ['Unsupported', count(s.unsupported_count)],
    ['Not scanned', count(s.not_scanned_count)],
    ['Encrypted', count(s.encrypted_count)],
    ['Total scan time', micros(s.total_scan_time_in_microseconds)],
    ['Total bytes scanned', size(s.total_file_size), sizeTitle(s.total_file_size)],
    ['Average file size', size(s.avg_file_size), sizeTitle(s.avg_file_size)],
    ['Average scan time', micros(s.avg_scan_time_in_microseconds)],
    ['Median file size', size(s.median_file_size_in_bytes), sizeTitle(s.median_file_size_in_bytes)],
    ['Median scan time', micros(s.median_scan_time_in_microseconds)],
  ];
  const longestFile = typeof s.longest_scan_time_file === 'string' && s.longest_scan_time_file ? visible(s.longest_scan_time_file) : '—';
  const longest = longestFile === '—' ? '—'
    : `${longestFile} (${size(s.longest_scan_time_file_size_in_bytes)}, ${micros(s.longest_scan_time_in_microseconds)})`;
  rows.push(['Longest scan', longest, typeof s.longest_scan_time_file === 'string' ? s.longest_scan_time_file : null]);
  const table = h('table', { class: 'stats-table' },
    h('caption', { class: 'visually-hidden', text: 'Scan statistics' }),
    h('tbody', {}, rows.map(([label, value, title]) =>
      h('tr', { 'data-stat': label }, h('th', { scope: 'row', text: label }), h('td', { title: title || null, text: value })))));
  replaceChildren(body, table, renderFindings(findings));
}

const when = (t) => { const ms = Date.parse(t); return Number.isNaN(ms) ? '—' : fmtDateTime(ms); };

/** The "Findings (24 h)" section; a summary that failed to load says so. */
function renderFindings(f) {
  const title = h('h3', { class: 'findings-title', text: 'Findings (24 h)' });
  if (!f) return h('section', { testid: 'findings' }, title, h('p', { class: 'error-text', text: 'Failed to load the findings summary.' }));
  const n = toNum(f.malicious) ?? 0;
  const partial = f.complete === false ? ' (the newest 10,000 counted)' : '';
  const count = n === 0 ? 'No malicious files in the last 24 hours.'
    : `${fmtCount(n)} malicious file${n === 1 ? '' : 's'}${partial}; last at ${when(f.last_seen)}.`;
  const parts = [title, h('p', { testid: 'findings-count', text: count })];
  const threats = Array.isArray(f.by_threat) ? f.by_threat.slice(0, TOP_THREATS) : [];
  if (threats.length) {
    parts.push(h('ul', { class: 'findings-threats', testid: 'findings-threats' },
      threats.map((g) => h('li', { text: `${visible(clip(g.label, 80))} × ${fmtCount(toNum(g.count) ?? 0)}` }))));
  }
  const recent = Array.isArray(f.recent) ? f.recent : [];
  if (recent.length) {
    parts.push(h('table', { class: 'stats-table', testid: 'findings-recent' },
      h('caption', { class: 'visually-hidden', text: 'Most recent findings' }),
      h('thead', {}, h('tr', {}, ['Time', 'Path', 'Threat', 'Action'].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, recent.map((r) => h('tr', {},
        h('td', { text: when(r.timestamp) }),
        h('td', { title: visible(r.location), text: visible(clip(r.location, 60)) }),
        h('td', { text: visible(clip(r.threat ?? '—', 40)) }),
        h('td', { title: visible(r.action_message), text: `${visible(r.action)} (${visible(r.action_status)})` }))))));
  }
  return h('section', { testid: 'findings' }, parts);
}
