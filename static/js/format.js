/**
 * Formatting and value normalisation shared by every view (docs/reference/UI.md, "Formatting",
 * "What the page needs from the core" R-3, "Invisible characters"). Server values arrive as JSON
 * numbers, numeric strings (the job hash), epoch seconds or RFC 3339 strings; everything is
 * normalised here once so the views never branch on wire formats.
 */

const countFmt = new Intl.NumberFormat();

/** A number from a JSON number or numeric string; `""`, null, undefined and junk give null. */
export function toNum(v) {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** Epoch milliseconds from epoch seconds (number or numeric string) or an RFC 3339 string. */
export function toEpochMs(v) {
  const n = toNum(v);
  if (n !== null) return n < 1e11 ? n * 1000 : n; // seconds; tolerate milliseconds too
  if (typeof v === 'string' && v.trim() !== '') {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }
  return null;
}

/** A string for display, or null when absent/empty. */
export function toStr(v) {
  if (v === null || v === undefined) return null;
  const s = String(v);
  return s === '' ? null : s;
}

export function fmtCount(n) {
  const v = toNum(n);
  return v === null ? '—' : countFmt.format(v);
}

const pad2 = (n) => String(n).padStart(2, '0');

/** `HH:MM:SS`, or `Nd HH:MM:SS` from one day on. */
export function fmtDuration(secs) {
  let s = toNum(secs);
  if (s === null || s < 0) return '—';
  s = Math.floor(s);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hms = `${pad2(Math.floor(s / 3600))}:${pad2(Math.floor((s % 3600) / 60))}:${pad2(s % 60)}`;
  return d > 0 ? `${d}d ${hms}` : hms;
}

/** One decimal below 10, integer from 10. */
export function fmtRate(r) {
  return r < 10 ? r.toFixed(1) : String(Math.round(r));
}

export function fmtPercent(p) {
  return `${p.toFixed(1)}%`;
}

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Binary units with one decimal; plain bytes below 1 KiB. */
export function fmtSize(bytes) {
  let v = toNum(bytes);
  if (v === null || v < 0) return '—';
  if (v < 1024) return `${v} B`;
  let i = -1;
  do { v /= 1024; i += 1; } while (v >= 1024 && i < UNITS.length - 1);
  return `${v.toFixed(1)} ${UNITS[i]}`;
}

/** Microseconds in the most fitting of µs, ms, s. */
export function fmtMicros(us) {
  const v = toNum(us);
  if (v === null || v < 0) return '—';
  if (v < 1000) return `${Math.round(v)} µs`;
  if (v < 1e6) return `${(v / 1000).toFixed(1)} ms`;
  return `${(v / 1e6).toFixed(2)} s`;
}

export function fmtTime(ms) {
  if (ms === null) return '—';
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

export function fmtDateTime(ms) {
  if (ms === null) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${fmtTime(ms)}`;
}

export function isoOf(ms) {
  return ms === null ? '' : new Date(ms).toISOString();
}

/** First `n` characters and an ellipsis (ids in tables, "Formatting"). */
export function shortId(id, n = 8) {
  const s = String(id ?? '');
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/* Control, invisible and direction-changing characters ("Invisible characters"). */
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001F\u007F-\u009F\u200B\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/g;

/** The string with every invisible or bidi-control character shown as `⟨U+XXXX⟩`. */
export function visible(s) {
  if (s === null || s === undefined) return '';
  return String(s).replace(INVISIBLE, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** Shortened to `max` characters with `…` (full text goes to a tooltip). */
export function clip(s, max) {
  const str = String(s ?? '');
  return str.length > max ? `${str.slice(0, max)}…` : str;
}
