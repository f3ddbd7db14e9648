/**
 * Connector security panel (docs/AUTH.md, "Rotation", "Revocation"; docs/UI.md, "Administration"):
 * the credential records of `GET admin/connectors` — never a secret — with Rotate, Revoke, Reset
 * and Forget, each after a confirmation that says what it does. Revoked records carry a `Revoked`
 * badge and offer only Forget (Rotate and Reset answer `409 connector_revoked` for them).
 */
import { registerPanel, td, timeCell, rowButton, call, loadList, status } from './admin.js';
import { confirmDialog } from './dialogs.js';
import { h, byTestId, replaceChildren } from './dom.js';
import { shortId, visible } from './format.js';
import { toast } from './toast.js';

const STATE = { enrolled: 'badge badge-success', revoked: 'badge badge-danger', builtin: 'badge badge-info' };
const REASONS = { connector_not_found: 'the record no longer exists', connector_revoked: 'the connector is revoked — use Forget' };

const ACTIONS = {
  rotate: { label: 'Rotate', cls: 'btn btn-small', done: 'Key rotation requested for',
    text: (n) => `Rotate the key of ${n}? It receives a new key at its next registration; the old key stays valid for a short overlap.` },
  revoke: { label: 'Revoke', cls: 'btn btn-small btn-danger', done: 'Revoked',
    text: (n) => `Revoke ${n}? Every key of it is refused from now on, it is removed from the registry, and queued work for it fails.` },
  reset: { label: 'Reset', cls: 'btn btn-small', done: 'Credentials reset for',
    text: (n) => `Reset the credentials of ${n}? Its keys are deleted at once; the same connector must enroll again with an enrollment token.` },
  forget: { label: 'Forget', cls: 'btn btn-small btn-danger', done: 'Forgot',
    text: (n) => `Forget ${n}? Its credential record is deleted; the uuid may enroll anew. This cannot be undone.` },
};

let panel;
let tbody;

export function initConnectorSecurity() {
  panel = byTestId('admin-connectors');
  tbody = byTestId('conn-security-table').tBodies[0];
  registerPanel('connectors', { load });
}

async function load() {
  const list = await loadList(panel, 'admin/connectors');
  if (!Array.isArray(list)) return;
  replaceChildren(tbody, list.filter((c) => c && typeof c.connector_uuid === 'string').map(row));
  if (list.length === 0) status(panel, 'No connector credentials (built-in connectors have none stored).');
}

function row(c) {
  const uuid = c.connector_uuid;
  const name = visible(c.name || uuid);
  const revoked = c.state === 'revoked';
  const buttons = Object.entries(ACTIONS)
    .filter(([op]) => !revoked || op === 'forget')
    .map(([op, a]) => {
      const b = rowButton(a.label, `conn-${op}`, `${a.label} ${name}`, a.cls);
      b.addEventListener('click', () => act(op, c, b));
      return b;
    });
  const stateText = revoked ? 'Revoked' : String(c.state || '—');
  const stateTitle = revoked && c.revoked_at ? `revoked ${c.revoked_at}${c.revoked_by ? ` by ${c.revoked_by}` : ''}` : null;
  return h('tr', { testid: 'conn-security-row', 'data-connector-uuid': uuid, 'data-state': String(c.state ?? '') },
    h('td', { class: 'cell-wrap' }, h('span', { text: name, title: c.url ? visible(c.url) : null }), ' ',
      h('span', { class: 'muted mono', title: uuid, text: shortId(uuid) })),
    h('td', {}, h('span', { class: STATE[c.state] || 'badge badge-neutral', title: stateTitle, text: stateText }),
      c.rotate_pending ? h('span', { class: 'badge badge-warning', text: 'Rotation pending' }) : null),
    td(c.key_id, { cls: 'mono' }),
    timeCell(c.key_issued_at),
    timeCell(c.last_registration_at),
    td(c.present ? 'yes' : 'no'),
    h('td', {}, h('div', { class: 'row-actions' }, buttons)));
}

async function act(op, c, btn) {
  const a = ACTIONS[op];
  const name = visible(c.name || c.connector_uuid);
  const ok = await confirmDialog({ title: `${a.label} connector`, text: a.text(name), okLabel: a.label });
  if (!ok) return;
  const path = `admin/connectors/${encodeURIComponent(c.connector_uuid)}${op === 'forget' ? '' : `/${op}`}`;
  const res = await call(`${a.label} ${name}`, path, { method: op === 'forget' ? 'DELETE' : 'POST', btn, reasons: REASONS });
  if (res) toast('success', `${a.done} ${name}`);
  load();
}
