// One migration, live: GET /v1/migrations/{id} first, then its server-sent events (a whole status per event) until `end`.
// Shows the phase timeline, the pre-copy progress, and once completed what was inside the downtime: the final copy and
// each switchover step with its duration (steps run in parallel, so they overlap rather than add up).

import { api, followEvents } from './api.js';
import { badge, bytes, ENDED, errorBox, fmt, h, ms, phaseName, sizeBars, table, when } from './dom.js';
import { cancelButton } from './cancel.js';

export async function render(main, ctx, id) {
  const path = `/v1/migrations/${encodeURIComponent(id)}`;
  const first = await api('GET', path);
  const view = h('div', { 'data-testid': 'migration' });
  const stream = h('span', { class: 'muted', 'data-testid': 'stream-state' }, 'connecting…');
  const streamError = h('div');
  main.replaceChildren(h('p', {}, h('a', { href: '#/migrations' }, '← Migrations'), ' · event stream: ', stream), streamError, view);
  const show = status => { view.replaceChildren(...detail(status, ctx).flat(2).filter(Boolean)); sizeBars(view); };
  show(first);
  if (ENDED.has(first.phase)) { stream.textContent = 'ended'; return null; }

  const abort = new AbortController();
  followEvents(`${path}/events`, (name, data) => {
    if (name === 'status') show(data);
    else if (name === 'error') streamError.replaceChildren(errorBox({ status: data?.status, problem: data, message: data?.detail }));
  }, {
    signal: abort.signal,
    onState: state => { stream.textContent = state; if (state === 'live') streamError.replaceChildren(); },
  }).then(() => api('GET', path).then(show)).catch(e => { if (!abort.signal.aborted) streamError.replaceChildren(errorBox(e)); });
  return () => abort.abort();
}

function detail(m, ctx) {
  const policy = m.request.policy ?? 'default';
  return [
    h('h1', {}, `Migration ${m.migration_id} `, h('span', { 'data-testid': 'phase', 'data-phase': m.phase }, badge(phaseName(m.phase), m.phase))),
    h('dl', { class: 'facts' },
      h('dt', {}, 'VM'), h('dd', {}, h('a', { href: `#/vms/${encodeURIComponent(m.request.vm_id)}` }, m.request.vm_id)),
      h('dt', {}, 'from → to'), h('dd', { 'data-testid': 'route' }, `${m.source_host} → ${m.destination_host}`),
      h('dt', {}, 'policy · mode'), h('dd', {}, `${policy} · ${m.request.mode}`),
      h('dt', {}, 'requested by'), h('dd', {}, m.request.requested_by),
      h('dt', {}, 'started'), h('dd', {}, when(m.created_at)),
      h('dt', {}, 'total'), h('dd', {}, ms(m.total_ms)),
      h('dt', {}, 'attempts'), h('dd', {}, m.attempts)),
    ENDED.has(m.phase) || m.phase === 'post_migration' ? null : cancelButton(m, ctx),
    m.failure ? h('p', { class: 'error', 'data-testid': 'failure' }, m.failure) : null,
    m.agent_wait ? h('p', { class: 'warning' }, `Waiting for a host agent that does not answer: ${JSON.stringify(m.agent_wait)}`) : null,
    h('h2', {}, 'Phase timeline'),
    timeline(m),
    ENDED.has(m.phase) ? null : progress(m.progress),
    m.downtime ? downtime(m.downtime) : null,
    m.guest_check ? [h('h2', {}, 'Guest check'), h('p', { 'data-testid': 'guest-check' }, badge(m.guest_check.verdict), ' ', m.guest_check.detail ?? '')] : null,
    m.hypervisor ? [h('h2', {}, "The hypervisor's own figures"), keyValues(m.hypervisor)] : null,
  ];
}

function timeline(m) {
  const now = Date.now();
  const spans = (m.timeline ?? []).map(s => {
    const start = Date.parse(s.started_at);
    const end = s.ended_at ? Date.parse(s.ended_at) : ENDED.has(s.phase) ? start : now;
    return { ...s, start, duration: Math.max(0, end - start) };
  });
  const longest = Math.max(1, ...spans.map(s => s.duration));
  return h('ol', { class: 'timeline', 'data-testid': 'timeline' }, spans.map(s => h('li', { 'data-phase': s.phase, class: s.ended_at ? 'done' : 'open' },
    h('span', { class: 'name' }, badge(phaseName(s.phase), s.phase)),
    h('span', { class: 'track' }, h('span', { class: 'fill', 'data-pct': ((100 * s.duration) / longest).toFixed(1) })),
    h('span', { class: 'num' }, ENDED.has(s.phase) ? when(s.started_at) : `${fmt(s.duration)} ms${s.ended_at ? '' : ' …'}`))));
}

function progress(p) {
  if (!p || p.stage === 'none') return null;
  return [h('h2', {}, 'Progress'), h('dl', { class: 'facts', 'data-testid': 'progress' },
    h('dt', {}, 'stage · round'), h('dd', {}, `${p.stage} · ${p.round}`),
    h('dt', {}, 'sent · remaining'), h('dd', {}, `${bytes(p.bytes_sent)} · ${bytes(p.bytes_remaining)}`),
    h('dt', {}, 'dirty rate · bandwidth'), h('dd', {}, `${bytes(p.dirty_rate_bytes_per_second)}/s · ${bytes(p.bandwidth_bytes_per_second)}/s`),
    h('dt', {}, 'expected downtime · target'), h('dd', {}, `${ms(p.expected_downtime_ms)} · ${ms(p.downtime_target_ms)}`),
    h('dt', {}, 'ETA'), h('dd', {}, ms(p.eta_ms)))];
}

function downtime(d) {
  const steps = Object.entries(d.steps ?? {}).sort((a, b) => b[1] - a[1]);
  const scale = Math.max(d.downtime_ms, ...steps.map(([, v]) => v), 0.001);
  return [
    h('h2', {}, 'Inside the downtime'),
    h('p', { class: 'downtime', 'data-testid': 'downtime' }, h('strong', {}, ms(d.downtime_ms)),
      ' from the source pause to the destination resume'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'final copy (data plane)'), h('dd', {}, ms(d.data_plane_ms)),
      h('dt', {}, 'final copy size'), h('dd', {}, `${fmt(d.final_pages)} pages, ${bytes(d.final_bytes)} on the wire` +
        (d.compressed_bytes > 0 ? ` (${bytes(d.compressed_bytes)} of it LZ4-compressed page frames)` : '')),
      h('dt', {}, 'session-table delta'), h('dd', {}, `${fmt(d.session_delta_entries)} entries`)),
    table(['switchover step', 'duration', ''], steps.map(([name, v]) => h('tr', {},
      h('td', {}, name), h('td', { class: 'num' }, ms(v)),
      h('td', { class: 'steptrack' }, h('span', { class: 'track' }, h('span', { class: 'fill', 'data-pct': ((100 * v) / scale).toFixed(1) }))))), { 'data-testid': 'downtime-steps' }),
  ];
}

function keyValues(o) {
  return h('dl', { class: 'facts' }, Object.entries(o).filter(([, v]) => v !== null && typeof v !== 'object')
    .flatMap(([k, v]) => [h('dt', {}, k.replace(/_/g, ' ')), h('dd', {}, typeof v === 'number' ? fmt(v) : String(v))]));
}
