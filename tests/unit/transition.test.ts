/**
 * The job state machine with plain values and a fake clock: no database, no processes.
 */
import { describe, expect, it } from 'vitest';
import { createJob } from '../../src/orchestrator/create-job.js';
import { actorFor } from '../../src/orchestrator/policy.js';
import { transition } from '../../src/orchestrator/transition.js';
import type { Actor, Effect, JobAggregate, JobInput, Reply } from '../../src/orchestrator/types.js';
import { configFrom, FakeClock, OPERATORS } from '../helpers/fixtures.js';

const config = configFrom(`${OPERATORS}
pipelines:
  p:
    stages:
      - id: draft
        run: { builtin: outline }
        retries: 2
        retry_backoff: 1s
        gate: { required: false, approvers: [editors], auto_approve_after: 30s }
      - id: review
        run: { builtin: script }
        gate: { required: true, approvers: [editors, directors], min_approvals: 2, timeout: 1h, on_timeout: reject, remind_before: [10m] }
      - id: publish
        run: { builtin: render }
`);
const def = config.pipelines.p!;
const who = (platform: 'console' | 'api', user: string): Actor => actorFor(config.operators, { platform, user });
const alice = who('console', 'alice');
const bob = who('console', 'bob');
const carol = who('console', 'carol');
const dave = who('console', 'dave');
const api = who('api', 'api');

/** Drives one job through inputs, keeping the latest aggregate and every event name. */
class Run {
  clock = new FakeClock();
  agg: JobAggregate;
  events: string[] = [];
  effects: Effect[] = [];
  constructor(submitter = 'console:alice') {
    const created = createJob({ id: 7, pipeline: 'p', def, brief: 'a brief', params: {}, submitter, origin: { surface: 'console' }, targets: [] }, this.clock.now());
    this.agg = created.agg;
    this.send({ type: 'start' });
  }
  send(input: JobInput): Reply | undefined {
    const before = JSON.stringify(this.agg);
    const r = transition(this.agg, input, this.clock.now());
    expect(JSON.stringify(this.agg)).toBe(before); // the input aggregate is never changed
    this.agg = r.agg;
    this.effects = r.effects;
    this.events.push(...r.effects.flatMap((e) => (e.type === 'event' ? [e.event] : [])));
    return r.reply;
  }
  stage(id: string) {
    return this.agg.stages.find((s) => s.stage === id)!;
  }
  gate(id: string) {
    return this.agg.gates.filter((g) => g.stage === id).at(-1)!;
  }
  succeed(id: string) {
    return this.send({ type: 'stage.succeeded', stage: id, run: this.stage(id).run, artifacts: [] });
  }
  fail(id: string, error = 'boom') {
    return this.send({ type: 'stage.failed', stage: id, run: this.stage(id).run, error, code: 'exit' });
  }
  tickAfter(ms: number) {
    this.clock.advance(ms);
    return this.send({ type: 'tick' });
  }
  vote(actor: Actor, stage: string, vote: 'approve' | 'reject', reason?: string) {
    return this.send({ type: 'vote', actor, stage, vote, ...(reason ? { reason } : {}) });
  }
  /** Gets the job to the required review gate. */
  toReview() {
    this.succeed('draft');
    this.tickAfter(30_000);
    this.succeed('review');
    return this;
  }
}

describe('job lifecycle', () => {
  it('starts the first stage and asks the runner to run it', () => {
    const r = new Run();
    expect(r.agg.job.state).toBe('running');
    expect(r.agg.job.stage).toBe('draft');
    expect(r.effects).toContainEqual({ type: 'runStage', stage: 'draft', run: 1, attempt: 1 });
    expect(r.events).toEqual(['job.started', 'stage.started']);
  });

  it('opens an optional gate after its stage and auto-approves it when the timer runs out', () => {
    const r = new Run();
    r.succeed('draft');
    expect(r.agg.job.state).toBe('awaiting_approval');
    expect(r.gate('draft')).toMatchObject({ state: 'pending', deadlineKind: 'auto_approve', deadlineAt: r.clock.now() + 30_000 });
    r.tickAfter(29_999);
    expect(r.gate('draft').state).toBe('pending');
    r.tickAfter(1);
    expect(r.gate('draft')).toMatchObject({ state: 'approved', decidedBy: 'timer' });
    expect(r.agg.job.stage).toBe('review');
    expect(r.effects).toContainEqual({ type: 'runStage', stage: 'review', run: 1, attempt: 1 });
  });

  it('runs a gate-less last stage and finishes the job as succeeded', () => {
    const r = new Run().toReview();
    r.vote(bob, 'review', 'approve');
    r.vote(carol, 'review', 'approve');
    r.succeed('publish');
    expect(r.agg.job).toMatchObject({ state: 'succeeded', finishedAt: r.clock.now() });
    expect(r.events.at(-1)).toBe('job.finished');
  });

  it('ignores the outcome of an older run of a stage', () => {
    const r = new Run();
    const stale = r.send({ type: 'stage.succeeded', stage: 'draft', run: 0, artifacts: [] });
    expect(stale).toBeUndefined();
    expect(r.effects).toEqual([]);
    expect(r.stage('draft').state).toBe('running');
  });
});

describe('retries', () => {
  it('retries a failed stage with exponential backoff, then fails the job when retries run out', () => {
    const r = new Run();
    r.fail('draft', 'first');
    expect(r.stage('draft')).toMatchObject({ state: 'retry_wait', retryAt: r.clock.now() + 1000, error: 'first' });
    expect(r.agg.job.state).toBe('running');
    r.tickAfter(999);
    expect(r.stage('draft').state).toBe('retry_wait');
    r.tickAfter(1);
    expect(r.stage('draft')).toMatchObject({ state: 'running', attempt: 2, run: 2 });
    r.fail('draft', 'second');
    expect(r.stage('draft').retryAt).toBe(r.clock.now() + 2000);
    r.tickAfter(2000);
    r.fail('draft', 'third: disk full');
    expect(r.agg.job).toMatchObject({ state: 'failed', error: 'stage "draft" failed: third: disk full' });
    expect(r.events.filter((e) => e === 'stage.retried')).toHaveLength(2);
  });

  it('re-runs a stage that was running when the process died', () => {
    const r = new Run();
    r.send({ type: 'recover' });
    expect(r.stage('draft')).toMatchObject({ state: 'running', run: 2, attempt: 1 });
    expect(r.events).toContain('stage.recovered');
    expect(r.effects).toContainEqual({ type: 'runStage', stage: 'draft', run: 2, attempt: 1 });
  });

  it('leaves a stage that waits for an external system waiting when the process restarts', () => {
    const r = new Run();
    const events = r.events.length;
    r.send({ type: 'recover', waiting: [{ stage: 'draft', run: 1 }] });
    expect(r.stage('draft')).toMatchObject({ state: 'running', run: 1, attempt: 1 });
    expect(r.events.slice(events)).not.toContain('stage.recovered');
    expect(r.effects.filter((e) => e.type === 'runStage' && e.run === 2)).toHaveLength(0);
  });

  it('re-runs a stage whose waiting external run is an older one (the new run never started)', () => {
    const r = new Run();
    r.send({ type: 'recover', waiting: [{ stage: 'draft', run: 0 }] });
    expect(r.stage('draft')).toMatchObject({ state: 'running', run: 2 });
    expect(r.events).toContain('stage.recovered');
  });
});

describe('gates: who may decide', () => {
  it('needs N distinct approvals; the same person twice counts once', () => {
    const r = new Run().toReview();
    expect(r.vote(bob, 'review', 'approve')).toMatchObject({ ok: true, message: expect.stringContaining('1 of 2') });
    expect(r.vote(bob, 'review', 'approve')).toMatchObject({ ok: false, code: 'already_voted' });
    expect(r.gate('review').state).toBe('pending');
    expect(r.vote(carol, 'review', 'approve')).toMatchObject({ ok: true });
    expect(r.gate('review')).toMatchObject({ state: 'approved', decidedBy: 'carol' });
    expect(r.agg.job.stage).toBe('publish');
  });

  it('refuses a non-approver and records the refusal, changing nothing else', () => {
    const r = new Run().toReview();
    const before = r.agg;
    const reply = r.vote(dave, 'review', 'approve');
    expect(reply).toMatchObject({ ok: false, code: 'not_authorised', message: expect.stringContaining('editors or directors') });
    expect(r.agg.gates).toEqual(before.gates);
    expect(r.agg.job.state).toBe('awaiting_approval');
    expect(r.effects).toEqual([{ type: 'event', event: 'gate.refused', data: expect.objectContaining({ actor: 'console:dave', code: 'not_authorised' }) }]);
  });

  it('refuses self-approval but lets the submitter reject', () => {
    const r = new Run('console:alice').toReview();
    expect(r.vote(alice, 'review', 'approve')).toMatchObject({ ok: false, code: 'self_approval' });
    expect(r.gate('review').votes).toEqual([]);
    expect(r.vote(alice, 'review', 'reject', 'wrong tone')).toMatchObject({ ok: true });
    expect(r.agg.job.state).toBe('rejected');
  });

  it('lets the API token holder approve anything', () => {
    const r = new Run('api').toReview();
    r.vote(api, 'review', 'approve');
    expect(r.gate('review').votes.map((v) => v.actor)).toEqual(['api']);
  });

  it('any reject decides at once, needs a reason, and later clicks are told who decided and when', () => {
    const r = new Run().toReview();
    r.vote(bob, 'review', 'approve');
    expect(r.vote(carol, 'review', 'reject', '  ')).toMatchObject({ ok: false, code: 'reason_required' });
    r.clock.advance(5000);
    r.vote(carol, 'review', 'reject', 'too long');
    expect(r.gate('review')).toMatchObject({ state: 'rejected', decidedBy: 'carol', reason: 'too long' });
    expect(r.agg.job).toMatchObject({ state: 'rejected', error: '"review" rejected by carol: too long' });
    const late = r.vote(bob, 'review', 'approve');
    expect(late).toMatchObject({ ok: false, code: 'already_decided' });
    expect((late as { message: string }).message).toContain(`already rejected by carol at ${new Date(r.clock.now()).toISOString()}`);
  });

  it('refuses a vote on a stage without an open gate', () => {
    const r = new Run();
    expect(r.vote(bob, 'publish', 'approve')).toMatchObject({ ok: false, code: 'not_found' });
    expect(r.vote(bob, 'review', 'approve')).toMatchObject({ ok: false, code: 'not_found' });
  });
});

describe('gates: hold and timers', () => {
  it('hold stops an optional gate from auto-approving; a decision still moves on', () => {
    const r = new Run();
    r.succeed('draft');
    expect(r.send({ type: 'hold', actor: bob, stage: 'draft' })).toMatchObject({ ok: true });
    r.tickAfter(3_600_000);
    expect(r.gate('draft').state).toBe('held');
    expect(r.send({ type: 'hold', actor: bob, stage: 'draft' })).toMatchObject({ ok: false, code: 'not_holdable' });
    r.vote(bob, 'draft', 'approve');
    expect(r.agg.job.stage).toBe('review');
  });

  it('a required gate cannot be held', () => {
    const r = new Run().toReview();
    expect(r.send({ type: 'hold', actor: bob, stage: 'review' })).toMatchObject({ ok: false, code: 'not_holdable' });
  });

  it('reminds before the timeout, then applies on_timeout', () => {
    const r = new Run().toReview();
    const opened = r.gate('review').openedAt;
    expect(r.gate('review').remindAt).toBe(opened + 50 * 60_000);
    r.tickAfter(50 * 60_000);
    expect(r.events.filter((e) => e === 'gate.reminded')).toHaveLength(1);
    expect(r.gate('review').remindAt).toBeNull();
    r.tickAfter(10 * 60_000);
    expect(r.gate('review')).toMatchObject({ state: 'expired', decidedBy: 'timeout' });
    expect(r.agg.job).toMatchObject({ state: 'rejected', error: expect.stringContaining('expired: no decision within 1h') });
  });

  it('on_timeout approve and fail', () => {
    for (const [policy, state] of [['approve', 'running'], ['fail', 'failed']] as const) {
      const custom = structuredClone(def);
      custom.stages[1]!.gate!.on_timeout = policy;
      const r = new Run();
      r.agg.job.def = custom;
      r.toReview();
      r.tickAfter(3_600_000);
      expect(r.agg.job.state).toBe(state);
    }
  });
});

describe('cancel and retry', () => {
  it('cancel kills the running stage and finishes the job; a second cancel is refused', () => {
    const r = new Run();
    expect(r.send({ type: 'cancel', actor: bob, reason: 'wrong brief' })).toMatchObject({ ok: true });
    expect(r.effects).toContainEqual({ type: 'killStage', stage: 'draft', run: 1 });
    expect(r.agg.job).toMatchObject({ state: 'cancelled', error: 'cancelled by bob: wrong brief' });
    expect(r.send({ type: 'cancel', actor: bob })).toMatchObject({ ok: false, code: 'finished' });
  });

  it('cancel closes an open gate; only the submitter or an approver may cancel', () => {
    const r = new Run().toReview();
    expect(r.send({ type: 'cancel', actor: dave })).toMatchObject({ ok: false, code: 'not_authorised' });
    r.send({ type: 'cancel', actor: alice });
    expect(r.gate('review')).toMatchObject({ state: 'cancelled', decidedBy: 'alice' });
    expect(r.vote(bob, 'review', 'approve')).toMatchObject({ ok: false, code: 'already_decided' });
  });

  it('retry after a rejection redoes the rejected stage with the reason, then reopens its gate as round 2', () => {
    const r = new Run().toReview();
    r.vote(carol, 'review', 'reject', 'make it shorter');
    expect(r.send({ type: 'retry', actor: dave })).toMatchObject({ ok: false, code: 'not_authorised' });
    expect(r.send({ type: 'retry', actor: bob })).toMatchObject({ ok: true });
    expect(r.agg.job).toMatchObject({ state: 'queued', resumeFrom: 'review', error: null });
    expect(r.stage('review').redoReason).toBe('make it shorter');
    r.send({ type: 'start' });
    expect(r.stage('review')).toMatchObject({ state: 'running', run: 2, attempt: 1 });
    expect(r.stage('draft').state).toBe('succeeded');
    r.succeed('review');
    expect(r.stage('review').redoReason).toBeNull();
    expect(r.gate('review')).toMatchObject({ round: 2, state: 'pending', votes: [] });
  });

  it('a click on an older round\'s card never decides the round open now', () => {
    const r = new Run().toReview();
    r.vote(carol, 'review', 'reject', 'shorter');
    r.send({ type: 'retry', actor: bob });
    r.send({ type: 'start' });
    r.succeed('review');
    const stale = r.send({ type: 'vote', actor: bob, stage: 'review', vote: 'approve', round: 1 });
    expect(stale).toMatchObject({ ok: false, code: 'already_decided', message: expect.stringContaining('already rejected by carol') });
    expect(r.gate('review')).toMatchObject({ round: 2, state: 'pending', votes: [] });
    expect(r.send({ type: 'vote', actor: bob, stage: 'review', vote: 'approve', round: 2 })).toMatchObject({ ok: true });
  });

  it('only a failed, rejected or cancelled job can be retried', () => {
    const r = new Run();
    expect(r.send({ type: 'retry', actor: bob })).toMatchObject({ ok: false, code: 'not_retryable' });
  });
});
