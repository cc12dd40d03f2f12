'use strict';
/*
 * signoff console: the browser side. Plain JS, no build step. Every piece of server text is
 * inserted with textContent (or as SVG text); the page's CSP allows only this script and app.css.
 */

// ---------------------------------------------------------------- state

const state = {
  token: '', users: [], pipelines: [], help: '', actingAs: '',
  offset: 0, // serverNow - Date.now(): countdowns use the server's clock
  lastEventId: 0,
  jobs: new Map(), // jobId -> entry {id, status, gates, timeline, el, refs, itemEls, gateEls, expanded}
  pending: new Map(), // jobId -> updates that arrived while the job was being fetched
  history: [], historyPos: 0, draft: '', // the command box's recall
  source: null, rejecting: null, ticks: 0, stick: true,
};
const excerpts = new Map(); // artifact id -> Promise<string>
const FINISHED = new Set(['succeeded', 'failed', 'rejected', 'cancelled']);
const OPEN_BARS = new Set(['running', 'retry_wait', 'pending', 'held']);
const GATE_LABEL = { pending: 'Waiting', held: 'Held', approved: 'Approved', rejected: 'Rejected', expired: 'Expired', cancelled: 'Cancelled' };
const ACTION_LABEL = { approve: 'Approve', reject: 'Reject…', hold: 'Hold' };
const SVG_NS = 'http://www.w3.org/2000/svg';
const $ = (sel, root = document) => root.querySelector(sel);

// ---------------------------------------------------------------- small helpers

const present = (list) => list.flat().filter((c) => c !== null && c !== undefined && c !== false);

/** Builds an element: attrs `class`, `text` (as textContent), `on<event>`, others as attributes. */
function make(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...present(children));
  return el;
}

const h = (tag, attrs = {}, ...children) => make(document.createElement(tag), attrs, children);
const svg = (tag, attrs = {}, ...children) => make(document.createElementNS(SVG_NS, tag), attrs, children);
/** Replaces an element's children, skipping null/false ones. */
const fill = (el, ...children) => el.replaceChildren(...present(children));

const serverNow = () => Date.now() + state.offset;
const pad = (n) => String(n).padStart(2, '0');

/** A countdown: "0:27", "23:59:58". */
function fmtClock(ms) {
  const t = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return hours ? `${hours}:${pad(m)}:${pad(t % 60)}` : `${m}:${pad(t % 60)}`;
}

/** A duration: "850ms", "12s", "2m 5s", "3h 4m", "2d 1h". */
function fmtDuration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return m % 60 ? `${hrs}h ${m % 60}m` : `${hrs}h`;
  return hrs % 24 ? `${Math.floor(hrs / 24)}d ${hrs % 24}h` : `${Math.floor(hrs / 24)}d`;
}

const fmtTime = (at) => new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const fmtFull = (at) => new Date(at).toLocaleString();
const timeEl = (at, cls = 'msg-time') => h('time', { class: cls, datetime: new Date(at).toISOString(), title: fmtFull(at), text: fmtTime(at) });

/** Re-renders `root` without losing keyboard focus: the same action button (or root) gets it back. */
function keepFocus(root, render) {
  const active = document.activeElement;
  const action = active && active !== root && root.contains(active) ? active.dataset.action ?? '' : null;
  render();
  if (action !== null) (root.querySelector(`[data-action="${CSS.escape(action)}"]`) ?? root).focus({ preventScroll: true });
}

function fmtSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function initials(name) {
  const parts = String(name).split(/[\s._-]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : String(name).slice(0, 2);
  return letters.toUpperCase();
}

/** A person's avatar: initials on a colour derived from the name. */
function avatar(name, extra = '') {
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  const el = h('span', { class: `avatar ${extra}`.trim(), 'aria-hidden': 'true', text: initials(name) });
  el.style.setProperty('--avatar-hue', String(hash % 360));
  return el;
}

const botAvatar = () => h('span', { class: 'avatar avatar-bot', 'aria-hidden': 'true', text: '✓' });
const gateKeyOf = (g) => `${g.stage}#${g.round}`;
const artifactUrl = (id, download = false) => `/console/api/artifacts/${id}?token=${encodeURIComponent(state.token)}${download ? '&download=1' : ''}`;

/** Chat scrolling: while the reader is at the bottom, the channel stays there as content grows. */
function wireScrolling() {
  const c = $('#channel');
  c.addEventListener('scroll', () => { state.stick = c.scrollHeight - c.scrollTop - c.clientHeight < 120; }, { passive: true });
  new ResizeObserver(() => { if (state.stick) c.scrollTop = c.scrollHeight; }).observe($('.channel-inner'));
}

const scrollToBottom = () => { const c = $('#channel'); state.stick = true; c.scrollTop = c.scrollHeight; };

// ---------------------------------------------------------------- server

async function api(path, { method = 'GET', body } = {}) {
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

function showFatal(text) {
  const el = $('#fatal');
  el.textContent = text;
  el.hidden = false;
}

/** The token comes in the URL once; it is then kept in sessionStorage and dropped from the address bar. */
function readToken() {
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

// ---------------------------------------------------------------- acting as

function renderUsers() {
  const sel = $('#acting-as');
  sel.replaceChildren(...state.users.map((u) => h('option', { value: u.name, text: `${u.name} (${u.groups.join(', ') || 'no group'})` })));
  const saved = localStorage.getItem('signoff.actingAs');
  state.actingAs = state.users.some((u) => u.name === saved) ? saved : state.users[0]?.name ?? '';
  sel.value = state.actingAs;
  sel.addEventListener('change', () => {
    state.actingAs = sel.value;
    localStorage.setItem('signoff.actingAs', sel.value);
    renderMe();
  });
  renderMe();
}

function renderMe() {
  for (const id of ['acting-avatar', 'composer-avatar']) {
    const old = document.getElementById(id);
    const next = avatar(state.actingAs || '?', old.classList.contains('avatar-sm') ? 'avatar-sm' : '');
    next.id = id;
    old.replaceWith(next);
  }
  const user = state.users.find((u) => u.name === state.actingAs);
  $('#command').setAttribute('aria-label', `Command, sent as ${state.actingAs}`);
  $('#composer-hint').textContent = `Sending as ${state.actingAs}${user?.groups.length ? ` (${user.groups.join(', ')})` : ''} · Enter sends · ↑ recalls the previous command · answers appear only to you`;
}

// ---------------------------------------------------------------- jobs

function addJob(thread, { expanded = true } = {}) {
  const id = thread.status.jobId;
  if (state.jobs.has(id)) return state.jobs.get(id);
  const entry = { id, status: thread.status, gates: { ...thread.gates }, timeline: thread.timeline, itemEls: new Map(), gateEls: new Map(), expanded, refs: {} };
  entry.el = buildJob(entry);
  const after = [...state.jobs.keys()].filter((k) => k > id).sort((a, b) => a - b)[0];
  $('#jobs').insertBefore(entry.el, after === undefined ? null : state.jobs.get(after).el);
  state.jobs.set(id, entry);
  for (const item of thread.items) addItem(entry, item);
  renderStatus(entry);
  setExpanded(entry, expanded);
  renderEmpty();
  return entry;
}

function buildJob(entry) {
  const r = entry.refs;
  const who = entry.status.submitter;
  r.avatarSlot = h('div', { class: 'msg-avatar' }, avatar(who.user));
  r.status = h('section', { class: 'status-block', tabindex: -1, 'aria-label': `Job ${entry.id} status` });
  r.toggle = h('button', { type: 'button', class: 'thread-toggle', 'aria-controls': `thread-${entry.id}`, onclick: () => setExpanded(entry, !entry.expanded) });
  r.items = h('div', { class: 'thread-items' });
  r.timeline = h('figure', { class: 'timeline', hidden: true });
  r.thread = h('div', { class: 'thread', id: `thread-${entry.id}` }, r.timeline, r.items);
  return h('article', { class: 'msg job', 'data-job': entry.id, 'data-state': entry.status.state, 'aria-label': `Job ${entry.id}` },
    r.avatarSlot,
    h('div', { class: 'msg-main' },
      h('div', { class: 'msg-head' },
        h('span', { class: 'msg-author', text: who.user }),
        h('span', { class: 'msg-platform', text: who.platform }),
        h('span', { class: 'msg-action', text: `submitted to ${entry.status.pipeline}` }),
        timeEl(entry.status.createdAt)),
      r.status, r.toggle, r.thread));
}

function setExpanded(entry, expanded) {
  entry.expanded = expanded;
  entry.refs.thread.hidden = !expanded;
  entry.el.classList.toggle('is-expanded', expanded);
  updateToggle(entry);
  if (expanded) renderTimeline(entry);
}

function updateToggle(entry) {
  const n = entry.itemEls.size;
  entry.refs.toggle.hidden = n === 0 && !entry.timeline?.bars.length;
  const replies = `${n} ${n === 1 ? 'reply' : 'replies'}`;
  entry.refs.toggle.setAttribute('aria-expanded', String(entry.expanded));
  fill(entry.refs.toggle,
    h('span', { class: 'chevron', 'aria-hidden': 'true', text: entry.expanded ? '▾' : '▸' }),
    h('span', { text: entry.expanded ? `Hide thread · ${replies}` : `Show thread · ${replies}` }),
    h('span', { class: 'toggle-time', text: `updated ${fmtTime(entry.status.updatedAt)}` }));
}

function renderStatus(entry) {
  const st = entry.status;
  entry.el.dataset.state = st.state;
  entry.refs.status.className = `status-block tone-${st.tone}`;
  keepFocus(entry.refs.status, () => fill(entry.refs.status,
    h('div', { class: 'status-head' },
      h('span', { class: 'status-icon', 'aria-hidden': 'true', text: st.icon }),
      h('span', { class: 'status-title', text: st.title }),
      h('span', { class: `pill tone-${st.tone}`, text: st.stateLabel })),
    h('p', { class: 'brief', text: st.brief }),
    h('ol', { class: 'stages' }, st.stages.map(stageLine)),
    progressBar(st.progress, st.tone),
    st.queuePosition ? h('p', { class: 'queue', text: `⏳ Position ${st.queuePosition} in the queue` }) : null,
    st.error ? h('p', { class: 'job-error', text: st.error }) : null,
    jobActions(st)));
  updateToggle(entry);
}

function stageLine(s) {
  return h('li', { class: `stage tone-${s.tone}`, 'data-stage': s.id, 'data-stage-state': s.state },
    h('span', { class: 'stage-icon', 'aria-hidden': 'true', text: s.icon }),
    h('span', { class: 'stage-name', text: s.name }),
    h('span', { class: 'stage-duration', text: s.durationMs !== null ? fmtDuration(s.durationMs) : '' }),
    h('span', { class: 'stage-note', text: s.note ?? '' }));
}

function progressBar(p, tone) {
  const bar = h('div', { class: 'progress-fill' });
  bar.style.width = `${Math.max(0, Math.min(100, p.percent))}%`;
  return h('div', { class: `progress-row tone-${tone}` },
    h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': p.percent, 'aria-label': 'Progress' }, bar),
    h('span', { class: 'progress-label', text: `${p.done} of ${p.total} stages · ${p.percent}%` }));
}

/** Cancel / Retry / Audit: shortcuts for the same /signoff commands. */
function jobActions(st) {
  const button = (action, text) => h('button', { type: 'button', class: 'btn btn-link', 'data-action': action, 'data-job-id': st.jobId, text });
  return h('div', { class: 'job-actions' },
    FINISHED.has(st.state) ? null : button('cancel-job', 'Cancel job'),
    st.state === 'failed' || st.state === 'rejected' ? button('retry-job', 'Retry') : null,
    button('audit-job', 'Audit'));
}

// ---------------------------------------------------------------- thread items

function addItem(entry, item) {
  if (entry.itemEls.has(item.seq)) return;
  let el;
  if (item.type === 'notice') {
    el = buildNotice(item.notice);
  } else {
    const card = h('div', { class: 'gate-card', tabindex: -1 });
    entry.gateEls.set(item.key, card);
    el = reply(null, entry.gates[item.key]?.openedAt, card);
    el.classList.add('reply-gate');
  }
  el.dataset.seq = item.seq;
  const next = [...entry.itemEls.keys()].filter((s) => s > item.seq).sort((a, b) => a - b)[0];
  entry.refs.items.insertBefore(el, next === undefined ? null : entry.itemEls.get(next));
  entry.itemEls.set(item.seq, el);
  if (item.type === 'gate') renderGate(entry, item.key);
}

/** A reply in a thread, from the signoff bot. */
function reply(tone, at, ...content) {
  return h('div', { class: `reply${tone ? ` tone-${tone}` : ''}` },
    botAvatar(),
    h('div', { class: 'reply-main' },
      h('div', { class: 'reply-head' },
        h('span', { class: 'msg-author', text: 'signoff' }),
        h('span', { class: 'bot-badge', text: 'APP' }),
        at ? timeEl(at) : null),
      content));
}

function buildNotice(n) {
  const el = reply(n.tone, n.at,
    h('p', { class: 'notice-text' }, h('span', { class: 'notice-icon', 'aria-hidden': 'true', text: n.icon }), h('span', { text: n.text })),
    renderArtifacts(n.artifacts, { fold: true }));
  el.classList.add('notice');
  el.dataset.noticeSeq = n.seq;
  return el;
}

function renderGate(entry, key) {
  const g = entry.gates[key];
  const card = entry.gateEls.get(key);
  if (!g || !card) return;
  card.className = `gate-card tone-${g.tone}`;
  card.dataset.gate = `${g.jobId}:${g.stage}:${g.round}`;
  card.dataset.state = g.state;
  card.dataset.stage = g.stage;
  card.dataset.jobId = g.jobId;
  const sig = g.artifacts.map((a) => a.id).join(',');
  if (card.artifactsSig !== sig) { card.artifactsNode = renderArtifacts(g.artifacts); card.artifactsSig = sig; }
  const names = g.approvals.names.length ? `: ${g.approvals.names.join(', ')}` : '';
  keepFocus(card, () => fill(card,
    h('div', { class: 'gate-head' },
      h('span', { class: 'gate-icon', 'aria-hidden': 'true', text: g.icon }),
      h('span', { class: 'gate-title', text: g.title }),
      h('span', { class: `pill tone-${g.tone}`, text: GATE_LABEL[g.state] ?? g.state })),
    h('p', { class: 'gate-text', text: g.text }),
    g.redoReason ? h('p', { class: 'redo-reason' }, h('strong', { text: 'Redo asked for: ' }), h('span', { text: g.redoReason })) : null,
    card.artifactsNode,
    h('dl', { class: 'gate-meta' },
      h('div', {}, h('dt', { text: 'Approvers' }), h('dd', {}, g.approvers.map((a) => h('span', { class: 'chip', text: a })))),
      h('div', {}, h('dt', { text: 'Approvals' }), h('dd', { class: 'approvals', text: `${g.approvals.count} of ${g.approvals.needed} approvals${names}` })),
      g.deadline ? h('div', {}, h('dt', { text: g.deadline.kind === 'auto_approve' ? 'Auto-approval' : 'Deadline' }), h('dd', {}, countdown(g.deadline))) : null),
    g.actions.length ? gateButtons(g) : outcome(g)));
}

function countdown(deadline) {
  const el = h('span', { class: 'countdown', 'data-deadline-at': deadline.at, 'data-deadline-kind': deadline.kind, 'data-on-timeout': deadline.onTimeout ?? '', title: fmtFull(deadline.at) });
  updateCountdown(el);
  return el;
}

function updateCountdown(el) {
  const left = Number(el.dataset.deadlineAt) - serverNow();
  const auto = el.dataset.deadlineKind === 'auto_approve';
  const then = el.dataset.onTimeout ? ` (then ${el.dataset.onTimeout})` : '';
  el.textContent = left > 0 ? (auto ? `auto-approves in ${fmtClock(left)}` : `times out in ${fmtClock(left)}${then}`) : auto ? 'auto-approving…' : 'timing out…';
  el.classList.toggle('is-soon', left < 60_000);
}

function gateButtons(g) {
  return h('div', { class: 'gate-actions' }, g.actions.map((action) =>
    h('button', { type: 'button', class: `btn btn-${action === 'approve' ? 'approve' : action === 'reject' ? 'danger-outline' : 'ghost'}`, 'data-action': action, text: ACTION_LABEL[action] ?? action })));
}

function outcome(g) {
  if (!g.outcome) return null;
  const o = g.outcome;
  return h('div', { class: 'outcome' },
    h('span', { class: 'outcome-label', text: o.label }),
    o.reason ? h('span', { class: 'outcome-reason', text: `“${o.reason}”` }) : null,
    o.at ? timeEl(o.at, 'outcome-time') : null);
}

// ---------------------------------------------------------------- artifacts

function kindOf(a) {
  const t = a.mediaType.toLowerCase();
  if (t.startsWith('image/')) return 'image';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('text/html')) return 'file';
  if (t.startsWith('text/') || t.includes('json') || t.includes('markdown') || /\.(md|txt|log|json|ya?ml|csv)$/i.test(a.name)) return 'text';
  return 'file';
}

/** fold: text excerpts behind a "Preview" disclosure (notices; gate cards show them open). */
function renderArtifacts(list, { fold = false } = {}) {
  if (!list?.length) return null;
  return h('ul', { class: `artifacts${list.length > 3 ? ' artifacts-grid' : ''}`, 'aria-label': 'Artifacts' }, list.map((a) => artifactItem(a, fold)));
}

function artifactItem(a, fold) {
  const url = artifactUrl(a.id);
  const kind = kindOf(a);
  const file = a.name.split('/').pop();
  let preview = null;
  if (kind === 'image') preview = h('a', { href: url, target: '_blank', rel: 'noopener', class: 'artifact-image' }, h('img', { src: url, alt: a.name, loading: 'lazy', decoding: 'async' }));
  else if (kind === 'audio') preview = h('audio', { controls: true, preload: 'none', src: url, 'aria-label': a.name });
  else if (kind === 'text' && !fold) preview = excerpt(a);
  else if (kind === 'text') {
    preview = h('details', { class: 'excerpt-fold' }, h('summary', { text: 'Preview' }));
    preview.addEventListener('toggle', () => { if (preview.open && !preview.querySelector('pre')) preview.append(excerpt(a)); });
  }
  return h('li', { class: `artifact kind-${kind}`, 'data-artifact': a.id, 'data-media-type': a.mediaType },
    preview,
    h('div', { class: 'artifact-meta' },
      h('a', { href: url, target: '_blank', rel: 'noopener', class: 'artifact-name', text: a.name }),
      h('span', { class: 'artifact-info', text: `${fmtSize(a.size)} · ${a.mediaType.split(';')[0]}` }),
      h('a', { href: artifactUrl(a.id, true), download: file, class: 'artifact-download', 'aria-label': `Download ${a.name}`, text: 'Download' })));
}

/** Excerpts load when they scroll into view (collapsed threads fetch nothing). */
const excerptObserver = new IntersectionObserver((seen) => {
  for (const { target: pre, isIntersecting } of seen) {
    if (!isIntersecting) continue;
    excerptObserver.unobserve(pre);
    fetchExcerpt(Number(pre.dataset.artifactId)).then((text) => { pre.textContent = text || '(empty)'; },
      (e) => { pre.textContent = `Could not load the preview (${e.message}).`; pre.classList.add('is-error'); });
  }
}, { rootMargin: '400px' });

function excerpt(a) {
  const pre = h('pre', { class: 'excerpt', tabindex: 0, 'data-artifact-id': a.id, 'aria-label': `Start of ${a.name}`, text: 'Loading…' });
  excerptObserver.observe(pre);
  return pre;
}

/** The first ~600 characters of a text artifact, read without downloading the rest. */
function fetchExcerpt(id) {
  if (!excerpts.has(id)) {
    const p = (async () => {
      const res = await fetch(artifactUrl(id), { headers: { 'x-console-token': state.token } });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      let done = false;
      while (text.length <= 600) {
        const chunk = await reader.read();
        if (chunk.done) { done = true; text += decoder.decode(); break; }
        text += decoder.decode(chunk.value, { stream: true });
      }
      if (!done) reader.cancel().catch(() => {});
      return text.length > 600 || !done ? `${text.slice(0, 600).trimEnd()}\n…` : text;
    })();
    p.catch(() => excerpts.delete(id));
    excerpts.set(id, p);
  }
  return excerpts.get(id);
}

// ---------------------------------------------------------------- timeline

function renderTimeline(entry) {
  const tl = entry.timeline;
  const fig = entry.refs.timeline;
  if (!tl || !tl.bars.length) { fig.hidden = true; fig.replaceChildren(); return; }
  if (!entry.expanded) return; // drawn when shown, at the width it then has
  fig.hidden = false;
  const live = !FINISHED.has(entry.status.state);
  const now = serverNow();
  const bars = tl.bars.map((b) => ({ ...b, end: live && OPEN_BARS.has(b.state) ? Math.max(b.end, now) : b.end }));
  const start = tl.start;
  const end = Math.max(tl.end, ...bars.map((b) => b.end), start + 1);
  const W = Math.max(320, Math.min(1100, Math.round(fig.clientWidth || entry.refs.thread.clientWidth || 640)));
  const LABEL = Math.min(170, Math.round(W * 0.3));
  const RIGHT = 64;
  const ROW = 24;
  const TOP = 6;
  const plotW = W - LABEL - RIGHT;
  const H = TOP + bars.length * ROW + 30;
  const x = (t) => LABEL + ((t - start) / (end - start)) * plotW;
  const hatch = `hatch-${entry.id}`;
  const total = fmtDuration(end - start);
  const root = svg('svg', { class: 'timeline-svg', 'data-timeline': entry.id, viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': `Timeline of job ${entry.id}: ${bars.length} bars over ${total}` },
    svg('title', { text: `Timeline of job ${entry.id}, total ${total}` }),
    svg('defs', {}, svg('pattern', { id: hatch, patternUnits: 'userSpaceOnUse', width: 6, height: 6, patternTransform: 'rotate(45)' }, svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'hatch-line' }))));
  const axisY = TOP + bars.length * ROW + 4;
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const gx = LABEL + f * plotW;
    root.append(svg('line', { class: 'tl-grid', x1: gx, x2: gx, y1: TOP, y2: axisY }),
      svg('text', { class: 'tl-tick', x: gx, y: axisY + 16, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle', text: fmtDuration((end - start) * f) }));
  }
  root.append(svg('line', { class: 'tl-axis', x1: LABEL, x2: LABEL + plotW, y1: axisY, y2: axisY }));
  bars.forEach((b, i) => {
    const y = TOP + i * ROW;
    const x0 = x(b.start);
    const w = Math.max(3, x(b.end) - x0);
    const dur = fmtDuration(b.end - b.start);
    const tip = svg('title', { text: `${b.label}: ${dur} (${b.state.replace('_', ' ')})` });
    const short = b.label.length > 24 ? `${b.label.slice(0, 23)}…` : b.label;
    const g = svg('g', { class: `tl-row tl-${b.kind} tone-${b.tone}`, 'data-bar-kind': b.kind, 'data-bar-state': b.state }, tip,
      svg('text', { class: 'tl-label', x: LABEL - 8, y: y + ROW / 2, 'text-anchor': 'end', 'dominant-baseline': 'central', text: short }),
      svg('rect', { class: 'tl-bar', x: x0, y: y + 5, width: w, height: ROW - 10, rx: 3 }),
      b.kind === 'gate' ? svg('rect', { class: 'tl-hatch', x: x0, y: y + 5, width: w, height: ROW - 10, rx: 3, fill: `url(#${hatch})` }) : null,
      svg('text', { class: 'tl-dur', x: x0 + w + 5, y: y + ROW / 2, 'dominant-baseline': 'central', text: dur }));
    root.append(g);
  });
  fill(fig, root, h('figcaption', { class: 'timeline-caption' },
    h('span', { class: 'tl-total', text: `Total ${total}` }),
    h('span', { class: 'legend legend-stage', text: 'stage run' }),
    h('span', { class: 'legend legend-gate', text: 'gate wait' })));
}

// ---------------------------------------------------------------- live updates

function connect() {
  state.source?.close();
  const es = new EventSource(`/console/api/stream?after=${state.lastEventId}&token=${encodeURIComponent(state.token)}`);
  state.source = es;
  es.addEventListener('open', () => setConnection('open'));
  es.addEventListener('error', () => {
    setConnection('reconnecting');
    // EventSource retries by itself (with Last-Event-ID) unless the server refused it outright.
    if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (state.source === es) connect(); }, 3000);
  });
  es.addEventListener('update', (e) => {
    let update;
    try { update = JSON.parse(e.data); } catch { return; }
    applyUpdate(update);
  });
}

function setConnection(s) {
  const el = $('#connection');
  el.dataset.state = s;
  el.textContent = s === 'open' ? 'live' : 'reconnecting…';
}

function applyUpdate(u) {
  state.lastEventId = Math.max(state.lastEventId, u.eventId);
  if (typeof u.serverNow === 'number') state.offset = u.serverNow - Date.now();
  const buffered = state.pending.get(u.jobId);
  if (buffered) { buffered.push(u); return; }
  const entry = state.jobs.get(u.jobId);
  if (!entry) { fetchJob(u.jobId, [u]); return; }
  entry.status = u.status;
  entry.timeline = u.timeline;
  if (u.gate) entry.gates[gateKeyOf(u.gate)] = u.gate;
  if (u.item) addItem(entry, u.item);
  if (u.gate) renderGate(entry, gateKeyOf(u.gate));
  renderStatus(entry);
  renderTimeline(entry);
}

/** A job the page does not have yet: fetch its whole thread, then replay what came meanwhile. */
async function fetchJob(id, buffered = []) {
  if (state.jobs.has(id) || state.pending.has(id)) return;
  state.pending.set(id, buffered);
  const r = await api(`/console/api/jobs/${id}`);
  const queued = state.pending.get(id) ?? [];
  state.pending.delete(id);
  if (r.status === 200 && r.data?.status) addJob(r.data);
  else if (queued[0]) addJob({ status: queued[0].status, items: [], gates: {}, timeline: queued[0].timeline });
  for (const u of queued) applyUpdate(u);
}

function renderEmpty() {
  $('#empty-state').hidden = state.jobs.size > 0;
}

// ---------------------------------------------------------------- private answers

function showPrivate(text, ok, context) {
  const box = $('#private-answers');
  const dismiss = h('button', { type: 'button', class: 'pa-dismiss', 'aria-label': 'Dismiss this answer', text: '×' });
  const el = h('div', { class: 'private-answer', 'data-ok': String(Boolean(ok)), role: ok ? 'status' : 'alert' },
    h('div', { class: 'pa-head' },
      h('span', { class: 'pa-eye', text: `Only visible to you (${state.actingAs})` }),
      context ? h('code', { class: 'pa-context', text: context }) : null,
      dismiss),
    h('div', { class: 'pa-text', text }));
  dismiss.addEventListener('click', () => {
    const next = el.nextElementSibling ?? el.previousElementSibling;
    el.remove();
    (next?.querySelector('.pa-dismiss') ?? $('#command')).focus();
  });
  box.append(el);
  while (box.children.length > 100) box.firstElementChild.remove();
  scrollToBottom();
  return el;
}

// ---------------------------------------------------------------- commands

async function runCommand(text) {
  const send = $('#command-send');
  send.disabled = true;
  const r = await api('/console/api/command', { method: 'POST', body: { as: state.actingAs, text } });
  send.disabled = false;
  const data = r.data ?? {};
  showPrivate(typeof data.text === 'string' ? data.text : `signoff answered HTTP ${r.status}.`, data.ok === true, text);
  if (data.form === 'submit') openSubmitDialog();
  if (data.jobId && !state.jobs.has(data.jobId)) fetchJob(data.jobId);
  return data;
}

function wireCommandBox() {
  const form = $('#command-form');
  const input = $('#command');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    remember(text);
    input.value = '';
    runCommand(text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowUp' && state.historyPos > 0) {
      if (state.historyPos === state.history.length) state.draft = input.value;
      state.historyPos -= 1;
      input.value = state.history[state.historyPos];
    } else if (e.key === 'ArrowDown' && state.historyPos < state.history.length) {
      state.historyPos += 1;
      input.value = state.history[state.historyPos] ?? state.draft;
    } else return;
    e.preventDefault();
    requestAnimationFrame(() => input.setSelectionRange(input.value.length, input.value.length));
  });
  $('#use-example').addEventListener('click', () => { input.value = $('#example-command').textContent; input.focus(); });
  $('#help-button').addEventListener('click', () => showPrivate(state.help, true, '/signoff help'));
  $('#new-job-button').addEventListener('click', () => openSubmitDialog());
}

function remember(text) {
  if (state.history.at(-1) !== text) state.history.push(text);
  state.history = state.history.slice(-50);
  state.historyPos = state.history.length;
  state.draft = '';
  sessionStorage.setItem('signoff.history', JSON.stringify(state.history));
}

// ---------------------------------------------------------------- gate and job buttons

function wireChannelClicks() {
  $('#jobs').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button || button.disabled) return;
    const action = button.dataset.action;
    const card = button.closest('.gate-card');
    if (card && ['approve', 'reject', 'hold'].includes(action)) {
      if (card.classList.contains('is-busy')) return;
      const jobId = Number(card.dataset.jobId);
      const stage = card.dataset.stage;
      if (action === 'reject') openRejectDialog(jobId, stage, button);
      else decide(jobId, stage, action, undefined, card);
      return;
    }
    const jobId = Number(button.dataset.jobId);
    if (action === 'cancel-job') {
      if (window.confirm(`Cancel job ${jobId}?`)) runCommand(`/signoff cancel ${jobId}`);
    } else if (action === 'retry-job') runCommand(`/signoff retry ${jobId}`);
    else if (action === 'audit-job') runCommand(`/signoff audit ${jobId}`);
  });
}

/** Sends a gate decision. Buttons are marked busy, not disabled, so keyboard focus stays put. */
async function decide(jobId, stage, action, reason, card) {
  const busy = (on) => {
    card?.classList.toggle('is-busy', on);
    card?.querySelectorAll('.gate-actions button').forEach((b) => b.setAttribute('aria-disabled', String(on)));
  };
  busy(true);
  const r = await api(`/console/api/jobs/${jobId}/gates/${encodeURIComponent(stage)}/${action}`, { method: 'POST', body: { as: state.actingAs, ...(reason ? { reason } : {}) } });
  busy(false);
  const data = r.data ?? {};
  showPrivate(typeof data.text === 'string' ? data.text : `signoff answered HTTP ${r.status}.`, data.ok === true, `${action} ${stage} of job ${jobId}`);
}

// ---------------------------------------------------------------- dialogs

function wireRejectDialog() {
  const dialog = $('#reject-dialog');
  const form = $('#reject-form');
  const reason = form.elements.reason;
  const confirm = $('[data-action="confirm-reject"]', form);
  const sync = () => { confirm.disabled = reason.value.trim() === ''; };
  reason.addEventListener('input', sync);
  reason.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !confirm.disabled) { e.preventDefault(); form.requestSubmit(); }
  });
  $('[data-action="cancel-reject"]', form).addEventListener('click', () => dialog.close('cancel'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = reason.value.trim();
    const target = state.rejecting;
    if (!text || !target) return;
    dialog.close('confirm');
    const card = document.querySelector(`.gate-card[data-job-id="${target.jobId}"][data-stage="${CSS.escape(target.stage)}"][data-state="pending"], .gate-card[data-job-id="${target.jobId}"][data-stage="${CSS.escape(target.stage)}"][data-state="held"]`);
    decide(target.jobId, target.stage, 'reject', text, card);
  });
  dialog.addEventListener('close', () => {
    const opener = state.rejecting?.opener;
    state.rejecting = null;
    (opener?.isConnected ? opener : $('#command')).focus();
  });
  state.syncReject = sync;
}

function openRejectDialog(jobId, stage, opener) {
  const dialog = $('#reject-dialog');
  const g = state.jobs.get(jobId)?.gates;
  const view = g && Object.values(g).filter((x) => x.stage === stage).sort((a, b) => b.round - a.round)[0];
  state.rejecting = { jobId, stage, opener };
  $('#reject-title').textContent = `Reject ${view?.stageName ?? stage} of job ${jobId}`;
  $('#reject-form').elements.reason.value = '';
  state.syncReject();
  dialog.showModal();
  $('#reject-form').elements.reason.focus();
}

function wireSubmitDialog() {
  const dialog = $('#submit-dialog');
  const form = $('#submit-form');
  const select = $('#submit-pipeline');
  select.replaceChildren(...state.pipelines.map((p) => h('option', { value: p.name, text: p.name })));
  select.addEventListener('change', renderParamFields);
  form.addEventListener('input', syncSubmit);
  $('[data-action="cancel-submit"]', form).addEventListener('click', () => dialog.close());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!form.checkValidity()) return form.reportValidity();
    const text = submitCommand();
    dialog.close();
    remember(text);
    runCommand(text);
  });
  dialog.addEventListener('close', () => $('#command').focus());
  renderParamFields();
}

function renderParamFields() {
  const p = state.pipelines.find((x) => x.name === $('#submit-pipeline').value);
  $('#submit-pipeline-desc').textContent = p?.description ?? '';
  const fields = Object.entries(p?.params ?? {}).map(([key, spec]) => {
    const id = `param-${key}`;
    const needed = spec.required && (spec.default === undefined || spec.default === null);
    return h('div', { class: 'param-field' },
      h('label', { for: id, class: 'field-label' }, h('code', { text: key }), spec.description ? h('span', { class: 'param-desc', text: ` — ${spec.description}` }) : null, needed ? h('span', { class: 'required-mark', text: ' (required)' }) : null),
      h('input', { id, type: 'text', 'data-param': key, placeholder: spec.default != null ? String(spec.default) : '', required: needed }));
  });
  $('#submit-params').replaceChildren(...fields);
  syncSubmit();
}

/** Quotes a value for the command grammar: backslashes and double quotes are escaped. */
const quote = (v) => `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function submitCommand() {
  const form = $('#submit-form');
  const params = [...form.querySelectorAll('[data-param]')].filter((i) => i.value.trim() !== '').map((i) => `${i.dataset.param}=${quote(i.value.trim())}`);
  return ['/signoff submit', form.elements.pipeline.value, ...params, quote(form.elements.brief.value.trim())].join(' ');
}

function syncSubmit() {
  const form = $('#submit-form');
  $('[data-action="submit-job"]', form).disabled = !form.elements.pipeline.value || form.elements.brief.value.trim() === '';
  $('#submit-preview').textContent = submitCommand();
}

function openSubmitDialog() {
  const dialog = $('#submit-dialog');
  if (dialog.open) return;
  syncSubmit();
  dialog.showModal();
  $('#submit-form').elements.brief.focus();
}

// ---------------------------------------------------------------- clock and start

function tick() {
  for (const el of document.querySelectorAll('.countdown[data-deadline-at]')) updateCountdown(el);
  state.ticks += 1;
  if (state.ticks % 5 === 0) for (const e of state.jobs.values()) if (e.expanded && !FINISHED.has(e.status.state)) renderTimeline(e);
}

async function boot() {
  $('#loading').hidden = true;
  state.token = readToken();
  if (!state.token) return showFatal('Open the console with the URL signoff printed at start (it ends in ?token=…).');
  try { state.history = JSON.parse(sessionStorage.getItem('signoff.history') ?? '[]'); } catch { state.history = []; }
  state.historyPos = state.history.length;
  const session = await api('/console/api/session');
  if (session.status !== 200 || !session.data) return showFatal(session.data?.message ?? session.data?.text ?? 'Could not load the console.');
  Object.assign(state, { users: session.data.users, pipelines: session.data.pipelines, help: session.data.help, offset: session.data.serverNow - Date.now() });
  renderUsers();
  wireCommandBox();
  wireChannelClicks();
  wireRejectDialog();
  wireSubmitDialog();
  const list = await api('/console/api/jobs');
  if (list.status !== 200 || !list.data) return showFatal(list.data?.message ?? 'Could not load the jobs.');
  state.offset = list.data.serverNow - Date.now();
  state.lastEventId = list.data.lastEventId;
  const threads = [...list.data.jobs].reverse(); // oldest first: newest at the bottom, like chat
  const newest = threads.at(-1)?.status.jobId;
  for (const t of threads) addJob(t, { expanded: t.status.jobId === newest || !FINISHED.has(t.status.state) });
  renderEmpty();
  wireScrolling();
  scrollToBottom();
  connect();
  setInterval(tick, 1000);
  let resize;
  new ResizeObserver(() => { clearTimeout(resize); resize = setTimeout(() => state.jobs.forEach((e) => renderTimeline(e)), 150); }).observe($('#channel'));
  $('#command').focus();
}

document.addEventListener('DOMContentLoaded', boot);
