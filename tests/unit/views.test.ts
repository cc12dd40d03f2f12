/**
 * The neutral views every surface renders: what a person reads in the status block, on a gate
 * card and in the thread, for a job driven through the pure state machine.
 */
import { describe, expect, it } from 'vitest';
import { createJob } from '../../src/orchestrator/create-job.js';
import { actorFor } from '../../src/orchestrator/policy.js';
import { transition } from '../../src/orchestrator/transition.js';
import type { JobAggregate, JobInput } from '../../src/orchestrator/types.js';
import { gateCardView } from '../../src/bot/views/gate-card.js';
import { jobStatusView } from '../../src/bot/views/job-status.js';
import { noticeFor } from '../../src/bot/views/notice.js';
import { renderPlan } from '../../src/bot/views/render-plan.js';
import { timelineView } from '../../src/bot/views/timeline.js';
import type { Artifact, StoredEvent } from '../../src/store/store.js';
import { configFrom, FakeClock, QUICK_PIPELINE } from '../helpers/fixtures.js';

const config = configFrom(QUICK_PIPELINE);
const actor = (user: string) => actorFor(config.operators, { platform: 'console', user });

/** A job moved by inputs, keeping the events it produced as stored events. */
function drive() {
  const clock = new FakeClock();
  const created = createJob({ id: 3, pipeline: 'quick', def: config.pipelines.quick!, brief: 'Bees <b>&</b> honey', params: {}, submitter: 'console:alice', origin: { surface: 'console' }, targets: [] }, clock.now());
  let agg: JobAggregate = created.agg;
  const events: StoredEvent[] = [];
  const send = (input: JobInput) => {
    const r = transition(agg, input, clock.now());
    agg = r.agg;
    for (const e of r.effects) if (e.type === 'event') events.push({ id: events.length + 1, job: 3, seq: events.length + 1, type: e.event, at: clock.now(), data: e.data });
    return r.reply;
  };
  const run = (stage: string) => agg.stages.find((s) => s.stage === stage)!.run;
  return { clock, send, run, get agg() { return agg; }, events };
}

const artifact = (id: number, stage: string, run: number, name: string, mediaType: string): Artifact =>
  ({ id, job: 3, stage, run, name, path: `/x/${name}`, size: 10, mediaType, sha256: 'x', createdAt: 0 });

describe('job status view', () => {
  it('shows the state, each stage with its icon and note, and progress', () => {
    const j = drive();
    expect(jobStatusView(j.agg, 2)).toMatchObject({ state: 'queued', stateLabel: 'Queued (position 2)', queuePosition: 2, title: 'Job 3 · quick' });
    j.send({ type: 'start' });
    j.clock.advance(1500);
    j.send({ type: 'stage.succeeded', stage: 'outline', run: j.run('outline'), summary: 'Outline: 5 sections', artifacts: [] });
    const v = jobStatusView(j.agg, null);
    expect(v).toMatchObject({ state: 'awaiting_approval', stateLabel: 'Awaiting approval of outline', icon: '✋', tone: 'waiting' });
    expect(v.stages[0]).toMatchObject({ state: 'awaiting_approval', note: 'waiting for approval (0 of 1)', durationMs: 1500 });
    expect(v.stages[1]).toMatchObject({ state: 'pending', icon: '⚪' });
    expect(v.progress).toEqual({ done: 0, total: 3, percent: 0 });
    expect(v.brief).toBe('Bees <b>&</b> honey'); // plain text: each surface escapes it
    expect(v.submitter).toEqual({ id: 'console:alice', platform: 'console', user: 'alice' });
  });
});

describe('gate card view', () => {
  it('offers Approve, Reject and Hold on a pending optional gate, with its auto-approve deadline and the reviewed artifacts', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, summary: 'Outline: 5 sections', artifacts: [] });
    const gate = j.agg.gates[0]!;
    const files = [artifact(1, 'outline', 1, 'outline.md', 'text/markdown'), artifact(2, 'script', 1, 'script.md', 'text/markdown')];
    const card = gateCardView(j.agg, gate, files);
    expect(card).toMatchObject({
      state: 'pending', required: false, actions: ['approve', 'reject', 'hold'], outcome: null,
      deadline: { kind: 'auto_approve', at: gate.openedAt + 30_000, onTimeout: null },
      approvals: { count: 0, needed: 1, names: [] }, approvers: ['editors'],
    });
    expect(card.text).toContain('Outline: 5 sections');
    expect(card.text).toContain('Approves itself in 30s');
    expect(card.artifacts.map((a) => a.name)).toEqual(['outline.md']);
  });

  it('drops the buttons once decided and says who decided, with the reason', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, artifacts: [] });
    j.send({ type: 'vote', actor: actor('bob'), stage: 'outline', vote: 'reject', reason: 'too vague' });
    const card = gateCardView(j.agg, j.agg.gates[0]!, []);
    expect(card.actions).toEqual([]);
    expect(card.deadline).toBeNull();
    expect(card.outcome).toMatchObject({ label: 'Rejected by bob', by: 'bob', reason: 'too vague' });
  });

  it('shows N of M on a quorum gate and no Hold on a required gate', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, artifacts: [] });
    j.send({ type: 'vote', actor: actor('bob'), stage: 'outline', vote: 'approve' });
    j.send({ type: 'stage.succeeded', stage: 'script', run: 1, artifacts: [] });
    j.send({ type: 'vote', actor: actor('bob'), stage: 'script', vote: 'approve' });
    j.send({ type: 'stage.succeeded', stage: 'storyboard', run: 1, artifacts: [] });
    j.send({ type: 'vote', actor: actor('carol'), stage: 'storyboard', vote: 'approve' });
    const card = gateCardView(j.agg, j.agg.gates[2]!, []);
    expect(card).toMatchObject({ actions: ['approve', 'reject'], approvals: { count: 1, needed: 2, names: ['carol'] }, deadline: null });
  });
});

describe('notices and the render plan', () => {
  it('tells the thread about results, decisions and the end, and nothing about progress', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.clock.advance(2000);
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, summary: 'Outline: 5 sections', artifacts: [] });
    j.clock.advance(30_000);
    j.send({ type: 'tick' });
    j.send({ type: 'stage.failed', stage: 'script', run: 1, error: 'exit 3: no space left', code: 'exit' });
    const files = [artifact(1, 'outline', 1, 'outline.md', 'text/markdown')];
    const texts = j.events.map((e) => ({ type: e.type, plan: renderPlan(e), notice: noticeFor(e, j.agg, files) }));
    const byType = (t: string) => texts.find((x) => x.type === t)!;
    expect(byType('stage.started').notice).toBeNull();
    expect(byType('stage.started').plan).toEqual({ status: true, gate: null, notice: false, ping: false });
    expect(byType('stage.succeeded').notice).toMatchObject({ text: 'outline done in 2s: Outline: 5 sections', tone: 'good' });
    expect(byType('stage.succeeded').notice!.artifacts.map((a) => a.name)).toEqual(['outline.md']);
    expect(byType('gate.opened').plan.gate).toEqual({ stage: 'outline', round: 1 });
    // An approval shows on its card, not as a notice repeating it.
    expect(byType('gate.approved')).toMatchObject({ plan: { status: true, gate: { stage: 'outline', round: 1 }, notice: false, ping: false }, notice: null });
    expect(byType('job.finished').notice).toMatchObject({ icon: '❌', text: expect.stringContaining('Job 3 failed in 32s. stage "script" failed: exit 3: no space left') });
  });

  it('never shows a refused click in chat', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, artifacts: [] });
    j.send({ type: 'vote', actor: actor('dave'), stage: 'outline', vote: 'approve' });
    const refused = j.events.at(-1)!;
    expect(refused.type).toBe('gate.refused');
    expect(renderPlan(refused)).toEqual({ status: false, gate: null, notice: false, ping: false });
  });
});

describe('timeline view', () => {
  it('has a bar per stage run and per gate wait, in time order', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.clock.advance(2000);
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, artifacts: [] });
    j.clock.advance(5000);
    j.send({ type: 'vote', actor: actor('bob'), stage: 'outline', vote: 'approve' });
    const t = timelineView(j.agg, j.clock.now());
    expect(t.bars.map((b) => [b.label, b.kind, b.end - b.start])).toEqual([
      ['outline', 'stage', 2000],
      ['outline gate', 'gate', 5000],
      ['script', 'stage', 0],
    ]);
    expect(t.end - t.start).toBe(7000);
  });
});
