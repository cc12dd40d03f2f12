/**
 * The unit of work on PostgreSQL (mirrors ../sqlite/unit-of-work.ts): one transaction on one
 * pooled client, each item in its own savepoint. Each job is read `FOR UPDATE`, decided by the
 * synchronous decider (nothing else runs on this client meanwhile), and written with the same
 * compare-and-sets as SQLite. Queued jobs are started under a transaction-scoped advisory lock,
 * so two units (or two processes) cannot both count a free place and overfill
 * `max_concurrent_jobs`; the queued rows are taken with SKIP LOCKED.
 */
import type pg from 'pg';
import { cloneAggregate } from '../../orchestrator/clone-aggregate.js';
import type { JobAggregate } from '../../orchestrator/types.js';
import { StoreError } from '../errors.js';
import type { Applied, Committed, Decider, Decision, Guard, StoredEvent, Work } from '../port.js';
import { activeCountOn, submittedSinceOn } from './queries.js';
import { takeExpiredLease } from './stage-leases.js';
import { rows } from './sql.js';
import type { PgStatements } from './statements.js';

/** An arbitrary constant: the advisory lock held while a unit counts free places and starts queued jobs. */
const START_LOCK = 7_246_183_502;
/** The first half of the two-key advisory lock a submitter's submissions take (a key space apart from the one-key locks). */
const SUBMIT_LOCK = 72_461_835;

/** Runs `work` in the open transaction on `tx`; throws when the transaction as a whole cannot be stored. */
export async function applyOn<I>(s: PgStatements, tx: pg.PoolClient, work: Work<I>, d: Decider<I>): Promise<Applied> {
  const out: Applied = { refused: false, committed: [], items: [] };
  // A pooled client may carry the mark of an earlier transaction (COMMIT released its savepoints).
  unreleased.delete(tx);
  if (work.guard && !(await guardHolds(s, tx, work.guard))) {
    out.refused = true;
    return out;
  }
  // A compare-and-set: when another replica carried the interaction out first (it claimed the
  // row after this one's lease lapsed), nothing of this unit is stored.
  if (work.inboxDone !== undefined && !(await s.inbox.done(work.inboxDone, tx))) {
    out.refused = true;
    return out;
  }
  if (work.create && work.submitLimit) {
    const l = work.submitLimit;
    // Held to the end of the transaction: a submission of the same person on any process waits
    // here until this one's job is committed (and counted) or rolled back.
    await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SUBMIT_LOCK, l.submitter]);
    const recent = await submittedSinceOn(tx, l.submitter, l.since);
    if (recent.n >= l.max) {
      out.limited = recent;
      return out;
    }
  }
  if (work.create) {
    // A copy: the writes number its events and ids in place, and a unit run again after a lost
    // connection must start from the decision as it was.
    const created = await createOne(s, tx, { ...work.create, agg: cloneAggregate(work.create.agg) }, d);
    out.created = created;
    out.committed.push(created);
  }
  for (const item of work.items) {
    try {
      const committed = await savepoint(tx, () => commitOne(s, tx, item.jobId, item.input, d));
      out.items.push({ ok: true, committed });
      if (committed) out.committed.push(committed);
    } catch (error) {
      if (work.atomic || error instanceof TransactionLost) throw error;
      out.items.push({ ok: false, error });
    }
  }
  const start = work.startQueued;
  if (start && start.when(out.committed)) {
    try {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [START_LOCK]);
      const free = start.maxConcurrent - (await activeCountOn(tx));
      const ids = free > 0 ? await rows<{ id: number }>(tx, `SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, [free]) : [];
      for (const { id } of ids) {
        const c = await savepoint(tx, () => commitOne(s, tx, id, start.input, d));
        if (c) out.committed.push(c);
      }
    } catch (err) {
      if (err instanceof TransactionLost) throw err;
      out.startError = err;
    }
  }
  return out;
}

/** The transaction itself is gone (the savepoint could not be rolled back to): nothing of the unit can be stored. */
class TransactionLost extends Error {}

/** Savepoints still to be released on a transaction's client (see `savepoint`). */
const unreleased = new WeakSet<pg.PoolClient>();

/**
 * Runs `fn` in a savepoint: its writes are undone alone if it throws, and the error is rethrown.
 * A `conflict` (another writer changed the job between read and write) is read and decided
 * again, up to 3 times, as on SQLite. A savepoint that succeeded is released together with the
 * next one's start (or by COMMIT), saving a round trip per item.
 */
async function savepoint<T>(tx: pg.PoolClient, fn: () => Promise<T>, attempts = 3): Promise<T> {
  await tx.query(unreleased.delete(tx) ? 'RELEASE SAVEPOINT item; SAVEPOINT item' : 'SAVEPOINT item');
  try {
    const result = await fn();
    unreleased.add(tx);
    return result;
  } catch (err) {
    try {
      await tx.query('ROLLBACK TO SAVEPOINT item; RELEASE SAVEPOINT item');
    } catch {
      throw new TransactionLost(`the transaction was lost: ${(err as Error).message}`, { cause: err });
    }
    if (err instanceof StoreError && err.code === 'conflict' && attempts > 1) return savepoint(tx, fn, attempts - 1);
    throw err;
  }
}

/** Loads (locked), decides and saves one job; undefined when there is no such job. */
async function commitOne<I>(s: PgStatements, tx: pg.PoolClient, jobId: number, input: I, d: Decider<I>): Promise<Committed | undefined> {
  const prev = await s.jobs.loadForUpdate(tx, jobId);
  if (!prev) return undefined;
  const dec = d.decide(prev, input);
  if (dec.effects.length === 0) return { agg: prev, effects: dec.effects, events: [], ...(dec.reply ? { reply: dec.reply } : {}) };
  const events = await persist(s, tx, dec, d);
  await s.jobs.save(tx, prev, dec.agg, dec.at);
  return { agg: dec.agg, effects: dec.effects, events, ...(dec.reply ? { reply: dec.reply } : {}) };
}

async function createOne<I>(s: PgStatements, tx: pg.PoolClient, dec: Decision, d: Decider<I>): Promise<Committed> {
  await s.jobs.insert(tx, dec.agg);
  const prev: JobAggregate = cloneAggregate(dec.agg);
  const events = await persist(s, tx, dec, d);
  await s.jobs.save(tx, prev, dec.agg, dec.at);
  return { agg: dec.agg, effects: dec.effects, events, ...(dec.reply ? { reply: dec.reply } : {}) };
}

/** Writes event rows (with outbox rows for chat) and artifacts of a decision: artifacts first (events name their ids), then the events in one statement. */
async function persist<I>(s: PgStatements, tx: pg.PoolClient, dec: Decision, d: Decider<I>): Promise<StoredEvent[]> {
  const { agg, at } = dec;
  const events: { seq: number; type: string; data: Record<string, unknown> }[] = [];
  const append = (type: string, data: Record<string, unknown>) => {
    agg.job.lastSeq += 1;
    events.push({ seq: agg.job.lastSeq, type, data });
  };
  for (const effect of dec.effects) {
    if (effect.type === 'event') append(effect.event, effect.data);
    else if (effect.type === 'artifact') {
      const a = await s.artifacts.insert(tx, agg.job.id, effect.file, at);
      append('artifact.added', { artifact: a.id, stage: a.stage, name: a.name, size: a.size, media_type: a.mediaType });
    }
  }
  return s.events.appendAll(tx, agg.job.id, at, events, (type) => (d.toChat(type) ? agg.job.targets : []));
}

async function guardHolds(s: PgStatements, tx: pg.PoolClient, g: Guard): Promise<boolean> {
  const current = g.type === 'stageLease.expired' ? g : g.current;
  if (current) {
    const rec = (await s.jobs.loadForUpdate(tx, current.jobId))?.stages.find((st) => st.stage === current.stage);
    if (rec?.state !== 'running' || rec.run !== current.run) return false;
  }
  if (g.type === 'stageLease.expired') return takeExpiredLease(tx, g);
  return s.externalRuns.end(g.id, g.state, g.at, g.reportHash ?? null, tx);
}
