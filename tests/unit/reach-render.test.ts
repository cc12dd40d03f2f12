/**
 * The renderings that reach deciders, as values: the mentions on an open gate's card and the
 * ping of each event kind, Slack's and Discord's mention markup (only configured ids of the
 * right shape become mentions), and the pending list's links and buttons.
 */
import { describe, expect, it } from 'vitest';
import { cardWithMentions as discordCard, pingMessage, discordMentions, pendingReply } from '../../src/bot/discord/reach-render.js';
import { gateMessage } from '../../src/bot/discord/render.js';
import { gateBlocks, SLACK_LIMITS } from '../../src/bot/slack/blocks.js';
import { cardWithMentions as slackCard, homeView, pendingBlocks, pingBlocks, slackMentions } from '../../src/bot/slack/reach-blocks.js';
import { gateCardView } from '../../src/bot/views/gate-card.js';
import { cardReachFor, pingFor } from '../../src/bot/views/ping.js';
import type { Config } from '../../src/config/schema.js';
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

/** The aggregate with the gate's `notify` changed. */
function withNotify(agg: JobAggregate, notify: 'mention' | 'dm' | 'both' | 'none'): JobAggregate {
  const stages = agg.job.def.stages.map((st) => (st.gate ? { ...st, gate: { ...st.gate, notify } } : st));
  return { ...agg, job: { ...agg.job, def: { ...agg.job.def, stages } } };
}

describe('the gate card mentions its deciders', () => {
  const gateOf = (agg: JobAggregate) => agg.gates.find((g) => g.stage === 'review')!;

  it('Slack: a line under the header and the same mentions in `text`; the submitter and ids of a bad shape are left out', () => {
    const j = atGate();
    const plain = gateBlocks(gateCardView(j.agg, gateOf(j.agg), []));
    const card = slackCard(plain, cardReachFor(j.agg, gateOf(j.agg), config.operators));
    expect(card.text).toBe('✋ Approval needed: Review of job 4 — waiting for <@U0BOB> <!subteam^S0ED>');
    expect(card.blocks).toEqual([plain.blocks[0], { type: 'section', text: { type: 'mrkdwn', text: '🔔 Waiting for <@U0BOB> <!subteam^S0ED>', verbatim: true } }, ...plain.blocks.slice(1)]);
    // The stage's summary, typed by someone, stays inert on the card.
    expect(JSON.stringify(card.blocks)).toContain('Script &lt;!here&gt; @everyone');
    expect(JSON.stringify(card)).not.toContain('<!here>');
  });

  it('Discord: the mentions in content, allowed_mentions naming exactly those users and roles', () => {
    const j = atGate();
    const plain = gateMessage(gateCardView(j.agg, gateOf(j.agg), []));
    const card = discordCard(plain, cardReachFor(j.agg, gateOf(j.agg), config.operators));
    expect(card.content).toBe('✋ Approval needed: Review of job 4 — waiting for <@1001> <@1002> <@&2002>');
    expect(card.allowed_mentions).toEqual({ parse: [], users: ['1001', '1002'], roles: ['2002'] });
    expect({ ...card, content: plain.content, allowed_mentions: plain.allowed_mentions }).toEqual(plain);
  });

  it('the opening posts no reply of its own: the card notifies; the DMs still go', () => {
    const j = atGate();
    const ping = pingFor(j.events.find((e) => e.type === 'gate.opened')!, j.agg, config.operators)!;
    expect(ping).toMatchObject({ thread: false, dmCard: true, dmExclude: ['slack:U0ALICE'] });
    expect(slackMentions(ping.dm!)).toEqual(['<@U0BOB>', '<!subteam^S0ED>']);
    expect(pingBlocks(ping)).toBeNull();
    expect(pingMessage(ping)).toBeNull();
  });

  it('decided: the edited card shows its outcome and no longer says whom it waits for', () => {
    const j = atGate();
    for (const id of ['slack:U0BOB', 'discord:1002']) j.send({ type: 'vote', actor: { id, display: id, groups: ['editors'], admin: false }, stage: 'review', vote: 'approve' });
    const gate = gateOf(j.agg);
    expect(gate.state).toBe('approved');
    expect(cardReachFor(j.agg, gate, config.operators)).toBeNull();
    const slack = slackCard(gateBlocks(gateCardView(j.agg, gate, [])), null);
    expect(slack.text).toBe('✅ Approval needed: Review of job 4 — Approved by slack:U0BOB, discord:1002');
    expect(JSON.stringify(slack)).not.toMatch(/[Ww]aiting for|<@|subteam/);
    const discord = discordCard(gateMessage(gateCardView(j.agg, gate, [])), null);
    expect(discord.content).toBe('✅ Approval needed: Review of job 4 — Approved by slack:U0BOB, discord:1002');
    expect(discord.allowed_mentions).toEqual({ parse: [] });
  });

  it('notify: dm mentions nobody on Slack and only the roles on Discord (unless roles are expanded to DMs); none mentions nobody', () => {
    const j = atGate();
    const dm = withNotify(j.agg, 'dm');
    const reach = cardReachFor(dm, gateOf(dm), config.operators)!;
    expect(reach.mention).toBeNull();
    const slackPlain = gateBlocks(gateCardView(dm, gateOf(dm), []));
    expect(slackCard(slackPlain, reach)).toEqual(slackPlain);
    const plain = gateMessage(gateCardView(dm, gateOf(dm), []));
    expect(discordCard(plain, reach)).toMatchObject({ content: '✋ Approval needed: Review of job 4 — waiting for <@&2002>', allowed_mentions: { parse: [], users: [], roles: ['2002'] } });
    expect(discordCard(plain, reach, true)).toEqual(plain);
    const none = withNotify(j.agg, 'none');
    expect(cardReachFor(none, gateOf(none), config.operators)).toBeNull();
    const mention = withNotify(j.agg, 'mention');
    expect(cardReachFor(mention, gateOf(mention), config.operators)).toMatchObject({ dm: null, mention: { groups: ['editors'] } });
  });

  it('Slack: a card already at 50 blocks stays at 50, keeping its header, the mention line and its buttons', () => {
    const j = atGate();
    const plain = gateBlocks(gateCardView(j.agg, gateOf(j.agg), []));
    const actions = plain.blocks.at(-1)!;
    expect(actions.type).toBe('actions');
    const filler = Array.from({ length: SLACK_LIMITS.blocks - 2 }, (_, i) => ({ type: 'section' as const, text: { type: 'mrkdwn' as const, text: `part ${i}` } }));
    const full = { text: plain.text, blocks: [plain.blocks[0]!, ...filler, actions] };
    const card = slackCard(full, cardReachFor(j.agg, gateOf(j.agg), config.operators));
    expect(card.blocks).toHaveLength(SLACK_LIMITS.blocks);
    expect(card.blocks[0]).toEqual(plain.blocks[0]);
    expect(card.blocks[1]).toMatchObject({ text: { text: '🔔 Waiting for <@U0BOB> <!subteam^S0ED>' } });
    expect(card.blocks.at(-1)).toEqual(actions);
    expect(card.blocks.at(-2)).toEqual(filler.at(-2));
  });

  it('many deciders: whole mentions within the limits, and only the ids shown are allowed to ping', () => {
    const big = configFrom(`
operators:
  crowd: { slack: [${Array.from({ length: 250 }, (_, i) => `U0${String(i).padStart(12, '0')}`).join(', ')}], discord: [${Array.from({ length: 150 }, (_, i) => `"10000000000${String(i).padStart(5, "0")}"`).join(', ')}], discord_roles: [${Array.from({ length: 120 }, (_, i) => `"20000000000${String(i).padStart(5, "0")}"`).join(', ')}] }
pipelines:
  p:
    stages:
      - id: review
        run: { builtin: script }
        gate: { approvers: [crowd] }
`) as Config;
    const clock = new FakeClock();
    let agg = createJob({ id: 5, pipeline: 'p', def: big.pipelines.p!, brief: 'b', params: {}, submitter: 'console:x', origin: { surface: 'console' }, targets: [] }, clock.now()).agg;
    agg = transition(agg, { type: 'start' }, clock.now()).agg;
    agg = transition(agg, { type: 'stage.succeeded', stage: 'review', run: agg.stages[0]!.run, summary: 's', artifacts: [] }, clock.now()).agg;
    const gate = agg.gates[0]!;
    const reach = cardReachFor(agg, gate, big.operators);
    const slack = slackCard(gateBlocks(gateCardView(agg, gate, [])), reach);
    const line = (slack.blocks[1] as { text: { text: string } }).text.text;
    expect(line.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    expect(line).toMatch(/^🔔 Waiting for (<@U0\d{12}> )+and \d+ more$/);
    const discord = discordCard(gateMessage(gateCardView(agg, gate, [])), reach);
    expect(discord.content.length).toBeLessThanOrEqual(2000);
    const shown = { users: [...discord.content.matchAll(/<@(\d+)>/g)].map((m) => m[1]), roles: [...discord.content.matchAll(/<@&(\d+)>/g)].map((m) => m[1]) };
    expect(discord.allowed_mentions).toEqual({ parse: [], ...shown });
    expect(shown.users.length).toBeGreaterThan(50);
  });
});

describe('pings', () => {
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

  it('with notify: dm, a reminder still pings Discord roles in the thread (their members cannot be DMed)', () => {
    const j = atGate();
    j.clock.advance(3 * 3_600_000);
    j.send({ type: 'tick' });
    const ping = pingFor(j.events.find((e) => e.type === 'gate.reminded')!, j.agg, config.operators)!;
    const dmOnly = { ...ping, mention: null };
    expect(pingBlocks(dmOnly)?.text).toBe(`⏰ ${ping.text}`);
    expect(pingMessage(dmOnly)).toEqual({ content: `⏰ ${ping.text} <@&2002>`, allowed_mentions: { parse: [], users: [], roles: ['2002'] } });
    expect(pingMessage(dmOnly, true)).toEqual({ content: `⏰ ${ping.text}`, allowed_mentions: { parse: [], users: [], roles: [] } });
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
