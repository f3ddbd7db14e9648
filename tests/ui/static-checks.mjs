#!/usr/bin/env node
/**
 * Static checks of the web UI that need no browser (docs/reference/UI.md, "Static checks"):
 *   U-01 no external reference under static/ ("Offline, no CDN");
 *   U-02 no forbidden API in static/js/ ("Rendering rules"; comments included);
 *   U-04 total size ≤ 250 KB; no inline script, inline style or inline handler in the markup;
 * plus: no absolute (`/…`) URL in the page ("Relative addresses"), every file referenced by
 * index.html exists, files stay below ~600 lines, and the sprite has every icon the code references.
 * U-03 (headers and content types of a running core) runs when UI_CORE_URL is set.
 * Prints one line per check and a closing "N passed, N failed" line; exits 1 on any failure.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(new URL('../../static', import.meta.url).pathname);
const results = [];
const check = (name, fn) => {
  if (process.env.UI_ONLY_U03 === '1') return;
  try {
    const problems = fn() || [];
    results.push([name, problems]);
  } catch (err) {
    results.push([name, [String(err && err.message || err)]]);
  }
};

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p)); else out.push(p);
  }
  return out;
}

const files = walk(ROOT);
const rel = (p) => path.relative(ROOT, p);
const textFiles = files.filter((f) => /\.(html|js|mjs|css|svg|json|txt)$/.test(f));
const read = (f) => fs.readFileSync(f, 'utf8');

check('U-01 no external references', () => {
  const bad = [];
  for (const f of textFiles) {
    const text = read(f);
    for (const m of text.matchAll(/https?:\/\/[^\s"'<>)]*/g)) {
      if (!m[0].startsWith('http://www.w3.org/')) bad.push(`${rel(f)}: ${m[0]}`);
    }
    for (const m of text.matchAll(/(?:src|href)\s*=\s*["']\/\/[^"']*/g)) bad.push(`${rel(f)}: protocol-relative ${m[0]}`);
    if (/@import/.test(text)) bad.push(`${rel(f)}: @import`);
    for (const m of text.matchAll(/url\(\s*["']?([^"')]+)/g)) if (!/^(data:|#)/.test(m[1]) && /^(\/\/|[a-z]+:)/i.test(m[1])) bad.push(`${rel(f)}: url(${m[1]})`);
  }
  return bad;
});

const FORBIDDEN = [
  /\binnerHTML\b/, /\bouterHTML\b/, /\binsertAdjacentHTML\b/, /\bdocument\.write(ln)?\b/, /\bDOMParser\b/,
  /\bcreateContextualFragment\b/, /\beval\s*\(/, /\bnew\s+Function\b/, /\bsrcdoc\b/, /javascript:/i,
  /\bset(Timeout|Interval)\s*\(\s*['"`]/,
];

check('U-02 no forbidden DOM/eval APIs in static/js', () => {
  const bad = [];
  for (const f of files.filter((x) => x.includes(`${path.sep}js${path.sep}`))) {
    const lines = read(f).split('\n');
    lines.forEach((line, i) => { for (const re of FORBIDDEN) if (re.test(line)) bad.push(`${rel(f)}:${i + 1}: ${re}`); });
  }
  return bad;
});

check('U-04 size budget ≤ 250 KB', () => {
  const total = files.reduce((a, f) => a + fs.statSync(f).size, 0);
  console.log(`#   static/ total ${total} bytes (${(total / 1024).toFixed(1)} KiB) in ${files.length} files`);
  return total <= 250 * 1024 ? [] : [`total ${total} bytes > 256000`];
});

check('U-04 no inline script, style or handler in the markup', () => {
  const bad = [];
  for (const f of files.filter((x) => /\.(html|svg)$/.test(x))) {
    const text = read(f);
    for (const m of text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
      if (!/\bsrc\s*=/.test(m[1]) || m[2].trim()) bad.push(`${rel(f)}: inline <script>`);
    }
    if (/<style\b/i.test(text)) bad.push(`${rel(f)}: <style> element`);
    if (/\sstyle\s*=/i.test(text)) bad.push(`${rel(f)}: style attribute`);
    for (const m of text.matchAll(/\s(on[a-z]+)\s*=/gi)) bad.push(`${rel(f)}: inline handler ${m[1]}`);
  }
  return bad;
});

check('no class names built from values, no inline style writes through setAttribute', () => {
  const bad = [];
  for (const f of files.filter((x) => x.endsWith('.js'))) {
    read(f).split('\n').forEach((line, i) => {
      if (/setAttribute\(\s*['"]style['"]/.test(line)) bad.push(`${rel(f)}:${i + 1}: setAttribute('style')`);
      if (/className\s*[+]?=\s*`/.test(line)) bad.push(`${rel(f)}:${i + 1}: template-built className`);
    });
  }
  return bad;
});

check('every URL in index.html is relative (no leading /) and exists', () => {
  const html = read(path.join(ROOT, 'index.html'));
  const bad = [];
  for (const m of html.matchAll(/\s(?:src|href)\s*=\s*"([^"]*)"/g)) {
    const url = m[1];
    if (url.startsWith('/')) bad.push(`absolute URL ${url}`);
    if (url.startsWith('static/')) {
      const file = path.join(ROOT, url.slice('static/'.length).split('#')[0]);
      if (!fs.existsSync(file)) bad.push(`missing ${url}`);
    }
  }
  for (const f of files.filter((x) => x.endsWith('.js'))) {
    read(f).split('\n').forEach((line, i) => {
      if (/(fetch|EventSource|new URL)\(\s*['"`]\//.test(line)) bad.push(`${rel(f)}:${i + 1}: absolute URL`);
    });
  }
  return bad;
});

check('every imported module exists', () => {
  const bad = [];
  for (const f of files.filter((x) => x.endsWith('.js'))) {
    for (const m of read(f).matchAll(/from\s+['"](\.[^'"]+)['"]/g)) {
      if (!fs.existsSync(path.resolve(path.dirname(f), m[1]))) bad.push(`${rel(f)}: ${m[1]}`);
    }
  }
  return bad;
});

check('sprite has every icon referenced by the code', () => {
  const sprite = read(path.join(ROOT, 'img', 'icons.svg'));
  const ids = new Set([...sprite.matchAll(/<symbol[^>]*\sid="([^"]+)"/g)].map((m) => m[1]));
  const used = new Set();
  for (const f of files.filter((x) => /\.(js|html)$/.test(x))) {
    const text = read(f);
    for (const m of text.matchAll(/icons\.svg#([a-z-]+)/g)) used.add(m[1]);
    for (const m of text.matchAll(/\bicon\(\s*'([a-z-]+)'/g)) used.add(m[1]);
    for (const m of text.matchAll(/'(file|file-(?:x|text|image|archive|code|binary)|folder|bucket|cloud|share|plug|virus|check-circle|lock|minus-circle|question-circle|file-x|info|alert)'/g)) used.add(m[1]);
  }
  return [...used].filter((id) => !ids.has(id)).map((id) => `missing symbol #${id}`);
});

check('files stay below ~600 lines', () => files.filter((f) => /\.(js|css|html)$/.test(f))
  .map((f) => [rel(f), read(f).split('\n').length]).filter(([, n]) => n > 620).map(([f, n]) => `${f}: ${n} lines`));

/** U-03, against a running core (run.sh sets UI_CORE_URL). */
async function u03(base) {
  const bad = [];
  const res = await fetch(base);
  const want = {
    'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  };
  if (res.status !== 200) bad.push(`GET / → ${res.status}`);
  if (!/^text\/html;\s*charset=utf-8$/i.test(res.headers.get('content-type') || '')) bad.push(`GET / content-type ${res.headers.get('content-type')}`);
  for (const [k, v] of Object.entries(want)) if (res.headers.get(k) !== v) bad.push(`GET / ${k}: ${res.headers.get(k)}`);
  const legacy = await fetch(new URL('static/html/dsx_connect.html', base), { redirect: 'manual' });
  if (legacy.status !== 308 || legacy.headers.get('location') !== '/') bad.push(`legacy address → ${legacy.status} ${legacy.headers.get('location')}`);
  const types = { js: /^text\/javascript/, css: /^text\/css/, svg: /^image\/svg\+xml/, png: /^image\/png/, html: /^text\/html/ };
  for (const f of files) {
    const r = rel(f).split(path.sep).join('/');
    const ext = r.split('.').pop();
    const resp = await fetch(new URL(`static/${r}`, base));
    const ct = resp.headers.get('content-type') || '';
    if (resp.status !== 200) bad.push(`static/${r} → ${resp.status}`);
    else if (types[ext] && !types[ext].test(ct)) bad.push(`static/${r} served as "${ct}"`);
    else if (!resp.headers.get('etag')) bad.push(`static/${r} without ETag`);
    else {
      // no-cache means "revalidate": the ETag must be honoured, or every reuse re-downloads (and
      // the sprite is re-parsed for every batch of icons).
      const again = await fetch(new URL(`static/${r}`, base), { headers: { 'If-None-Match': resp.headers.get('etag') }, cache: 'no-store' });
      if (again.status !== 304) bad.push(`static/${r} revalidation → ${again.status}, not 304`);
    }
  }
  return bad;
}

if (process.env.UI_CORE_URL) {
  try { results.push(['U-03 headers and content types of the served UI', await u03(process.env.UI_CORE_URL)]); } catch (err) { results.push(['U-03', [String(err)]]); }
}

let failed = 0;
for (const [name, problems] of results) {
  if (problems.length) {
    failed += 1;
    console.log(`not ok - ${name}`);
    for (const p of problems.slice(0, 20)) console.log(`#   ${p}`);
  } else {
    console.log(`ok - ${name}`);
  }
}
console.log(`static checks: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
