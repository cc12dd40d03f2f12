/*
 * signoff console: gate cards — state, artifacts, approvers, tally, countdown, decision buttons
 * or outcome.
 */
import { fill, h, keepFocus, timeEl } from './dom.js';
import { fmtClock, fmtFull } from './format.js';
import { renderArtifacts } from './render-artifacts.js';
import { noteField, renderRoundDiff } from './render-diff.js';
import { serverNow } from './state.js';

const GATE_LABEL = { pending: 'Waiting', held: 'Held', approved: 'Approved', rejected: 'Rejected', expired: 'Expired', cancelled: 'Cancelled' };
const ACTION_LABEL = { approve: 'Approve', reject: 'Reject…', hold: 'Hold' };

export function renderGate(entry, key) {
  const g = entry.gates[key];
  const card = entry.gateEls.get(key);
  if (!g || !card) return;
  card.className = `gate-card tone-${g.tone}`;
  card.dataset.gate = `${g.jobId}:${g.stage}:${g.round}`;
  // The anchor "/signoff pending" links to.
  card.id = `job-${g.jobId}-gate-${g.stage}-${g.round}`;
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
    // What changed since the rejected round (render-diff.js), made once per card.
    (card.diffNode ??= renderRoundDiff(g)),
    card.artifactsNode,
    h('dl', { class: 'gate-meta' },
      h('div', {}, h('dt', { text: 'Approvers' }), h('dd', {}, g.approvers.map((a) => h('span', { class: 'chip', text: a })))),
      h('div', {}, h('dt', { text: 'Approvals' }), h('dd', { class: 'approvals', text: `${g.approvals.count} of ${g.approvals.needed} approvals${names}` })),
      g.deadline ? h('div', {}, h('dt', { text: g.deadline.kind === 'auto_approve' ? 'Auto-approval' : 'Deadline' }), h('dd', {}, countdown(g.deadline))) : null),
    g.actions.length ? gateButtons(g, card) : outcome(g)));
}

function countdown(deadline) {
  const el = h('span', { class: 'countdown', 'data-deadline-at': deadline.at, 'data-deadline-kind': deadline.kind, 'data-on-timeout': deadline.onTimeout ?? '', title: fmtFull(deadline.at) });
  updateCountdown(el);
  return el;
}

export function updateCountdown(el) {
  const left = Number(el.dataset.deadlineAt) - serverNow();
  const auto = el.dataset.deadlineKind === 'auto_approve';
  const then = el.dataset.onTimeout ? ` (then ${el.dataset.onTimeout})` : '';
  el.textContent = left > 0 ? (auto ? `auto-approves in ${fmtClock(left)}` : `times out in ${fmtClock(left)}${then}`) : auto ? 'auto-approving…' : 'timing out…';
  el.classList.toggle('is-soon', left < 60_000);
}

function gateButtons(g, card) {
  return h('div', { class: 'gate-actions' }, g.actions.map((action) =>
    h('button', { type: 'button', class: `btn btn-${action === 'approve' ? 'approve' : action === 'reject' ? 'danger-outline' : 'ghost'}`, 'data-action': action, text: ACTION_LABEL[action] ?? action })),
    g.actions.includes('approve') ? noteField(card) : null);
}

function outcome(g) {
  if (!g.outcome) return null;
  const o = g.outcome;
  return h('div', { class: 'outcome' },
    h('span', { class: 'outcome-label', text: o.label }),
    o.reason ? h('span', { class: 'outcome-reason', text: `“${o.reason}”` }) : null,
    o.at ? timeEl(o.at, 'outcome-time') : null);
}
