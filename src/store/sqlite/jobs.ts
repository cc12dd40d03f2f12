/**
 * Jobs as aggregates: a job row with its stage records, gates and votes, loaded and saved as one.
 * A save is a compare-and-set on the job's version, so two writers can never both decide.
 *
 * The last aggregate loaded or saved per job is kept in memory: a load whose job row still has
 * the same version (one indexed read) is answered from it instead of four queries. Every write to
 * a job, from this process or another, bumps the version, so a stale entry is never used. Entries
 * made inside a transaction that is then rolled back (wholly or to a savepoint) are forgotten, so
 * no entry can claim a version the file does not hold.
 */
import type { Db } from './db.js';
import { StoreError } from './db.js';
import { cloneAggregate, sameJson } from '../../orchestrator/clone-aggregate.js';
import type { Pipeline } from '../../config/schema.js';
import type { Gate, Job, JobAggregate, JobState, StageRecord, Vote } from '../../orchestrator/types.js';

type Row = Record<string, unknown>;
const json = (v: unknown) => JSON.stringify(v);
const parse = <T>(v: unknown): T => JSON.parse(String(v)) as T;
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

/** Aggregates kept in memory; the least recently used is dropped beyond this. */
const CACHE_SIZE = 1_000;
/** Parsed pipeline definitions kept, by their JSON text (jobs of one pipeline share one text). */
const DEF_CACHE_SIZE = 100;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Parses a stored pipeline definition once per distinct text; the result is frozen, as copies share it. */
export function defParser() {
  const defs = new Map<string, Pipeline>();
  return (text: string): Pipeline => {
    let def = defs.get(text);
    if (!def) {
      def = deepFreeze(parse<Pipeline>(text));
      if (defs.size >= DEF_CACHE_SIZE) defs.delete(defs.keys().next().value!);
      defs.set(text, def);
    }
    return def;
  };
}

export function toJob(r: Row, parseDef: (text: string) => Pipeline): Job {
  return {
    id: Number(r.id), pipeline: String(r.pipeline), brief: String(r.brief), params: parse(r.params),
    submitter: String(r.submitter), origin: parse(r.origin), targets: parse(r.targets), def: parseDef(String(r.def)),
    state: r.state as JobState, stage: str(r.stage), resumeFrom: str(r.resume_from), error: str(r.error),
    createdAt: Number(r.created_at), updatedAt: Number(r.updated_at), startedAt: num(r.started_at),
    finishedAt: num(r.finished_at), version: Number(r.version), lastSeq: Number(r.last_seq),
  };
}

export function toStage(r: Row): StageRecord {
  return {
    stage: String(r.stage), index: Number(r.idx), state: r.state as StageRecord['state'], run: Number(r.run),
    attempt: Number(r.attempt), startedAt: num(r.started_at), finishedAt: num(r.finished_at), retryAt: num(r.retry_at),
    error: str(r.error), summary: str(r.summary), outputs: r.outputs === null ? null : parse(r.outputs), redoReason: str(r.redo_reason),
  };
}

export function toGate(r: Row, votes: Vote[]): Gate {
  return {
    id: Number(r.id), stage: String(r.stage), round: Number(r.round), state: r.state as Gate['state'],
    required: Boolean(r.required), minApprovals: Number(r.min_approvals), openedAt: Number(r.opened_at),
    deadlineAt: num(r.deadline_at), deadlineKind: str(r.deadline_kind) as Gate['deadlineKind'], remindAt: num(r.remind_at),
    escalateAt: num(r.escalate_at), escalatedAt: num(r.escalated_at),
    decidedAt: num(r.decided_at), decidedBy: str(r.decided_by), reason: str(r.reason), votes,
  };
}

export function jobStatements(db: Db) {
  const q = {
    insertJob: db.prepare(`INSERT INTO jobs (pipeline, brief, params, submitter, origin, targets, def, state, created_at, updated_at)
      VALUES (@pipeline, @brief, @params, @submitter, @origin, @targets, @def, @state, @createdAt, @updatedAt)`),
    job: db.prepare('SELECT * FROM jobs WHERE id = ?'),
    version: db.prepare('SELECT version FROM jobs WHERE id = ?').pluck(),
    stages: db.prepare('SELECT * FROM stages WHERE job_id = ? ORDER BY idx'),
    gates: db.prepare('SELECT * FROM gates WHERE job_id = ? ORDER BY id'),
    votes: db.prepare('SELECT v.* FROM votes v JOIN gates g ON g.id = v.gate_id WHERE g.job_id = ? ORDER BY v.at, v.rowid'),
    updateJob: db.prepare(`UPDATE jobs SET state = @state, stage = @stage, resume_from = @resumeFrom, error = @error,
      updated_at = @updatedAt, started_at = @startedAt, finished_at = @finishedAt, version = version + 1, last_seq = @lastSeq
      WHERE id = @id AND version = @version`),
    upsertStage: db.prepare(`INSERT INTO stages (job_id, stage, idx, state, run, attempt, started_at, finished_at, retry_at, error, summary, outputs, redo_reason)
      VALUES (@jobId, @stage, @index, @state, @run, @attempt, @startedAt, @finishedAt, @retryAt, @error, @summary, @outputs, @redoReason)
      ON CONFLICT (job_id, stage) DO UPDATE SET state = excluded.state, run = excluded.run, attempt = excluded.attempt,
        started_at = excluded.started_at, finished_at = excluded.finished_at, retry_at = excluded.retry_at, error = excluded.error,
        summary = excluded.summary, outputs = excluded.outputs, redo_reason = excluded.redo_reason`),
    // Cheaper than the upsert for the stage rows every save changes (they exist from the job's insert on).
    updateStage: db.prepare(`UPDATE stages SET state = @state, run = @run, attempt = @attempt, started_at = @startedAt, finished_at = @finishedAt,
      retry_at = @retryAt, error = @error, summary = @summary, outputs = @outputs, redo_reason = @redoReason WHERE job_id = @jobId AND stage = @stage`),
    insertGate: db.prepare(`INSERT INTO gates (job_id, stage, round, state, required, min_approvals, opened_at, deadline_at, deadline_kind, remind_at, escalate_at, escalated_at, decided_at, decided_by, reason)
      VALUES (@jobId, @stage, @round, @state, @required, @minApprovals, @openedAt, @deadlineAt, @deadlineKind, @remindAt, @escalateAt, @escalatedAt, @decidedAt, @decidedBy, @reason)`),
    // The state guard makes a decision a compare-and-set even without the version check.
    updateGate: db.prepare(`UPDATE gates SET state = @state, deadline_at = @deadlineAt, deadline_kind = @deadlineKind, remind_at = @remindAt,
      escalate_at = @escalateAt, escalated_at = @escalatedAt, decided_at = @decidedAt, decided_by = @decidedBy, reason = @reason WHERE id = @id AND state IN ('pending', 'held')`),
    upsertVote: db.prepare(`INSERT INTO votes (gate_id, actor, display, vote, reason, at) VALUES (@gateId, @actor, @display, @vote, @reason, @at)
      ON CONFLICT (gate_id, actor) DO UPDATE SET vote = excluded.vote, reason = excluded.reason, at = excluded.at`),
  };

  const parseDef = defParser();
  const cache = new Map<number, JobAggregate>();
  /** Ids cached inside the open transaction, in order: forgotten again if it rolls back. */
  const journal: number[] = [];

  /** Caches `agg` as it is now in the file (or in the open transaction); the cache owns it from here. */
  function keep(id: number, agg: JobAggregate): void {
    cache.delete(id);
    cache.set(id, agg);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    if (db.inTransaction) journal.push(id);
  }

  /**
   * The stored aggregate, shared with the cache: the caller must not change it (the engine hands
   * it to `transition()`, which never changes its input). Saves a copy per transition.
   */
  function loadShared(id: number): JobAggregate | undefined {
    const hit = cache.get(id);
    if (hit) {
      const version = q.version.get(id) as number | undefined;
      if (version === hit.job.version) {
        cache.delete(id);
        cache.set(id, hit);
        return hit;
      }
      cache.delete(id);
      if (version === undefined) return undefined;
    }
    const row = q.job.get(id) as Row | undefined;
    if (!row) return undefined;
    const votes = q.votes.all(id) as Row[];
    const votesOf = (gateId: number): Vote[] =>
      votes.filter((v) => Number(v.gate_id) === gateId).map((v) => ({
        actor: String(v.actor), display: String(v.display), vote: v.vote as Vote['vote'], reason: str(v.reason), at: Number(v.at),
      }));
    const agg = {
      job: toJob(row, parseDef),
      stages: (q.stages.all(id) as Row[]).map(toStage),
      gates: (q.gates.all(id) as Row[]).map((g) => toGate(g, votesOf(Number(g.id)))),
    };
    keep(id, agg);
    return agg;
  }

  /** A job with its stages, gates and votes: the caller's own copy. */
  function load(id: number): JobAggregate | undefined {
    const agg = loadShared(id);
    return agg && cloneAggregate(agg);
  }

  function insert(agg: JobAggregate): number {
    const j = agg.job;
    const id = Number(q.insertJob.run({
      pipeline: j.pipeline, brief: j.brief, params: json(j.params), submitter: j.submitter, origin: json(j.origin),
      targets: json(j.targets), def: json(j.def), state: j.state, createdAt: j.createdAt, updatedAt: j.updatedAt,
    }).lastInsertRowid);
    agg.job.id = id;
    for (const s of agg.stages) saveStage(id, s);
    return id;
  }

  function saveStage(jobId: number, s: StageRecord) {
    q.upsertStage.run({ jobId, ...s, outputs: s.outputs === null ? null : json(s.outputs) });
  }

  function updateStage(jobId: number, s: StageRecord) {
    const row = { jobId, ...s, outputs: s.outputs === null ? null : json(s.outputs) };
    if (q.updateStage.run(row).changes === 0) q.upsertStage.run(row);
  }

  /** Writes what changed between `prev` and `next`; throws `StoreError('conflict')` when another writer got there first. */
  function save(prev: JobAggregate, next: JobAggregate, now: number): void {
    const j = next.job;
    const changed = q.updateJob.run({ ...j, updatedAt: now, version: prev.job.version }).changes;
    if (changed !== 1) throw new StoreError(`job ${j.id} changed underneath this update`, 'conflict');
    next.job.version = prev.job.version + 1;
    next.stages.forEach((s, i) => {
      if (!sameJson(s, prev.stages[i])) updateStage(j.id, s);
    });
    for (const g of next.gates) {
      const before = prev.gates.find((p) => p.id === g.id && g.id !== 0);
      const row = { ...g, jobId: j.id, required: g.required ? 1 : 0 };
      if (!before) g.id = Number(q.insertGate.run(row).lastInsertRowid);
      else if (!sameJson(before, g, 'votes')) {
        if (q.updateGate.run(row).changes !== 1) throw new StoreError(`gate ${g.id} was decided underneath this update`, 'conflict');
      }
      for (const v of g.votes) {
        const old = before?.votes.find((o) => o.actor === v.actor);
        if (!old || !sameJson(old, v)) q.upsertVote.run({ gateId: g.id, ...v });
      }
    }
    keep(j.id, cloneAggregate(next));
  }

  return {
    load,
    loadShared,
    insert,
    save,
    /** Where the cache's record of the transaction (or savepoint) about to begin starts. */
    cacheMark: (): number => journal.length,
    /** The transaction or savepoint begun at `mark` was rolled back: forget what it cached. */
    cacheRollback(mark: number): void {
      for (const id of journal.splice(mark)) cache.delete(id);
    },
    /** The outermost transaction committed: what it cached is now true of the file. */
    cacheCommitted(): void {
      journal.length = 0;
    },
  };
}
