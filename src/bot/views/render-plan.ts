/**
 * What each event changes on a chat surface: the status message, a gate card, a thread notice.
 * Every surface follows the same plan, so they all show the same thing.
 */
import type { StoredEvent } from '../../store/store.js';
import { PING_EVENTS } from './ping.js';

export interface RenderPlan {
  /** Edit the job's status message. */
  status: boolean;
  /** Create or edit this gate's card. */
  gate: { stage: string; round: number } | null;
  /** Post a notice in the thread (see noticeFor). */
  notice: boolean;
  /** Reach the gate's deciders (see ping.ts): chat surfaces post this instead of the notice. */
  ping: boolean;
}

/**
 * Events people read about in the thread. An approval is not one of them: its card, in the same
 * thread, is edited to say who approved (or that the timer did) and when, nothing waits on anyone
 * after it, and the next stage's result follows in the thread; a notice would only repeat the
 * card. Rejections, expiries and holds do get one: they stop or change the job's course.
 */
const NOTICES = new Set([
  'stage.succeeded', 'stage.failed', 'stage.retried', 'stage.recovered', 'gate.rejected',
  'gate.expired', 'gate.held', 'gate.reminded', 'gate.escalated', 'job.cancelled', 'job.retried', 'job.finished',
]);

export function renderPlan(event: StoredEvent): RenderPlan {
  const isGate = event.type.startsWith('gate.') && event.type !== 'gate.refused' && event.type !== 'gate.reminded';
  return {
    status: event.type !== 'gate.refused' && event.type !== 'artifact.added',
    gate: isGate ? { stage: String(event.data.stage), round: Number(event.data.round) } : null,
    notice: NOTICES.has(event.type),
    ping: PING_EVENTS.has(event.type),
  };
}
