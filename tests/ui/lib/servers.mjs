/**
 * Server side of the UI end-to-end tests (docs/reference/UI.md, "Browser scenarios"): the DSXA
 * stub, the core (`dsx-connect serve --fs …`), a standalone filesystem connector, a hostile fake
 * connector, and the fixture trees. Everything listens on free loopback ports and is stopped by
 * `stopAll()`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';

export const REPO = path.resolve(new URL('../../..', import.meta.url).pathname);
export const BIN_DIR = path.resolve(REPO, process.env.BIN_DIR || 'target/debug');
export const WORK = process.env.UI_TEST_TMP || fs.mkdtempSync(path.join(os.tmpdir(), 'dsx-ui-e2e-'));
export const LOG_DIR = path.join(WORK, 'logs');
fs.mkdirSync(LOG_DIR, { recursive: true });

/* The EICAR test string, assembled at run time so no committed file contains it. */
const EICAR = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR', '-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'].join('');

export const XSS_NAME = '<img src=x onerror=window.__xss=2>.txt';
export const BIDI_NAME = 'invoice\u202Etxt.exe';

const children = new Set();
// A runner that dies (uncaught error, Ctrl-C) still takes its servers down: only the processes
// this module spawned, by pid.
process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (returned) or the timeout passes (throws). */
export async function waitFor(fn, { timeout = 15000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (err) { last = err; }
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

/**
 * Server processes run at a lower CPU priority (`nice`, UI_NICE, default 10): on a 2-core machine
 * the core, stub and browser compete for the same cores, and the UI's main-thread measurements
 * (long tasks, frame gaps) should measure the page, not the scheduler.
 */
const NICE = process.env.UI_NICE ?? '10';

function run(name, cmd, args, env = {}) {
  const logPath = path.join(LOG_DIR, `${name}-${Date.now()}.log`);
  const log = fs.openSync(logPath, 'a');
  const [c, a] = NICE && NICE !== '0' ? ['nice', ['-n', NICE, cmd, ...args]] : [cmd, args];
  const child = spawn(c, a, { env: { ...process.env, ...env }, stdio: ['ignore', log, log], detached: false });
  child.logPath = logPath;
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export async function stop(child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
  await child.exited;
  clearTimeout(t);
}

export async function stopAll() {
  await Promise.all([...children].map((c) => stop(c)));
  for (const s of fakeServers) s.close();
}

/* ------------------------------------------------------------------ fixtures */

/** tree-A ("Browser scenarios"): 205 files, 3 malicious (incl. the XSS-named one), a bidi name, an empty file. */
export function makeTreeA(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  let seed = 42;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (let d = 0; d < 10; d += 1) {
    const sub = path.join(dir, `d${String(d).padStart(2, '0')}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let i = 0; i < 20; i += 1) {
      const size = 1024 + Math.floor(rnd() * 15 * 1024);
      fs.writeFileSync(path.join(sub, `file${String(i).padStart(2, '0')}.txt`), crypto.randomBytes(Math.ceil(size / 2)).toString('hex').slice(0, size));
    }
  }
  fs.writeFileSync(path.join(dir, 'eicar.com'), EICAR);
  fs.mkdirSync(path.join(dir, 'nested', 'deep'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'nested', 'deep', 'eicar2.txt'), EICAR);
  fs.writeFileSync(path.join(dir, XSS_NAME), EICAR);
  fs.writeFileSync(path.join(dir, BIDI_NAME), 'not really an exe');
  fs.writeFileSync(path.join(dir, 'empty.bin'), '');
  return dir;
}

/** A tree of `n` small benign files (burst scenarios, tree-B). */
export function makeFlatTree(dir, n, per = 500) {
  fs.rmSync(dir, { recursive: true, force: true });
  for (let i = 0; i < n; i += 1) {
    const sub = path.join(dir, `b${String(Math.floor(i / per)).padStart(3, '0')}`);
    if (i % per === 0) fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${i}.dat`), `benign ${i}\n`);
  }
  return dir;
}

/* ------------------------------------------------------------------ processes */

async function waitHttp(url, check = (r) => r.ok, timeout = 20000) {
  return waitFor(async () => {
    const r = await fetch(url);
    return (await check(r)) ? r : null;
  }, { timeout, what: url });
}

/** The DSXA stub (the project's own). */
export async function startStub({ delayMs = 150, port } = {}) {
  port = port || await freePort();
  const child = run('dsxa-stub', path.join(BIN_DIR, 'dsxa-stub'), ['--port', String(port), '--delay-ms', String(delayMs)]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => fs.readFileSync(child.logPath, 'utf8').includes('listening'), { what: 'dsxa-stub', timeout: 15000 });
  const post = (p, body) => fetch(`${url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return {
    child, port, url,
    scanUrl: `${url}/scan/binary/v2`,
    setDelay: (ms) => post('/__config', { delay_ms: ms }),
    script: (answers) => post('/__script', answers),
    stop: () => stop(child),
  };
}

/**
 * The core: `dsx-connect serve --fs <tree>…` with a fresh data dir, worker concurrency 2 and the
 * `move` action into `<tmp>/quarantine`. The UI comes from the repository's static/ folder.
 */
export async function startCore({ trees = [], stub, port, dataDir, env = {}, concurrency = 2, expectConnectors = trees.length } = {}) {
  port = port || await freePort();
  dataDir = dataDir || fs.mkdtempSync(path.join(WORK, 'data-'));
  const quarantine = path.join(WORK, `quarantine-${port}`);
  const args = ['serve', '--action', 'move', '--quarantine', quarantine];
  for (const t of trees) args.push('--fs', t);
  const fullEnv = {
    DSXCONNECT_HOST: '127.0.0.1',
    DSXCONNECT_PORT: String(port),
    DSXCONNECT_DATA_DIR: dataDir,
    DSXCONNECT_UI__STATIC_DIR: path.join(REPO, 'static'),
    DSXCONNECT_SCANNER__SCAN_BINARY_URL: stub ? stub.scanUrl : 'http://127.0.0.1:9/scan/binary/v2',
    DSXCONNECT_WORKERS__CONCURRENCY: String(concurrency),
    DSXCONNECT_JOBS__IDLE_COMPLETE_SECS: '30',
    ...env,
  };
  const child = run('core', path.join(BIN_DIR, 'dsx-connect'), args, fullEnv);
  const base = `http://127.0.0.1:${port}/`;
  const api = `${base}dsx-connect/api/v1/`;
  if (fullEnv.DSXCONNECT_AUTH__ENABLED === 'true') {
    // With authentication on the list needs a sign-in (lib/auth.mjs waits for the connectors).
    await waitHttp(`${api}auth/session`, (r) => r.ok, 30000);
  } else {
    await waitHttp(`${api}connectors/list`, async (r) => r.ok && (await r.json()).length >= expectConnectors, 30000);
  }
  const core = {
    child, port, base, api, dataDir, env: fullEnv, trees, args,
    json: async (p, init) => { const r = await fetch(api + p, init); return r.json(); },
    connectors: async () => (await fetch(`${api}connectors/list`)).json(),
    stop: (sig) => stop(child, sig),
    /** Restarts on the same port and data dir (connection-loss scenario). */
    restart: async () => {
      const c2 = await startCore({ trees, stub, port, dataDir, env, concurrency, expectConnectors });
      Object.assign(core, { child: c2.child });
      return core;
    },
  };
  return core;
}

/** The user the connector of a hostile tree runs as when the tests run as root. */
const NOBODY = 65534;
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * A tree that is hard to walk, in its own world-readable folder (WORK is private to root): names
 * that are not UTF-8 (an EICAR file among them), `locked/` with mode 000 and a link loop. As root
 * everything belongs to NOBODY, whose connector (startConnector `unprivileged`) can quarantine
 * but not read `locked/`. Returns `{ dir, base, files, remove }`; `files` counts readable files.
 */
export function makeHostileTree() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'dsx-ui-hostile-'));
  fs.chmodSync(base, 0o755);
  const dir = path.join(base, 'tree');
  const at = (...parts) => Buffer.concat([Buffer.from(`${dir}/`), ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))]);
  fs.mkdirSync(at('d', Buffer.from([0xfe]), 'ir'), { recursive: true });
  fs.writeFileSync(at('d', Buffer.from([0xfe]), 'ir/eicar', Buffer.from([0xff, 0x01]), '.com'), EICAR);
  fs.writeFileSync(at('d', Buffer.from([0xfe]), 'ir/caf', Buffer.from([0xe9]), '.txt'), 'latin-1 name');
  fs.writeFileSync(at('ok.txt'), 'fine');
  fs.mkdirSync(at('locked'));
  fs.writeFileSync(at('locked/hidden.txt'), 'never scanned');
  fs.symlinkSync('.', at('loop'));
  if (isRoot()) {
    const own = (p) => {
      fs.lchownSync(p, NOBODY, NOBODY);
      if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p, { encoding: 'buffer' })) own(Buffer.concat([Buffer.from(p), Buffer.from('/'), e]));
    };
    own(base);
  }
  fs.chmodSync(at('locked'), 0o000);
  const remove = () => {
    fs.chmodSync(at('locked'), 0o755);
    fs.rmSync(base, { recursive: true, force: true });
  };
  return { dir, base, files: 3, remove };
}

/** A standalone filesystem connector registering with `core` (`dsx-connect connector filesystem`).
 * `unprivileged` (a folder it may write): as root it runs as NOBODY without capabilities
 * (`setpriv`), so mode 000 keeps it out; its data folder goes there. */
export async function startConnector(core, { tree, name = 'extra-connector', displayName, displayIcon, port, unprivileged } = {}) {
  port = port || await freePort();
  const env = {
    DSXCONNECTOR_ASSET: tree,
    DSXCONNECTOR_DSX_CONNECT_URL: `http://127.0.0.1:${core.port}`,
    DSXCONNECTOR_CONNECTOR_URL: `http://127.0.0.1:${port}`,
    DSXCONNECTOR_LISTEN_ADDR: `127.0.0.1:${port}`,
    DSXCONNECTOR_NAME: name,
    DSXCONNECTOR_DATA_DIR: fs.mkdtempSync(path.join(unprivileged || WORK, 'conn-')),
    DSXCONNECTOR_HEARTBEAT_INTERVAL_SECS: '60',
  };
  if (unprivileged) {
    env.DSXCONNECTOR_ITEM_ACTION = 'move';
    if (isRoot()) fs.chownSync(env.DSXCONNECTOR_DATA_DIR, NOBODY, NOBODY);
  }
  if (displayName !== undefined) env.DSXCONNECTOR_DISPLAY_NAME = displayName;
  if (displayIcon !== undefined) env.DSXCONNECTOR_DISPLAY_ICON = displayIcon;
  const bin = path.join(BIN_DIR, 'dsx-connect');
  const [cmd, args] = unprivileged && isRoot()
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--', bin, 'connector', 'filesystem']]
    : [bin, ['connector', 'filesystem']];
  const child = run(`connector-${name}`, cmd, args, env);
  const list = await waitFor(async () => {
    const l = await core.connectors();
    return l.find((c) => c.name === name || c.url.includes(`:${port}`));
  }, { timeout: 20000, what: `connector ${name} registered` });
  return { child, port, uuid: list.uuid, model: list, stop: (sig) => stop(child, sig) };
}

const fakeServers = new Set();

/**
 * A hostile fake connector (docs/reference/UI.md, "Browser scenarios"): registers itself, answers
 * readyz 503, config with a scenario-dependent `display_icon`, full_scan 500.
 */
export async function startFakeConnector(core, { icon = '<svg onload="window.__xss=3" xmlns="http://www.w3.org/2000/svg"><circle cx="8" cy="8" r="6"/></svg>', name = 'fake-connector' } = {}) {
  const port = await freePort();
  const uuid = crypto.randomUUID();
  const url = `http://127.0.0.1:${port}/fake`;
  const state = { icon };
  const model = () => ({ uuid, name, url, display_name: 'Fake & broken', display_icon: state.icon, status: 'starting', asset: 'fake://nowhere', filter: '' });
  const srv = http.createServer((req, res) => {
    const send = (code, body) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    if (req.url.startsWith('/fake/readyz')) return send(503, { status: 'not ready' });
    if (req.url.startsWith('/fake/healthz')) return send(200, { status: 'ok' });
    if (req.url.startsWith('/fake/config')) return send(200, { ...model(), connector_type: 'fake' });
    if (req.url.startsWith('/fake/full_scan')) { res.writeHead(500, { 'content-type': 'text/plain' }); return res.end('fake connector refuses to scan'); }
    return send(404, { detail: 'Not Found' });
  });
  fakeServers.add(srv);
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  const register = async () => {
    const r = await fetch(`${core.api}connectors/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(model()) });
    if (!r.ok) throw new Error(`fake register: HTTP ${r.status} ${await r.text()}`);
  };
  await register();
  return {
    uuid, url, port, register,
    setIcon: async (i) => { state.icon = i; await register(); },
    unregister: () => fetch(`${core.api}connectors/unregister/${uuid}`, { method: 'DELETE' }),
    stop: () => { srv.close(); fakeServers.delete(srv); },
  };
}

/** Waits until a job reaches a terminal status; returns its summary. */
export async function waitJobDone(core, jobId, timeout = 90000) {
  return waitFor(async () => {
    const j = await core.json(`scan/jobs/${jobId}`);
    return j && ['completed', 'cancelled'].includes(j.status) ? j : null;
  }, { timeout, interval: 250, what: `job ${jobId} done` });
}

/** Waits until the core has no running/paused job (scenario isolation). */
export async function waitIdle(core, timeout = 45000) {
  return waitFor(async () => {
    const list = await core.json('scan/jobs');
    return list.every((j) => ['completed', 'cancelled'].includes(j.status));
  }, { timeout, interval: 300, what: 'no active job' });
}
