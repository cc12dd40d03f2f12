/**
 * Read-side queries the engine's scheduler and the API need: lists, counts, the queue, what
 * timers are due, and the submission rate.
 */
import type { Db } from './db.js';
import type { JobSummaryRow } from '../port.js';
import type { JobState } from '../../orchestrator/types.js';

export type { JobSummaryRow };

export function queryStatements(db: Db) {
  const q = {
    // Two statements, so the state filter can use its index (an OR with NULL cannot).
    list: db.prepare(`SELECT id, pipeline, state, stage, submitter, brief, created_at AS createdAt, updated_at AS updatedAt
      FROM jobs WHERE (@before IS NULL OR id < @before) ORDER BY id DESC LIMIT @limit`),
    listByState: db.prepare(`SELECT id, pipeline, state, stage, submitter, brief, created_at AS createdAt, updated_at AS updatedAt
      FROM jobs WHERE state = @state AND id < COALESCE(@before, 9223372036854775807) ORDER BY id DESC LIMIT @limit`),
    active: db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE state IN ('running', 'awaiting_approval')`),
    queued: db.prepare(`SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT ?`),
    position: db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued' AND id <= ?`),
    running: db.prepare(`SELECT DISTINCT job_id AS id FROM stages WHERE state = 'running'`),
    due: db.prepare(`SELECT job_id AS id FROM stages WHERE retry_at IS NOT NULL AND retry_at <= @now AND state = 'retry_wait'
      UNION SELECT job_id FROM gates WHERE deadline_at IS NOT NULL AND deadline_at <= @now AND state = 'pending'
      UNION SELECT job_id FROM gates WHERE remind_at IS NOT NULL AND remind_at <= @now AND state = 'pending'
      UNION SELECT job_id FROM gates WHERE escalate_at IS NOT NULL AND escalate_at <= @now AND state IN ('pending', 'held')`),
    recent: db.prepare('SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs WHERE submitter = ? AND created_at > ?'),
    byState: db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state'),
    lastEvent: db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM events'),
    openGates: db.prepare(`SELECT job_id AS job, stage, round FROM gates WHERE state IN ('pending', 'held') ORDER BY opened_at, id LIMIT ?`),
    outboxLag: db.prepare('SELECT MIN(created_at) AS oldest, COUNT(*) AS n FROM outbox WHERE delivered_at IS NULL'),
  };
  return {
    list(opts: { state?: JobState; before?: number; limit?: number } = {}): JobSummaryRow[] {
      const args = { before: opts.before ?? null, limit: opts.limit ?? 50 };
      return (opts.state ? q.listByState.all({ ...args, state: opts.state }) : q.list.all(args)) as JobSummaryRow[];
    },
    activeCount: () => (q.active.get() as { n: number }).n,
    queuedIds: (limit: number) => (q.queued.all(limit) as { id: number }[]).map((r) => r.id),
    /** 1-based place in the queue of a queued job. */
    queuePosition: (id: number) => (q.position.get(id) as { n: number }).n,
    jobsWithRunningStages: () => (q.running.all() as { id: number }[]).map((r) => r.id),
    jobsWithDueTimers: (now: number) => (q.due.all({ now }) as { id: number }[]).map((r) => r.id),
    submittedSince: (submitter: string, since: number) => q.recent.get(submitter, since) as { n: number; oldest: number | null },
    countsByState: () => q.byState.all() as { state: JobState; n: number }[],
    outboxLag: () => q.outboxLag.get() as { oldest: number | null; n: number },
    /** Gates waiting for a decision, oldest first. */
    openGates: (limit = 500) => q.openGates.all(limit) as { job: number; stage: string; round: number }[],
    lastEventId: () => (q.lastEvent.get() as { id: number }).id,
  };
}
