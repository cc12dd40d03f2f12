/**
 * PostgreSQL connections that fail under signoff: backends killed with pg_terminate_backend (what
 * a server restart, a failover or a proxy that drops connections does to a client). A unit of work
 * is one transaction, so a lost connection never leaves half of it stored; it is run again on a
 * new connection within a bound, then answered "busy"; and the engine carries a run of jobs to
 * its end through repeated losses, deciding nothing twice and losing nothing.
 */
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobInput } from '../../src/orchestrator/types.js';
import type { StorePort } from '../../src/store/store.js';
import type { PgStore } from '../../src/store/postgres/store.js';
import { freshPlace, openAt, otherPool } from '../helpers/stores.js';
import { slowClock, slowDecider, slowJob } from '../helpers/slow-job.js';
import { waitFor } from '../helpers/wait.js';
import { expectEachEndedOnce, startQueuedRun } from '../helpers/queued-engine.js';

const clock = slowClock;
const decider = slowDecider;
const succeeded: JobInput = { type: 'stage.succeeded', stage: 'wait', run: 1, summary: 'done', artifacts: [] };

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A PostgreSQL store with one job whose stage runs, and an admin pool on the same database. */
async function setUp() {
  const place = await freshPlace('postgres');
  const store = await openAt(place);
  const admin = otherPool(place);
  cleanup.push(() => store.close(), () => admin.end());
  const job = await slowJob(store);
  return { store, admin, job };
}

/** Makes every gate.opened insert take `seconds`: a window in which the unit's transaction is open. */
async function slowGateOpened(admin: pg.Pool, seconds: number): Promise<void> {
  await admin.query(`CREATE OR REPLACE FUNCTION slow_gate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${seconds}); RETURN NEW; END $$`);
  await admin.query(`CREATE TRIGGER slow_gate BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.type = 'gate.opened') EXECUTE FUNCTION slow_gate()`);
}

/** Terminates the backends of other connections that are inside the slow insert; how many. */
async function killInsideInsert(admin: pg.Pool): Promise<number> {
  const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE 'INSERT INTO events%'`);
  return rows.length;
}

const eventTypes = async (store: StorePort, job: number) => (await store.events.forJob(job)).map((e) => e.type);

describe('PostgreSQL connection faults', () => {
  it('a unit whose connection is killed mid-transaction stores nothing of that attempt and is run again on a new connection', async () => {
    const { store, admin, job } = await setUp();
    await slowGateOpened(admin, 0.3);
    const applying = store.apply({ items: [{ jobId: job, input: succeeded }], atomic: true }, decider);
    await waitFor(async () => (await killInsideInsert(admin)) === 1, 'the unit to be killed inside its transaction');
    const applied = await applying;
    expect(applied.committed[0]!.agg.job.state).toBe('awaiting_approval');
    const types = await eventTypes(store, job);
    expect(types.filter((t) => t === 'stage.succeeded')).toHaveLength(1);
    expect(types.filter((t) => t === 'gate.opened')).toHaveLength(1);
    const seqs = (await store.events.forJob(job)).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('answers busy, changing nothing, when the connection keeps being lost past the bound', async () => {
    const { store, admin, job } = await setUp();
    const before = await store.jobs.load(job);
    await slowGateOpened(admin, 0.2);
    let settled = false;
    // Its outcome, held at once (a rejection must not go unheard while the test kills connections).
    const outcome = store.bounded(400).apply({ items: [{ jobId: job, input: succeeded }], atomic: true }, decider).then(
      () => new Error('the unit was stored'),
      (err: unknown) => err as Error,
    ).finally(() => (settled = true));
    let kills = 0;
    await waitFor(async () => {
      kills += await killInsideInsert(admin);
      return settled;
    }, 'the bounded unit to give up');
    expect((await outcome).message).toMatch(/busy.*nothing changed/i);
    expect(kills).toBeGreaterThanOrEqual(1);
    await admin.query('DROP TRIGGER slow_gate ON events');
    expect(await store.jobs.load(job)).toEqual(before);
  });

  it('answers busy within the bound when every pooled connection is taken, and goes through once one is free', async () => {
    const { store, job } = await setUp();
    const pool = (store as PgStore).pool;
    const held: pg.PoolClient[] = [];
    // Take every connection the pool may open (its max), as a burst of slow work would.
    for (let i = 0; i < (pool.options.max ?? 10); i++) held.push(await pool.connect());
    try {
      const t0 = Date.now();
      await expect(store.bounded(200).apply({ items: [{ jobId: job, input: succeeded }], atomic: true }, decider)).rejects.toThrow(/busy.*no free database connection.*nothing changed/i);
      expect(Date.now() - t0).toBeLessThan(1_500);
    } finally {
      for (const c of held) c.release();
    }
    const applied = await store.bounded(200).apply({ items: [{ jobId: job, input: succeeded }], atomic: true }, decider);
    expect(applied.committed[0]!.agg.job.state).toBe('awaiting_approval');
    expect((await eventTypes(store, job)).filter((t) => t === 'stage.succeeded')).toHaveLength(1);
  });

  it('the engine carries a run of jobs to its end while every connection is killed again and again: nothing lost, nothing decided twice', async () => {
    const place = await freshPlace('postgres');
    const store = await openAt(place);
    const admin = otherPool(place);
    const { pe, ids } = await startQueuedRun(store, place.dataDir, 24);
    const engine = pe.engine;
    cleanup.push(() => store.close(), () => admin.end(), () => pe.stop());
    const finished = async () => (await admin.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')`)).rows[0]!.n;
    let kills = 0;
    let lastFinished = -1;
    await waitFor(async () => {
      const n = await finished();
      // Each time more jobs have finished, every connection of the store is killed again.
      if (n > lastFinished && n < ids.length && kills < 8) {
        lastFinished = n;
        const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
        if (rows.length > 0) kills++;
      }
      await engine.tick().catch(() => undefined);
      return n === ids.length;
    }, 'every job to finish', 120_000);
    expect(kills).toBeGreaterThanOrEqual(3);
    for (const id of ids) expect({ id, state: (await store.jobs.load(id))!.job.state }).toEqual({ id, state: 'succeeded' });
    await expectEachEndedOnce(store, ids);
  });
});
