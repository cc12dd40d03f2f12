/*
 * signoff console: a job's message in the channel — its status block (stages, progress, job
 * buttons) and its thread of notices and gate cards.
 */
import { $, avatar, botAvatar, fill, h, keepFocus, timeEl } from './dom.js';
import { fmtDuration, fmtTime } from './format.js';
import { renderArtifacts } from './render-artifacts.js';
import { renderGate } from './render-gate.js';
import { FINISHED, state } from './state.js';
import { renderTimeline } from './timeline.js';

export function addJob(thread, { expanded = true } = {}) {
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

export function renderStatus(entry) {
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

export function addItem(entry, item) {
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

export function renderEmpty() {
  $('#empty-state').hidden = state.jobs.size > 0;
}
