/**
 * Connector icons (docs/reference/UI.md, "Connector icons"). A connector's `display_icon` is
 * untrusted markup or a data URI; it is only ever shown through <img src="data:…">, where an SVG
 * can neither run scripts nor load external resources. Anything not accepted falls back to a
 * built-in sprite icon.
 */
import { h, icon } from './dom.js';

const MAX_LEN = 8192;
const RASTER = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$/i;
const SVG_B64 = /^data:image\/svg\+xml(;charset=[A-Za-z0-9_-]+)?;base64,[A-Za-z0-9+/=\s]+$/i;
const SVG_PCT = /^data:image\/svg\+xml(;charset=[A-Za-z0-9_-]+)?,[^\s"'<>\\]*$/i;

/**
 * Classifies a display_icon: `{img: dataUri}`, `{text}` (≤ 8 characters, e.g. an emoji) or null
 * (use the built-in icon).
 */
export function acceptIcon(value) {
  if (typeof value !== 'string') return null;
  const v = value.trim();
  if (!v || v.length > MAX_LEN) return null;
  if (RASTER.test(v) || SVG_B64.test(v) || SVG_PCT.test(v)) return { img: v };
  if (/^<svg[\s>]/i.test(v)) return { img: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(v)}` };
  if ([...v].length <= 8 && !/[<>:]/.test(v)) return { text: v };
  return null;
}

/** Built-in sprite icon chosen by connector name prefix (F-03.3). */
export function builtinIconName(name) {
  const n = String(name || '').toLowerCase();
  if (n.startsWith('filesystem')) return 'folder';
  if (n.startsWith('aws') || n.startsWith('s3')) return 'bucket';
  if (n.startsWith('azure') || n.startsWith('google') || n.startsWith('gcs')) return 'cloud';
  if (n.includes('sharepoint')) return 'share';
  return 'plug';
}

/** The icon node for a connector. */
export function connectorIconNode(displayIcon, name) {
  const accepted = acceptIcon(displayIcon);
  if (accepted && accepted.img) {
    const img = document.createElement('img');
    img.setAttribute('alt', '');
    img.setAttribute('src', accepted.img); // accepted data: URI only ("Rendering rules")
    img.setAttribute('width', '32');
    img.setAttribute('height', '32');
    img.setAttribute('decoding', 'async');
    return img;
  }
  if (accepted && accepted.text) return h('span', { class: 'icon-text', text: accepted.text, 'aria-hidden': 'true' });
  return icon(builtinIconName(name));
}
