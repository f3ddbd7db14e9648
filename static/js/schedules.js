/**
 * The Schedules section (docs/SCHEDULES.md, "In the web UI"): every scan schedule with its cadence,
 * next due time and last run (outcome, reason, job); operators create, edit, pause, resume and
 * delete them in a dialog. All server text is shown as text.
 *
 * No blind polling: the list is read at load, after every change, when a job of a schedule
 * (`sched-…`) first shows up in a live frame, and shortly after the earliest next due time (a
 * skipped or failed run starts no job, so no frame would tell).
 */
import { request, reasonOf, errorText } from './api.js';
import { call, td, timeCell, rowButton } from './admin.js';
import { hasRole } from './auth.js';
import { on } from './bus.js';
import { openDialog, closeDialog, confirmDialog } from './dialogs.js';
import { h, byTestId, replaceChildren, setText, show } from './dom.js';
import { toEpochMs, visible } from './format.js';
import { toast } from './toast.js';

/** Waits after a due time before reading the outcome; at most this long between reads. */
const AFTER_DUE_MS = 3000;
const MAX_WAIT_MS = 10 * 60 * 1000;

let tbody;
let dlg;
let form;
let editing = null; // the schedule being edited, or null for a new one
let timer = null;
let connectorNameOf = (uuid) => uuid;
let connectorList = () => [];
const seenJobs = new Set();

export function initSchedules({ connectorName, connectors }) {
  connectorNameOf = connectorName;
  connectorList = connectors;
  tbody = byTestId('schedules-table').tBodies[0];
  dlg = byTestId('schedule-dialog');
  form = byTestId('schedule-form');
  byTestId('schedule-new').addEventListener('click', (e) => openEditor(null, e.currentTarget));
  byTestId('schedule-cancel').addEventListener('click', () => closeDialog(dlg));
  form.addEventListener('change', (e) => { if (e.target.name === 'kind') showKind(); });
  form.addEventListener('submit', (e) => { e.preventDefault(); save(); });
  on('job', ({ job }) => {
    if (typeof job.id === 'string' && job.id.startsWith('sched-') && !seenJobs.has(job.id)) {
      seenJobs.add(job.id);
      loadSchedules();
    }
  });
}

function status(text, error = false) {
  const p = byTestId('schedules-status');
  setText(p, text || '');
  p.className = error ? 'panel-status error-text' : 'panel-status muted';
}

/** Reads the list and renders it; schedules the next read after the earliest due time. */
export async function loadSchedules() {
  let res;
  try {
    res = await request('schedules');
  } catch (err) {
    status(`Failed to load schedules: ${errorText(err)}`, true);
    return;
  }
  if (!res.ok || !Array.isArray(res.body)) {
    status(`Failed to load schedules: ${reasonOf(res)}`, true);
    return;
  }
  const list = res.body.filter((s) => s && typeof s.id === 'string');
  replaceChildren(tbody, ...list.map(row));
  status(list.length === 0 ? 'No schedules.' : '');
  planNextRead(list);
}

function planNextRead(list) {
  clearTimeout(timer);
  const dues = list.map((s) => toEpochMs(s.next_run_at)).filter((t) => t !== null);
  if (dues.length === 0) return;
  const wait = Math.min(Math.max(Math.min(...dues) - Date.now() + AFTER_DUE_MS, AFTER_DUE_MS), MAX_WAIT_MS);
  timer = setTimeout(loadSchedules, wait);
}

function cadenceText(s) {
  if (s.cron) return `cron ${s.cron} (${s.timezone || 'UTC'})`;
  if (Number.isFinite(s.interval_secs)) return `every ${s.interval_secs} s`;
  return null;
}

function lastRunCell(s) {
  const r = s.last_run;
  if (!r || typeof r !== 'object') return h('td', { text: 'never' });
  const outcome = String(r.outcome || '');
  const parts = [h('span', { class: `run-outcome run-${outcome}`, testid: 'schedule-outcome', text: visible(outcome) })];
  if (typeof r.job_id === 'string') parts.push(' ', h('span', { class: 'mono', text: visible(r.job_id.slice(-13)) }));
  return h('td', { class: 'cell-wrap', title: r.reason ? visible(String(r.reason)) : null }, ...parts,
    r.reason ? h('div', { class: 'muted small', testid: 'schedule-reason', text: visible(String(r.reason)) }) : '');
}

function row(s) {
  const name = visible(s.name || s.id);
  const actions = [];
  if (hasRole('operator')) {
    const edit = rowButton('Edit', 'schedule-edit', `Edit schedule ${name}`);
    edit.addEventListener('click', () => openEditor(s, edit));
    const toggle = rowButton(s.paused ? 'Resume' : 'Pause', 'schedule-toggle', `${s.paused ? 'Resume' : 'Pause'} schedule ${name}`);
    toggle.addEventListener('click', () => setPaused(s, !s.paused, toggle));
    const del = rowButton('Delete', 'schedule-delete', `Delete schedule ${name}`, 'btn btn-small btn-danger');
    del.addEventListener('click', () => remove(s, del));
    actions.push(edit, toggle, del);
  }
  return h('tr', { testid: 'schedule-row', 'data-schedule-id': s.id },
    td(s.name, { title: s.created_by ? `created by ${s.created_by}` : null, cls: 'cell-wrap' }),
    td(connectorNameOf(s.connector_uuid) || s.connector_uuid),
    td(cadenceText(s), { cls: 'mono', title: s.filter ? `filter: ${s.filter}` : null }),
    s.paused ? h('td', { testid: 'schedule-next', text: 'paused' }) : nextCell(s.next_run_at),
    lastRunCell(s),
    h('td', { class: 'row-actions' }, ...actions));
}

function nextCell(iso) {
  const cell = timeCell(iso);
  cell.setAttribute('data-testid', 'schedule-next');
  return cell;
}

function showKind() {
  const kind = form.elements.kind.value;
  for (const el of form.querySelectorAll('[data-kind]')) show(el, el.dataset.kind === kind);
}

function openEditor(s, opener) {
  editing = s;
  form.reset();
  setText(dlg.querySelector('#schedule-title'), s ? 'Edit schedule' : 'New schedule');
  const select = form.elements.connector_uuid;
  const options = connectorList().map((c) => h('option', { value: c.uuid, text: visible(c.name || c.uuid) }));
  if (s && !options.some((o) => o.value === s.connector_uuid)) {
    options.push(h('option', { value: s.connector_uuid, text: visible(s.connector_uuid) }));
  }
  replaceChildren(select, ...options);
  if (s) {
    form.elements.name.value = s.name || '';
    select.value = s.connector_uuid;
    form.elements.kind.value = s.cron ? 'cron' : 'interval';
    form.elements.cron.value = s.cron || '';
    form.elements.timezone.value = s.cron ? (s.timezone || '') : '';
    form.elements.interval_secs.value = Number.isFinite(s.interval_secs) ? String(s.interval_secs) : '';
    form.elements.filter.value = s.filter || '';
    form.elements.job_name.value = s.job_name || '';
    form.elements.missed_runs.value = s.missed_runs === 'skip' ? 'skip' : 'once';
  }
  showKind();
  showError(null);
  openDialog(dlg, opener);
  form.elements.name.focus();
}

function showError(text) {
  const p = byTestId('schedule-error');
  setText(p, text || '');
  show(p, Boolean(text));
}

/** The 422 answer as one line per problem: `field: message`. */
function problems(body) {
  if (!body || !Array.isArray(body.detail)) return null;
  return body.detail.map((d) => `${visible(String((d.loc || []).slice(-1)[0] ?? ''))}: ${visible(String(d.msg || ''))}`).join('\n');
}

async function save() {
  const f = form.elements;
  const text = (el) => (el.value.trim() === '' ? null : el.value.trim());
  const body = {
    connector_uuid: f.connector_uuid.value,
    name: f.name.value.trim(),
    filter: text(f.filter),
    job_name: text(f.job_name),
    missed_runs: f.missed_runs.value,
    paused: editing ? Boolean(editing.paused) : false,
  };
  if (f.kind.value === 'cron') {
    body.cron = f.cron.value.trim();
    body.timezone = text(f.timezone) || 'UTC';
  } else {
    body.interval_secs = Number(f.interval_secs.value);
  }
  const path = editing ? `schedules/${encodeURIComponent(editing.id)}` : 'schedules';
  let res;
  try {
    res = await request(path, { method: editing ? 'PUT' : 'POST', json: body });
  } catch (err) {
    showError(errorText(err));
    return;
  }
  if (!res.ok) {
    showError(res.status === 422 ? problems(res.body) || reasonOf(res) : reasonOf(res));
    return;
  }
  closeDialog(dlg);
  toast('success', `Schedule ${visible(body.name)} ${editing ? 'saved' : 'created'}`);
  loadSchedules();
}

async function setPaused(s, paused, btn) {
  const verb = paused ? 'pause' : 'resume';
  const res = await call(`${paused ? 'Pausing' : 'Resuming'} the schedule`, `schedules/${encodeURIComponent(s.id)}/${verb}`, { method: 'POST', btn });
  if (res) toast('success', `Schedule ${visible(s.name)} ${paused ? 'paused' : 'resumed'}`);
  loadSchedules();
}

async function remove(s, btn) {
  const ok = await confirmDialog({
    title: 'Delete schedule',
    text: `Delete the schedule ${visible(s.name)}? Jobs it started are kept.`,
    okLabel: 'Delete',
  });
  if (!ok) return;
  const res = await call('Deleting the schedule', `schedules/${encodeURIComponent(s.id)}`, { method: 'DELETE', btn });
  if (res) toast('success', `Schedule ${visible(s.name)} deleted`);
  loadSchedules();
}
