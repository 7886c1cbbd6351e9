// Migrations: every migration the cluster knows, newest first; the active ones can be cancelled (rolled back).
// Refreshed every 2 s while any is active, every 10 s otherwise.

import { listAll } from './api.js';
import { badge, ENDED, errorBox, h, ms, phaseName, table, when } from './dom.js';
import { cancelButton } from './cancel.js';

export async function render(main, ctx) {
  const box = h('div');
  main.replaceChildren(h('h1', {}, 'Migrations'), box);
  let timer = 0;
  let stopped = false;
  const load = async () => {
    let active = false;
    try {
      const all = (await listAll('/v1/migrations')).sort((a, b) => b.created_at.localeCompare(a.created_at));
      active = all.some(m => !ENDED.has(m.phase));
      box.replaceChildren(table(['migration', 'VM', 'from → to', 'phase', 'requested by', 'started', 'total', 'downtime', ''],
        all.map(m => h('tr', { 'data-migration': m.migration_id },
          h('td', {}, h('a', { href: `#/migrations/${encodeURIComponent(m.migration_id)}` }, m.migration_id)),
          h('td', {}, h('a', { href: `#/vms/${encodeURIComponent(m.request.vm_id)}` }, m.request.vm_id)),
          h('td', {}, `${m.source_host} → ${m.destination_host}`),
          h('td', {}, badge(phaseName(m.phase), m.phase)),
          h('td', {}, m.request.requested_by),
          h('td', {}, when(m.created_at)),
          h('td', {}, ms(m.total_ms)),
          h('td', {}, ms(m.downtime?.downtime_ms)),
          h('td', {}, ENDED.has(m.phase) ? null : cancelButton(m, ctx, load)))), { class: 'migrations' }));
      if (all.length === 0) box.append(h('p', { class: 'muted' }, 'No migrations yet: start one from the fleet page.'));
    } catch (e) {
      box.replaceChildren(errorBox(e));
    }
    if (!stopped) timer = setTimeout(load, active ? 2000 : 10000);
  };
  await load();
  return () => { stopped = true; clearTimeout(timer); };
}
