/**
 * The courier's lease on a real PostgreSQL: one holder at a time by the database's clock, a term
 * that runs out when its holder stops renewing, a renewal from a lost term that fails, and the
 * Courier starting its duties on one replica only, stopping them before another replica starts
 * them, and winning again later. Short terms keep the test quick; the app uses 8 s / 2 s.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { pgLeaseRows, type LeaseRows } from '../../src/store/postgres/lease-rows.js';
import { openPgStore } from '../../src/store/postgres/store.js';
import { Lease } from '../../src/cluster/lease.js';
import { Courier, type CourierDuty, type CourierTerm } from '../../src/cluster/courier.js';
import { freshDatabase } from '../helpers/postgres.js';
import { silentLog } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

/** A migrated database and lease rows on it. */
async function leaseDatabase(): Promise<{ url: string; rows: () => LeaseRows }> {
  const url = await freshDatabase();
  const store = await openPgStore(url);
  await store.close();
  return {
    url,
    rows: () => {
      const r = pgLeaseRows(url, 1_500);
      cleanup.push(() => r.close());
      return r;
    },
  };
}

/** Lease rows this replica can be cut off from, as if its network to the database went down. */
function severable(rows: LeaseRows): LeaseRows & { down: boolean } {
  const cut = <T>(f: () => Promise<T>): Promise<T> => (wrapped.down ? Promise.reject(new Error('connection refused (the test cut it)')) : f());
  const wrapped = {
    down: false,
    acquire: (n: string, h: string, t: number) => cut(() => rows.acquire(n, h, t)),
    renew: (n: string, h: string, e: number, t: number) => cut(() => rows.renew(n, h, e, t)),
    release: (n: string, h: string, e: number) => cut(() => rows.release(n, h, e)),
    read: (n: string) => rows.read(n),
    ping: (ms: number) => rows.ping(ms),
    close: () => rows.close(),
  };
  return wrapped;
}

/** Samples two holders every few milliseconds and counts the moments both believed they held. */
function overlapWatch(a: () => boolean, b: () => boolean): { overlaps: () => number; stop: () => void } {
  let overlaps = 0;
  const timer = setInterval(() => {
    if (a() && b()) overlaps++;
  }, 2);
  cleanup.push(async () => clearInterval(timer));
  return { overlaps: () => overlaps, stop: () => clearInterval(timer) };
}

describe('lease rows', () => {
  it('let one holder at a time take a lease, by the database clock; a term runs out; a lost term cannot be renewed', async () => {
    const db = await leaseDatabase();
    const rows = db.rows();

    const a = await rows.acquire('t', 'replica-a', 400);
    expect(a).toEqual({ won: true, epoch: 1 });
    const refused = await rows.acquire('t', 'replica-b', 400);
    expect(refused).toMatchObject({ won: false, holder: 'replica-a', epoch: 1 });
    if (refused.won) throw new Error('unreachable');
    expect(refused.remainingMs).toBeGreaterThan(0);
    expect(refused.remainingMs).toBeLessThanOrEqual(400);
    expect(await rows.renew('t', 'replica-a', 1, 400)).toBe(true);
    // The same replica name with another epoch (a restarted process) is not the holder either.
    expect(await rows.renew('t', 'replica-a', 2, 400)).toBe(false);

    // replica-a stops renewing: replica-b gets the lease once the term runs out, with the next epoch.
    const b = await waitFor(async () => {
      const got = await rows.acquire('t', 'replica-b', 400);
      return got.won && got;
    }, 'replica-b to take the lease once replica-a stopped renewing', 5_000);
    expect(b).toEqual({ won: true, epoch: 2 });
    expect(await rows.renew('t', 'replica-a', 1, 400)).toBe(false);
    await rows.release('t', 'replica-a', 1);
    expect(await rows.read('t')).toMatchObject({ holder: 'replica-b', epoch: 2 });
    expect((await rows.acquire('t', 'replica-c', 400)).won).toBe(false);

    // A release ends the term at once.
    await rows.release('t', 'replica-b', 2);
    expect(await rows.acquire('t', 'replica-c', 400)).toEqual({ won: true, epoch: 3 });
    expect(await rows.ping(1_000)).toBe(true);
  });
});

describe('Lease', () => {
  it('is held by one replica; one that cannot renew stops at once and another takes over only after the term', async () => {
    const db = await leaseDatabase();
    const rowsA = severable(db.rows());
    const seen: string[] = [];
    const lease = (holder: string, rows: LeaseRows) =>
      new Lease({
        rows, name: 'courier', holder, ttlMs: 800, renewMs: 100, marginMs: 200, log: silentLog,
        onWon: (epoch) => seen.push(`${holder} won ${epoch}`),
        onLost: (why) => seen.push(`${holder} lost: ${why}`),
      });
    const a = lease('a', rowsA);
    const b = lease('b', db.rows());
    cleanup.push(() => a.stop(), () => b.stop());
    await a.start();
    await b.start();
    expect(a.held()).toBe(true);
    expect(b.held()).toBe(false);
    const watch = overlapWatch(() => a.held(), () => b.held());

    // Renewals keep it: well past one term, a still holds it and b never did.
    await waitFor(() => seen.length === 1 && a.epoch === 1 && a.held(), 'a to hold epoch 1');
    const renewedUntil = performance.now() + 1_200;
    await waitFor(() => performance.now() > renewedUntil, 'more than a term of renewals');
    expect(a.held()).toBe(true);
    expect(b.epoch).toBeUndefined();

    // a is cut off from the database: it stops counting itself the holder at the first failed renewal.
    const cut = performance.now();
    rowsA.down = true;
    await waitFor(() => !a.held(), 'a to stop holding after a failed renewal', 2_000);
    const stoppedAfter = performance.now() - cut;
    await waitFor(() => b.held(), 'b to take over', 5_000);
    const tookOverAfter = performance.now() - cut;
    watch.stop();
    expect(watch.overlaps()).toBe(0);
    // a stopped at its first failed renewal, long before its term could run out; b only after.
    expect(stoppedAfter).toBeLessThan(800);
    expect(tookOverAfter).toBeGreaterThan(stoppedAfter);
    expect(seen).toEqual(['a won 1', 'a lost: not renewed in time', 'b won 2']);

    // a is back: its old term is gone for good, and b keeps the lease.
    rowsA.down = false;
    expect(await rowsA.renew('courier', 'a', 1, 800)).toBe(false);
    const later = performance.now() + 500;
    await waitFor(() => performance.now() > later, 'a few of a\'s attempts');
    expect(a.held()).toBe(false);
    expect(b.held()).toBe(true);

    // b stops: it releases the lease, and a takes it without waiting out a term.
    const released = performance.now();
    await b.stop();
    await waitFor(() => a.held(), 'a to take the released lease', 2_000);
    // Well within a term (800 ms): a asks every 100 ms.
    expect(performance.now() - released).toBeLessThan(700);
    expect(seen.slice(3)).toEqual(['b lost: stopping', 'a won 3']);
  });

  it('takes over at once from a holder known dead (a killed process of this host), not after its term', async () => {
    const db = await leaseDatabase();
    const rows = db.rows();
    // A previous life holds a long term and will never renew it.
    expect(await rows.acquire('courier', 'host-1111', 60_000)).toMatchObject({ won: true, epoch: 1 });
    const waiting = new Lease({ rows: db.rows(), name: 'courier', holder: 'host-2222', ttlMs: 800, renewMs: 100, marginMs: 200, log: silentLog, isDead: () => false });
    const successor = new Lease({ rows: db.rows(), name: 'courier', holder: 'host-3333', ttlMs: 800, renewMs: 100, marginMs: 200, log: silentLog, isDead: (h) => h === 'host-1111' });
    cleanup.push(() => waiting.stop(), () => successor.stop());
    await waiting.start();
    expect(waiting.held()).toBe(false);
    // Its first attempt ends the dead holder's term (compare-and-set on holder and epoch) and wins.
    await successor.start();
    expect(successor.held()).toBe(true);
    expect(successor.epoch).toBe(2);
    expect(await rows.read('courier')).toMatchObject({ holder: 'host-3333', epoch: 2 });
    expect(waiting.held()).toBe(false);
  });
});

/** A courier half that records when it starts and stops, and whether its term allowed delivery. */
function recordingDuty(name: string, log: string[]): CourierDuty & { term: CourierTerm | undefined; pokes: number } {
  return {
    name,
    term: undefined,
    pokes: 0,
    async startCourier(term) {
      this.term = term;
      log.push(`start ${name}`);
    },
    async stopCourier() {
      this.term = undefined;
      log.push(`stop ${name}`);
    },
    poke() {
      this.pokes++;
    },
  };
}

describe('Courier', () => {
  it('runs the courier half on one replica, stops it before another starts it, and may win again', async () => {
    const db = await leaseDatabase();
    const rowsA = severable(db.rows());
    const log: string[] = [];
    const dutyA = recordingDuty('a', log);
    const dutyB = recordingDuty('b', log);
    const leaseOf = (holder: string, rows: LeaseRows) => ({ rows, name: 'chat-courier', holder, ttlMs: 800, renewMs: 100, marginMs: 200 });
    const a = new Courier({ duties: [dutyA], log: silentLog, lease: leaseOf('a', rowsA) });
    const b = new Courier({ duties: [dutyB], log: silentLog, lease: leaseOf('b', db.rows()) });
    cleanup.push(() => a.stop(), () => b.stop());

    await a.start();
    await b.start();
    expect([a.active, b.active]).toEqual([true, false]);
    expect(log).toEqual(['start a']);
    expect(a.mayDeliver()).toBe(true);
    expect(dutyA.term?.mayDeliver()).toBe(true);
    a.poke();
    b.poke();
    expect([dutyA.pokes, dutyB.pokes]).toEqual([1, 0]);
    const watch = overlapWatch(() => a.mayDeliver(), () => b.mayDeliver());

    rowsA.down = true;
    await waitFor(() => log.includes('start b'), 'b to become the courier', 5_000);
    expect(log).toEqual(['start a', 'stop a', 'start b']);
    expect([a.active, b.active]).toEqual([false, true]);

    // a comes back, b shuts down: a is the courier again.
    rowsA.down = false;
    await b.stop();
    await waitFor(() => a.active && log.at(-1) === 'start a', 'a to become the courier again', 5_000);
    watch.stop();
    expect(watch.overlaps()).toBe(0);
    expect(log).toEqual(['start a', 'stop a', 'start b', 'stop b', 'start a']);
    expect(a.epoch).toBe(3);
  });

  it('on SQLite (no lease) is the courier from start to stop', async () => {
    const log: string[] = [];
    const courier = new Courier({ duties: [recordingDuty('only', log)], log: silentLog });
    expect(courier.active).toBe(false);
    await courier.start();
    expect([courier.active, courier.mayDeliver()]).toEqual([true, true]);
    await courier.stop();
    expect([courier.active, courier.mayDeliver()]).toEqual([false, false]);
    expect(log).toEqual(['start only', 'stop only']);
  });
});
