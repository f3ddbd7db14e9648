/**
 * Who is signed in (docs/AUTH.md, "Sessions"; docs/UI.md, "Sessions in the page"): the page asks
 * `auth/session` before anything else; with authentication on and no session it goes to the sign-in
 * page. The header shows the user and role with a Sign out button, or an "Authentication is off"
 * badge. Controls below the user's role carry `data-min-role` and are hidden by one rule:
 * applyRole() sets `html[data-role]` and the stylesheet hides every `[data-min-role]` above it
 * (also for elements created later, such as cards and job rows). The server enforces roles on every
 * call anyway.
 */
import { request, setCsrfToken, onUnauthenticated, errorText } from './api.js';
import { atLeast } from './roles.js';
import { byTestId, setText, setAttr, show } from './dom.js';
import { toast } from './toast.js';

const CHECK_GAP_MS = 10000;

/** The session as the UI uses it. */
const session = { authEnabled: false, authenticated: false, user: null, role: null, method: null };
let leaving = false;
let lastCheck = -Infinity;

export const currentSession = () => ({ ...session });
export const authEnabled = () => session.authEnabled;

/** Whether the signed-in user (or the auth-off admin) has at least `min`. */
export function hasRole(min) {
  return atLeast(session.role, min);
}

/**
 * Replaces the page with the sign-in page (relative URL, docs/reference/UI.md,
 * "Relative addresses"); `reason` becomes `?error=`.
 */
export function goToLogin(reason = null) {
  if (leaving) return;
  leaving = true;
  const url = new URL('login', document.baseURI);
  if (reason) url.searchParams.set('error', reason);
  window.location.replace(url.href);
}

/** Shows or hides every `[data-min-role]` control for `role` (the stylesheet does the hiding). */
export function applyRole(role) {
  setAttr(document.documentElement, 'data-role', ['viewer', 'operator', 'admin'].includes(role) ? role : 'none');
}

function renderHeader() {
  show(byTestId('auth-off-badge'), !session.authEnabled);
  const signedIn = session.authEnabled && session.authenticated;
  show(byTestId('user-chip'), signedIn);
  show(byTestId('sign-out'), signedIn && session.method !== 'token');
  if (signedIn) {
    setText(byTestId('user-name'), session.user || '—');
    setText(byTestId('user-role'), session.role || '—');
    setAttr(byTestId('user-chip'), 'title', `Signed in as ${session.user} (role ${session.role}${session.method === 'oidc' ? ', single sign-on' : ''})`);
  }
}

function take(body) {
  const b = body && typeof body === 'object' ? body : {};
  session.authEnabled = b.auth_enabled === true;
  session.authenticated = b.authenticated === true;
  session.user = typeof b.user === 'string' ? b.user : null;
  session.role = typeof b.role === 'string' ? b.role : null;
  session.method = typeof b.method === 'string' ? b.method : null;
  setCsrfToken(b.csrf_token);
}

/**
 * Boot step: `GET auth/session`. Resolves to false when the page is leaving for the sign-in page,
 * else true (the page may start). When the answer cannot be had, the page starts as `viewer`:
 * its calls then say what is wrong, and a 401 still leads to the sign-in page.
 */
export async function initAuth() {
  onUnauthenticated((detail) => goToLogin(detail === 'session_expired' ? 'session_expired' : null));
  byTestId('sign-out').addEventListener('click', signOut);
  let res = null;
  try {
    res = await request('auth/session');
  } catch (err) {
    toast('error', `Cannot check the sign-in state: ${errorText(err)}`);
  }
  if (res && res.ok) {
    take(res.body);
    if (session.authEnabled && !session.authenticated) {
      goToLogin();
      return false;
    }
  } else {
    session.role = 'viewer';
  }
  applyRole(session.role);
  renderHeader();
  return true;
}

/** POST auth/logout, then the sign-in page (also when the call fails: the cookie may be gone). */
export async function signOut() {
  const btn = byTestId('sign-out');
  btn.disabled = true;
  try {
    const res = await request('auth/logout', { method: 'POST', quiet401: true });
    if (!res.ok && res.status !== 401) toast('warning', `Sign out: HTTP ${res.status}`);
  } catch (err) {
    toast('error', `Sign out failed: ${errorText(err)}`);
    btn.disabled = false;
    return;
  }
  setCsrfToken(null);
  goToLogin('signed_out');
}

/**
 * A live stream the browser gave up on may have met a 401 (EventSource cannot tell): asks
 * `auth/session` (at most every 10 s) and goes to the sign-in page when the session is over.
 */
export async function checkSession() {
  if (!session.authEnabled || leaving) return;
  const now = performance.now();
  if (now - lastCheck < CHECK_GAP_MS) return;
  lastCheck = now;
  try {
    const res = await request('auth/session');
    if (res.ok && res.body && typeof res.body === 'object' && res.body.auth_enabled === true && res.body.authenticated !== true) {
      goToLogin('session_expired');
    }
  } catch { /* server unreachable: the connection banner already says so */ }
}
