// Audit: one pass of the invariant checks against every component's own view (POST /v1/audit, operator only).

import { api } from './api.js';
import { errorBox, h, table } from './dom.js';

export async function render(main, ctx) {
  const result = h('div', { 'data-testid': 'audit-result' });
  const run = h('button', {
    type: 'button', class: 'primary', 'data-testid': 'run-audit', disabled: !ctx.can('operate'), title: ctx.can('operate') ? null : ctx.why('operate'),
    onclick: async () => {
      run.disabled = true;
      result.replaceChildren(h('p', { class: 'muted' }, 'Auditing every VM, host, disk and flow table…'));
      try {
        const report = await api('POST', '/v1/audit');
        result.replaceChildren(
          h('p', {}, `${report.vms_checked} VMs checked, ${report.vms_in_migration} in migration; `,
            report.hosts_unreachable?.length ? `hosts unreachable: ${report.hosts_unreachable.join(', ')}` : 'every host answered'),
          report.findings?.length
            ? table(['invariant', 'subject', 'detail'], report.findings.map(f => h('tr', {}, h('td', {}, f.invariant), h('td', {}, f.subject), h('td', {}, f.detail))), { 'data-testid': 'findings' })
            : h('p', { class: 'ok', 'data-testid': 'clean' }, 'No findings: every invariant holds.'));
      } catch (e) {
        result.replaceChildren(errorBox(e));
      }
      run.disabled = false;
    },
  }, 'Run audit');
  main.replaceChildren(h('h1', {}, 'Audit'),
    h('p', {}, 'Reads every component (VM, host ledger, cloud disks, VPC flow tables, host agents) and checks they agree. Not cached: it costs one read per component.'),
    run, result);
}
