/**
 * Who must decide a gate (mentions, DMs, reminders, escalation, "what waits for me"), and the
 * escalation timer in the state machine: plain values and a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { createJob } from '../../src/orchestrator/create-job.js';
import { decidersOf, excludedActors, waitsFor } from '../../src/orchestrator/deciders.js';
import { actorFor } from '../../src/orchestrator/policy.js';
import { transition } from '../../src/orchestrator/transition.js';
import type { Gate, JobAggregate, JobInput, Reply } from '../../src/orchestrator/types.js';
import { configFrom, FakeClock } from '../helpers/fixtures.js';

const config = configFrom(`
operators:
  editors: { console: [alice, bob], slack: [U0ALICE, U0BOB], slack_usergroups: [S0ED], discord: ["1001", "1002"], discord_roles: ["2002"] }
  leads: { console: [erin], slack: [U0ERIN], slack_usergroups: [S0LEAD], discord: ["1005"], discord_roles: ["2005"] }
  viewers: { console: [dave] }
pipelines:
  p:
    stages:
      - id: review
        run: { builtin: script }
        gate: { approvers: [editors], timeout: 4h, remind_before: [1h], escalate_after: 2h, escalate_to: [leads], notify: both }
      - id: self
        run: { builtin: outline }
        gate: { approvers: [editors], allow_self_approval: true }
`);
const def = config.pipelines.p!;
const reviewGate = def.stages[0]!.gate!;
const selfGate = def.stages[1]!.gate!;
const who = (user: string, extra: { usergroups?: string[] } = {}) => actorFor(config.operators, { platform: 'console', user, ...extra });
const gate = (over: Partial<Gate> = {}): Pick<Gate, 'votes' | 'escalatedAt' | 'state'> => ({ votes: [], escalatedAt: null, state: 'pending', ...over });
const vote = (actor: string) => ({ actor, display: actor, vote: 'approve' as const, reason: null, at: 0 });

describe('decidersOf', () => {
  it('lists the approvers per platform and leaves out the submitter who may not approve', () => {
    const d = decidersOf(config.operators, reviewGate, gate(), { submitter: 'slack:U0ALICE' });
    expect(d).toEqual({
      groups: ['editors'],
      slack: { users: ['U0BOB'], usergroups: ['S0ED'] },
      discord: { users: ['1001', '1002'], roles: ['2002'] },
      console: ['alice', 'bob'],
    });
  });

  it('keeps the submitter when self-approval is allowed', () => {
    expect(decidersOf(config.operators, selfGate, gate(), { submitter: 'console:alice' }).console).toEqual(['alice', 'bob']);
  });

  it('skips voters for reminders, but only when asked', () => {
    const voted = gate({ votes: [vote('discord:1001'), vote('console:bob')] });
    expect(decidersOf(config.operators, reviewGate, voted, { submitter: 'api' }, { skipVoters: true }).discord.users).toEqual(['1002']);
    expect(decidersOf(config.operators, reviewGate, voted, { submitter: 'api' }, { skipVoters: true }).console).toEqual(['alice']);
    expect(decidersOf(config.operators, reviewGate, voted, { submitter: 'api' }).console).toEqual(['alice', 'bob']);
    expect(excludedActors(reviewGate, voted, { submitter: 'console:alice' }, { skipVoters: true })).toEqual(['console:alice', 'console:bob', 'discord:1001']);
  });

  it('adds the escalation groups once escalated, and names only them for the escalation itself', () => {
    expect(decidersOf(config.operators, reviewGate, gate(), { submitter: 'api' }).groups).toEqual(['editors']);
    const escalated = decidersOf(config.operators, reviewGate, gate({ escalatedAt: 1 }), { submitter: 'api' });
    expect(escalated.groups).toEqual(['editors', 'leads']);
    expect(escalated.slack.usergroups).toEqual(['S0ED', 'S0LEAD']);
    expect(escalated.discord.roles).toEqual(['2002', '2005']);
    const only = decidersOf(config.operators, reviewGate, gate({ escalatedAt: 1 }), { submitter: 'api' }, { who: 'escalation' });
    expect(only).toEqual({ groups: ['leads'], slack: { users: ['U0ERIN'], usergroups: ['S0LEAD'] }, discord: { users: ['1005'], roles: ['2005'] }, console: ['erin'] });
  });
});

describe('waitsFor', () => {
  const job = { submitter: 'console:alice' };
  it('is true for an approver who has not voted, false for the submitter, a voter, an outsider and a decided gate', () => {
    expect(waitsFor(who('bob'), reviewGate, gate(), job)).toBe(true);
    expect(waitsFor(who('alice'), reviewGate, gate(), job)).toBe(false);
    expect(waitsFor(who('alice'), selfGate, gate(), job)).toBe(true);
    expect(waitsFor(who('bob'), reviewGate, gate({ votes: [vote('console:bob')] }), job)).toBe(false);
    expect(waitsFor(who('dave'), reviewGate, gate(), job)).toBe(false);
    expect(waitsFor(who('bob'), reviewGate, gate({ state: 'approved' }), job)).toBe(false);
  });
  it('includes the escalation group only after escalation', () => {
    expect(waitsFor(who('erin'), reviewGate, gate(), job)).toBe(false);
    expect(waitsFor(who('erin'), reviewGate, gate({ escalatedAt: 5 }), job)).toBe(true);
  });
});

describe('escalation in the state machine', () => {
  function run() {
    const clock = new FakeClock();
    let agg: JobAggregate = createJob({ id: 3, pipeline: 'p', def, brief: 'b', params: {}, submitter: 'console:alice', origin: { surface: 'console' }, targets: [] }, clock.now()).agg;
    const events: { event: string; data: Record<string, unknown> }[] = [];
    const send = (input: JobInput): Reply | undefined => {
      const r = transition(agg, input, clock.now());
      agg = r.agg;
      for (const e of r.effects) if (e.type === 'event') events.push({ event: e.event, data: e.data });
      return r.reply;
    };
    send({ type: 'start' });
    const runNo = agg.stages[0]!.run;
    send({ type: 'stage.succeeded', stage: 'review', run: runNo, artifacts: [] });
    return { clock, send, events, gate: () => agg.gates.at(-1)! };
  }

  it('refuses the escalation group before escalate_after, escalates on time, then accepts their decision', () => {
    const r = run();
    expect(r.gate().escalateAt).toBe(r.clock.now() + 2 * 3600_000);
    const early = r.send({ type: 'vote', actor: who('erin'), stage: 'review', vote: 'approve' });
    expect(early).toMatchObject({ ok: false, code: 'not_authorised' });
    expect(early?.message).toContain('once it escalates');
    r.clock.advance(2 * 3600_000 - 1);
    r.send({ type: 'tick' });
    expect(r.events.map((e) => e.event)).not.toContain('gate.escalated');
    r.clock.advance(1);
    r.send({ type: 'tick' });
    expect(r.events.find((e) => e.event === 'gate.escalated')?.data).toMatchObject({ stage: 'review', round: 1, escalate_to: ['leads'] });
    expect(r.gate()).toMatchObject({ escalateAt: null, escalatedAt: r.clock.now(), state: 'pending' });
    r.send({ type: 'tick' });
    expect(r.events.filter((e) => e.event === 'gate.escalated')).toHaveLength(1);
    expect(r.send({ type: 'vote', actor: who('erin'), stage: 'review', vote: 'approve' })).toMatchObject({ ok: true });
    expect(r.gate().state).toBe('approved');
  });

  it('does not escalate a gate decided before its time', () => {
    const r = run();
    r.send({ type: 'vote', actor: who('bob'), stage: 'review', vote: 'approve' });
    expect(r.gate().escalateAt).toBeNull();
    r.clock.advance(3 * 3600_000);
    r.send({ type: 'tick' });
    expect(r.events.map((e) => e.event)).not.toContain('gate.escalated');
  });
});

describe('configuration', () => {
  it('defaults notify to mention and checks escalation keys', () => {
    expect(def.stages[1]!.gate!.notify).toBe('mention');
    expect(reviewGate.notify).toBe('both');
    expect(() => configFrom(`operators: { a: { console: [x] } }
pipelines: { p: { stages: [{ id: s, run: { builtin: outline }, gate: { approvers: [a], escalate_after: 1h } }] } }`)).toThrow(/escalate_to/);
    expect(() => configFrom(`operators: { a: { console: [x] } }
pipelines: { p: { stages: [{ id: s, run: { builtin: outline }, gate: { approvers: [a], escalate_after: 1h, escalate_to: [nobody] } }] } }`)).toThrow(/unknown operator group "nobody"/);
    expect(() => configFrom(`operators: { a: { console: [x] } }
pipelines: { p: { stages: [{ id: s, run: { builtin: outline }, gate: { approvers: [a], notify: shout } }] } }`)).toThrow(/notify/);
    const per = configFrom(`operators: { a: { console: [x] } }
channels: { slack: C0GLOBAL }
pipelines: { p: { channels: { slack: C0DEPLOY }, stages: [{ id: s, run: { builtin: outline } }] } }`);
    expect(per.pipelines.p!.channels).toEqual({ slack: 'C0DEPLOY' });
  });
});
