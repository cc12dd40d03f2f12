/** The interaction inbox on PostgreSQL (mirrors ../sqlite/inbox.ts); claims live in `dedupe`. */
import type { InboxItem } from '../port.js';
import { rows, run, type Queryable } from './sql.js';

export function inboxStatements(db: Queryable) {
  return {
    /** Stores an interaction under its claim; false when the key was seen before (a replay: ignore it). */
    accept: async (key: string, at: number, payload: string, tx: Queryable = db) =>
      (await run(tx, 'INSERT INTO dedupe (key, at, payload) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING', [key, at, payload])) === 1,
    /** The interaction was carried out: keep only its claim. */
    done: async (key: string, tx: Queryable = db) => void (await run(tx, 'UPDATE dedupe SET payload = NULL WHERE key = $1 AND payload IS NOT NULL', [key])),
    /** Interactions stored but not yet carried out, oldest first. */
    pending: () => rows<InboxItem>(db, 'SELECT key, at, payload FROM dedupe WHERE payload IS NOT NULL ORDER BY at, key COLLATE "C"'),
  };
}
