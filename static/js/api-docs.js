// The API docs page: fetches the core's OpenAPI document and lists its operations. Every text
// from the document is set with textContent (never parsed as HTML).

const status = document.querySelector('[data-testid="docs-status"]');

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function json(value) {
  return el('pre', JSON.stringify(value, null, 2));
}

/** The schema of the first JSON-like media type of a body or answer. */
function schemaOf(content) {
  if (!content) return null;
  const first = Object.values(content)[0];
  return first ? first.schema : null;
}

function parameters(op) {
  const params = op.parameters || [];
  if (!params.length) return null;
  const table = el('table');
  const head = table.createTHead().insertRow();
  for (const h of ['name', 'in', 'schema', 'description']) head.appendChild(el('th', h));
  const body = table.createTBody();
  for (const p of params) {
    const row = body.insertRow();
    row.appendChild(el('td', p.name + (p.required ? ' *' : '')));
    row.appendChild(el('td', p.in));
    row.appendChild(el('td', JSON.stringify(p.schema || {})));
    row.appendChild(el('td', p.description || ''));
  }
  return table;
}

function operation(path, method, op) {
  const box = el('details', undefined, 'docs-op');
  box.dataset.testid = 'docs-op';
  const sum = el('summary');
  sum.append(el('span', method, 'docs-method'), el('span', path, 'docs-path'), el('span', op.summary || '', 'docs-summary'));
  if (op['x-dsx-access']) sum.appendChild(el('span', op['x-dsx-access'], 'docs-access'));
  box.appendChild(sum);
  const body = el('div', undefined, 'docs-body');
  const params = parameters(op);
  if (params) body.append(el('h3', 'Parameters'), params);
  if (op.requestBody) {
    body.appendChild(el('h3', op.requestBody.required ? 'Request body' : 'Request body (optional)'));
    body.appendChild(json(schemaOf(op.requestBody.content)));
  }
  body.appendChild(el('h3', 'Answers'));
  for (const [code, resp] of Object.entries(op.responses || {})) {
    body.appendChild(el('p', `${code}: ${resp.description || ''}`));
    const schema = schemaOf(resp.content);
    if (schema) body.appendChild(json(schema));
  }
  if (op.security) {
    const names = op.security.map((req) => Object.keys(req).join(' + ')).filter(Boolean);
    body.append(el('h3', 'Credentials'), el('p', names.length ? names.join(' or ') : 'none'));
  }
  box.appendChild(body);
  return box;
}

function render(doc) {
  document.querySelector('[data-testid="docs-title"]').textContent = `${doc.info.title} ${doc.info.version}`;
  document.querySelector('[data-testid="docs-description"]').textContent = doc.info.description || '';
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || 'other';
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(path, method, op));
    }
  }
  const root = document.querySelector('[data-testid="docs-operations"]');
  for (const [tag, ops] of groups) {
    const section = el('section', undefined, 'docs-group');
    section.appendChild(el('h2', tag));
    section.append(...ops);
    root.appendChild(section);
  }
  const schemas = (doc.components && doc.components.schemas) || {};
  const list = document.querySelector('[data-testid="docs-schemas"]');
  for (const [name, schema] of Object.entries(schemas)) {
    const box = el('details', undefined, 'docs-schema');
    box.append(el('summary', name), json(schema));
    list.appendChild(box);
  }
  document.querySelector('.docs-schemas-title').hidden = false;
  status.textContent = `${root.querySelectorAll('.docs-op').length} operations`;
}

async function load() {
  let res;
  try {
    res = await fetch('openapi.json', { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    status.textContent = 'Cannot reach the server.';
    return;
  }
  if (res.status === 401) {
    status.textContent = 'Sign in to read the API documentation: ';
    const a = el('a', 'sign in');
    a.href = 'login';
    status.appendChild(a);
    return;
  }
  if (!res.ok) {
    status.textContent = `The API description is not available (HTTP ${res.status}).`;
    return;
  }
  render(await res.json());
}

load();
