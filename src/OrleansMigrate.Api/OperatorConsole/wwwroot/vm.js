// One VM: its spec, disks, NICs, pass-through devices, where it runs, and its migrations.

import { api, listAll } from './api.js';
import { badge, h, ms, phaseName, table, when } from './dom.js';
import { migrateDialog } from './migrate-dialog.js';

export async function render(main, ctx, vmId) {
  const [vm, migrations, hosts] = await Promise.all([
    api('GET', `/v1/vms/${encodeURIComponent(vmId)}`),
    listAll('/v1/migrations'),
    listAll('/v1/hosts'),
  ]);
  const s = vm.spec;
  const mine = migrations.filter(m => m.request.vm_id === vm.vm_id).sort((a, b) => b.created_at.localeCompare(a.created_at));
  const labels = Object.entries(s.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '–';
  main.replaceChildren(
    h('p', {}, h('a', { href: '#/fleet' }, '← Fleet')),
    h('h1', {}, `VM ${vm.vm_id} `, badge(vm.power)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'host'), h('dd', { 'data-testid': 'vm-host' }, vm.host_id),
      h('dt', {}, 'vCPUs'), h('dd', {}, s.vcpus),
      h('dt', {}, 'memory'), h('dd', {}, `${s.memory_mib} MiB`),
      h('dt', {}, 'instance class'), h('dd', {}, s.instance_class),
      h('dt', {}, 'required CPU features'), h('dd', {}, (s.required_cpu_features ?? []).join(', ') || '–'),
      h('dt', {}, 'labels'), h('dd', {}, labels),
      h('dt', {}, 'image'), h('dd', {}, s.image ?? '–'),
      h('dt', {}, 'power detail'), h('dd', {}, vm.power_detail ?? '–'),
      h('dt', {}, 'created'), h('dd', {}, when(vm.created_at))),
    h('button', {
      type: 'button', class: 'primary', 'data-testid': 'migrate', disabled: !ctx.can('migrate'), title: ctx.can('migrate') ? null : ctx.why('migrate'),
      onclick: () => migrateDialog(vm, hosts).then(id => { if (id) location.hash = `#/migrations/${encodeURIComponent(id)}`; }),
    }, 'Migrate…'),
    h('h2', {}, 'Disks'),
    table(['disk', 'size'], (s.disks ?? []).map(d => h('tr', {}, h('td', {}, d.disk_id), h('td', {}, `${d.size_gib} GiB`)))),
    h('h2', {}, 'NICs'),
    table(['VPC', 'IP', 'MAC'], (s.nics ?? []).map(n => h('tr', {}, h('td', {}, n.vpc_id), h('td', {}, n.ip), h('td', {}, n.mac)))),
    (s.passthrough_devices ?? []).length
      ? [h('h2', {}, 'Pass-through devices (not live-migratable)'),
        table(['address', 'kind'], s.passthrough_devices.map(p => h('tr', {}, h('td', {}, p.address), h('td', {}, p.kind))))]
      : null,
    h('h2', {}, `Migrations (${mine.length})`),
    table(['migration', 'from → to', 'phase', 'started', 'downtime'], mine.map(m => h('tr', {},
      h('td', {}, h('a', { href: `#/migrations/${encodeURIComponent(m.migration_id)}` }, m.migration_id)),
      h('td', {}, `${m.source_host} → ${m.destination_host}`),
      h('td', {}, badge(phaseName(m.phase), m.phase)),
      h('td', {}, when(m.created_at)),
      h('td', {}, ms(m.downtime?.downtime_ms)))))
  );
}
