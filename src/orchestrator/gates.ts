/**
 * Approval gates: opening, votes (N distinct approvals, any reject decides), hold, and what
 * their timers do. Every refusal is an answer to the person plus an audit event, nothing else.
 */
import type { GateDef } from '../config/schema.js';
import { formatDuration } from '../config/duration.js';
import type { Draft } from './draft.js';
import { mayDecide } from './policy.js';
import { MAX_APPROVAL_NOTE, notesOf } from './approval-notes.js';
import type { Actor, Gate, RefusalCode, Reply } from './types.js';

/** When to remind before `deadline`: configured offsets, else once when a quarter is left. */
function nextReminder(def: GateDef, openedAt: number, deadline: number, now: number): number | null {
  const offsets = def.remind_before ?? [Math.round((deadline - openedAt) / 4)];
  const times = offsets.map((o) => deadline - o).filter((t) => t > now && t < deadline);
  return times.length ? Math.min(...times) : null;
}

export function openGate(d: Draft, def: GateDef, stage: string): void {
  const round = (d.latestGate(stage)?.round ?? 0) + 1;
  const optional = !def.required;
  const wait = optional ? def.auto_approve_after : def.timeout;
  const deadlineAt = wait === undefined ? null : d.now + wait;
  const gate: Gate = {
    id: 0,
    stage,
    round,
    state: 'pending',
    required: def.required,
    minApprovals: def.min_approvals,
    openedAt: d.now,
    deadlineAt,
    deadlineKind: deadlineAt === null ? null : optional ? 'auto_approve' : 'timeout',
    remindAt: deadlineAt !== null && def.required ? nextReminder(def, d.now, deadlineAt, d.now) : null,
    escalateAt: def.escalate_after === undefined ? null : d.now + def.escalate_after,
    escalatedAt: null,
    decidedAt: null,
    decidedBy: null,
    reason: null,
    votes: [],
  };
  d.agg.gates.push(gate);
  d.job.state = 'awaiting_approval';
  d.emit('gate.opened', {
    stage,
    round,
    // The run under review: a later round's diff compares against it.
    run: d.record(stage)?.run ?? null,
    required: def.required,
    min_approvals: def.min_approvals,
    approvers: def.approvers,
    deadline_at: gate.deadlineAt,
    deadline_kind: gate.deadlineKind,
    ...(gate.escalateAt !== null ? { escalate_at: gate.escalateAt, escalate_to: def.escalate_to } : {}),
  });
}

function refuse(d: Draft, actor: Actor, stage: string, code: RefusalCode, message: string): Reply {
  d.emit('gate.refused', { stage, actor: actor.id, display: actor.display, code, message });
  return { ok: false, code, message };
}

/** What a late click is told: who decided the gate, and when. */
export function decidedMessage(gate: Gate): string {
  const when = gate.decidedAt === null ? '' : ` at ${new Date(gate.decidedAt).toISOString()}`;
  const by = gate.decidedBy ? ` by ${gate.decidedBy}` : '';
  return `The "${gate.stage}" gate was already ${gate.state}${by}${when}; nothing changed.`;
}

/** Finds the gate an actor means and checks that they may act on it now. */
function gateFor(d: Draft, actor: Actor, stage: string, round?: number): { gate: Gate; def: GateDef } | Reply {
  const def = d.stageDef(stage)?.gate;
  // A button on an older card speaks for that round only, never for the one open now.
  const gate = round === undefined ? d.latestGate(stage) : d.agg.gates.find((g) => g.stage === stage && g.round === round);
  if (!def || !gate)
    return refuse(d, actor, stage, 'not_found', `Job ${d.job.id} has no gate on stage "${stage}" open; check the stage name with /signoff status ${d.job.id}.`);
  if (gate.state !== 'pending' && gate.state !== 'held') return refuse(d, actor, stage, 'already_decided', decidedMessage(gate));
  if (!mayDecide(def, actor, gate.escalatedAt !== null)) {
    const later = gate.escalateAt !== null && (def.escalate_to ?? []).some((g) => actor.groups.includes(g))
      ? ` Your group may decide once it escalates, ${new Date(gate.escalateAt).toISOString()}.` : '';
    return refuse(d, actor, stage, 'not_authorised', `You may not decide the "${stage}" gate: it needs a member of ${def.approvers.join(' or ')}. Ask one of them.${later}`);
  }
  return { gate, def };
}

function decide(d: Draft, gate: Gate, state: 'approved' | 'rejected' | 'expired', by: string, reason: string | null): void {
  gate.state = state;
  gate.decidedAt = d.now;
  gate.decidedBy = by;
  gate.reason = reason;
  gate.deadlineAt = null;
  gate.remindAt = null;
  gate.escalateAt = null;
}

function approveAndAdvance(d: Draft, gate: Gate, by: string, auto: boolean): void {
  decide(d, gate, 'approved', by, null);
  d.emit('gate.approved', {
    stage: gate.stage,
    round: gate.round,
    by,
    auto,
    approvals: gate.votes.filter((v) => v.vote === 'approve').map((v) => v.display),
    notes: notesOf(gate).map(({ by, note }) => ({ by, note })),
    waited_ms: d.now - gate.openedAt,
  });
  const index = d.job.def.stages.findIndex((s) => s.id === gate.stage);
  d.advance(index + 1);
}

export function vote(d: Draft, actor: Actor, stage: string, choice: 'approve' | 'reject', reason?: string, round?: number): Reply {
  const found = gateFor(d, actor, stage, round);
  if (!('gate' in found)) return found;
  const { gate, def } = found;
  const why = reason?.trim() ?? '';
  if (choice === 'approve' && actor.id === d.job.submitter && !def.allow_self_approval && !actor.admin)
    return refuse(d, actor, stage, 'self_approval', `You submitted job ${d.job.id}, and the "${stage}" gate needs someone else's approval.`);
  if (choice === 'reject' && !why)
    return refuse(d, actor, stage, 'reason_required', 'A rejection needs a reason: it is handed to the stage when the job is redone.');
  if (choice === 'approve' && why.length > MAX_APPROVAL_NOTE)
    return refuse(d, actor, stage, 'invalid', `An approval note may be at most ${MAX_APPROVAL_NOTE} characters; yours has ${why.length}. Shorten it and approve again.`);
  const approvalsOf = () => gate.votes.filter((v) => v.vote === 'approve');
  if (choice === 'approve' && approvalsOf().some((v) => v.actor === actor.id))
    return refuse(d, actor, stage, 'already_voted', `You already approved; ${gate.minApprovals - approvalsOf().length} more approval(s) needed from others.`);

  gate.votes = gate.votes.filter((v) => v.actor !== actor.id);
  gate.votes.push({ actor: actor.id, display: actor.display, vote: choice, reason: why || null, at: d.now });
  const approvals = approvalsOf().length;
  d.emit('gate.voted', { stage, round: gate.round, actor: actor.id, display: actor.display, vote: choice, reason: why || null, approvals, needed: gate.minApprovals });

  if (choice === 'reject') {
    decide(d, gate, 'rejected', actor.display, why);
    d.emit('gate.rejected', { stage, round: gate.round, by: actor.display, reason: why, waited_ms: d.now - gate.openedAt });
    d.finish('rejected', `"${stage}" rejected by ${actor.display}: ${why}`);
    return { ok: true, message: `Rejected "${stage}" of job ${d.job.id}. Retry the job to redo the stage with your reason.` };
  }
  if (approvals >= gate.minApprovals) {
    approveAndAdvance(d, gate, actor.display, false);
    return { ok: true, message: `Approved "${stage}" of job ${d.job.id}.` };
  }
  return { ok: true, message: `Approval recorded for "${stage}" of job ${d.job.id}: ${approvals} of ${gate.minApprovals}.` };
}

export function hold(d: Draft, actor: Actor, stage: string, round?: number): Reply {
  const found = gateFor(d, actor, stage, round);
  if (!('gate' in found)) return found;
  const { gate } = found;
  if (gate.required || gate.state === 'held')
    return refuse(d, actor, stage, 'not_holdable', gate.required
      ? `The "${stage}" gate is required: it already waits for a decision, so there is nothing to hold.`
      : `The "${stage}" gate is already held; approve or reject it.`);
  gate.state = 'held';
  gate.deadlineAt = null;
  gate.deadlineKind = null;
  d.emit('gate.held', { stage, round: gate.round, by: actor.display });
  return { ok: true, message: `Held "${stage}" of job ${d.job.id}: it will not auto-approve; approve or reject it when ready.` };
}

/** Reminders and deadlines that fell due by `d.now`. */
export function fireGateTimers(d: Draft): void {
  const gate = d.openGate();
  if (!gate || (gate.state !== 'pending' && gate.state !== 'held')) return;
  const def = d.stageDef(gate.stage)?.gate;
  if (!def) return;
  // A held gate still waits for people, so it escalates too; its other timers are stopped.
  if (gate.escalateAt !== null && gate.escalateAt <= d.now) {
    gate.escalateAt = null;
    gate.escalatedAt = d.now;
    d.emit('gate.escalated', { stage: gate.stage, round: gate.round, escalate_to: def.escalate_to ?? [], waited_ms: d.now - gate.openedAt });
  }
  if (gate.state !== 'pending') return;
  if (gate.deadlineAt !== null && gate.deadlineAt <= d.now) {
    if (gate.deadlineKind === 'auto_approve') return approveAndAdvance(d, gate, 'timer', true);
    const waited = formatDuration(d.now - gate.openedAt);
    d.emit('gate.expired', { stage: gate.stage, round: gate.round, on_timeout: def.on_timeout, waited_ms: d.now - gate.openedAt });
    if (def.on_timeout === 'approve') return approveAndAdvance(d, gate, 'timeout', true);
    const reason = `no decision within ${waited}`;
    decide(d, gate, 'expired', 'timeout', reason);
    d.finish(def.on_timeout === 'fail' ? 'failed' : 'rejected', `"${gate.stage}" gate expired: ${reason}`);
    return;
  }
  if (gate.remindAt !== null && gate.remindAt <= d.now) {
    d.emit('gate.reminded', { stage: gate.stage, round: gate.round, deadline_at: gate.deadlineAt, approvers: def.approvers });
    gate.remindAt = gate.deadlineAt === null ? null : nextReminder(def, gate.openedAt, gate.deadlineAt, d.now);
  }
}
