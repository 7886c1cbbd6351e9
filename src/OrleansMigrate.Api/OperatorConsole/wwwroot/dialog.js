// The confirmation dialog every action goes through: what will happen, then Confirm or Cancel. `act` runs on Confirm;
// if the API refuses, its problem shows in the dialog and nothing is closed, so the operator reads why.

import { h } from './dom.js';

export function confirmAction({ title, body, confirmLabel = 'Confirm', act }) {
  const dialog = document.getElementById('confirm');
  const form = dialog.querySelector('form');
  const yes = document.getElementById('confirm-yes');
  const error = document.getElementById('confirm-error');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-body').replaceChildren(...(Array.isArray(body) ? body : [body]));
  yes.textContent = confirmLabel;
  yes.disabled = false;
  error.textContent = '';
  return new Promise(resolve => {
    const onSubmit = async event => {
      const submitter = event.submitter;
      if (submitter?.value !== 'ok') { finish(null); return; }
      event.preventDefault();
      yes.disabled = true;
      error.textContent = '';
      try {
        const result = await act(dialog);
        dialog.close();
        finish(result ?? true);
      } catch (e) {
        const p = e?.problem ?? {};
        error.textContent = `${e?.status ? `${e.status} ` : ''}${p.code ?? 'error'}${p.field ? ` (${p.field})` : ''}: ${e?.message ?? e}`;
        yes.disabled = false;
      }
    };
    const onClose = () => finish(null);
    function finish(value) {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      resolve(value);
    }
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
  });
}

export function field(label, control) {
  return h('label', { class: 'field' }, label, control);
}
