/**
 * Applying one input to one job in the store: load the aggregate, run the pure transition, and
 * write the new state, its events (with outbox rows for chat) and artifacts in one transaction —
 * a savepoint when the caller already holds one, as the engine's group commit does.
 */
import type { Store, StoredEvent } from '../store/store.js';
import { StoreError } from '../store/store.js';
import { transition } from './transition.js';
import type { Effect, JobAggregate, JobInput, Reply } from './types.js';

/** What one applied input stored, and what is left to do once it is committed. */
export interface Committed {
  agg: JobAggregate;
  effects: Effect[];
  events: StoredEvent[];
  reply?: Reply;
}

/** Events that chat surfaces are not told about (they stay in the audit trail). */
const QUIET_EVENTS = new Set(['gate.refused']);

/** Applies `input` to job `jobId`; undefined when there is no such job. Throws when it cannot be stored. */
export function commitInput(store: Store, clock: { now(): number }, jobId: number, input: JobInput, attempts = 3): Committed | undefined {
  try {
    return store.transaction(() => {
      // Read-only: transition() works on its own copy.
      const prev = store.jobs.loadShared(jobId);
      if (!prev) return undefined;
      const now = clock.now();
      const { agg, effects, reply } = transition(prev, input, now);
      if (effects.length === 0) return { agg: prev, effects, events: [], ...(reply ? { reply } : {}) };
      const events = persistEffects(store, agg, effects, now);
      store.jobs.save(prev, agg, now);
      return { agg, effects, events, ...(reply ? { reply } : {}) };
    });
  } catch (err) {
    // Another process changed the job between our read and write: read again and re-decide.
    if (err instanceof StoreError && err.code === 'conflict' && attempts > 1) return commitInput(store, clock, jobId, input, attempts - 1);
    throw err;
  }
}

/** Writes event rows (with outbox rows for chat) and artifacts; runs inside the transaction. */
export function persistEffects(store: Store, agg: JobAggregate, effects: Effect[], now: number): StoredEvent[] {
  const events: StoredEvent[] = [];
  const append = (type: string, data: Record<string, unknown>) => {
    agg.job.lastSeq += 1;
    const targets = QUIET_EVENTS.has(type) ? [] : agg.job.targets;
    events.push(store.events.append(agg.job.id, agg.job.lastSeq, type, now, data, targets));
  };
  for (const effect of effects) {
    if (effect.type === 'event') append(effect.event, effect.data);
    else if (effect.type === 'artifact') {
      const a = store.artifacts.insert(agg.job.id, effect.file, now);
      append('artifact.added', { artifact: a.id, stage: a.stage, name: a.name, size: a.size, media_type: a.mediaType });
    }
  }
  return events;
}
