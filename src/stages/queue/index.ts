/**
 * Stage runs through pg-boss (PostgreSQL): one call sets up a process's side of the queue. The
 * store gets the enqueue hook (runs are queued in the transaction that starts them), the engine
 * gets the `StageQueue` it skips, wakes and sweeps with, and a worker may be attached to take runs.
 */
import crypto from 'node:crypto';
import type PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { StageQueue } from '../../orchestrator/stage-queue.js';
import type { PgStore } from '../../store/postgres/store.js';
import { startBoss } from './boss.js';
import { replicaId } from '../../cluster/replica.js';
import { runQueueHook } from './enqueue.js';
import { poolOf } from './pools.js';
import type { StageWorker } from './worker.js';

export { StageWorker } from './worker.js';
export { configuredPools, DEFAULT_POOL } from './pools.js';

/** How many expired leases one tick re-runs at most (the next tick takes the rest). */
const SWEEP_LIMIT = 50;

export interface QueueSide {
  boss: PgBoss;
  /** Names the runs this process queues in their wake-ups (its own worker is woken directly). */
  origin: string;
  /** What the engine takes as `stageQueue`. */
  port: StageQueue;
  /** The worker of this process, woken at once by runs this process queues. */
  attach(worker: StageWorker): void;
  /** Stops pg-boss (after the worker and the engine stopped). */
  stop(): Promise<void>;
}

/** Starts pg-boss with the queues of `pools` and hooks it into `store`'s units of work. */
export async function openStageQueue(store: PgStore, pools: readonly string[], log: Logger): Promise<QueueSide> {
  const boss = await startBoss(store.connectionString, pools, log);
  // Unique per queue side (a test may hold several in one process): the wake-ups it sends name it.
  const origin = `${replicaId()}/${crypto.randomBytes(3).toString('hex')}`;
  store.setRunQueue(runQueueHook(boss, origin, pools));
  let worker: StageWorker | undefined;
  return {
    boss,
    origin,
    port: {
      queued: (agg, stage) => {
        const def = agg.job.def.stages.find((s) => s.id === stage);
        return def !== undefined && poolOf(def) !== undefined;
      },
      expired: () => store.stageLeases.expired(SWEEP_LIMIT),
      unleased: () => store.stageLeases.runningWithoutLease(),
      wake: (agg) => worker?.wake(agg),
    },
    attach: (w) => {
      worker = w;
    },
    async stop() {
      // The hook stays: it sends through the unit's own client, not pg-boss's pool.
      await boss.stop({ graceful: false, wait: true, close: true });
    },
  };
}
