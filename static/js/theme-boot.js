/* Sets html[data-theme] before the first paint (docs/reference/UI.md, F-15). This is a classic,
 * blocking script on purpose: a module would run after the first paint and the page would flash in
 * the wrong
 * theme. The full theme logic (toggle, following the system setting) lives in theme.js. */
(function () {
  var theme = null;
  try {
    var stored = window.localStorage.getItem('dsx.theme');
    if (stored === 'light' || stored === 'dark') theme = stored;
  } catch (e) { /* storage unavailable: follow the system */ }
  if (!theme) {
    theme = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }
  document.documentElement.setAttribute('data-theme', theme);
})();
