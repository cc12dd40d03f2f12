/**
 * The queue's side of the PostgreSQL store's enqueue hook: which runs are queued, and the one
 * pg-boss `insert` that queues a unit's runs on the unit's own client (one round trip however
 * many runs it starts).
 */
import type PgBoss from 'pg-boss';
import type { RunQueueHook } from '../../store/postgres/run-queue-hook.js';
import { poolOf, queueName } from './pools.js';
import { ensureQueues } from './boss.js';

/** What a queued run's pg-boss job carries. */
export interface RunMessage {
  jobId: number;
  stage: string;
  run: number;
  attempt: number;
}

/**
 * pg-boss would retry a job a worker failed (its SQL's default is 2, its docs say otherwise), and
 * a job a dead worker held only after its expiry. signoff takes each job off the queue in the
 * transaction that takes its lease, so pg-boss never retries or expires one: re-running after a
 * worker's death is the lease's (at-least-once, as before the queue).
 */
const RETRY_LIMIT = 0;
/** Never reached (the job leaves the queue when it is taken); set so no default applies. */
const EXPIRE_IN_SECONDS = 15 * 60;

/**
 * The hook the PgStore calls inside each unit of work's transaction. `pools`: the queues made at
 * start; a job keeps its pipeline as submitted, so a pool since removed from the configuration
 * gets its queue when a run of it is first queued (pg-boss would drop a job of a missing queue
 * without a word).
 */
export function runQueueHook(boss: PgBoss, origin: string, pools: Iterable<string>): RunQueueHook {
  const known = new Set(pools);
  return {
    origin,
    poolOf(agg, stage) {
      const def = agg.job.def.stages.find((s) => s.id === stage);
      return def ? poolOf(def) : undefined;
    },
    async send(db, runs) {
      for (const pool of new Set(runs.map((r) => r.pool))) {
        if (known.has(pool)) continue;
        await ensureQueues(boss, [pool]);
        known.add(pool);
      }
      const jobs = runs.map((r): PgBoss.JobInsert<RunMessage> => ({
        name: queueName(r.pool),
        data: { jobId: r.jobId, stage: r.stage, run: r.run, attempt: r.attempt },
        retryLimit: RETRY_LIMIT,
        expireInSeconds: EXPIRE_IN_SECONDS,
      }));
      await boss.insert(jobs, { db });
    },
  };
}
