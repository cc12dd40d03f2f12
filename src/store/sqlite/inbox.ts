/**
 * The interaction inbox: a chat interaction (a click, a slash command) is stored with its replay
 * claim in one write before it is acknowledged, and cleared once carried out. After a crash the
 * rows still holding a payload are carried out at start, so an acknowledged interaction is never
 * lost, and a replayed one (same key) is never applied twice. The claims live in the `dedupe`
 * table the surfaces already use for replays.
 */
import type { Db } from './db.js';
import type { InboxItem } from '../port.js';

export type { InboxItem };

export function inboxStatements(db: Db) {
  const q = {
    accept: db.prepare('INSERT OR IGNORE INTO dedupe (key, at, payload) VALUES (?, ?, ?)'),
    done: db.prepare('UPDATE dedupe SET payload = NULL WHERE key = ? AND payload IS NOT NULL'),
    pending: db.prepare('SELECT key, at, payload FROM dedupe WHERE payload IS NOT NULL ORDER BY at, key'),
  };
  return {
    /** Stores an interaction under its claim; false when the key was seen before (a replay: ignore it). */
    accept: (key: string, at: number, payload: string) => q.accept.run(key, at, payload).changes === 1,
    /** The interaction was carried out: keep only its claim. */
    done: (key: string) => void q.done.run(key),
    /** Interactions stored but not yet carried out, oldest first. */
    pending: () => q.pending.all() as InboxItem[],
  };
}
