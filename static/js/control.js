/**
 * Job control requests shared by the cards and the jobs table (docs/reference/UI.md, F-04.3,
 * F-04.4, F-11.2). The job record is marked pending at once (busy buttons within 100 ms), and the
 * answer is applied immediately — the UI never waits for a later SSE frame to show that a pause
 * took effect (B2).
 */
import { request, reasonOf, errorText } from './api.js';
import { confirmDialog } from './dialogs.js';
import { jobs, applySummary, setPending, dropJob } from './jobs.js';
import { forgetJob } from './store.js';
import { toast } from './toast.js';

const PENDING = { pause: 'pausing', resume: 'resuming', cancel: 'cancelling' };
const TARGET = { pause: 'paused', resume: 'running', cancel: 'cancelled' };
const VERB = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel' };

/** Runs `op` (`pause`, `resume`, `cancel`) on a job; `name` is the connector's display name. */
export async function controlJob(jobId, op, name) {
  const job = jobs.get(jobId);
  if (!job || job.pending) return;
  if (op === 'cancel') {
    const ok = await confirmDialog({
      title: 'Cancel scan',
      text: `Cancel the scan of ${name}? Items not yet scanned will be skipped.`,
      okLabel: 'Cancel scan',
      cancelLabel: 'Keep scanning',
    });
    if (!ok || job.pending) return;
  }
  setPending(jobId, PENDING[op]);
  let res;
  try {
    res = await request(`scan/jobs/${encodeURIComponent(jobId)}/${op}`, { method: 'POST' });
  } catch (err) {
    setPending(jobId, null);
    toast('error', `${VERB[op]} failed: ${errorText(err)}`);
    return;
  }
  if (res.ok) {
    job.pending = null;
    const body = res.body && typeof res.body === 'object' ? res.body : {};
    if (body.job && typeof body.job === 'object') {
      applySummary({ ...body.job, job_id: jobId }, { source: 'control' });
    } else {
      applySummary({ job_id: jobId, status: typeof body.status === 'string' ? body.status : TARGET[op] }, { source: 'control' });
    }
    return;
  }
  if (res.status === 404) {
    job.pending = null;
    forgetJob(jobId);
    dropJob(jobId);
    toast('warning', 'Job no longer exists');
    return;
  }
  if (res.status === 409) {
    // The job is in another state than the UI believed: fetch it once and show that (F-04.3).
    const sentAt = performance.now();
    let status = null;
    try {
      const cur = await request(`scan/jobs/${encodeURIComponent(jobId)}`);
      if (cur.ok && cur.body && typeof cur.body === 'object') {
        status = typeof cur.body.status === 'string' ? cur.body.status : null;
        job.pending = null;
        applySummary({ ...cur.body, job_id: jobId }, { source: 'rest', sentAt });
      }
    } catch { /* fall back to the 409's own detail below */ }
    if (!status) {
      const m = /^job_(\w+)$/.exec(res.body && typeof res.body.detail === 'string' ? res.body.detail : '');
      status = m ? m[1].replace('not_paused', 'running') : 'in another state';
    }
    setPending(jobId, null);
    toast('warning', `Job is already ${status}`);
    return;
  }
  setPending(jobId, null);
  toast('error', `${VERB[op]} failed: ${reasonOf(res)}`);
}
