/** The job status block: title, state, one line per stage, progress, queue position. */
import { formatDuration } from '../../config/duration.js';
import type { Gate, JobAggregate, StageRecord } from '../../orchestrator/types.js';
import { JOB_LOOK, STAGE_LOOK } from './icons.js';
import type { JobStatusView, PersonRef, StageLine } from './types.js';

export function personRef(actorId: string): PersonRef {
  const at = actorId.indexOf(':');
  return at < 0 ? { id: actorId, platform: actorId, user: actorId } : { id: actorId, platform: actorId.slice(0, at), user: actorId.slice(at + 1) };
}

/** The latest round of each stage's gate. */
export function latestGates(agg: JobAggregate): Map<string, Gate> {
  const latest = new Map<string, Gate>();
  for (const g of agg.gates) if ((latest.get(g.stage)?.round ?? 0) < g.round) latest.set(g.stage, g);
  return latest;
}

function stageLine(agg: JobAggregate, rec: StageRecord, gate: Gate | undefined): StageLine {
  const def = agg.job.def.stages[rec.index];
  const waiting = rec.state === 'succeeded' && gate && (gate.state === 'pending' || gate.state === 'held');
  const state: StageLine['state'] = waiting ? (gate.state === 'held' ? 'held' : 'awaiting_approval') : rec.state;
  const maxAttempts = (def?.retries ?? 0) + 1;
  let note: string | null = null;
  if (state === 'running' && def && 'external' in def.run && !('command' in def.run)) note = 'waiting for an external system';
  else if (state === 'running' && rec.attempt > 1) note = `attempt ${rec.attempt} of ${maxAttempts}`;
  else if (state === 'retry_wait') note = `failed (${clip(rec.error ?? '', 80)}); will retry`;
  else if (state === 'failed') note = clip(rec.error ?? 'failed', 120);
  else if (state === 'awaiting_approval' && gate) note = `waiting for approval (${gate.votes.filter((v) => v.vote === 'approve').length} of ${gate.minApprovals})`;
  else if (state === 'held') note = 'held: waiting for a decision';
  else if (state === 'succeeded' && gate?.state === 'rejected') note = `rejected by ${gate.decidedBy}`;
  else if (state === 'succeeded') note = rec.summary;
  else if (state === 'pending' && rec.redoReason) note = 'will be redone';
  return {
    id: rec.stage,
    name: def?.name ?? rec.stage,
    state,
    ...STAGE_LOOK[state],
    durationMs: rec.startedAt !== null && rec.finishedAt !== null ? rec.finishedAt - rec.startedAt : null,
    note,
  };
}

export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function jobStatusView(agg: JobAggregate, queuePosition: number | null): JobStatusView {
  const { job } = agg;
  const gates = latestGates(agg);
  const stages = agg.stages.map((rec) => stageLine(agg, rec, gates.get(rec.stage)));
  const look = JOB_LOOK[job.state];
  const current = stages.find((s) => s.id === job.stage);
  const took = job.startedAt !== null && job.finishedAt !== null ? ` in ${formatDuration(job.finishedAt - job.startedAt)}` : '';
  const stateLabel =
    job.state === 'queued' ? `Queued${queuePosition ? ` (position ${queuePosition})` : ''}`
    : job.state === 'running' ? `Running ${current?.name ?? ''}`.trim()
    : job.state === 'awaiting_approval' ? `Awaiting approval of ${current?.name ?? ''}`.trim()
    : `${look.label}${took}`;
  const done = stages.filter((s) => s.state === 'succeeded').length;
  return {
    kind: 'job.status',
    jobId: job.id,
    pipeline: job.pipeline,
    title: `Job ${job.id} · ${job.pipeline}`,
    brief: job.brief,
    submitter: personRef(job.submitter),
    state: job.state,
    stateLabel,
    icon: look.icon,
    tone: look.tone,
    stages,
    progress: { done, total: stages.length, percent: Math.round((done / Math.max(1, stages.length)) * 100) },
    queuePosition: job.state === 'queued' && queuePosition ? queuePosition : null,
    error: job.error,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    updatedAt: job.updatedAt,
  };
}
