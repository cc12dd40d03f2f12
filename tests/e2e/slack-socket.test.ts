/**
 * signoff in Slack's Socket Mode, end to end: the real @slack/bolt socket client connects to the
 * fake Slack's WebSocket (SLACK_APP_TOKEN set, no signing secret), receives envelopes and acks
 * them; the Web API calls it makes in return are what a Slack user would see.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSlack } from '../helpers/fake-slack.js';
import { FakeClock } from '../helpers/fixtures.js';
import {
  ALICE,
  APP_TOKEN,
  BOB,
  CAROL,
  CHANNEL,
  actionsBlock,
  asPosted,
  blockText,
  buttons,
  clickPayload,
  drained,
  gateCards,
  responsesTo,
  rootOf,
  snapshot,
  startSlackApp,
  threadLog,
  waitForGateCard,
  type PostedCard,
  type SlackHarness,
} from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeSlack;
let clock: FakeClock;
let h: SlackHarness;

beforeEach(async () => {
  fake = await FakeSlack.start();
  fake.usergroups.set('S0DIR', [CAROL]);
  clock = new FakeClock(Date.now());
  h = await startSlackApp({ fake, mode: 'socket', clock });
  await fake.socketConnected();
});

afterEach(async () => {
  // The app first: a Socket Mode client whose server vanished would try to reconnect.
  await h.stop();
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

/** `/signoff <text>` as a slash_commands envelope; resolves with the ack and the private answer. */
async function command(user: string, text: string) {
  const payload = fake.slashCommand({ user_id: user, channel_id: CHANNEL, text });
  const started = Date.now();
  const ack = await fake.sendEnvelope('slash_commands', payload);
  const ms = Date.now() - started;
  const answer = await waitFor(() => responsesTo(fake, payload.response_url!)[0], `the answer to "/signoff ${text}"`);
  return { ack, ms, answer, job: Number(/Job (\d+)/.exec(answer.text)?.[1] ?? NaN) };
}

/** A button click as an interactive envelope. */
function click(card: PostedCard, label: string, user: string) {
  const button = buttons(card.blocks)[label];
  if (!button) throw new Error(`no ${label} button on the card`);
  const payload = clickPayload(fake, card, button, user);
  return { payload, ack: fake.sendEnvelope('interactive', payload) };
}

async function autoApproveOutline(job: number) {
  await waitForGateCard(fake, job, 'outline');
  clock.advance(30_001);
  await h.app.engine.tick();
  await waitFor(async () => (await h.app.store.jobs.load(job))!.gates.find((g) => g.stage === 'outline')?.state === 'approved', 'the outline gate to auto-approve');
}

const gate = async (job: number, stage: string) => (await h.app.store.jobs.load(job))!.gates.find((g) => g.stage === stage)!;
const cardNow = (job: number, stage: string) => gateCards(fake, job, stage)[0]!.message;

describe('Slack over Socket Mode', () => {
  it('connects with the app token; a slash command envelope is acked at once and the job runs', async () => {
    expect(fake.callsTo('apps.connections.open')).toEqual([expect.objectContaining({ token: APP_TOKEN })]);
    const { ack, ms, answer, job } = await command(ALICE, 'submit quick Bees over a socket');
    expect(ack).toEqual({ envelope_id: expect.any(String), payload: {} });
    expect(ms).toBeLessThan(1500);
    expect(answer.body).toMatchObject({ response_type: 'ephemeral', text: 'Job 1 (quick) started.' });
    expect(job).toBe(1);

    const root = await waitFor(() => rootOf(fake, 1), 'the root message');
    const card = await waitForGateCard(fake, 1, 'outline');
    await drained(h.app, 1);
    expect(root.message).toMatchObject({ channel: CHANNEL, thread_ts: undefined });
    expect(blockText(root.message.blocks)).toContain('Awaiting approval of outline');
    expect(card.message.thread_ts).toBe(root.message.ts);
    expect(threadLog(fake, CHANNEL, root.message.ts)).toEqual([expect.stringMatching(/^upload ✅ outline done .*\[outline: outline\.md\]$/), expect.stringMatching(/^card gate:1:outline:1 — waiting for <@U0[A-Z]+>$/)]);
    expect(fake.uploads.map((u) => [u.filename, u.channel, u.threadTs])).toEqual([['outline.md', CHANNEL, root.message.ts]]);
  });

  it('a command envelope is stored and acked before it is carried out: a hanging user-group lookup does not delay the ack', async () => {
    // The first interaction of this app: who ALICE is needs Slack's user groups, which hang.
    fake.failNext('usergroups.users.list', { hangMs: 2_500 }, 1);
    const { ack, ms, answer, job } = await command(ALICE, 'submit quick Acked before the lookup');
    expect(ack).toEqual({ envelope_id: expect.any(String), payload: {} });
    expect(ms, 'acked without waiting for the lookup (bounded at 1.5 s)').toBeLessThan(1_000);
    expect(answer.body).toMatchObject({ response_type: 'ephemeral', text: `Job ${job} (quick) started.` });
    expect((await h.app.store.inbox.pending()), 'carried out, nothing left stored').toEqual([]);
  });

  it('a button envelope approves the gate; the card is edited to its outcome', async () => {
    const { job } = await command(ALICE, 'submit quick Buttons over a socket');
    await autoApproveOutline(job);
    const card = asPosted(await waitForGateCard(fake, job, 'script'));
    const { ack } = click(card, 'Approve', BOB);
    expect(await ack).toEqual({ envelope_id: expect.any(String), payload: {} });
    await waitFor(async () => (await gate(job, 'script')).state === 'approved', 'the script gate to be approved');
    await waitForGateCard(fake, job, 'storyboard');
    await drained(h.app, job);
    const now = cardNow(job, 'script');
    expect(now.ts).toBe(card.ts);
    expect(actionsBlock(now.blocks)).toBeUndefined();
    expect(blockText(now.blocks)).toContain('*Approved by u0bob*');
    expect(blockText(rootOf(fake, job)!.message.blocks)).toContain('Awaiting approval of storyboard');
  });

  it('a view_submission envelope rejects with a reason; an empty reason is answered with errors in the ack', async () => {
    const { job } = await command(ALICE, 'submit quick Rejections over a socket');
    await autoApproveOutline(job);
    const card = asPosted(await waitForGateCard(fake, job, 'script'));
    await drained(h.app, job);

    const reject = click(card, 'Reject', BOB);
    await reject.ack;
    const opened = await waitFor(() => fake.views.find((v) => v.method === 'views.open'), 'the reject dialog');
    expect(opened).toMatchObject({ trigger_id: reject.payload.trigger_id, view: { callback_id: 'signoff_reject' } });

    const before = (await snapshot(h.app, fake, job));
    const empty = await fake.sendEnvelope('interactive', fake.viewSubmission({ user: BOB, callback_id: 'signoff_reject', values: { reason: { reason: { type: 'plain_text_input', value: null } } } }));
    expect(empty.payload).toEqual({ response_action: 'errors', errors: { reason: expect.stringMatching(/reason/i) } });
    expect((await snapshot(h.app, fake, job))).toEqual(before);

    const given = await fake.sendEnvelope('interactive', fake.viewSubmission({ user: BOB, callback_id: 'signoff_reject', values: { reason: { reason: { type: 'plain_text_input', value: 'Needs a stronger ending' } } } }));
    expect(given.payload).toEqual({});
    await waitFor(async () => (await h.app.store.jobs.load(job))!.job.state === 'rejected', 'the job to be rejected');
    await drained(h.app, job);
    expect((await gate(job, 'script'))).toMatchObject({ state: 'rejected', decidedBy: 'u0bob', reason: 'Needs a stronger ending' });
    const now = cardNow(job, 'script');
    expect(now.ts).toBe(card.ts);
    expect(actionsBlock(now.blocks)).toBeUndefined();
    expect(blockText(now.blocks)).toContain('*Rejected by u0bob*');
    expect(blockText(now.blocks)).toContain('“Needs a stronger ending”');
    expect(blockText(rootOf(fake, job)!.message.blocks)).toMatch(/Rejected/);
  });

  it('reconnects after Slack asks it to, and a later command still works', async () => {
    await command(ALICE, 'submit quick Before the disconnect');
    await fake.disconnectSocket();
    await fake.socketConnected({ count: 2 });
    expect(fake.callsTo('apps.connections.open')).toHaveLength(2);

    const after = await command(BOB, 'submit quick After the reconnect');
    expect(after.ack.payload).toEqual({});
    expect(after.answer.text).toBe('Job 2 (quick) started.');
    const root = await waitFor(() => rootOf(fake, 2), 'the root message of job 2');
    expect(root.message).toMatchObject({ channel: CHANNEL, thread_ts: undefined });
    await waitForGateCard(fake, 2, 'outline');
    await drained(h.app, 2);
    expect(blockText(root.message.blocks)).toContain('submitted by <@U0BOB>');
  });
});
