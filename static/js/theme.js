/**
 * Light/dark theme (docs/reference/UI.md, F-15). Without a stored choice the page follows
 * prefers-color-scheme, including later changes; the toggle stores its choice in `dsx.theme`.
 * Toggling makes no request.
 */
import { byTestId, setAttr } from './dom.js';
import { getTheme, setTheme } from './store.js';

const media = window.matchMedia('(prefers-color-scheme: dark)');

function apply(theme) {
  document.documentElement.setAttribute('data-theme', theme);
  const btn = byTestId('theme-toggle');
  if (!btn) return;
  const dark = theme === 'dark';
  setAttr(btn, 'aria-pressed', dark ? 'true' : 'false');
  setAttr(btn, 'aria-label', dark ? 'Switch to light theme' : 'Switch to dark theme');
  setAttr(btn, 'title', dark ? 'Switch to light theme' : 'Switch to dark theme');
}

const current = () => getTheme() || (media.matches ? 'dark' : 'light');

export function initTheme() {
  apply(current());
  media.addEventListener('change', () => { if (!getTheme()) apply(current()); });
  byTestId('theme-toggle').addEventListener('click', () => {
    const next = document.documentElement.getAttribute('data-theme') === 'dark' ? 'light' : 'dark';
    setTheme(next);
    apply(next);
  });
}
