/** Read-side queries on PostgreSQL (mirrors ../sqlite/queries.ts). */
import type { JobSummaryRow } from '../port.js';
import type { JobState } from '../../orchestrator/types.js';
import { row, rows, type Queryable } from './sql.js';

const SUMMARY = 'id, pipeline, state, stage, submitter, brief, created_at AS "createdAt", updated_at AS "updatedAt"';

export function queryStatements(db: Queryable) {
  const n = async (text: string, params: unknown[] = []) => Number((await row<{ n: number }>(db, text, params))?.n ?? 0);
  return {
    list(opts: { state?: JobState; before?: number; limit?: number } = {}): Promise<JobSummaryRow[]> {
      const before = opts.before ?? null;
      const limit = opts.limit ?? 50;
      // Two statements, so the state filter can use its index.
      return opts.state
        ? rows<JobSummaryRow>(db, `SELECT ${SUMMARY} FROM jobs WHERE state = $1 AND id < COALESCE($2::bigint, 9223372036854775807) ORDER BY id DESC LIMIT $3`, [opts.state, before, limit])
        : rows<JobSummaryRow>(db, `SELECT ${SUMMARY} FROM jobs WHERE ($1::bigint IS NULL OR id < $1::bigint) ORDER BY id DESC LIMIT $2`, [before, limit]);
    },
    activeCount: () => activeCountOn(db),
    queuedIds: async (limit: number) => (await rows<{ id: number }>(db, `SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT $1`, [limit])).map((r) => r.id),
    /** 1-based place in the queue of a queued job. */
    queuePosition: (id: number) => n(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued' AND id <= $1`, [id]),
    jobsWithRunningStages: async () => (await rows<{ id: number }>(db, `SELECT DISTINCT job_id AS id FROM stages WHERE state = 'running'`)).map((r) => r.id),
    jobsWithDueTimers: async (now: number) =>
      (await rows<{ id: number }>(db, `SELECT job_id AS id FROM stages WHERE retry_at IS NOT NULL AND retry_at <= $1 AND state = 'retry_wait'
        UNION SELECT job_id FROM gates WHERE deadline_at IS NOT NULL AND deadline_at <= $1 AND state = 'pending'
        UNION SELECT job_id FROM gates WHERE remind_at IS NOT NULL AND remind_at <= $1 AND state = 'pending'
        UNION SELECT job_id FROM gates WHERE escalate_at IS NOT NULL AND escalate_at <= $1 AND state IN ('pending', 'held')`, [now])).map((r) => r.id),
    submittedSince: (submitter: string, since: number) => submittedSinceOn(db, submitter, since),
    countsByState: () => rows<{ state: JobState; n: number }>(db, 'SELECT state, COUNT(*) AS n FROM jobs GROUP BY state'),
    outboxLag: async () => {
      const r = await row<{ oldest: number | null; n: number }>(db, 'SELECT MIN(created_at) AS oldest, COUNT(*) AS n FROM outbox WHERE delivered_at IS NULL');
      return { oldest: r?.oldest ?? null, n: Number(r?.n ?? 0) };
    },
    /** Gates waiting for a decision, oldest first. */
    openGates: (limit = 500) => rows<{ job: number; stage: string; round: number }>(db, `SELECT job_id AS job, stage, round FROM gates WHERE state IN ('pending', 'held') ORDER BY opened_at, id LIMIT $1`, [limit]),
    lastEventId: () => n('SELECT COALESCE(MAX(id), 0) AS n FROM events'),
  };
}

/** Jobs running or awaiting approval, counted on `db` (a transaction's client, when starting queued jobs). */
/** Jobs `submitter` created after `since`, and the oldest one's time (on a pool, or inside a transaction). */
export async function submittedSinceOn(db: Queryable, submitter: string, since: number): Promise<{ n: number; oldest: number | null }> {
  const r = await row<{ n: number; oldest: number | null }>(db, 'SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs WHERE submitter = $1 AND created_at > $2', [submitter, since]);
  return { n: Number(r?.n ?? 0), oldest: r?.oldest ?? null };
}

export async function activeCountOn(db: Queryable): Promise<number> {
  const r = await row<{ n: number }>(db, `SELECT COUNT(*) AS n FROM jobs WHERE state IN ('running', 'awaiting_approval')`);
  return Number(r?.n ?? 0);
}
