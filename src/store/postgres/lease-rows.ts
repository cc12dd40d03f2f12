/**
 * The cluster's lease rows (table `cluster_leases`) and a bounded ping, on a small pool of their
 * own. A lease is a row its holder renews, not a session advisory lock: a transaction-pooling
 * proxy (PgBouncer) drops those. Every expiry is judged by the DATABASE's clock, so hosts whose
 * clocks disagree still agree on who holds a lease.
 *
 * Each call is bounded: a renewal that comes back after the lease would have run out is worth
 * nothing, and a half-open socket must not hold the caller. A call that times out has its
 * connection destroyed (the statement may still have run; the lease logic allows for that: a
 * renewal or acquisition it does not know about only delays the next holder until expiry).
 */
import pg from 'pg';
import type { Logger } from 'pino';

/** Now, in epoch milliseconds, by the database server's clock. */
const DB_NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** The outcome of an attempt to take a lease. */
export type Acquired = { won: true; epoch: number } | { won: false; holder: string; epoch: number; remainingMs: number };

/** Who holds a lease now, by the database's clock (undefined: nobody ever has). */
export interface LeaseState {
  holder: string;
  epoch: number;
  /** Milliseconds until it runs out (0 or less: it has). */
  remainingMs: number;
}

/** The statements the lease logic (src/cluster/lease.ts) needs. */
export interface LeaseRows {
  /** Takes `name` for `holder` for `ttlMs` if nobody holds it or its holder let it run out; the new epoch is one more than the last. */
  acquire(name: string, holder: string, ttlMs: number): Promise<Acquired>;
  /** Extends the holder's term; false when it ran out or another holder (or a later epoch) has it. */
  renew(name: string, holder: string, epoch: number, ttlMs: number): Promise<boolean>;
  /** Ends the holder's term now, so another replica may take over at once. */
  release(name: string, holder: string, epoch: number): Promise<void>;
  read(name: string): Promise<LeaseState | undefined>;
  /** Whether the database answers within `ms`. */
  ping(ms: number): Promise<boolean>;
  close(): Promise<void>;
}

const ACQUIRE = `
WITH now AS (SELECT ${DB_NOW} AS ms)
INSERT INTO cluster_leases AS l (name, holder, epoch, acquired_at, renewed_at, expires_at)
SELECT $1, $2, 1, now.ms, now.ms, now.ms + $3 FROM now
ON CONFLICT (name) DO UPDATE
  SET holder = excluded.holder, epoch = l.epoch + 1, acquired_at = excluded.acquired_at,
      renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
  WHERE l.expires_at <= excluded.acquired_at
RETURNING epoch`;

const RENEW = `
WITH now AS (SELECT ${DB_NOW} AS ms)
UPDATE cluster_leases SET renewed_at = now.ms, expires_at = now.ms + $4
FROM now
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now.ms`;

const RELEASE = `UPDATE cluster_leases SET expires_at = ${DB_NOW} WHERE name = $1 AND holder = $2 AND epoch = $3`;

const READ = `SELECT holder, epoch::float8 AS epoch, (expires_at - ${DB_NOW})::float8 AS remaining_ms FROM cluster_leases WHERE name = $1`;

/** Opens the lease pool for `url`: two connections at most (the renewal and a health ping). */
export function pgLeaseRows(url: string, timeoutMs: number, log?: Logger): LeaseRows {
  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: timeoutMs });
  pool.on('error', (err) => log?.warn({ err: { message: err.message } }, 'a lease connection to PostgreSQL was lost'));
  const q = <T extends pg.QueryResultRow>(text: string, values: unknown[], ms = timeoutMs) => bounded<T>(pool, ms, text, values);
  const read = async (name: string): Promise<LeaseState | undefined> => {
    const r = (await q<{ holder: string; epoch: number; remaining_ms: number }>(READ, [name])).rows[0];
    return r && { holder: r.holder, epoch: Number(r.epoch), remainingMs: Number(r.remaining_ms) };
  };
  return {
    async acquire(name, holder, ttlMs) {
      const won = (await q<{ epoch: string }>(ACQUIRE, [name, holder, Math.round(ttlMs)])).rows[0];
      if (won) return { won: true, epoch: Number(won.epoch) };
      // Someone holds it: say how long until it runs out, so the caller tries again right then.
      const now = await read(name);
      return { won: false, holder: now?.holder ?? '', epoch: now?.epoch ?? 0, remainingMs: now?.remainingMs ?? 0 };
    },
    async renew(name, holder, epoch, ttlMs) {
      return ((await q(RENEW, [name, holder, epoch, Math.round(ttlMs)])).rowCount ?? 0) === 1;
    },
    async release(name, holder, epoch) {
      await q(RELEASE, [name, holder, epoch]);
    },
    read,
    async ping(ms) {
      try {
        await q('SELECT 1', [], ms);
        return true;
      } catch {
        return false;
      }
    },
    close: () => pool.end(),
  };
}

const heard = new WeakSet<pg.PoolClient>();

/** Runs one statement on a pooled client, giving up after `ms`; a client that timed out is destroyed, not reused. */
async function bounded<T extends pg.QueryResultRow>(pool: pg.Pool, ms: number, text: string, values: unknown[]): Promise<pg.QueryResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer within ${ms} ms`)), ms);
  });
  const pending = pool.connect();
  let client: pg.PoolClient;
  try {
    client = await Promise.race([pending, late]);
  } catch (err) {
    // The client may still come: hand it back.
    pending.then((c) => c.release(), () => undefined);
    clearTimeout(timer);
    throw err;
  }
  // A connection that breaks while checked out emits 'error'; unheard, it would end the process.
  if (!heard.has(client)) {
    heard.add(client);
    client.on('error', () => undefined);
  }
  try {
    const result = await Promise.race([client.query<T>(text, values), late]);
    client.release();
    return result;
  } catch (err) {
    client.release(err instanceof Error ? err : new Error(String(err)));
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
