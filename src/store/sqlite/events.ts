/**
 * The event log: one row per lifecycle step, numbered per job, written in the same transaction
 * as the state change it describes. Chat surfaces get an outbox row per event they show.
 */
import type { Db } from './db.js';
import type { StoredEvent } from '../port.js';

export type { StoredEvent };

type Row = { id: number; job_id: number; seq: number; type: string; at: number; data: string };
const toEvent = (r: Row): StoredEvent => ({ id: r.id, job: r.job_id, seq: r.seq, type: r.type, at: r.at, data: JSON.parse(r.data) });

export function eventStatements(db: Db) {
  const q = {
    insert: db.prepare('INSERT INTO events (job_id, seq, type, at, data) VALUES (?, ?, ?, ?, ?)'),
    forJob: db.prepare('SELECT * FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
    since: db.prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?'),
    byId: db.prepare('SELECT * FROM events WHERE id = ?'),
    outbox: db.prepare('INSERT INTO outbox (target, job_id, event_id, created_at, next_attempt_at) VALUES (?, ?, ?, ?, 0)'),
  };
  return {
    /** Appends an event (and its outbox rows); call inside the job's transaction. */
    append(job: number, seq: number, type: string, at: number, data: Record<string, unknown>, targets: readonly string[]): StoredEvent {
      const id = Number(q.insert.run(job, seq, type, at, JSON.stringify(data)).lastInsertRowid);
      for (const target of targets) q.outbox.run(target, job, id, at);
      return { id, job, seq, type, at, data };
    },
    forJob(job: number, afterSeq = 0, limit = 1000): StoredEvent[] {
      return (q.forJob.all(job, afterSeq, limit) as Row[]).map(toEvent);
    },
    since(afterId = 0, limit = 1000): StoredEvent[] {
      return (q.since.all(afterId, limit) as Row[]).map(toEvent);
    },
    byId(id: number): StoredEvent | undefined {
      const row = q.byId.get(id) as Row | undefined;
      return row && toEvent(row);
    },
  };
}
