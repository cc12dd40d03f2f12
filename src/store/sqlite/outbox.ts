/**
 * The chat outbox: one row per event per chat surface, written with the state change. A surface
 * drains it in order per job, marks rows delivered, and keeps the ids of the messages it made
 * (chat_refs) so a restart edits the same messages instead of posting new ones.
 */
import type { Db } from './db.js';
import type { ChatRef, OutboxRow } from '../port.js';

export type { OutboxRow, ChatRef };

type Row = { id: number; target: string; job_id: number; attempts: number; event_id: number; seq: number; type: string; at: number; data: string };
const toRow = (r: Row): OutboxRow => ({
  id: r.id, target: r.target, job: r.job_id, attempts: r.attempts,
  event: { id: r.event_id, job: r.job_id, seq: r.seq, type: r.type, at: r.at, data: JSON.parse(r.data) },
});

export function outboxStatements(db: Db) {
  const q = {
    // Jobs whose oldest undelivered row is due: a job waits behind its own oldest row (order per job).
    dueJobs: db.prepare(`SELECT job_id AS job FROM outbox WHERE target = ? AND delivered_at IS NULL
      GROUP BY job_id HAVING MIN(CASE WHEN next_attempt_at <= ? THEN id END) = MIN(id) ORDER BY MIN(id) LIMIT ?`),
    pendingForJob: db.prepare(`SELECT o.id, o.target, o.job_id, o.attempts, o.event_id, e.seq, e.type, e.at, e.data
      FROM outbox o JOIN events e ON e.id = o.event_id WHERE o.target = ? AND o.job_id = ? AND o.delivered_at IS NULL ORDER BY o.id LIMIT ?`),
    delivered: db.prepare('UPDATE outbox SET delivered_at = ?, last_error = NULL WHERE id = ? AND delivered_at IS NULL'),
    failed: db.prepare('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?'),
    dropped: db.prepare("UPDATE outbox SET attempts = attempts + 1, delivered_at = ?, last_error = 'dropped: ' || ? WHERE id = ?"),
    getRef: db.prepare('SELECT channel, message_id AS messageId, thread_id AS threadId FROM chat_refs WHERE target = ? AND job_id = ? AND key = ?'),
    putRef: db.prepare(`INSERT INTO chat_refs (target, job_id, key, channel, message_id, thread_id) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (target, job_id, key) DO UPDATE SET channel = excluded.channel, message_id = excluded.message_id, thread_id = excluded.thread_id`),
    refsLike: db.prepare(`SELECT key, channel, message_id AS messageId, thread_id AS threadId FROM chat_refs
      WHERE target = ? AND job_id = ? AND key >= ? AND key < ? ORDER BY key`),
    claim: db.prepare('INSERT OR IGNORE INTO dedupe (key, at) VALUES (?, ?)'),
    prune: db.prepare('DELETE FROM dedupe WHERE at < ? AND payload IS NULL'),
    release: db.prepare('DELETE FROM dedupe WHERE key = ?'),
  };
  return {
    /** Jobs with undelivered rows for `target` whose oldest row is due by `now`. */
    dueJobs: (target: string, now: number, limit = 50) => (q.dueJobs.all(target, now, limit) as { job: number }[]).map((r) => r.job),
    /** A job's undelivered rows for `target`, oldest first. */
    pendingForJob: (target: string, job: number, limit = 200) => (q.pendingForJob.all(target, job, limit) as Row[]).map(toRow),
    markDelivered(ids: readonly number[], now: number): void {
      db.transaction(() => ids.forEach((id) => q.delivered.run(now, id)))();
    },
    markFailed: (id: number, error: string, retryAt: number) => void q.failed.run(retryAt, error.slice(0, 500), id),
    /** Gives up on a row (it stays in the table with its error, for the audit). */
    markDropped: (id: number, error: string, now: number) => void q.dropped.run(now, error.slice(0, 500), id),
    getRef: (target: string, job: number, key: string) => q.getRef.get(target, job, key) as ChatRef | undefined,
    putRef: (target: string, job: number, key: string, ref: ChatRef) => void q.putRef.run(target, job, key, ref.channel, ref.messageId, ref.threadId),
    /** Every ref of a job whose key starts with `prefix` (the copies of one gate card sent as direct messages). */
    refsWithPrefix: (target: string, job: number, prefix: string) =>
      q.refsLike.all(target, job, prefix, `${prefix}\uffff`) as (ChatRef & { key: string })[],
    /** True the first time a key is seen (replayed chat interactions are applied once). */
    claimOnce: (key: string, now: number) => q.claim.run(key, now).changes === 1,
    pruneClaims: (olderThan: number) => void q.prune.run(olderThan),
    /** Forgets a claim, so the same key may be applied again (a refused attempt the person corrects). */
    releaseClaim: (key: string) => void q.release.run(key),
  };
}
