/**
 * A lean Chrome DevTools Protocol driver for the UI benchmark: Debian's Chromium over
 * `--remote-debugging-pipe`, one page, and nothing enabled but what the benchmark calls.
 *
 * Why not Playwright here: Playwright enables the Network domain on every page, so the renderer
 * serialises a DevTools event for every request, response chunk and EventSource message and
 * ships it to the test process (1,600 `scan_result` messages a second during the benchmark).
 * That is harness work on the very main thread being measured, which a user's browser never
 * does. The functional scenarios keep Playwright; the timing runs on this driver.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ARGS } from './browser.mjs';

/** Starts Chromium with a fresh profile; resolves to a connection (`send`, `page`, `close`). */
export async function launchLean() {
  const profile = fs.mkdtempSync(path.join(process.env.UI_TEST_TMP || os.tmpdir(), 'chromium-cdp-'));
  const child = spawn(process.env.CHROMIUM || '/usr/bin/chromium', [...ARGS, '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank'],
    // Not detached: a new session would put Chromium in its own scheduler autogroup, where the
    // servers' `nice` (servers.mjs) no longer yields the CPU to it (see docs/BENCHMARKS.md).
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const toBrowser = child.stdio[3];
  const fromBrowser = child.stdio[4];
  const pending = new Map();
  let nextId = 1;
  let buf = '';
  fromBrowser.setEncoding('utf8');
  fromBrowser.on('data', (chunk) => {
    buf += chunk;
    let end;
    while ((end = buf.indexOf('\0')) >= 0) {
      const msg = JSON.parse(buf.slice(0, end));
      buf = buf.slice(end + 1);
      const waiter = msg.id !== undefined && pending.get(msg.id);
      if (!waiter) continue; // events: the benchmark subscribes to none
      pending.delete(msg.id);
      if (msg.error) waiter.reject(new Error(`${waiter.method}: ${msg.error.message}`));
      else waiter.resolve(msg.result);
    }
  });
  exited.then((code) => {
    for (const w of pending.values()) w.reject(new Error(`chromium exited (${code}): ${stderr}`));
    pending.clear();
  });

  function send(method, params = {}, sessionId) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject, method });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  /** Opens a page (one tab, attached with a flat session); `init` runs before any page script. */
  async function page(url, init) {
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
    // Init scripts only apply with the Page domain on (lifecycle events only: cheap).
    await send('Page.enable', {}, sessionId);
    if (init) await send('Page.addScriptToEvaluateOnNewDocument', { source: `(${init})();` }, sessionId);
    await send('Page.navigate', { url }, sessionId);
    /** Evaluates `fn(arg)` in the page and returns its (JSON) value; awaits returned promises. */
    const evaluate = async (fn, arg) => {
      const r = await send('Runtime.evaluate', {
        expression: `(${fn})(${JSON.stringify(arg ?? null)})`, returnByValue: true, awaitPromise: true,
      }, sessionId);
      if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
      return r.result.value;
    };
    return { evaluate };
  }

  async function close() {
    try { await Promise.race([send('Browser.close'), new Promise((r) => setTimeout(r, 3000))]); } catch { /* exiting */ }
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    // Helper processes can write into the profile for a moment after the browser exits; the
    // profile lies in the run's temporary directory, which run.sh removes at the end anyway.
    try { fs.rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }); } catch { /* run.sh */ }
  }

  return { send, page, close };
}
