/**
 * The job model (docs/reference/UI.md, "Applying a job summary"): one record per job id, fed by SSE
 * summaries, REST snapshots and the answers of the UI's own control requests. Views (cards, jobs
 * table, DLQ badge) subscribe through the bus event `job` and render from these records; they never
 * parse wire formats themselves.
 */
import { emit } from './bus.js';
import { toNum, toEpochMs, toStr } from './format.js';
import { getActiveJobs } from './store.js';

export const TERMINAL = new Set(['completed', 'cancelled']);
export const ACTIVE = new Set(['running', 'paused', 'cancelling']);

const VERDICT_KEYS = ['verdict_malicious', 'verdict_benign', 'verdict_not_scanned', 'verdict_encrypted',
  'verdict_unknown', 'verdict_unsupported', 'verdict_non_compliant'];

/** id → job record. */
export const jobs = new Map();
/** job id → connector uuid learnt from scan_result frames (second source, "Applying a job summary"). */
const connectorOfJob = new Map();

/** performance.now() of the newest SSE summary per job, for the REST-snapshot rule (item 1). */
const lastSseAt = new Map();

function blank(id) {
  return {
    id, status: 'running', connectorUuid: null, jobName: null, startedAt: null, finishedAt: null,
    lastUpdate: null, processed: 0, failed: 0, skipped: 0, unreadable: 0, enqueued: 0, enqueuedTotal: null,
    enqueueDone: false, total: null, durationSecs: null, etaSecs: null, timeRemaining: null,
    verdicts: {}, pending: null, seenActive: false, announced: false,
  };
}

/** Status as a lower-case string; anything missing counts as `running` (item 6 keeps the text). */
function statusOf(v) {
  const s = toStr(v);
  return s ? s.trim().toLowerCase() : null;
}

/**
 * Applies one summary. `source`: `sse`, `rest` (with `sentAt` = performance.now() when the
 * snapshot request was sent) or `control`. Returns the record, or null when ignored.
 */
export function applySummary(raw, { source = 'sse', sentAt = 0 } = {}) {
  if (!raw || typeof raw !== 'object') return null;
  const id = toStr(raw.job_id);
  if (!id) return null;
  if (source === 'rest' && (lastSseAt.get(id) ?? -1) > sentAt) return null;
  if (source === 'sse') lastSseAt.set(id, performance.now());

  const existed = jobs.has(id);
  const job = existed ? jobs.get(id) : blank(id);
  const prevStatus = existed ? job.status : null;

  const status = statusOf(raw.status);
  if (status) {
    // A terminal job never goes back to a non-terminal status ("Applying a job summary"); counters
    // still update.
    if (!(TERMINAL.has(job.status) && existed && !TERMINAL.has(status))) job.status = status;
  }
  if (!TERMINAL.has(job.status)) job.seenActive = true;

  const has = (k) => Object.prototype.hasOwnProperty.call(raw, k);
  if (has('connector_uuid') && toStr(raw.connector_uuid)) job.connectorUuid = toStr(raw.connector_uuid);
  if (has('job_name')) job.jobName = toStr(raw.job_name);
  if (has('started_at')) job.startedAt = toEpochMs(raw.started_at) ?? job.startedAt;
  if (has('finished_at')) job.finishedAt = toEpochMs(raw.finished_at);
  if (has('last_update')) job.lastUpdate = toEpochMs(raw.last_update);
  if (has('processed_count')) job.processed = toNum(raw.processed_count) ?? 0;
  if (has('failed_count')) job.failed = toNum(raw.failed_count) ?? 0;
  if (has('skipped_count')) job.skipped = toNum(raw.skipped_count) ?? 0;
  // Folders the connector could not read: a completed job with some is not a full scan.
  if (has('unreadable_count')) job.unreadable = toNum(raw.unreadable_count) ?? 0;
  if (has('enqueued_count')) job.enqueued = toNum(raw.enqueued_count) ?? 0;
  if (has('enqueued_total')) job.enqueuedTotal = toNum(raw.enqueued_total);
  if (has('enqueue_done')) job.enqueueDone = toStr(raw.enqueue_done) === '1' || raw.enqueue_done === true;
  if (has('total')) job.total = toNum(raw.total);
  if (has('duration_secs')) job.durationSecs = toNum(raw.duration_secs);
  if (has('eta_secs')) job.etaSecs = toNum(raw.eta_secs);
  if (has('time_remaining')) job.timeRemaining = toStr(raw.time_remaining);
  for (const k of VERDICT_KEYS) if (has(k)) job.verdicts[k] = toNum(raw[k]) ?? 0;

  if (!job.connectorUuid) job.connectorUuid = connectorOfJob.get(id) ?? getActiveJobs()[id]?.connectorUuid ?? null;
  if (job.startedAt === null) job.startedAt = getActiveJobs()[id]?.startedAt ?? Date.now();

  jobs.set(id, job);
  emit('job', { job, prevStatus, isNew: !existed, source });
  return job;
}

/** Records a job the UI itself just started (202 of full_scan), before any frame arrives. */
export function startedJob(id, connectorUuid) {
  if (jobs.has(id)) {
    const job = jobs.get(id);
    if (!job.connectorUuid) job.connectorUuid = connectorUuid;
    emit('job', { job, prevStatus: job.status, isNew: false, source: 'control' });
    return job;
  }
  return applySummary({ job_id: id, status: 'running', connector_uuid: connectorUuid, started_at: Date.now() / 1000 },
    { source: 'control' });
}

/** Second association source: the connector of a scan_result frame ("Applying a job summary"). */
export function noteResultConnector(jobId, connectorUuid) {
  if (!jobId || !connectorUuid || connectorOfJob.has(jobId)) return;
  connectorOfJob.set(jobId, connectorUuid);
  if (connectorOfJob.size > 2000) connectorOfJob.delete(connectorOfJob.keys().next().value);
  const job = jobs.get(jobId);
  if (job && !job.connectorUuid) {
    job.connectorUuid = connectorUuid;
    emit('job', { job, prevStatus: job.status, isNew: false, source: 'sse' });
  }
}

/** Marks a control request in flight (`pausing`, `resuming`, `cancelling`) or clears it. */
export function setPending(id, pending) {
  const job = jobs.get(id);
  if (!job) return;
  job.pending = pending;
  emit('job', { job, prevStatus: job.status, isNew: false, source: 'control' });
}

/** Forgets a job the server no longer knows (404 of a control request). */
export function dropJob(id) {
  const job = jobs.get(id);
  if (!job) return;
  jobs.delete(id);
  emit('job-removed', { job });
}

export const isActive = (job) => !TERMINAL.has(job.status);

/** Derived figures, identical everywhere ("Applying a job summary"). */
export function figures(job) {
  const done = job.processed + job.failed + job.skipped;
  const total = job.total;
  const percent = total && total > 0 ? Math.min(100, (done / total) * 100) : null;
  const rate = job.durationSecs !== null && job.durationSecs >= 1 ? (job.processed + job.failed) / job.durationSecs : null;
  let eta = null;
  if (job.status === 'running') {
    if (job.timeRemaining) eta = job.timeRemaining;
    else if (job.etaSecs !== null) eta = job.etaSecs;
  }
  return { done, total, percent, rate, eta };
}

/** Active jobs of one connector, newest start first. */
export function activeJobsOf(connectorUuid) {
  const out = [];
  for (const job of jobs.values()) if (job.connectorUuid === connectorUuid && isActive(job)) out.push(job);
  return out.sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0));
}
