/**
 * Header widgets: version badge (docs/reference/UI.md, F-01) and scanner status (F-02). The scanner
 * status is the only periodic request of the page: on load, when the tab becomes visible, after
 * every live reconnection, and every 60 s while visible.
 */
import { request, reasonOf, errorText } from './api.js';
import { byTestId, setAttr, setText, show } from './dom.js';
import { clip, visible } from './format.js';

const REFRESH_MS = 60000;

/** Version text without quotes; empty/unknown/0.0.0 give null (badge hidden). */
function cleanVersion(v) {
  if (typeof v !== 'string') return null;
  const s = v.trim().replace(/^"+|"+$/g, '').replace(/"/g, '').trim();
  if (!s || s === 'unknown' || s === '0.0.0') return null;
  return s;
}

/**
 * The active engine from `meta`: its name and version, and a "Test engine" badge for the built-in
 * engine, whose "Benign" only means "not EICAR and not on the hash list".
 */
function showEngine(engine) {
  const box = byTestId('engine-info');
  if (!engine || typeof engine !== 'object' || typeof engine.name !== 'string') {
    show(box, false);
    return;
  }
  const known = typeof engine.version === 'string' && engine.version;
  // Inline only what is known (the header is short of room); the tooltip says the rest.
  const text = known ? `Engine: ${visible(engine.name)} (${visible(engine.version)})` : `Engine: ${visible(engine.name)}`;
  const name = byTestId('engine-name');
  setText(name, clip(text, 80));
  setAttr(name, 'title', known ? text : `${text} (version not reported by the engine)`);
  const badge = byTestId('test-engine-badge');
  setAttr(badge, 'title', engine.test_engine && typeof engine.note === 'string' ? visible(engine.note) : null);
  show(badge, engine.test_engine === true);
  show(box, true);
}

export async function loadVersion() {
  const badge = byTestId('version-badge');
  let version = null;
  let build = null;
  try {
    const res = await request('meta');
    if (res.ok && res.body && typeof res.body === 'object') {
      version = typeof res.body.version === 'string' ? res.body.version : null;
      build = typeof res.body.build_timestamp === 'string' ? res.body.build_timestamp : null;
      showEngine(res.body.engine);
    } else {
      throw new Error('meta unavailable');
    }
  } catch {
    try {
      const res = await request('version');
      // request() already JSON-decoded the body; a non-JSON body arrives as text (F-01.2).
      if (res.ok) version = typeof res.body === 'string' ? res.body : null;
    } catch { version = null; }
  }
  const v = cleanVersion(version);
  if (v) {
    setText(badge, `v${v}`);
    setAttr(badge, 'title', build ? `Build: ${build}` : null);
  }
  show(badge, !!v);
}

let timer = null;
let inflight = null;

/** One scanner check; overlapping calls share the request in flight. */
export function refreshScanner() {
  if (inflight) return inflight;
  inflight = (async () => {
    const el = byTestId('scanner-status');
    const text = el.querySelector('.scanner-text');
    try {
      const res = await request('test/dsxa-connection');
      const body = res.body && typeof res.body === 'object' ? res.body : {};
      const message = typeof body.message === 'string' ? visible(body.message) : '';
      if (res.ok && typeof body.status === 'string' && body.status.toLowerCase() === 'success') {
        setAttr(el, 'data-state', 'ok');
        setText(text, 'Scanner connected');
        setAttr(el, 'title', message || 'Scanner connected');
      } else {
        const reason = res.ok ? message || 'no details' : reasonOf(res);
        setAttr(el, 'data-state', 'error');
        setText(text, `Scanner not connected: ${clip(reason, 80)}`);
        setAttr(el, 'title', reason);
      }
    } catch (err) {
      setAttr(el, 'data-state', 'error');
      setText(text, 'Scanner status unavailable');
      setAttr(el, 'title', errorText(err));
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

export function initScannerStatus() {
  refreshScanner();
  timer = setInterval(() => { if (document.visibilityState === 'visible') refreshScanner(); }, REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refreshScanner();
  });
  return () => clearInterval(timer);
}

/** Shows the "API docs" link only when the core serves documentation at `docs`. */
export async function probeDocs() {
  const link = document.querySelector('.docs-link');
  try {
    const res = await request('docs', { method: 'HEAD', base: document.baseURI });
    show(link, res.ok);
  } catch { show(link, false); }
}
