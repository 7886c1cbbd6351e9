// Drains: every host's current or last drain (GET /v1/drains) with its progress — moved / remaining / unmovable / failed —
// and each VM's step (pending → migrating → moved, or why it could not move). Operators start a drain of a host, abort a
// running one and uncordon a host whose drain has ended, each through the confirmation dialog. Polled every 2 s while a
// drain runs, every 10 s otherwise.

import { api, listAll } from './api.js';
import { field } from './dialog.js';
import { badge, errorBox, h, sizeBars, table, toast, when } from './dom.js';
import { actionButton, follow, progress } from './ops.js';

const ACTIVE = new Set(['running', 'aborting']);

/** The drain's figures, as the page and its progress bar show them. */
export function counts(drain) {
  const by = state => drain.vms.filter(v => v.state === state).length;
  return {
    moved: by('moved'),
    remaining: by('pending') + by('migrating'),
    migrating: by('migrating'),
    unmovable: by('unmovable'),
    failed: by('failed'),
    skipped: by('skipped'),
    total: drain.vms.length,
  };
}

export async function render(main, ctx) {
  const status = h('p', { class: 'muted', 'data-testid': 'drains-status' });
  const hostSelect = h('select', { name: 'host', 'data-testid': 'drain-host' });
  const parallel = h('input', { type: 'number', name: 'max_parallel', min: 1, max: 64, value: 2, 'data-testid': 'drain-parallel' });
  const start = actionButton(ctx, {
    testid: 'start-drain', label: 'Drain host…', primary: true, confirmLabel: 'Drain',
    title: () => `Drain host ${hostSelect.value}?`,
    body: () => [
      h('p', {}, `${hostSelect.value} is cordoned and every VM on it is live-migrated away, at most ${parallel.value} at a time. ` +
        'VMs that cannot move are reported with the reason; the host stays cordoned until it is uncordoned.'),
    ],
    act: () => {
      if (!hostSelect.value) throw Object.assign(new Error('choose a host to drain'), { problem: { code: 'invalid_argument', field: 'host_id' } });
      return api('POST', `/v1/hosts/${encodeURIComponent(hostSelect.value)}/drain`, { max_parallel: Number(parallel.value) || 2 });
    },
    done: d => { toast(`Drain of ${d.host_id} started`); load(); },
  });
  const list = h('div', { 'data-testid': 'drains' });
  main.replaceChildren(h('h1', {}, 'Drains'),
    h('div', { class: 'toolbar' }, field('Host', hostSelect), field('Migrations at once', parallel), start),
    status, list);

  async function load() {
    try {
      const [drains, hosts] = await Promise.all([listAll('/v1/drains'), listAll('/v1/hosts')]);
      const byHost = new Map(hosts.map(x => [x.host_id, x]));
      const running = new Set(drains.filter(d => ACTIVE.has(d.state)).map(d => d.host_id));
      const chosen = hostSelect.value;
      hostSelect.replaceChildren(h('option', { value: '' }, 'choose a host…'),
        ...hosts.filter(x => !running.has(x.host_id)).map(x => h('option', { value: x.host_id },
          `${x.host_id} (${Object.keys(x.vms ?? {}).length} VMs, ${x.scheduling})`)));
      hostSelect.value = [...hostSelect.options].some(o => o.value === chosen) ? chosen : '';

      drains.sort((a, b) => (ACTIVE.has(b.state) - ACTIVE.has(a.state)) || b.started_at.localeCompare(a.started_at));
      list.replaceChildren(...drains.map(d => drainCard(d, byHost.get(d.host_id), ctx, load)));
      if (drains.length === 0) list.append(h('p', { class: 'muted' }, 'No host has been drained yet.'));
      sizeBars(list);
      status.textContent = `${running.size} running · updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}`;
      return running.size > 0;
    } catch (e) {
      status.replaceChildren(errorBox(e));
      return false;
    }
  }

  return follow(load, ['drain']);
}

function drainCard(d, host, ctx, reload) {
  const c = counts(d);
  const ended = !ACTIVE.has(d.state);
  const actions = [];
  if (d.state === 'running') {
    actions.push(actionButton(ctx, {
      testid: `abort-drain-${d.host_id}`, label: 'Abort…', confirmLabel: 'Abort drain',
      title: `Abort the drain of ${d.host_id}?`,
      body: h('p', {}, 'Queued migrations are cancelled; running ones finish or roll back. The host stays cordoned.'),
      act: () => api('POST', `/v1/hosts/${encodeURIComponent(d.host_id)}/drain/abort`),
      done: () => { toast(`Drain of ${d.host_id}: abort requested`); reload(); },
    }));
  }
  if (ended && host && host.scheduling !== 'schedulable') {
    actions.push(actionButton(ctx, {
      testid: `uncordon-${d.host_id}`, label: 'Uncordon…', confirmLabel: 'Uncordon',
      title: `Uncordon host ${d.host_id}?`,
      body: h('p', {}, 'The host takes new VMs and migrations again.'),
      act: () => api('POST', `/v1/hosts/${encodeURIComponent(d.host_id)}/uncordon`),
      done: () => { toast(`Host ${d.host_id}: uncordoned`); reload(); },
    }));
  }

  const steps = table(['VM', 'step', 'destination', 'migration', 'attempts', 'reason'],
    d.vms.map(v => h('tr', { 'data-vm': v.vm_id, 'data-state': v.state },
      h('td', {}, h('a', { href: `#/vms/${encodeURIComponent(v.vm_id)}` }, v.vm_id)),
      h('td', {}, badge(v.state)),
      h('td', { 'data-testid': `dest-${v.vm_id}` }, v.destination ?? '–'),
      h('td', {}, v.migration_id ? h('a', { href: `#/migrations/${encodeURIComponent(v.migration_id)}` }, v.migration_id) : '–'),
      h('td', { class: 'num' }, v.attempts),
      h('td', {}, v.reason ?? ''))), { class: 'steps', 'data-testid': `drain-vms-${d.host_id}` });

  return h('section', { class: 'card', 'data-drain': d.host_id },
    h('h2', {}, `Host ${d.host_id} `, h('span', { 'data-testid': `drain-state-${d.host_id}`, 'data-state': d.state }, badge(d.state)),
      host ? h('span', { class: 'muted' }, ` · host ${host.scheduling}`) : h('span', { class: 'muted' }, ' · host removed')),
    h('div', { class: 'figures', 'data-testid': `drain-figures-${d.host_id}` },
      figure('moved', c.moved), figure('remaining', c.remaining), figure('unmovable', c.unmovable), figure('failed', c.failed),
      c.skipped ? figure('skipped', c.skipped) : null,
      figure('rolled back', d.migrations_rolled_back ?? 0)),
    progress([[c.moved, 'moved', 'moved'], [c.migrating, 'migrating', 'migrating'], [c.remaining - c.migrating, 'pending', 'pending'],
      [c.unmovable, 'unmovable', 'unmovable'], [c.failed + c.skipped, 'failed', 'failed or skipped']], `drain-progress-${d.host_id}`),
    h('p', { class: 'muted' }, `started ${when(d.started_at)}`, d.ended_at ? ` · ended ${when(d.ended_at)}` : '',
      ` · by ${d.options?.requested_by ?? '–'} · ${d.options?.max_parallel ?? '–'} at a time`, d.note ? ` · ${d.note}` : ''),
    actions.length ? h('div', { class: 'actions' }, actions) : null,
    c.total ? steps : h('p', { class: 'muted' }, 'The host had no VMs to move.'));
}

function figure(label, n) {
  return h('span', { class: 'figure', 'data-figure': label.replace(/ /g, '_') }, h('strong', {}, String(n)), ` ${label}`);
}
