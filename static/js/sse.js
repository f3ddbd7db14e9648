/**
 * The two live streams (docs/reference/UI.md, "Event streams", F-17): `subscribe/scan-result` and
 * `subscribe/connector-registered` — never more. Each stream has a watchdog (45 s without any
 * frame, heartbeats included), reconnects with jittered exponential backoff that never gives up,
 * and reports a reconnection (a `connected` frame after the first) so the page resynchronises.
 * A banner shows when a stream has been down for more than 3 s.
 */
import { apiUrl } from './api.js';
import { byTestId, setText, show } from './dom.js';
import { toast } from './toast.js';

const WATCHDOG_MS = 45000;
const BANNER_DELAY_MS = 3000;

/** Counters for debugging (never shown): ignored frames, reconnects. */
export const debug = { ignoredFrames: 0, reconnects: 0, frames: 0 };

class Stream {
  constructor(name, path, onFrame, onReconnected, onStateChange, onGaveUp) {
    this.name = name;
    this.onGaveUp = onGaveUp;
    this.path = path;
    this.onFrame = onFrame;
    this.onReconnected = onReconnected;
    this.onStateChange = onStateChange;
    this.es = null;
    this.state = 'connecting';
    this.downSince = performance.now();
    this.attempt = 0;
    this.everConnected = false;
    this.lastFrameAt = performance.now();
    this.retryTimer = null;
    this.waitingMessage = null;
    this.stopped = false;
  }

  open() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.close();
    this.setState('connecting');
    this.lastFrameAt = performance.now();
    const es = new EventSource(apiUrl(this.path));
    this.es = es;
    es.addEventListener('message', (e) => this.message(e));
    es.addEventListener('error', () => {
      if (this.es !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (non-2xx, wrong content type). A 401 looks the same from here:
        // the page asks whether the session is over (auth.js checkSession).
        this.onGaveUp();
        this.scheduleReconnect();
      } else {
        this.setState('connecting'); // the browser retries by itself (honouring `retry:`)
      }
    });
  }

  message(e) {
    // Only bookkeeping here: the frame itself is handled by the time-sliced drain below.
    this.lastFrameAt = performance.now();
    debug.frames += 1;
    enqueue(this, e.data);
  }

  handle(data) {
    let frame;
    try { frame = JSON.parse(data); } catch { debug.ignoredFrames += 1; return; }
    if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') { debug.ignoredFrames += 1; return; }
    if (this.waitingMessage !== null && frame.type !== 'waiting') {
      this.waitingMessage = null;
      this.onStateChange();
    }
    switch (frame.type) {
      case 'connected': {
        const reconnection = this.everConnected;
        this.everConnected = true;
        this.attempt = 0;
        this.setState('open');
        if (reconnection) { debug.reconnects += 1; this.onReconnected(this.name); }
        return;
      }
      case 'heartbeat':
        if (this.state !== 'open' && this.everConnected) this.setState('open');
        return;
      case 'waiting':
        this.waitingMessage = typeof frame.message === 'string' ? frame.message : 'Server paused live updates';
        this.onStateChange();
        return;
      case 'error':
        this.scheduleReconnect();
        return;
      default:
        if (!this.onFrame(frame)) debug.ignoredFrames += 1;
    }
  }

  setState(state) {
    if (this.state === state) return;
    if (state !== 'open' && this.state === 'open') this.downSince = performance.now();
    this.state = state;
    this.onStateChange();
  }

  /** Closes and reopens after min(30 s, 1 s × 2^(n−1)) × random[0.5, 1] (F-17.2). */
  scheduleReconnect() {
    this.close();
    this.setState('closed');
    if (this.retryTimer || this.stopped) return;
    this.attempt += 1;
    const base = Math.min(30000, 1000 * 2 ** (this.attempt - 1));
    const delay = base * (0.5 + Math.random() * 0.5);
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.open(); }, delay);
  }

  close() {
    if (this.es) {
      const es = this.es;
      this.es = null;
      try { es.close(); } catch { /* closing never matters */ }
    }
  }

  /** Watchdog: silent for 45 s → reconnect (F-17.3). */
  check(now) {
    if (this.stopped) return;
    if (this.es && now - this.lastFrameAt > WATCHDOG_MS) {
      this.scheduleReconnect();
    }
  }
}

/*
 * Frames are queued on arrival and handled in slices of at most 8 ms. A renderer that was busy
 * receives many frames in one network chunk, and the browser dispatches them all in one task;
 * queuing keeps that task tiny and lets rendering run between slices (docs/reference/UI.md,
 * "Performance").
 */
const SLICE_MS = 8;
let queue = [];
let head = 0;
let draining = false;

function enqueue(stream, data) {
  queue.push(stream, data);
  if (!draining) {
    draining = true;
    setTimeout(drain, 0);
  }
}

function drain() {
  const end = performance.now() + SLICE_MS;
  while (head < queue.length && performance.now() < end) {
    const stream = queue[head];
    const data = queue[head + 1];
    queue[head] = null;
    queue[head + 1] = null;
    head += 2;
    if (!stream.stopped) stream.handle(data);
  }
  if (head >= queue.length) {
    queue = [];
    head = 0;
    draining = false;
  } else {
    if (head > 20000) { queue = queue.slice(head); head = 0; }
    setTimeout(drain, 0);
  }
}

let streams = [];
let bannerShown = false;
let tickTimer = null;

function updateBanner() {
  const banner = byTestId('conn-banner');
  const text = banner.querySelector('.conn-banner-text');
  const now = performance.now();
  const waiting = streams.find((s) => s.waitingMessage !== null);
  const down = streams.filter((s) => s.state !== 'open' && now - s.downSince > BANNER_DELAY_MS);
  if (waiting && down.length === 0) {
    setText(text, `Server paused live updates: ${waiting.waitingMessage}`);
    show(banner, true);
    return;
  }
  if (down.length > 0) {
    const attempt = Math.max(1, ...down.map((s) => s.attempt));
    setText(text, `Live updates disconnected — reconnecting… (attempt ${attempt})`);
    show(banner, true);
    bannerShown = true;
    return;
  }
  const allOpen = streams.every((s) => s.state === 'open');
  if (allOpen) {
    show(banner, false);
    if (bannerShown) {
      bannerShown = false;
      toast('success', 'Live updates restored');
    }
  }
}

/**
 * Opens both streams. `onScanFrame` / `onConnectorFrame` return true when they handled a frame;
 * `onReconnected(name)` runs after every reconnection of a stream; `onGaveUp()` when the browser
 * stopped retrying a stream by itself (a non-2xx answer such as 401).
 */
export function startStreams({ onScanFrame, onConnectorFrame, onReconnected, onGaveUp = () => {} }) {
  streams = [
    new Stream('scan-result', 'subscribe/scan-result', onScanFrame, onReconnected, updateBanner, onGaveUp),
    new Stream('connector', 'subscribe/connector-registered', onConnectorFrame, onReconnected, updateBanner, onGaveUp),
  ];
  for (const s of streams) s.open();
  tickTimer = setInterval(() => {
    const now = performance.now();
    for (const s of streams) s.check(now);
    updateBanner();
  }, 1000);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible') return;
    for (const s of streams) if (s.state !== 'open' && !s.stopped) s.open(); // F-17.4
  });
  // F-17.6: close quietly on unload; nothing may throw while the page goes away (B10).
  window.addEventListener('pagehide', () => {
    clearInterval(tickTimer);
    for (const s of streams) { s.stopped = true; clearTimeout(s.retryTimer); s.close(); }
  });
  // Back/forward cache: a restored page reopens its streams (and resynchronises on `connected`).
  window.addEventListener('pageshow', (e) => {
    if (!e.persisted) return;
    for (const s of streams) { s.stopped = false; s.open(); }
    tickTimer = setInterval(() => { for (const s of streams) s.check(performance.now()); updateBanner(); }, 1000);
  });
}

/** Stream states, for tests and debugging. */
export function streamStates() {
  return streams.map((s) => ({ name: s.name, state: s.state, attempt: s.attempt }));
}
