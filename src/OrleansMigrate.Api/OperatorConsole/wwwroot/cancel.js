// "Cancel migration": DELETE /v1/migrations/{id} asks for a rollback. Past the commit point the API answers 409 (the
// migration only rolls forward), and the dialog shows that answer.

import { api } from './api.js';
import { confirmAction } from './dialog.js';
import { h, toast } from './dom.js';

export function cancelButton(m, ctx, after) {
  return h('button', {
    type: 'button', 'data-testid': `cancel-${m.migration_id}`, disabled: !ctx.can('operate'), title: ctx.can('operate') ? null : ctx.why('operate'),
    onclick: () => confirmAction({
      title: `Cancel migration ${m.migration_id}?`,
      body: h('p', {}, `${m.request.vm_id} rolls back and keeps running on ${m.source_host}; the reservation on ${m.destination_host} is released. ` +
        'A migration already past its commit point (the VM resumed on the destination) cannot be cancelled.'),
      confirmLabel: 'Cancel migration',
      act: () => api('DELETE', `/v1/migrations/${encodeURIComponent(m.migration_id)}`),
    }).then(done => { if (done) { toast(`Rollback of ${m.migration_id} requested`); after?.(); } }),
  }, 'Cancel…');
}
