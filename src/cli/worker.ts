/**
 * `signoff worker`: a process that only takes stage runs from the PostgreSQL queue (the pools of
 * `SIGNOFF_POOLS`) and reports their outcomes; no HTTP server, no timers, no chat. Replicas
 * (`signoff start`) serve people and sweep the leases of runs whose worker died.
 */
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import type { Config } from '../config/schema.js';
import { lockDataDir } from '../store/sqlite/dir-lock.js';
import { openPgStore } from '../store/postgres/store.js';
import { processEngine } from '../stages/queue/process-engine.js';
import { openArtifactContents } from '../artifacts/open.js';
import { StartupError } from '../startup-error.js';
import { replicaId } from '../cluster/replica.js';
import { serveWorkerHealth } from './worker-health.js';

/** A running worker process; `stop` hands its runs back (their leases expire at once). */
export interface RunningWorker {
  stop(): Promise<void>;
  /** Stage runs this process is doing now. */
  stageRuns(): number;
  /** Where its GET /healthz answers (SIGNOFF_HOST:SIGNOFF_PORT), when SIGNOFF_PORT is set. */
  healthUrl?: string;
}

/** Says why `signoff worker` cannot run without PostgreSQL. */
export const WORKER_NEEDS_POSTGRES =
  'signoff worker takes stage runs from the PostgreSQL queue: set SIGNOFF_DATABASE_URL to the database the replicas (signoff start) use. With SQLite, signoff start runs every stage itself.';

/** `health`: serve GET /healthz on SIGNOFF_HOST:SIGNOFF_PORT (when SIGNOFF_PORT is set: the default 3000 is a replica's). */
export async function startWorker(env: Env, config: Config, log: Logger, o: { health: boolean } = { health: false }): Promise<RunningWorker> {
  if (!env.databaseUrl) throw new StartupError(WORKER_NEEDS_POSTGRES);
  // Its own data directory, like every process of a cluster: stage outputs are written there.
  const lock = await lockDataDir(env.dataDir);
  let store: Awaited<ReturnType<typeof openPgStore>> | undefined;
  try {
    store = await openPgStore(env.databaseUrl, log);
    // The engine is only the way outcomes are stored (group commits, retried while the database
    // is busy): it is never started, so this process fires no timers and sweeps no leases.
    // Outputs are kept where every replica can serve them (the database, or SIGNOFF_ARTIFACTS_DIR).
    const contents = openArtifactContents(store, { dataDir: env.dataDir, ...(env.artifactsDir ? { artifactsDir: env.artifactsDir } : {}), maxBytes: env.maxArtifactBytes });
    const pe = await processEngine({ store, contents, config, dataDir: env.dataDir, baseDir: process.cwd(), log, tickSchedule: false }, { ...env.worker, on: true });
    // A command stage that hands its run off tells the outside system where to report.
    pe.engine.external.setBaseUrl(env.publicUrl ?? '');
    await pe.startWorker();
    const s = store;
    const health = o.health ? await serveWorkerHealth(env.host, env.port, { replica: replicaId(), courier: () => false, database: () => s.ping().then(() => true), stageRuns: () => pe.stageRuns() }) : undefined;
    return {
      ...(health ? { healthUrl: `${health.url}/healthz` } : {}),
      stageRuns: () => pe.stageRuns(),
      async stop() {
        await health?.close();
        await pe.stop();
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
