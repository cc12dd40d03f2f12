/**
 * Leases of queued stage runs (PostgreSQL only; see src/stages/queue). A row exists while a run
 * is current: written in the transaction that starts the run (holder NULL: waiting in the queue),
 * taken by a worker in the transaction that takes the run from the queue, renewed by its
 * heartbeats, and deleted in the transaction that stores the run's outcome or its cancel. Expiry
 * is compared against the database's clock, never a host's, so hosts whose clocks disagree still
 * agree on when a lease ran out.
 */
import type pg from 'pg';
import type { StageLeaseGuard } from '../port.js';
import { rows, run, type Queryable } from './sql.js';

/** Milliseconds since the epoch on the database server's clock. */
const DB_NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** A run of a job's stage. */
export interface RunKey {
  jobId: number;
  stage: string;
  run: number;
}

/** Channel of the wake-up sent when runs are queued (payload: `<pool> <origin>`, who queued them). */
export const RUNS_CHANNEL = 'signoff_stage_runs';
/** Channel of the cancels of runs (payload: `<job>:<stage>:<run>`), heard by every worker. */
export const CANCEL_CHANNEL = 'signoff_stage_cancel';

/** The keys as three arrays, for `unnest($1::bigint[], $2::text[], $3::int[])`. */
const arrays = (keys: readonly RunKey[]) => [keys.map((k) => k.jobId), keys.map((k) => k.stage), keys.map((k) => k.run)];
const KEYS = 'unnest($1::bigint[], $2::text[], $3::int[]) AS k(job_id, stage, run)';
const MATCH = 'l.job_id = k.job_id AND l.stage = k.stage AND l.run = k.run';
const toKey = (r: { job_id: number; stage: string; run: number }): RunKey => ({ jobId: r.job_id, stage: r.stage, run: r.run });

/** Runs start (in the caller's transaction): each stage's lease is for its new run, held by nobody yet. */
export async function leaseStarted(tx: Queryable, runs: readonly (RunKey & { pool: string })[], origin: string): Promise<void> {
  if (runs.length === 0) return;
  // One round trip: the rows, then the wake-up of the workers of each pool (sent at COMMIT).
  await run(tx, `WITH started AS (
      INSERT INTO stage_leases (job_id, stage, run, pool, created_at)
        SELECT k.job_id, k.stage, k.run, k.pool, ${DB_NOW} FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[]) AS k(job_id, stage, run, pool)
      ON CONFLICT (job_id, stage) DO UPDATE SET run = excluded.run, pool = excluded.pool, holder = NULL, expires_at = NULL, created_at = excluded.created_at
      RETURNING pool)
    SELECT pg_notify($5, p.pool || ' ' || $6) FROM (SELECT DISTINCT pool FROM started) AS p`,
    [...arrays(runs), runs.map((r) => r.pool), RUNS_CHANNEL, origin]);
}

/**
 * Both of the above in one round trip (a stage ends and the next starts, in one commit). Only for
 * runs of different stages: one statement must not delete and insert the same row.
 */
export async function leaseEndedAndStarted(tx: Queryable, ended: readonly RunKey[], started: readonly (RunKey & { pool: string })[], origin: string): Promise<void> {
  await run(tx, `WITH gone AS (DELETE FROM stage_leases l USING ${KEYS} WHERE ${MATCH} RETURNING 1),
      started AS (
        INSERT INTO stage_leases (job_id, stage, run, pool, created_at)
          SELECT k.job_id, k.stage, k.run, k.pool, ${DB_NOW} FROM unnest($4::bigint[], $5::text[], $6::int[], $7::text[]) AS k(job_id, stage, run, pool)
        ON CONFLICT (job_id, stage) DO UPDATE SET run = excluded.run, pool = excluded.pool, holder = NULL, expires_at = NULL, created_at = excluded.created_at
        RETURNING pool)
    SELECT (SELECT count(*) FROM gone), pg_notify($8, p.pool || ' ' || $9) FROM (SELECT DISTINCT pool FROM started) AS p`,
    [...arrays(ended), ...arrays(started), started.map((r) => r.pool), RUNS_CHANNEL, origin]);
}

/** Runs that ended or were cancelled (in the caller's transaction): their leases go; cancelled ones are told to their workers. */
export async function leaseEnded(tx: Queryable, ended: readonly RunKey[], cancelled: readonly RunKey[]): Promise<void> {
  const all = [...ended, ...cancelled];
  if (all.length > 0) await run(tx, `DELETE FROM stage_leases l USING ${KEYS} WHERE ${MATCH}`, arrays(all));
  if (cancelled.length > 0) await run(tx, 'SELECT pg_notify($1, c) FROM unnest($2::text[]) AS c', [CANCEL_CHANNEL, cancelled.map((k) => `${k.jobId}:${k.stage}:${k.run}`)]);
}

/**
 * Runs the queue's own fetch statement (`text`, `values`: it marks queued jobs taken and returns
 * them) and, in the same statement, takes the leases of the runs they carry (`data` holds
 * `jobId`, `stage`, `run`) that nobody holds yet. One statement is one transaction: a worker that
 * dies before it completes took nothing. Each row gets `leased`: whether its lease is now `holder`'s.
 *
 * Its commit does not wait for the disk (synchronous_commit off, for this transaction only): a
 * take lost in a server crash only makes the run available again, and a run started twice
 * counts once (its old lease is gone, so its worker stops it). That saves a disk flush per run.
 */
export async function fetchAndLease(db: Queryable, text: string, values: readonly unknown[], holder: string, leaseMs: number): Promise<pg.QueryResult> {
  const n = values.length;
  const match = "l.job_id = (f.data->>'jobId')::bigint AND l.stage = f.data->>'stage' AND l.run = (f.data->>'run')::int";
  return db.query(`WITH fetched AS (${text}),
      leased AS (UPDATE stage_leases l SET holder = $${n + 1}, expires_at = ${DB_NOW} + $${n + 2} FROM fetched f WHERE ${match} AND l.holder IS NULL RETURNING l.job_id, l.stage, l.run)
    SELECT f.*, l.job_id IS NOT NULL AS leased, set_config('synchronous_commit', 'off', true) AS relaxed FROM fetched f LEFT JOIN leased l ON ${match}`, [...values, holder, leaseMs]);
}

/** Makes the commit of the open transaction on `tx` not wait for the disk (for bookkeeping whose loss repeats harmless work). */
export async function relaxCommit(tx: Queryable): Promise<void> {
  await run(tx, 'SET LOCAL synchronous_commit = off');
}

/** Renews the leases `holder` still has among `keys`; returns those (a missing one was cancelled or superseded). */
export async function renewLeases(db: Queryable, holder: string, keys: readonly RunKey[], leaseMs: number): Promise<RunKey[]> {
  if (keys.length === 0) return [];
  const held = await rows<{ job_id: number; stage: string; run: number }>(
    db,
    `UPDATE stage_leases l SET expires_at = ${DB_NOW} + $5 FROM ${KEYS} WHERE ${MATCH} AND l.holder = $4 RETURNING l.job_id, l.stage, l.run`,
    [...arrays(keys), holder, leaseMs],
  );
  return held.map(toKey);
}

/** Gives leases up: deleted (`release`: the run lives elsewhere now) or expired at once (`expire`: re-run it soon). */
export async function dropLeases(db: Queryable, holder: string, keys: readonly RunKey[], how: 'release' | 'expire'): Promise<void> {
  if (keys.length === 0) return;
  const text = how === 'release' ? `DELETE FROM stage_leases l USING ${KEYS} WHERE ${MATCH} AND l.holder = $4` : `UPDATE stage_leases l SET expires_at = 0 FROM ${KEYS} WHERE ${MATCH} AND l.holder = $4`;
  await run(db, text, [...arrays(keys), holder]);
}

/** The replicas holding leases now. */
export async function leaseHolders(db: Queryable): Promise<string[]> {
  return (await rows<{ holder: string }>(db, 'SELECT DISTINCT holder FROM stage_leases WHERE holder IS NOT NULL')).map((r) => r.holder);
}

/** Every lease of these holders runs out now (they are known to be dead), so the next sweep re-runs their runs. */
export async function expireHolders(db: Queryable, holders: readonly string[]): Promise<number> {
  if (holders.length === 0) return 0;
  return run(db, 'UPDATE stage_leases SET expires_at = 0 WHERE holder = ANY($1::text[])', [holders]);
}

/**
 * Leases that ran out, oldest first. Rows of runs that are no longer current (a report stored
 * without its lease, say, by a version before leases) are deleted first, so they are not swept
 * forever.
 */
export async function expiredLeases(db: Queryable, limit: number): Promise<RunKey[]> {
  await run(db, `DELETE FROM stage_leases l WHERE l.expires_at < ${DB_NOW}
      AND NOT EXISTS (SELECT 1 FROM stages s WHERE s.job_id = l.job_id AND s.stage = l.stage AND s.state = 'running' AND s.run = l.run)`);
  const found = await rows<{ job_id: number; stage: string; run: number }>(db, `SELECT job_id, stage, run FROM stage_leases WHERE expires_at < ${DB_NOW} ORDER BY expires_at LIMIT $1`, [limit]);
  return found.map(toKey);
}

/**
 * The guard of a re-run after expiry (in the caller's transaction): deletes the expired lease,
 * skipping a row another replica is taking right now, so exactly one replica re-runs it.
 */
export async function takeExpiredLease(tx: Queryable, g: StageLeaseGuard): Promise<boolean> {
  const n = await run(tx, `DELETE FROM stage_leases WHERE ctid IN (
      SELECT ctid FROM stage_leases WHERE job_id = $1 AND stage = $2 AND run = $3 AND expires_at < ${DB_NOW} FOR UPDATE SKIP LOCKED)`, [g.jobId, g.stage, g.run]);
  return n === 1;
}

/** Stages that run with no lease at all (started before leases existed): nobody will re-run them otherwise. */
export async function runningWithoutLease(db: Queryable): Promise<RunKey[]> {
  const found = await rows<{ job_id: number; stage: string; run: number }>(db, `SELECT s.job_id, s.stage, s.run FROM stages s
    WHERE s.state = 'running' AND NOT EXISTS (SELECT 1 FROM stage_leases l WHERE l.job_id = s.job_id AND l.stage = s.stage)`);
  return found.map(toKey);
}
