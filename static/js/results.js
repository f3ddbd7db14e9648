/**
 * Scan results table (docs/reference/UI.md, F-09). History comes from `GET scan/results` (50 per
 * page, newest first, `before_id` paging); live rows come from `scan_result` frames and are
 * inserted in batches per animation frame. The DOM never holds more than 500 rows, so a 20,000-file
 * scan streams through without growing the page or blocking the main thread (B11).
 */
import { fetchJson, errorText } from './api.js';
import { h, icon, byTestId, show, setText, nextFrame, copyText } from './dom.js';
import { fmtTime, fmtSize, fmtMicros, isoOf, shortId, toEpochMs, toNum, visible } from './format.js';
import { toast } from './toast.js';

const PAGE = 50;
const MAX_ROWS = 500;
const MAX_PER_FRAME = 40;

const VERDICTS = {
  Malicious: ['Malicious', 'virus', 'verdict verdict-malicious'],
  Benign: ['Benign', 'check-circle', 'verdict verdict-benign'],
  Unknown: ['Unknown', 'question-circle', 'verdict verdict-unknown'],
  'Unsupported File Type': ['Unsupported', 'file-x', 'verdict verdict-unknown'],
};

/** [text, icon, class] of a verdict (F-09.3); classes come only from this table ("Rendering rules"). */
export function verdictView(verdict) {
  const raw = verdict && typeof verdict.verdict === 'string' ? verdict.verdict : null;
  if (raw === 'Not Scanned') {
    const reason = verdict.verdict_details && typeof verdict.verdict_details.reason === 'string' ? verdict.verdict_details.reason : '';
    return reason.trim().toLowerCase() === 'encrypted file'
      ? ['Not scanned (encrypted)', 'lock', 'verdict verdict-notscanned']
      : ['Not scanned', 'minus-circle', 'verdict verdict-notscanned'];
  }
  if (raw && Object.prototype.hasOwnProperty.call(VERDICTS, raw)) return VERDICTS[raw];
  return [raw ? visible(raw) : '—', 'question-circle', 'verdict verdict-unknown'];
}

const TYPE_ICONS = [
  [/^(png|jpe?g|gif|bmp|webp|svg|tiff?|ico|heic)$|image/, 'file-image'],
  [/^(zip|rar|7z|gz|tgz|tar|bz2|xz|cab|iso|jar)$|archive|compress/, 'file-archive'],
  [/^(exe|dll|msi|elf|so|bin|com|scr|sys|dmg|apk)$|^pe|executable|mach-?o/, 'file-binary'],
  [/^(js|mjs|ts|py|sh|ps1|bat|cmd|vbs|java|c|h|cpp|rs|go|rb|php|pl)$|script/, 'file-code'],
  [/^(txt|md|csv|log|json|xml|html?|pdf|rtf|docx?|xlsx?|pptx?|odt|ods|eml|msg)$|text|document|pdf|office/, 'file-text'],
];

/** Sprite icon for a file (type from DSXA, else the name's extension); unknown → generic (B12). */
function fileIcon(fileType, name) {
  const t = String(fileType || '').toLowerCase();
  const ext = (/\.([A-Za-z0-9]{1,5})$/.exec(String(name || '')) || [])[1]?.toLowerCase() || '';
  for (const [re, id] of TYPE_ICONS) if ((t && t !== 'unknown' && re.test(t)) || (ext && re.test(ext))) return id;
  return 'file';
}

const state = {
  filters: { verdict: '', job: '' },
  ids: new Set(),
  pending: [],
  held: [],
  hasMore: false,
  loading: false,
  detached: false,
  generation: 0,
  flushQueued: false,
  gap: false,
};
let els;
let nameOf = () => null;

export function initResults({ connectorName }) {
  nameOf = connectorName;
  els = {
    tbody: byTestId('results-table').querySelector('.rbody'),
    wrap: document.querySelector('.results-wrap'),
    empty: byTestId('results-empty'),
    error: document.querySelector('.results-error'),
    more: byTestId('btn-load-more'),
    newBtn: document.querySelector('.new-results'),
    verdict: byTestId('filter-verdict'),
    job: byTestId('filter-job'),
    clear: byTestId('btn-clear-filters'),
  };
  const params = new URLSearchParams(window.location.search);
  state.filters.verdict = params.get('verdict') || '';
  state.filters.job = params.get('job') || '';
  if (![...els.verdict.options].some((o) => o.value === state.filters.verdict)) state.filters.verdict = '';
  els.verdict.value = state.filters.verdict;
  els.job.value = state.filters.job;

  els.verdict.addEventListener('change', () => setFilters({ verdict: els.verdict.value }));
  els.job.addEventListener('change', () => setFilters({ job: els.job.value.trim() }));
  els.job.closest('form').addEventListener('submit', (e) => { e.preventDefault(); setFilters({ job: els.job.value.trim() }); });
  els.clear.addEventListener('click', () => setFilters({ verdict: '', job: '' }));
  els.more.addEventListener('click', () => loadPage(true));
  els.newBtn.addEventListener('click', showNewest);
  const onScroll = () => {
    invalidateAway();
    if (!scrolledAway() && state.held.length && !state.detached) releaseHeld();
  };
  els.wrap.addEventListener('scroll', onScroll, { passive: true });
  window.addEventListener('scroll', onScroll, { passive: true });
  window.addEventListener('resize', invalidateAway, { passive: true });
}

/** Sets filters (URL query too, F-09.6) and reloads page 1. */
export function setFilters(next) {
  Object.assign(state.filters, next);
  els.verdict.value = state.filters.verdict;
  els.job.value = state.filters.job;
  const url = new URL(window.location.href);
  for (const [param, key] of [['verdict', 'verdict'], ['job', 'job']]) {
    if (state.filters[key]) url.searchParams.set(param, state.filters[key]); else url.searchParams.delete(param);
  }
  window.history.replaceState(null, '', url);
  return reload();
}

/** Shows the results of one job and scrolls there (jobs table "Results" button). */
export function showJobResults(jobId) {
  setFilters({ verdict: '', job: jobId });
  document.getElementById('results-section').scrollIntoView({ block: 'start' });
}

function matches(sr) {
  const f = state.filters;
  if (f.verdict && sr.verdict?.verdict !== f.verdict) return false;
  if (f.job && sr.scan_job_id !== f.job) return false;
  return true;
}

const hasFilters = () => !!(state.filters.verdict || state.filters.job);

/** Clears the table and loads page 1 of the current filters. */
export function reload() {
  state.generation += 1;
  state.ids.clear();
  state.pending = [];
  state.held = [];
  state.detached = false;
  state.gap = false;
  els.tbody.replaceChildren();
  updateChrome();
  return loadPage(false);
}

/** True when the table shows its top (resync may refresh it, F-17.5). */
export const atTop = () => !state.detached && !scrolledAway();

async function loadPage(more) {
  if (state.loading && more) return;
  const gen = state.generation;
  state.loading = true;
  const params = { limit: PAGE, verdict: state.filters.verdict, job_id: state.filters.job };
  if (more) params.before_id = smallestId();
  if (more) { els.more.disabled = true; els.more.setAttribute('aria-busy', 'true'); }
  try {
    const list = await fetchJson('scan/results', { params });
    if (gen !== state.generation) return;
    const rows = Array.isArray(list) ? list.filter((r) => r && typeof r === 'object' && matches(r)) : [];
    state.hasMore = Array.isArray(list) && list.length >= PAGE;
    show(els.error, false);
    const frag = document.createDocumentFragment();
    for (const sr of rows) {
      const id = toNum(sr.id);
      if (id === null || state.ids.has(id)) continue;
      state.ids.add(id);
      frag.append(buildRow(sr));
    }
    els.tbody.append(frag);
    if (more) trimTop(); else trimBottom();
  } catch (err) {
    if (gen !== state.generation) return;
    setText(els.error, `Failed to load results: ${errorText(err)}`);
    show(els.error, true);
  } finally {
    if (gen === state.generation) state.loading = false;
    els.more.disabled = false;
    els.more.removeAttribute('aria-busy');
    updateChrome();
    if (!more) scheduleFlush();
  }
}

function smallestId() {
  const rows = els.tbody.querySelectorAll('.result-row');
  return rows.length ? rows[rows.length - 1].dataset.resultId : '';
}

/** A live `scan_result` frame (F-09.4). */
export function addLive(sr) {
  if (!sr || typeof sr !== 'object' || !matches(sr)) return;
  const id = toNum(sr.id);
  if (id === null || state.ids.has(id)) return;
  state.pending.push(sr);
  // Bounded: a table's worth of pending rows is all that can ever be shown. Dropping older
  // pending rows leaves a hole between them and the rows on screen, so those are replaced
  // as a whole at the next insert (the table stays contiguous for Load more).
  if (state.pending.length > MAX_ROWS) {
    state.pending.splice(0, state.pending.length - MAX_ROWS);
    state.gap = true;
  }
  scheduleFlush();
}

/**
 * Live rows are inserted in small batches (≤ 40 rows) at most every 250 ms. Building a batch's
 * nodes runs in its own task; only the insertion happens in the animation frame, so a fast
 * stream never puts the row-building and the layout of a frame into one long task.
 */
const FLUSH_GAP_MS = 250;
let lastFlush = 0;
function scheduleFlush() {
  if (state.flushQueued) return;
  state.flushQueued = true;
  const wait = Math.max(0, lastFlush + FLUSH_GAP_MS - performance.now());
  setTimeout(flush, wait);
}

function topId() {
  const first = els.tbody.querySelector('.result-row');
  return first ? Number(first.dataset.resultId) : -Infinity;
}

function flush() {
  state.flushQueued = false;
  lastFlush = performance.now();
  if (state.loading) return; // page 1 in flight: flushed when it lands
  const batch = state.pending.splice(0, MAX_PER_FRAME);
  if (!batch.length) return;
  if (state.detached || scrolledAway()) {
    for (const sr of batch) state.held.push(sr);
    if (state.held.length > MAX_ROWS) state.held.splice(0, state.held.length - MAX_ROWS);
    updateChrome();
    if (state.pending.length) scheduleFlush();
    return;
  }
  const built = build(batch, state.gap ? -Infinity : topId());
  nextFrame(() => {
    commit(built);
    if (state.pending.length) scheduleFlush();
  });
}

/** Builds the rows of `batch` newer than `top`, newest first (no layout yet). */
function build(batch, top) {
  const fresh = batch.filter((sr) => { const id = toNum(sr.id); return id !== null && id > top && !state.ids.has(id); });
  fresh.sort((a, b) => b.id - a.id);
  const frag = document.createDocumentFragment();
  for (const sr of fresh) frag.append(buildRow(sr));
  return { frag, ids: fresh.map((sr) => toNum(sr.id)), gen: state.generation };
}

/** Inserts built rows at the top (one layout), replacing the old rows after a gap. */
function commit({ frag, ids, gen }) {
  if (gen !== state.generation || !ids.length) return;
  if (state.gap) {
    state.gap = false;
    els.tbody.replaceChildren();
    state.ids.clear();
    state.hasMore = true;
  }
  for (const id of ids) state.ids.add(id);
  els.tbody.insertBefore(frag, els.tbody.firstChild);
  trimBottom();
  updateChrome();
}

function insertTop(batch) {
  commit(build(batch, topId()));
}

function releaseHeld() {
  const held = state.held;
  state.held = [];
  insertTop(held);
  updateChrome();
}

/** "N new results": back to the newest rows (reloads page 1 when Load more moved the window). */
function showNewest() {
  if (state.detached) {
    reload();
  } else {
    releaseHeld();
  }
  els.wrap.scrollTop = 0;
  document.getElementById('results-section').scrollIntoView({ block: 'start' });
}

/**
 * Whether the user scrolled away from the newest rows (then live rows are held, F-09.4). The
 * answer is cached and refreshed on scroll/resize events, so a flush never forces a layout.
 */
let awayCache = null;
function scrolledAway() {
  if (awayCache === null) {
    awayCache = els.wrap.scrollHeight > els.wrap.clientHeight + 1
      ? els.wrap.scrollTop > 4
      : els.tbody.getBoundingClientRect().top < -4;
  }
  return awayCache;
}
const invalidateAway = () => { awayCache = null; };

function removeRow(tr) {
  state.ids.delete(Number(tr.dataset.resultId));
  const next = tr.nextElementSibling;
  if (next && next.classList.contains('details-row')) next.remove();
  tr.remove();
}

/** Drops the oldest rows beyond MAX_ROWS (they stay reachable through Load more, F-09.5). */
function trimBottom() {
  const rows = els.tbody.querySelectorAll('.result-row');
  if (rows.length <= MAX_ROWS) return;
  for (let i = rows.length - 1; i >= MAX_ROWS; i -= 1) removeRow(rows[i]);
  state.hasMore = true;
}

/** After Load more: drops the newest rows beyond MAX_ROWS; live rows are then held. */
function trimTop() {
  const rows = els.tbody.querySelectorAll('.result-row');
  if (rows.length <= MAX_ROWS) return;
  for (let i = 0; i < rows.length - MAX_ROWS; i += 1) removeRow(rows[i]);
  state.detached = true;
}

function updateChrome() {
  const count = els.tbody.childElementCount;
  const empty = count === 0 && !state.loading;
  show(els.empty, empty);
  if (empty) setText(els.empty, hasFilters() ? 'No results match the filters.' : 'No scan results yet.');
  show(els.more, state.hasMore && count > 0);
  const n = state.held.length;
  show(els.newBtn, state.detached || n > 0);
  setText(els.newBtn, state.detached ? `Show newest results${n ? ` (${n} new)` : ''}` : `${n} new result${n === 1 ? '' : 's'}`);
}

/* ------------------------------------------------------------------ rows */

function actionText(ia) {
  if (!ia || typeof ia !== 'object') return '—';
  const act = typeof ia.item_action === 'string' ? ia.item_action : '';
  if (!act || act === 'nothing' || act === 'not implemented') return '—';
  const mark = ia.status === 'success' ? ' ✓' : ia.status === 'error' ? ' ✗' : '';
  return `${visible(act)}${mark}`;
}

function buildRow(sr) {
  const req = sr.scan_request && typeof sr.scan_request === 'object' ? sr.scan_request : {};
  const v = sr.verdict && typeof sr.verdict === 'object' ? sr.verdict : {};
  const info = v.file_info && typeof v.file_info === 'object' ? v.file_info : {};
  const [vText, vIcon, vClass] = verdictView(v);
  const ms = toEpochMs(sr.timestamp ?? sr.created_at);
  const file = visible(req.metainfo ?? req.location ?? '—');
  const conn = req.connector && typeof req.connector === 'object' ? req.connector : {};
  const connName = nameOf(conn.uuid) || conn.display_name || conn.name || '—';
  const size = toNum(info.file_size_in_bytes);
  const jobId = typeof sr.scan_job_id === 'string' ? sr.scan_job_id : '';

  // The chevron is drawn by CSS: one SVG <use> less per row keeps streaming inserts cheap.
  const toggle = h('button', { type: 'button', class: 'btn btn-ghost btn-icon btn-small toggle-details', 'aria-expanded': 'false', 'aria-label': `Details of ${file}` });
  const cell = (cls, props, ...kids) => h('div', { role: 'cell', class: cls, ...props }, ...kids);
  const tr = h('div', { role: 'row', class: 'rrow result-row', testid: 'result-row', 'data-result-id': String(sr.id), 'data-verdict': v.verdict ?? '', 'data-job-id': jobId },
    cell('cell-toggle', {}, toggle),
    cell('cell-time mono', { title: isoOf(ms), text: fmtTime(ms) }),
    cell('cell-verdict', {}, h('span', { class: vClass }, icon(vIcon), vText)),
    cell('cell-file', {}, h('span', { class: 'file-cell', title: visible(req.location ?? '') },
      icon(fileIcon(info.file_type, req.metainfo ?? req.location)), h('span', { class: 'cell-clip', text: file }))),
    cell('wide-only', { title: conn.uuid || null, text: visible(connName) }),
    cell('num wide-only', { title: size !== null ? `${size} bytes` : null, text: fmtSize(size) }),
    cell('wide-only', { text: visible(info.file_type ?? '—') }),
    cell('wide-only', { text: actionText(sr.item_action) }),
    cell('cell-job mono', { title: jobId || null, text: jobId ? `job ${shortId(jobId)}` : '—' }));
  toggle.addEventListener('click', () => toggleDetails(tr, toggle, sr));
  return tr;
}

function toggleDetails(tr, toggle, sr) {
  const open = toggle.getAttribute('aria-expanded') === 'true';
  const next = tr.nextElementSibling;
  if (open) {
    if (next && next.classList.contains('details-row')) next.remove();
    toggle.setAttribute('aria-expanded', 'false');
    return;
  }
  tr.after(buildDetails(sr));
  toggle.setAttribute('aria-expanded', 'true');
}

function copyButton(value, label) {
  const b = h('button', { type: 'button', class: 'btn btn-ghost btn-icon btn-small', 'aria-label': label, title: label }, icon('copy'));
  b.addEventListener('click', async () => {
    const ok = await copyText(value);
    toast(ok ? 'success' : 'error', ok ? 'Copied' : 'Copy failed');
  });
  return b;
}

function buildDetails(sr) {
  const req = sr.scan_request || {};
  const v = sr.verdict || {};
  const info = v.file_info || {};
  const det = v.verdict_details || {};
  const ia = sr.item_action || {};
  const items = [];
  const add = (label, text, extra) => items.push(h('dt', { text: label }), h('dd', {}, h('span', { class: 'mono', text: text === null || text === undefined || text === '' ? '—' : visible(text) }), extra || null));
  add('Location', req.location);
  add('Metainfo', req.metainfo);
  add('SHA-256', info.file_hash, info.file_hash ? copyButton(info.file_hash, 'Copy SHA-256') : null);
  add('File type', info.file_type);
  add('Size', info.file_size_in_bytes !== undefined && info.file_size_in_bytes !== null ? `${fmtSize(info.file_size_in_bytes)} (${info.file_size_in_bytes} bytes)` : null);
  add('Verdict', [v.verdict, det.event_description].filter(Boolean).join(' — '));
  add('Reason', [det.reason, det.threat_type].filter(Boolean).join(' · '));
  add('Action', ia.item_action === 'nothing' ? ia.message
    : [ia.item_action, ia.status, ia.message, ia.description].filter((x) => typeof x === 'string' && x).join(' — '));
  add('Engine', typeof v.scan_engine === 'string'
    ? `${v.scan_engine} (${typeof v.scan_engine_version === 'string' && v.scan_engine_version ? v.scan_engine_version : 'version not reported'})`
    : null);
  add('Scan duration', fmtMicros(v.scan_duration_in_microseconds));
  add('Task id', sr.scan_request_task_id);
  add('Job id', sr.scan_job_id, sr.scan_job_id ? copyButton(sr.scan_job_id, 'Copy job id') : null);
  add('Result id', sr.id);
  add('Recorded', sr.timestamp ?? sr.created_at);
  const raw = h('details', {}, h('summary', { text: 'Raw JSON' }), h('pre', { class: 'raw-json mono', text: JSON.stringify(sr, null, 2) }));
  return h('div', { role: 'row', class: 'details-row', testid: 'result-details' },
    h('div', { role: 'cell', class: 'details-cell' }, h('dl', { class: 'details' }, items), raw));
}

/** Number of result rows in the DOM (tests, debugging). */
export const rowCount = () => els.tbody.querySelectorAll('.result-row').length;
