/**
 * The Administration dialog (docs/UI.md, "Administration"): tabs Users, API tokens, Audit and
 * Connector security, each a panel module that loads when its tab is shown. Only admins see the
 * header button; with authentication off only Audit remains (the other admin routes answer `404
 * auth_disabled` then). Also the small helpers every panel shares: table cells, times, row buttons,
 * a call that reports its failure, all text-only (docs/reference/UI.md, "Rendering rules").
 */
import { request, reasonOf, errorText } from './api.js';
import { authEnabled } from './auth.js';
import { openDialog } from './dialogs.js';
import { h, byTestId, setText, setBusy, show } from './dom.js';
import { fmtDateTime, isoOf, toEpochMs, visible } from './format.js';
import { toast } from './toast.js';

const panels = new Map(); // tab name → { load }
let dlg;
let tabs = [];

/** Registers a panel: `load()` runs each time its tab is shown. */
export function registerPanel(name, panel) {
  panels.set(name, panel);
}

export function initAdmin() {
  dlg = byTestId('admin-dialog');
  tabs = [...dlg.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener('click', () => select(tab.dataset.tab, true));
    tab.addEventListener('keydown', onTabKey);
  }
  byTestId('admin-button').addEventListener('click', (e) => {
    for (const tab of tabs) show(tab, authEnabled() || !tab.hasAttribute('data-auth-only'));
    openDialog(dlg, e.currentTarget);
    const current = tabs.find((t) => t.getAttribute('aria-selected') === 'true' && !t.hidden);
    select((current || tabs.find((t) => !t.hidden)).dataset.tab, true);
  });
}

/** Shows the panel `name` and (re)loads it. */
function select(name, focus) {
  for (const tab of tabs) {
    const on = tab.dataset.tab === name;
    tab.setAttribute('aria-selected', on ? 'true' : 'false');
    tab.tabIndex = on ? 0 : -1;
    show(document.getElementById(tab.getAttribute('aria-controls')), on);
    if (on && focus) tab.focus();
  }
  panels.get(name)?.load();
}

/** Arrow keys, Home and End move between the visible tabs (WAI-ARIA tabs pattern). */
function onTabKey(e) {
  const visibleTabs = tabs.filter((t) => !t.hidden);
  const i = visibleTabs.indexOf(e.currentTarget);
  const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: visibleTabs.length - 1 }[e.key];
  if (next === undefined) return;
  e.preventDefault();
  select(visibleTabs[(next + visibleTabs.length) % visibleTabs.length].dataset.tab, true);
}

/* ------------------------------------------------------------------ shared helpers */

/** A table cell with text (server text shown with invisible characters marked, "Invisible characters"). */
export function td(text, { title = null, cls = null } = {}) {
  const s = text === null || text === undefined || text === '' ? '—' : visible(String(text));
  return h('td', { class: cls, title: title ?? null, text: s });
}

/** A cell with an RFC 3339 time in local time, the ISO form in the tooltip. */
export function timeCell(iso, empty = '—') {
  const ms = toEpochMs(iso);
  return h('td', { class: 'mono', title: ms === null ? null : isoOf(ms), text: ms === null ? empty : fmtDateTime(ms) });
}

/** A small row button; `label` is visible text, `name` the accessible name. */
export function rowButton(label, testid, name, cls = 'btn btn-small') {
  return h('button', { type: 'button', class: cls, testid, 'aria-label': name, title: name }, h('span', { class: 'btn-text', text: label }));
}

/** Sets a panel's status line (errors in the error colour). */
export function status(panel, text, error = false) {
  const p = panel.querySelector('.panel-status');
  setText(p, text || '');
  p.className = error ? 'panel-status error-text' : 'panel-status muted';
}

/**
 * Runs an admin call with `btn` busy. Resolves to the answer on 2xx; otherwise shows an error
 * toast `<what> failed: <reason>` (`reasons` maps a `detail` code to a clearer text) and
 * resolves to null.
 */
export async function call(what, path, { method = 'GET', json, btn = null, busyLabel = null, reasons = {} } = {}) {
  if (btn) setBusy(btn, true, busyLabel);
  try {
    const res = await request(path, { method, json });
    if (res.ok) return res;
    const detail = res.body && typeof res.body === 'object' ? res.body.detail : null;
    toast('error', `${what} failed: ${reasons[detail] || reasonOf(res)}`);
    return null;
  } catch (err) {
    toast('error', `${what} failed: ${errorText(err)}`);
    return null;
  } finally {
    if (btn && btn.isConnected) setBusy(btn, false);
  }
}

/** `GET path` for a panel's list: the array, or null with the reason in the panel's status. */
export async function loadList(panel, path, params) {
  status(panel, 'Loading…');
  try {
    const res = await request(path, { params });
    if (!res.ok) {
      status(panel, `Failed to load: ${reasonOf(res)}`, true);
      return null;
    }
    status(panel, '');
    return res.body;
  } catch (err) {
    status(panel, `Failed to load: ${errorText(err)}`, true);
    return null;
  }
}
