/**
 * The state machine of a job: `transition(aggregate, input, now)` returns the next aggregate,
 * the effects to persist and perform, and the answer to whoever acted. Pure: no I/O, no clock.
 */
import { cloneAggregate } from './clone-aggregate.js';
import { Draft } from './draft.js';
import { fireGateTimers, hold, openGate, vote } from './gates.js';
import { mayManage } from './policy.js';
import { TERMINAL_STATES, type Actor, type JobAggregate, type JobInput, type Reply, type TransitionResult } from './types.js';

export function transition(prev: JobAggregate, input: JobInput, now: number): TransitionResult {
  // The copy shares the pipeline definition, which no transition changes.
  const d = new Draft(cloneAggregate(prev), now);
  const reply = apply(d, input);
  return { agg: d.agg, effects: d.effects, ...(reply ? { reply } : {}) };
}

function apply(d: Draft, input: JobInput): Reply | undefined {
  switch (input.type) {
    case 'start':
      return start(d);
    case 'recover':
      return recover(d, input.waiting ?? []);
    case 'tick':
      fireStageTimers(d);
      fireGateTimers(d);
      return undefined;
    case 'stage.progress': {
      const rec = d.record(input.stage);
      if (rec?.state === 'running' && rec.run === input.run) d.emit('stage.progress', { stage: input.stage, run: input.run, message: input.message });
      return undefined;
    }
    case 'stage.succeeded':
      return stageSucceeded(d, input);
    case 'stage.failed':
      return stageFailed(d, input);
    case 'vote':
      return vote(d, input.actor, input.stage, input.vote, input.reason, input.round);
    case 'hold':
      return hold(d, input.actor, input.stage, input.round);
    case 'cancel':
      return cancel(d, input.actor, input.reason);
    case 'retry':
      return retry(d, input.actor);
  }
}

function start(d: Draft): Reply | undefined {
  if (d.job.state !== 'queued') return undefined;
  const from = d.job.resumeFrom ? d.job.def.stages.findIndex((s) => s.id === d.job.resumeFrom) : 0;
  d.job.resumeFrom = null;
  d.job.startedAt ??= d.now;
  d.emit('job.started', { from: d.job.def.stages[Math.max(0, from)]?.id });
  d.startStage(Math.max(0, from));
  return undefined;
}

/** After a crash: stages that were running in the dead process run again (at-least-once). */
function recover(d: Draft, waiting: readonly { stage: string; run: number }[]): Reply | undefined {
  if (d.job.state !== 'running') return undefined;
  for (const rec of d.agg.stages) {
    // A run handed to an external system lives outside this process: its token and deadlines still hold.
    if (rec.state !== 'running' || waiting.some((w) => w.stage === rec.stage && w.run === rec.run)) continue;
    d.emit('stage.recovered', { stage: rec.stage, previous_run: rec.run });
    d.startStage(rec.index, rec.attempt);
  }
  return undefined;
}

function fireStageTimers(d: Draft): void {
  for (const rec of d.agg.stages) {
    if (rec.state !== 'retry_wait' || rec.retryAt === null || rec.retryAt > d.now) continue;
    d.emit('stage.retried', { stage: rec.stage, attempt: rec.attempt + 1 });
    d.startStage(rec.index, rec.attempt + 1);
  }
}

function stageSucceeded(d: Draft, input: Extract<JobInput, { type: 'stage.succeeded' }>): Reply | undefined {
  const rec = d.record(input.stage);
  const def = d.stageDef(input.stage);
  if (!rec || !def || rec.state !== 'running' || rec.run !== input.run) return undefined;
  rec.state = 'succeeded';
  rec.finishedAt = d.now;
  rec.summary = input.summary ?? null;
  rec.outputs = input.outputs ?? null;
  rec.redoReason = null;
  for (const file of input.artifacts) d.effects.push({ type: 'artifact', file });
  d.emit('stage.succeeded', {
    stage: rec.stage,
    run: rec.run,
    attempt: rec.attempt,
    summary: rec.summary,
    artifacts: input.artifacts.length,
    duration_ms: d.now - (rec.startedAt ?? d.now),
  });
  if (def.gate) openGate(d, def.gate, def.id);
  else d.advance(rec.index + 1);
  return undefined;
}

function stageFailed(d: Draft, input: Extract<JobInput, { type: 'stage.failed' }>): Reply | undefined {
  const rec = d.record(input.stage);
  const def = d.stageDef(input.stage);
  if (!rec || !def || rec.state !== 'running' || rec.run !== input.run) return undefined;
  rec.error = input.error;
  const willRetry = rec.attempt <= def.retries;
  const base = { stage: rec.stage, run: rec.run, attempt: rec.attempt, error: input.error, code: input.code, duration_ms: d.now - (rec.startedAt ?? d.now) };
  if (willRetry) {
    rec.state = 'retry_wait';
    rec.retryAt = d.now + def.retry_backoff * 2 ** (rec.attempt - 1);
    d.emit('stage.failed', { ...base, will_retry: true, retry_at: rec.retryAt });
    return undefined;
  }
  rec.state = 'failed';
  rec.finishedAt = d.now;
  d.emit('stage.failed', { ...base, will_retry: false });
  d.finish('failed', `stage "${rec.stage}" failed: ${input.error}`);
  return undefined;
}

function cancel(d: Draft, actor: Actor, reason?: string): Reply {
  if (TERMINAL_STATES.includes(d.job.state))
    return { ok: false, code: 'finished', message: `Job ${d.job.id} already ${d.job.state}; there is nothing to cancel.` };
  if (!mayManage(d.job, d.job.def, actor))
    return { ok: false, code: 'not_authorised', message: `Only the submitter or an approver of this pipeline may cancel job ${d.job.id}.` };
  for (const rec of d.agg.stages) {
    if (rec.state === 'running') d.effects.push({ type: 'killStage', stage: rec.stage, run: rec.run });
    if (rec.state === 'running' || rec.state === 'retry_wait') {
      rec.state = 'cancelled';
      rec.finishedAt = d.now;
      rec.retryAt = null;
    }
  }
  const gate = d.openGate();
  if (gate) {
    gate.state = 'cancelled';
    gate.decidedAt = d.now;
    gate.decidedBy = actor.display;
    gate.deadlineAt = null;
    gate.remindAt = null;
    d.emit('gate.cancelled', { stage: gate.stage, round: gate.round, by: actor.display });
  }
  d.emit('job.cancelled', { by: actor.display, reason: reason ?? null });
  d.finish('cancelled', `cancelled by ${actor.display}${reason ? `: ${reason}` : ''}`);
  return { ok: true, message: `Cancelled job ${d.job.id}.` };
}

function retry(d: Draft, actor: Actor): Reply {
  const { job } = d;
  if (!['failed', 'rejected', 'cancelled'].includes(job.state))
    return { ok: false, code: 'not_retryable', message: `Job ${job.id} is ${job.state.replace('_', ' ')}; only a failed, rejected or cancelled job can be retried.` };
  if (!mayManage(job, job.def, actor))
    return { ok: false, code: 'not_authorised', message: `Only the submitter or an approver of this pipeline may retry job ${job.id}.` };
  const from = job.stage ?? job.def.stages[0]!.id;
  const index = Math.max(0, job.def.stages.findIndex((s) => s.id === from));
  const lastGate = d.latestGate(from);
  const redoReason = job.state === 'rejected' && lastGate?.reason ? lastGate.reason : null;
  for (const rec of d.agg.stages.slice(index)) {
    Object.assign(rec, { state: 'pending', attempt: 0, startedAt: null, finishedAt: null, retryAt: null, error: null, redoReason: null });
  }
  d.agg.stages[index]!.redoReason = redoReason;
  job.state = 'queued';
  job.resumeFrom = from;
  job.error = null;
  job.finishedAt = null;
  d.emit('job.retried', { by: actor.display, from, reason: redoReason });
  d.emit('job.queued', {});
  return { ok: true, message: `Job ${job.id} queued again from "${from}"${redoReason ? ' with the rejection reason' : ''}.` };
}
