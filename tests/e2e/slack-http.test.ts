/**
 * signoff in Slack's HTTP mode, end to end: the real @slack/bolt behind signoff's own
 * POST /slack/events (signed requests, as Slack sends them) and the real WebClient talking to the
 * fake Slack. Every assertion is about what a Slack user would notice: the recorded Web API calls
 * and the messages as they are now (channel, thread, blocks, buttons), the private answers that
 * reach response_url, the files in the thread, and the job's state.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSlack } from '../helpers/fake-slack.js';
import { FakeClock } from '../helpers/fixtures.js';
import {
  ALICE,
  BOB,
  CAROL,
  CHANNEL,
  DAVE,
  actionsBlock,
  asPosted,
  blockText,
  buttons,
  clickPayload,
  drained,
  eventTypes,
  gateCards,
  interact,
  responsesTo,
  rootOf,
  rootsOf,
  slash,
  snapshot,
  startSlackApp,
  threadLog,
  waitForGateCard,
  type PostedCard,
  type SlackHarness,
} from '../helpers/slack-harness.js';
import { slackSignature } from '../helpers/slack-signing.js';
import { waitFor } from '../helpers/wait.js';
import { freshDatabase } from '../helpers/postgres.js';
import { STORES, databaseOption } from '../helpers/stores.js';

let fake: FakeSlack;
let clock: FakeClock;
let h: SlackHarness;

beforeEach(async () => {
  fake = await FakeSlack.start();
  fake.usergroups.set('S0DIR', [CAROL]);
  clock = new FakeClock(Date.now());
});

afterEach(async () => {
  await h?.stop();
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

async function start(o: { postsPerSecond?: number; databaseUrl?: string } = {}): Promise<SlackHarness> {
  h = await startSlackApp({ fake, mode: 'http', clock, ...o });
  return h;
}

/** `/signoff <text>` typed by `user`; resolves with the private answer (response_url) and the job it names. */
async function command(user: string, text: string, o: { trigger_id?: string } = {}) {
  const sent = await slash(fake, h.eventsUrl, { user, text, ...o });
  expect(sent.res.status).toBe(200);
  const answer = await waitFor(() => responsesTo(fake, sent.fields.response_url!)[0], `the answer to "/signoff ${text}"`);
  const job = Number(/Job (\d+)/.exec(answer.text)?.[1] ?? NaN);
  return { ...sent, answer, job };
}

/** A click on a card's button; returns the HTTP answer and the response_url the click carried. */
async function click(card: PostedCard, label: string, user: string, extra: { action_ts?: string; value?: string } = {}) {
  const button = buttons(card.blocks)[label];
  if (!button) throw new Error(`no ${label} button on the card (buttons: ${Object.keys(buttons(card.blocks)).join(', ')})`);
  const payload = clickPayload(fake, card, button, user, extra);
  const res = await interact(h.eventsUrl, payload);
  expect(res.status).toBe(200);
  return { res, payload, responseUrl: String(payload.response_url) };
}

/** The private answer a click got. */
function answerTo(responseUrl: string, what: string) {
  return waitFor(() => responsesTo(fake, responseUrl)[0], what);
}

/** Lets the optional outline gate of `job` run out: the fake clock passes its deadline and the timers fire. */
async function autoApproveOutline(job: number) {
  await waitForGateCard(fake, job, 'outline');
  clock.advance(30_001);
  await h.app.engine.tick();
  await waitFor(async () => (await h.app.store.jobs.load(job))!.gates.find((g) => g.stage === 'outline')?.state === 'approved', 'the outline gate to auto-approve');
}

const jobState = async (job: number) => (await h.app.store.jobs.load(job))!.job.state;
const gate = async (job: number, stage: string, round = 1) => (await h.app.store.jobs.load(job))!.gates.find((g) => g.stage === stage && g.round === round)!;

/** A thread as a user reads it, with the counts the builtin stages derive from the brief left out. */
function thread(job: number): string[] {
  return threadLog(fake, CHANNEL, rootOf(fake, job)!.message.ts).map((line) => line.replace(/\d+ (sections|scenes|words|panels)/g, 'N $1'));
}

/** The card as it is now: blocks, no actions once decided, and the outcome line. */
function cardNow(job: number, stage: string, round = 1) {
  const cards = gateCards(fake, job, stage, round);
  expect(cards).toHaveLength(1);
  return cards[0]!.message;
}

describe('Slack over HTTP (signed requests to /slack/events)', () => {
  it('submit: acked at once, answered privately, a root message edited in place, results and the gate card in its thread', async () => {
    await start();
    const sent = await slash(fake, h.eventsUrl, { user: ALICE, text: 'submit quick A film about bees' });
    expect(sent.res).toMatchObject({ status: 200, text: '' });
    expect(sent.ms).toBeLessThan(1500);

    // The private answer goes to the command's response_url, never into the channel.
    const answer = await waitFor(() => responsesTo(fake, sent.fields.response_url!)[0], 'the private answer');
    expect(answer.body).toMatchObject({ response_type: 'ephemeral' });
    expect(answer.text).toBe('Job 1 (quick) started.');

    // The root message: top level in the command's channel, with the status blocks.
    const root = await waitFor(() => rootOf(fake, 1), 'the root message');
    expect(root.message).toMatchObject({ channel: CHANNEL, thread_ts: undefined });
    const first = blockText(root.call.args.blocks as unknown[]);
    expect(first).toContain('Job 1 · quick');
    expect(first).toContain('submitted by <@U0ALICE>');
    expect(first).toContain('*Brief*\nA film about bees');

    // The outline stage's result and the optional gate's card go into the thread.
    const card = await waitForGateCard(fake, 1, 'outline');
    await drained(h.app, 1);
    expect(card.message).toMatchObject({ channel: CHANNEL, thread_ts: root.message.ts });
    expect(blockText(card.message.blocks)).toContain('Optional review: outline of job 1');
    expect(Object.keys(buttons(card.message.blocks))).toEqual(['Approve', 'Approve with note…', 'Reject', 'Hold']);

    // The root was edited (chat.update on its ts), never posted again.
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(fake.callsTo('chat.postMessage').filter((c) => c.args.thread_ts === undefined)).toHaveLength(1);
    const edits = fake.callsTo('chat.update').filter((c) => c.args.ts === root.message.ts);
    expect(edits.length).toBeGreaterThan(0);
    expect(edits.every((c) => c.args.channel === CHANNEL)).toBe(true);
    expect(root.message.updates).toBe(edits.length);
    expect(blockText(root.message.blocks)).toContain('Awaiting approval of outline');

    // The outline artifact was uploaded into the thread, with its real bytes.
    // The card itself mentions the deciders (alice submitted the job, so only bob); no reply of its own.
    expect(thread(1)).toEqual([
      'upload ✅ outline done in 0ms: Outline: N sections [outline: outline.md]',
      'card gate:1:outline:1 — waiting for <@U0BOB>',
    ]);
    const [artifact] = (await h.app.store.artifacts.current(1));
    const upload = fake.uploads.find((u) => u.filename === 'outline.md')!;
    expect(upload).toMatchObject({ channel: CHANNEL, threadTs: root.message.ts, title: 'outline: outline.md' });
    expect(upload.bytes.equals(fs.readFileSync(artifact!.path))).toBe(true);
    expect(createHash('sha256').update(upload.bytes).digest('hex')).toBe(artifact!.sha256);
    expect(upload.bytes.toString('utf8')).toContain('# A film about bees');

    // Through to the end: the root shows the outcome, every reply stayed in the thread.
    await autoApproveOutline(1);
    const script = asPosted(await waitForGateCard(fake, 1, 'script'));
    await click(script, 'Approve', BOB);
    const storyboard = asPosted(await waitForGateCard(fake, 1, 'storyboard'));
    await click(storyboard, 'Approve', BOB);
    await waitFor(async () => (await gate(1, 'storyboard')).votes.length === 1, "bob's vote");
    await click(storyboard, 'Approve', CAROL);
    await waitFor(async () => (await jobState(1)) === 'succeeded', 'the job to succeed');
    await drained(h.app, 1);
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(blockText(rootOf(fake, 1)!.message.blocks)).toMatch(/Succeeded in/);
    expect(thread(1)).toEqual([
      'upload ✅ outline done in 0ms: Outline: N sections [outline: outline.md]',
      'card gate:1:outline:1 — waiting for <@U0BOB>',
      'upload ✅ script done in 0ms: Script: N scenes, N words [script: script.md]',
      'card gate:1:script:1 — waiting for <@U0BOB>',
      'upload ✅ storyboard done in 0ms: Storyboard: N panels [storyboard: storyboard.svg, storyboard: storyboard.svg (preview)]',
      'card gate:1:storyboard:1 — waiting for <@U0BOB> <!subteam^S0DIR>',
      'notice ✅ Job 1 succeeded in 30s. 3 artifacts.',
    ]);
    for (const m of fake.messageList()) expect(m.ts === root.message.ts || m.thread_ts === root.message.ts).toBe(true);
    expect(fake.uploads.every((u) => u.channel === CHANNEL && u.threadTs === root.message.ts)).toBe(true);
  });

  it.each(STORES)('gate buttons (%s): refusals change nothing, an editor approves, a double click counts once, a late click is told, a user-group member approves', async (kind) => {
    await start(kind === 'postgres' ? { databaseUrl: await freshDatabase() } : {});
    const { job } = await command(ALICE, 'submit quick Buttons');
    await autoApproveOutline(job);
    const scriptCard = asPosted(await waitForGateCard(fake, job, 'script'));
    await drained(h.app, job);
    // The buttons are taken from the card as posted: action ids, value and block id.
    const posted = buttons(scriptCard.blocks);
    expect(Object.keys(posted)).toEqual(['Approve', 'Approve with note…', 'Reject']);
    expect(posted.Approve).toMatchObject({ action_id: 'signoff_gate_approve', block_id: `gate:${job}:script:1`, value: JSON.stringify({ j: job, s: 'script', r: 1 }) });

    // dave is in no group: refused privately, nothing changes.
    const before = (await snapshot(h.app, fake, job));
    const byDave = await click(scriptCard, 'Approve', DAVE);
    const daveAnswer = await answerTo(byDave.responseUrl, "dave's refusal");
    expect(daveAnswer.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(daveAnswer.text).toBe('You may not decide the "script" gate: it needs a member of editors. Ask one of them.');
    // alice submitted the job, and the script gate needs someone else.
    const byAlice = await click(scriptCard, 'Approve', ALICE);
    expect((await answerTo(byAlice.responseUrl, "alice's refusal")).text).toBe(`You submitted job ${job}, and the "script" gate needs someone else's approval.`);
    await drained(h.app, job);
    expect((await snapshot(h.app, fake, job))).toEqual(before);
    const api = await h.job(job);
    expect(api).toMatchObject({ state: 'awaiting_approval', stage: 'script' });
    expect(api.gates.find((g: { stage: string }) => g.stage === 'script')).toMatchObject({ state: 'pending', votes: [] });
    expect(cardNow(job, 'script').blocks).toEqual(scriptCard.blocks);
    // The refusals are in the audit, and only there.
    expect((await h.app.store.events.forJob(job)).filter((e) => e.type === 'gate.refused').map((e) => e.data.code)).toEqual(['not_authorised', 'self_approval']);

    // bob edits: approved; the card is edited in place to its outcome, its buttons gone.
    const byBob = await click(scriptCard, 'Approve', BOB);
    await waitFor(async () => (await gate(job, 'script')).state === 'approved', 'the script gate to be approved');
    const storyboardCard = asPosted(await waitForGateCard(fake, job, 'storyboard'));
    await drained(h.app, job);
    const decided = cardNow(job, 'script');
    expect(decided.ts).toBe(scriptCard.ts);
    expect(decided.updates).toBeGreaterThan(0);
    expect(actionsBlock(decided.blocks)).toBeUndefined();
    expect(blockText(decided.blocks)).toContain('*Approved by u0bob*');
    expect(blockText(decided.blocks)).toContain('✅ Approval needed: script of job');
    expect(responsesTo(fake, byBob.responseUrl)).toEqual([]);

    // A late click on the old card: told privately who decided and when; nothing changes.
    const beforeLate = (await snapshot(h.app, fake, job));
    const late = await click(scriptCard, 'Approve', DAVE);
    expect((await answerTo(late.responseUrl, 'the late click answer')).text).toMatch(/^The "script" gate was already approved by u0bob at \d{4}-\d\d-\d\dT[\d:.]+Z; nothing changed\.$/);
    expect((await snapshot(h.app, fake, job))).toEqual(beforeLate);

    // Two approvals needed. bob's double click (the same action_ts twice) is one vote and no answer.
    const actionTs = `${Math.floor(Date.now() / 1000)}.424242`;
    const double = await click(storyboardCard, 'Approve', BOB, { action_ts: actionTs });
    const again = await interact(h.eventsUrl, double.payload);
    expect(again.status).toBe(200);
    await waitFor(async () => (await gate(job, 'storyboard')).votes.length === 1, "bob's vote");
    // A later refused click is answered; by then the duplicate would have been answered too.
    const sentinel = await click(storyboardCard, 'Approve', DAVE);
    await answerTo(sentinel.responseUrl, "dave's refusal on the storyboard gate");
    await drained(h.app, job);
    expect(responsesTo(fake, double.responseUrl)).toEqual([]);
    expect((await eventTypes(h.app, job)).filter((t) => t === 'gate.voted')).toHaveLength(2); // script (bob), storyboard (bob)
    expect((await h.app.store.events.forJob(job)).filter((e) => e.type === 'gate.refused' && e.data.stage === 'storyboard').map((e) => e.data.code)).toEqual(['not_authorised']);
    expect((await gate(job, 'storyboard'))).toMatchObject({ state: 'pending', votes: [expect.objectContaining({ actor: `slack:${BOB}`, vote: 'approve' })] });
    const half = cardNow(job, 'storyboard');
    expect(blockText(half.blocks)).toContain('*Approvals:* 1 of 2 (u0bob)');
    expect(actionsBlock(half.blocks)).toBeDefined();

    // carol is a director only through the S0DIR user group, read from Slack.
    const byCarol = await click(storyboardCard, 'Approve', CAROL);
    await waitFor(async () => (await jobState(job)) === 'succeeded', 'the job to succeed');
    await drained(h.app, job);
    expect(fake.callsTo('usergroups.users.list').map((c) => c.args.usergroup)).toContain('S0DIR');
    expect(responsesTo(fake, byCarol.responseUrl)).toEqual([]);
    const done = cardNow(job, 'storyboard');
    expect(actionsBlock(done.blocks)).toBeUndefined();
    expect(blockText(done.blocks)).toContain('*Approvals:* 2 of 2 (u0bob, u0carol)');
    expect(blockText(done.blocks)).toContain('*Approved by u0bob, u0carol*');
    expect((await h.job(job)).gates.map((g: { stage: string; state: string }) => `${g.stage}:${g.state}`)).toEqual(['outline:approved', 'script:approved', 'storyboard:approved']);
  });

  it.each(STORES)('reject through the modal (%s): a reason is required, the job is rejected, retry opens round 2 and the old card is refused', async (kind) => {
    await start(await databaseOption(kind));
    const { job } = await command(ALICE, 'submit quick Rejections');
    await autoApproveOutline(job);
    const card = asPosted(await waitForGateCard(fake, job, 'script'));
    await drained(h.app, job);

    // Reject opens the reason dialog with the click's trigger_id.
    const reject = await click(card, 'Reject', BOB);
    const opened = await waitFor(() => fake.views.find((v) => v.method === 'views.open'), 'the reject dialog');
    expect(opened.trigger_id).toBe(reject.payload.trigger_id);
    expect(opened.view).toMatchObject({ type: 'modal', callback_id: 'signoff_reject' });
    expect(JSON.parse(String(opened.view.private_metadata))).toMatchObject({ job, stage: 'script', round: 1, channel: CHANNEL });
    expect(blockText(opened.view.blocks as unknown[])).toContain('Rejecting *script* of job');
    expect((opened.view.blocks as { type: string; block_id?: string }[]).find((b) => b.type === 'input')?.block_id).toBe('reason');
    expect((await gate(job, 'script')).state).toBe('pending');

    // An empty reason: Slack shows the error next to the field; nothing changes.
    const before = (await snapshot(h.app, fake, job));
    const empty = await interact(h.eventsUrl, fake.viewSubmission({ user: BOB, callback_id: 'signoff_reject', values: { reason: { reason: { type: 'plain_text_input', value: '   ' } } } }));
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({ response_action: 'errors', errors: { reason: expect.stringMatching(/reason/i) } });
    expect((await snapshot(h.app, fake, job))).toEqual(before);

    // With a reason: the gate and the job are rejected; the card shows who, why, no buttons.
    const given = await interact(h.eventsUrl, fake.viewSubmission({ user: BOB, callback_id: 'signoff_reject', values: { reason: { reason: { type: 'plain_text_input', value: 'Too long, cut it' } } } }));
    expect(given).toMatchObject({ status: 200, text: '' });
    await waitFor(async () => (await jobState(job)) === 'rejected', 'the job to be rejected');
    await drained(h.app, job);
    expect((await gate(job, 'script'))).toMatchObject({ state: 'rejected', decidedBy: 'u0bob', reason: 'Too long, cut it' });
    const rejected = cardNow(job, 'script');
    expect(rejected.ts).toBe(card.ts);
    expect(actionsBlock(rejected.blocks)).toBeUndefined();
    expect(blockText(rejected.blocks)).toContain('*Rejected by u0bob*');
    expect(blockText(rejected.blocks)).toContain('“Too long, cut it”');
    const rootTs = rootOf(fake, job)!.message.ts;
    expect(threadLog(fake, CHANNEL, rootTs)).toContain('notice 🚫 script rejected by u0bob: Too long, cut it');
    expect(blockText(rootOf(fake, job)!.message.blocks)).toMatch(/Rejected/);

    // /signoff retry: the gate opens again as round 2, on a new card that says why.
    const retried = await command(ALICE, `retry ${job}`);
    expect(retried.answer.text).toBe(`Job ${job} queued again from "script" with the rejection reason.`);
    const round2 = asPosted(await waitForGateCard(fake, job, 'script', 2));
    await drained(h.app, job);
    expect(round2.thread_ts).toBe(rootTs);
    expect(blockText(round2.blocks)).toContain(`Approval needed: script of job ${job} (round 2)`);
    expect(blockText(round2.blocks)).toContain('*Redo asked for:* Too long, cut it');
    expect(gateCards(fake, job, 'script', 1)).toHaveLength(1);

    // A click on the round-1 card speaks for round 1 only: refused as decided; round 2 stays open.
    const beforeOld = (await snapshot(h.app, fake, job));
    const old = await click(card, 'Approve', BOB);
    expect((await answerTo(old.responseUrl, 'the answer to the old card')).text).toMatch(/^The "script" gate was already rejected by u0bob at .+; nothing changed\.$/);
    // Reject on the old card is answered at once, without asking for a reason first.
    const views = fake.views.length;
    const oldReject = await click(card, 'Reject', BOB);
    expect((await answerTo(oldReject.responseUrl, 'the answer to Reject on the old card')).text).toMatch(/^The "script" gate was already rejected by u0bob at .+; nothing changed\.$/);
    expect(fake.views).toHaveLength(views);
    expect((await snapshot(h.app, fake, job))).toEqual(beforeOld);
    expect((await gate(job, 'script', 2))).toMatchObject({ state: 'pending', votes: [] });

    // The round-2 card works.
    await click(round2, 'Approve', BOB);
    await waitFor(async () => (await gate(job, 'script', 2)).state === 'approved', 'round 2 to be approved');
    await drained(h.app, job);
    expect(actionsBlock(cardNow(job, 'script', 2).blocks)).toBeUndefined();
    expect(blockText(cardNow(job, 'script', 2).blocks)).toContain('*Approved by u0bob*');
  });

  it('the optional gate approves itself when its time runs out, and its card says so', async () => {
    await start();
    const { job } = await command(ALICE, 'submit quick Timers');
    const card = asPosted(await waitForGateCard(fake, job, 'outline'));
    await drained(h.app, job);
    expect(blockText(card.blocks)).toContain('Approves itself in 30s unless someone decides or holds it.');
    expect(blockText(card.blocks)).toContain('*Auto-approves*');

    // Not yet due: a tick changes nothing.
    clock.advance(29_000);
    await h.app.engine.tick();
    expect((await gate(job, 'outline')).state).toBe('pending');

    clock.advance(1_001);
    await h.app.engine.tick();
    await waitFor(async () => (await gate(job, 'outline')).state === 'approved', 'the auto-approval');
    await waitForGateCard(fake, job, 'script');
    await drained(h.app, job);
    const now = cardNow(job, 'outline');
    expect(now.ts).toBe(card.ts);
    expect(actionsBlock(now.blocks)).toBeUndefined();
    expect(blockText(now.blocks)).toContain('*Auto-approved: nobody objected in time*');
    expect(now.text).toMatch(/Auto-approved/);
    expect((await gate(job, 'outline'))).toMatchObject({ decidedBy: 'timer' });
    // The card is the record of the approval: no notice in the thread repeats it.
    expect(threadLog(fake, CHANNEL, rootOf(fake, job)!.message.ts).filter((line) => line.startsWith('notice'))).toEqual([]);
  });

  it('security: forged and stale requests are refused, replays apply once, tampered buttons are refused, user text pings no one', async () => {
    await start();
    const fields = fake.slashCommand({ user_id: ALICE, channel_id: CHANNEL, text: 'submit quick Forged' });
    const body = new URLSearchParams(fields).toString();
    const now = Math.floor(Date.now() / 1000);
    const post = (headers: Record<string, string>) =>
      fetch(h.eventsUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    expect((await post({ 'x-slack-request-timestamp': String(now), 'x-slack-signature': slackSignature('not-the-secret', now, body) })).status).toBe(401);
    expect((await post({ 'x-slack-request-timestamp': String(now), 'x-slack-signature': `v0=${'0'.repeat(64)}` })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    const stale = now - 6 * 60;
    expect((await slash(fake, h.eventsUrl, { user: ALICE, text: 'submit quick Stale' }, { timestamp: stale })).res.status).toBe(401);
    expect((await h.app.store.queries.list())).toEqual([]);

    // The same signed slash command twice (same trigger_id): one job, one answer. Its brief holds
    // mentions typed raw, and one as Slack itself sends a typed `<!here>` (entity-escaped).
    const brief = 'Launch <!channel> <@U123> & friends &lt;!here&gt;';
    const first = await command(ALICE, `submit quick ${brief}`);
    expect(first.job).toBe(1);
    const replay = await slash(fake, h.eventsUrl, { user: ALICE, text: `submit quick ${brief}`, trigger_id: first.fields.trigger_id!, response_url: first.fields.response_url! });
    expect(replay.res.status).toBe(200);
    await command(ALICE, 'list'); // answered after the replay was handled
    expect((await h.app.store.queries.list()).map((j) => j.id)).toEqual([1]);
    expect(responsesTo(fake, first.fields.response_url!)).toHaveLength(1);

    // Tampered button values: refused privately, nothing changes.
    const card = asPosted(await waitForGateCard(fake, 1, 'outline'));
    await drained(h.app, 1);
    const before = (await snapshot(h.app, fake, 1));
    const otherJob = await click(card, 'Approve', BOB, { value: JSON.stringify({ j: 999, s: 'outline', r: 1 }) });
    expect((await answerTo(otherJob.responseUrl, 'the answer to a button for job 999')).text).toBe('There is no job 999. /signoff list shows recent jobs.');
    for (const value of ['garbage', '{"j":1,"s":"outline","r":1,"x":1}', '{"j":-1,"s":"outline","r":1}', '{"j":1,"s":"../etc","r":1}']) {
      const tampered = await click(card, 'Approve', BOB, { value });
      expect((await answerTo(tampered.responseUrl, `the answer to the value ${value}`)).text).toMatch(/^That button is not one signoff made, so nothing changed\./);
    }
    expect((await snapshot(h.app, fake, 1))).toEqual(before);
    expect((await gate(1, 'outline'))).toMatchObject({ state: 'pending', votes: [] });

    // User text is escaped everywhere signoff writes to Slack: <!channel> and <@U123> stay inert.
    await command(ALICE, 'status 1');
    await autoApproveOutline(1);
    await waitForGateCard(fake, 1, 'script');
    await drained(h.app, 1);
    const written = JSON.stringify([
      ...fake.calls.filter((c) => c.method.startsWith('chat.') || c.method.startsWith('files.') || c.method.startsWith('views.')).map((c) => c.args),
      ...fake.responses.map((r) => r.body),
    ]);
    expect(written).toContain('&lt;!channel&gt; &lt;@U123&gt; &amp; friends &lt;!here&gt;');
    expect(written).not.toContain('<!channel>');
    expect(written).not.toContain('<@U123>');
    expect(written).not.toMatch(/<!(here|everyone)/);
    expect(blockText(rootOf(fake, 1)!.message.blocks)).toContain('*Brief*\nLaunch &lt;!channel&gt; &lt;@U123&gt; &amp; friends &lt;!here&gt;');
    expect((await h.app.store.jobs.load(1))!.job.brief).toBe('Launch <!channel> <@U123> & friends <!here>');
  });

  it('a post or an upload whose answer is lost is found, not made again', async () => {
    // Slack takes the root message, the outline's file and the gate card, but the answers are
    // lost on the way back (the upload's also when the client asks again).
    fake.failNext('chat.postMessage', { lose: true }, 1);
    fake.failNext('files.completeUploadExternal', { lose: true }, 1);
    await start();
    await command(ALICE, 'submit quick Lost answers');
    const card = await waitForGateCard(fake, 1, 'outline');
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(fake.uploads.filter((u) => u.title === 'outline: outline.md')).toHaveLength(1);
    expect(fake.callsTo('files.completeUploadExternal').length, 'the lost upload was tried again').toBeGreaterThan(1);
    fake.failNext('chat.postMessage', { lose: true }, 1);
    await autoApproveOutline(1);
    await waitForGateCard(fake, 1, 'script');
    await drained(h.app, 1);
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(gateCards(fake, 1, 'outline')).toHaveLength(1);
    expect(gateCards(fake, 1, 'script')).toHaveLength(1);
    expect(card.message.thread_ts).toBe(rootsOf(fake, 1)[0]!.message.ts);
  });

  it('a 429 storm and failing edits: every message exists once, in order, and ends right', async () => {
    await start();
    // The root post meets three 429s (Retry-After 1 s) and the first edits two 500s.
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 }, 3);
    fake.failNext('chat.update', { status: 500 }, 2);
    const { job } = await command(ALICE, 'submit quick Storm');
    await autoApproveOutline(job);
    const script = asPosted(await waitForGateCard(fake, job, 'script'));
    await drained(h.app, job);
    // The edit of the script card after the approval fails past the client's retries: the
    // outbox keeps the rows and delivers them again.
    fake.failNext('chat.update', { status: 500 }, 4);
    await click(script, 'Approve', BOB);
    const storyboard = asPosted(await waitForGateCard(fake, job, 'storyboard'));
    await click(storyboard, 'Approve', BOB);
    await waitFor(async () => (await gate(job, 'storyboard')).votes.length === 1, "bob's vote");
    await click(storyboard, 'Approve', CAROL);
    await waitFor(async () => (await jobState(job)) === 'succeeded', 'the job to succeed');
    await drained(h.app, job);

    // The faults did happen.
    expect(fake.stats.rateLimited).toBe(3);
    expect(fake.stats.serverErrors).toBe(6);
    expect((await h.app.store.outbox.pendingForJob('slack', job))).toEqual([]);

    // One root, one card per gate, each notice once, in the order things happened.
    const root = rootsOf(fake, job);
    expect(root).toHaveLength(1);
    for (const stage of ['outline', 'script', 'storyboard']) expect(gateCards(fake, job, stage)).toHaveLength(1);
    expect(thread(job)).toEqual([
      'upload ✅ outline done in 0ms: Outline: N sections [outline: outline.md]',
      'card gate:1:outline:1 — waiting for <@U0BOB>',
      'upload ✅ script done in 0ms: Script: N scenes, N words [script: script.md]',
      'card gate:1:script:1 — waiting for <@U0BOB>',
      'upload ✅ storyboard done in 0ms: Storyboard: N panels [storyboard: storyboard.svg, storyboard: storyboard.svg (preview)]',
      'card gate:1:storyboard:1 — waiting for <@U0BOB> <!subteam^S0DIR>',
      'notice ✅ Job 1 succeeded in 30s. 3 artifacts.',
    ]);
    // The root, three cards (each mentioning its deciders itself) and the closing summary.
    expect(fake.messageList()).toHaveLength(1 + 3 + 1);

    // The final state of every message.
    expect(blockText(root[0]!.message.blocks)).toMatch(/Succeeded in/);
    expect(blockText(cardNow(job, 'outline').blocks)).toContain('*Auto-approved: nobody objected in time*');
    expect(blockText(cardNow(job, 'script').blocks)).toContain('*Approved by u0bob*');
    expect(blockText(cardNow(job, 'storyboard').blocks)).toContain('*Approved by u0bob, u0carol*');
    for (const stage of ['outline', 'script', 'storyboard']) expect(actionsBlock(cardNow(job, stage).blocks)).toBeUndefined();
    // Decided, each card shows its outcome and no longer says whom it waited for.
    for (const stage of ['outline', 'script', 'storyboard']) expect(`${cardNow(job, stage).text}\n${blockText(cardNow(job, stage).blocks)}`).not.toMatch(/[Ww]aiting for|<@|<!subteam/);
    expect((await h.job(job)).state).toBe('succeeded');
  });

  it('pacing: two jobs at once in one channel stay under Slack’s posting limit', async () => {
    await start({ postsPerSecond: 1 });
    fake.channelRateLimit = { perSecond: 1, burst: 3 };
    const [a, b] = await Promise.all([command(ALICE, 'submit tiny First'), command(BOB, 'submit tiny Second')]);
    const jobs = [a.job, b.job].sort();
    expect(jobs).toEqual([1, 2]);
    for (const job of jobs) await waitForGateCard(fake, job, 'outline');
    clock.advance(30_001);
    await h.app.engine.tick();
    for (const job of jobs) {
      await waitFor(async () => (await jobState(job)) === 'succeeded', `job ${job} to succeed`);
      await drained(h.app, job);
    }
    // The pacer stays under Slack's per-channel limit: not one post was answered 429.
    expect(fake.stats.rateLimited).toBe(0);
    for (const job of jobs) {
      const [root] = rootsOf(fake, job);
      expect(rootsOf(fake, job)).toHaveLength(1);
      expect(thread(job)).toEqual([
        'upload ✅ outline done in 0ms: Outline: N sections [outline: outline.md]',
        // Each submitter is left out; the other editor is mentioned on the card.
        `card gate:${job}:outline:1 — waiting for <@${job === a.job ? BOB : ALICE}>`,
        'upload ✅ script done in 0ms: Script: N scenes, N words [script: script.md]',
        `notice ✅ Job ${job} succeeded in 30s. 2 artifacts.`,
      ]);
    }
    // Six messages in one channel (roots, cards, ends): three at once (the burst), then under one a second.
    const times = fake.callsTo('chat.postMessage').filter((c) => !c.fault).map((c) => c.at);
    expect(times).toHaveLength(6);
    expect(fake.messageList(CHANNEL)).toHaveLength(6);
    expect(times[5]! - times[0]!).toBeGreaterThanOrEqual(3_000);
  });
});
