/** The approval notes a decided card shows after "Approved by …" (plain text; surfaces escape it). */
import { notesOf } from '../../orchestrator/approval-notes.js';
import type { Gate } from '../../orchestrator/types.js';

/**
 * One approver's note as typed ("fine, but check the intro timing"); several are named
 * ("alice: …; bob: …"), since the label above lists every approver. Null when nobody left one.
 */
export function approvalNoteText(gate: Gate): string | null {
  const notes = notesOf(gate);
  if (!notes.length) return null;
  const approvers = gate.votes.filter((v) => v.vote === 'approve').length;
  return approvers === 1 ? notes[0]!.note : notes.map((n) => `${n.by}: ${n.note}`).join('; ');
}
