/**
 * The stage-lease calls a worker and the engine's sweep make (PostgreSQL only), over the store's
 * statements (./stage-leases.ts). Taking runs from the queue and taking their leases is one
 * statement: a worker that dies before it completes took nothing, so the runs stay queued for
 * another worker.
 */
import type { SqlExecutor } from './run-queue-hook.js';
import type { Queryable } from './sql.js';
import type pg from 'pg';
import { dropLeases, expiredLeases, expireHolders, fetchAndLease, leaseHolders, relaxCommit, renewLeases, runningWithoutLease, type RunKey } from './stage-leases.js';

export type { RunKey } from './stage-leases.js';

export interface StageLeases {
  /**
   * `fetch` runs the queue's fetch statement through the executor it is given (the queue marks the
   * items taken); the same statement takes the leases, for `leaseMs`, of the runs still current
   * (see `fetchAndLease`). Resolves the fetched items and which of them are now `holder`'s to run.
   */
  take<T extends { key: RunKey }>(holder: string, leaseMs: number, fetch: (db: SqlExecutor) => Promise<T[]>): Promise<{ fetched: T[]; mine: T[] }>;
  /**
   * Runs `fn` (the queue's own clean-up of taken items) in a transaction whose commit does not
   * wait for the disk: lost in a crash, the items are only cleaned up later by the queue itself.
   */
  tidy(fn: (db: SqlExecutor) => Promise<unknown>): Promise<void>;
  /** Renews `holder`'s leases among `keys`; resolves those it still holds. */
  renew(holder: string, keys: readonly RunKey[], leaseMs: number): Promise<RunKey[]>;
  /** `release`: the leases go (the run lives elsewhere now); `expire`: they run out at once, so the sweep re-runs them. */
  drop(holder: string, keys: readonly RunKey[], how: 'release' | 'expire'): Promise<void>;
  /** Ends now every lease of the holders `dead` picks (processes known to be gone); resolves how many. */
  expireDead(dead: (holder: string) => boolean): Promise<number>;
  /** Leases that ran out (their holder stopped renewing), oldest first. */
  expired(limit: number): Promise<RunKey[]>;
  /** Stages running without any lease (from before leases existed). */
  runningWithoutLease(): Promise<RunKey[]>;
}

export function stageLeaseFacet(db: Queryable, tx: <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>): StageLeases {
  return {
    tidy: (fn) =>
      tx(async (c) => {
        await relaxCommit(c);
        await fn({ executeSql: (text, values) => c.query(text, values) });
      }),
    async take(holder, leaseMs, fetch) {
      const leased = new Set<string>();
      let failed: unknown;
      const items = await fetch({
        executeSql: async (text, values = []) => {
          try {
            const res = await fetchAndLease(db, text, values, holder, leaseMs);
            for (const r of res.rows as { data: RunKey; leased: boolean }[]) if (r.leased) leased.add(keyOf(r.data));
            return res;
          } catch (err) {
            // The queue library swallows a failed fetch (it reads it as "nothing queued"): say it.
            failed = err;
            throw err;
          }
        },
      });
      if (failed) throw failed;
      return { fetched: items, mine: items.filter((i) => leased.has(keyOf(i.key))) };
    },
    renew: (holder, keys, leaseMs) => renewLeases(db, holder, keys, leaseMs),
    drop: (holder, keys, how) => dropLeases(db, holder, keys, how),
    expired: (limit) => expiredLeases(db, limit),
    expireDead: async (dead) => expireHolders(db, (await leaseHolders(db)).filter(dead)),
    runningWithoutLease: () => runningWithoutLease(db),
  };
}

/** A run's key as one string. */
export const keyOf = (k: RunKey): string => `${k.jobId}:${k.stage}:${k.run}`;
