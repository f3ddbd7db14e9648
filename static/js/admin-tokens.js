/**
 * API tokens panel (docs/AUTH.md, "API tokens"; docs/UI.md, "Administration"): list (prefix, role,
 * expiry, last use), create with name, role and expiry, revoke after confirmation. A new token is
 * shown once, in a read-only field with a Copy button and a warning; it lives only in that field
 * and is gone when dismissed or when the dialog closes (never stored, never logged).
 */
import { registerPanel, td, timeCell, rowButton, call, loadList, status } from './admin.js';
import { confirmDialog } from './dialogs.js';
import { h, byTestId, replaceChildren, show, copyText } from './dom.js';
import { visible } from './format.js';
import { toast } from './toast.js';

let panel;
let tbody;
let once;
let onceValue;

export function initTokens() {
  panel = byTestId('admin-tokens');
  tbody = byTestId('tokens-table').tBodies[0];
  once = byTestId('token-once');
  onceValue = byTestId('token-value');
  const form = byTestId('token-add-form');
  const days = byTestId('token-add-days');
  const never = byTestId('token-add-never');
  never.addEventListener('change', () => { days.disabled = never.checked; });
  form.addEventListener('submit', (e) => { e.preventDefault(); create(form); });
  byTestId('token-copy').addEventListener('click', async () => {
    const ok = await copyText(onceValue.value);
    toast(ok ? 'success' : 'error', ok ? 'Token copied' : 'Copy failed');
  });
  byTestId('token-done').addEventListener('click', hideOnce);
  byTestId('admin-dialog').addEventListener('close', hideOnce);
  registerPanel('tokens', { load });
}

function hideOnce() {
  onceValue.value = '';
  show(once, false);
}

async function load() {
  const list = await loadList(panel, 'admin/tokens');
  if (!Array.isArray(list)) return;
  replaceChildren(tbody, list.filter((t) => t && typeof t.id === 'string').map(row));
  if (list.length === 0) status(panel, 'No API tokens.');
}

function row(t) {
  const name = visible(t.name || t.id);
  const revoke = rowButton('Revoke', 'token-revoke', `Revoke token ${name}`, 'btn btn-small btn-danger');
  revoke.addEventListener('click', () => revokeToken(t, revoke));
  return h('tr', { testid: 'token-row', 'data-token-id': t.id },
    td(t.name, { title: t.created_by ? `created by ${t.created_by}` : null, cls: 'cell-wrap' }),
    td(t.role),
    td(t.prefix ? `${t.prefix}…` : null, { cls: 'mono' }),
    timeCell(t.created_at), timeCell(t.expires_at, 'never'), timeCell(t.last_used_at, 'never'),
    h('td', {}, revoke));
}

async function create(form) {
  const data = new FormData(form);
  const body = { name: String(data.get('name') || '').trim(), role: String(data.get('role')) };
  if (data.get('never')) body.expires_in_days = null;
  else if (String(data.get('days') || '').trim() !== '') body.expires_in_days = Number(data.get('days'));
  const res = await call('Creating the token', 'admin/tokens', { method: 'POST', json: body, btn: byTestId('token-add-submit'), busyLabel: 'Creating…' });
  if (!res) return;
  const token = res.body && typeof res.body.token === 'string' ? res.body.token : '';
  form.reset();
  byTestId('token-add-days').disabled = false;
  onceValue.value = token;
  show(once, true);
  onceValue.focus();
  onceValue.select();
  toast('success', `Token ${visible(body.name)} created (${body.role})`);
  load();
}

async function revokeToken(t, btn) {
  const ok = await confirmDialog({
    title: 'Revoke token',
    text: `Revoke the token ${visible(t.name || t.id)} (${t.role})? Every client using it is refused from now on.`,
    okLabel: 'Revoke',
  });
  if (!ok) return;
  const res = await call('Revoking the token', `admin/tokens/${encodeURIComponent(t.id)}`, { method: 'DELETE', btn, reasons: { token_not_found: 'the token no longer exists' } });
  if (res) toast('success', `Token ${visible(t.name || t.id)} revoked`);
  load();
}
