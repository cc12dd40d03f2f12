/**
 * The event log on PostgreSQL (mirrors ../sqlite/events.ts): one row per lifecycle step,
 * numbered per job, written in the same transaction as the state change it describes.
 */
import type { StoredEvent } from '../port.js';
import { row, rows, type Queryable } from './sql.js';

type Row = { id: number; job_id: number; seq: number; type: string; at: number; data: string };
const toEvent = (r: Row): StoredEvent => ({ id: r.id, job: r.job_id, seq: r.seq, type: r.type, at: r.at, data: JSON.parse(r.data) });

export function eventStatements(db: Queryable) {
  return {
    /** Appends an event (and its outbox rows); `tx` is the client of the job's transaction. */
    async append(tx: Queryable, job: number, seq: number, type: string, at: number, data: Record<string, unknown>, targets: readonly string[]): Promise<StoredEvent> {
      const r = await row<{ id: number }>(tx, 'INSERT INTO events (job_id, seq, type, at, data) VALUES ($1, $2, $3, $4, $5) RETURNING id', [job, seq, type, at, JSON.stringify(data)]);
      const id = r!.id;
      for (const target of targets) await tx.query('INSERT INTO outbox (target, job_id, event_id, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, 0)', [target, job, id, at]);
      return { id, job, seq, type, at, data };
    },
    async forJob(job: number, afterSeq = 0, limit = 1000): Promise<StoredEvent[]> {
      return (await rows<Row>(db, 'SELECT * FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [job, afterSeq, limit])).map(toEvent);
    },
    async since(afterId = 0, limit = 1000): Promise<StoredEvent[]> {
      return (await rows<Row>(db, 'SELECT * FROM events WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit])).map(toEvent);
    },
    async byId(id: number): Promise<StoredEvent | undefined> {
      const r = await row<Row>(db, 'SELECT * FROM events WHERE id = $1', [id]);
      return r && toEvent(r);
    },
  };
}
