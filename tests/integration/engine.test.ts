/**
 * The engine over each store (a real SQLite file, a real PostgreSQL database): jobs start by themselves, stages really run (builtin and
 * command), timers fire from the database, the queue and the rate limit hold.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/orchestrator/engine.js';
import { processEngine, type ProcessEngine } from '../../src/stages/queue/process-engine.js';
import type { Identity } from '../../src/orchestrator/policy.js';
import type { Store, StoredEvent } from '../../src/store/store.js';
import { configFrom, FakeClock, OPERATORS, QUICK_PIPELINE, silentLog } from '../helpers/fixtures.js';
import { STORES, freshPlace, openAt, type StoreKind, type StorePlace } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

const alice: Identity = { platform: 'console', user: 'alice' };
const bob: Identity = { platform: 'console', user: 'bob' };
const carol: Identity = { platform: 'console', user: 'carol' };

let open: { pe: ProcessEngine; store: Store }[] = [];
afterEach(async () => {
  for (const { pe, store } of open) {
    await pe.stop();
    await store.close();
  }
  open = [];
});

async function boot(kind: StoreKind, yaml: string, place?: StorePlace, clock = new FakeClock()) {
  const at = place ?? (await freshPlace(kind));
  const dataDir = at.dataDir;
  const store = await openAt(at);
  // As `signoff start` makes it: on PostgreSQL, stage runs go through the queue to this process's worker.
  const pe = await processEngine({ store, config: configFrom(yaml), dataDir, baseDir: process.cwd(), log: silentLog, clock, tickSchedule: false });
  const engine = pe.engine;
  const events: StoredEvent[] = [];
  engine.onEvent((e) => events.push(e));
  await pe.start();
  open.push({ pe, store });
  return { engine, pe, store, clock, dataDir, place: at, events };
}

const submit = async (engine: Engine, who: Identity = alice, pipeline = 'quick', brief = 'bees and honey') => {
  const r = (await engine.submit(who, { pipeline, brief, origin: { surface: 'console' } }));
  if (!r.ok) throw new Error(r.message);
  return r.jobId;
};
const stateOf = async (store: Store, id: number) => (await store.jobs.load(id))!;

describe.each(STORES)('engine (%s)', (kind) => {
  it('runs a job by itself to its first required gate, through an auto-approving gate, and on to the end', async () => {
    const { engine, store, clock, events } = await boot(kind, QUICK_PIPELINE);
    const id = await submit(engine);
    await waitFor(async () => (await stateOf(store, id)).job.state === 'awaiting_approval', 'the outline gate');
    clock.advance(30_000);
    await engine.tick();
    await waitFor(async () => (await stateOf(store, id)).gates.some((g) => g.stage === 'script' && g.state === 'pending'), 'the script gate');
    expect((await engine.act(bob, id, { type: 'approve', stage: 'script' }))).toMatchObject({ ok: true });
    await waitFor(async () => (await stateOf(store, id)).gates.some((g) => g.stage === 'storyboard'), 'the storyboard gate');
    await engine.act(bob, id, { type: 'approve', stage: 'storyboard' });
    await engine.act(carol, id, { type: 'approve', stage: 'storyboard' });
    expect((await stateOf(store, id)).job.state).toBe('succeeded');
    const names = (await store.artifacts.current(id)).map((a) => a.name);
    expect(names).toEqual(expect.arrayContaining(['outline.md', 'script.md', 'storyboard.svg']));
    for (const a of (await store.artifacts.current(id))) expect(fs.statSync(a.path).size).toBe(a.size);
    // Every step is an event with a gap-free per-job sequence, and listeners saw the same.
    const stored = (await store.events.forJob(id));
    expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(events.filter((e) => e.job === id).map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
    expect(stored.map((e) => e.type)).toEqual(expect.arrayContaining(['job.created', 'job.started', 'gate.approved', 'artifact.added', 'job.finished']));
  });

  it('hands earlier artifacts and the rejection reason to a redone stage', async () => {
    const { engine, store, clock } = await boot(kind, QUICK_PIPELINE);
    const id = await submit(engine);
    await waitFor(async () => (await stateOf(store, id)).job.state === 'awaiting_approval', 'the outline gate');
    clock.advance(30_000);
    await engine.tick();
    await waitFor(async () => (await stateOf(store, id)).gates.some((g) => g.stage === 'script'), 'the script gate');
    await engine.act(bob, id, { type: 'reject', stage: 'script', reason: 'needs a joke about wax' });
    expect((await stateOf(store, id)).job.state).toBe('rejected');
    expect((await engine.act(bob, id, { type: 'retry' }))).toMatchObject({ ok: true });
    await waitFor(async () => (await stateOf(store, id)).gates.some((g) => g.stage === 'script' && g.round === 2), 'round 2 of the script gate');
    const script = (await store.artifacts.current(id)).find((a) => a.name === 'script.md')!;
    expect(script.run).toBe(2);
    expect(fs.readFileSync(script.path, 'utf8')).toContain('needs a joke about wax');
  });

  it('runs command stages with earlier artifacts as inputs and keeps their log', async () => {
    const yaml = `${OPERATORS}
pipelines:
  cmd:
    stages:
      - id: make
        run: { command: ["sh", "-c", "echo made > \\"$SIGNOFF_OUTPUT_DIR/thing.txt\\"; echo hello-log"] }
      - id: use
        run:
          command:
            - node
            - -e
            - |
              const fs = require('fs');
              const inputs = JSON.parse(process.env.SIGNOFF_INPUTS);
              const thing = inputs.find((a) => a.name === 'thing.txt');
              fs.copyFileSync(thing.path, process.env.SIGNOFF_OUTPUT_DIR + '/copy.txt');
              fs.writeFileSync(process.env.SIGNOFF_OUTPUT_DIR + '/names.json', JSON.stringify(inputs.map((a) => a.name)));
`;
    const { engine, store } = await boot(kind, yaml);
    const id = await submit(engine, alice, 'cmd');
    await waitFor(async () => (await stateOf(store, id)).job.state === 'succeeded' || (await stateOf(store, id)).job.state === 'failed', 'the job to finish');
    expect((await stateOf(store, id)).job).toMatchObject({ state: 'succeeded', error: null });
    const byName = new Map((await store.artifacts.current(id)).map((a) => [a.name, a]));
    expect(fs.readFileSync(byName.get('copy.txt')!.path, 'utf8')).toBe('made\n');
    expect(fs.readFileSync(byName.get('make.log')!.path, 'utf8')).toContain('hello-log');
    expect(JSON.parse(fs.readFileSync(byName.get('names.json')!.path, 'utf8'))).toEqual(['thing.txt', 'make.log']);
  });

  it('cancel stops a running command stage', async () => {
    const yaml = `${OPERATORS}
pipelines:
  slow:
    stages:
      - id: wait
        run: { command: ["sh", "-c", "echo $$ > \\"$SIGNOFF_OUTPUT_DIR/../pid\\"; exec sleep 300"] }
`;
    const { engine, store, dataDir } = await boot(kind, yaml);
    const id = await submit(engine, alice, 'slow');
    const pidFile = path.join(dataDir, 'artifacts', String(id), 'wait', 'run-1', 'pid');
    const pid = Number(await waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim(), 'the stage process'));
    expect((await engine.act(alice, id, { type: 'cancel' }))).toMatchObject({ ok: true });
    expect((await stateOf(store, id)).job.state).toBe('cancelled');
    await waitFor(() => !isAlive(pid), 'the stage process to be killed');
    expect((await stateOf(store, id)).stages[0]!.state).toBe('cancelled');
  });

  it('queues jobs beyond max_concurrent_jobs and starts them as others finish', async () => {
    const yaml = QUICK_PIPELINE.replace('max_concurrent_jobs: 4', 'max_concurrent_jobs: 2');
    const { engine, store } = await boot(kind, yaml);
    const [a, b, c] = [await submit(engine), await submit(engine), await submit(engine)];
    expect((await stateOf(store, c!)).job.state).toBe('queued');
    expect((await store.queries.queuePosition(c!))).toBe(1);
    await waitFor(async () => (await stateOf(store, a!)).job.state === 'awaiting_approval', 'job a at its gate');
    expect((await stateOf(store, c!)).job.state).toBe('queued');
    await engine.act(alice, b!, { type: 'cancel' });
    await waitFor(async () => (await stateOf(store, c!)).job.state !== 'queued', 'job c to start');
  });

  it('refuses submissions over the per-user rate limit, saying when to try again', async () => {
    const { engine, store, clock } = await boot(kind, QUICK_PIPELINE.replace('jobs_per_user_per_minute: 100', 'jobs_per_user_per_minute: 2'));
    (await submit(engine));
    clock.advance(20_000);
    (await submit(engine));
    const third = (await engine.submit(alice, { pipeline: 'quick', brief: 'x', origin: { surface: 'console' } }));
    expect(third).toMatchObject({ ok: false, code: 'rate_limited', message: expect.stringContaining('Try again in 40s') });
    expect((await store.queries.list())).toHaveLength(2);
    expect((await engine.submit(bob, { pipeline: 'quick', brief: 'x', origin: { surface: 'console' } })).ok).toBe(true);
  });

  it('fires a timer that fell due while no engine was running, at the next start', async () => {
    const clock = new FakeClock();
    const first = await boot(kind, QUICK_PIPELINE, undefined, clock);
    const id = await submit(first.engine);
    await waitFor(async () => (await stateOf(first.store, id)).job.state === 'awaiting_approval', 'the outline gate');
    await first.pe.stop();
    clock.advance(10 * 60_000);
    const second = await boot(kind, QUICK_PIPELINE, first.place, clock);
    expect((await stateOf(second.store, id)).gates[0]).toMatchObject({ state: 'approved', decidedBy: 'timer' });
    await waitFor(async () => (await stateOf(second.store, id)).gates.some((g) => g.stage === 'script'), 'the job to move on');
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A killed process whose parent has not reaped it yet is a zombie: it is gone for our purposes.
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
