/**
 * Runs that wait for an external system (an `external` stage, or a command stage that handed
 * off), with their deadlines and the hashes of their capability tokens. Deadlines are columns
 * the engine's ticker sweeps, like every other timer; a run leaves `waiting` only through a
 * guarded update, so a report and an expiry racing each other decide once.
 */
import type { Db } from './db.js';
import type { ExternalRun, ExternalRunState, NewExternalRun, NotifyState } from '../port.js';



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

export type { ExternalRun, ExternalRunState, NewExternalRun, NotifyState };

export function externalRunStatements(db: Db) {
  const q = {
    // A run number reused after a lost commit replaces the old row (and, by cascade, its tokens).
    insert: db.prepare(`INSERT OR REPLACE INTO external_runs (job_id, stage, run, state, created_at, waiting_since, last_heartbeat_at,
        heartbeat_ms, heartbeat_deadline, timeout_deadline, notify_state)
      VALUES (@jobId, @stage, @run, @state, @now, @waitingSince, @waitingSince, @heartbeatMs, @heartbeatDeadline, @timeoutDeadline, @notifyState)`),
    addToken: db.prepare('INSERT INTO external_tokens (hash, external_run_id) VALUES (?, ?)'),
    byHash: db.prepare('SELECT r.* FROM external_tokens t JOIN external_runs r ON r.id = t.external_run_id WHERE t.hash = ?'),
    byId: db.prepare('SELECT * FROM external_runs WHERE id = ?'),
    handOff: db.prepare(`UPDATE external_runs SET state = 'waiting', waiting_since = @now, last_heartbeat_at = @now,
        heartbeat_deadline = CASE WHEN heartbeat_ms IS NULL THEN NULL ELSE @now + heartbeat_ms END, timeout_deadline = @timeoutDeadline
      WHERE id = @id AND state = 'armed'`),
    heartbeat: db.prepare(`UPDATE external_runs SET last_heartbeat_at = @now,
        heartbeat_deadline = CASE WHEN heartbeat_ms IS NULL THEN NULL ELSE @now + heartbeat_ms END
      WHERE id = @id AND state = 'waiting'`),
    end: db.prepare(`UPDATE external_runs SET state = @state, ended_at = @now, report_hash = @reportHash
      WHERE id = @id AND state IN ('armed', 'waiting')`),
    older: db.prepare(`SELECT * FROM external_runs WHERE job_id = ? AND stage = ? AND run < ? AND state IN ('armed', 'waiting')`),
    due: db.prepare(`SELECT * FROM external_runs WHERE state = 'waiting'
      AND ((heartbeat_deadline IS NOT NULL AND heartbeat_deadline <= @now) OR (timeout_deadline IS NOT NULL AND timeout_deadline <= @now))`),
    waitingForJob: db.prepare(`SELECT * FROM external_runs WHERE job_id = ? AND state = 'waiting'`),
    pendingNotify: db.prepare(`SELECT * FROM external_runs WHERE state = 'waiting' AND notify_state = 'pending'`),
    setNotify: db.prepare('UPDATE external_runs SET notify_state = ?, notify_attempts = ? WHERE id = ?'),
  };
  return {
    /** Creates the run with its first token; the caller holds a transaction. */
    insert(r: NewExternalRun, now: number): number {
      const waitingSince = r.state === 'waiting' ? now : null;
      const id = Number(
        q.insert.run({
          jobId: r.jobId, stage: r.stage, run: r.run, state: r.state, now, waitingSince, heartbeatMs: r.heartbeatMs,
          heartbeatDeadline: waitingSince !== null && r.heartbeatMs !== null ? now + r.heartbeatMs : null,
          timeoutDeadline: waitingSince !== null ? now + r.timeoutMs : null,
          notifyState: r.notify ? 'pending' : 'none',
        }).lastInsertRowid,
      );
      q.addToken.run(r.tokenHash, id);
      return id;
    },
    /** Another token for the same run (a notification sent again after a restart). */
    addToken: (id: number, tokenHash: string) => void q.addToken.run(tokenHash, id),
    byTokenHash(hash: string): ExternalRun | undefined {
      const row = q.byHash.get(hash) as Row | undefined;
      return row && toRun(row);
    },
    byId(id: number): ExternalRun | undefined {
      const row = q.byId.get(id) as Row | undefined;
      return row && toRun(row);
    },
    /** An armed command run starts waiting; false when it was not armed. */
    handOff: (id: number, now: number, timeoutMs: number) => q.handOff.run({ id, now, timeoutDeadline: now + timeoutMs }).changes === 1,
    heartbeat: (id: number, now: number) => q.heartbeat.run({ id, now }).changes === 1,
    /** Ends a run that is still armed or waiting; false when something else ended it first. */
    end: (id: number, state: Exclude<ExternalRunState, 'armed' | 'waiting'>, now: number, reportHash: string | null = null) =>
      q.end.run({ id, state, now, reportHash }).changes === 1,
    /** Older runs of a stage that are still open (a new run makes their tokens useless). */
    olderOpen: (jobId: number, stage: string, run: number) => (q.older.all(jobId, stage, run) as Row[]).map(toRun),
    due: (now: number) => (q.due.all({ now }) as Row[]).map(toRun),
    waitingForJob: (jobId: number) => (q.waitingForJob.all(jobId) as Row[]).map(toRun),
    pendingNotify: () => (q.pendingNotify.all() as Row[]).map(toRun),
    setNotify: (id: number, state: NotifyState, attempts: number) => void q.setNotify.run(state, attempts, id),
  };
}
