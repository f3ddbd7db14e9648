/**
 * Statistics dialog (UI.md F-10): `GET scan/stats` on open and on Refresh; while open, live
 * results trigger a refresh at most once per 2 s. Negative values are the model's "no data"
 * defaults and show `—`.
 */
import { fetchJson, errorText } from './api.js';
import { h, byTestId, replaceChildren, setBusy } from './dom.js';
import { openDialog } from './dialogs.js';
import { fmtCount, fmtMicros, fmtSize, toNum, visible } from './format.js';

const MIN_GAP_MS = 2000;
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
    const s = await fetchJson('scan/stats');
    render(s && typeof s === 'object' ? s : {});
  } catch (err) {
    replaceChildren(body, h('p', { class: 'error-text', text: `Failed to load statistics: ${errorText(err)}` }));
  } finally {
    inflight = false;
    lastAt = performance.now();
    setBusy(refreshBtn, false);
  }
}

function render(s) {
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
  replaceChildren(body, table);
}
