/**
 * The engine of one process, set up the same way by `signoff start`, `signoff worker` and the
 * tests: on SQLite the engine runs every stage itself; on PostgreSQL its stage runs go through
 * the queue, and this process's worker (unless turned off) takes runs of its pools.
 */
import { Engine, type EngineOptions } from '../../orchestrator/engine.js';
import { replicaId } from '../../cluster/replica.js';
import { deadOnThisHost } from '../../cluster/dead-holders.js';

/** `SIGNOFF_WORKER`, `SIGNOFF_POOLS`, `SIGNOFF_WORKER_CONCURRENCY`. */
export interface WorkerSettings {
  on: boolean;
  pools: string[];
  concurrency: number;
}

export const DEFAULT_WORKER: WorkerSettings = { on: true, pools: ['default'], concurrency: 32 };

export interface ProcessEngine {
  engine: Engine;
  /** Starts the engine (recovery, timers) and then the worker. */
  start(): Promise<void>;
  /** Starts only the worker (`signoff worker`: no timers, no sweeps, no recovery). */
  startWorker(): Promise<void>;
  /** Stops the worker (its runs are handed back), the engine, then the queue. */
  stop(): Promise<void>;
  /** Stage runs this process is doing now (for /healthz's `stageRuns`). */
  stageRuns(): number;
}

/** Makes the engine over `o.store`; on PostgreSQL this starts pg-boss and makes the queues. */
export async function processEngine(o: Omit<EngineOptions, 'stageQueue'>, worker: WorkerSettings = DEFAULT_WORKER): Promise<ProcessEngine> {
  if (o.store.dialect !== 'postgres') {
    const engine = new Engine(o);
    return { engine, start: () => engine.start(), startWorker: async () => undefined, stop: () => engine.stop(), stageRuns: () => engine.localRuns };
  }
  // Loaded only for PostgreSQL: a SQLite process never loads pg-boss.
  const q = await import('./index.js');
  const { PgStore } = await import('../../store/postgres/store.js');
  const store = o.store;
  if (!(store instanceof PgStore)) throw new Error('the stage queue needs the PostgreSQL store');
  const side = await q.openStageQueue(store, [...new Set([...q.configuredPools(o.config), ...worker.pools])], o.log);
  // `o.contents` says where outputs are kept (the app and `signoff worker` choose; default: local files).
  const engine = new Engine({ ...o, stageQueue: side.port });
  const w = worker.on
    ? new q.StageWorker({
        store,
        boss: side.boss,
        pools: worker.pools,
        holder: replicaId(),
        origin: side.origin,
        concurrency: worker.concurrency,
        run: { store, contents: engine.contents, baseDir: o.baseDir, log: o.log, clock: o.clock ?? { now: () => Date.now() }, external: engine.external, report: (jobId, input) => engine.dispatch(jobId, input) },
      })
    : undefined;
  if (w) side.attach(w);
  return {
    engine,
    async start() {
      // Runs a dead process of this host held start again now, not when their leases run out.
      const n = await store.stageLeases.expireDead((h) => deadOnThisHost(h)).catch(() => 0);
      if (n > 0) o.log.warn({ runs: n }, 'stage runs of a signoff that died on this host start again');
      await engine.start();
      await w?.start();
    },
    startWorker: async () => w?.start(),
    async stop() {
      await w?.stop();
      await engine.stop();
      await side.stop();
    },
    stageRuns: () => engine.localRuns + (w?.running ?? 0),
  };
}
