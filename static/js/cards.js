/**
 * Connector cards (docs/reference/UI.md, F-03 … F-07, F-18). A card's element is built once per
 * connector uuid and then only updated in place — registration heartbeats (`refreshed`) never
 * rebuild it, so buttons, pill, badge and focus survive (the original's bug B1). The card's UI
 * state is derived from the job model (jobs.js) plus the card-local `starting` flag; rendering of
 * SSE-driven changes is coalesced to ≤ 4 per second, while the user's own clicks render at once (≤
 * 100 ms feedback).
 */
import { request, reasonOf, errorText } from './api.js';
import { on } from './bus.js';
import { h, icon, byTestId, setText, setAttr, show, setBusy, coalescer, copyText, replaceChildren } from './dom.js';
import { fmtCount, fmtDuration, fmtPercent, fmtRate, shortId, visible } from './format.js';
import { connectorIconNode } from './icons.js';
import { jobs, activeJobsOf, figures, startedJob, TERMINAL } from './jobs.js';
import { controlJob } from './control.js';
import { rememberJob, forgetJob } from './store.js';
import { toast } from './toast.js';

const OFFLINE_REMOVE_MS = 60000;
const READY_MIN_GAP_MS = 10000;

/** uuid → card record. */
export const cards = new Map();
let grid;
let emptyText;
let onConfigure = () => {};
let onShowJobs = () => {};

export function initCards({ configure, showJobs }) {
  grid = byTestId('connectors-grid');
  emptyText = byTestId('connectors-empty');
  onConfigure = configure;
  onShowJobs = showJobs;
  on('job', ({ job, source }) => {
    const card = job.connectorUuid ? cards.get(job.connectorUuid) : null;
    if (!card) return;
    if (source === 'control') render(card); else card.schedule();
  });
  on('job-removed', ({ job }) => {
    const card = job.connectorUuid ? cards.get(job.connectorUuid) : null;
    if (card) {
      if (card.jobId === job.id) card.jobId = null;
      render(card);
    }
  });
}

/** The display name of a connector (F-03.3), used by every view. */
export function connectorName(uuid) {
  const card = cards.get(uuid);
  return card ? card.displayName : null;
}

function displayNameOf(card) {
  return card.config?.display_name || card.list?.display_name || card.list?.name || card.uuid;
}

/* ------------------------------------------------------------------ building */

function buildCard(card) {
  const p = {};
  p.icon = h('div', { class: 'card-icon', testid: 'connector-icon' });
  p.name = h('h3', { class: 'card-name', testid: 'connector-name' });
  p.readyDot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  p.readyText = h('span', { text: 'Checking…' });
  p.ready = h('span', { class: 'readiness', testid: 'connector-ready' }, p.readyDot, p.readyText);
  p.cog = h('button', { type: 'button', class: 'btn btn-ghost btn-icon', testid: 'btn-connector-config' }, icon('cog'));
  p.uuid = h('dd', { class: 'mono', testid: 'connector-uuid' });
  p.asset = h('dd', { testid: 'connector-asset' });
  p.filter = h('dd', { class: 'mono', testid: 'connector-filter' });

  p.pill = h('span', { class: 'job-pill mono', testid: 'job-pill' });
  p.copy = h('button', { type: 'button', class: 'btn btn-ghost btn-icon btn-small', testid: 'btn-copy-job', 'aria-label': 'Copy job id', title: 'Copy job id' }, icon('copy'));
  p.more = h('button', { type: 'button', class: 'more-jobs' });
  p.badgeText = h('span');
  p.badge = h('span', { class: 'badge badge-neutral', testid: 'job-badge' }, p.badgeText);
  p.dismiss = h('button', { type: 'button', class: 'btn btn-ghost btn-icon btn-small', 'aria-label': 'Dismiss summary', title: 'Dismiss summary' }, icon('x'));
  p.jobLine = h('div', { class: 'job-line' }, p.pill, p.copy, p.more, p.badge, p.dismiss);
  p.fill = h('div', { class: 'progress-fill' });
  p.progress = h('div', { class: 'progress', testid: 'job-progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-label': 'Scan progress' }, p.fill);
  p.progressText = h('div', { class: 'progress-text', testid: 'job-progress-text' });
  p.note = h('div', { class: 'job-note', testid: 'job-note' });
  p.counts = h('div', { class: 'job-counts', testid: 'job-counts' });
  p.job = h('div', { class: 'card-job' }, p.jobLine, p.progress, p.progressText, p.note, p.counts);

  // Job controls need role operator (docs/AUTH.md, "Routes by role"); auth.js hides them below it.
  const btn = (testid, iconName, label, cls = 'btn') =>
    h('button', { type: 'button', class: cls, testid, 'data-min-role': 'operator' }, icon(iconName), h('span', { class: 'btn-text', text: label }));
  p.scan = btn('btn-full-scan', 'scan', 'Full Scan', 'btn btn-primary');
  p.pause = btn('btn-pause', 'pause', 'Pause');
  p.resume = btn('btn-resume', 'play', 'Resume');
  p.cancel = btn('btn-cancel', 'stop', 'Cancel', 'btn btn-danger');
  // Unchecked, unchanged files reuse their last verdict (docs/SCAN-REUSE.md); checked, all are scanned.
  p.rescan = h('input', { type: 'checkbox', testid: 'rescan-all' });
  p.rescanLabel = h('label', { class: 'check', 'data-min-role': 'operator', title: 'Scan every file, also those unchanged since their last scan' },
    p.rescan, h('span', { text: 'Rescan all' }));
  p.actions = h('div', { class: 'card-actions' }, p.scan, p.rescanLabel, p.pause, p.resume, p.cancel);

  const el = h('article', { class: 'card', testid: 'connector-card', 'data-connector-uuid': card.uuid },
    h('div', { class: 'card-head' }, p.icon, h('div', { class: 'card-title' }, p.name, p.ready), p.cog),
    h('dl', { class: 'card-meta' }, h('dt', { text: 'UUID' }), p.uuid, h('dt', { text: 'Asset' }), p.asset,
      h('dt', { text: 'Filter' }), p.filter),
    p.job, p.actions);

  p.scan.addEventListener('click', () => startScan(card.uuid, { rescanAll: p.rescan.checked }));
  p.pause.addEventListener('click', () => control(card, 'pause'));
  p.resume.addEventListener('click', () => control(card, 'resume'));
  p.cancel.addEventListener('click', () => control(card, 'cancel'));
  p.cog.addEventListener('click', () => onConfigure(card.uuid, p.cog));
  p.copy.addEventListener('click', async () => {
    const id = card.jobId;
    if (!id) return;
    const ok = await copyText(id);
    toast(ok ? 'success' : 'error', ok ? 'Job id copied' : 'Copy failed');
  });
  p.more.addEventListener('click', () => onShowJobs(card.uuid));
  p.dismiss.addEventListener('click', () => {
    card.finalJobId = null;
    card.keepFocus = true;
    render(card);
  });
  card.el = el;
  card.p = p;
  card.iconKey = undefined;
}

/* ------------------------------------------------------------------ model */

/** Adds a card for a list entry, or refreshes the model of an existing one (never rebuilds). */
export function upsertConnector(model, { fetchDetails = true } = {}) {
  const uuid = model.uuid;
  if (!uuid) return null;
  let card = cards.get(uuid);
  if (!card) {
    card = { uuid, list: model, config: null, ready: null, online: true, readyAt: 0, jobId: null, finalJobId: null,
      starting: false, keepFocus: false, offlineTimer: null, displayName: model.display_name || model.name || uuid };
    card.schedule = coalescer(() => render(card), 250);
    buildCard(card);
    cards.set(uuid, card);
    grid.append(card.el);
    render(card);
    if (fetchDetails) { refreshReady(card, true); loadConfig(card); }
  } else {
    card.list = { ...card.list, ...model };
    render(card);
  }
  show(emptyText, cards.size === 0);
  return card;
}

export async function refreshReady(card, force = false) {
  const now = performance.now();
  if (!force && now - card.readyAt < READY_MIN_GAP_MS) return;
  card.readyAt = now;
  clearTimeout(card.readyTimer);
  try {
    const res = await request(`connectors/readyz/${encodeURIComponent(card.uuid)}`);
    card.ready = res.ok;
  } catch {
    card.ready = false;
  }
  render(card);
  // A connector that registered before its first repository check ends is not ready yet: ask
  // again (2 s, doubling to 30 s) instead of waiting for its next heartbeat.
  card.readyDelay = card.ready ? 0 : Math.min((card.readyDelay || 1000) * 2, 30000);
  if (!card.ready && card.online) card.readyTimer = setTimeout(() => { if (card.online) refreshReady(card, true); }, card.readyDelay);
}

async function loadConfig(card) {
  try {
    const res = await request(`connectors/config/${encodeURIComponent(card.uuid)}`);
    if (res.ok && res.body && typeof res.body === 'object') card.config = res.body;
  } catch { /* card stays with the list's values */ }
  render(card);
}

/** `registered` / `refreshed` frames (F-18.1, F-18.2): model update, readiness refresh only. */
export function connectorEvent(frame) {
  const uuid = typeof frame.uuid === 'string' ? frame.uuid : null;
  if (!uuid) return;
  const card = cards.get(uuid);
  if (frame.type === 'unregistered') {
    if (card) goOffline(card, { revoked: frame.reason === 'revoked' });
    return;
  }
  if (!card) {
    upsertConnector({ uuid, name: frame.name, url: frame.url });
    return;
  }
  if (typeof frame.name === 'string') card.list = { ...card.list, name: frame.name };
  if (typeof frame.url === 'string' && frame.url) card.list = { ...card.list, url: frame.url };
  if (!card.online) {
    card.online = true;
    card.revoked = false;
    clearTimeout(card.offlineTimer);
    card.offlineTimer = null;
    refreshReady(card, true);
    loadConfig(card);
  } else {
    refreshReady(card);
  }
  render(card);
}

/**
 * F-18.3: grey `Offline`, Full Scan disabled, removed after 60 s unless a job is attached. A
 * revoked connector (docs/AUTH.md, "Revocation") says so on the card and in an error toast.
 */
export function goOffline(card, { announce = true, revoked = false } = {}) {
  if (revoked && !card.revoked) {
    card.revoked = true;
    toast('error', `${card.displayName} was revoked: its credentials are refused`);
    if (!card.online) { render(card); return; }
    announce = false;
  }
  if (!card.online) return;
  card.online = false;
  if (announce) toast('warning', `${card.displayName} disconnected`);
  render(card);
  scheduleRemoval(card);
}

function scheduleRemoval(card) {
  clearTimeout(card.offlineTimer);
  card.offlineTimer = null;
  if (card.online || activeJobsOf(card.uuid).length > 0) return; // re-checked when the job ends
  card.offlineTimer = setTimeout(() => {
    if (card.online || activeJobsOf(card.uuid).length > 0) return;
    cards.delete(card.uuid);
    card.el.remove();
    show(emptyText, cards.size === 0);
  }, OFFLINE_REMOVE_MS);
}

/* ------------------------------------------------------------------ actions */

/** Full Scan (F-04.2) or sample scan (`limit`, F-13.3), optionally reusing no remembered verdict
 *  (`rescanAll`): exactly one request per click-to-202 cycle. */
export async function startScan(uuid, { limit = null, rescanAll = false } = {}) {
  const card = cards.get(uuid);
  if (!card || card.starting || !card.online) return;
  const kind = limit ? 'Sample scan' : 'Full scan';
  card.starting = true;
  card.keepFocus = card.el.contains(document.activeElement);
  render(card);
  try {
    const params = { ...(limit ? { limit } : {}), ...(rescanAll ? { rescan_all: 'true' } : {}) };
    const res = await request(`connectors/full_scan/${encodeURIComponent(uuid)}`, { method: 'POST', params: Object.keys(params).length ? params : null });
    if (!res.ok) throw new Error(reasonOf(res));
    let id = res.headers.get('X-Job-Id');
    if (!id && res.body && typeof res.body.description === 'string') {
      const m = /job_id=([A-Za-z0-9._~-]+)/.exec(res.body.description);
      if (m) id = m[1];
    }
    if (!id) throw new Error('the server returned no job id');
    rememberJob(id, uuid);
    card.starting = false;
    card.finalJobId = null;
    card.jobId = id;
    const job = startedJob(id, uuid);
    job.seenActive = true;
    render(card);
    toast('info', `${kind} started for ${card.displayName}`);
  } catch (err) {
    card.starting = false;
    render(card);
    toast('error', `${kind} failed for ${card.displayName}: ${err.reason || err.message || errorText(err)}`);
  }
}

function control(card, op) {
  const job = card.jobId ? jobs.get(card.jobId) : null;
  if (!job) return;
  card.keepFocus = card.el.contains(document.activeElement);
  controlJob(job.id, op, card.displayName);
}

/* ------------------------------------------------------------------ rendering */

/** Resolves which job the card shows and its UI state (F-04.1). */
function resolve(card) {
  const actives = activeJobsOf(card.uuid);
  let job = null;
  if (card.jobId && jobs.has(card.jobId) && !TERMINAL.has(jobs.get(card.jobId).status) && actives[0] === jobs.get(card.jobId)) {
    job = jobs.get(card.jobId);
  } else if (card.jobId && jobs.has(card.jobId) && TERMINAL.has(jobs.get(card.jobId).status)) {
    const ended = jobs.get(card.jobId);
    card.jobId = null;
    if (ended.seenActive) finish(card, ended);
    job = actives[0] || null;
  } else {
    job = actives[0] || null;
  }
  if (job) {
    if (card.jobId !== job.id) card.finalJobId = null; // a new job replaces the old summary
    card.jobId = job.id;
  } else if (card.jobId && !jobs.has(card.jobId)) {
    card.jobId = null;
  }
  let state = 'idle';
  if (card.starting) state = 'starting';
  else if (job) state = job.pending || (['running', 'paused', 'cancelling'].includes(job.status) ? job.status : 'running');
  else if (card.finalJobId && jobs.has(card.finalJobId)) state = 'done';
  return { job, state, more: Math.max(0, actives.length - 1) };
}

/** The end of the card's job (F-07): toast once, storage cleaned, offline rule re-armed. */
function finish(card, job) {
  card.finalJobId = job.id;
  forgetJob(job.id);
  if (!job.announced) {
    job.announced = true;
    if (job.status === 'completed' && job.unreadable > 0) {
      toast('warning', `Scan complete for ${card.displayName}, but ${unreadableText(job.unreadable)} (not scanned)`);
    } else if (job.status === 'completed') toast('success', `Scan complete for ${card.displayName}`);
    else toast('info', `Scan cancelled for ${card.displayName}`);
  }
  if (!card.online) scheduleRemoval(card);
}

function render(card) {
  const { p } = card;
  const name = displayNameOf(card);
  card.displayName = name;
  const shownName = visible(name);
  setText(p.name, shownName);
  setAttr(p.name, 'title', name);
  setAttr(p.cog, 'aria-label', `Configure ${shownName}`);
  setAttr(p.cog, 'title', `Configure ${shownName}`);

  const iconSrc = card.config?.display_icon ?? card.list?.display_icon ?? null;
  const iconKey = `${iconSrc}|${card.list?.name}`;
  if (card.iconKey !== iconKey) {
    card.iconKey = iconKey;
    replaceChildren(p.icon, connectorIconNode(iconSrc, card.list?.name || name));
  }

  const readiness = card.revoked && !card.online ? 'revoked' : !card.online ? 'offline' : card.ready ? 'ready' : card.ready === false ? 'notready' : 'checking';
  p.ready.className = { revoked: 'readiness is-revoked', offline: 'readiness is-offline', ready: 'readiness is-ready', notready: 'readiness is-notready', checking: 'readiness' }[readiness];
  setText(p.readyText, { revoked: 'Revoked', offline: 'Offline', ready: 'Ready', notready: 'Not ready', checking: 'Checking…' }[readiness]);
  setAttr(p.ready, 'title', card.list?.status ? `status: ${card.list.status}` : null);

  setText(p.uuid, shortId(card.uuid));
  setAttr(p.uuid, 'title', card.uuid);
  const cfg = card.config || {};
  const asset = cfg.asset_display_name || card.list?.asset_display_name || cfg.resolved_asset_base || cfg.asset || card.list?.asset || '';
  setText(p.asset, asset ? visible(asset) : '—');
  setAttr(p.asset, 'title', cfg.asset || card.list?.asset || null);
  const filter = cfg.filter ?? card.list?.filter ?? '';
  setText(p.filter, filter ? visible(filter) : 'none');
  setAttr(p.filter, 'title', filter || null);

  const { job, state, more } = resolve(card);
  card.el.setAttribute('data-state', state);
  card.el.setAttribute('data-online', card.online ? 'true' : 'false');
  card.el.setAttribute('data-revoked', card.revoked && !card.online ? 'true' : 'false');
  card.el.setAttribute('data-ready', card.ready ? 'true' : 'false');
  card.el.classList.toggle('is-offline', !card.online);
  renderJob(card, job, state, more);
  renderActions(card, state);
}

const BADGE = {
  paused: ['Paused', 'badge badge-warning'],
  cancelling: ['Cancelling', 'badge badge-warning'],
  completed: ['Completed', 'badge badge-success'],
  cancelled: ['Cancelled', 'badge badge-neutral'],
};

function renderJob(card, job, state, more) {
  const { p } = card;
  const final = state === 'done' ? jobs.get(card.finalJobId) : null;
  show(p.job, !!job || !!final);
  if (!job && !final) return;

  // Pill and copy button: present while a job is attached (F-05.3).
  show(p.pill, !!job);
  show(p.copy, !!job);
  if (job) {
    setText(p.pill, `job ${shortId(job.id)}`);
    setAttr(p.pill, 'title', job.id);
    setAttr(p.pill, 'aria-label', `Job ${job.id}`);
  }
  show(p.more, !!job && more > 0);
  if (more > 0) setText(p.more, `+${more} more running`);

  // Badge: paused/cancelling/unknown while active, Completed/Cancelled when done (F-07.3).
  const shown = final || job;
  let badge = BADGE[shown.status] || null;
  if (!badge && !['running', 'completed', 'cancelled', 'paused', 'cancelling'].includes(shown.status)) {
    badge = [visible(shown.status), 'badge badge-neutral'];
  }
  show(p.badge, !!badge);
  if (badge) {
    setText(p.badgeText, badge[0]);
    if (p.badge.className !== badge[1]) p.badge.className = badge[1];
  }
  show(p.dismiss, !!final);

  // Progress (F-06) while attached; final summary (F-07) when done.
  show(p.progress, !!job);
  show(p.progressText, !!job);
  show(p.note, !!final);
  show(p.counts, !!final);
  if (job) renderProgress(p, job);
  if (final) renderFinal(p, final);
}

function renderProgress(p, job) {
  const f = figures(job);
  const known = f.total !== null;
  p.progress.classList.toggle('is-indeterminate', !known);
  p.progress.classList.toggle('is-paused', job.status === 'paused');
  if (known) {
    setAttr(p.progress, 'aria-valuemax', f.total);
    setAttr(p.progress, 'aria-valuenow', Math.min(f.done, f.total));
    setAttr(p.progress, 'aria-valuetext', `${fmtCount(f.done)} of ${fmtCount(f.total)} files`);
    const frac = f.total > 0 ? Math.min(1, f.done / f.total) : 0;
    p.fill.style.transform = `scaleX(${frac.toFixed(4)})`;
  } else {
    setAttr(p.progress, 'aria-valuemax', null);
    setAttr(p.progress, 'aria-valuenow', null);
    setAttr(p.progress, 'aria-valuetext', `${fmtCount(f.done)} files`);
    p.fill.style.transform = '';
  }
  let text = known
    ? `${fmtCount(f.done)} / ${fmtCount(f.total)} files${f.percent !== null ? ` (${fmtPercent(f.percent)})` : ''}`
    : `${fmtCount(f.done)} files`;
  if (f.rate !== null) text += ` · ${fmtRate(f.rate)} files/s`;
  if (f.eta !== null) text += ` · ETA ${typeof f.eta === 'string' ? f.eta : fmtDuration(f.eta)}`;
  if (job.failed > 0) text += ` · ${fmtCount(job.failed)} failed`;
  if (job.unreadable > 0) text += ` · ${unreadableText(job.unreadable)}`;
  if (job.status === 'paused') text = `Paused at ${text}`;
  setText(p.progressText, text);
}

const COUNT_ORDER = [
  ['verdict_malicious', 'malicious'], ['verdict_benign', 'benign'], ['verdict_not_scanned', 'not scanned'],
  ['verdict_encrypted', 'encrypted'], ['verdict_unknown', 'unknown'], ['verdict_unsupported', 'unsupported'],
];

/** How many folders (or other entries) the connector could not read. */
function unreadableText(n) {
  return `${fmtCount(n)} unreadable`;
}

/** Builds the count line of a finished job; rebuilt only when its text changes. */
function renderFinal(p, job) {
  // The summary line is written once, from the summary that ended the job: items that were in
  // flight at a cancel still finish and count afterwards (the count line shows them), but the
  // final note does not move.
  if (p.noteJobId !== job.id) {
    p.noteJobId = job.id;
    // A completed job that could not read everything is not a clean, complete scan.
    const complete = job.unreadable > 0 ? 'Scan complete with warnings' : 'Scan complete';
    const word = job.status === 'cancelled' ? 'Scan cancelled' : job.status === 'completed' ? complete : visible(job.status);
    setText(p.note, `${word}: ${fmtCount(job.processed)} / ${fmtDuration(job.durationSecs ?? 0)}`);
  }
  const parts = [];
  for (const [key, label] of COUNT_ORDER) {
    const n = job.verdicts[key] || 0;
    if (n > 0) parts.push([`${fmtCount(n)} ${label}`, key === 'verdict_malicious' ? 'malicious' : null]);
  }
  if (job.failed > 0) parts.push([`${fmtCount(job.failed)} failed`, null]);
  if (job.skipped > 0) parts.push([`${fmtCount(job.skipped)} skipped`, null]);
  if (job.unreadable > 0) parts.push([unreadableText(job.unreadable), 'unreadable']);
  const key = parts.map((x) => x[0]).join(' · ');
  if (p.counts.dataset.key === key) return;
  p.counts.dataset.key = key;
  const nodes = [];
  parts.forEach(([text, kind], i) => {
    if (i > 0) nodes.push(' · ');
    if (kind === 'malicious') nodes.push(h('span', { class: 'count-malicious' }, icon('virus'), ` ${text}`));
    else if (kind === 'unreadable') {
      nodes.push(h('span', {
        class: 'count-unreadable', testid: 'job-unreadable',
        title: 'Folders the connector could not read; the files in them were not scanned',
      }, text));
    } else nodes.push(text);
  });
  replaceChildren(p.counts, nodes.length ? nodes : ['No files']);
}

const BUSY_LABEL = { starting: 'Starting…', pausing: 'Pausing…', resuming: 'Resuming…', cancelling: 'Cancelling…' };

function renderActions(card, state) {
  const { p } = card;
  const focused = document.activeElement;
  const hadFocus = p.actions.contains(focused);
  const idle = state === 'idle' || state === 'done' || state === 'starting';
  show(p.scan, idle);
  setBusy(p.scan, state === 'starting', BUSY_LABEL.starting);
  if (state !== 'starting') p.scan.disabled = !card.online;

  const paused = state === 'paused' || state === 'resuming';
  show(p.pause, !idle && !paused);
  show(p.resume, !idle && paused);
  show(p.cancel, !idle);
  setBusy(p.pause, state === 'pausing', BUSY_LABEL.pausing);
  setBusy(p.resume, state === 'resuming', BUSY_LABEL.resuming);
  setBusy(p.cancel, state === 'cancelling', BUSY_LABEL.cancelling);
  const busy = ['pausing', 'resuming', 'cancelling'].includes(state);
  if (busy) {
    p.pause.disabled = true;
    p.resume.disabled = true;
    p.cancel.disabled = true;
  }

  // Keep keyboard users in place: when the focused button was hidden or disabled by this change,
  // focus moves to the card's primary visible button (Pause → Resume, Full Scan → Pause, …).
  const lost = (hadFocus && (focused.hidden || focused.disabled)) || (card.keepFocus && !busy && state !== 'starting'
    && (document.activeElement === document.body || document.activeElement === null));
  if (lost && !busy && state !== 'starting') {
    const target = [p.pause, p.resume, p.scan, p.cancel].find((b) => !b.hidden && !b.disabled);
    if (target) target.focus();
    card.keepFocus = false;
  } else if (lost) {
    card.keepFocus = true;
  }
}

/** Re-renders every card (after a resync). */
export function renderAll() {
  for (const card of cards.values()) render(card);
}
