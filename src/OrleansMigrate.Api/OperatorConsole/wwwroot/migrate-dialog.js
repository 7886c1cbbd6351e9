// "Migrate VM": choose a destination (or let placement choose) and a policy, confirm, POST /v1/migrations.
// Resolves to the new migration's id, or null when cancelled.

import { api, listAll } from './api.js';
import { field, confirmAction } from './dialog.js';
import { h } from './dom.js';

export async function migrateDialog(vm, hosts) {
  const policies = await listAll('/v1/policies').catch(() => []);
  const destination = h('select', { name: 'destination', 'data-testid': 'destination' },
    h('option', { value: '' }, 'auto (placement chooses)'),
    hosts.filter(x => x.host_id !== vm.host_id).map(x => {
      const used = o => Object.values(o ?? {}).reduce((a, p) => a + p.vcpus, 0);
      const freeCpu = x.spec.cores - used(x.vms) - used(x.reservations);
      const note = x.scheduling !== 'schedulable' ? `, ${x.scheduling}` : x.health !== 'ok' ? `, ${x.health}` : '';
      return h('option', { value: x.host_id }, `${x.host_id} (${freeCpu} vCPU free${note})`);
    }));
  const policy = h('select', { name: 'policy', 'data-testid': 'policy' },
    h('option', { value: '' }, `default (for class ${vm.spec.instance_class})`),
    policies.map(p => h('option', { value: p.name }, `${p.name} (downtime target ${p.downtime_target_ms} ms)`)));
  const answer = await confirmAction({
    title: `Migrate ${vm.vm_id}?`,
    body: [
      h('p', {}, `Live-migrate ${vm.vm_id} (${vm.spec.vcpus} vCPU, ${vm.spec.memory_mib} MiB) away from ${vm.host_id}.`),
      field('Destination', destination),
      field('Policy', policy),
    ],
    confirmLabel: 'Migrate',
    act: () => api('POST', '/v1/migrations', {
      vm_id: vm.vm_id,
      destination_host: destination.value || null,
      policy: policy.value || null,
    }),
  });
  return answer?.migration_id ?? null;
}
