/**
 * The stage queue's promises inside one test process, on a real PostgreSQL database: a run is in
 * the queue as soon as the state that starts it is committed, so a process that dies before
 * running it loses nothing (another process runs that very run); and an engine starting while
 * another process runs a stage leaves that stage alone (its lease decides, not the start).
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { openPgStore } from '../../src/store/postgres/store.js';
import { processEngine, type ProcessEngine } from '../../src/stages/queue/process-engine.js';
import type { StorePort } from '../../src/store/store.js';
import { configFrom, OPERATORS, silentLog, tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

const CONFIG = configFrom(`${OPERATORS}
pipelines:
  two:
    stages:
      - { id: first, run: { command: ["sh", "-c", "echo one > \\"$SIGNOFF_OUTPUT_DIR/one.txt\\""] } }
      - { id: second, run: { builtin: outline } }
  slow:
    stages:
      - { id: wait, run: { command: ["sh", "-c", "sleep 2; echo done > \\"$SIGNOFF_OUTPUT_DIR/done.txt\\""] } }
`);

/** A process's engine on `url`: its own store, data directory and (unless `worker` is false) worker. */
async function process_(url: string, worker = true): Promise<{ pe: ProcessEngine; store: StorePort; dataDir: string }> {
  const store = await openPgStore(url);
  const dataDir = tempDir();
  const pe = await processEngine({ store, config: CONFIG, dataDir, baseDir: process.cwd(), log: silentLog, tickSchedule: false }, { on: worker, pools: ['default'], concurrency: 4 });
  await pe.start();
  cleanup.push(() => store.close(), () => pe.stop());
  return { pe, store, dataDir };
}

const submit = async (pe: ProcessEngine, pipeline: string) => {
  const r = await pe.engine.submit({ platform: 'console', user: 'alice' }, { pipeline, brief: 'queued', origin: { surface: 'console' } });
  if (!r.ok) throw new Error(r.message);
  return r.jobId;
};

describe('the stage queue (PostgreSQL)', () => {
  it('has a started run in the queue from its commit on, so a process that never runs it loses nothing', async () => {
    const url = await freshDatabase();
    // This process commits the job's start and then does nothing more with it (as if it died).
    const committer = await process_(url, false);
    const id = await submit(committer.pe, 'two');
    expect((await committer.store.jobs.load(id))!.stages[0]).toMatchObject({ state: 'running', run: 1 });
    const boss = new PgBoss({ connectionString: url, max: 1, supervise: false, schedule: false, migrate: false });
    await boss.start();
    cleanup.push(() => boss.stop({ graceful: false }));
    expect(await boss.getQueueSize('signoff-stage-default')).toBe(1);
    await committer.pe.stop();

    const other = await process_(url);
    await waitFor(async () => (await other.store.jobs.load(id))!.job.state === 'succeeded', 'the job to finish in the other process');
    const events = (await other.store.events.forJob(id)).map((e) => e.type);
    // That very run ran: nothing was recovered or run twice.
    expect(events.filter((t) => t === 'stage.recovered')).toEqual([]);
    expect(events.filter((t) => t === 'stage.started')).toHaveLength(2);
    const outputs = await other.store.artifacts.current(id);
    expect(outputs.find((a) => a.name === 'one.txt')).toMatchObject({ stage: 'first', run: 1 });
    expect(outputs.every((a) => a.path.startsWith(other.dataDir))).toBe(true);
    expect(await boss.getQueueSize('signoff-stage-default')).toBe(0);
    // A run's lease goes in the commit that stores its outcome.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    cleanup.push(() => admin.end());
    expect((await admin.query('SELECT count(*)::int AS n FROM stage_leases')).rows[0].n).toBe(0);
  });

  it('does not re-run, at start-up, a stage another live process is running', async () => {
    const url = await freshDatabase();
    const runner = await process_(url);
    const id = await submit(runner.pe, 'slow');
    await waitFor(async () => runner.pe.stageRuns() === 1, 'the stage to run in the first process');
    const second = await process_(url, false);
    await second.pe.engine.tick();
    await waitFor(async () => (await runner.store.jobs.load(id))!.job.state === 'succeeded', 'the job to finish');
    const events = (await runner.store.events.forJob(id)).map((e) => e.type);
    expect(events.filter((t) => t === 'stage.recovered')).toEqual([]);
    expect((await runner.store.artifacts.current(id)).map((a) => [a.name, a.run])).toContainEqual(['done.txt', 1]);
    expect(runner.pe.stageRuns()).toBe(0);
  });
});
