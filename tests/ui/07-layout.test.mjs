/**
 * E2E-20 keyboard and accessibility (axe-core, only in a bypassCSP context), E2E-21 375 px layout.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startStub, startCore, makeTreeA, stopAll, WORK, waitFor, waitIdle } from './lib/servers.mjs';
import { scenario, goto, tid, card, shot, closeBrowser } from './lib/browser.mjs';
import { waitCardState, waitDone, startFullScan } from './lib/cards.mjs';

const AXE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const treeA = path.join(WORK, 'layout-tree-a');
let stub;
let core;
let uuid;

before(async () => {
  stub = await startStub({ delayMs: 150 });
  core = await startCore({ trees: [makeTreeA(treeA)], stub });
  uuid = (await core.connectors())[0].uuid;
  // Some history for the results and jobs views.
  await fetch(`${core.api}connectors/full_scan/${uuid}?limit=20`, { method: 'POST' });
  await waitIdle(core);
});
after(async () => { await closeBrowser(); await stopAll(); });

async function fresh() {
  for (const j of await core.json('scan/jobs')) {
    if (!['completed', 'cancelled'].includes(j.status)) await fetch(`${core.api}scan/jobs/${j.job_id}/cancel`, { method: 'POST' });
  }
  await waitIdle(core);
  makeTreeA(treeA);
}

/** Presses Tab until the element with `testid` (inside `scope`, optional) has the focus; checks every stop's outline. */
async function tabTo(page, testid, { scope = null, max = 60 } = {}) {
  for (let i = 0; i < max; i += 1) {
    const info = await page.evaluate(([id, sc]) => {
      const el = document.activeElement;
      if (!el || el === document.body) return { at: false, outline: null };
      const cs = getComputedStyle(el);
      const inScope = !sc || el.closest(sc);
      return { at: el.dataset.testid === id && !!inScope, outline: parseFloat(cs.outlineWidth) || 0, style: cs.outlineStyle, tag: `${el.tagName}.${el.className}` };
    }, [testid, scope]);
    if (info.outline !== null) assert.ok(info.outline >= 2 && info.style !== 'none', `visible focus on ${info.tag} (${info.outline}px ${info.style})`);
    if (info.at) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`could not Tab to ${testid}`);
}

async function axe(page, label) {
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ content: AXE });
  const res = await page.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`), [], `axe ${label}`);
}

test('E2E-20 keyboard and accessibility', { timeout: 90000 }, async () => {
  await fresh();
  await scenario('E2E-20', core, { bypassCSP: true }, async (page) => {
    await goto(page);
    await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
    await page.waitForSelector(tid('result-row'));
    await axe(page, 'home light');
    await page.click(tid('theme-toggle'));
    await axe(page, 'home dark');
    await page.click(tid('theme-toggle'));

    await page.evaluate(() => document.activeElement?.blur());
    await tabTo(page, 'btn-full-scan');
    await shot(page, '20-focus-1280.png');
    await page.keyboard.press('Enter');
    await waitCardState(page, uuid, 'running', 5000);
    await waitDone(page, uuid, 3);
    await tabTo(page, 'btn-pause', { scope: '[data-testid="connector-card"]' });
    await page.keyboard.press('Space');
    await waitCardState(page, uuid, 'paused', 3000);
    await axe(page, 'paused card');
    await tabTo(page, 'btn-resume', { scope: '[data-testid="connector-card"]' });
    await page.keyboard.press('Enter');
    await waitCardState(page, uuid, 'running', 3000);
    await axe(page, 'running card');

    // Expanded results with the keyboard.
    await page.locator('.toggle-details').first().focus();
    await page.keyboard.press('Enter');
    await page.locator(tid('result-details')).first().waitFor();
    await axe(page, 'expanded results');

    // Each dialog: open with the keyboard, check, close with Escape; focus returns to the opener.
    for (const [opener, dialog] of [['stats-button', 'stats-dialog'], ['dlq-button', 'dlq-dialog'], ['settings-button', 'settings-dialog'], ['btn-connector-config', 'connector-config-dialog']]) {
      await page.locator(tid(opener)).first().focus();
      await page.keyboard.press('Enter');
      const dlg = page.locator(tid(dialog));
      await dlg.waitFor();
      assert.ok(await dlg.evaluate((d) => d.contains(document.activeElement)), `${dialog}: focus moved inside`);
      await page.waitForTimeout(300);
      await axe(page, dialog);
      await page.keyboard.press('Escape');
      await waitFor(async () => !(await dlg.isVisible()), { what: `${dialog} closed` });
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), opener, `${dialog}: focus back on the opener`);
    }
    const job = await card(page, uuid).locator(tid('job-pill')).getAttribute('title');
    await fetch(`${core.api}scan/jobs/${job}/cancel`, { method: 'POST' });
  });
});

/** Asserts no horizontal scrolling and every visible button inside the viewport and clickable. */
async function checkNarrow(page, label) {
  const m = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
  assert.ok(m.sw <= 375 && m.sw <= m.iw, `${label}: scrollWidth ${m.sw} ≤ 375`);
  const boxes = await page.evaluate(() => [...document.querySelectorAll('button, a.btn, select, input')].filter((b) => {
    const r = b.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && !b.closest('dialog:not([open])') && (!document.querySelector('dialog[open]') || b.closest('dialog[open]'));
  }).map((b) => { const r = b.getBoundingClientRect(); return { t: b.dataset.testid || b.textContent.trim().slice(0, 20), l: r.left, r: r.right, w: r.width, h: r.height }; }));
  for (const b of boxes) {
    assert.ok(b.l >= 0 && b.r <= 375.5, `${label}: "${b.t}" inside the viewport (${b.l.toFixed(1)}–${b.r.toFixed(1)})`);
    assert.ok(b.w >= 24 && b.h >= 24, `${label}: "${b.t}" target ≥ 24 px (${b.w}×${b.h})`);
  }
}

test('E2E-21 375 px layout', { timeout: 90000 }, async () => {
  await fresh();
  for (const theme of ['light', 'dark']) {
    await scenario(`E2E-21-${theme}`, core, { viewport: { width: 375, height: 812 }, colorScheme: theme }, async (page) => {
      await goto(page);
      await page.waitForSelector(`${tid('connector-card')}[data-ready="true"]`);
      await page.waitForSelector(tid('result-row'));
      await checkNarrow(page, `${theme} home`);
      if (theme === 'light') await shot(page, '21-mobile-home-light.png');
      await startFullScan(page, uuid);
      await waitDone(page, uuid, 5);
      await checkNarrow(page, `${theme} running`);
      if (theme === 'dark') await shot(page, '21-mobile-running-dark.png');
      await card(page, uuid).locator(tid('btn-pause')).click({ trial: true });
      const display = await page.locator(tid('result-row')).first().evaluate((tr) => getComputedStyle(tr).display);
      assert.ok(['grid', 'block'].includes(display), `stacked results layout (${display})`);
      await page.locator('.toggle-details').first().click();
      await page.locator(tid('result-details')).first().waitFor();
      await checkNarrow(page, `${theme} results with details`);
      await page.locator(tid('result-details')).first().scrollIntoViewIfNeeded();
      if (theme === 'light') await shot(page, '21-mobile-results.png');
      await page.locator(tid('jobs-table')).scrollIntoViewIfNeeded();
      await checkNarrow(page, `${theme} jobs`);
      await page.locator(tid('dlq-button')).click();
      await page.locator(tid('dlq-dialog')).waitFor();
      await page.waitForTimeout(300);
      await checkNarrow(page, `${theme} dlq`);
      if (theme === 'light') await shot(page, '21-mobile-dlq.png');
      await page.keyboard.press('Escape');
      const job = await card(page, uuid).locator(tid('job-pill')).getAttribute('title');
      await fetch(`${core.api}scan/jobs/${job}/cancel`, { method: 'POST' });
      await waitCardState(page, uuid, 'done', 5000);
    });
    await fresh();
  }
});
