/**
 * DOM helpers. All markup is built with createElement and every server string goes in as a text
 * node or through setAttribute on safe attributes (docs/reference/UI.md, "Rendering rules"): that
 * is the one rule which keeps a file named `<img src=x onerror=…>` a harmless file name.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';
const SPRITE = 'static/img/icons.svg';

/** Attributes that may carry server text ("Rendering rules"); anything else is a code constant. */
const SAFE_ATTR = /^(title|value|role|type|name|id|for|href|target|rel|tabindex|hidden|disabled|placeholder|colspan|scope|aria-[a-z]+|data-[a-z-]+)$/;

/**
 * Creates an element. `props`: `class` (constant string), `text` (text content), `testid`,
 * `on` ({event: handler}), any other key is an attribute (validated against SAFE_ATTR).
 * Children: nodes or strings (strings become text nodes); null/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'testid') el.setAttribute('data-testid', v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (SAFE_ATTR.test(k)) el.setAttribute(k, v === true ? '' : String(v));
    else throw new Error(`attribute not allowed: ${k}`);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** A sprite icon, decorative (hidden from assistive technology). */
export function icon(name, extraClass = '') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', extraClass ? `icon ${extraClass}` : 'icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const use = document.createElementNS(SVG_NS, 'use');
  use.setAttribute('href', `${SPRITE}#${name}`);
  svg.append(use);
  return svg;
}

/** Points an existing sprite icon at another symbol (no node churn). */
export function setIcon(svg, name) {
  const use = svg.firstElementChild;
  const href = `${SPRITE}#${name}`;
  if (use && use.getAttribute('href') !== href) use.setAttribute('href', href);
}

/** Sets text only when it changed: avoids layout work and keeps screen readers quiet. */
export function setText(el, text) {
  const s = text === null || text === undefined ? '' : String(text);
  if (el.textContent !== s) el.textContent = s;
}

export function setAttr(el, name, value) {
  if (value === null || value === undefined) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
    return;
  }
  const s = String(value);
  if (el.getAttribute(name) !== s) el.setAttribute(name, s);
}

export function show(el, visible) {
  if (el.hidden === visible) el.hidden = !visible;
}

/** Replaces an element's children (no-op when `nodes` is already its content). */
export function replaceChildren(el, ...nodes) {
  el.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/**
 * Marks a button busy (docs/reference/UI.md, "Accessibility"): disabled + aria-busy, label swapped;
 * restoring puts the original label back. The label element is the button's `.btn-text` child when
 * present.
 */
export function setBusy(btn, busy, busyLabel) {
  const label = btn.querySelector('.btn-text') || btn;
  if (busy) {
    if (!btn.dataset.idleLabel) btn.dataset.idleLabel = label.textContent;
    if (busyLabel) setText(label, busyLabel);
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
  } else {
    if (btn.dataset.idleLabel) setText(label, btn.dataset.idleLabel);
    delete btn.dataset.idleLabel;
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

/**
 * Runs `fn` on the next animation frame, with a timer fallback: hidden tabs get no frames, and
 * queued live data must still drain (bounded) there.
 */
export function nextFrame(fn) {
  let done = false;
  const run = () => { if (!done) { done = true; fn(); } };
  requestAnimationFrame(run);
  setTimeout(run, 250);
}

/**
 * A coalescing scheduler: `schedule()` requests one run of `fn` on a later frame, at most once per
 * `minGapMs` (docs/reference/UI.md, F-06.3: ≤ 4 renders per second per card); the last request
 * always runs.
 */
export function coalescer(fn, minGapMs = 0) {
  let queued = false;
  let last = 0;
  const run = () => { queued = false; last = performance.now(); fn(); };
  return function schedule() {
    if (queued) return;
    queued = true;
    const wait = Math.max(0, last + minGapMs - performance.now());
    if (wait > 0) setTimeout(() => nextFrame(run), wait);
    else nextFrame(run);
  };
}

/** Copies text: Clipboard API first, else an off-screen textarea (docs/reference/UI.md, F-05.2). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch { /* fall through to the legacy path */ }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.className = 'visually-hidden';
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  return ok;
}
