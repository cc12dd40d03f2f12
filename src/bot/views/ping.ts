/**
 * Telling the deciders that a gate waits for them: who to mention in the thread and who to reach
 * by direct message, when a gate opens, is reminded and escalates. When a gate opens, its card
 * itself carries the mentions (see cardReachFor): posting the card is what notifies, and no
 * separate reply is needed. Reminders and escalations post a reply, since an edit notifies nobody. Neutral: the text is our own
 * words and configured names only (never a brief, reason or summary), and the people are ids per
 * platform, which each surface turns into its own mention markup.
 */
import { formatDuration } from '../../config/duration.js';
import type { Config } from '../../config/schema.js';
import { decidersOf, hasDeciders, excludedActors, type Deciders } from '../../orchestrator/deciders.js';
import type { Gate, JobAggregate } from '../../orchestrator/types.js';
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
  /** Post a reply in the thread: false when the gate opens (its card carries the mentions). */
  thread: boolean;
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
      return { ...base, icon: '🔔', tone: 'waiting', text: `${name} of job ${agg.job.id} needs your decision:`, thread: false, mention: mentions ? d : null, always: false, dm: dms ? d : null, dmExclude: exclude, dmCard: true };
    }
    case 'gate.reminded': {
      const { d, exclude } = reach({ skipVoters: true });
      const left = typeof event.data.deadline_at === 'number' ? ` It times out in ${formatDuration(event.data.deadline_at - event.at)}.` : '';
      const text = `Reminder: ${name} of job ${agg.job.id} still needs a decision from ${def.gate.approvers.join(' or ')}.${left}`;
      return { ...base, icon: '⏰', tone: 'waiting', text, thread: true, mention: mentions && open ? d : null, always: true, dm: dms && open ? d : null, dmExclude: exclude, dmCard: false };
    }
    default: {
      const { d, exclude } = reach({ who: 'escalation', skipVoters: true });
      const groups = (def.gate.escalate_to ?? []).join(', ');
      const text = `Escalated: ${name} of job ${agg.job.id} got no decision in ${formatDuration(Number(event.data.waited_ms) || 0)}; ${groups} may decide it now too.`;
      return { ...base, icon: '📣', tone: 'waiting', text, thread: true, mention: mentions && open ? d : null, always: true, dm: dms && open ? d : null, dmExclude: exclude, dmCard: true };
    }
  }
}

/** Whom an open gate's card mentions in the thread, and whom the gate reaches by direct message. */
export interface CardReach {
  /** `notify: mention | both`: the deciders, to be mentioned on the card. */
  mention: Deciders | null;
  /** `notify: dm | both`: the deciders DMed (a surface still mentions on the card those it cannot DM). */
  dm: Deciders | null;
}

/**
 * What a gate round's card in the thread says about its deciders: while the gate is open, who
 * it waits for (the same people its opening reaches); null once it is decided, so an edited
 * card shows its outcome and no stale "waiting for". The card is posted when the gate opens,
 * so its mentions are the ones that notify; edits (votes, holds, escalation) notify nobody.
 */
export function cardReachFor(agg: JobAggregate, gate: Gate, operators: Config['operators']): CardReach | null {
  if (gate.state !== 'pending' && gate.state !== 'held') return null;
  const def = agg.job.def.stages.find((s) => s.id === gate.stage)?.gate;
  if (!def) return null;
  const notify = def.notify ?? 'mention';
  const d = decidersOf(operators, def, gate, agg.job);
  if (notify === 'none' || !hasDeciders(d)) return null;
  return { mention: notify === 'mention' || notify === 'both' ? d : null, dm: notify === 'dm' || notify === 'both' ? d : null };
}
