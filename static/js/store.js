/**
 * localStorage access (docs/reference/UI.md, "Browser storage"). Only `dsx.theme` and
 * `dsx.activeJobs` are ever written; corrupt values are discarded silently, and storage failures
 * (private mode, quota) never break the page.
 */

const THEME_KEY = 'dsx.theme';
const JOBS_KEY = 'dsx.activeJobs';
const MAX_JOBS = 50;

function read(key) {
  try { return window.localStorage.getItem(key); } catch { return null; }
}
function write(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch { /* storage unavailable: the page works without it */ }
}

export function getTheme() {
  const v = read(THEME_KEY);
  if (v === 'light' || v === 'dark') return v;
  if (v !== null) write(THEME_KEY, null);
  return null;
}

export function setTheme(theme) {
  write(THEME_KEY, theme === 'light' || theme === 'dark' ? theme : null);
}

/** `{jobId: {connectorUuid, startedAt}}`, validated entry by entry. */
export function getActiveJobs() {
  const raw = read(JOBS_KEY);
  if (raw === null) return {};
  let obj;
  try { obj = JSON.parse(raw); } catch { write(JOBS_KEY, null); return {}; }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) { write(JOBS_KEY, null); return {}; }
  const out = {};
  for (const [id, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && typeof v.connectorUuid === 'string' && Number.isFinite(v.startedAt)) {
      out[id] = { connectorUuid: v.connectorUuid, startedAt: v.startedAt };
    }
  }
  return out;
}

function saveJobs(jobs) {
  const entries = Object.entries(jobs).sort((a, b) => a[1].startedAt - b[1].startedAt);
  while (entries.length > MAX_JOBS) entries.shift(); // oldest first
  write(JOBS_KEY, entries.length ? JSON.stringify(Object.fromEntries(entries)) : null);
}

export function rememberJob(jobId, connectorUuid, startedAt = Date.now()) {
  const jobs = getActiveJobs();
  jobs[jobId] = { connectorUuid, startedAt };
  saveJobs(jobs);
}

export function forgetJob(jobId) {
  const jobs = getActiveJobs();
  if (jobId in jobs) {
    delete jobs[jobId];
    saveJobs(jobs);
  }
}
