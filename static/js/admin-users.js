/**
 * Users panel (docs/AUTH.md, "Users"; docs/UI.md, "Administration"): list, add (username, password,
 * role), change role, reset password, disable/enable and remove. Every change but adding asks for
 * confirmation; a change ends that user's sessions (the server does it), and refusing to lose the
 * last admin (`409 last_admin`) is said plainly.
 */
import { registerPanel, td, timeCell, rowButton, call, loadList, status } from './admin.js';
import { currentSession } from './auth.js';
import { confirmDialog, openDialog, closeDialog } from './dialogs.js';
import { h, byTestId, replaceChildren, setText } from './dom.js';
import { visible } from './format.js';
import { ROLES } from './roles.js';
import { toast } from './toast.js';

const REASONS = {
  last_admin: 'this is the last admin — add another admin first',
  user_exists: 'a user with this name exists',
  user_not_found: 'the user no longer exists',
};

let panel;
let tbody;

export function initUsers() {
  panel = byTestId('admin-users');
  tbody = byTestId('users-table').tBodies[0];
  const form = byTestId('user-add-form');
  form.addEventListener('submit', (e) => { e.preventDefault(); addUser(form); });
  registerPanel('users', { load });
}

async function load() {
  const list = await loadList(panel, 'admin/users');
  if (!Array.isArray(list)) return;
  replaceChildren(tbody, list.filter((u) => u && typeof u.username === 'string').map(row));
  if (list.length === 0) status(panel, 'No users.');
}

function row(u) {
  const name = u.username;
  const shown = visible(name);
  const me = currentSession().user === name;
  const role = h('select', { 'aria-label': `Role of ${shown}`, testid: 'user-role-select' },
    ROLES.map((r) => h('option', { value: r, text: r })));
  role.value = ROLES.includes(u.role) ? u.role : 'viewer';
  role.addEventListener('change', () => changeRole(name, u.role, role));
  const pw = rowButton('Reset password', 'user-password', `Reset the password of ${shown}`);
  const toggle = rowButton(u.disabled ? 'Enable' : 'Disable', 'user-toggle', `${u.disabled ? 'Enable' : 'Disable'} ${shown}`);
  const remove = rowButton('Remove', 'user-remove', `Remove ${shown}`, 'btn btn-small btn-danger');
  pw.addEventListener('click', () => resetPassword(name, pw));
  toggle.addEventListener('click', () => setDisabled(name, !u.disabled, toggle));
  remove.addEventListener('click', () => removeUser(name, remove));
  return h('tr', { testid: 'user-row', 'data-username': name, 'data-role': role.value, 'data-disabled': u.disabled ? 'true' : 'false' },
    h('td', { class: 'cell-wrap' }, h('span', { text: shown }), me ? h('span', { class: 'muted', text: ' (you)' }) : null),
    h('td', {}, role),
    h('td', {}, h('span', { class: u.disabled ? 'badge badge-neutral' : 'badge badge-success', text: u.disabled ? 'Disabled' : 'Active' })),
    timeCell(u.created_at), timeCell(u.password_changed_at),
    h('td', {}, h('div', { class: 'row-actions' }, pw, toggle, remove)));
}

async function addUser(form) {
  const btn = byTestId('user-add-submit');
  const data = new FormData(form);
  const username = String(data.get('username') || '').trim().toLowerCase();
  const res = await call(`Adding ${visible(username)}`, 'admin/users', {
    method: 'POST', json: { username, password: String(data.get('password') || ''), role: String(data.get('role')) },
    btn, busyLabel: 'Adding…', reasons: REASONS,
  });
  if (!res) return;
  form.reset();
  toast('success', `User ${visible(res.body?.username || username)} added (${res.body?.role || data.get('role')})`);
  load();
}

async function changeRole(name, was, select) {
  const to = select.value;
  const ok = await confirmDialog({
    title: 'Change role',
    text: `Change the role of ${visible(name)} from ${was} to ${to}? Their open sessions end.`,
    okLabel: 'Change role',
  });
  const res = ok && await call('Changing the role', `admin/users/${encodeURIComponent(name)}`, { method: 'PUT', json: { role: to }, reasons: REASONS });
  if (res) toast('success', `${visible(name)} is now ${to}`);
  load();
}

async function setDisabled(name, disabled, btn) {
  const verb = disabled ? 'Disable' : 'Enable';
  const ok = await confirmDialog({
    title: `${verb} user`,
    text: disabled ? `Disable ${visible(name)}? They are signed out and cannot sign in until enabled again.` : `Enable ${visible(name)}? They can sign in again.`,
    okLabel: verb,
  });
  if (!ok) return;
  const res = await call(`${verb} ${visible(name)}`, `admin/users/${encodeURIComponent(name)}`, { method: 'PUT', json: { disabled }, btn, reasons: REASONS });
  if (res) { toast('success', `${visible(name)} ${disabled ? 'disabled' : 'enabled'}`); load(); }
}

async function removeUser(name, btn) {
  const ok = await confirmDialog({
    title: 'Remove user',
    text: `Remove ${visible(name)}? Their sessions end and the account is deleted. This cannot be undone.`,
    okLabel: 'Remove',
  });
  if (!ok) return;
  const res = await call(`Removing ${visible(name)}`, `admin/users/${encodeURIComponent(name)}`, { method: 'DELETE', btn, reasons: REASONS });
  if (res) { toast('success', `${visible(name)} removed`); load(); }
}

/** Asks for a new password in the password dialog; resolves to it, or null when cancelled. */
function askPassword(name) {
  const dlg = byTestId('password-dialog');
  const form = dlg.querySelector('form');
  const input = byTestId('password-input', dlg);
  setText(dlg.querySelector('.password-text'), `New password for ${visible(name)}. Their open sessions end.`);
  form.reset();
  return new Promise((resolve) => {
    let value = null;
    const onSubmit = (e) => { e.preventDefault(); value = input.value; closeDialog(dlg); };
    const onCancel = () => closeDialog(dlg);
    const cancel = byTestId('password-cancel', dlg);
    const onClose = () => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dlg.removeEventListener('close', onClose);
      form.reset();
      resolve(value);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dlg.addEventListener('close', onClose);
    openDialog(dlg);
    input.focus();
  });
}

async function resetPassword(name, btn) {
  const password = await askPassword(name);
  if (password === null) return;
  const res = await call('Setting the password', `admin/users/${encodeURIComponent(name)}`, { method: 'PUT', json: { password }, btn, reasons: REASONS });
  if (res) { toast('success', `Password of ${visible(name)} changed`); load(); }
}
