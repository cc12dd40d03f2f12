/**
 * The engine's side of the store's unit of work: the decider the store calls for each job inside
 * its transaction (the pure transition, timed by the engine's clock), and which events chat
 * surfaces are told about.
 */
import type { Decider } from '../store/store.js';
import { transition } from './transition.js';
import type { JobInput } from './types.js';

export type { Committed } from '../store/store.js';

/** Events that chat surfaces are not told about (they stay in the audit trail). */
const QUIET_EVENTS = new Set(['gate.refused']);

/** The transition as the store's decider: synchronous and pure, so it may run inside a transaction. */
export function transitionDecider(clock: { now(): number }): Decider<JobInput> {
  return {
    decide(prev, input) {
      const now = clock.now();
      return { ...transition(prev, input, now), at: now };
    },
    toChat: (type) => !QUIET_EVENTS.has(type),
  };
}
