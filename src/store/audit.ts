/**
 * A read-only look at everything a store holds about jobs and their delivery, for audits that
 * check the promises after the fact (the chaos suites, after signoff was SIGKILLed or stopped).
 * It opens the store without migrating it or taking the data directory's lock, so it can read
 * behind a dead process, and closes it again. The statements are plain SELECTs both dialects
 * run alike, written once.
 */
import pg from 'pg';
import { Database } from './sqlite/driver.js';
import { createPool } from './postgres/connect.js';

/** Where a store is: its SQLite file, or its PostgreSQL URL. */
export type StoreLocation = { file: string } | { url: string };

/** Rows as both stores hold them (ids and times as numbers, JSON columns parsed). */
export interface AuditSnapshot {
  jobs: { id: number; pipeline: string; brief: string; submitter: string; state: string; stage: string | null; def: any }[];
  events: { id: number; job: number; seq: number; type: string; at: number; data: Record<string, any> }[];
  stages: { job_id: number; stage: string; state: string; run: number }[];
  gates: { id: number; job_id: number; stage: string; round: number; state: string; required: number }[];
  votes: { gate_id: number; actor: string; vote: string }[];
  outbox: { id: number; target: string; job_id: number; event_id: number; delivered_at: number | null; last_error: string | null; attempts: number }[];
  refs: { target: string; job_id: number; key: string; channel: string; message_id: string; thread_id: string | null }[];
  /** Every stored output's run (which run's outputs count is a check of the cluster chaos). */
  artifacts: { job_id: number; stage: string; run: number; name: string }[];
}

const READS = {
  jobs: 'SELECT id, pipeline, brief, submitter, state, stage, def FROM jobs ORDER BY id',
  events: 'SELECT id, job_id AS job, seq, type, at, data FROM events ORDER BY job_id, seq',
  stages: 'SELECT job_id, stage, state, run FROM stages ORDER BY job_id, idx',
  gates: 'SELECT id, job_id, stage, round, state, required FROM gates ORDER BY id',
  votes: 'SELECT gate_id, actor, vote FROM votes ORDER BY gate_id, at',
  outbox: 'SELECT id, target, job_id, event_id, delivered_at, last_error, attempts FROM outbox ORDER BY id',
  refs: 'SELECT target, job_id, key, channel, message_id, thread_id FROM chat_refs ORDER BY job_id',
  artifacts: 'SELECT job_id, stage, run, name FROM artifacts ORDER BY id',
} as const;

const RUNNING = "SELECT job_id, stage, run FROM stages WHERE state = 'running'";

type Rows = Record<string, any>[];

/** Runs `fn` with a reader of the store at `where`, then closes it. */
async function reading<T>(where: StoreLocation, fn: (all: (sql: string) => Promise<Rows>) => Promise<T>): Promise<T> {
  if ('file' in where) {
    const db = new Database(where.file, { readonly: true, fileMustExist: true });
    try {
      return await fn(async (sql) => db.prepare(sql).all() as Rows);
    } finally {
      db.close();
    }
  }
  // One connection, in one REPEATABLE READ transaction: every table as of the same moment.
  const pool: pg.Pool = createPool(where.url);
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await fn(async (sql) => (await client.query(sql)).rows as Rows);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
    await pool.end();
  }
}

/** Every job, event, stage, gate, vote, outbox row, chat message ref and artifact the store holds. */
export function readAudit(where: StoreLocation): Promise<AuditSnapshot> {
  return reading(where, async (all) => {
    const jobs = (await all(READS.jobs)).map((j) => ({ ...j, def: JSON.parse(j.def) }));
    const events = (await all(READS.events)).map((e) => ({ ...e, data: JSON.parse(e.data) }));
    return {
      jobs,
      events,
      stages: await all(READS.stages),
      gates: (await all(READS.gates)).map((g) => ({ ...g, required: Number(g.required) })),
      votes: await all(READS.votes),
      outbox: await all(READS.outbox),
      refs: await all(READS.refs),
      artifacts: await all(READS.artifacts),
    } as AuditSnapshot;
  });
}

/** Stages left `running` (as `job:stage:run`): what a process that was just killed was doing. */
export function readRunningStages(where: StoreLocation): Promise<Set<string>> {
  return reading(where, async (all) => new Set((await all(RUNNING)).map((r) => `${r.job_id}:${r.stage}:${r.run}`)));
}
