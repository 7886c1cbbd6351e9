// Campaigns: rolling firmware upgrades (GET /v1/campaigns) with their progress and each host's steps
// (waiting → draining → upgrading → verifying → done, or failed/skipped with the reason). Operators start a campaign,
// pause a running one and resume a paused one (the actions /v1/campaigns offers besides abort), each confirmed.
// Polled every 2 s while one runs, every 10 s otherwise.

import { api, listAll } from './api.js';
import { field } from './dialog.js';
import { badge, errorBox, h, sizeBars, table, toast, when } from './dom.js';
import { actionButton, follow, input, progress, values } from './ops.js';

const ACTIVE = new Set(['running', 'paused', 'cancelling']);
const STEPS = ['draining', 'upgrading', 'verifying', 'done'];
const STEP_LABELS = { draining: 'drain', upgrading: 'upgrade', verifying: 'verify', done: 'in service' };

export async function render(main, ctx) {
  const status = h('p', { class: 'muted', 'data-testid': 'campaigns-status' });
  const form = h('form', { class: 'toolbar', 'data-testid': 'campaign-form', onsubmit: e => e.preventDefault() },
    input('Firmware version', { name: 'firmware_version', required: true, placeholder: '2.6.0', 'data-testid': 'campaign-firmware' }),
    input('Label key', { name: 'selector_key', placeholder: 'every host', 'data-testid': 'campaign-key' }),
    input('Label value', { name: 'selector_value', 'data-testid': 'campaign-value' }),
    input('Hosts at once', { name: 'batch', type: 'number', min: 1, value: 1 }),
    input('Migrations at once', { name: 'max_parallel_migrations', type: 'number', min: 1, value: 4 }),
    actionButton(ctx, {
      testid: 'start-campaign', label: 'Start campaign…', primary: true, confirmLabel: 'Start',
      title: () => `Upgrade to firmware ${values(form).firmware_version ?? '?'}?`,
      body: () => {
        const v = values(form);
        return h('p', {}, `Every host ${v.selector_key ? `labelled ${v.selector_key}=${v.selector_value ?? ''}` : 'in the fleet'} below ` +
          `${v.firmware_version ?? '?'} is drained, upgraded, verified and put back in service, ${v.batch ?? 1} at a time.`);
      },
      act: () => {
        const v = values(form);
        return api('POST', '/v1/campaigns', {
          firmware_version: v.firmware_version ?? '', selector_key: v.selector_key, selector_value: v.selector_value,
          batch: v.batch, max_parallel_migrations: v.max_parallel_migrations,
        });
      },
      done: c => { toast(`Campaign ${c.campaign_id} started`); load(); },
    }));
  const list = h('div', { 'data-testid': 'campaigns' });
  main.replaceChildren(h('h1', {}, 'Campaigns'), form, status, list);

  async function load() {
    try {
      const campaigns = (await listAll('/v1/campaigns')).sort((a, b) => b.created_at.localeCompare(a.created_at));
      list.replaceChildren(...campaigns.map(c => campaignCard(c, ctx, load)));
      if (campaigns.length === 0) list.append(h('p', { class: 'muted' }, 'No campaign yet.'));
      sizeBars(list);
      const active = campaigns.filter(c => ACTIVE.has(c.state)).length;
      status.textContent = `${active} in progress · updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}`;
      return active > 0;
    } catch (e) {
      status.replaceChildren(errorBox(e));
      return false;
    }
  }

  return follow(load, ['campaign', 'drain']);
}

function campaignCard(c, ctx, reload) {
  const by = state => c.hosts.filter(x => x.state === state).length;
  const inFlight = by('draining') + by('upgrading') + by('verifying');
  const id = c.campaign_id;
  const actions = [];
  if (c.state === 'running') {
    const reason = h('input', { type: 'text', name: 'reason', placeholder: 'why (optional)', 'data-testid': 'pause-reason' });
    actions.push(actionButton(ctx, {
      testid: `pause-${id}`, label: 'Pause…', confirmLabel: 'Pause',
      title: `Pause campaign ${id}?`,
      body: [h('p', {}, 'No new host starts; hosts in progress finish their step.'), field('Reason', reason)],
      act: () => api('POST', `/v1/campaigns/${encodeURIComponent(id)}/pause`, reason.value.trim() ? { reason: reason.value.trim() } : undefined),
      done: () => { toast(`Campaign ${id} paused`); reload(); },
    }));
  }
  if (c.state === 'paused') {
    actions.push(actionButton(ctx, {
      testid: `resume-${id}`, label: 'Resume…', confirmLabel: 'Resume', primary: true,
      title: `Resume campaign ${id}?`,
      body: h('p', {}, 'Hosts start again, batch by batch, from where the campaign stopped.'),
      act: () => api('POST', `/v1/campaigns/${encodeURIComponent(id)}/resume`),
      done: () => { toast(`Campaign ${id} resumed`); reload(); },
    }));
  }

  const s = c.spec;
  return h('section', { class: 'card', 'data-campaign': id },
    h('h2', {}, `${id} `, h('span', { 'data-testid': `campaign-state-${id}`, 'data-state': c.state }, badge(c.state)),
      h('span', { class: 'muted' }, ` · to firmware ${s.firmware_version}`)),
    h('div', { class: 'figures' },
      h('span', { class: 'figure' }, h('strong', {}, `${by('done')} / ${c.hosts.length}`), ' hosts upgraded'),
      h('span', { class: 'figure' }, h('strong', {}, String(inFlight)), ' in progress'),
      h('span', { class: 'figure' }, h('strong', {}, `${by('failed')}`), ` failed (budget ${s.failure_budget})`),
      h('span', { class: 'figure' }, h('strong', {}, String(c.hosts.reduce((a, x) => a + x.vms_moved, 0))), ' VMs moved')),
    progress([[by('done'), 'moved', 'done'], [inFlight, 'migrating', 'in progress'], [by('waiting'), 'pending', 'waiting'],
      [by('failed'), 'failed', 'failed'], [by('skipped'), 'unmovable', 'skipped']], `campaign-progress-${id}`),
    h('p', { class: 'muted' },
      `${s.selector_key ? `hosts labelled ${s.selector_key}=${s.selector_value ?? ''}` : 'every host'} · ${s.batch} at a time · ` +
      `${s.max_parallel_migrations} migrations at once · by ${s.requested_by} · created ${when(c.created_at)}` +
      (c.ended_at ? ` · ended ${when(c.ended_at)}` : '') + (c.note ? ` · ${c.note}` : '')),
    actions.length ? h('div', { class: 'actions' }, actions) : null,
    c.hosts.length
      ? table(['host', 'steps', 'state', 'firmware', 'VMs moved', 'rolled back / failed', 'started', 'ended', 'reason'],
        c.hosts.map(x => h('tr', { 'data-host': x.host_id, 'data-state': x.state },
          h('td', {}, x.host_id),
          h('td', {}, stepTrack(x.state)),
          h('td', {}, badge(x.state)),
          h('td', {}, `${x.from_version} → ${s.firmware_version}`),
          h('td', { class: 'num' }, x.vms_moved),
          h('td', { class: 'num' }, `${x.migrations_rolled_back} / ${x.migrations_failed}`),
          h('td', {}, when(x.started_at)),
          h('td', {}, when(x.ended_at)),
          h('td', {}, [x.reason, ...(x.unmovable ?? [])].filter(Boolean).join('; ')))), { class: 'steps', 'data-testid': `campaign-hosts-${id}` })
      : h('p', { class: 'muted' }, 'No host matched the selector (or every one is already on the target version).'));
}

/** drain → upgrade → verify → done, the steps behind the host's state marked done, its own step marked current. */
function stepTrack(state) {
  const at = STEPS.indexOf(state);
  return h('ol', { class: 'stepper' }, STEPS.map((step, i) => h('li', {
    class: state === 'failed' || state === 'skipped' ? 'off' : i < at || state === 'done' ? 'done' : i === at ? 'current' : null,
  }, STEP_LABELS[step])));
}
