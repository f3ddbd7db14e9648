/**
 * Toasts (UI.md F-16): a polite live region; errors use role="alert". Text is set through
 * textContent only. At most four are visible (oldest leave first); info/success close after 5 s,
 * warning/error after 10 s; hovering or focusing a toast pauses its timer.
 */
import { h, icon } from './dom.js';

const MAX_VISIBLE = 4;
const DURATION = { info: 5000, success: 5000, warning: 10000, error: 10000 };
const ICON = { info: 'info', success: 'check-circle', warning: 'alert', error: 'alert' };
const CLASS = { info: 'toast toast-info', success: 'toast toast-success', warning: 'toast toast-warning', error: 'toast toast-error' };

let container = null;

function root() {
  if (!container) container = document.querySelector('.toasts');
  return container;
}

/** Shows a toast of `kind` (`info`, `success`, `warning`, `error`) with plain `text`. */
export function toast(kind, text) {
  const k = kind in DURATION ? kind : 'info';
  const close = h('button', { type: 'button', class: 'btn btn-icon btn-ghost btn-small', 'aria-label': 'Dismiss notification' }, icon('x'));
  const el = h('div', { class: CLASS[k], testid: 'toast', 'data-kind': k, role: k === 'error' ? 'alert' : 'status' },
    icon(ICON[k]), h('div', { class: 'toast-text', text }), close);

  let remaining = DURATION[k];
  let started = 0;
  let timer = null;
  const dismiss = () => { clearTimeout(timer); el.remove(); };
  const start = () => { started = Date.now(); timer = setTimeout(dismiss, remaining); };
  const pause = () => { clearTimeout(timer); remaining = Math.max(1000, remaining - (Date.now() - started)); };

  close.addEventListener('click', dismiss);
  el.addEventListener('mouseenter', pause);
  el.addEventListener('mouseleave', start);
  el.addEventListener('focusin', pause);
  el.addEventListener('focusout', (e) => { if (!el.contains(e.relatedTarget)) start(); });

  const box = root();
  box.append(el);
  while (box.children.length > MAX_VISIBLE) box.firstElementChild.remove();
  start();
  return el;
}
