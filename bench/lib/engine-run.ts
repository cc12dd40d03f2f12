/**
 * The engine-throughput run both stores are measured with (bench/throughput.ts on SQLite,
 * bench/postgres-throughput.ts on PostgreSQL): jobs through a 6-stage pipeline whose gates all
 * auto-approve, a FakeClock moved by hand and `engine.tick()` called when every running stage is
 * done, so nothing waits on real time. Transitions are counted from the events that mark them
 * (a submission, a job start, each stage outcome, each gate decided by its timer: 14 per job), so
 * the count does not depend on how the engine groups its commits.
 */
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../../src/config/load.js';
import { Engine } from '../../src/orchestrator/engine.js';
import { builtinStages } from '../../src/stages/builtin/index.js';
import type { StorePort } from '../../src/store/port.js';
import { FakeClock } from '../../tests/helpers/fixtures.js';
import { silentLog } from './engine.js';

export const ENGINE_JOBS = 200;
const CONCURRENT = 20;
const AUTO_MS = 1_000;

// A builtin that does nothing: registered by the bench only, to separate the engine's cost
// from the cost of the files a real builtin writes.
builtinStages.noop ??= async () => ({ summary: 'nothing to do' });

function yaml(builtin: string): string {
  const stage = (i: number) => `
      - id: s${i}
        run: { builtin: ${builtin} }
        gate: { required: false, approvers: [editors], auto_approve_after: ${AUTO_MS}ms }`;
  return `
operators:
  editors: { console: [alice] }
limits: { jobs_per_user_per_minute: 1000, max_concurrent_jobs: ${CONCURRENT} }
console: { enabled: false }
pipelines:
  six:
    stages:${[1, 2, 3, 4, 5, 6].map(stage).join('')}
`;
}

/** Events that mark one applied input each: what a transition is, whatever the commit grouping. */
/** The events that mark an input the engine applied. */
export const TRANSITION_EVENTS = new Set(['job.created', 'job.started', 'stage.succeeded', 'stage.failed', 'gate.approved', 'gate.rejected', 'gate.expired', 'job.cancelled', 'job.retried']);

export interface EngineRunResult {
  transitions: number;
  events: number;
  seconds: number;
  /** CPU time of the whole process (all threads) during the run: less sensitive to a busy machine than wall time. */
  cpuSeconds: number;
}

/**
 * Runs `jobs` jobs of `builtin` ×6 on `store` (left open: the caller may read its trace, then
 * closes it), with `dir` as the data directory; throws unless every job succeeded.
 */
export async function runEngineOn(store: StorePort, dir: string, builtin: string, jobs = ENGINE_JOBS): Promise<EngineRunResult> {
  const clock = new FakeClock(Date.now());
  const engine = new Engine({ store, config: parseConfig(yaml(builtin), 'bench.yaml'), dataDir: dir, baseDir: dir, log: silentLog, clock, tickSchedule: false });
  let events = 0;
  let transitions = 0;
  let running = 0;
  let finished = 0;
  let wake: (() => void) | undefined;
  engine.onEvent((e) => {
    events++;
    if (TRANSITION_EVENTS.has(e.type)) transitions++;
    if (e.type === 'stage.started') running++;
    else if (e.type === 'stage.succeeded' || e.type === 'stage.failed') running--;
    else if (e.type === 'job.finished') finished++;
    if (running === 0 && wake) {
      const w = wake;
      wake = undefined;
      // After the current commit returns: the engine may still be inside afterCommit.
      setImmediate(w);
    }
  });
  const idle = () => (running === 0 ? Promise.resolve() : new Promise<void>((r) => (wake = r)));
  await engine.start();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < jobs; i++) {
    const r = await engine.submit({ platform: 'api', user: 'api' }, { pipeline: 'six', brief: `Throughput job ${i}: bees, hives and honey`, origin: { surface: 'api' } });
    if (!r.ok) throw new Error(r.message);
  }
  while (finished < jobs) {
    await idle();
    if (finished >= jobs) break;
    clock.advance(AUTO_MS + 1);
    await engine.tick();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  await engine.stop();
  const notDone = (await store.queries.countsByState()).filter((c) => c.state !== 'succeeded').reduce((n, c) => n + c.n, 0);
  if (notDone) throw new Error(`${notDone} jobs did not succeed`);
  return { transitions, events, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}
