/**
 * The interaction inbox on PostgreSQL (mirrors ../sqlite/inbox.ts); claims live in `dedupe`.
 * Replicas share it: a row not yet carried out is held by the replica that stored it (`owner`)
 * until `lease_until`, renewed while it waits; when the lease lapses (its replica died) another
 * replica claims it with SKIP LOCKED. Leases are compared against the database's clock, never two
 * hosts' clocks. Carrying one out clears its payload in the change's own transaction, and that
 * clear is a compare-and-set: only one replica's change is stored.
 */
import { INBOX_LEASE_MS, type InboxItem } from '../port.js';
import { rows, run, type Queryable } from './sql.js';

/** The database's clock in epoch milliseconds. */
const DB_NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

export function inboxStatements(db: Queryable) {
  return {
    /** Stores an interaction under its claim; false when the key was seen before (a replay: ignore it). */
    accept: async (key: string, at: number, payload: string, owner: string | undefined, tx: Queryable = db) =>
      (await run(tx, `INSERT INTO dedupe (key, at, payload, owner, lease_until) VALUES ($1, $2, $3, $4, CASE WHEN $4::text IS NULL THEN NULL ELSE ${DB_NOW} + $5 END) ON CONFLICT (key) DO NOTHING`, [key, at, payload, owner ?? null, INBOX_LEASE_MS])) === 1,
    /**
     * Stores a batch in ONE statement (a round trip per interaction made the Slack acknowledgement
     * wait on PostgreSQL's latency once per click); per item, false for a replay, including a key
     * repeated within the batch (only its first occurrence is stored).
     */
    acceptMany: async (items: readonly { key: string; payload: string }[], at: number, owner: string | undefined, tx: Queryable = db): Promise<boolean[]> => {
      if (items.length === 0) return [];
      const stored = new Set(
        (await rows<{ key: string }>(tx, `INSERT INTO dedupe (key, at, payload, owner, lease_until)
          SELECT k, $3, p, $4, CASE WHEN $4::text IS NULL THEN NULL ELSE ${DB_NOW} + $5 END FROM unnest($1::text[], $2::text[]) AS t(k, p)
          ON CONFLICT (key) DO NOTHING RETURNING key`, [items.map((i) => i.key), items.map((i) => i.payload), at, owner ?? null, INBOX_LEASE_MS])).map((r) => r.key),
      );
      return items.map((i) => stored.delete(i.key));
    },
    /** The interaction was carried out: keep only its claim. False when it had been already. */
    done: async (key: string, tx: Queryable = db) => (await run(tx, 'UPDATE dedupe SET payload = NULL, owner = NULL, lease_until = NULL WHERE key = $1 AND payload IS NOT NULL', [key])) === 1,
    /** See InboxPort.claim: rows another transaction is claiming are skipped, not waited for. */
    claim: (owner: string, opts: { restart?: boolean; limit?: number; deadOwners?: readonly string[] } = {}) =>
      rows<InboxItem>(db, `UPDATE dedupe SET owner = $1, lease_until = ${DB_NOW} + $2
        WHERE key IN (SELECT key FROM dedupe WHERE payload IS NOT NULL
          AND (lease_until IS NULL OR lease_until < ${DB_NOW} OR ($3 AND owner = ANY($5::text[])))
          ORDER BY at, key COLLATE "C" LIMIT $4 FOR UPDATE SKIP LOCKED)
        RETURNING key, at, payload`, [owner, INBOX_LEASE_MS, opts.restart === true, opts.limit ?? 100, [owner, ...(opts.deadOwners ?? [])]]).then((r) => r.sort((x, y) => x.at - y.at || (x.key < y.key ? -1 : 1))),
    owners: () => rows<{ owner: string }>(db, 'SELECT DISTINCT owner FROM dedupe WHERE payload IS NOT NULL AND owner IS NOT NULL').then((r) => r.map((x) => x.owner)),
    renew: async (owner: string) => void (await run(db, `UPDATE dedupe SET lease_until = ${DB_NOW} + $2 WHERE owner = $1 AND payload IS NOT NULL`, [owner, INBOX_LEASE_MS])),
    /** Interactions stored but not yet carried out, oldest first. */
    pending: () => rows<InboxItem>(db, 'SELECT key, at, payload FROM dedupe WHERE payload IS NOT NULL ORDER BY at, key COLLATE "C"'),
  };
}
