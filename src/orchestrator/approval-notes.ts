/**
 * Approval notes: the "yes, but…" an approver may add to an approval. A note is the reason of an
 * approve vote; it is kept in the audit (gate.voted, gate.approved), shown on the decided card,
 * and handed to every later stage. Pure.
 */
import type { Gate, JobAggregate } from './types.js';

/** Longest note accepted; a longer one is refused with its length, and nothing changes. */
export const MAX_APPROVAL_NOTE = 1000;

/** A note as later stages receive it (`approval_notes`, `SIGNOFF_APPROVAL_NOTES`). */
export interface ApprovalNote {
  stage: string;
  round: number;
  by: string;
  note: string;
}

/** The notes of a gate's approvals, in the order they were given. */
export function notesOf(gate: Gate): ApprovalNote[] {
  return gate.votes
    .filter((v) => v.vote === 'approve' && v.reason)
    .map((v) => ({ stage: gate.stage, round: gate.round, by: v.display, note: v.reason! }));
}

/** The notes left on the approved gates of the stages before `stage`, earliest stage first. */
export function approvalNotesBefore(agg: JobAggregate, stage: string): ApprovalNote[] {
  const index = agg.job.def.stages.findIndex((s) => s.id === stage);
  return agg.job.def.stages.slice(0, Math.max(0, index)).flatMap((s) => {
    const latest = agg.gates.filter((g) => g.stage === s.id).sort((a, b) => b.round - a.round)[0];
    return latest?.state === 'approved' ? notesOf(latest) : [];
  });
}
