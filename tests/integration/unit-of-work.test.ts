/**
 * The store's unit of work (`store.apply`) over a real SQLite file, without an engine: the guard
 * decides whether anything is written, an atomic unit is all or nothing (its guard's write and
 * its inbox row included), a non-atomic one undoes only the item that failed, and a bounded view
 * gives up on a lock another connection holds instead of waiting the full busy timeout.
 */
import path from 'node:path';
import { Database } from '../../src/store/sqlite/driver.js';
import { afterEach, describe, expect, it } from 'vitest';
import { transitionDecider } from '../../src/orchestrator/commit-input.js';
import { createJob } from '../../src/orchestrator/create-job.js';
import type { JobInput } from '../../src/orchestrator/types.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { configFrom, FakeClock, OPERATORS, tempDir } from '../helpers/fixtures.js';

const config = configFrom(`${OPERATORS}
pipelines:
  slow:
    stages:
      - id: wait
        run: { command: ["sleep", "60"] }
        gate: { required: true, approvers: [editors] }
`);

let open: SqliteStore[] = [];
afterEach(async () => {
  for (const store of open) await store.close();
  open = [];
});

const clock = new FakeClock();
const decider = transitionDecider(clock);
const succeeded: JobInput = { type: 'stage.succeeded', stage: 'wait', run: 1, summary: 'done', artifacts: [] };

/** A store with `n` jobs whose first stage runs (run 1). */
async function setUp(n: number) {
  const file = path.join(tempDir(), 'signoff.db');
  const store = openStore(file);
  open.push(store);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const created = createJob({ id: 0, pipeline: 'slow', def: config.pipelines.slow!, brief: `job ${i}`, params: {}, submitter: 'console:alice', origin: { surface: 'console' }, targets: [] }, clock.now());
    const applied = await store.apply({ create: { ...created, at: clock.now() }, items: [] }, decider);
    ids.push(applied.created!.agg.job.id);
  }
  await store.apply({ items: ids.map((jobId) => ({ jobId, input: { type: 'start' } as JobInput })) }, decider);
  return { store, file, ids };
}

/** An external run waiting for `job`'s stage, as an external stage records it. */
async function waitingRun(store: SqliteStore, job: number) {
  const { id } = await store.externalRuns.start({ jobId: job, stage: 'wait', run: 1, state: 'waiting', heartbeatMs: null, timeoutMs: 60_000, notify: false, tokenHash: `hash-${job}` }, clock.now());
  return id;
}

const eventTypes = async (store: SqliteStore, job: number) => (await store.events.forJob(job)).map((e) => e.type);
const refuseGateOpened = (store: SqliteStore, job: number) =>
  store.db.exec(`CREATE TRIGGER refuse_gate BEFORE INSERT ON events WHEN NEW.job_id = ${job} AND NEW.type = 'gate.opened'
    BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);

describe('the unit of work', () => {
  it('writes nothing when its guard does not hold, and applies the input with the guard when it does', async () => {
    const { store, ids: [job] } = await setUp(1);
    const run = await waitingRun(store, job!);
    const before = await eventTypes(store, job!);
    const stale = await store.apply({ guard: { type: 'externalRun.end', id: run, state: 'completed', at: clock.now(), current: { jobId: job!, stage: 'wait', run: 2 } }, items: [{ jobId: job!, input: succeeded }], atomic: true }, decider);
    expect(stale).toMatchObject({ refused: true, committed: [] });
    expect(await eventTypes(store, job!)).toEqual(before);
    expect((await store.externalRuns.byId(run))!.state).toBe('waiting');

    const applied = await store.apply({ guard: { type: 'externalRun.end', id: run, state: 'completed', at: clock.now(), reportHash: 'r1', current: { jobId: job!, stage: 'wait', run: 1 } }, items: [{ jobId: job!, input: succeeded }], atomic: true }, decider);
    expect(applied.refused).toBe(false);
    expect(applied.committed[0]!.events.map((e) => e.type)).toEqual(['stage.succeeded', 'gate.opened']);
    expect(await store.externalRuns.byId(run)).toMatchObject({ state: 'completed', reportHash: 'r1' });
    // The guard is a compare-and-set: the same report again finds the run ended.
    const again = await store.apply({ guard: { type: 'externalRun.end', id: run, state: 'completed', at: clock.now() }, items: [{ jobId: job!, input: succeeded }], atomic: true }, decider);
    expect(again.refused).toBe(true);
  });

  it('is all or nothing when atomic: a failing input undoes the guard and leaves the interaction stored', async () => {
    const { store, ids: [job] } = await setUp(1);
    const run = await waitingRun(store, job!);
    expect(await store.inbox.accept('slack:action:U1:1', clock.now(), 'payload')).toBe(true);
    const before = await store.jobs.load(job!);
    refuseGateOpened(store, job!);
    await expect(
      store.apply({ guard: { type: 'externalRun.end', id: run, state: 'completed', at: clock.now() }, inboxDone: 'slack:action:U1:1', items: [{ jobId: job!, input: succeeded }], atomic: true }, decider),
    ).rejects.toThrow('refused by the test');
    expect((await store.externalRuns.byId(run))!.state).toBe('waiting');
    expect((await store.inbox.pending()).map((i) => i.key)).toEqual(['slack:action:U1:1']);
    expect(await store.jobs.load(job!)).toEqual(before);
  });

  it('clears the carried-out interaction in the same commit as the change', async () => {
    const { store, ids: [job] } = await setUp(1);
    await store.inbox.accept('slack:action:U1:2', clock.now(), 'payload');
    await store.apply({ inboxDone: 'slack:action:U1:2', items: [{ jobId: job!, input: succeeded }], atomic: true }, decider);
    expect(await store.inbox.pending()).toEqual([]);
    expect((await store.jobs.load(job!))!.job.state).toBe('awaiting_approval');
  });

  it('undoes only the failing item when not atomic, and says which one failed', async () => {
    const { store, ids: [refused, other] } = await setUp(2);
    const before = await eventTypes(store, refused!);
    refuseGateOpened(store, refused!);
    const applied = await store.apply({ items: [{ jobId: refused!, input: succeeded }, { jobId: other!, input: succeeded }, { jobId: 999, input: succeeded }] }, decider);
    expect(applied.items[0]).toMatchObject({ ok: false });
    expect(String((applied.items[0] as { error: Error }).error.message)).toContain('refused by the test');
    expect(applied.items[1]).toMatchObject({ ok: true, committed: { agg: { job: { state: 'awaiting_approval' } } } });
    expect(applied.items[2]).toEqual({ ok: true, committed: undefined });
    expect(await eventTypes(store, refused!)).toEqual(before);
    expect((await store.jobs.load(other!))!.job.state).toBe('awaiting_approval');
  });

  it('gives up on a lock another connection holds after the bounded wait, changing nothing', async () => {
    const { store, file, ids: [job] } = await setUp(1);
    const before = await store.jobs.load(job!);
    const other = new Database(file);
    try {
      other.prepare('BEGIN IMMEDIATE').run();
      const t0 = Date.now();
      await expect(store.bounded(100).apply({ items: [{ jobId: job!, input: succeeded }], atomic: true }, decider)).rejects.toThrow(/locked|busy/i);
      await expect(store.bounded(100).outbox.pruneAndClaim('discord:1', clock.now(), 0)).rejects.toThrow(/locked|busy/i);
      // Far less than the store's own busy timeout (5 s).
      expect(Date.now() - t0).toBeLessThan(2_000);
      other.prepare('ROLLBACK').run();
    } finally {
      other.close();
    }
    expect(await store.jobs.load(job!)).toEqual(before);
    // The lock gone, the same unit goes through, and the unbounded store kept its own wait.
    const applied = await store.bounded(100).apply({ items: [{ jobId: job!, input: succeeded }], atomic: true }, decider);
    expect(applied.committed[0]!.agg.job.state).toBe('awaiting_approval');
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(5_000);
  });
});
