/**
 * Runs that wait for an external system, on PostgreSQL (mirrors ../sqlite/external-runs.ts).
 * A run leaves `waiting` only through a guarded update, so a report and an expiry racing each
 * other decide once.
 */
import type { ExternalRun, ExternalRunState, NewExternalRun, NotifyState } from '../port.js';
import { row, rows, run, type Queryable } from './sql.js';

type Row = {
  id: number; job_id: number; stage: string; run: number; state: ExternalRunState; created_at: number;
  waiting_since: number | null; last_heartbeat_at: number | null; heartbeat_ms: number | null;
  heartbeat_deadline: number | null; timeout_deadline: number | null; notify_state: NotifyState;
  notify_attempts: number; report_hash: string | null; ended_at: number | null;
};
const toRun = (r: Row): ExternalRun => ({
  id: r.id, jobId: r.job_id, stage: r.stage, run: r.run, state: r.state, createdAt: r.created_at,
  waitingSince: r.waiting_since, lastHeartbeatAt: r.last_heartbeat_at, heartbeatMs: r.heartbeat_ms,
  heartbeatDeadline: r.heartbeat_deadline, timeoutDeadline: r.timeout_deadline, notifyState: r.notify_state,
  notifyAttempts: r.notify_attempts, reportHash: r.report_hash, endedAt: r.ended_at,
});

export function externalRunStatements(db: Queryable) {
  const list = async (text: string, params: unknown[] = [], on: Queryable = db) => (await rows<Row>(on, text, params)).map(toRun);
  return {
    /** Creates the run with its first token; `tx` is the client of the caller's transaction. */
    async insert(tx: Queryable, r: NewExternalRun, now: number): Promise<number> {
      const waitingSince = r.state === 'waiting' ? now : null;
      // SQLite's INSERT OR REPLACE: a run number reused after a lost commit replaces the old row
      // (and, by cascade, its tokens), so an old token cannot report on the new run.
      await run(tx, 'DELETE FROM external_runs WHERE job_id = $1 AND stage = $2 AND run = $3', [r.jobId, r.stage, r.run]);
      const created = await row<{ id: number }>(tx, `INSERT INTO external_runs (job_id, stage, run, state, created_at, waiting_since, last_heartbeat_at,
          heartbeat_ms, heartbeat_deadline, timeout_deadline, notify_state)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10) RETURNING id`, [
        r.jobId, r.stage, r.run, r.state, now, waitingSince, r.heartbeatMs,
        waitingSince !== null && r.heartbeatMs !== null ? now + r.heartbeatMs : null,
        waitingSince !== null ? now + r.timeoutMs : null,
        r.notify ? 'pending' : 'none',
      ]);
      await run(tx, 'INSERT INTO external_tokens (hash, external_run_id) VALUES ($1, $2)', [r.tokenHash, created!.id]);
      return created!.id;
    },
    /** Another token for the same run (a notification sent again after a restart). */
    addToken: async (id: number, tokenHash: string) => void (await run(db, 'INSERT INTO external_tokens (hash, external_run_id) VALUES ($1, $2)', [tokenHash, id])),
    byTokenHash: async (hash: string) => (await list('SELECT r.* FROM external_tokens t JOIN external_runs r ON r.id = t.external_run_id WHERE t.hash = $1', [hash]))[0],
    byId: async (id: number) => (await list('SELECT * FROM external_runs WHERE id = $1', [id]))[0],
    /** An armed command run starts waiting; false when it was not armed. */
    handOff: async (id: number, now: number, timeoutMs: number) =>
      (await run(db, `UPDATE external_runs SET state = 'waiting', waiting_since = $2, last_heartbeat_at = $2,
          heartbeat_deadline = CASE WHEN heartbeat_ms IS NULL THEN NULL ELSE $2::bigint + heartbeat_ms END, timeout_deadline = $3
        WHERE id = $1 AND state = 'armed'`, [id, now, now + timeoutMs])) === 1,
    heartbeat: async (id: number, now: number) =>
      (await run(db, `UPDATE external_runs SET last_heartbeat_at = $2,
          heartbeat_deadline = CASE WHEN heartbeat_ms IS NULL THEN NULL ELSE $2::bigint + heartbeat_ms END
        WHERE id = $1 AND state = 'waiting'`, [id, now])) === 1,
    /** Ends a run that is still armed or waiting; false when something else ended it first. */
    end: async (id: number, state: Exclude<ExternalRunState, 'armed' | 'waiting'>, now: number, reportHash: string | null = null, tx: Queryable = db) =>
      (await run(tx, `UPDATE external_runs SET state = $2, ended_at = $3, report_hash = $4 WHERE id = $1 AND state IN ('armed', 'waiting')`, [id, state, now, reportHash])) === 1,
    /** Older runs of a stage that are still open (a new run makes their tokens useless); locked for the caller's transaction. */
    olderOpen: (tx: Queryable, jobId: number, stage: string, runNo: number) =>
      list(`SELECT * FROM external_runs WHERE job_id = $1 AND stage = $2 AND run < $3 AND state IN ('armed', 'waiting') FOR UPDATE`, [jobId, stage, runNo], tx),
    due: (now: number) =>
      list(`SELECT * FROM external_runs WHERE state = 'waiting'
        AND ((heartbeat_deadline IS NOT NULL AND heartbeat_deadline <= $1) OR (timeout_deadline IS NOT NULL AND timeout_deadline <= $1))`, [now]),
    waitingForJob: (jobId: number) => list(`SELECT * FROM external_runs WHERE job_id = $1 AND state = 'waiting'`, [jobId]),
    pendingNotify: () => list(`SELECT * FROM external_runs WHERE state = 'waiting' AND notify_state = 'pending'`),
    setNotify: async (id: number, state: NotifyState, attempts: number) => void (await run(db, 'UPDATE external_runs SET notify_state = $1, notify_attempts = $2 WHERE id = $3', [state, attempts, id])),
  };
}
