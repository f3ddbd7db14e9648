/**
 * Modal dialogs (docs/reference/UI.md, "Accessibility"): native <dialog> elements opened with
 * showModal(), which gives the focus trap and Escape for free. Focus returns to the opener on
 * close; a click on the backdrop closes; the confirmation dialog resolves a promise.
 */
import { byTestId, setText } from './dom.js';

const openers = new WeakMap();

/** Wires the close button, backdrop click and focus return of one dialog (once). */
function wire(dlg) {
  if (dlg.dataset.wired) return;
  dlg.dataset.wired = '1';
  const closeBtn = dlg.querySelector('.dialog-close');
  if (closeBtn) closeBtn.addEventListener('click', () => dlg.close());
  // A click whose target is the <dialog> itself landed on the backdrop (content has padding 0
  // and fills the box), so it closes like the × button.
  dlg.addEventListener('click', (e) => {
    if (e.target !== dlg) return;
    const r = dlg.getBoundingClientRect();
    const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    if (!inside) dlg.close();
  });
  dlg.addEventListener('close', () => {
    const opener = openers.get(dlg);
    openers.delete(dlg);
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  });
}

/** Opens `dlg` modally, remembering `opener` (default: the focused element) for focus return. */
export function openDialog(dlg, opener = document.activeElement) {
  wire(dlg);
  if (dlg.open) return;
  openers.set(dlg, opener);
  dlg.showModal();
}

export function closeDialog(dlg) {
  if (dlg.open) dlg.close();
}

/**
 * Asks for confirmation. Resolves true only for the OK button; Escape, backdrop and the cancel
 * button resolve false. The cancel button has the initial focus (the safe choice).
 */
export function confirmDialog({ title = 'Please confirm', text, okLabel = 'OK', cancelLabel = 'Cancel' }) {
  const dlg = byTestId('confirm-dialog');
  const ok = byTestId('confirm-ok', dlg);
  const cancel = byTestId('confirm-cancel', dlg);
  setText(dlg.querySelector('#confirm-title'), title);
  setText(dlg.querySelector('.confirm-text'), text);
  setText(ok, okLabel);
  setText(cancel, cancelLabel);
  return new Promise((resolve) => {
    let result = false;
    const onOk = () => { result = true; dlg.close(); };
    const onCancel = () => { result = false; dlg.close(); };
    const onClose = () => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dlg.removeEventListener('close', onClose);
      resolve(result);
    };
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dlg.addEventListener('close', onClose);
    openDialog(dlg);
    cancel.focus();
  });
}
