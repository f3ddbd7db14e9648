/**
 * Toasts (docs/reference/UI.md, F-16): a polite live region; errors use role="alert". Text is set
 * through textContent only. At most four are visible (oldest leave first); info/success close after
 * 5 s, warning/error after 10 s; hovering or focusing a toast pauses its timer.
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
  raise(box);
  start();
  return el;
}

let raisedOver = [];

/**
 * The container is a manual popover in the top layer, so toasts stay readable above an open
 * modal dialog (whose backdrop would cover them). It is shown again only when the set of open
 * modal dialogs changed since it was last shown: that makes it the newest (topmost) entry.
 */
function raise(box) {
  if (typeof box.showPopover !== 'function') return;
  const modals = [...document.querySelectorAll('dialog[open]')].filter((d) => d.matches(':modal'));
  const changed = modals.length !== raisedOver.length || modals.some((d, i) => d !== raisedOver[i]);
  try {
    const open = box.matches(':popover-open');
    if (open && !changed) return;
    if (open) box.hidePopover();
    box.showPopover();
    raisedOver = modals;
  } catch { /* not a popover (older browser): it stays in the page as before */ }
}
