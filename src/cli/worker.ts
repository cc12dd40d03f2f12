/**
 * `signoff worker`: a process that only takes stage runs from the PostgreSQL queue (the pools of
 * `SIGNOFF_POOLS`) and reports their outcomes; no HTTP server, no timers, no chat. Replicas
 * (`signoff start`) serve people and sweep the leases of runs whose worker died.
 */
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import type { Config } from '../config/schema.js';
import { replicaId } from '../cluster/replica.js';
import { Engine } from '../orchestrator/engine.js';
import { lockDataDir } from '../store/sqlite/dir-lock.js';
import { openPgStore } from '../store/postgres/store.js';
import { configuredPools, openStageQueue, StageWorker } from '../stages/queue/index.js';
import { StartupError } from '../startup-error.js';

/** A running worker process; `stop` hands its runs back (their leases expire at once). */
export interface RunningWorker {
  stop(): Promise<void>;
  /** Stage runs this process is doing now. */
  stageRuns(): number;
}

/** Says why `signoff worker` cannot run without PostgreSQL. */
export const WORKER_NEEDS_POSTGRES = 'signoff worker takes stage runs from the PostgreSQL queue: set SIGNOFF_DATABASE_URL to the database the replicas (signoff start) use. With SQLite, signoff start runs every stage itself.';

export async function startWorker(env: Env, config: Config, log: Logger): Promise<RunningWorker> {
  if (!env.databaseUrl) throw new StartupError(WORKER_NEEDS_POSTGRES);
  const lock = await lockDataDir(env.dataDir);
  let store: Awaited<ReturnType<typeof openPgStore>> | undefined;
  try {
    store = await openPgStore(env.databaseUrl, log);
    const pools = env.worker.pools;
    const queue = await openStageQueue(store, [...new Set([...configuredPools(config), ...pools])], log);
    // The engine is only the way outcomes are stored (group commits, retried when the database
    // is busy): it is never started, so this process fires no timers and sweeps nothing.
    const engine = new Engine({ store, config, dataDir: env.dataDir, baseDir: process.cwd(), log, tickSchedule: false, stageQueue: queue.port });
    engine.external.setBaseUrl(env.publicUrl ?? '');
    const worker = new StageWorker({
      store,
      boss: queue.boss,
      pools,
      holder: replicaId(),
      concurrency: env.worker.concurrency,
      run: { store, dataDir: env.dataDir, baseDir: process.cwd(), log, clock: { now: () => Date.now() }, external: engine.external, report: (jobId, input) => engine.dispatch(jobId, input) },
    });
    queue.attach(worker);
    await worker.start();
    const s = store;
    return {
      stageRuns: () => worker.running,
      async stop() {
        await worker.stop();
        await engine.stop();
        await queue.stop();
        await s.close();
        lock.release();
      },
    };
  } catch (err) {
    await store?.close().catch(() => undefined);
    lock.release();
    throw err;
  }
}
