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
    /**
     * Appends a decision's events (and their outbox rows) in at most two statements: SQLite's
     * `append`, batched, because each statement is a round trip here. Rows are inserted in the
     * order given, so ids grow with `seq` and outbox rows keep event-then-target order.
     */
    async appendAll(tx: Queryable, job: number, at: number, events: readonly { seq: number; type: string; data: Record<string, unknown> }[], targetsOf: (type: string) => readonly string[]): Promise<StoredEvent[]> {
      if (events.length === 0) return [];
      const ids = await rows<{ id: number; seq: number }>(tx, `INSERT INTO events (job_id, seq, type, at, data)
        SELECT $1, u.seq, u.type, $2, u.data FROM unnest($3::int[], $4::text[], $5::text[]) WITH ORDINALITY AS u(seq, type, data, n) ORDER BY u.n
        RETURNING id, seq`, [job, at, events.map((e) => e.seq), events.map((e) => e.type), events.map((e) => JSON.stringify(e.data))]);
      const idOf = new Map(ids.map((r) => [r.seq, r.id]));
      const stored = events.map((e) => ({ id: idOf.get(e.seq)!, job, seq: e.seq, type: e.type, at, data: e.data }));
      const outbox = stored.flatMap((e) => targetsOf(e.type).map((target) => ({ target, event: e.id })));
      if (outbox.length > 0)
        await tx.query(`INSERT INTO outbox (target, job_id, event_id, created_at, next_attempt_at)
          SELECT u.target, $1, u.event, $2, 0 FROM unnest($3::text[], $4::bigint[]) WITH ORDINALITY AS u(target, event, n) ORDER BY u.n`,
          [job, at, outbox.map((o) => o.target), outbox.map((o) => o.event)]);
      return stored;
    },
    async forJob(job: number, afterSeq = 0, limit = 1000): Promise<StoredEvent[]> {
      return (await rows<Row>(db, 'SELECT * FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [job, afterSeq, limit])).map(toEvent);
    },
    async since(afterId = 0, limit = 1000): Promise<StoredEvent[]> {
      return (await rows<Row>(db, 'SELECT * FROM events WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit])).map(toEvent);
    },
    /**
     * The newest event id committed now and the snapshot it was read in: every smaller id was
     * handed out before, so it is either visible in that snapshot or belongs to a transaction
     * the snapshot lists as in progress (see ./event-feed.ts).
     */
    async horizon(): Promise<{ max: number; snapshot: string }> {
      const r = await row<{ max: number; snapshot: string }>(db, 'SELECT COALESCE((SELECT max(id) FROM events), 0) AS max, pg_current_snapshot()::text AS snapshot');
      return { max: Number(r!.max), snapshot: r!.snapshot };
    },
    /**
     * How many of the transactions in progress in `snapshot` still are, in this database: a
     * snapshot lists the whole server's, and a long transaction in another database must not
     * hold up this one's events. A session of this database whose transaction this role may not
     * see (another role, without pg_read_all_stats) counts every transaction of the snapshot.
     */
    async stillRunning(snapshot: string): Promise<number> {
      const r = await row<{ n: number }>(db, `WITH ours AS (SELECT backend_xid, state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid())
        SELECT count(*)::int AS n FROM pg_snapshot_xip($1::pg_snapshot) AS x
        WHERE pg_xact_status(x) = 'in progress'
          AND ((x::text::bigint % 4294967296) IN (SELECT backend_xid::text::bigint FROM ours WHERE backend_xid IS NOT NULL)
               OR EXISTS (SELECT 1 FROM ours WHERE state IS NULL))`, [snapshot]);
      return r?.n ?? 0;
    },
    /** Events with `after` < id <= `upTo`, by id. */
    async between(after: number, upTo: number, limit = 500): Promise<StoredEvent[]> {
      return (await rows<Row>(db, 'SELECT * FROM events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3', [after, upTo, limit])).map(toEvent);
    },
    async byId(id: number): Promise<StoredEvent | undefined> {
      const r = await row<Row>(db, 'SELECT * FROM events WHERE id = $1', [id]);
      return r && toEvent(r);
    },
  };
}
