// Loopback OpenID Connect provider for dsx-connect integration and browser tests.
//
// A thin wrapper around panva's `oidc-provider` (the version pinned in package.json) with fixed
// test accounts, a minimal login page that also grants consent, and configuration from the
// environment (see README.md). Prints `OIDC_READY <issuer>` on stdout once it accepts requests
// and runs until SIGTERM/SIGINT. Everything else it logs goes to stderr.
//
// NOT for production: in-memory storage, fixed passwords, plain http.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';

// oidc-provider writes its notices with console.info (stdout). Keep stdout for the READY line only.
console.info = (...args) => console.error(...args);

const { default: Provider } = await import('oidc-provider');

// ---------------------------------------------------------------------------------------------
// Test accounts. All share one password. `sub` is the username.
// ---------------------------------------------------------------------------------------------

const PASSWORD = 'correct horse battery';

const ACCOUNTS = {
  alice: { name: 'Alice Admin', groups: ['dsx-admins'] },
  oscar: { name: 'Oscar Operator', groups: ['dsx-operators'] },
  victor: { name: 'Victor Viewer', groups: ['dsx-viewers'] },
  nora: { name: 'Nora Nobody', groups: [] }, // no group -> maps to no dsx-connect role
};

function claimsOf(username) {
  const a = ACCOUNTS[username];
  return {
    sub: username,
    preferred_username: username,
    name: a.name,
    email: `${username}@example.test`,
    email_verified: true,
    groups: a.groups,
  };
}

function checkPassword(username, password) {
  const want = Buffer.from(PASSWORD);
  const got = Buffer.from(String(password ?? ''));
  const ok = got.length === want.length && timingSafeEqual(got, want);
  return ok && Object.hasOwn(ACCOUNTS, username);
}

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

function fail(msg) {
  console.error(`provider.mjs: ${msg}`);
  process.exit(2);
}

const env = process.env;
const port = Number(env.OIDC_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad OIDC_PORT: ${env.OIDC_PORT}`);

const idTokenTtl = Number(env.OIDC_ID_TOKEN_TTL ?? 3600);
if (!Number.isInteger(idTokenTtl) || idTokenTtl <= 0) fail(`bad OIDC_ID_TOKEN_TTL: ${env.OIDC_ID_TOKEN_TTL}`);

const idTokenAlg = env.OIDC_ID_TOKEN_ALG || 'RS256';

const DEFAULT_CLIENTS = [{
  client_id: 'dsx',
  client_secret: null,
  redirect_uris: ['http://127.0.0.1:8586/dsx-connect/api/v1/auth/oidc/callback'],
}];

let rawClients;
try {
  rawClients = env.OIDC_CLIENTS ? JSON.parse(env.OIDC_CLIENTS) : DEFAULT_CLIENTS;
} catch (e) {
  fail(`OIDC_CLIENTS is not valid JSON: ${e.message}`);
}
if (!Array.isArray(rawClients) || rawClients.length === 0) fail('OIDC_CLIENTS must be a non-empty JSON array');

// client_secret null/absent -> public client (auth method "none"); otherwise client_secret_basic.
// Any other client metadata given in OIDC_CLIENTS is passed through unchanged.
const clients = rawClients.map((c) => {
  if (!c || typeof c.client_id !== 'string') fail('every OIDC_CLIENTS entry needs a string client_id');
  const { client_secret: secret, ...rest } = c;
  const isPublic = secret === null || secret === undefined;
  return {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...rest,
    ...(isPublic ? {} : { client_secret: secret }),
    token_endpoint_auth_method: rest.token_endpoint_auth_method ?? (isPublic ? 'none' : 'client_secret_basic'),
  };
});

// ---------------------------------------------------------------------------------------------
// Signing keys, generated at start. An RS256 key is always present; OIDC_ID_TOKEN_ALG adds a
// key for that algorithm and makes it the default ID token algorithm for all clients.
// ---------------------------------------------------------------------------------------------

function signingJwk(alg) {
  let pair;
  if (/^(RS|PS)(256|384|512)$/.test(alg)) pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (alg === 'ES256') pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  else if (alg === 'ES384') pair = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  else if (alg === 'ES512') pair = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  else if (alg === 'EdDSA') pair = generateKeyPairSync('ed25519');
  else fail(`unsupported OIDC_ID_TOKEN_ALG: ${alg}`);
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}` };
}

const algs = [...new Set(['RS256', idTokenAlg])];
const jwks = { keys: algs.map(signingJwk) };

// ---------------------------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------------------------

// Listen first (port 0 = any free port) so the issuer can carry the real port.
let handle = (req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => handle(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const cookie = { httpOnly: true, sameSite: 'lax', signed: true }; // no `secure`: plain http

const provider = new Provider(issuer, {
  clients,
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: idTokenAlg,
  },
  responseTypes: ['code'],
  pkce: { methods: ['S256'], required: () => true },
  jwks,
  enabledJWA: { idTokenSigningAlgValues: algs },
  findAccount: async (ctx, sub) => (Object.hasOwn(ACCOUNTS, sub)
    ? { accountId: sub, claims: async () => claimsOf(sub) }
    : undefined),
  // `groups` is released with the standard `profile` scope (and with its own `groups` scope).
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // Put scope-requested claims into the ID token itself, not only at the userinfo endpoint.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // Cookies are host-scoped, not port-scoped: use names that cannot clash with dsx-connect's.
  // sameSite lax and no `secure` flag so browsers keep them over plain http on 127.0.0.1.
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
    names: { session: 'oidc_session', interaction: 'oidc_interaction', resume: 'oidc_interaction_resume' },
    long: cookie,
    short: cookie,
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: idTokenTtl,
    Interaction: 3600,
    Session: 24 * 3600,
    Grant: 24 * 3600,
    RefreshToken: 24 * 3600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>Error</h1><pre id="error">${esc(JSON.stringify(out, null, 2))}</pre>`);
  },
});

provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));

// ---------------------------------------------------------------------------------------------
// Interactions: GET /interaction/<uid> shows the login form (or auto-grants a consent prompt);
// POST /interaction/<uid> checks the credentials and finishes login + consent in one step.
// ---------------------------------------------------------------------------------------------

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
    + `<body>${body}</body></html>`;
}

function loginPage(details, { username = '', error = '' } = {}) {
  return page('Sign in - test OIDC provider', `
<h1>Sign in</h1>
<p>Client: <code>${esc(details.params.client_id)}</code></p>
${error ? `<p id="error" role="alert" style="color:#b00">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(details.uid)}" autocomplete="off">
  <label for="username">Username</label>
  <input id="username" name="username" type="text" value="${esc(username)}" autofocus required>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <button id="login" type="submit">Sign in</button>
</form>`);
}

function send(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  res.end(html);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form body too large');
  }
  return new URLSearchParams(body);
}

// A Grant covering everything the authorization request asked for (scopes, claims parameter)
// plus whatever a consent prompt reports as missing.
async function grantAll(details, accountId) {
  const { params, prompt, grantId } = details;
  let grant = grantId ? await provider.Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== accountId) {
    grant = new provider.Grant({ accountId, clientId: params.client_id });
  }
  if (params.scope) grant.addOIDCScope(params.scope);
  if (params.claims) {
    const requested = JSON.parse(params.claims);
    grant.addOIDCClaims([...Object.keys(requested.id_token ?? {}), ...Object.keys(requested.userinfo ?? {})]);
  }
  const missing = prompt.details ?? {};
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function interaction(req, res, uid) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (e) {
    return send(res, 400, page('Error', `<h1>Error</h1><p id="error">${esc(e.message)}</p>`));
  }
  if (details.uid !== uid) {
    return send(res, 400, page('Error', '<h1>Error</h1><p id="error">interaction mismatch</p>'));
  }
  const { prompt } = details;

  if (req.method === 'GET' && prompt.name === 'login') return send(res, 200, loginPage(details));

  if (req.method === 'GET' && prompt.name === 'consent') {
    // Already logged in (session cookie) but the grant lacks something: grant it, no screen.
    const grantId = await grantAll(details, details.session.accountId);
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  if (req.method === 'POST') {
    const form = await readForm(req);
    const username = form.get('username') ?? '';
    if (!checkPassword(username, form.get('password'))) {
      return send(res, 401, loginPage(details, { username, error: 'Invalid username or password.' }));
    }
    const grantId = await grantAll(details, username);
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: username }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  res.writeHead(405, { Allow: 'GET, POST' }).end();
}

const providerCallback = provider.callback();
handle = (req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)\/?$/.exec(new URL(req.url, issuer).pathname);
  if (!m) return providerCallback(req, res);
  return interaction(req, res, m[1]).catch((e) => {
    console.error('interaction error:', e);
    if (!res.headersSent) send(res, 500, page('Error', `<h1>Error</h1><p id="error">${esc(e.message)}</p>`));
    else res.end();
  });
};

process.stdout.write(`OIDC_READY ${issuer}\n`);

function shutdown(signal) {
  console.error(`provider.mjs: ${signal}, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));
