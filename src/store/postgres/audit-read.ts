/**
 * A read-only look at everything a run left in a PostgreSQL store, for the cluster chaos checks
 * (tests/cluster/lib/pg-snapshot.ts) and anyone auditing a database by hand. Kept here because
 * every SQL statement lives under src/store; nothing in it writes. Rows come back as the
 * database holds them (JSON columns as text), so a caller decides how to read them.
 */
import pg from 'pg';
import { createPool } from './connect.js';

/** The tables the checks read, row for row. */
export interface AuditRows {
  jobs: { id: number; pipeline: string; brief: string; submitter: string; state: string; stage: string | null; def: string }[];
  events: { id: number; job: number; seq: number; type: string; at: number; data: string }[];
  stages: { job_id: number; stage: string; state: string; run: number }[];
  gates: { id: number; job_id: number; stage: string; round: number; state: string; required: number }[];
  votes: { gate_id: number; actor: string; vote: string }[];
  outbox: { id: number; target: string; job_id: number; event_id: number; delivered_at: number | null; last_error: string | null; attempts: number }[];
  refs: { target: string; job_id: number; key: string; channel: string; message_id: string; thread_id: string | null }[];
  artifacts: { job_id: number; stage: string; run: number; name: string }[];
}

const STATEMENTS: Record<keyof AuditRows, string> = {
  jobs: 'SELECT id, pipeline, brief, submitter, state, stage, def FROM jobs ORDER BY id',
  events: 'SELECT id, job_id AS job, seq, type, at, data FROM events ORDER BY job_id, seq',
  stages: 'SELECT job_id, stage, state, run FROM stages',
  gates: 'SELECT id, job_id, stage, round, state, required FROM gates ORDER BY id',
  votes: 'SELECT gate_id, actor, vote FROM votes',
  outbox: 'SELECT id, target, job_id, event_id, delivered_at, last_error, attempts FROM outbox ORDER BY id',
  refs: 'SELECT target, job_id, key, channel, message_id, thread_id FROM chat_refs',
  artifacts: 'SELECT job_id, stage, run, name FROM artifacts ORDER BY id',
};

/** Runs `fn` on a short-lived pool of one connection in a read-only transaction, then closes it. */
async function readOnly<T>(url: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const pool = createPool(url);
  const client = await pool.connect();
  try {
    // One snapshot for every table (REPEATABLE READ), and a guarantee that nothing is written.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } finally {
    client.release();
    await pool.end();
  }
}

/** Every row the checks need, read in one consistent snapshot. */
export function readAuditRows(url: string): Promise<AuditRows> {
  return readOnly(url, async (client) => {
    const out: Partial<AuditRows> = {};
    for (const [name, sql] of Object.entries(STATEMENTS)) (out as Record<string, unknown>)[name] = (await client.query(sql)).rows;
    return out as AuditRows;
  });
}

/** Stages marked running right now, as `job:stage:run` (read right after a kill). */
export function readRunningStages(url: string): Promise<Set<string>> {
  return readOnly(url, async (client) => {
    const { rows } = await client.query<{ job_id: number; stage: string; run: number }>("SELECT job_id, stage, run FROM stages WHERE state = 'running'");
    return new Set(rows.map((r) => `${r.job_id}:${r.stage}:${r.run}`));
  });
}
