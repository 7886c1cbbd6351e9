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
 * Live: calls load() now, again after events named in `names` on GET /v1/events (the API's one fan-out sends every
 * drain's and campaign's progress as it changes), and every `slowMs` as a backstop should the stream be cut. One load at a
 * time and at most one every `minGapMs`: events that arrive meanwhile are folded into a single later load, so answers
 * never overlap or land out of order, and a busy fleet costs the API one page load per gap. Returns the stop function.
 */
export async function follow(load, names, { slowMs = 10000, minGapMs = 2000 } = {}) {
  const controller = new AbortController();
  let running = false;
  let dirty = false;
  let timer = 0;
  let last = 0;
  const run = async () => {
    if (controller.signal.aborted) return;
    if (running) { dirty = true; return; }
    const wait = last + minGapMs - Date.now();
    if (wait > 0) {
      if (!timer) timer = setTimeout(() => { timer = 0; run(); }, wait);
      return;
    }
    running = true;
    dirty = false;
    last = Date.now();
    try { await load(); } catch { /* the page shows its own error */ } finally { running = false; }
    if (dirty) run();
  };
  const backstop = setInterval(run, slowMs);
  await run();
  followEvents('/v1/events', name => { if (names.includes(name)) run(); }, { signal: controller.signal }).catch(() => {});
  return () => { controller.abort(); clearTimeout(timer); clearInterval(backstop); };
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
