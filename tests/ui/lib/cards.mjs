/**
 * Card helpers shared by the scan scenarios: start a scan through the UI, read progress, wait for a
 * card state, and measure click-to-busy latency inside the page (docs/reference/UI.md, F-04: ≤ 100
 * ms).
 */
import { waitFor } from './servers.mjs';
import { card, tid, parseProgress } from './browser.mjs';

/** Waits until the card's data-state is `state` (or one of `state` when an array). */
export async function waitCardState(page, uuid, state, timeout = 15000) {
  const want = Array.isArray(state) ? state : [state];
  return waitFor(async () => want.includes(await card(page, uuid).getAttribute('data-state')), { timeout, interval: 50, what: `card ${want.join('|')}` });
}

/** Progress figures shown on the card (`{done,total}`), or null. */
export async function cardProgress(page, uuid) {
  const t = await card(page, uuid).locator(tid('job-progress-text')).textContent().catch(() => '');
  const p = parseProgress(t);
  return p ? { ...p, text: t } : null;
}

export async function waitDone(page, uuid, min, timeout = 30000) {
  return waitFor(async () => { const p = await cardProgress(page, uuid); return p && p.done >= min ? p : null; }, { timeout, interval: 100, what: `done ≥ ${min}` });
}

/**
 * Arms a one-shot probe: the time from the next click anywhere to the card leaving `fromState`
 * (read back with readBusyProbe). Listening on document in the capture phase runs before the
 * button's own handler, so the synchronous state change is observed.
 */
export async function armBusyProbe(page, uuid) {
  await page.evaluate((u) => {
    const el = document.querySelector(`[data-testid="connector-card"][data-connector-uuid="${u}"]`);
    window.__busyMs = null;
    window.__busyState = null;
    document.addEventListener('click', () => {
      const t0 = performance.now();
      const from = el.dataset.state;
      const obs = new MutationObserver(() => {
        if (el.dataset.state !== from && window.__busyMs === null) {
          window.__busyMs = performance.now() - t0;
          window.__busyState = el.dataset.state;
          window.__busyLabel = el.querySelector('[aria-busy="true"]')?.textContent.trim() || null;
          obs.disconnect();
        }
      });
      obs.observe(el, { attributes: true, attributeFilter: ['data-state'] });
    }, { capture: true, once: true });
  }, uuid);
}

export async function readBusyProbe(page) {
  return waitFor(() => page.evaluate(() => (window.__busyMs === null ? null : { ms: window.__busyMs, state: window.__busyState, label: window.__busyLabel })),
    { timeout: 5000, interval: 20, what: 'busy probe' });
}

/** Clicks Full Scan on a card; returns the job id from the 202's X-Job-Id. */
export async function startFullScan(page, uuid, { dbl = false } = {}) {
  const respP = page.waitForResponse((r) => r.url().includes(`connectors/full_scan/${uuid}`) && r.request().method() === 'POST');
  const btn = card(page, uuid).locator(tid('btn-full-scan'));
  if (dbl) await btn.dblclick(); else await btn.click();
  const resp = await respP;
  if (resp.status() !== 202) throw new Error(`full_scan answered ${resp.status()}`);
  return resp.headers()['x-job-id'];
}

/** Sums the numbers of a count line such as `3 malicious · 202 benign`. */
export function sumCounts(line) {
  return [...String(line).matchAll(/([\d,]+) [a-z]/g)].reduce((a, m) => a + Number(m[1].replace(/,/g, '')), 0);
}
