/**
 * Roles (docs/AUTH.md, "Routes by role"): `viewer` < `operator` < `admin`, and the least role of
 * every route the UI calls that needs more than `viewer`. The server decides; this table only names
 * the role in a `403 insufficient_role` message and has no part in access control.
 */

export const ROLES = ['viewer', 'operator', 'admin'];

/** Whether `role` is at least `min` (unknown roles are below every role). */
export function atLeast(role, min) {
  return ROLES.indexOf(role) >= 0 && ROLES.indexOf(role) >= ROLES.indexOf(min);
}

/** [method, path pattern below the API base, least role]; first match wins. */
const ROUTES = [
  ['DELETE', /^admin\/dead-letter\/clear(\/|$)/, 'admin'],
  ['DELETE', /^connectors\/unregister\//, 'admin'],
  ['*', /^admin\/(users|tokens|connectors|audit)(\/|$|\?)/, 'admin'],
  ['GET', /^connectors\/auth_check\//, 'admin'],
  ['POST', /^admin\/dead-letter\/requeue(\/|$)/, 'operator'],
  ['GET', /^admin\/dead-letter\/items\//, 'operator'],
  ['POST', /^scan\/jobs\/[^/]+\/(pause|resume|cancel|enqueue_done)$/, 'operator'],
  ['POST', /^connectors\/full_scan\//, 'operator'],
  ['POST', /^scan\/request(\/batch)?$/, 'operator'],
  ['GET', /^connectors\/(repo_check|estimate)\//, 'operator'],
  ['GET', /^config$/, 'operator'],
  ['POST', /^schedules(\/|$)/, 'operator'],
  ['PUT', /^schedules\//, 'operator'],
  ['DELETE', /^schedules\//, 'operator'],
];

/** The least role of `method path` (path relative to the API base), `viewer` when not listed. */
export function minRoleFor(method, path) {
  const m = String(method || 'GET').toUpperCase();
  const p = String(path || '').replace(/^\/+/, '').split('?')[0];
  for (const [rm, re, role] of ROUTES) {
    if ((rm === '*' || rm === m || (rm === 'GET' && m === 'HEAD')) && re.test(p)) return role;
  }
  return 'viewer';
}
