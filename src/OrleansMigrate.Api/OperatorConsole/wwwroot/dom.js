// DOM helpers: everything the API returns goes into text nodes and attributes, never into innerHTML.

/** h('td', { class: 'num' }, 'text', child…): an element; null/false children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function table(headers, rows, attrs = {}) {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map(x => h('th', {}, x)))), h('tbody', {}, rows));
}

/** A used/reserved/total bar: used first, reserved (migrations in flight) hatched after it. */
export function bar(used, reserved, total, unit, testid) {
  const pct = v => (total > 0 ? Math.min(100, (100 * v) / total) : 0);
  return h('div', { class: 'bar', 'data-testid': testid, title: `${used} used + ${reserved} reserved of ${total} ${unit}` },
    h('span', { class: 'used', style: null, 'data-pct': pct(used).toFixed(1) }),
    h('span', { class: 'reserved', 'data-pct': pct(reserved).toFixed(1) }),
    h('em', {}, `${fmt(used + reserved)} / ${fmt(total)} ${unit}` + (reserved > 0 ? ` (${fmt(reserved)} reserved)` : '')));
}

/** Widths from data-pct (the CSP forbids inline style attributes, so they are set through the CSSOM). */
export function sizeBars(root) {
  for (const el of root.querySelectorAll('[data-pct]')) el.style.width = `${el.dataset.pct}%`;
}

export function badge(text, kind = text) {
  return h('span', { class: `badge ${String(kind).replace(/[^a-z_-]/gi, '')}` }, text);
}

export function fmt(n) { return typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 1 }) : String(n ?? '–'); }

export function ms(n) { return n === null || n === undefined ? '–' : `${n.toLocaleString('en-US', { maximumFractionDigits: 1 })} ms`; }

export function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toLocaleString('en-US', { maximumFractionDigits: 1 })} ${units[i]}`;
}

export function when(iso) { return iso ? new Date(iso).toLocaleString('en-GB', { hour12: false }) : '–'; }

export function phaseName(phase) { return String(phase ?? '').replace(/_/g, ' '); }

export const ENDED = new Set(['completed', 'rolled_back', 'failed']);

/** An error as the page shows it: the problem's detail, its code and the field at fault. */
export function errorBox(e) {
  const p = e?.problem ?? {};
  return h('p', { class: 'error', role: 'alert', 'data-testid': 'error' },
    `${e?.status ? `${e.status} ` : ''}${p.code ?? 'error'}${p.field ? ` (${p.field})` : ''}: ${e?.message ?? e}`);
}

let toastTimer = 0;
export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
}
