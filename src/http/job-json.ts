/**
 * The JSON shapes the API returns. These are a contract with API users: fields are only added.
 */
import type { Artifact, JobSummaryRow, StoredEvent } from '../store/store.js';
import type { Gate, JobAggregate } from '../orchestrator/types.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function gateJson(g: Gate, approvers: string[]) {
  return {
    stage: g.stage,
    round: g.round,
    state: g.state,
    required: g.required,
    approvers,
    min_approvals: g.minApprovals,
    approvals: g.votes.filter((v) => v.vote === 'approve').map((v) => v.actor),
    votes: g.votes.map((v) => ({ actor: v.actor, display: v.display, vote: v.vote, reason: v.reason, at: iso(v.at) })),
    opened_at: iso(g.openedAt),
    deadline_at: iso(g.deadlineAt),
    deadline_kind: g.deadlineKind,
    remind_at: iso(g.remindAt),
    escalate_at: iso(g.escalateAt),
    escalated_at: iso(g.escalatedAt),
    decided_at: iso(g.decidedAt),
    decided_by: g.decidedBy,
    reason: g.reason,
  };
}

export function artifactJson(a: Artifact) {
  return { id: a.id, name: a.name, stage: a.stage, run: a.run, size: a.size, media_type: a.mediaType, sha256: a.sha256, url: `/api/v1/artifacts/${a.id}` };
}

export function jobJson(agg: JobAggregate, artifacts: Artifact[], queuePosition: number | null) {
  const { job } = agg;
  return {
    id: job.id,
    pipeline: job.pipeline,
    brief: job.brief,
    params: job.params,
    state: job.state,
    stage: job.stage,
    submitter: job.submitter,
    origin: job.origin.surface,
    queue_position: queuePosition,
    error: job.error,
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    stages: agg.stages.map((s) => {
      const def = job.def.stages[s.index];
      return {
        id: s.stage,
        name: def?.name ?? s.stage,
        state: s.state,
        run: s.run,
        attempt: s.attempt,
        has_gate: Boolean(def?.gate),
        started_at: iso(s.startedAt),
        finished_at: iso(s.finishedAt),
        duration_ms: s.startedAt !== null && s.finishedAt !== null ? s.finishedAt - s.startedAt : null,
        retry_at: iso(s.retryAt),
        error: s.error,
        summary: s.summary,
        redo_reason: s.redoReason,
      };
    }),
    gates: agg.gates.map((g) => gateJson(g, job.def.stages.find((s) => s.id === g.stage)?.gate?.approvers ?? [])),
    artifacts: artifacts.map(artifactJson),
  };
}

export function jobSummaryJson(row: JobSummaryRow, queuePosition: number | null) {
  return {
    id: row.id,
    pipeline: row.pipeline,
    state: row.state,
    stage: row.stage,
    submitter: row.submitter,
    brief: row.brief.length > 200 ? `${row.brief.slice(0, 199)}…` : row.brief,
    queue_position: queuePosition,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

/** Event details keep times as epoch ms in storage; the API shows every `*_at` as ISO 8601. */
export function eventJson(e: StoredEvent) {
  const data = Object.fromEntries(
    Object.entries(e.data).map(([k, v]) => [k, k.endsWith('_at') && typeof v === 'number' ? iso(v) : v]),
  );
  return { ...data, id: e.id, seq: e.seq, type: e.type, at: iso(e.at), job: e.job };
}
