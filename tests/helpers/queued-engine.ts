/**
 * A run of jobs through a PostgreSQL engine set up as `signoff start` makes it (its stages go
 * through the queue to this process's worker), for the tests that disturb the database under it
 * (killed connections, a restarted server) and then check that every job ended exactly once.
 */
import { expect } from 'vitest';
import { processEngine, type ProcessEngine } from '../../src/stages/queue/process-engine.js';
import type { StorePort } from '../../src/store/store.js';
import { configFrom, FakeClock, OPERATORS, silentLog } from './fixtures.js';

/** Three builtin stages, up to three jobs at once. */
const THREE_STAGES = `${OPERATORS}
limits: { max_concurrent_jobs: 3, jobs_per_user_per_minute: 1000 }
pipelines:
  three:
    stages:
      - id: a
        run: { builtin: outline }
      - id: b
        run: { builtin: outline }
      - id: c
        run: { builtin: outline }
`;

/** Starts the engine (timers only on `tick()`) and submits `jobs` jobs of the three-stage pipeline; returns their ids. */
export async function startQueuedRun(store: StorePort, dataDir: string, jobs: number): Promise<{ pe: ProcessEngine; ids: number[] }> {
  const pe = await processEngine({ store, dataDir, baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false, config: configFrom(THREE_STAGES) });
  await pe.start();
  const ids: number[] = [];
  for (let i = 0; i < jobs; i++) {
    const r = await pe.engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'three', brief: `job ${i}`, origin: { surface: 'console' } });
    if (!r.ok) throw new Error(r.message);
    ids.push(r.jobId);
  }
  return { pe, ids };
}

/** Every job finished once, each of its three stages succeeded once, and its events are numbered without a gap. */
export async function expectEachEndedOnce(store: StorePort, ids: readonly number[]): Promise<void> {
  for (const id of ids) {
    const events = await store.events.forJob(id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const types = events.map((e) => e.type);
    expect({ id, finished: types.filter((t) => t === 'job.finished').length, succeeded: types.filter((t) => t === 'stage.succeeded').length })
      .toEqual({ id, finished: 1, succeeded: 3 });
  }
}
