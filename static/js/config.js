/**
 * Configuration views: the connector dialog with preview and sample scan (docs/reference/UI.md,
 * F-13) and the read-only server settings (F-14). Both render JSON as a collapsible key/value tree
 * made of text nodes; values under secret-looking keys are masked even if the server sent them
 * (B15).
 */
import { request, fetchJson, reasonOf, errorText } from './api.js';
import { h, byTestId, replaceChildren, setText, setBusy, show } from './dom.js';
import { openDialog, closeDialog, confirmDialog } from './dialogs.js';
import { toast } from './toast.js';
import { visible } from './format.js';

const SECRET = /(secret|token|password|passwd|api_?key|private_?key|credential)/i;
const MASK = '••••••';
let current = null; // {uuid, name}
let startScan = () => {};
let nameOf = () => null;

/** A tree node for `value` under `key` (null key = root). */
function node(key, value, masked) {
  const secret = masked || (key !== null && SECRET.test(String(key)));
  const keyEl = key !== null ? h('span', { class: 'tree-key', text: `${visible(String(key))}:` }) : null;
  if (value !== null && typeof value === 'object') {
    if (secret) return h('li', {}, keyEl, h('span', { class: 'tree-value', text: MASK }));
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const label = Array.isArray(value) ? `[${value.length}]` : `{${entries.length}}`;
    if (entries.length === 0) return h('li', {}, keyEl, h('span', { class: 'tree-null', text: Array.isArray(value) ? '[]' : '{}' }));
    const list = h('ul', {}, entries.map(([k, v]) => node(k, v, false)));
    const det = h('details', {}, h('summary', {}, keyEl || '', h('span', { class: 'muted', text: ` ${label}` })), list);
    det.open = true;
    return key === null ? list : h('li', {}, det);
  }
  let text;
  let cls = 'tree-value';
  if (value === null || value === undefined) { text = 'null'; cls = 'tree-null'; }
  else if (secret) text = MASK;
  else if (typeof value === 'string') text = visible(value);
  else text = String(value);
  return h('li', {}, keyEl, h('span', { class: cls, text }));
}

/** Renders `obj` as a tree into `container`. */
export function renderTree(container, obj) {
  const root = node(null, obj, false);
  replaceChildren(container, root.tagName === 'UL' ? root : h('ul', {}, root));
}

export function initConfig({ startSampleScan, connectorName }) {
  startScan = startSampleScan;
  nameOf = connectorName;
  const dlg = byTestId('connector-config-dialog');
  byTestId('btn-preview', dlg).addEventListener('click', preview);
  byTestId('btn-sample-scan', dlg).addEventListener('click', () => { if (current) startScan(current.uuid, { limit: 5 }); });
  byTestId('btn-unregister', dlg).addEventListener('click', unregister);
  byTestId('settings-button').addEventListener('click', (e) => openSettings(e.currentTarget));
}

/** Opens the connector configuration dialog (the card's cog). */
export async function openConnectorConfig(uuid, opener) {
  const dlg = byTestId('connector-config-dialog');
  const name = nameOf(uuid) || uuid;
  current = { uuid, name };
  setText(dlg.querySelector('#config-title'), `Configuration: ${visible(name)}`);
  const tree = byTestId('config-tree', dlg);
  replaceChildren(tree, h('p', { class: 'muted', text: 'Loading…' }));
  show(dlg.querySelector('.preview-area'), false);
  replaceChildren(byTestId('preview-list', dlg));
  openDialog(dlg, opener);
  try {
    const cfg = await fetchJson(`connectors/config/${encodeURIComponent(uuid)}`);
    if (current?.uuid !== uuid) return;
    renderTree(tree, cfg);
  } catch (err) {
    if (current?.uuid !== uuid) return;
    replaceChildren(tree, h('p', { class: 'error-text', text: `Failed to load configuration: ${errorText(err)}` }));
  }
}

async function preview() {
  if (!current) return;
  const dlg = byTestId('connector-config-dialog');
  const btn = byTestId('btn-preview', dlg);
  const area = dlg.querySelector('.preview-area');
  const status = dlg.querySelector('.preview-status');
  const list = byTestId('preview-list', dlg);
  setBusy(btn, true, 'Checking…');
  try {
    const res = await request(`connectors/repo_check/${encodeURIComponent(current.uuid)}`, { params: { preview: 5 } });
    show(area, true);
    if (!res.ok) {
      setText(status, `Check failed: ${reasonOf(res)}`);
      replaceChildren(list);
      return;
    }
    const b = res.body && typeof res.body === 'object' ? res.body : {};
    const st = typeof b.status === 'string' ? b.status : '—';
    const msg = typeof b.message === 'string' ? b.message : '';
    setText(status, visible(msg ? `${st}: ${msg}` : st));
    const items = Array.isArray(b.preview) ? b.preview.filter((x) => typeof x === 'string') : [];
    replaceChildren(list, items.length
      ? items.map((p) => h('li', { text: visible(p), title: p }))
      : [h('li', { class: 'muted', text: 'No preview items (check asset and filter).' })]);
  } catch (err) {
    show(area, true);
    setText(status, `Check failed: ${errorText(err)}`);
    replaceChildren(list);
  } finally {
    setBusy(btn, false);
  }
}

/** Unregisters the connector (role admin) after confirmation; its card then goes offline. */
async function unregister() {
  if (!current) return;
  const { uuid, name } = current;
  const ok = await confirmDialog({
    title: 'Unregister connector',
    text: `Unregister ${visible(name)}? It leaves the registry until it registers again.`,
    okLabel: 'Unregister',
  });
  if (!ok) return;
  const dlg = byTestId('connector-config-dialog');
  const btn = byTestId('btn-unregister', dlg);
  setBusy(btn, true, 'Unregistering…');
  try {
    const res = await request(`connectors/unregister/${encodeURIComponent(uuid)}`, { method: 'DELETE' });
    if (!res.ok) throw new Error(reasonOf(res));
    toast('success', `${visible(name)} unregistered`);
    closeDialog(dlg);
  } catch (err) {
    toast('error', `Unregister failed: ${err.reason || err.message || errorText(err)}`);
  } finally {
    setBusy(btn, false);
  }
}

async function openSettings(opener) {
  const dlg = byTestId('settings-dialog');
  const tree = byTestId('settings-tree', dlg);
  replaceChildren(tree, h('p', { class: 'muted', text: 'Loading…' }));
  openDialog(dlg, opener);
  try {
    renderTree(tree, await fetchJson('config'));
  } catch (err) {
    replaceChildren(tree, h('p', { class: 'error-text', text: `Failed to load configuration: ${errorText(err)}` }));
  }
}
