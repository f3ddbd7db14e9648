// Self-test for provider.mjs, no browser: starts the provider as a child process, walks the
// authorization code flow headlessly (cookie jar + manual redirects) and checks the ID token.
//
//   node tests/oidc/selftest.mjs        exit 0 = all checks passed

import { spawn } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify, constants } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const PROVIDER = fileURLToPath(new URL('./provider.mjs', import.meta.url));
const PASSWORD = 'correct horse battery';
const REDIRECT_URI = 'http://127.0.0.1:8586/dsx-connect/api/v1/auth/oidc/callback';
const ID_TOKEN_TTL = 600;

const PUBLIC = { client_id: 'dsx-public', client_secret: null, redirect_uris: [REDIRECT_URI] };
const CONFIDENTIAL = { client_id: 'dsx-confidential', client_secret: 's3cret-for-tests', redirect_uris: [REDIRECT_URI] };

class CheckFailed extends Error {}
function check(cond, msg) {
  if (!cond) throw new CheckFailed(msg);
}
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const json = (v) => JSON.stringify(v);

// ---------------------------------------------------------------------------------------------
// Provider child process
// ---------------------------------------------------------------------------------------------

async function startProvider(extraEnv = {}) {
  const child = spawn(process.execPath, [PROVIDER], {
    env: {
      ...process.env,
      OIDC_PORT: '0',
      OIDC_CLIENTS: json([PUBLIC, CONFIDENTIAL]),
      OIDC_ID_TOKEN_TTL: String(ID_TOKEN_TTL),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let stdout = '';
  const issuer = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`provider not ready after 15s\n${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /^OIDC_READY (\S+)$/m.exec(stdout);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`provider exited (${code})\n${stderr}`)); });
  });
  return {
    issuer,
    stderr: () => stderr,
    stop: () => new Promise((resolve) => {
      child.removeAllListeners('exit');
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.kill('SIGTERM');
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Minimal cookie jar (one origin): name + path, honours deletion.
// ---------------------------------------------------------------------------------------------

class CookieJar {
  #cookies = new Map(); // "name;path" -> { name, value, path }

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const key = `${name};${path}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

async function request(jar, url, init = {}) {
  const headers = { ...init.headers };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(res);
  return res;
}

// ---------------------------------------------------------------------------------------------
// Headless authorization code flow with PKCE
// ---------------------------------------------------------------------------------------------

function authorizationRequest(meta, client) {
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  });
  return { url: url.href, verifier, state, nonce };
}

// Follows redirects until a page (non-3xx) or the client's redirect_uri is reached.
async function follow(jar, res, url) {
  for (let hops = 0; hops < 10; hops += 1) {
    if (res.status < 300 || res.status >= 400) return { res, url };
    const next = new URL(res.headers.get('location'), url).href;
    if (next.startsWith(REDIRECT_URI)) return { callback: new URL(next), status: res.status };
    url = next;
    res = await request(jar, url);
  }
  throw new CheckFailed('too many redirects');
}

// GET authorization URL -> redirect to /interaction/<uid> -> POST form -> redirects -> redirect_uri.
async function login(meta, client, username, password, jar = new CookieJar()) {
  const req = authorizationRequest(meta, client);

  const first = await request(jar, req.url);
  check([302, 303].includes(first.status), `authorization endpoint: expected a redirect, got ${first.status}`);
  const interactionUrl = new URL(first.headers.get('location'), req.url).href;
  check(/\/interaction\/[^/]+$/.test(new URL(interactionUrl).pathname), `unexpected interaction URL ${interactionUrl}`);

  const pageRes = await request(jar, interactionUrl);
  const html = await pageRes.text();
  check(pageRes.status === 200, `login page: status ${pageRes.status}: ${html}`);
  for (const id of ['username', 'password', 'login']) check(html.includes(`id="${id}"`), `login page lacks id="${id}"`);

  const post = await request(jar, interactionUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
  });
  if (post.status !== 303) return { refused: true, status: post.status, html: await post.text() };

  const end = await follow(jar, post, interactionUrl);
  check(end.callback, `flow did not reach redirect_uri (stopped at ${end.url} with ${end.res?.status})`);
  const p = end.callback.searchParams;
  check(!p.get('error'), `authorization error: ${p.get('error')}: ${p.get('error_description')}`);
  check(p.get('state') === req.state, 'state mismatch');
  check(p.get('iss') === meta.issuer, `iss parameter ${p.get('iss')} != ${meta.issuer}`);
  check(p.get('code'), 'no code in callback');
  return { ...req, code: p.get('code') };
}

async function exchange(meta, client, flow) {
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: flow.code,
    redirect_uri: REDIRECT_URI,
    code_verifier: flow.verifier,
  });
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client.client_secret == null) {
    body.set('client_id', client.client_id);
  } else {
    const id = encodeURIComponent(client.client_id);
    const secret = encodeURIComponent(client.client_secret);
    headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  }
  const res = await fetch(meta.token_endpoint, { method: 'POST', headers, body });
  const tokens = await res.json();
  check(res.status === 200, `token endpoint ${res.status}: ${json(tokens)}`);
  check(tokens.id_token && tokens.access_token, `token response lacks id_token/access_token: ${json(tokens)}`);
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// ID token checks
// ---------------------------------------------------------------------------------------------

function verifySignature(alg, jwk, signingInput, signature) {
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
  const opts = { key };
  if (alg.startsWith('ES')) opts.dsaEncoding = 'ieee-p1363';
  if (alg.startsWith('PS')) Object.assign(opts, { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 });
  return verify(hash, Buffer.from(signingInput), opts, signature);
}

function checkIdToken(idToken, { meta, jwks, client, nonce, alg }) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  check(header.alg === alg, `ID token alg ${header.alg} != ${alg}`);
  check(header.kid, 'ID token header has no kid');
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  check(jwk, `kid ${header.kid} not in JWKS`);
  check(verifySignature(alg, jwk, `${h}.${p}`, Buffer.from(s, 'base64url')), 'ID token signature does not verify');
  check(claims.iss === meta.issuer, `iss ${claims.iss} != ${meta.issuer}`);
  const aud = [].concat(claims.aud);
  check(aud.includes(client.client_id), `aud ${json(claims.aud)} lacks ${client.client_id}`);
  check(claims.nonce === nonce, 'nonce mismatch');
  check(claims.exp - claims.iat === ID_TOKEN_TTL, `exp - iat = ${claims.exp - claims.iat}, want ${ID_TOKEN_TTL}`);
  return claims;
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

async function discover(issuer) {
  const meta = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  check(meta.issuer === issuer, `discovery issuer ${meta.issuer} != ${issuer}`);
  const jwks = await (await fetch(meta.jwks_uri)).json();
  return { meta, jwks };
}

async function codeFlow(ctx, client, username, alg = 'RS256') {
  const flow = await login(ctx.meta, client, username, PASSWORD);
  check(!flow.refused, `login of ${username} refused (${flow.status})`);
  const tokens = await exchange(ctx.meta, client, flow);
  const claims = checkIdToken(tokens.id_token, { ...ctx, client, nonce: flow.nonce, alg });
  return { tokens, claims };
}

const results = [];
async function step(name, fn) {
  await fn();
  results.push(name);
  console.log(`ok - ${name}`);
}

async function main() {
  const provider = await startProvider();
  try {
    const ctx = await discover(provider.issuer);
    console.log(`provider ready at ${provider.issuer}`);

    for (const client of [PUBLIC, CONFIDENTIAL]) {
      const kind = client.client_secret == null ? 'public' : 'confidential';
      await step(`${kind} client (${client.client_id}): alice -> RS256 ID token, groups ["dsx-admins"]`, async () => {
        const { claims, tokens } = await codeFlow(ctx, client, 'alice');
        check(claims.sub === 'alice', `sub ${claims.sub}`);
        check(claims.preferred_username === 'alice', `preferred_username ${claims.preferred_username}`);
        check(json(claims.groups) === json(['dsx-admins']), `groups ${json(claims.groups)}`);
        check(claims.email === 'alice@example.test', `email ${claims.email}`);
        const me = await (await fetch(ctx.meta.userinfo_endpoint, {
          headers: { authorization: `Bearer ${tokens.access_token}` },
        })).json();
        check(me.sub === 'alice' && json(me.groups) === json(['dsx-admins']), `userinfo ${json(me)}`);
      });
    }

    await step('oscar / victor -> groups dsx-operators / dsx-viewers', async () => {
      for (const [user, group] of [['oscar', 'dsx-operators'], ['victor', 'dsx-viewers']]) {
        const { claims } = await codeFlow(ctx, PUBLIC, user);
        check(json(claims.groups) === json([group]), `${user} groups ${json(claims.groups)}`);
      }
    });

    await step('nora -> groups [] (no role)', async () => {
      const { claims } = await codeFlow(ctx, PUBLIC, 'nora');
      check(claims.preferred_username === 'nora', `preferred_username ${claims.preferred_username}`);
      check(claims.groups === undefined || json(claims.groups) === '[]', `groups ${json(claims.groups)}`);
    });

    await step('existing session: a second client gets a code without the form (consent auto-granted)', async () => {
      const jar = new CookieJar();
      await login(ctx.meta, PUBLIC, 'victor', PASSWORD, jar);
      const req = authorizationRequest(ctx.meta, CONFIDENTIAL);
      const end = await follow(jar, await request(jar, req.url), req.url);
      check(end.callback?.searchParams.get('code'), `no code without login (stopped at ${end.url})`);
      check(end.callback.searchParams.get('state') === req.state, 'state mismatch');
      const tokens = await exchange(ctx.meta, CONFIDENTIAL, { ...req, code: end.callback.searchParams.get('code') });
      const claims = checkIdToken(tokens.id_token, { ...ctx, client: CONFIDENTIAL, nonce: req.nonce, alg: 'RS256' });
      check(claims.preferred_username === 'victor', `preferred_username ${claims.preferred_username}`);
    });

    await step('wrong password is refused (401, form again with error)', async () => {
      const r = await login(ctx.meta, PUBLIC, 'alice', 'wrong password');
      check(r.refused && r.status === 401, `wrong password not refused: ${json(r)}`);
      check(r.html.includes('Invalid username or password') && r.html.includes('id="username"'), 'no error/form on refusal');
    });

    await step('unknown user is refused', async () => {
      const r = await login(ctx.meta, PUBLIC, 'mallory', PASSWORD);
      check(r.refused && r.status === 401, `unknown user not refused: ${json(r)}`);
    });

    await step('authorization request without PKCE is rejected', async () => {
      const url = new URL(authorizationRequest(ctx.meta, PUBLIC).url);
      url.searchParams.delete('code_challenge');
      url.searchParams.delete('code_challenge_method');
      const res = await fetch(url, { redirect: 'manual' });
      const loc = new URL(res.headers.get('location') ?? 'about:blank');
      check(loc.href.startsWith(REDIRECT_URI) && loc.searchParams.get('error') === 'invalid_request',
        `expected invalid_request at redirect_uri, got ${res.status} ${loc.href}`);
    });

    await step('confidential client with a wrong secret is rejected at the token endpoint', async () => {
      const flow = await login(ctx.meta, CONFIDENTIAL, 'alice', PASSWORD);
      const bad = { ...CONFIDENTIAL, client_secret: 'not-the-secret' };
      const err = await exchange(ctx.meta, bad, flow).then(() => null, (e) => e);
      check(err && /invalid_client/.test(err.message), `wrong secret accepted or odd error: ${err?.message}`);
    });
  } catch (e) {
    console.error(`provider stderr:\n${provider.stderr()}`);
    throw e;
  } finally {
    const { code } = await provider.stop();
    check(code === 0, `provider did not exit cleanly on SIGTERM (code ${code})`);
  }

  // A second run with another ID token algorithm.
  const es = await startProvider({ OIDC_ID_TOKEN_ALG: 'ES256' });
  try {
    await step('OIDC_ID_TOKEN_ALG=ES256 -> ES256 ID token verifies against JWKS', async () => {
      const ctx = await discover(es.issuer);
      const { claims } = await codeFlow(ctx, PUBLIC, 'alice', 'ES256');
      check(json(claims.groups) === json(['dsx-admins']), `groups ${json(claims.groups)}`);
    });
  } finally {
    await es.stop();
  }

  console.log(`selftest passed (${results.length} checks)`);
}

main().catch((e) => {
  console.error(`selftest FAILED: ${e instanceof CheckFailed ? e.message : e.stack}`);
  process.exit(1);
});
