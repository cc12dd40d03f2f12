/**
 * Jobs as aggregates on PostgreSQL (mirrors ../sqlite/jobs.ts): a job row with its stage records,
 * gates and votes, loaded and saved as one. Inside a unit of work the job row is read `FOR
 * UPDATE`, so no other transaction changes it until the commit; the save is still a
 * compare-and-set on the version (and a gate's decision on its state), as on SQLite.
 *
 * No cache: every load reads the database, which other processes may share.
 */
import { StoreError } from '../errors.js';
import { sameJson } from '../../orchestrator/clone-aggregate.js';
import type { JobAggregate, StageRecord, Vote } from '../../orchestrator/types.js';
import { defParser, toGate, toJob, toStage } from '../sqlite/jobs.js';
import type { JobView } from '../port.js';
import { toArtifact, type ArtifactRow } from './artifacts.js';
import { row, run, type Queryable } from './sql.js';

type Row = Record<string, unknown>;
const json = (v: unknown) => JSON.stringify(v);
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

/**
 * A job's stages, gates and votes ($1: the job id) as JSON arrays, in one statement. Votes of a
 * gate in SQLite's order: by time, then insertion (ctid is the nearest PostgreSQL has to rowid).
 */
const CHILDREN = `COALESCE((SELECT json_agg(s ORDER BY s.idx) FROM stages s WHERE s.job_id = $1), '[]') AS stages,
  COALESCE((SELECT json_agg(g ORDER BY g.id) FROM gates g WHERE g.job_id = $1), '[]') AS gates,
  COALESCE((SELECT json_agg(v ORDER BY v.at, v.ctid) FROM votes v JOIN gates g ON g.id = v.gate_id WHERE g.job_id = $1), '[]') AS votes`;

export function jobStatements(db: Queryable) {
  const parseDef = defParser();

  /**
   * The aggregate; with `tx`, its job row locked until that transaction ends. A locked read takes
   * the row lock first and reads the children in a second statement: under READ COMMITTED that
   * statement sees what the transaction that held the lock committed (subqueries of the locking
   * statement itself would not). An unlocked read is one statement, so one snapshot.
   */
  async function read(id: number, tx?: Queryable): Promise<JobAggregate | undefined> {
    let r: Row | undefined;
    let children: Row | undefined;
    if (tx) {
      r = await row(tx, 'SELECT * FROM jobs WHERE id = $1 FOR UPDATE', [id]);
      if (!r) return undefined;
      children = await row(tx, `SELECT ${CHILDREN}`, [id]);
    } else {
      const both = await row(db, `SELECT row_to_json(j) AS job, ${CHILDREN} FROM jobs j WHERE j.id = $1`, [id]);
      if (!both) return undefined;
      r = both.job as Row;
      children = both;
    }
    return assemble(r, children!);
  }

  /** The aggregate from a job row and its children as JSON arrays (CHILDREN). */
  function assemble(r: Row, children: Row): JobAggregate {
    const stages = children.stages as Row[];
    const gates = children.gates as Row[];
    const votes = children.votes as Row[];
    const votesOf = (gateId: number): Vote[] =>
      votes.filter((v) => Number(v.gate_id) === gateId).map((v) => ({
        actor: String(v.actor), display: String(v.display), vote: v.vote as Vote['vote'], reason: str(v.reason), at: Number(v.at),
      }));
    return { job: toJob(r, parseDef), stages: stages.map(toStage), gates: gates.map((g) => toGate(g, votesOf(Number(g.id)))) };
  }

  const stageRow = (jobId: number, s: StageRecord) => [jobId, s.stage, s.index, s.state, s.run, s.attempt, s.startedAt, s.finishedAt, s.retryAt, s.error, s.summary, s.outputs === null ? null : json(s.outputs), s.redoReason];

  async function upsertStage(tx: Queryable, jobId: number, s: StageRecord): Promise<void> {
    await run(tx, `INSERT INTO stages (job_id, stage, idx, state, run, attempt, started_at, finished_at, retry_at, error, summary, outputs, redo_reason)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
      ON CONFLICT (job_id, stage) DO UPDATE SET state = excluded.state, run = excluded.run, attempt = excluded.attempt,
        started_at = excluded.started_at, finished_at = excluded.finished_at, retry_at = excluded.retry_at, error = excluded.error,
        summary = excluded.summary, outputs = excluded.outputs, redo_reason = excluded.redo_reason`, stageRow(jobId, s));
  }

  /**
   * The API's view: the aggregate, the current artifacts and the queue place in ONE statement, so
   * one snapshot even under READ COMMITTED, and one round trip instead of three.
   */
  async function view(id: number): Promise<JobView | undefined> {
    const r = await row(db, `SELECT row_to_json(j) AS job, ${CHILDREN},
      COALESCE((SELECT json_agg(a ORDER BY a.id) FROM artifacts a WHERE a.job_id = $1
        AND a.run = (SELECT MAX(b.run) FROM artifacts b WHERE b.job_id = a.job_id AND b.stage = a.stage)), '[]') AS artifacts,
      CASE WHEN j.state = 'queued' THEN (SELECT COUNT(*) FROM jobs q WHERE q.state = 'queued' AND q.id <= $1) END AS queue_position
      FROM jobs j WHERE j.id = $1`, [id]);
    if (!r) return undefined;
    return { agg: assemble(r.job as Row, r), artifacts: (r.artifacts as ArtifactRow[]).map(toArtifact), queuePosition: r.queue_position === null ? null : Number(r.queue_position) };
  }

  return {
    /** A job with its stages, gates and votes: the caller's own copy. */
    load: (id: number) => read(id),
    /** The job, its current artifacts and queue place as of one snapshot. */
    loadView: view,
    /** No cache on PostgreSQL: the same as `load`. */
    loadShared: (id: number) => read(id),
    /** The aggregate with its job row locked for `tx`'s transaction (the unit of work's read). */
    loadForUpdate: (tx: Queryable, id: number) => read(id, tx),

    async insert(tx: Queryable, agg: JobAggregate): Promise<number> {
      const j = agg.job;
      const r = await row<{ id: number }>(tx, `INSERT INTO jobs (pipeline, brief, params, submitter, origin, targets, def, state, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
        [j.pipeline, j.brief, json(j.params), j.submitter, json(j.origin), json(j.targets), json(j.def), j.state, j.createdAt, j.updatedAt]);
      const id = r!.id;
      agg.job.id = id;
      for (const s of agg.stages) await upsertStage(tx, id, s);
      return id;
    },

    /** Writes what changed between `prev` and `next`; throws `StoreError('conflict')` when another writer got there first. */
    async save(tx: Queryable, prev: JobAggregate, next: JobAggregate, now: number): Promise<void> {
      const j = next.job;
      const changed = await run(tx, `UPDATE jobs SET state = $1, stage = $2, resume_from = $3, error = $4, updated_at = $5, started_at = $6,
        finished_at = $7, version = version + 1, last_seq = $8 WHERE id = $9 AND version = $10`,
        [j.state, j.stage, j.resumeFrom, j.error, now, j.startedAt, j.finishedAt, j.lastSeq, j.id, prev.job.version]);
      if (changed !== 1) throw new StoreError(`job ${j.id} changed underneath this update`, 'conflict');
      next.job.version = prev.job.version + 1;
      for (const [i, s] of next.stages.entries()) {
        if (sameJson(s, prev.stages[i])) continue;
        const updated = await run(tx, `UPDATE stages SET state = $4, run = $5, attempt = $6, started_at = $7, finished_at = $8, retry_at = $9,
          error = $10, summary = $11, outputs = $12, redo_reason = $13 WHERE job_id = $1 AND stage = $2 AND idx = $3`, stageRow(j.id, s));
        if (updated === 0) await upsertStage(tx, j.id, s);
      }
      for (const g of next.gates) {
        const before = prev.gates.find((p) => p.id === g.id && g.id !== 0);
        const cols = [g.state, g.deadlineAt, g.deadlineKind, g.remindAt, g.escalateAt, g.escalatedAt, g.decidedAt, g.decidedBy, g.reason];
        if (!before) {
          const r = await row<{ id: number }>(tx, `INSERT INTO gates (state, deadline_at, deadline_kind, remind_at, escalate_at, escalated_at, decided_at, decided_by, reason,
              job_id, stage, round, required, min_approvals, opened_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
            [...cols, j.id, g.stage, g.round, g.required ? 1 : 0, g.minApprovals, g.openedAt]);
          g.id = r!.id;
        } else if (!sameJson(before, g, 'votes')) {
          // The state guard makes a decision a compare-and-set even without the version check.
          const n = await run(tx, `UPDATE gates SET state = $1, deadline_at = $2, deadline_kind = $3, remind_at = $4, escalate_at = $5,
            escalated_at = $6, decided_at = $7, decided_by = $8, reason = $9 WHERE id = $10 AND state IN ('pending', 'held')`, [...cols, g.id]);
          if (n !== 1) throw new StoreError(`gate ${g.id} was decided underneath this update`, 'conflict');
        }
        for (const v of g.votes) {
          const old = before?.votes.find((o) => o.actor === v.actor);
          if (!old || !sameJson(old, v))
            await run(tx, `INSERT INTO votes (gate_id, actor, display, vote, reason, at) VALUES ($1, $2, $3, $4, $5, $6)
              ON CONFLICT (gate_id, actor) DO UPDATE SET vote = excluded.vote, reason = excluded.reason, at = excluded.at`,
              [g.id, v.actor, v.display, v.vote, v.reason, v.at]);
        }
      }
    },
  };
}

