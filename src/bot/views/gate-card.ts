/** The gate card: what is being reviewed, who may decide, the tally, the timer, the outcome. */
import { formatDuration } from '../../config/duration.js';
import type { Gate, JobAggregate } from '../../orchestrator/types.js';
import type { Artifact } from '../../store/store.js';
import { GATE_LOOK } from './icons.js';
import { approvalNoteText } from './approval-note.js';
import type { ArtifactRef, GateCardView } from './types.js';

export const artifactRef = (a: Artifact): ArtifactRef => ({ id: a.id, name: a.name, stage: a.stage, size: a.size, mediaType: a.mediaType });

function outcomeLabel(gate: Gate): string {
  const by = gate.decidedBy;
  switch (gate.state) {
    case 'approved':
      return by === 'timer' ? 'Auto-approved: nobody objected in time' : by === 'timeout' ? 'Approved when the timeout ran out' : `Approved by ${gate.votes.filter((v) => v.vote === 'approve').map((v) => v.display).join(', ') || by}`;
    case 'rejected':
      return `Rejected by ${by}`;
    case 'expired':
      return `Expired: ${gate.reason ?? 'no decision in time'}`;
    case 'cancelled':
      return `Cancelled by ${by}`;
    default:
      return '';
  }
}

/** `artifacts` are the job's current artifacts; the card shows those of the reviewed stage's run. */
export function gateCardView(agg: JobAggregate, gate: Gate, artifacts: Artifact[]): GateCardView {
  const def = agg.job.def.stages.find((s) => s.id === gate.stage);
  const rec = agg.stages.find((s) => s.stage === gate.stage);
  const look = GATE_LOOK[gate.state];
  const open = gate.state === 'pending' || gate.state === 'held';
  const approvals = gate.votes.filter((v) => v.vote === 'approve');
  const name = def?.name ?? gate.stage;
  const kind = gate.required ? 'Approval needed' : 'Optional review';
  const roundText = gate.round > 1 ? ` (round ${gate.round})` : '';
  const redo = rec?.run && gate.round > 1 ? agg.gates.find((g) => g.stage === gate.stage && g.round === gate.round - 1)?.reason ?? null : null;
  const waits = gate.deadlineAt !== null && gate.deadlineKind
    ? { kind: gate.deadlineKind, at: gate.deadlineAt, onTimeout: gate.deadlineKind === 'timeout' ? def?.gate?.on_timeout ?? null : null }
    : null;
  const hint = !open ? null
    : gate.state === 'held' ? 'Held: it will not auto-approve.'
    : waits?.kind === 'auto_approve' ? `Approves itself in ${formatDuration(waits.at - gate.openedAt)} unless someone decides or holds it.`
    : waits ? `Times out after ${formatDuration(waits.at - gate.openedAt)} (then: ${waits.onTimeout}).` : null;
  const escalation = open ? escalationHint(gate, def?.gate?.escalate_to ?? []) : null;
  return {
    kind: 'gate.card',
    jobId: agg.job.id,
    stage: gate.stage,
    stageName: name,
    round: gate.round,
    required: gate.required,
    state: gate.state,
    icon: look.icon,
    tone: look.tone,
    title: `${kind}: ${name} of job ${agg.job.id}${roundText}`,
    text: [rec?.summary ?? `${name} finished`, hint, escalation]
      .filter((t): t is string => Boolean(t))
      .map((t) => (/[.!?…]$/.test(t) ? t : `${t}.`))
      .join(' '),
    redoReason: redo,
    approvers: def?.gate?.approvers ?? [],
    approvals: { count: approvals.length, needed: gate.minApprovals, names: approvals.map((v) => v.display) },
    deadline: open ? waits : null,
    actions: !open ? [] : gate.required || gate.state === 'held' ? ['approve', 'reject'] : ['approve', 'reject', 'hold'],
    outcome: open ? null : { label: outcomeLabel(gate), by: gate.decidedBy, at: gate.decidedAt, reason: gate.state === 'approved' ? approvalNoteText(gate) : gate.reason },
    artifacts: artifacts.filter((a) => a.stage === gate.stage && a.run === rec?.run).map(artifactRef),
    openedAt: gate.openedAt,
  };
}

/** What the card says about escalation: who it escalates to and when, or that it did. */
function escalationHint(gate: Gate, groups: readonly string[]): string | null {
  if (!groups.length) return null;
  if (gate.escalatedAt !== null) return `Escalated to ${groups.join(', ')}: they may decide too.`;
  return gate.escalateAt !== null ? `Escalates to ${groups.join(', ')} after ${formatDuration(gate.escalateAt - gate.openedAt)}.` : null;
}
