// Policies: the migration policies the cluster is configured with (GET /v1/policies).

import { listAll } from './api.js';
import { bytes, h, ms, table } from './dom.js';

export async function render(main) {
  const policies = await listAll('/v1/policies');
  main.replaceChildren(h('h1', {}, 'Migration policies'),
    table(['policy', 'downtime target', 'max target', 'link cap', 'compression', 'timeout / GiB', 'stall', 'on timeout', 'on stall', 'auto-converge', 'channels', 'live', 'window (UTC)'],
      policies.map(p => h('tr', { 'data-policy': p.name },
        h('td', {}, h('strong', {}, p.name)),
        h('td', {}, ms(p.downtime_target_ms)),
        h('td', {}, ms(p.max_downtime_target_ms)),
        h('td', {}, p.link_bandwidth_bytes_per_second > 0 ? `${bytes(p.link_bandwidth_bytes_per_second)}/s` : 'none'),
        h('td', {}, p.compression),
        h('td', {}, ms(p.completion_timeout_ms_per_gib)),
        h('td', {}, ms(p.stall_ms)),
        h('td', {}, p.on_timeout),
        h('td', {}, p.on_stall),
        h('td', {}, p.auto_converge ? 'yes' : 'no'),
        h('td', {}, p.migration_channels > 1 ? `${p.migration_channels} (multifd)` : '1'),
        h('td', {}, p.live_migrate ? 'yes' : 'no (cold move)'),
        h('td', {}, p.maintenance_window_utc ?? 'any time'))), { class: 'policies' }));
}
