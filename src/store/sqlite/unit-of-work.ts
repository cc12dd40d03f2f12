/**
 * The unit of work on SQLite: the whole of `apply` is one synchronous better-sqlite3 transaction
 * (BEGIN IMMEDIATE … COMMIT), each item in its own savepoint. Nothing awaits inside it, so no
 * other code of this process can slip a statement into the open transaction, and the cost is
 * what the engine's group commit cost when it held the transaction itself.
 */
import { cloneAggregate } from '../../orchestrator/clone-aggregate.js';
import type { JobAggregate } from '../../orchestrator/types.js';
import { StoreError } from '../errors.js';
import type { Applied, Committed, Decider, Decision, Guard, StoredEvent, Work } from '../port.js';
import type { SyncStore } from './statements.js';

/** Runs `work` in one transaction; throws when the transaction as a whole could not be stored. */
export function applySync<I>(s: SyncStore, work: Work<I>, d: Decider<I>): Applied {
  const out: Applied = { refused: false, committed: [], items: [] };
  s.transaction(() => {
    if (work.guard && !guardHolds(s, work.guard)) {
      out.refused = true;
      return;
    }
    // A compare-and-set, as on PostgreSQL: an interaction already carried out changes nothing.
    if (work.inboxDone !== undefined && !s.inbox.done(work.inboxDone)) {
      out.refused = true;
      return;
    }
    if (work.create && work.submitLimit) {
      // Inside the one writer's transaction: no other submission can be counted meanwhile.
      const l = work.submitLimit;
      const recent = s.queries.submittedSince(l.submitter, l.since);
      if (recent.n >= l.max) {
        out.limited = recent;
        return;
      }
    }
    if (work.create) {
      const created = s.transaction(() => createOne(s, work.create!, d));
      out.created = created;
      out.committed.push(created);
    }
    for (const item of work.items) {
      try {
        const committed = commitOne(s, item.jobId, item.input, d);
        out.items.push({ ok: true, committed });
        if (committed) out.committed.push(committed);
      } catch (error) {
        // A disk or I/O error can end the whole transaction, not just the savepoint: then
        // nothing of the unit was stored, and the error must end the unit too.
        if (work.atomic || !s.inTransaction()) throw error;
        out.items.push({ ok: false, error });
      }
    }
    const start = work.startQueued;
    if (start && start.when(out.committed)) {
      try {
        const free = start.maxConcurrent - s.queries.activeCount();
        for (const id of free > 0 ? s.queries.queuedIds(free) : []) {
          const c = commitOne(s, id, start.input, d);
          if (c) out.committed.push(c);
        }
      } catch (err) {
        if (!s.inTransaction()) throw err;
        out.startError = err;
      }
    }
  });
  return out;
}

/** Loads, decides and saves one job in a savepoint; undefined when there is no such job. */
function commitOne<I>(s: SyncStore, jobId: number, input: I, d: Decider<I>, attempts = 3): Committed | undefined {
  try {
    return s.transaction(() => {
      // Read-only: the decider works on its own copy.
      const prev = s.jobs.loadShared(jobId);
      if (!prev) return undefined;
      const dec = d.decide(prev, input);
      if (dec.effects.length === 0) return { agg: prev, effects: dec.effects, events: [], ...(dec.reply ? { reply: dec.reply } : {}) };
      const events = persist(s, dec, d);
      s.jobs.save(prev, dec.agg, dec.at);
      return { agg: dec.agg, effects: dec.effects, events, ...(dec.reply ? { reply: dec.reply } : {}) };
    });
  } catch (err) {
    // Another process changed the job between our read and write: read again and re-decide.
    if (err instanceof StoreError && err.code === 'conflict' && attempts > 1) return commitOne(s, jobId, input, d, attempts - 1);
    throw err;
  }
}

function createOne<I>(s: SyncStore, dec: Decision, d: Decider<I>): Committed {
  s.jobs.insert(dec.agg);
  const prev: JobAggregate = cloneAggregate(dec.agg);
  const events = persist(s, dec, d);
  s.jobs.save(prev, dec.agg, dec.at);
  return { agg: dec.agg, effects: dec.effects, events, ...(dec.reply ? { reply: dec.reply } : {}) };
}

/** Writes event rows (with outbox rows for chat) and artifacts of a decision. */
function persist<I>(s: SyncStore, dec: Decision, d: Decider<I>): StoredEvent[] {
  const { agg, at } = dec;
  const events: StoredEvent[] = [];
  const append = (type: string, data: Record<string, unknown>) => {
    agg.job.lastSeq += 1;
    events.push(s.events.append(agg.job.id, agg.job.lastSeq, type, at, data, d.toChat(type) ? agg.job.targets : []));
  };
  for (const effect of dec.effects) {
    if (effect.type === 'event') append(effect.event, effect.data);
    else if (effect.type === 'artifact') {
      const a = s.artifacts.insert(agg.job.id, effect.file, at);
      append('artifact.added', { artifact: a.id, stage: a.stage, name: a.name, size: a.size, media_type: a.mediaType });
    }
  }
  return events;
}

function guardHolds(s: SyncStore, g: Guard): boolean {
  // Stage runs on SQLite are in-process: there are no leases to expire.
  if (g.type === 'stageLease.expired') return false;
  if (g.current) {
    const rec = s.jobs.loadShared(g.current.jobId)?.stages.find((st) => st.stage === g.current!.stage);
    if (rec?.state !== 'running' || rec.run !== g.current.run) return false;
  }
  return s.externalRuns.end(g.id, g.state, g.at, g.reportHash ?? null);
}
