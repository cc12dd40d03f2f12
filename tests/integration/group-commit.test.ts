/**
 * Group commit: the inputs the engine feeds itself within one event-loop turn are stored in one
 * SQLite transaction, each in its own savepoint. Over a real SQLite file: one input the database
 * refuses undoes only its own writes and is tried again later; the others of its turn stand;
 * the inputs of one job are applied in the order they arrived (that on PostgreSQL too, where
 * group commits are chained round trips).
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/orchestrator/engine.js';
import { openStore, sqliteOnly, type Store } from '../../src/store/store.js';
import { configFrom, FakeClock, OPERATORS, silentLog } from '../helpers/fixtures.js';
import { STORES, freshPlace, openAt, type StoreKind } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

// The first stage runs until the test says what became of it (or the engine stops).
const YAML = `${OPERATORS}
limits: { max_concurrent_jobs: 4 }
pipelines:
  slow:
    stages:
      - id: wait
        run: { command: ["sleep", "60"] }
        gate: { required: true, approvers: [editors] }
      - id: after
        run: { builtin: outline }
`;

let open: { engine: Engine; store: Store }[] = [];
afterEach(async () => {
  for (const { engine, store } of open) {
    await engine.stop();
    await store.close();
  }
  open = [];
});

async function boot(kind: StoreKind = 'sqlite') {
  const place = await freshPlace(kind);
  const dataDir = place.dataDir;
  const file = path.join(dataDir, 'signoff.db');
  const store = await openAt(place);
  const engine = new Engine({ store, config: configFrom(YAML), dataDir, baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false });
  await engine.start();
  open.push({ engine, store });
  return { engine, store, file };
}

/** Submits a job and waits until its first stage runs. */
async function running(engine: Engine, store: Store, brief: string): Promise<number> {
  const r = (await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'slow', brief, origin: { surface: 'console' } }));
  if (!r.ok) throw new Error(r.message);
  await waitFor(async () => (await store.jobs.load(r.jobId))!.stages[0]!.state === 'running', `job ${r.jobId}'s first stage to run`);
  return r.jobId;
}

const succeeded = (run = 1) => ({ type: 'stage.succeeded' as const, stage: 'wait', run, summary: 'done', artifacts: [] });
const eventTypes = async (store: Store, id: number) => (await store.events.forJob(id)).map((e) => e.type);

describe('group commit, SQLite only', () => {
  it('one input the database refuses undoes only its own writes, is tried again, and the others of its turn stand', async () => {
    const { engine, store: port, file } = await boot();
    // SQLite only: the refusal is a trigger added through the open file.
    const store = sqliteOnly(port);
    const refused = await running(engine, store, 'the database refuses my result at first');
    const other = await running(engine, store, 'my result arrives in the same turn');
    const before = (await store.jobs.load(refused))!;
    const eventsBefore = (await eventTypes(store, refused));
    // A real SQLite failure in the middle of one input: its stage.succeeded event is written,
    // then the gate.opened event that follows is refused.
    store.db.exec(`CREATE TRIGGER refuse_gate BEFORE INSERT ON events WHEN NEW.job_id = ${refused} AND NEW.type = 'gate.opened'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);

    // Both outcomes arrive within one turn, the refused one first.
    engine.dispatch(refused, succeeded());
    engine.dispatch(other, succeeded());
    await waitFor(async () => (await store.jobs.load(other))!.job.state === 'awaiting_approval', 'the other job to reach its gate');

    // The refused input left nothing behind: no event, no stage change, no new version, and
    // what this process remembers of the job is what the file holds.
    expect((await eventTypes(store, refused))).toEqual(eventsBefore);
    expect((await store.jobs.load(refused))).toEqual(before);
    const fresh = openStore(file);
    try {
      expect(await fresh.jobs.load(refused)).toEqual((await store.jobs.load(refused)));
    } finally {
      fresh.close();
    }
    expect((await eventTypes(store, other)).slice(-2)).toEqual(['stage.succeeded', 'gate.opened']);

    // Once the database accepts it, the stage's result is stored after all (it was not lost).
    store.db.exec('DROP TRIGGER refuse_gate');
    await waitFor(async () => (await store.jobs.load(refused))!.job.state === 'awaiting_approval', 'the refused result to be stored on a later try', 10_000);
    const types = await eventTypes(store, refused);
    expect(types.filter((t) => t === 'stage.succeeded')).toHaveLength(1);
    expect(types.slice(-2)).toEqual(['stage.succeeded', 'gate.opened']);
    const seqs = (await store.events.forJob(refused)).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    // And the job moves on normally from there.
    expect((await engine.act({ platform: 'console', user: 'bob' }, refused, { type: 'approve', stage: 'wait' }))).toMatchObject({ ok: true });
    await waitFor(async () => (await store.jobs.load(refused))!.job.state === 'succeeded', 'the job to finish');
  });


  // SQLite only: SQLite commits a person's change before the call returns, so it overtakes the
  // outcome queued in the same turn. On PostgreSQL the queued outcome's unit is already on its way
  // and commits first (arrival order); the job still ends cancelled.
  it('a person acting is answered at once, without waiting for the inputs queued in the same turn', async () => {
    const { engine, store } = await boot();
    const id = await running(engine, store, 'cancel me while my result is queued');
    engine.dispatch(id, succeeded());
    // The cancel is applied and answered synchronously; the queued outcome then finds the stage
    // cancelled and changes nothing.
    expect((await engine.act({ platform: 'console', user: 'alice' }, id, { type: 'cancel' }))).toMatchObject({ ok: true });
    expect((await store.jobs.load(id))!.job.state).toBe('cancelled');
    const after = (await eventTypes(store, id));
    await new Promise((resolve) => setImmediate(resolve));
    expect((await eventTypes(store, id))).toEqual(after);
    expect(after).not.toContain('stage.succeeded');
  });
});

describe.each(STORES)('group commit (%s)', (kind) => {
  it("applies one job's inputs of a turn in the order they arrived", async () => {
    const { engine, store } = await boot(kind);
    const id = await running(engine, store, 'report progress, then finish');
    const progress = (message: string) => ({ type: 'stage.progress' as const, stage: 'wait', run: 1, message });
    engine.dispatch(id, progress('one'));
    engine.dispatch(id, progress('two'));
    engine.dispatch(id, succeeded());
    // Arrives after the outcome: the stage is no longer running, so it is ignored.
    engine.dispatch(id, progress('too late'));
    await waitFor(async () => (await store.jobs.load(id))!.job.state === 'awaiting_approval', 'the gate');
    const tail = (await store.events.forJob(id)).slice(-4);
    expect(tail.map((e) => [e.type, e.data.message])).toEqual([
      ['stage.progress', 'one'],
      ['stage.progress', 'two'],
      ['stage.succeeded', undefined],
      ['gate.opened', undefined],
    ]);
  });

  it('more inputs in a turn than one group commit takes: every one applied, in arrival order, over later turns', async () => {
    const { engine, store } = await boot(kind);
    const id = await running(engine, store, 'a burst of progress');
    const messages = Array.from({ length: 70 }, (_, n) => `step ${n + 1}`);
    for (const message of messages) engine.dispatch(id, { type: 'stage.progress', stage: 'wait', run: 1, message });
    engine.dispatch(id, succeeded());
    await waitFor(async () => (await store.jobs.load(id))!.job.state === 'awaiting_approval', 'the gate');
    const progress = (await store.events.forJob(id)).filter((e) => e.type === 'stage.progress').map((e) => e.data.message);
    expect(progress).toEqual(messages);
    expect((await eventTypes(store, id)).slice(-2)).toEqual(['stage.succeeded', 'gate.opened']);
  });
});
