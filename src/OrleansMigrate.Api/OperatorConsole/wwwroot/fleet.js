// Fleet: every host with its capacity (VMs used + reservations of migrations in flight), health, firmware and
// scheduling state, with cordon/uncordon; then every VM with a migrate action. Refreshed every 5 s.

import { api, listAll } from './api.js';
import { badge, bar, errorBox, h, sizeBars, table, toast } from './dom.js';
import { confirmAction } from './dialog.js';
import { migrateDialog } from './migrate-dialog.js';

const sum = (placements, key) => Object.values(placements ?? {}).reduce((a, p) => a + p[key], 0);

export async function render(main, ctx) {
  const hostsBox = h('section', { 'data-testid': 'hosts' });
  const vmsBox = h('section', { 'data-testid': 'vms' });
  const status = h('p', { class: 'muted', 'data-testid': 'fleet-status' });
  main.replaceChildren(h('h1', {}, 'Fleet'), status, hostsBox, vmsBox);

  let hosts = [];
  const load = async () => {
    try {
      const [h1, vms] = await Promise.all([listAll('/v1/hosts'), listAll('/v1/vms')]);
      hosts = h1;
      hostsBox.replaceChildren(h('h2', {}, `Hosts (${hosts.length})`), hostTable(hosts, ctx, load));
      vmsBox.replaceChildren(h('h2', {}, `VMs (${vms.length})`), vmTable(vms, () => hosts, ctx, load));
      sizeBars(hostsBox);
      status.textContent = `Updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}`;
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  };
  await load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}

function hostTable(hosts, ctx, reload) {
  const rows = hosts.map(host => {
    const s = host.spec;
    const cordoned = host.scheduling !== 'schedulable';
    const action = cordoned ? 'uncordon' : 'cordon';
    const button = h('button', {
      type: 'button', 'data-testid': `${action}-${host.host_id}`, disabled: !ctx.can('operate'), title: ctx.can('operate') ? null : ctx.why('operate'),
      onclick: () => confirmAction({
        title: `${action === 'cordon' ? 'Cordon' : 'Uncordon'} host ${host.host_id}?`,
        body: h('p', {}, action === 'cordon'
          ? 'No new VM or migration will be placed on it; VMs already there keep running.'
          : 'The host takes new VMs and migrations again.'),
        confirmLabel: action === 'cordon' ? 'Cordon' : 'Uncordon',
        act: () => api('POST', `/v1/hosts/${encodeURIComponent(host.host_id)}/${action}`),
      }).then(done => { if (done) { toast(`Host ${host.host_id}: ${action}ed`); reload(); } }),
    }, action === 'cordon' ? 'Cordon' : 'Uncordon');
    return h('tr', { 'data-host': host.host_id },
      h('td', {}, h('strong', {}, host.host_id), h('div', { class: 'muted' }, s.cpu_model)),
      h('td', {}, badge(host.health)),
      h('td', {}, badge(host.scheduling, cordoned ? 'cordoned' : 'schedulable')),
      h('td', {}, s.firmware_version, h('div', { class: 'muted' }, `kernel ${s.kernel_version} · hv ${s.hypervisor_version}`)),
      h('td', {}, bar(sum(host.vms, 'vcpus'), sum(host.reservations, 'vcpus'), s.cores, 'vCPU', `cpu-${host.host_id}`)),
      h('td', {}, bar(sum(host.vms, 'memory_mib'), sum(host.reservations, 'memory_mib'), s.memory_mib, 'MiB', `mem-${host.host_id}`)),
      h('td', { class: 'num' }, Object.keys(host.vms ?? {}).length),
      h('td', {}, button));
  });
  return table(['host', 'health', 'scheduling', 'firmware', 'CPU (used + reserved)', 'memory (used + reserved)', 'VMs', ''], rows, { class: 'hosts' });
}

function vmTable(vms, hosts, ctx, reload) {
  const rows = vms.map(vm => h('tr', { 'data-vm': vm.vm_id },
    h('td', {}, h('a', { href: `#/vms/${encodeURIComponent(vm.vm_id)}` }, vm.vm_id)),
    h('td', { 'data-testid': `vm-host-${vm.vm_id}` }, vm.host_id),
    h('td', {}, badge(vm.power)),
    h('td', {}, vm.spec.instance_class),
    h('td', { class: 'num' }, vm.spec.vcpus),
    h('td', { class: 'num' }, `${vm.spec.memory_mib} MiB`),
    h('td', {}, h('button', {
      type: 'button', 'data-testid': `migrate-${vm.vm_id}`, disabled: !ctx.can('migrate'), title: ctx.can('migrate') ? null : ctx.why('migrate'),
      onclick: () => migrateDialog(vm, hosts()).then(id => { if (id) location.hash = `#/migrations/${encodeURIComponent(id)}`; else reload(); }),
    }, 'Migrate…'))));
  return table(['VM', 'host', 'power', 'class', 'vCPUs', 'memory', ''], rows, { class: 'vms' });
}
