/**
 * Jobs history (docs/reference/UI.md, F-11): every job the server knows, newest start first, 20 per
 * page (client-side). Rows are keyed by job id and updated in place from the job model; row
 * controls use the same requests and feedback as the card buttons (control.js).
 */
import { on } from './bus.js';
import { h, icon, byTestId, setText, setAttr, show, setBusy, coalescer, copyText } from './dom.js';
import { fmtCount, fmtDateTime, fmtDuration, isoOf, shortId, visible } from './format.js';
import { jobs, figures, isActive } from './jobs.js';
import { controlJob } from './control.js';
import { toast } from './toast.js';

const PER_PAGE = 20;
const STATUS = {
  running: ['Running', 'badge badge-info'],
  paused: ['Paused', 'badge badge-warning'],
  cancelling: ['Cancelling', 'badge badge-warning'],
  completed: ['Completed', 'badge badge-success'],
  cancelled: ['Cancelled', 'badge badge-neutral'],
};

const rows = new Map();
let page = 0;
let connectorFilter = null;
let els;
let nameOf = () => null;
let onResults = () => {};
const schedule = coalescer(render, 250);

export function initJobsTable({ connectorName, showResults }) {
  nameOf = connectorName;
  onResults = showResults;
  els = {
    table: byTestId('jobs-table'),
    tbody: byTestId('jobs-table').tBodies[0],
    empty: document.querySelector('.jobs-empty'),
    pager: document.querySelector('.jobs-pager'),
    pagerText: document.querySelector('.jobs-pager .pager-text'),
    prev: document.querySelector('.jobs-prev'),
    next: document.querySelector('.jobs-next'),
    filter: document.querySelector('.jobs-filter'),
    filterText: document.querySelector('.jobs-filter-text'),
    filterClear: document.querySelector('.jobs-filter-clear'),
  };
  els.prev.addEventListener('click', () => { page = Math.max(0, page - 1); render(); });
  els.next.addEventListener('click', () => { page += 1; render(); });
  els.filterClear.addEventListener('click', () => filterByConnector(null));
  on('job', ({ source }) => { if (source === 'control') render(); else schedule(); });
  on('job-removed', ({ job }) => {
    const row = rows.get(job.id);
    if (row) { row.tr.remove(); rows.delete(job.id); }
    schedule();
  });
}

/** Shows only one connector's jobs (the card's "+N more running" link, F-04.5). */
export function filterByConnector(uuid) {
  connectorFilter = uuid;
  page = 0;
  render();
  if (uuid) document.getElementById('jobs-section').scrollIntoView({ block: 'start' });
}

function buildRow(id) {
  const p = {};
  p.badge = h('span', { class: 'badge badge-info' });
  p.jobId = h('span', { class: 'mono', title: id, text: shortId(id) });
  p.copy = h('button', { type: 'button', class: 'btn btn-ghost btn-icon btn-small', 'aria-label': `Copy job id ${id}`, title: 'Copy job id' }, icon('copy'));
  // data-label feeds the stacked layout below 600 px (CSS shows it before the value).
  p.conn = h('td', { 'data-label': 'Connector' });
  p.name = h('td', { 'data-label': 'Name', class: 'wide-only' });
  p.started = h('td', { class: 'mono', 'data-label': 'Started' });
  p.duration = h('td', { class: 'mono', 'data-label': 'Duration' });
  p.progress = h('td', { class: 'num', 'data-label': 'Progress' });
  p.malicious = h('td', { class: 'num', 'data-label': 'Malicious' });
  p.failed = h('td', { class: 'num', 'data-label': 'Failed' });
  // Job controls need role operator (docs/AUTH.md, "Routes by role"); auth.js hides them below it.
  const btn = (label, iconName, cls = 'btn btn-small') => h('button', { type: 'button', class: cls, 'data-min-role': 'operator' }, icon(iconName), h('span', { class: 'btn-text', text: label }));
  p.results = h('button', { type: 'button', class: 'btn btn-small', testid: 'btn-job-results' }, icon('list'), h('span', { class: 'btn-text', text: 'Results' }));
  p.pause = btn('Pause', 'pause');
  p.resume = btn('Resume', 'play');
  p.cancel = btn('Cancel', 'stop', 'btn btn-small btn-danger');
  p.tr = h('tr', { class: 'job-row', testid: 'job-row', 'data-job-id': id },
    h('td', { class: 'cell-status' }, p.badge),
    h('td', { class: 'cell-jobid' }, h('span', { class: 'file-cell' }, p.jobId, p.copy)),
    p.conn, p.name, p.started, p.duration, p.progress, p.malicious, p.failed,
    h('td', { class: 'cell-actions' }, h('div', { class: 'row-actions' }, p.results, p.pause, p.resume, p.cancel)));
  p.copy.addEventListener('click', async () => {
    const ok = await copyText(id);
    toast(ok ? 'success' : 'error', ok ? 'Job id copied' : 'Copy failed');
  });
  p.results.addEventListener('click', () => onResults(id));
  const name = () => nameOf(jobs.get(id)?.connectorUuid) || 'this connector';
  p.pause.addEventListener('click', () => controlJob(id, 'pause', name()));
  p.resume.addEventListener('click', () => controlJob(id, 'resume', name()));
  p.cancel.addEventListener('click', () => controlJob(id, 'cancel', name()));
  rows.set(id, p);
  return p;
}

function updateRow(p, job) {
  const [label, cls] = STATUS[job.status] || [visible(job.status), 'badge badge-neutral'];
  setText(p.badge, label);
  if (p.badge.className !== cls) p.badge.className = cls;
  setAttr(p.tr, 'data-status', job.status);
  const connName = job.connectorUuid ? nameOf(job.connectorUuid) || job.connectorUuid : '—';
  setText(p.conn, visible(connName));
  setAttr(p.conn, 'title', job.connectorUuid);
  setText(p.name, job.jobName ? visible(job.jobName) : '—');
  setText(p.started, fmtDateTime(job.startedAt));
  setAttr(p.started, 'title', isoOf(job.startedAt));
  setText(p.duration, fmtDuration(job.durationSecs));
  const f = figures(job);
  setText(p.progress, f.total !== null ? `${fmtCount(f.done)} / ${fmtCount(f.total)}` : fmtCount(f.done));
  setText(p.malicious, fmtCount(job.verdicts.verdict_malicious || 0));
  // Unreadable folders are shown with the failures: both are files this job did not scan.
  setText(p.failed, job.unreadable > 0 ? `${fmtCount(job.failed)} + ${fmtCount(job.unreadable)} unreadable` : fmtCount(job.failed));
  setAttr(p.failed, 'title', job.unreadable > 0 ? `${fmtCount(job.unreadable)} folders could not be read` : null);

  const active = isActive(job);
  const pending = job.pending;
  const paused = job.status === 'paused' || pending === 'resuming';
  show(p.pause, active && !paused);
  show(p.resume, active && paused);
  show(p.cancel, active);
  setBusy(p.pause, pending === 'pausing', 'Pausing…');
  setBusy(p.resume, pending === 'resuming', 'Resuming…');
  setBusy(p.cancel, pending === 'cancelling', 'Cancelling…');
  if (pending || job.status === 'cancelling') { p.pause.disabled = true; p.resume.disabled = true; p.cancel.disabled = true; }
}

function render() {
  if (!els) return;
  const list = [...jobs.values()]
    .filter((j) => !connectorFilter || j.connectorUuid === connectorFilter)
    .sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0) || (a.id < b.id ? -1 : 1));
  const pages = Math.max(1, Math.ceil(list.length / PER_PAGE));
  page = Math.min(page, pages - 1);
  const slice = list.slice(page * PER_PAGE, page * PER_PAGE + PER_PAGE);

  // Reuse row elements; only move nodes whose position changed (keeps focus inside rows).
  const wanted = slice.map((job) => rows.get(job.id) || buildRow(job.id));
  const keep = new Set(wanted.map((p) => p.tr));
  for (const tr of [...els.tbody.children]) if (!keep.has(tr)) tr.remove();
  wanted.forEach((p, i) => {
    updateRow(p, slice[i]);
    if (els.tbody.children[i] !== p.tr) els.tbody.insertBefore(p.tr, els.tbody.children[i] || null);
  });

  show(els.empty, slice.length === 0);
  show(els.pager, pages > 1);
  setText(els.pagerText, `Page ${page + 1} of ${pages}`);
  els.prev.disabled = page === 0;
  els.next.disabled = page >= pages - 1;
  show(els.filter, !!connectorFilter);
  if (connectorFilter) setText(els.filterText, `Showing jobs of ${visible(nameOf(connectorFilter) || connectorFilter)}`);
}

export const renderJobsTable = render;
