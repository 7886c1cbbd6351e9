// The console's only way to the control plane: the /v1 HTTP API with the operator's bearer key.
// The key lives in sessionStorage (this tab, until it closes), never in a cookie or the URL.

const KEY = 'omig.apiKey';

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  signIn(key) { sessionStorage.setItem(KEY, key); },
  signOut() { sessionStorage.removeItem(KEY); },
};

/** A refused or failed call, carrying the API's problem+json (code, field, detail). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
  }
  get code() { return this.problem.code ?? `http_${this.status}`; }
}

/** Called with the error when the API answers 401: the app shows the sign-in form again. */
let onUnauthenticated = () => {};
export function whenUnauthenticated(handler) { onUnauthenticated = handler; }

// crypto.randomUUID needs a secure context; getRandomValues does not (a console opened over plain http on a LAN address).
function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'console-' + Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}

/** One call. Mutations carry an Idempotency-Key, so a retried click never does the thing twice. */
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.key ?? ''}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['Idempotency-Key'] = idempotencyKey();
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, { code: 'unreachable', detail: `the API did not answer (${e.message})` });
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) {
    const error = new ApiError(response.status, json ?? { detail: `${response.status} ${response.statusText}` });
    if (response.status === 401) onUnauthenticated(error);
    throw error;
  }
  return json;
}

/** Every item of a paged list (bounded: at most 50 pages of 1000). */
export async function listAll(path) {
  const items = [];
  let next = null;
  for (let page = 0; page < 50; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const answer = await api('GET', `${path}${sep}limit=1000${next ? `&continuation=${encodeURIComponent(next)}` : ''}`);
    items.push(...answer.items);
    next = answer.next;
    if (!next) break;
  }
  return items;
}

/**
 * Follows a server-sent-event stream with the bearer key (EventSource cannot send an Authorization header, so this reads
 * the stream with fetch). Calls onEvent(name, data) per event; reconnects with Last-Event-ID after a cut (an `error` event
 * or a dropped connection), at most `maxReconnects` times in a row; resolves when `end` arrives or `signal` aborts.
 */
export async function followEvents(path, onEvent, { signal, maxReconnects = 10, onState = () => {} } = {}) {
  let lastId = null;
  let failures = 0;
  while (!signal?.aborted) {
    const headers = { Authorization: `Bearer ${session.key ?? ''}`, Accept: 'text/event-stream' };
    if (lastId !== null) headers['Last-Event-ID'] = lastId;
    let ended = false;
    try {
      const response = await fetch(path, { headers, signal, cache: 'no-store' });
      if (!response.ok) {
        const problem = await response.json().catch(() => null);
        const error = new ApiError(response.status, problem);
        if (response.status === 401) onUnauthenticated(error);
        throw error;
      }
      onState('live');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = parseEvent(block);
          if (event.id !== null) lastId = event.id;
          if (event.name === 'end') { ended = true; onEvent('end', null); break; }
          if (event.data !== '') onEvent(event.name, JSON.parse(event.data));
          failures = 0;
        }
        if (ended) { reader.cancel().catch(() => {}); break; }
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) { onState('failed', e); throw e; }
    }
    if (ended) { onState('ended'); return; }
    if (++failures > maxReconnects) {
      onState('failed');
      throw new ApiError(0, { code: 'unavailable', detail: `the event stream was cut ${failures} times in a row; reload to try again` });
    }
    onState('reconnecting');
    await new Promise(resolve => setTimeout(resolve, Math.min(500 * failures, 5000)));
  }
}

function parseEvent(block) {
  const event = { id: null, name: 'message', data: '' };
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') event.id = value;
    else if (field === 'event') event.name = value;
    else if (field === 'data') data.push(value);
  }
  event.data = data.join('\n');
  return event;
}
