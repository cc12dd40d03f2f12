/**
 * The store's unit of work (`store.apply`) without an engine, on both stores (a real SQLite file,
 * a real PostgreSQL database): the guard decides whether anything is written, an atomic unit is
 * all or nothing (its guard's write and its inbox row included), a non-atomic one undoes only the
 * item that failed, starting queued jobs never overfills `max_concurrent_jobs` even when units
 * race, and a bounded view gives up on a lock another connection holds instead of waiting the
 * full lock wait, answering "busy".
 */
import { Database } from '../../src/store/sqlite/driver.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobInput } from '../../src/orchestrator/types.js';
import { sqliteOnly, type StorePort } from '../../src/store/store.js';
import { slowClock, slowDecider, slowJob } from '../helpers/slow-job.js';
import { STORES, freshPlace, openAt, otherPool, type StoreKind, type StorePlace } from '../helpers/stores.js';

let open: StorePort[] = [];
afterEach(async () => {
  for (const store of open) await store.close();
  open = [];
});

const clock = slowClock;
const decider = slowDecider;
const succeeded: JobInput = { type: 'stage.succeeded', stage: 'wait', run: 1, summary: 'done', artifacts: [] };
const start: JobInput = { type: 'start' };

/** A store with `n` jobs (briefs `job 0`…); their first stage runs (run 1) unless `started` is false. */
async function setUp(kind: StoreKind, n: number, started = true, brief = (i: number) => `job ${i}`) {
  const place = await freshPlace(kind);
  const store = await openAt(place);
  open.push(store);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(await slowJob(store, { brief: brief(i), start: false }));
  }
  if (started) await store.apply({ items: ids.map((jobId) => ({ jobId, input: start })) }, decider);
  return { store, place, ids };
}

/** An external run waiting for `job`'s stage, as an external stage records it. */
async function waitingRun(store: StorePort, job: number) {
  const { id } = await store.externalRuns.start({ jobId: job, stage: 'wait', run: 1, state: 'waiting', heartbeatMs: null, timeoutMs: 60_000, notify: false, tokenHash: `hash-${job}` }, clock.now());
  return id;
}

const eventTypes = async (store: StorePort, job: number) => (await store.events.forJob(job)).map((e) => e.type);

/** Makes the database refuse `job`'s next gate.opened event (a write failing inside the unit). */
async function refuseGateOpened(place: StorePlace, store: StorePort, job: number): Promise<void> {
  if (place.kind === 'sqlite') {
    sqliteOnly(store).db.exec(`CREATE TRIGGER refuse_gate BEFORE INSERT ON events WHEN NEW.job_id = ${job} AND NEW.type = 'gate.opened'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    return;
  }
  const pool = otherPool(place);
  try {
    await pool.query(`CREATE OR REPLACE FUNCTION refuse_gate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`);
    await pool.query(`CREATE TRIGGER refuse_gate BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.job_id = ${job} AND NEW.type = 'gate.opened') EXECUTE FUNCTION refuse_gate()`);
  } finally {
    await pool.end();
  }
}

/** Another connection takes the write lock (SQLite) or locks the tables a unit needs (PostgreSQL); resolves to its release. */
async function holdLocks(place: StorePlace): Promise<() => Promise<void>> {
  if (place.kind === 'sqlite') {
    const other = new Database(`${place.dataDir}/signoff.db`);
    other.prepare('BEGIN IMMEDIATE').run();
    return async () => {
      other.prepare('ROLLBACK').run();
      other.close();
    };
  }
  const pool = otherPool(place);
  const client = await pool.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE jobs, dedupe IN ACCESS EXCLUSIVE MODE');
  return async () => {
    await client.query('ROLLBACK');
    client.release();
    await pool.end();
  };
}

describe.each(STORES)('the unit of work (%s)', (kind) => {
  it('writes nothing when its guard does not hold, and applies the input with the guard when it does', async () => {
    const { store, ids: [job] } = await setUp(kind, 1);
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
    const { store, place, ids: [job] } = await setUp(kind, 1);
    const run = await waitingRun(store, job!);
    expect(await store.inbox.accept('slack:action:U1:1', clock.now(), 'payload')).toBe(true);
    const before = await store.jobs.load(job!);
    await refuseGateOpened(place, store, job!);
    await expect(
      store.apply({ guard: { type: 'externalRun.end', id: run, state: 'completed', at: clock.now() }, inboxDone: 'slack:action:U1:1', items: [{ jobId: job!, input: succeeded }], atomic: true }, decider),
    ).rejects.toThrow('refused by the test');
    expect((await store.externalRuns.byId(run))!.state).toBe('waiting');
    expect((await store.inbox.pending()).map((i) => i.key)).toEqual(['slack:action:U1:1']);
    expect(await store.jobs.load(job!)).toEqual(before);
  });

  it('clears the carried-out interaction in the same commit as the change', async () => {
    const { store, ids: [job] } = await setUp(kind, 1);
    await store.inbox.accept('slack:action:U1:2', clock.now(), 'payload');
    await store.apply({ inboxDone: 'slack:action:U1:2', items: [{ jobId: job!, input: succeeded }], atomic: true }, decider);
    expect(await store.inbox.pending()).toEqual([]);
    expect((await store.jobs.load(job!))!.job.state).toBe('awaiting_approval');
  });

  it('undoes only the failing item when not atomic, and says which one failed', async () => {
    const { store, place, ids: [refused, other] } = await setUp(kind, 2);
    const before = await eventTypes(store, refused!);
    await refuseGateOpened(place, store, refused!);
    const applied = await store.apply({ items: [{ jobId: refused!, input: succeeded }, { jobId: other!, input: succeeded }, { jobId: 999, input: succeeded }] }, decider);
    expect(applied.items[0]).toMatchObject({ ok: false });
    expect(String((applied.items[0] as { error: Error }).error.message)).toContain('refused by the test');
    expect(applied.items[1]).toMatchObject({ ok: true, committed: { agg: { job: { state: 'awaiting_approval' } } } });
    expect(applied.items[2]).toEqual({ ok: true, committed: undefined });
    expect(await eventTypes(store, refused!)).toEqual(before);
    expect((await store.jobs.load(other!))!.job.state).toBe('awaiting_approval');
  });

  it('gives up on a lock another connection holds after the bounded wait, answering busy and changing nothing', async () => {
    const { store, place, ids: [job] } = await setUp(kind, 1);
    const before = await store.jobs.load(job!);
    const release = await holdLocks(place);
    try {
      const t0 = Date.now();
      await expect(store.bounded(100).apply({ items: [{ jobId: job!, input: succeeded }], atomic: true }, decider)).rejects.toThrow(/locked|busy/i);
      await expect(store.bounded(100).outbox.pruneAndClaim('discord:1', clock.now(), 0)).rejects.toThrow(/locked|busy/i);
      // Far less than the store's own lock wait (5 s).
      expect(Date.now() - t0).toBeLessThan(2_000);
    } finally {
      await release();
    }
    expect(await store.jobs.load(job!)).toEqual(before);
    // The lock gone, the same unit goes through, and the unbounded store kept its own wait.
    const applied = await store.bounded(100).apply({ items: [{ jobId: job!, input: succeeded }], atomic: true }, decider);
    expect(applied.committed[0]!.agg.job.state).toBe('awaiting_approval');
    if (kind === 'sqlite') expect(sqliteOnly(store).db.pragma('busy_timeout', { simple: true })).toBe(5_000);
  });

  it('starts no more queued jobs than max_concurrent_jobs allows, even when several units start them at once', async () => {
    const { store, ids } = await setUp(kind, 6, false);
    const units = Array.from({ length: 5 }, () => store.apply({ items: [], startQueued: { maxConcurrent: 2, input: start, when: () => true } }, decider));
    const started = (await Promise.all(units)).flatMap((a) => a.committed.map((c) => c.agg.job.id));
    expect(started.sort((a, b) => a - b)).toEqual(ids.slice(0, 2));
    expect(await store.queries.activeCount()).toBe(2);
    expect(await store.queries.queuePosition(ids[2]!)).toBe(1);
  });

  it('decides a job once when two units change it at the same time (row lock and compare-and-set)', async () => {
    const { store, ids: [job] } = await setUp(kind, 1);
    const both = await Promise.all([0, 1].map(() => store.apply({ items: [{ jobId: job!, input: succeeded }] }, decider)));
    const events = await eventTypes(store, job!);
    expect(events.filter((t) => t === 'gate.opened')).toHaveLength(1);
    expect(both.filter((a) => a.committed.some((c) => c.events.length > 0))).toHaveLength(1);
  });

  it('stores text holding NUL characters (PostgreSQL: as U+FFFD, like `signoff migrate --to`)', async () => {
    const { store, ids: [job] } = await setUp(kind, 1, true, () => 'bees\u0000and honey');
    const stored = (await store.jobs.load(job!))!.job.brief;
    expect(stored).toBe(kind === 'postgres' ? 'bees\uFFFDand honey' : 'bees\u0000and honey');
    const failed = await store.apply({ items: [{ jobId: job!, input: { type: 'stage.failed', stage: 'wait', run: 1, error: 'exit 1: \u0000garbage', code: 'exit' } }] }, decider);
    expect(failed.items[0]).toMatchObject({ ok: true });
    expect((await store.jobs.load(job!))!.stages[0]!.error).toContain(kind === 'postgres' ? '\uFFFDgarbage' : '\u0000garbage');
  });
});
