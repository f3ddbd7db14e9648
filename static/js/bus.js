/**
 * A tiny publish/subscribe hub so feature modules (cards, jobs table, results, DLQ) react to the
 * same SSE frames and model changes without importing each other.
 */

const handlers = new Map();

export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}

export function emit(type, detail) {
  const set = handlers.get(type);
  if (!set) return;
  for (const fn of set) {
    try { fn(detail); } catch (err) { console.warn(`handler for ${type} failed`, err); }
  }
}
