/**
 * Telling the deciders that a gate waits for them: who to mention in the thread and who to reach
 * by direct message, when a gate opens, is reminded and escalates. Neutral: the text is our own
 * words and configured names only (never a brief, reason or summary), and the people are ids per
 * platform, which each surface turns into its own mention markup.
 */
import { formatDuration } from '../../config/duration.js';
import type { Config } from '../../config/schema.js';
import { decidersOf, hasDeciders, excludedActors, type Deciders } from '../../orchestrator/deciders.js';
import type { JobAggregate } from '../../orchestrator/types.js';
import type { StoredEvent } from '../../store/store.js';
import type { Tone } from './types.js';

export interface PingView {
  kind: 'ping';
  jobId: number;
  seq: number;
  stage: string;
  round: number;
  icon: string;
  tone: Tone;
  /** Plain text, no markup; surfaces escape it and add the mentions. */
  text: string;
  /** Whom to mention in the thread; null: post the text alone (reminders, escalations) or nothing. */
  mention: Deciders | null;
  /** Post in the thread even with nobody to mention. */
  always: boolean;
  /** Whom to reach by direct message; null: nobody. */
  dm: Deciders | null;
  /** Actor ids never to DM when a group is expanded to its members (the submitter barred from approving, voters). */
  dmExclude: string[];
  /** The DM is the gate card with its buttons (opening, escalation); otherwise the text (a reminder). */
  dmCard: boolean;
}

/** Events that reach deciders. */
export const PING_EVENTS: ReadonlySet<string> = new Set(['gate.opened', 'gate.reminded', 'gate.escalated']);

/** The ping an event makes, or null (not a ping event, or the gate is no longer open). */
export function pingFor(event: StoredEvent, agg: JobAggregate, operators: Config['operators']): PingView | null {
  if (!PING_EVENTS.has(event.type)) return null;
  const stage = String(event.data.stage);
  const round = Number(event.data.round);
  const def = agg.job.def.stages.find((s) => s.id === stage);
  const gate = agg.gates.find((g) => g.stage === stage && g.round === round);
  if (!def?.gate || !gate) return null;
  const open = gate.state === 'pending' || gate.state === 'held';
  const name = def.name ?? stage;
  const notify = def.gate.notify ?? 'mention';
  const mentions = notify === 'mention' || notify === 'both';
  const dms = notify === 'dm' || notify === 'both';
  const base = { kind: 'ping' as const, jobId: agg.job.id, seq: event.seq, stage, round };
  const reach = (query: Parameters<typeof decidersOf>[4]) => {
    const d = decidersOf(operators, def.gate!, gate, agg.job, query);
    return { d: hasDeciders(d) ? d : null, exclude: excludedActors(def.gate!, gate, agg.job, query) };
  };
  switch (event.type) {
    case 'gate.opened': {
      // Delivered late (after a restart), a gate decided meanwhile needs nobody any more.
      const { d, exclude } = reach({});
      if (!open || !d) return null;
      return { ...base, icon: '🔔', tone: 'waiting', text: `${name} of job ${agg.job.id} needs your decision:`, mention: mentions ? d : null, always: false, dm: dms ? d : null, dmExclude: exclude, dmCard: true };
    }
    case 'gate.reminded': {
      const { d, exclude } = reach({ skipVoters: true });
      const left = typeof event.data.deadline_at === 'number' ? ` It times out in ${formatDuration(event.data.deadline_at - event.at)}.` : '';
      const text = `Reminder: ${name} of job ${agg.job.id} still needs a decision from ${def.gate.approvers.join(' or ')}.${left}`;
      return { ...base, icon: '⏰', tone: 'waiting', text, mention: mentions && open ? d : null, always: true, dm: dms && open ? d : null, dmExclude: exclude, dmCard: false };
    }
    default: {
      const { d, exclude } = reach({ who: 'escalation', skipVoters: true });
      const groups = (def.gate.escalate_to ?? []).join(', ');
      const text = `Escalated: ${name} of job ${agg.job.id} got no decision in ${formatDuration(Number(event.data.waited_ms) || 0)}; ${groups} may decide it now too.`;
      return { ...base, icon: '📣', tone: 'waiting', text, mention: mentions && open ? d : null, always: true, dm: dms && open ? d : null, dmExclude: exclude, dmCard: true };
    }
  }
}
