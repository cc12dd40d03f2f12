/**
 * The interaction inbox: a chat interaction (a click, a slash command) is stored with its replay
 * claim in one write before it is acknowledged, and cleared once carried out. After a crash the
 * rows still holding a payload are carried out at start, so an acknowledged interaction is never
 * lost, and a replayed one (same key) is never applied twice. The claims live in the `dedupe`
 * table the surfaces already use for replays.
 */
import type { Db } from './db.js';
import { INBOX_LEASE_MS, type InboxItem } from '../port.js';

export type { InboxItem };

export function inboxStatements(db: Db) {
  const q = {
    accept: db.prepare('INSERT OR IGNORE INTO dedupe (key, at, payload, owner, lease_until) VALUES (?, ?, ?, ?, ?)'),
    done: db.prepare('UPDATE dedupe SET payload = NULL, owner = NULL, lease_until = NULL WHERE key = ? AND payload IS NOT NULL'),
    pending: db.prepare('SELECT key, at, payload FROM dedupe WHERE payload IS NOT NULL ORDER BY at, key'),
    claim: db.prepare(`UPDATE dedupe SET owner = @owner, lease_until = @until
      WHERE key IN (SELECT key FROM dedupe WHERE payload IS NOT NULL AND (@restart OR lease_until IS NULL OR lease_until < @now) ORDER BY at, key LIMIT @limit)
      RETURNING key, at, payload`),
    renew: db.prepare('UPDATE dedupe SET lease_until = ? WHERE owner = ? AND payload IS NOT NULL'),
    owners: db.prepare('SELECT DISTINCT owner FROM dedupe WHERE payload IS NOT NULL AND owner IS NOT NULL'),
  };
  return {
    /** Stores an interaction under its claim; false when the key was seen before (a replay: ignore it). */
    accept: (key: string, at: number, payload: string, owner?: string) => q.accept.run(key, at, payload, owner ?? null, owner === undefined ? null : Date.now() + INBOX_LEASE_MS).changes === 1,
    /** The interaction was carried out: keep only its claim. False when it had been already. */
    done: (key: string) => q.done.run(key).changes === 1,
    /**
     * See InboxPort.claim. One process per data directory: at a restart every stored interaction
     * is this process's to carry out; the lease only matters for a hold this process let lapse.
     */
    claim: (owner: string, opts: { restart?: boolean; limit?: number } = {}) => {
      const now = Date.now();
      const got = q.claim.all({ owner, until: now + INBOX_LEASE_MS, now, restart: opts.restart ? 1 : 0, limit: opts.limit ?? 100 }) as InboxItem[];
      return got.sort((x, y) => x.at - y.at || (x.key < y.key ? -1 : 1));
    },
    renew: (owner: string) => void q.renew.run(Date.now() + INBOX_LEASE_MS, owner),
    owners: () => (q.owners.all() as { owner: string }[]).map((r) => r.owner),
    /** Interactions stored but not yet carried out, oldest first. */
    pending: () => q.pending.all() as InboxItem[],
  };
}
