// The console's shell: sign-in, the caller's role (GET /v1/me), hash routing to one page at a time.
// Each page is a module exporting render(main, ctx, ...params) that may return a stop function (timers, event streams).

import { api, session, whenUnauthenticated } from './api.js';
import { errorBox, h, toast } from './dom.js';
import * as fleet from './fleet.js';
import * as vm from './vm.js';
import * as migrations from './migrations.js';
import * as migration from './migration.js';
import * as audit from './audit.js';
import * as policies from './policies.js';
import * as drains from './drains.js';
import * as campaigns from './campaigns.js';
import * as plans from './plans.js';

const routes = [
  [/^#\/fleet$/, fleet, 'fleet'],
  [/^#\/vms\/([^/]+)$/, vm, 'fleet'],
  [/^#\/migrations$/, migrations, 'migrations'],
  [/^#\/migrations\/([^/]+)$/, migration, 'migrations'],
  [/^#\/audit$/, audit, 'audit'],
  [/^#\/policies$/, policies, 'policies'],
  [/^#\/drains$/, drains, 'drains'],
  [/^#\/campaigns$/, campaigns, 'campaigns'],
  [/^#\/plans$/, plans, 'plans'],
  [/^#\/plans\/([^/]+)$/, plans, 'plans'],
];

const ROLE_RANK = { viewer: 0, 'cloud-service': 1, operator: 2 };

/** What the signed-in key may do; the API checks again on every call (403 for anything else). */
const ctx = {
  caller: null,
  can(action) {
    const rank = ROLE_RANK[this.caller?.role] ?? -1;
    return action === 'migrate' ? rank >= 1 : rank >= 2;
  },
  why(action) { return action === 'migrate' ? 'needs the cloud-service or operator role' : 'needs the operator role'; },
};

let stopPage = null;

async function route() {
  if (stopPage) { stopPage(); stopPage = null; }
  const main = document.getElementById('main');
  if (!ctx.caller) return;
  const hash = location.hash || '#/fleet';
  const match = routes.map(([re, page, nav]) => [hash.match(re), page, nav]).find(([m]) => m);
  if (!match) { location.hash = '#/fleet'; return; }
  const [m, page, nav] = match;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === nav);
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    stopPage = (await page.render(main, ctx, ...m.slice(1).map(decodeURIComponent))) ?? null;
  } catch (e) {
    main.replaceChildren(errorBox(e));
  }
}

function showLogin(message) {
  ctx.caller = null;
  if (stopPage) { stopPage(); stopPage = null; }
  document.getElementById('main').replaceChildren();
  document.getElementById('nav').hidden = true;
  document.getElementById('sign-out').hidden = true;
  document.getElementById('who').textContent = '';
  document.getElementById('login').hidden = false;
  document.getElementById('login-error').textContent = message ?? '';
  document.getElementById('api-key').focus();
}

async function signIn() {
  try {
    ctx.caller = await api('GET', '/v1/me');
  } catch (e) {
    session.signOut();
    showLogin(e.status === 401 ? 'That key was not accepted (401).' : `${e.problem?.code ?? 'error'}: ${e.message}`);
    return;
  }
  document.getElementById('login').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('sign-out').hidden = false;
  const who = document.getElementById('who');
  who.textContent = `${ctx.caller.name} · ${ctx.caller.role}`;
  who.dataset.role = ctx.caller.role;
  showDashboardLink();
  await route();
}

// The Orleans dashboard (when the API mounts it; operators only): its own pages cannot send the bearer key, so the link
// first asks the API for a dashboard session (an HttpOnly cookie scoped to /dashboard), then opens the dashboard.
const dashboardLink = document.getElementById('nav-dashboard');
function showDashboardLink() {
  const url = ctx.caller?.role === 'operator' ? ctx.caller?.dashboard : null;
  dashboardLink.hidden = !url;
  if (url) dashboardLink.href = url;
}
dashboardLink.addEventListener('click', async event => {
  event.preventDefault();
  try {
    await api('POST', '/v1/session');
  } catch (e) {
    toast(`Dashboard: ${e.problem?.code ?? 'error'}: ${e.message}`);
    return;
  }
  window.open(dashboardLink.href, '_blank', 'noopener,noreferrer');
});

whenUnauthenticated(() => { session.signOut(); showLogin('The API no longer accepts this key (401): sign in again.'); });

document.getElementById('login-form').addEventListener('submit', event => {
  event.preventDefault();
  const input = document.getElementById('api-key');
  session.signIn(input.value.trim());
  input.value = '';
  signIn();
});
document.getElementById('sign-out').addEventListener('click', () => {
  // Ends this key's dashboard sessions too (best effort: the key is forgotten either way).
  if (ctx.caller?.dashboard) api('DELETE', '/v1/session').catch(() => {});
  session.signOut();
  showLogin();
});
window.addEventListener('hashchange', route);

if (session.key) signIn(); else showLogin();
