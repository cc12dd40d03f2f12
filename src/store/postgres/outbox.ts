/**
 * The chat outbox on PostgreSQL (mirrors ../sqlite/outbox.ts): rows per event per chat surface,
 * the ids of the messages made (chat_refs), and the replay claims (dedupe).
 */
import type { ChatRef, OutboxRow } from '../port.js';
import { row, rows, run, type Queryable } from './sql.js';

type Row = { id: number; target: string; job_id: number; attempts: number; event_id: number; seq: number; type: string; at: number; data: string };
const toRow = (r: Row): OutboxRow => ({
  id: r.id, target: r.target, job: r.job_id, attempts: r.attempts,
  event: { id: r.event_id, job: r.job_id, seq: r.seq, type: r.type, at: r.at, data: JSON.parse(r.data) },
});
const REF = 'channel, message_id AS "messageId", thread_id AS "threadId"';

export function outboxStatements(db: Queryable) {
  return {
    /** Jobs with undelivered rows for `target` whose oldest row is due by `now` (a job waits behind its own oldest row). */
    dueJobs: async (target: string, now: number, limit = 50) =>
      (await rows<{ job: number }>(db, `SELECT job_id AS job FROM outbox WHERE target = $1 AND delivered_at IS NULL
        GROUP BY job_id HAVING MIN(CASE WHEN next_attempt_at <= $2 THEN id END) = MIN(id) ORDER BY MIN(id) LIMIT $3`, [target, now, limit])).map((r) => r.job),
    /** A job's undelivered rows for `target`, oldest first. */
    pendingForJob: async (target: string, job: number, limit = 200) =>
      (await rows<Row>(db, `SELECT o.id, o.target, o.job_id, o.attempts, o.event_id, e.seq, e.type, e.at, e.data
        FROM outbox o JOIN events e ON e.id = o.event_id WHERE o.target = $1 AND o.job_id = $2 AND o.delivered_at IS NULL ORDER BY o.id LIMIT $3`, [target, job, limit])).map(toRow),
    /** Marks rows delivered; `tx` is the client of the caller's transaction. */
    async markDelivered(tx: Queryable, ids: readonly number[], now: number): Promise<void> {
      if (ids.length > 0) await run(tx, 'UPDATE outbox SET delivered_at = $1, last_error = NULL WHERE id = ANY($2::bigint[]) AND delivered_at IS NULL', [now, ids]);
    },
    markFailed: async (id: number, error: string, retryAt: number) =>
      void (await run(db, 'UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3', [retryAt, error.slice(0, 500), id])),
    /** Gives up on a row (it stays in the table with its error, for the audit). */
    markDropped: async (id: number, error: string, now: number) =>
      void (await run(db, "UPDATE outbox SET attempts = attempts + 1, delivered_at = $1, last_error = 'dropped: ' || $2::text WHERE id = $3", [now, error.slice(0, 500), id])),
    getRef: (target: string, job: number, key: string) =>
      row<ChatRef>(db, `SELECT ${REF} FROM chat_refs WHERE target = $1 AND job_id = $2 AND key = $3`, [target, job, key]),
    putRef: async (target: string, job: number, key: string, ref: ChatRef) =>
      void (await run(db, `INSERT INTO chat_refs (target, job_id, key, channel, message_id, thread_id) VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (target, job_id, key) DO UPDATE SET channel = excluded.channel, message_id = excluded.message_id, thread_id = excluded.thread_id`,
        [target, job, key, ref.channel, ref.messageId, ref.threadId])),
    /** Every ref of a job whose key starts with `prefix`, in SQLite's (binary) key order. */
    refsWithPrefix: (target: string, job: number, prefix: string) =>
      rows<ChatRef & { key: string }>(db, `SELECT key, ${REF} FROM chat_refs WHERE target = $1 AND job_id = $2 AND starts_with(key, $3) ORDER BY key COLLATE "C"`, [target, job, prefix]),
    /** True the first time a key is seen (replayed chat interactions are applied once). */
    claimOnce: async (key: string, now: number, tx: Queryable = db) => (await run(tx, 'INSERT INTO dedupe (key, at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, now])) === 1,
    pruneClaims: async (olderThan: number, tx: Queryable = db) => void (await run(tx, 'DELETE FROM dedupe WHERE at < $1 AND payload IS NULL', [olderThan])),
    /** Forgets a claim, so the same key may be applied again. */
    releaseClaim: async (key: string) => void (await run(db, 'DELETE FROM dedupe WHERE key = $1', [key])),
  };
}
