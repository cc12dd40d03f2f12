/**
 * The PostgreSQL unit of work's enqueue hook: stage runs a unit starts are handed to the queue
 * (src/stages/queue, pg-boss) on the unit's own client, inside its transaction, together with
 * their leases. A crash can then neither lose a run (it was committed with the state that started
 * it) nor invent one (a rolled-back unit queued nothing). The store knows no queue library: the
 * hook sends through the `SqlExecutor` it is given.
 */
import type pg from 'pg';
import type { JobAggregate } from '../../orchestrator/types.js';
import type { Committed } from '../port.js';
import { leaseEnded, leaseEndedAndStarted, leaseStarted, type RunKey } from './stage-leases.js';

/** What a queue library needs to run its own SQL on the unit's client (pg-boss's `db` option). */
export interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** A stage run handed to the queue. */
export interface QueuedRun extends RunKey {
  attempt: number;
  /** The pool of workers that may take it. */
  pool: string;
}

/** The queue's side of the hook (implemented in src/stages/queue). */
export interface RunQueueHook {
  /** Who queues (this process's replica id): its own worker, woken directly, ignores its wake-ups. */
  readonly origin: string;
  /** The pool that takes runs of `stage`, or undefined when they are not queued (an external stage). */
  poolOf(agg: JobAggregate, stage: string): string | undefined;
  /** Puts `runs` in the queue through `db`, the unit's own client. */
  send(db: SqlExecutor, runs: readonly QueuedRun[]): Promise<void>;
}

const ENDS = new Set(['stage.succeeded', 'stage.failed']);

/**
 * Writes the queue side of what `committed` decided, in the open transaction on `tx`: the leases
 * of runs that ended or were cancelled go (cancels are told to their workers), and started runs
 * get a lease and a place in the queue.
 */
export async function enqueueCommitted(tx: pg.PoolClient, committed: readonly Committed[], hook: RunQueueHook): Promise<void> {
  const started: QueuedRun[] = [];
  const ended: RunKey[] = [];
  const cancelled: RunKey[] = [];
  for (const c of committed) {
    const jobId = c.agg.job.id;
    for (const e of c.events) if (ENDS.has(e.type)) ended.push({ jobId, stage: String(e.data.stage), run: Number(e.data.run) });
    for (const e of c.effects) {
      if (e.type === 'killStage') cancelled.push({ jobId, stage: e.stage, run: e.run });
      if (e.type !== 'runStage') continue;
      const pool = hook.poolOf(c.agg, e.stage);
      if (pool !== undefined) started.push({ jobId, stage: e.stage, run: e.run, attempt: e.attempt, pool });
    }
  }
  const sameStage = started.some((r) => ended.some((e) => e.jobId === r.jobId && e.stage === r.stage));
  if (started.length > 0 && ended.length > 0 && cancelled.length === 0 && !sameStage) await leaseEndedAndStarted(tx, ended, started, hook.origin);
  else {
    if (ended.length + cancelled.length > 0) await leaseEnded(tx, ended, cancelled);
    if (started.length > 0) await leaseStarted(tx, started, hook.origin);
  }
  if (started.length === 0) return;
  await hook.send({ executeSql: (text, values) => tx.query(text, values) }, started);
}
