/**
 * The cluster's event feed on a real PostgreSQL: events written by another connection (another
 * replica) are delivered in id order, each once, even when a transaction holding a smaller id
 * commits after one holding a larger id; and a LISTEN connection cut by the server
 * (pg_terminate_backend), or lost with a restart of the server itself, connects again and the
 * feed goes on.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/orchestrator/engine.js';
import { openPgStore, type PgStore } from '../../src/store/postgres/store.js';
import { LISTEN_APPLICATION_NAME } from '../../src/store/postgres/listen.js';
import type { StoredEvent } from '../../src/store/store.js';
import { FakeClock, QUICK_PIPELINE, configFrom, silentLog, tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startOwnPostgres } from '../helpers/own-postgres.js';
import { waitFor } from '../helpers/wait.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

async function setUp() {
  const url = await freshDatabase();
  const store: PgStore = await openPgStore(url);
  const engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: tempDir(), baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false });
  await engine.start();
  cleanup.push(() => store.close(), () => engine.stop());
  const submit = async () => {
    const r = await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'quick', brief: 'feed', origin: { surface: 'console' } });
    if (!r.ok) throw new Error(r.message);
    return r.jobId;
  };
  const jobId = await submit();
  const otherJob = await submit();
  const other = async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    cleanup.push(() => c.end());
    return c;
  };
  const seen: StoredEvent[] = [];
  store.feed.subscribe((e) => seen.push(e));
  return { url, store, engine, jobId, otherJob, other, seen };
}

const insert = (c: pg.Client, job: number, seq: number, type: string) =>
  c.query<{ id: number }>(`INSERT INTO events (job_id, seq, type, at, data) VALUES ($1, $2, $3, 0, '{}') RETURNING id`, [job, seq, type]).then((r) => Number(r.rows[0]!.id));

describe('the cluster event feed (PostgreSQL)', () => {
  it("tells an engine's listeners every replica's events once, and its local listeners only its own", async () => {
    const url = await freshDatabase();
    const engines = [];
    for (let i = 0; i < 2; i++) {
      const store = await openPgStore(url);
      const engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: tempDir(), baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false });
      await engine.start();
      cleanup.push(() => store.close(), () => engine.stop());
      engines.push({ engine, store });
    }
    const [a, b] = engines as [(typeof engines)[number], (typeof engines)[number]];
    const any: number[] = [];
    const local: number[] = [];
    a.engine.onEvent((e) => any.push(e.id));
    a.engine.events.onLocal((e) => local.push(e.job));
    const submit = async (engine: Engine) => {
      const r = await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'quick', brief: 'both', origin: { surface: 'console' } });
      if (!r.ok) throw new Error(r.message);
      return r.jobId;
    };
    const [fromA, fromB] = await Promise.all([submit(a.engine), submit(b.engine)]);
    const all = async () => (await a.store.events.since(0, 1000)).map((e) => e.id);
    await waitFor(async () => (await all()).length > 0 && (await b.store.jobs.load(fromB!))!.job.state === 'awaiting_approval' && (await a.store.jobs.load(fromA!))!.job.state === 'awaiting_approval', 'both jobs at their gates');
    const stored = await all();
    await waitFor(() => any.length >= stored.length, "every replica's event");
    expect([...any].sort((x, y) => x - y)).toEqual(stored);
    expect(new Set(local)).toEqual(new Set([fromA]));
  });


  it('delivers a smaller id committed late before a larger one committed first, each once', async () => {
    const { store, jobId, otherJob, other, seen } = await setUp();
    const late = await other();
    const early = await other();
    // The late writer takes the job's row lock (an xid) and numbers its event first, then waits.
    await late.query('BEGIN');
    await late.query('SELECT id FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
    const lateId = await insert(late, jobId, 1001, 'test.late');
    // Another job: an event of the locked job would wait for its lock (the foreign key).
    const earlyId = await insert(early, otherJob, 1002, 'test.early');
    expect(earlyId).toBeGreaterThan(lateId);
    // The notification of the early commit woke the feed: it sees the late transaction still open and waits.
    await waitFor(() => store.feed.settling, 'the feed to wait for the open transaction');
    expect(seen.map((e) => e.id)).not.toContain(earlyId);
    await late.query('COMMIT');
    await waitFor(() => seen.some((e) => e.id === earlyId), 'both events');
    const ours = seen.filter((e) => e.type.startsWith('test.'));
    expect(ours.map((e) => e.id)).toEqual([lateId, earlyId]);
    // Everything the feed delivered is in id order without repeats.
    const ids = seen.map((e) => e.id);
    expect(ids).toEqual([...new Set(ids)].sort((a, b) => a - b));
  });

  it('connects again after the server cuts its LISTEN connection, and delivers what was written meanwhile', async () => {
    const { url, jobId, other, seen, store } = await setUp();
    const admin = await other();
    const db = new URL(url).pathname.slice(1);
    const listeners = async () => (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = $2', [LISTEN_APPLICATION_NAME, db])).rows.map((r) => r.pid);
    const before = await waitFor(async () => (await listeners()).length === 1 && (await listeners()), 'the LISTEN connection');
    await admin.query('SELECT pg_terminate_backend($1)', [before[0]]);
    const meanwhile = await insert(admin, jobId, 2001, 'test.meanwhile');
    const after = await waitFor(async () => {
      const now = await listeners();
      return now.length === 1 && now[0] !== before[0] && now;
    }, 'a new LISTEN connection');
    expect(after[0]).not.toBe(before[0]);
    expect(store.feed.listening).toBe(true);
    await waitFor(() => seen.some((e) => e.id === meanwhile), 'the event written while the connection was down');
    const next = await insert(admin, jobId, 2002, 'test.next');
    await waitFor(() => seen.some((e) => e.id === next), 'the event written after the new connection');
    const ids = seen.map((e) => e.id);
    expect(ids).toEqual([...new Set(ids)].sort((a, b) => a - b));
  });

  it('goes on after the server itself stops and starts again: every event once, in order', async () => {
    const server = await startOwnPostgres();
    cleanup.push(() => server.close());
    const { url } = server;
    const store = await openPgStore(url);
    const engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: tempDir(), baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false });
    cleanup.push(() => store.close(), () => engine.stop());
    await engine.start();
    const seen: number[] = [];
    store.feed.subscribe((e) => seen.push(e.id));
    const submit = async () => {
      const r = await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'quick', brief: 'restart', origin: { surface: 'console' } });
      if (!r.ok) throw new Error(r.message);
      return r.jobId;
    };
    const atGate = async (id: number) => waitFor(async () => (await store.jobs.load(id).catch(() => undefined))?.job.state === 'awaiting_approval', `job ${id} at its gate`, 60_000);
    await atGate(await submit());
    await waitFor(() => store.feed.listening, 'the LISTEN connection');
    await server.stop();
    await waitFor(() => !store.feed.listening, 'the LISTEN connection to drop');
    await server.start();
    await waitFor(() => store.feed.listening, 'the LISTEN connection to come back', 60_000);
    await atGate(await waitFor(() => submit().catch(() => undefined), 'a submission after the restart', 60_000));
    const stored = (await store.events.since(0, 1000)).map((e) => e.id);
    await waitFor(() => seen.length >= stored.length, 'every event');
    expect(seen).toEqual(stored);
  });
});
