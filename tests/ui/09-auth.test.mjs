/**
 * Sign-in, roles and administration in the UI (docs/AUTH.md, "Routes by role", "Sessions",
 * "Audit"; docs/UI.md, "Administration") against a core with authentication on and a bootstrap
 * admin:
 *   AUTH-01 `/` leads to the login page (same security headers as `/`); a wrong password is
 *           refused with a clear message; the admin signs in and the header shows user and role;
 *   AUTH-02 the admin adds a viewer and an operator (Users), sees `409 last_admin` explained, and
 *           creates an API token that is shown once (Tokens) and then revokes it;
 *   AUTH-03 the viewer sees no operator/admin control and signs out; the operator pauses and
 *           resumes through the UI, sees no admin control, gets `Needs role …` for a 403, and
 *           an ended session leads back to the login page;
 *   AUTH-04 the Audit panel lists the user.create records, filters, and pages with Load more;
 *   AUTH-05 CSRF in real Chromium: cross-origin (same-site) and cross-site pages try a
 *           credentialed text/plain fetch, an urlencoded form POST and sendBeacon against
 *           requeue and pause while the admin is signed in; the server refuses every one
 *           (audit: 401/403, no dlq.requeue success), while the UI's own pause and requeue work;
 *   AUTH-06 Connector security lists an enrolled connector; Revoke marks it `Revoked` there and
 *           on its card (toast from the `unregistered` frame with `reason:"revoked"`).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startStub, startCore, makeTreeA, makeFlatTree, stopAll, WORK, waitFor, freePort, BIN_DIR } from './lib/servers.mjs';
import { scenario, tid, card, shot, closeBrowser } from './lib/browser.mjs';
import { waitCardState } from './lib/cards.mjs';
import { ADMIN, AUTH_ENV, apiSession, waitConnectors, uiLogin, auditRecords, startAttacker } from './lib/auth.mjs';
import { spawn } from 'node:child_process';

const VIEWER = { username: 'vera', password: 'viewer-password-1' };
const OPERATOR = { username: 'otto', password: 'operator-password-1' };
const ENROLL = 'enroll-secret-for-ui-tests-0123456789';
const EXPECTED_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

let stub;
let core;
let admin;
let uuid;

before(async () => {
  stub = await startStub({ delayMs: 150 });
  core = await startCore({
    trees: [makeTreeA(path.join(WORK, 'auth-tree-a'))], stub,
    env: { ...AUTH_ENV, DSXCONNECT_AUTH__ENROLLMENT_TOKEN: ENROLL },
  });
  admin = await apiSession(core, ADMIN);
  uuid = (await waitConnectors(admin, 1))[0].uuid;
});
after(async () => { await closeBrowser(); await stopAll(); });

const visibleTid = (page, id) => page.locator(tid(id)).first().isVisible();
const toastWith = (page, text) => waitFor(() => page.locator(tid('toast'), { hasText: text }).count(), { what: `toast "${text}"`, timeout: 15000 });

async function openAdmin(page, tab) {
  await page.click(tid('admin-button'));
  await page.locator(tid('admin-dialog')).waitFor();
  await page.click(tid(`admin-tab-${tab}`));
}

/** Starts a full scan over the API as the admin; returns the job id. */
async function startJob() {
  const r = await admin.call(`connectors/full_scan/${uuid}`, { method: 'POST' });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.headers.get('x-job-id');
}

async function endJob(jobId) {
  await admin.call(`scan/jobs/${jobId}/cancel`, { method: 'POST' });
  await waitFor(async () => ['cancelled', 'completed'].includes((await admin.call(`scan/jobs/${jobId}`)).body.status), { what: 'job ended', timeout: 30000 });
}

test('AUTH-01 login page, wrong password, admin signs in', { timeout: 90000 }, async () => {
  for (const method of ['GET', 'HEAD']) {
    const r = await fetch(`${core.base}login`, { method });
    assert.equal(r.status, 200, `${method} /login`);
    assert.equal(r.headers.get('content-security-policy'), EXPECTED_CSP);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  }
  await scenario('AUTH-01', core, {}, async (page) => {
    await page.goto(core.base);
    await page.waitForURL(`${core.base}login`);
    assert.equal(await visibleTid(page, 'login-sso'), false, 'no single sign-on without OIDC');
    await page.locator(tid('login-username')).fill(ADMIN.username);
    await page.locator(tid('login-password')).fill('not-the-password');
    await page.locator(tid('login-submit')).click();
    await waitFor(async () => (await page.locator(tid('login-message')).textContent()) === 'Invalid username or password.', { what: 'invalid credentials message' });
    assert.equal(page.url(), `${core.base}login`);
    await shot(page, 'auth-01-login-error-1280.png', { docs: 'login-1280.png' });
    await uiLogin(page, ADMIN);
    assert.equal(await page.locator(tid('user-role')).textContent(), 'admin');
    assert.equal(await visibleTid(page, 'auth-off-badge'), false);
    assert.ok(await visibleTid(page, 'sign-out'));
    assert.ok(await visibleTid(page, 'admin-button'));
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    assert.ok(await card(page, uuid).locator(tid('btn-full-scan')).isVisible(), 'admin sees Full Scan');
    // Signed in, the login page goes straight back to the UI.
    await page.goto(`${core.base}login`);
    await page.waitForURL(core.base);
    // Without the session: ?error= codes are explained, never echoed. (Leave the UI first: its
    // own 401 handling would otherwise race this navigation to the login page.)
    await page.goto('about:blank');
    await page.context().clearCookies();
    await page.goto(`${core.base}login?error=no_role_mapped`);
    await waitFor(async () => /no role in dsx-connect/.test(await page.locator(tid('login-message')).textContent()), { what: 'no_role_mapped message' });
    await page.goto(`${core.base}login?error=%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D1%3E`);
    await waitFor(async () => (await page.locator(tid('login-message')).textContent()) === 'Sign-in failed. Please try again.', { what: 'generic message' });
  });
});

test('AUTH-02 users and API tokens', { timeout: 120000 }, async () => {
  await scenario('AUTH-02', core, {}, async (page) => {
    await uiLogin(page, ADMIN);
    await openAdmin(page, 'users');
    const users = page.locator(tid('admin-users'));
    await waitFor(() => users.locator(`${tid('user-row')}[data-username="admin"]`).count(), { what: 'admin listed' });
    for (const [u, role] of [[VIEWER, 'viewer'], [OPERATOR, 'operator']]) {
      await page.locator(tid('user-add-username')).fill(u.username);
      await page.locator(tid('user-add-password')).fill(u.password);
      await page.locator(tid('user-add-role')).selectOption(role);
      await page.click(tid('user-add-submit'));
      await toastWith(page, `User ${u.username} added (${role})`);
      await waitFor(() => users.locator(`${tid('user-row')}[data-username="${u.username}"][data-role="${role}"]`).count(), { what: `${u.username} listed` });
    }
    // Toasts stay readable above the modal dialog: the stack is a top-layer popover shown after it.
    assert.ok(await page.locator('.toasts').evaluate((t) => t.matches(':popover-open')), 'toasts above the admin dialog');
    // Reset password, disable/enable, and remove (each confirmed).
    const vera = users.locator(`${tid('user-row')}[data-username="${VIEWER.username}"]`);
    await vera.locator(tid('user-password')).click();
    await page.locator(tid('password-input')).fill(VIEWER.password);
    await page.click(tid('password-ok'));
    await toastWith(page, `Password of ${VIEWER.username} changed`);
    await vera.locator(tid('user-toggle')).click();
    await page.locator(tid('confirm-ok')).click();
    await waitFor(() => users.locator(`${tid('user-row')}[data-username="${VIEWER.username}"][data-disabled="true"]`).count(), { what: 'vera disabled' });
    await users.locator(`${tid('user-row')}[data-username="${VIEWER.username}"] ${tid('user-toggle')}`).click();
    await page.locator(tid('confirm-ok')).click();
    await waitFor(() => users.locator(`${tid('user-row')}[data-username="${VIEWER.username}"][data-disabled="false"]`).count(), { what: 'vera enabled' });
    await page.locator(tid('user-add-username')).fill('temp.user');
    await page.locator(tid('user-add-password')).fill('temporary-password-1');
    await page.click(tid('user-add-submit'));
    const temp = users.locator(`${tid('user-row')}[data-username="temp.user"]`);
    await temp.waitFor();
    await temp.locator(tid('user-remove')).click();
    assert.match(await page.locator(tid('confirm-dialog')).textContent(), /Remove temp\.user\?/);
    await page.locator(tid('confirm-ok')).click();
    await waitFor(async () => (await temp.count()) === 0, { what: 'temp.user removed' });
    // A duplicate is refused with the server's reason.
    await page.locator(tid('user-add-username')).fill(VIEWER.username);
    await page.locator(tid('user-add-password')).fill(VIEWER.password);
    await page.click(tid('user-add-submit'));
    await toastWith(page, 'a user with this name exists');
    // The last admin cannot be demoted (409 last_admin), said plainly; the select goes back.
    const adminRow = users.locator(`${tid('user-row')}[data-username="admin"]`);
    await adminRow.locator(tid('user-role-select')).selectOption('viewer');
    await page.locator(tid('confirm-ok')).click();
    await toastWith(page, 'last admin');
    await waitFor(async () => (await users.locator(`${tid('user-row')}[data-username="admin"] ${tid('user-role-select')}`).inputValue()) === 'admin', { what: 'role select restored' });
    assert.equal((await admin.call('admin/users')).body.find((u) => u.username === 'admin').role, 'admin');
    await shot(page, 'auth-02-users-1280.png', { docs: 'admin-users-1280.png' });

    // API token: shown once, usable, then revoked.
    await page.click(tid('admin-tab-tokens'));
    await page.locator(tid('token-add-name')).fill('ci-bot');
    await page.locator(tid('token-add-role')).selectOption('operator');
    await page.locator(tid('token-add-days')).fill('30');
    await page.click(tid('token-add-submit'));
    await page.locator(tid('token-once')).waitFor();
    const token = await page.locator(tid('token-value')).inputValue();
    assert.match(token, /^dsx_[A-Za-z0-9_-]{43}$/);
    assert.match(await page.locator(tid('token-once')).textContent(), /shown only once/);
    const row = page.locator(tid('token-row'), { hasText: 'ci-bot' });
    await row.waitFor();
    assert.ok((await row.textContent()).includes(token.slice(0, 8)), 'prefix listed');
    assert.equal((await fetch(`${core.api}connectors/list`, { headers: { authorization: `Bearer ${token}` } })).status, 200, 'token works');
    await shot(page, 'auth-02-token-once-1280.png');
    await page.click(tid('token-done'));
    assert.equal(await visibleTid(page, 'token-once'), false);
    const leaked = await page.evaluate((t) => document.body.innerText.includes(t) || [...document.querySelectorAll('input')].some((i) => i.value.includes(t)), token);
    assert.equal(leaked, false, 'the token is gone from the page');
    await row.locator(tid('token-revoke')).click();
    await page.locator(tid('confirm-ok')).click();
    await toastWith(page, 'Token ci-bot revoked');
    await waitFor(async () => (await page.locator(tid('token-row'), { hasText: 'ci-bot' }).count()) === 0, { what: 'token row gone' });
    await waitFor(async () => (await fetch(`${core.api}connectors/list`, { headers: { authorization: `Bearer ${token}` } })).status === 401, { what: 'token refused', timeout: 10000 });
    await page.keyboard.press('Escape');
  });
});

test('AUTH-03 viewer and operator see only their controls', { timeout: 150000 }, async () => {
  const jobId = await startJob();
  try {
    await scenario('AUTH-03-viewer', core, {}, async (page) => {
      await uiLogin(page, VIEWER);
      assert.equal(await page.locator(tid('user-role')).textContent(), 'viewer');
      await waitCardState(page, uuid, 'running', 15000);
      const c = card(page, uuid);
      for (const id of ['btn-full-scan', 'btn-pause', 'btn-resume', 'btn-cancel']) assert.equal(await c.locator(tid(id)).isVisible(), false, `viewer: ${id} hidden`);
      const jobRow = page.locator(`${tid('job-row')}[data-job-id="${jobId}"]`);
      await jobRow.waitFor();
      assert.equal(await jobRow.getByRole('button', { name: 'Pause' }).isVisible(), false, 'viewer: row Pause hidden');
      assert.equal(await jobRow.getByRole('button', { name: 'Cancel' }).isVisible(), false, 'viewer: row Cancel hidden');
      assert.ok(await jobRow.locator(tid('btn-job-results')).isVisible(), 'viewer: Results shown');
      for (const id of ['settings-button', 'admin-button']) assert.equal(await visibleTid(page, id), false, `viewer: ${id} hidden`);
      await page.click(tid('dlq-button'));
      await page.locator(tid('dlq-dialog')).waitFor();
      for (const id of ['dlq-requeue-all', 'dlq-clear-all']) assert.equal(await visibleTid(page, id), false, `viewer: ${id} hidden`);
      await page.keyboard.press('Escape');
      await c.locator(tid('btn-connector-config')).click();
      await page.locator(`${tid('config-tree')} li`).first().waitFor();
      for (const id of ['btn-preview', 'btn-sample-scan', 'btn-unregister']) assert.equal(await visibleTid(page, id), false, `viewer: ${id} hidden`);
      await page.keyboard.press('Escape');
      await shot(page, 'auth-03-viewer-1280.png', { docs: 'viewer-1280.png' });
      await page.click(tid('sign-out'));
      await page.waitForURL(/\/login\?error=signed_out$/);
      assert.equal(await page.locator(tid('login-message')).textContent(), 'You have signed out.');
      await page.goto(core.base);
      await page.waitForURL(`${core.base}login`);
    });

    await scenario('AUTH-03-operator', core, {}, async (page) => {
      await uiLogin(page, OPERATOR);
      assert.equal(await page.locator(tid('user-role')).textContent(), 'operator');
      await waitCardState(page, uuid, 'running', 15000);
      const c = card(page, uuid);
      assert.ok(await c.locator(tid('btn-pause')).isVisible(), 'operator: Pause shown');
      assert.ok(await c.locator(tid('btn-cancel')).isVisible(), 'operator: Cancel shown');
      assert.equal(await visibleTid(page, 'admin-button'), false, 'operator: no admin panels');
      assert.ok(await visibleTid(page, 'settings-button'), 'operator: settings shown');
      // The UI's own state-changing calls carry the session's CSRF token.
      await c.locator(tid('btn-pause')).click();
      await waitCardState(page, uuid, 'paused', 5000);
      await c.locator(tid('btn-resume')).click();
      await waitCardState(page, uuid, 'running', 5000);
      const sent = page.rec.requests.filter((r) => r.method === 'POST' && /scan\/jobs\/[^/]+\/(pause|resume)$/.test(r.url));
      assert.equal(sent.length, 2);
      await page.click(tid('dlq-button'));
      await page.locator(tid('dlq-dialog')).waitFor();
      assert.ok(await visibleTid(page, 'dlq-requeue-all'), 'operator: Requeue all shown');
      assert.equal(await visibleTid(page, 'dlq-clear-all'), false, 'operator: Clear all hidden');
      await page.keyboard.press('Escape');
      await c.locator(tid('btn-connector-config')).click();
      await page.locator(`${tid('config-tree')} li`).first().waitFor();
      assert.ok(await visibleTid(page, 'btn-preview'), 'operator: Preview shown');
      assert.equal(await visibleTid(page, 'btn-unregister'), false, 'operator: Unregister hidden');
      await page.keyboard.press('Escape');
      // A 403 insufficient_role names the role the route needs.
      await page.route('**/dsx-connect/api/v1/scan/jobs/*/pause', (r) => r.fulfill({ status: 403, contentType: 'application/json', body: '{"detail":"insufficient_role"}' }));
      await c.locator(tid('btn-pause')).click();
      await toastWith(page, 'Needs role operator');
      await page.unroute('**/dsx-connect/api/v1/scan/jobs/*/pause');
      await shot(page, 'auth-03-operator-1280.png');
      // An ended session (the admin disables the account) leads to the login page at the next call.
      assert.equal((await admin.call(`admin/users/${OPERATOR.username}`, { method: 'PUT', json: { disabled: true } })).status, 200);
      await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
      await page.waitForURL(/\/login\?error=session_expired$/, { timeout: 15000 });
      assert.match(await page.locator(tid('login-message')).textContent(), /session has ended/);
      assert.equal((await admin.call(`admin/users/${OPERATOR.username}`, { method: 'PUT', json: { disabled: false } })).status, 200);
    });
  } finally {
    await endJob(jobId);
  }
});

test('AUTH-04 audit panel', { timeout: 120000 }, async () => {
  // Enough records for a second page (100 per page): 105 harmless account updates.
  for (let i = 0; i < 105; i += 1) await admin.call(`admin/users/${VIEWER.username}`, { method: 'PUT', json: { disabled: false } });
  await scenario('AUTH-04', core, {}, async (page) => {
    await uiLogin(page, ADMIN);
    await openAdmin(page, 'audit');
    const panel = page.locator(tid('admin-audit'));
    await waitFor(() => panel.locator(tid('audit-row')).count(), { what: 'audit rows' });
    await page.locator(tid('audit-action')).fill('user.create');
    await page.click(tid('audit-apply'));
    // Three accounts created in AUTH-02, and the refused duplicate (409).
    await waitFor(async () => {
      const rows = await panel.locator(tid('audit-row')).evaluateAll((rs) => rs.map((r) => [r.dataset.action, r.dataset.result]));
      return rows.length === 4 && rows.every(([a]) => a === 'user.create') && rows.filter(([, r]) => r === 'success').length === 3;
    }, { what: 'four user.create rows, three of them successes' });
    const text = await panel.locator(tid('audit-table')).textContent();
    for (const u of [VIEWER.username, OPERATOR.username]) assert.ok(text.includes(`user:${u}`), `user.create of ${u}`);
    assert.ok(text.includes('success') && text.includes('201'), 'result and status shown');
    await shot(page, 'auth-04-audit-1280.png', { docs: 'audit-1280.png' });
    // A prefix filter, and refusals only.
    await page.locator(tid('audit-action')).fill('auth.');
    await page.locator(tid('audit-result')).selectOption('denied');
    await page.click(tid('audit-apply'));
    await waitFor(async () => {
      const rows = await panel.locator(tid('audit-row')).evaluateAll((rs) => rs.map((r) => [r.dataset.action, r.dataset.result]));
      return rows.length >= 1 && rows.every(([a, r]) => a.startsWith('auth.') && r === 'denied');
    }, { what: 'denied auth.* rows (the wrong password)' });
    // Paging: Load more appends the next page, newest first, no id twice.
    await page.locator(tid('audit-action')).fill('');
    await page.locator(tid('audit-result')).selectOption('');
    await page.click(tid('audit-apply'));
    await waitFor(async () => (await panel.locator(tid('audit-row')).count()) === 100, { what: 'first page of 100' });
    await page.click(tid('audit-load-more'));
    await waitFor(async () => (await panel.locator(tid('audit-row')).count()) > 100, { what: 'second page appended' });
    const ids = await panel.locator(tid('audit-row')).evaluateAll((rs) => rs.map((r) => Number(r.dataset.auditId)));
    assert.equal(new Set(ids).size, ids.length, 'no record twice');
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    const reqs = page.rec.requests.filter((r) => r.url.includes('admin/audit') && r.url.includes('before_id='));
    assert.equal(reqs.length, 1, 'Load more pages with before_id');
    await page.keyboard.press('Escape');
  });
});

test('AUTH-05 CSRF: other origins cannot act with the session, the UI can', { timeout: 150000 }, async () => {
  const attacker = await startAttacker();
  const jobId = await startJob();
  const since = (await auditRecords(admin, {}, 1))[0]?.id ?? 0;
  try {
    await scenario('AUTH-05', core, {}, async (page) => {
      await uiLogin(page, ADMIN);
      await waitCardState(page, uuid, 'running', 15000);
      const targets = [`${core.api}admin/dead-letter/requeue`, `${core.api}scan/jobs/${jobId}/pause`];
      const seen = [];
      // Same site, other origin (another port: the SameSite=Strict cookie is sent), then another site.
      for (const host of ['127.0.0.1', 'localhost']) {
        const evil = await page.context().newPage();
        evil.on('response', (r) => { if (r.url().startsWith(core.api)) seen.push([host, r.request().resourceType(), r.status(), r.url()]); });
        await evil.goto(`${attacker.origin(host)}/`);
        for (const url of targets) {
          await evil.evaluate(async (u) => {
            try { await fetch(u, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: '{"x":1}' }); } catch { /* opaque */ }
            navigator.sendBeacon(u, 'beacon');
          }, url);
          await evil.waitForTimeout(300);
          // An urlencoded HTML form POST (a top-level navigation).
          const nav = evil.waitForNavigation({ timeout: 10000 }).catch(() => null);
          await evil.evaluate((u) => {
            const f = document.createElement('form');
            f.method = 'POST';
            f.action = u;
            const i = document.createElement('input');
            i.name = 'queue_type';
            i.value = 'scan_request';
            f.append(i);
            document.body.append(f);
            f.submit();
          }, url);
          await nav;
          await evil.goto(`${attacker.origin(host)}/`);
        }
        await evil.close();
      }
      const statuses = seen.map((s) => s[2]);
      // 2 origins × 2 targets × (fetch, beacon, form): the browser sent all 12, the core refused all.
      assert.equal(seen.length, 12, `the browser sent the attempts: ${JSON.stringify(seen)}`);
      for (const host of ['127.0.0.1', 'localhost']) {
        assert.deepEqual([...new Set(seen.filter((x) => x[0] === host).map((x) => x[1]))].sort(), ['document', 'fetch', 'ping'], `${host}: fetch, form and beacon`);
      }
      assert.ok(statuses.every((s) => s === 401 || s === 403), `every attempt refused: ${JSON.stringify(seen)}`);
      assert.equal((await admin.call(`scan/jobs/${jobId}`)).body.status, 'running', 'the job was not paused');

      // The audit trail: every attempt denied with 401/403 (refusals coalesce per second), none succeeded.
      let recs = [];
      await waitFor(async () => {
        recs = (await auditRecords(admin)).filter((r) => r.id > since && ['dlq.requeue', 'job.pause'].includes(r.action));
        const total = recs.reduce((a, r) => a + r.count, 0);
        return total >= 12 ? recs : null;
      }, { what: '12 refused attempts in the audit trail', timeout: 15000 });
      assert.equal(recs.reduce((a, r) => a + r.count, 0), 12, 'one refusal per attempt');
      for (const r of recs) {
        assert.equal(r.result, 'denied', JSON.stringify(r));
        assert.ok([401, 403].includes(r.http_status), JSON.stringify(r));
      }
      assert.ok(recs.some((r) => r.actor.type === 'user' && r.actor.name === 'admin'), 'same-site attempts carried the session and were refused');
      assert.ok(recs.some((r) => r.actor.type === 'anonymous'), 'cross-site attempts came without the session');

      // The UI's own requests work: pause on the card, requeue in the DLQ dialog.
      const c = card(page, uuid);
      await c.locator(tid('btn-pause')).click();
      await waitCardState(page, uuid, 'paused', 5000);
      await page.click(tid('dlq-button'));
      await page.locator(tid('dlq-dialog')).waitFor();
      await page.click(tid('dlq-requeue-all'));
      await toastWith(page, 'Requeued');
      await page.keyboard.press('Escape');
      const mine = (await auditRecords(admin)).filter((r) => r.id > since && r.result === 'success');
      assert.ok(mine.some((r) => r.action === 'job.pause' && r.actor.name === 'admin'), 'UI pause recorded as success');
      assert.ok(mine.some((r) => r.action === 'dlq.requeue' && r.actor.name === 'admin'), 'UI requeue recorded as success');
      assert.equal(mine.filter((r) => r.action === 'dlq.requeue').length, 1, 'exactly one dlq.requeue success (the UI\'s)');
    });
  } finally {
    await attacker.close();
    await endJob(jobId);
  }
});

test('AUTH-06 connector security: revoke an enrolled connector', { timeout: 120000 }, async () => {
  const tree = makeFlatTree(path.join(WORK, 'auth-tree-b'), 5);
  const port = await freePort();
  const log = fs.openSync(path.join(WORK, 'logs', `auth-connector-${Date.now()}.log`), 'a');
  const child = spawn(path.join(BIN_DIR, 'dsx-connect'), ['connector', 'filesystem'], {
    env: {
      ...process.env,
      DSXCONNECTOR_ASSET: tree, DSXCONNECTOR_NAME: 'enrolled-connector',
      DSXCONNECTOR_DSX_CONNECT_URL: `http://127.0.0.1:${core.port}`,
      DSXCONNECTOR_CONNECTOR_URL: `http://127.0.0.1:${port}`, DSXCONNECTOR_LISTEN_ADDR: `127.0.0.1:${port}`,
      DSXCONNECTOR_DATA_DIR: fs.mkdtempSync(path.join(WORK, 'conn-')), DSXCONNECT_ENROLLMENT_TOKEN: ENROLL,
    },
    stdio: ['ignore', log, log],
  });
  try {
    const listed = await waitFor(async () => (await admin.call('connectors/list')).body.find((x) => x.name === 'enrolled-connector'), { what: 'enrolled connector registered', timeout: 30000 });
    await scenario('AUTH-06', core, {}, async (page) => {
      await uiLogin(page, ADMIN);
      await card(page, listed.uuid).waitFor();
      await openAdmin(page, 'connectors');
      const row = page.locator(`${tid('conn-security-row')}[data-connector-uuid="${listed.uuid}"]`);
      await row.waitFor();
      assert.equal(await row.getAttribute('data-state'), 'enrolled');
      await row.locator(tid('conn-revoke')).click();
      assert.match(await page.locator(tid('confirm-dialog')).textContent(), /Every key of it is refused/);
      await page.locator(tid('confirm-ok')).click();
      await waitFor(async () => (await row.getAttribute('data-state')) === 'revoked', { what: 'row revoked' });
      assert.ok(await row.getByText('Revoked', { exact: true }).isVisible(), 'Revoked badge');
      assert.equal(await row.locator(tid('conn-rotate')).count(), 0, 'no Rotate for a revoked record');
      await shot(page, 'auth-06-conn-security-1280.png', { docs: 'connector-security-1280.png' });
      await page.keyboard.press('Escape');
      await toastWith(page, 'was revoked');
      await waitFor(async () => (await card(page, listed.uuid).getAttribute('data-revoked')) === 'true', { what: 'card marked revoked' });
      assert.equal(await card(page, listed.uuid).locator(tid('connector-ready')).textContent(), 'Revoked');
      // Forget removes the record.
      await openAdmin(page, 'connectors');
      await row.locator(tid('conn-forget')).click();
      await page.locator(tid('confirm-ok')).click();
      await waitFor(async () => (await row.count()) === 0, { what: 'record forgotten' });
      await page.keyboard.press('Escape');
    });
  } finally {
    child.kill('SIGTERM');
  }
});

test('AUTH-07 unreachable server and lockout messages on the login page', { timeout: 60000 }, async () => {
  await scenario('AUTH-07', core, {}, async (page) => {
    await page.goto(`${core.base}login`);
    await page.route('**/dsx-connect/api/v1/auth/login', (r) => r.abort('connectionrefused'));
    await page.locator(tid('login-username')).fill(VIEWER.username);
    await page.locator(tid('login-password')).fill(VIEWER.password);
    await page.click(tid('login-submit'));
    await waitFor(async () => /Cannot reach the server/.test(await page.locator(tid('login-message')).textContent()), { what: 'unreachable message' });
    await page.unroute('**/dsx-connect/api/v1/auth/login');
    await page.route('**/dsx-connect/api/v1/auth/login', (r) => r.fulfill({ status: 429, headers: { 'retry-after': '300' }, contentType: 'application/json', body: '{"detail":"too_many_attempts"}' }));
    await page.click(tid('login-submit'));
    await waitFor(async () => (await page.locator(tid('login-message')).textContent()) === 'Too many failed attempts. Try again in 5 minutes.', { what: 'lockout message' });
  });
});
