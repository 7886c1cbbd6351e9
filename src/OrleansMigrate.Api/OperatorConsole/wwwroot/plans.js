// Plans: defragmentation and rebalancing plans. The API has no list of plans (a plan is a resource of its own, at
// /v1/plans/{id}), so this page lists the plans computed from this tab (their ids kept in its sessionStorage) and opens
// any other by id. Operators compute a plan (nothing moves) and apply one, confirmed. A plan's page shows its moves and
// how many it takes against the lower bound the planner proved (no plan can do with fewer); polled while it applies.

import { api } from './api.js';
import { field } from './dialog.js';
import { badge, errorBox, h, sizeBars, table, toast, when } from './dom.js';
import { actionButton, input, poll, progress, values } from './ops.js';

const RECENT = 'omig.recentPlans';
const recent = () => { try { return JSON.parse(sessionStorage.getItem(RECENT) ?? '[]'); } catch { return []; } };
function remember(id) { sessionStorage.setItem(RECENT, JSON.stringify([id, ...recent().filter(x => x !== id)].slice(0, 20))); }
const open = id => { location.hash = `#/plans/${encodeURIComponent(id)}`; };

export async function render(main, ctx, planId) {
  return planId ? renderPlan(main, ctx, planId) : renderList(main, ctx);
}

async function renderList(main, ctx) {
  const allowed = ctx.can('operate');
  const planButton = (testid, label) => h('button', {
    type: 'submit', class: 'primary', 'data-testid': testid, disabled: !allowed, title: allowed ? 'computes a plan; nothing moves until it is applied' : ctx.why('operate'),
  }, label);
  const error = h('div', { 'data-testid': 'plan-error' });
  const create = (path, toBody) => async e => {
    e.preventDefault();
    error.replaceChildren(h('p', { class: 'muted' }, 'Planning…'));
    try {
      const plan = await api('POST', path, toBody(values(e.target)));
      remember(plan.plan_id);
      toast(`Plan ${plan.plan_id}: ${plan.moves.length} move${plan.moves.length === 1 ? '' : 's'}`);
      open(plan.plan_id);
    } catch (x) {
      error.replaceChildren(errorBox(x));
    }
  };
  const defrag = h('form', { class: 'toolbar', 'data-testid': 'defrag-form', onsubmit: create('/v1/plans/defrag', v => ({
    vcpus: v.vcpus, memory_mib: v.memory_mib, count: v.count,
    required_cpu_features: v.required_cpu_features ? v.required_cpu_features.split(',').map(x => x.trim()).filter(Boolean) : null,
  })) },
  h('strong', {}, 'Defrag: make room for'),
  input('instances', { name: 'count', type: 'number', min: 1, value: 1, 'data-testid': 'defrag-count' }),
  input('vCPUs', { name: 'vcpus', type: 'number', min: 1, required: true, 'data-testid': 'defrag-vcpus' }),
  input('memory (MiB)', { name: 'memory_mib', type: 'number', min: 1, required: true, 'data-testid': 'defrag-memory' }),
  input('CPU features', { name: 'required_cpu_features', placeholder: 'avx, …', 'data-testid': 'defrag-features' }));
  defrag.append(planButton('plan-defrag', 'Plan defrag'));
  const balance = h('form', { class: 'toolbar', 'data-testid': 'balance-form', onsubmit: create('/v1/plans/balance', v => ({
    max_util: v.max_util, cool_down_minutes: v.cool_down_minutes,
  })) },
  h('strong', {}, 'Balance: every host at most'),
  input('utilisation (0–1]', { name: 'max_util', type: 'number', min: 0.01, max: 1, step: 0.01, value: 0.8, required: true }),
  input('cool-down (min)', { name: 'cool_down_minutes', type: 'number', min: 0, value: 60 }),
  planButton('plan-balance', 'Plan balance'));
  const goTo = h('form', { class: 'toolbar', onsubmit: e => { e.preventDefault(); const v = values(e.target); if (v.plan_id) open(v.plan_id); } },
    input('Plan id', { name: 'plan_id', placeholder: 'defrag-… or balance-…', 'data-testid': 'open-plan-id' }),
    h('button', { type: 'submit' }, 'Open'));

  const list = h('div', { 'data-testid': 'recent-plans' });
  main.replaceChildren(h('h1', {}, 'Plans'), defrag, balance, error, goTo, h('h2', {}, 'Plans from this tab'), list);

  const ids = recent();
  if (ids.length === 0) {
    list.append(h('p', { class: 'muted' }, 'None yet: compute one above, or open one by id (the CLI prints it: omig plan …).'));
    return null;
  }
  const plans = await Promise.all(ids.map(id => api('GET', `/v1/plans/${encodeURIComponent(id)}`).catch(e => ({ plan_id: id, error: e }))));
  list.replaceChildren(table(['plan', 'kind', 'goal', 'state', 'moves', 'lower bound', 'created'], plans.map(p => p.error
    ? h('tr', {}, h('td', {}, p.plan_id), h('td', { colspan: 6 }, errorBox(p.error)))
    : h('tr', { 'data-plan': p.plan_id },
      h('td', {}, h('a', { href: `#/plans/${encodeURIComponent(p.plan_id)}` }, p.plan_id)),
      h('td', {}, p.kind), h('td', {}, p.goal), h('td', {}, badge(p.state)),
      h('td', { class: 'num' }, p.moves.length), h('td', { class: 'num' }, p.lower_bound ?? '–'), h('td', {}, when(p.created_at))))));
  return null;
}

async function renderPlan(main, ctx, planId) {
  const box = h('div');
  main.replaceChildren(h('p', {}, h('a', { href: '#/plans' }, '← Plans')), box);
  const load = async () => {
    try {
      const plan = await api('GET', `/v1/plans/${encodeURIComponent(planId)}`);
      remember(plan.plan_id);
      box.replaceChildren(...planView(plan, ctx, load));
      sizeBars(box);
      return plan.state === 'applying';
    } catch (e) {
      box.replaceChildren(errorBox(e));
      return false;
    }
  };
  return poll(load);
}

function planView(p, ctx, reload) {
  const by = state => p.moves.filter(m => m.state === state).length;
  const parallel = h('input', { type: 'number', name: 'max_parallel', min: 1, max: 64, value: 4, 'data-testid': 'apply-parallel' });
  return [
    h('h1', {}, `Plan ${p.plan_id} `, h('span', { 'data-testid': 'plan-state', 'data-state': p.state }, badge(p.state))),
    h('dl', { class: 'facts' },
      h('dt', {}, 'kind'), h('dd', {}, p.kind),
      h('dt', {}, 'goal'), h('dd', {}, p.goal),
      h('dt', {}, 'goal reached by the plan'), h('dd', {}, p.reached ? 'yes' : 'no (see the notes)'),
      h('dt', {}, 'moves against the lower bound'), h('dd', { 'data-testid': 'plan-bound' }, boundFigure(p)),
      h('dt', {}, 'computed in'), h('dd', {}, `${(p.plan_seconds * 1000).toLocaleString('en-US', { maximumFractionDigits: 1 })} ms`),
      h('dt', {}, 'created'), h('dd', {}, when(p.created_at)),
      h('dt', {}, 'ended'), h('dd', {}, when(p.ended_at))),
    p.moves.length
      ? progress([[by('done'), 'moved', 'done'], [by('migrating'), 'migrating', 'migrating'], [by('pending'), 'pending', 'pending'],
        [by('failed'), 'failed', 'failed']], 'plan-progress')
      : null,
    p.state === 'planned' && p.moves.length
      ? h('div', { class: 'actions' }, actionButton(ctx, {
        testid: 'apply-plan', label: 'Apply…', primary: true, confirmLabel: 'Apply plan',
        title: `Apply plan ${p.plan_id}?`,
        body: () => [h('p', {}, `${p.moves.length} live migrations run in plan order.`), field('Migrations at once', parallel)],
        act: () => api('POST', `/v1/plans/${encodeURIComponent(p.plan_id)}/apply`, { max_parallel: Number(parallel.value) || 4 }),
        done: () => { toast(`Plan ${p.plan_id}: applying`); reload(); },
      }))
      : null,
    h('h2', {}, `Moves (${p.moves.length})`),
    p.moves.length
      ? table(['#', 'VM', 'from → to', 'policy', 'state', 'migration', 'attempts', 'reason'], p.moves.map((m, i) => h('tr', { 'data-vm': m.vm_id, 'data-state': m.state },
        h('td', { class: 'num' }, i + 1),
        h('td', {}, h('a', { href: `#/vms/${encodeURIComponent(m.vm_id)}` }, m.vm_id)),
        h('td', {}, `${m.from_host} → ${m.to_host}`),
        h('td', {}, m.policy),
        h('td', {}, badge(m.state)),
        h('td', {}, m.migration_id ? h('a', { href: `#/migrations/${encodeURIComponent(m.migration_id)}` }, m.migration_id) : '–'),
        h('td', { class: 'num' }, m.attempts),
        h('td', {}, m.reason ?? ''))), { class: 'steps', 'data-testid': 'plan-moves' })
      : h('p', { class: 'muted' }, 'No move needed (or none possible: see the notes).'),
    p.notes?.length ? h('div', {}, h('h2', {}, 'Notes'), h('ul', { 'data-testid': 'plan-notes' }, p.notes.map(n => h('li', {}, n)))) : null,
  ];
}

/** "3 moves · lower bound 3 (optimal)"; a balance plan has no bound. */
function boundFigure(p) {
  const n = p.moves.length;
  const moves = h('strong', { 'data-testid': 'plan-move-count' }, String(n));
  if (p.lower_bound === null || p.lower_bound === undefined) return [moves, ` move${n === 1 ? '' : 's'} · no lower bound for a ${p.kind} plan`];
  const gap = n - p.lower_bound;
  return [moves, ` move${n === 1 ? '' : 's'} · lower bound `, h('strong', { 'data-testid': 'plan-lower-bound' }, String(p.lower_bound)),
    h('span', { class: gap === 0 ? 'ok' : 'warning' }, gap === 0 ? ' (optimal: no plan can do with fewer)' : ` (${gap} above the bound)`)];
}
