/**
 * The renderings that reach deciders, as values: the ping of each event kind, Slack's and
 * Discord's mention markup (only configured ids of the right shape become mentions), and the
 * pending list's links and buttons.
 */
import { describe, expect, it } from 'vitest';
import { pingMessage, discordMentions, pendingReply } from '../../src/bot/discord/reach-render.js';
import { homeView, pendingBlocks, pingBlocks, slackMentions } from '../../src/bot/slack/reach-blocks.js';
import { pingFor } from '../../src/bot/views/ping.js';
import type { PendingItem } from '../../src/bot/views/pending.js';
import { createJob } from '../../src/orchestrator/create-job.js';
import { transition } from '../../src/orchestrator/transition.js';
import type { JobAggregate } from '../../src/orchestrator/types.js';
import type { StoredEvent } from '../../src/store/store.js';
import { configFrom, FakeClock } from '../helpers/fixtures.js';

const config = configFrom(`
operators:
  editors: { slack: [U0ALICE, U0BOB, "U0X><!channel"], slack_usergroups: [S0ED, "S1|x"], discord: ["1001", "1002", "<@&9>"], discord_roles: ["2002"], console: [alice] }
  leads: { slack: [U0ERIN], discord: ["1005"] }
pipelines:
  p:
    stages:
      - id: review
        name: Review
        run: { builtin: script }
        gate: { approvers: [editors], min_approvals: 2, notify: both, timeout: 4h, escalate_after: 1h, escalate_to: [leads] }
`);

/** A job at its open gate, and the events that happened, as stored events. */
function atGate(): { agg: JobAggregate; events: StoredEvent[]; clock: FakeClock; send: (input: Parameters<typeof transition>[1]) => void } {
  const clock = new FakeClock();
  let agg = createJob({ id: 4, pipeline: 'p', def: config.pipelines.p!, brief: '<!channel> @everyone', params: {}, submitter: 'slack:U0ALICE', origin: { surface: 'slack' }, targets: [] }, clock.now()).agg;
  const events: StoredEvent[] = [];
  const send = (input: Parameters<typeof transition>[1]) => {
    const r = transition(agg, input, clock.now());
    agg = r.agg;
    for (const e of r.effects) if (e.type === 'event') events.push({ id: events.length + 1, job: 4, seq: events.length + 1, type: e.event, at: clock.now(), data: e.data });
  };
  send({ type: 'start' });
  send({ type: 'stage.succeeded', stage: 'review', run: agg.stages[0]!.run, summary: 'Script <!here> @everyone', artifacts: [] });
  return { get agg() { return agg; }, events, clock, send };
}

describe('pings', () => {
  it('opening: mentions the approvers but the submitter, only ids of a valid shape, on both platforms', () => {
    const j = atGate();
    const ping = pingFor(j.events.find((e) => e.type === 'gate.opened')!, j.agg, config.operators)!;
    expect(ping).toMatchObject({ icon: '🔔', text: 'Review of job 4 needs your decision:', dmCard: true, dmExclude: ['slack:U0ALICE'] });
    expect(slackMentions(ping.mention!)).toEqual(['<@U0BOB>', '<!subteam^S0ED>']);
    const slack = pingBlocks(ping)!;
    expect(slack.text).toBe('🔔 Review of job 4 needs your decision: <@U0BOB> <!subteam^S0ED>');
    expect(slack.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: slack.text, verbatim: true } }]);
    expect(pingMessage(ping)).toEqual({ content: '🔔 Review of job 4 needs your decision: <@1001> <@1002> <@&2002>', allowed_mentions: { parse: [], users: ['1001', '1002'], roles: ['2002'] } });
  });

  it('escalation: only the escalation group; reminders: only those who have not voted', () => {
    const j = atGate();
    j.send({ type: 'vote', actor: { id: 'discord:1001', display: 'd1', groups: ['editors'], admin: false }, stage: 'review', vote: 'approve' });
    j.clock.advance(3_600_000);
    j.send({ type: 'tick' });
    const esc = pingFor(j.events.find((e) => e.type === 'gate.escalated')!, j.agg, config.operators)!;
    expect(pingBlocks(esc)!.text).toBe('📣 Escalated: Review of job 4 got no decision in 1h; leads may decide it now too. <@U0ERIN>');
    expect(pingMessage(esc)!.allowed_mentions).toEqual({ parse: [], users: ['1005'], roles: [] });
    j.clock.advance(2 * 3_600_000);
    j.send({ type: 'tick' });
    const reminder = pingFor(j.events.find((e) => e.type === 'gate.reminded')!, j.agg, config.operators)!;
    // Discord user 1001 voted; the role is still pinged whole; after the escalation, leads are deciders too.
    expect(pingMessage(reminder)!.allowed_mentions).toEqual({ parse: [], users: ['1002', '1005'], roles: ['2002'] });
    expect(reminder.dmCard).toBe(false);
  });

  it('with notify: dm, Discord still pings roles in the thread (their members cannot be DMed)', () => {
    const j = atGate();
    const ping = pingFor(j.events.find((e) => e.type === 'gate.opened')!, j.agg, config.operators)!;
    const dmOnly = { ...ping, mention: null };
    expect(pingBlocks(dmOnly)).toBeNull();
    expect(pingMessage(dmOnly)).toEqual({ content: '🔔 Review of job 4 needs your decision: <@&2002>', allowed_mentions: { parse: [], users: [], roles: ['2002'] } });
    expect(discordMentions({ discord: { users: ['1', 'x'], roles: ['<@&1>'] } })).toEqual({ markup: ['<@1>'], allowed: { parse: [], users: ['1'], roles: [] } });
  });
});

describe('what waits for me', () => {
  const item: PendingItem = { jobId: 3, pipeline: 'deploy', stage: 'build', stageName: 'Build <!channel>', round: 2, required: true, openedAt: 0, deadlineAt: 7_200_000, deadlineKind: 'timeout', escalated: true };
  it('Slack: escaped lines, permalinks only of a safe shape, Approve/Reject carrying the gate round', () => {
    const links = new Map([['3:build:2', 'https://x.slack.com/archives/C1/p1']]);
    const m = pendingBlocks([item], 3_600_000, links);
    expect(m.text).toBe('1 gate waits for you (oldest first)');
    expect(JSON.stringify(m.blocks)).toContain('<https://x.slack.com/archives/C1/p1|#3 deploy · Build &lt;!channel&gt; (round 2) · waiting 1h · times out in 1h · escalated>');
    const actions = m.blocks.find((b) => b.type === 'actions') as { elements: { value: string; action_id: string }[] };
    expect(actions.elements.map((e) => [e.action_id, e.value])).toEqual([
      ['signoff_gate_approve', '{"j":3,"s":"build","r":2}'],
      ['signoff_gate_reject', '{"j":3,"s":"build","r":2}'],
    ]);
    expect(JSON.stringify(pendingBlocks([item], 0, new Map([['3:build:2', 'javascript:x|y>']])).blocks)).not.toContain('javascript');
    expect(homeView([], 0, new Map()).blocks[0]).toMatchObject({ type: 'header', text: { text: 'Nothing waits for you' } });
  });
  it('Discord: a jump link per line, buttons for the oldest five, no pings', () => {
    const r = pendingReply(Array.from({ length: 7 }, (_, i) => ({ ...item, jobId: i + 1 })), 3_600_000, new Map([['1:build:2', 'https://discord.com/channels/1/2/3']]));
    // `<!channel>` means nothing to Discord; it is shown as typed.
    expect(r.content.split('\n')[1]).toBe('1. #1 deploy · Build <!channel> (round 2) · waiting 1h · times out in 1h · escalated — https://discord.com/channels/1/2/3');
    expect(r.components).toHaveLength(5);
    expect(r.allowed_mentions).toEqual({ parse: [] });
  });
});
