// Shared by the drains, campaigns and plans pages: a bounded poller, a follower of the fleet event stream, an operator action behind the confirmation dialog,
// a segmented progress bar and a small form builder.

import { followEvents } from './api.js';
import { confirmAction } from './dialog.js';
import { h, toast } from './dom.js';

/**
 * Calls load() now and again after each answer: every `fastMs` while it returns true (something is in progress), every
 * `slowMs` otherwise. One request at a time, never more often than `fastMs`; returns the stop function a page returns.
 */
export async function poll(load, { fastMs = 2000, slowMs = 10000 } = {}) {
  let timer = 0;
  let stopped = false;
  const tick = async () => {
    let busy = false;
    try { busy = await load(); } catch { busy = false; }
    if (!stopped) timer = setTimeout(tick, busy ? fastMs : slowMs);
  };
  await tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/**
 * Live: calls load() now, again shortly after each event named in `names` on GET /v1/events (the API's one fan-out sends
 * every drain's and campaign's progress as it changes; bursts are folded into one reload), and every `slowMs` as a
 * backstop should the stream be cut. Returns the stop function a page returns.
 */
export async function follow(load, names, { slowMs = 10000, debounceMs = 250 } = {}) {
  const controller = new AbortController();
  let pending = 0;
  const stopPoll = await poll(load, { fastMs: slowMs, slowMs });
  followEvents('/v1/events', name => {
    if (!names.includes(name) || pending) return;
    pending = setTimeout(() => { pending = 0; load(); }, debounceMs);
  }, { signal: controller.signal, maxReconnects: 1000 }).catch(() => {});
  return () => { controller.abort(); clearTimeout(pending); stopPoll(); };
}

/**
 * A button for an operator action: disabled with the reason for a key without the role (the API refuses it anyway),
 * otherwise it opens the confirmation dialog; `act` runs on Confirm and the dialog shows the API's refusal, if any.
 */
export function actionButton(ctx, { testid, label, title, body, confirmLabel, act, done, primary = false }) {
  const allowed = ctx.can('operate');
  return h('button', {
    type: 'button', class: primary ? 'primary' : null, 'data-testid': testid, disabled: !allowed, title: allowed ? null : ctx.why('operate'),
    onclick: () => confirmAction({ title: typeof title === 'function' ? title() : title, body: typeof body === 'function' ? body() : body, confirmLabel: confirmLabel ?? label, act })
      .then(result => { if (result) { if (done) done(result); } }),
  }, label);
}

/** Segments (e.g. moved / failed / remaining) of one bar, each `[count, className, label]`; the total is their sum. */
export function progress(segments, testid) {
  const total = segments.reduce((a, [n]) => a + n, 0);
  const text = segments.filter(([n]) => n > 0).map(([n, , label]) => `${n} ${label}`).join(' · ') || 'nothing to do';
  return h('div', { class: 'progress', 'data-testid': testid, title: text },
    segments.map(([n, cls]) => h('span', { class: `seg ${cls}`, 'data-pct': total > 0 ? ((100 * n) / total).toFixed(1) : '0' })),
    h('em', {}, text));
}

/** A labelled input; `attrs` go onto the input (name, type, value, min, required, placeholder…). */
export function input(label, attrs) {
  return h('label', { class: 'field inline' }, label, h('input', { type: 'text', autocomplete: 'off', ...attrs }));
}

/** The form's values by input name: numbers for type=number (empty: null), trimmed strings (empty: null) otherwise. */
export function values(form) {
  const out = {};
  for (const el of form.querySelectorAll('input, select')) {
    if (!el.name) continue;
    const v = el.value.trim();
    out[el.name] = v === '' ? null : el.type === 'number' ? Number(v) : v;
  }
  return out;
}

export { toast };
