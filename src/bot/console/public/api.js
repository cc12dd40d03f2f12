/*
 * signoff console: talking to the server. The console token, JSON requests, artifact URLs and
 * the live event stream.
 */
import { $ } from './dom.js';
import { state } from './state.js';

export async function api(path, { method = 'GET', body } = {}) {
  try {
    const res = await fetch(path, {
      method,
      headers: { 'x-console-token': state.token, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const data = await res.json().catch(() => null);
    if (res.status === 401) showFatal(data?.message ?? 'The console token was not accepted. Open the URL signoff printed at start.');
    return { status: res.status, data };
  } catch (error) {
    return { status: 0, data: { ok: false, text: `Could not reach signoff: ${error.message}` } };
  }
}

export function showFatal(text) {
  const el = $('#fatal');
  el.textContent = text;
  el.hidden = false;
}

/** The token comes in the URL once; it is then kept in sessionStorage and dropped from the address bar. */
export function readToken() {
  const params = new URLSearchParams(location.search);
  const given = params.get('token');
  if (given) {
    sessionStorage.setItem('signoff.token', given);
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
    return given;
  }
  return sessionStorage.getItem('signoff.token') ?? '';
}

export const artifactUrl = (id, download = false) => `/console/api/artifacts/${id}?token=${encodeURIComponent(state.token)}${download ? '&download=1' : ''}`;

/** The live stream: every update after state.lastEventId goes to onUpdate. */
export function connect(onUpdate) {
  state.source?.close();
  const es = new EventSource(`/console/api/stream?after=${state.lastEventId}&token=${encodeURIComponent(state.token)}`);
  state.source = es;
  es.addEventListener('open', () => setConnection('open'));
  es.addEventListener('error', () => {
    setConnection('reconnecting');
    // EventSource retries by itself (with Last-Event-ID) unless the server refused it outright.
    if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (state.source === es) connect(onUpdate); }, 3000);
  });
  es.addEventListener('update', (e) => {
    let update;
    try { update = JSON.parse(e.data); } catch { return; }
    onUpdate(update);
  });
}

function setConnection(s) {
  const el = $('#connection');
  el.dataset.state = s;
  el.textContent = s === 'open' ? 'live' : 'reconnecting…';
}
