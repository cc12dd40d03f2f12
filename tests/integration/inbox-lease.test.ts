/**
 * The inbox shared by replicas, on each store: a stored interaction is held by the replica that
 * stored it until its lease lapses, then exactly one other replica claims it (SKIP LOCKED on
 * PostgreSQL: two claiming at once get disjoint sets); carrying it out is a compare-and-set, so a
 * second replica's change with the same interaction stores nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/orchestrator/engine.js';
import { openPgStore } from '../../src/store/postgres/store.js';
import { sqliteOnly, type Store } from '../../src/store/store.js';
import { FakeClock, QUICK_PIPELINE, configFrom, silentLog } from '../helpers/fixtures.js';
import { STORES, freshPlace, openAt, otherPool, type StorePlace } from '../helpers/stores.js';

let closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of closing.reverse()) await fn();
  closing = [];
});

async function open(kind: (typeof STORES)[number]) {
  const place = await freshPlace(kind);
  const store = await openAt(place);
  closing.push(() => store.close());
  return { place, store };
}

/** Lets every hold lapse, as the clock passing INBOX_LEASE_MS would. */
async function lapse(place: StorePlace, store: Store) {
  if (place.kind === 'sqlite') sqliteOnly(store).db.prepare('UPDATE dedupe SET lease_until = 0 WHERE lease_until IS NOT NULL').run();
  else {
    const pool = otherPool(place);
    await pool.query('UPDATE dedupe SET lease_until = 0 WHERE lease_until IS NOT NULL');
    await pool.end();
  }
}

describe.each(STORES)('the inbox across replicas (%s)', (kind) => {
  it('is held by its replica until the lease lapses, then claimed by one other', async () => {
    const { place, store } = await open(kind);
    expect(await store.inbox.accept('slack:command:T1', 1_000, 'form-1', 'replica-1')).toBe(true);
    expect(await store.inbox.claim('replica-2'), 'held by a live replica').toEqual([]);
    await store.inbox.renew('replica-1');
    expect(await store.inbox.claim('replica-2')).toEqual([]);
    await lapse(place, store);
    expect(await store.inbox.claim('replica-2')).toEqual([{ key: 'slack:command:T1', at: 1_000, payload: 'form-1' }]);
    expect(await store.inbox.claim('replica-3'), 'held by its new holder').toEqual([]);
    // A restart: SQLite's data-directory lock proves the last process dead, so it takes all;
    // on PostgreSQL a replica takes back only what it held under its own id.
    const back = await store.inbox.claim('replica-1', { restart: true });
    expect(back.map((i) => i.key)).toEqual(kind === 'sqlite' ? ['slack:command:T1'] : []);
    expect((await store.inbox.claim('replica-2', { restart: true })).map((i) => i.key), 'its current holder restarting').toEqual(['slack:command:T1']);
    expect(await store.inbox.done('slack:command:T1')).toBe(true);
    expect(await store.inbox.done('slack:command:T1'), 'already carried out').toBe(false);
    await lapse(place, store);
    expect(await store.inbox.claim('replica-2')).toEqual([]);
  });

  it('carries an interaction out once: a second change with it stores nothing and says so', async () => {
    const { place, store } = await open(kind);
    const engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: place.dataDir, baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false });
    await engine.start();
    closing.push(() => engine.stop());
    await store.inbox.accept('slack:command:T2', 1_000, 'form-2', 'replica-1');
    const submit = () => engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'quick', brief: 'once', origin: { surface: 'console' } }, { inboxKey: 'slack:command:T2' });
    expect(await submit()).toMatchObject({ ok: true, jobId: 1 });
    expect(await submit()).toMatchObject({ ok: false, code: 'already_decided', message: 'That was already carried out; nothing changed.' });
    expect((await store.queries.list()).map((j) => j.id)).toEqual([1]);
  });
});

describe('claims of two replicas at once (postgres)', () => {
  it('hand each lapsed interaction to exactly one of them', async () => {
    const { place, store } = await open('postgres');
    const other = await openPgStore(place.databaseUrl!);
    closing.push(() => other.close());
    const keys = Array.from({ length: 60 }, (_, i) => `slack:command:K${String(i).padStart(2, '0')}`);
    await store.inbox.acceptAll(keys.map((key) => ({ key, payload: key })), 5_000, undefined, 'replica-dead');
    await lapse(place, store);
    const claims = await Promise.all([0, 1, 2, 3].map((i) => (i % 2 ? other : store).inbox.claim(`replica-${i}`, { limit: 20 })));
    const taken = claims.flat().map((i) => i.key);
    expect(new Set(taken).size, 'no interaction claimed twice').toBe(taken.length);
    // Four claims of at most 20 each: everything the first three did not take, the fourth did.
    expect(taken.length).toBe(60);
  });
});
