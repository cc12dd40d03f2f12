/**
 * "What waits for me": the open gates a person may decide now, oldest first, as neutral items
 * every surface lists (with its own link to the card and, where it can, Approve/Reject buttons).
 */
import { formatDuration } from '../../config/duration.js';
import { waitsFor } from '../../orchestrator/deciders.js';
import type { Actor } from '../../orchestrator/types.js';
import type { Store } from '../../store/store.js';

export interface PendingItem {
  jobId: number;
  pipeline: string;
  stage: string;
  stageName: string;
  round: number;
  required: boolean;
  openedAt: number;
  deadlineAt: number | null;
  deadlineKind: 'auto_approve' | 'timeout' | null;
  /** The gate escalated (the person may be deciding as one of its escalation group). */
  escalated: boolean;
}

/** Most items listed; the oldest come first. */
export const MAX_PENDING = 50;

/** The gates waiting for `actor` now, oldest first (see waitsFor: approvers who have not voted, escalation after it). */
export async function pendingFor(store: Store, actor: Actor, limit = MAX_PENDING): Promise<PendingItem[]> {
  const items: PendingItem[] = [];
  for (const row of await store.queries.openGates()) {
    const agg = await store.jobs.loadShared(row.job);
    const gate = agg?.gates.find((g) => g.stage === row.stage && g.round === row.round);
    const def = agg?.job.def.stages.find((s) => s.id === row.stage);
    if (!agg || !gate || !def?.gate || !waitsFor(actor, def.gate, gate, agg.job)) continue;
    items.push({
      jobId: agg.job.id, pipeline: agg.job.pipeline, stage: gate.stage, stageName: def.name ?? gate.stage, round: gate.round,
      required: gate.required, openedAt: gate.openedAt, deadlineAt: gate.deadlineAt, deadlineKind: gate.deadlineKind, escalated: gate.escalatedAt !== null,
    });
    if (items.length >= limit) break;
  }
  return items;
}

/** One line per item, plain text: `#3 demo · Script (round 2) · waiting 2h · times out in 4h`. */
export function pendingLine(item: PendingItem, now: number): string {
  const round = item.round > 1 ? ` (round ${item.round})` : '';
  const deadline = item.deadlineAt === null ? ''
    : ` · ${item.deadlineKind === 'auto_approve' ? 'auto-approves' : 'times out'} in ${formatDuration(Math.max(0, item.deadlineAt - now))}`;
  return `#${item.jobId} ${item.pipeline} · ${item.stageName}${round} · waiting ${formatDuration(Math.max(0, now - item.openedAt))}${deadline}${item.escalated ? ' · escalated' : ''}`;
}

/** The answer to `/signoff pending` in plain text; `link` adds where the card is, per surface. */
export function pendingText(items: PendingItem[], now: number, link?: (item: PendingItem) => string | undefined): string {
  if (!items.length) return 'Nothing waits for you: no open gate needs your decision.';
  const lines = items.map((i) => {
    const where = link?.(i);
    return `${pendingLine(i, now)}${where ? ` — ${where}` : ''}`;
  });
  return [`${items.length} gate${items.length === 1 ? '' : 's'} wait${items.length === 1 ? 's' : ''} for you (oldest first):`, ...lines].join('\n');
}

/** The console's anchor of a gate card (the element id render-gate.js gives it). */
export function consoleAnchor(item: Pick<PendingItem, 'jobId' | 'stage' | 'round'>): string {
  return `#job-${item.jobId}-gate-${item.stage}-${item.round}`;
}

