/**
 * The stage-lease calls a worker and the engine's sweep make (PostgreSQL only), over the store's
 * statements (./stage-leases.ts). Taking runs from the queue and taking their leases is one
 * transaction: a worker that dies before its COMMIT took nothing, so the runs stay queued for
 * another worker.
 */
import type pg from 'pg';
import type { SqlExecutor } from './run-queue-hook.js';
import type { Queryable } from './sql.js';
import { dropLeases, expiredLeases, renewLeases, runningWithoutLease, takeLeases, type RunKey } from './stage-leases.js';

export type { RunKey } from './stage-leases.js';

export interface StageLeases {
  /**
   * One transaction: `fetch` takes queued items through the transaction's client, the leases of
   * those still current are taken by `holder` for `leaseMs`, and `remove` deletes every fetched
   * item from the queue (a stale one has nothing left to run). Resolves the items whose lease was taken.
   */
  take<T extends { key: RunKey }>(holder: string, leaseMs: number, fetch: (db: SqlExecutor) => Promise<T[]>, remove: (db: SqlExecutor, items: T[]) => Promise<void>): Promise<T[]>;
  /** Renews `holder`'s leases among `keys`; resolves those it still holds. */
  renew(holder: string, keys: readonly RunKey[], leaseMs: number): Promise<RunKey[]>;
  /** `release`: the leases go (the run lives elsewhere now); `expire`: they run out at once, so the sweep re-runs them. */
  drop(holder: string, keys: readonly RunKey[], how: 'release' | 'expire'): Promise<void>;
  /** Leases that ran out (their holder stopped renewing), oldest first. */
  expired(limit: number): Promise<RunKey[]>;
  /** Stages running without any lease (from before leases existed). */
  runningWithoutLease(): Promise<RunKey[]>;
}

export function stageLeaseFacet(db: Queryable, tx: <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>): StageLeases {
  return {
    take: (holder, leaseMs, fetch, remove) =>
      tx(async (c) => {
        const exec: SqlExecutor = { executeSql: (text, values) => c.query(text, values) };
        const items = await fetch(exec);
        if (items.length === 0) return [];
        const taken = await takeLeases(c, holder, items.map((i) => i.key), leaseMs);
        await remove(exec, items);
        const mine = new Set(taken.map(keyOf));
        return items.filter((i) => mine.has(keyOf(i.key)));
      }),
    renew: (holder, keys, leaseMs) => renewLeases(db, holder, keys, leaseMs),
    drop: (holder, keys, how) => dropLeases(db, holder, keys, how),
    expired: (limit) => expiredLeases(db, limit),
    runningWithoutLease: () => runningWithoutLease(db),
  };
}

/** A run's key as one string. */
export const keyOf = (k: RunKey): string => `${k.jobId}:${k.stage}:${k.run}`;
