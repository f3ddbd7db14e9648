/**
 * The sign-in page at `/login` (docs/UI.md, "Signing in"; docs/AUTH.md, "Sessions",
 * "Single sign-on"): posts `{username, password}` as JSON to the relative
 * `dsx-connect/api/v1/auth/login` and, on success, goes to `./` (the UI, which then reads its CSRF
 * token from `auth/session`). Says clearly what went wrong: invalid credentials, too many attempts
 * (with the wait), server unreachable. Offers single sign-on when the server lists `oidc`, and
 * explains the `?error=` codes the server and the UI send here. With authentication off, or already
 * signed in, it goes straight to the UI.
 */
import { request, reasonOf, errorText } from './api.js';
import { byTestId, setText, setBusy, show } from './dom.js';

/** `?error=` codes → [kind, text]; unknown codes get a generic text (never echoed). */
const CODES = {
  no_role_mapped: ['error', 'Your account has no role in dsx-connect. Ask an administrator to map one of your groups to a role.'],
  oidc_failed: ['error', 'Single sign-on failed. Try again, or sign in with a password.'],
  oidc_disabled: ['error', 'Single sign-on is not configured.'],
  session_expired: ['info', 'Your session has ended. Please sign in again.'],
  signed_out: ['info', 'You have signed out.'],
};

const msg = byTestId('login-message');

function say(kind, text) {
  setText(msg, text);
  msg.className = kind === 'error' ? 'login-message is-error' : 'login-message is-info';
  msg.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  show(msg, !!text);
}

/** `Retry-After` seconds as words: `30 seconds`, `5 minutes`. */
function waitText(secs) {
  if (!Number.isFinite(secs) || secs <= 0) return 'a while';
  if (secs < 90) return `${Math.ceil(secs)} second${Math.ceil(secs) === 1 ? '' : 's'}`;
  const min = Math.ceil(secs / 60);
  return `${min} minute${min === 1 ? '' : 's'}`;
}

const enterUi = () => window.location.replace(new URL('./', document.baseURI).href);

async function signIn(form) {
  const btn = byTestId('login-submit');
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    say('error', 'Enter your username and password.');
    (username ? form.elements.password : form.elements.username).focus();
    return;
  }
  setBusy(btn, true, 'Signing in…');
  let res;
  try {
    res = await request('auth/login', { method: 'POST', json: { username, password }, quiet401: true });
  } catch (err) {
    setBusy(btn, false);
    say('error', errorText(err) === 'request timed out' ? 'The server did not answer in time. Try again.' : 'Cannot reach the server. Check the address and your connection, then try again.');
    return;
  }
  if (res.ok) {
    form.elements.password.value = '';
    enterUi();
    return;
  }
  setBusy(btn, false);
  const detail = res.body && typeof res.body === 'object' ? res.body.detail : null;
  if (res.status === 401) {
    say('error', 'Invalid username or password.');
    form.elements.password.value = '';
    form.elements.password.focus();
  } else if (res.status === 429) {
    const after = Number(res.headers.get('Retry-After'));
    say('error', `Too many failed attempts. Try again in ${waitText(after)}.`);
  } else if (res.status === 404 && detail === 'auth_disabled') {
    enterUi();
  } else {
    say('error', `Sign-in failed: ${reasonOf(res)}`);
  }
}

async function start() {
  const code = new URLSearchParams(window.location.search).get('error');
  if (code) {
    const [kind, text] = CODES[code] || ['error', 'Sign-in failed. Please try again.'];
    say(kind, text);
  }
  const form = byTestId('login-form');
  form.addEventListener('submit', (e) => { e.preventDefault(); signIn(form); });
  form.elements.username.focus();
  try {
    const res = await request('auth/session');
    const b = res.ok && res.body && typeof res.body === 'object' ? res.body : null;
    if (b && (b.auth_enabled === false || b.authenticated === true)) {
      enterUi();
      return;
    }
    show(byTestId('login-sso'), !!b && Array.isArray(b.methods) && b.methods.includes('oidc'));
  } catch { /* unreachable now: the form says so when used */ }
}

start();
