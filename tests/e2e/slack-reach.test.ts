/**
 * Reaching the people who must decide, on Slack, end to end: the real @slack/bolt behind
 * signoff's POST /slack/events and the real WebClient against the fake Slack. What a Slack user
 * would notice: who is mentioned (and that nothing typed by a person pings anyone), the card in
 * their direct messages and its buttons, every copy edited when the gate is decided, reminders
 * and escalation, "/signoff pending", the Home tab, and per-pipeline channels.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSlack, type StoredMessage } from '../helpers/fake-slack.js';
import { chatTestConfig, FakeClock } from '../helpers/fixtures.js';
import {
  ALICE, BOB, CAROL, DAVE, actionsBlock, blockText, buttons, clickPayload, interact, responsesTo, rootOf, slash, startSlackApp,
  SIGNING_SECRET, waitForGateCard, asPosted, type SlackHarness,
} from '../helpers/slack-harness.js';
import { postEvent } from '../helpers/slack-signing.js';
import { waitFor } from '../helpers/wait.js';

const ERIN = 'U0ERIN';
const JOBS = 'C0JOBS';
const DEPLOY = 'C0DEPLOY';
const HOSTILE = 'Ship it <!channel> <@U0BOB> <!subteam^S0DIR> @everyone <@&2002> <!here>';
const HOUR = 3_600_000;

/**
 * `review`: one required gate (notify: mention, the default) in the global channel. `deploy`:
 * its own channel, a two-approval gate that DMs too, reminds an hour before its 4 h timeout and
 * escalates to leads after 3.5 h (210m).
 */
const YAML = chatTestConfig(`
operators:
  editors: { slack: [${ALICE}, ${BOB}], console: [alice, bob] }
  directors: { slack_usergroups: [S0DIR], console: [carol] }
  leads: { slack: [${ERIN}], console: [erin] }
  viewers: { slack: [${DAVE}], console: [dave] }
submitters: [editors, directors]
channels: { slack: ${JOBS} }`).replace(/\npipelines:/, `
pipelines:
  review:
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { approvers: [editors, directors] }
      - id: done
        run: { builtin: script }
  deploy:
    channels: { slack: ${DEPLOY} }
    stages:
      - id: build
        run: { builtin: outline }
        gate: { approvers: [editors, directors], min_approvals: 2, notify: both, timeout: 4h, remind_before: [1h], escalate_after: 210m, escalate_to: [leads] }
      - id: ship
        run: { builtin: script }`);

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

async function start(dataDir?: string) {
  h = await startSlackApp({ fake, mode: 'http', clock, yaml: YAML, ...(dataDir ? { dataDir } : {}) });
  return h;
}

async function command(user: string, text: string, channel = 'C0OTHER') {
  const sent = await slash(fake, h.eventsUrl, { user, text, channel });
  expect(sent.res.status).toBe(200);
  return waitFor(() => responsesTo(fake, sent.fields.response_url!)[0], `the answer to "/signoff ${text}"`);
}

async function submit(pipeline: string, brief: string) {
  const answer = await command(ALICE, `submit ${pipeline} ${brief}`);
  const job = Number(/Job (\d+)/.exec(answer.text)?.[1]);
  expect(job).toBeGreaterThan(0);
  return job;
}

async function click(card: { channel: string; ts: string; blocks: unknown[] | undefined }, label: string, user: string) {
  const button = buttons(card.blocks)[label];
  if (!button) throw new Error(`no ${label} button (buttons: ${Object.keys(buttons(card.blocks)).join(', ')})`);
  const payload = clickPayload(fake, card, button, user);
  expect((await interact(h.eventsUrl, payload)).status).toBe(200);
  return String(payload.response_url);
}

const gate = async (job: number, stage: string) => (await h.app.store.jobs.load(job))!.gates.find((g) => g.stage === stage)!;
const threadOf = (channel: string, rootTs: string) => fake.messageList(channel).filter((m) => m.thread_ts === rootTs && m.ts !== rootTs);
/** `user` opens the app's Home tab (the `app_home_opened` event, signed as Slack sends it); resolves once it is published. */
async function openHome(user: string) {
  const before = fake.publishes.filter((p) => p.user === user).length;
  const opened = await postEvent(h.eventsUrl, SIGNING_SECRET, {
    type: 'event_callback', team_id: 'T1', api_app_id: 'A1', event_id: `Ev${user}${before}`, event_time: Math.floor(Date.now() / 1000),
    event: { type: 'app_home_opened', user, channel: `D${user}`, tab: 'home', event_ts: '1.1' },
  });
  expect(opened.status).toBe(200);
  await waitFor(() => fake.publishes.filter((p) => p.user === user).length > before, `${user}'s Home tab on opening it`);
}
const dms = (user: string) => fake.messageList(`D${user}`);
/** Everything a message shows or notifies with: top-level text and every block text. */
const shown = (m: StoredMessage) => `${m.text ?? ''}\n${blockText(m.blocks)}`;
/** Mention markup that would ping: `<@…>`, `<!…>` (escaped text shows `&lt;` instead); Slack's date tokens ping no one. */
const pings = (text: string) => (text.match(/<[@!][^>]*>/g) ?? []).filter((t) => !t.startsWith('<!date^'));

describe('reaching the deciders on Slack', () => {
  it('the card mentions exactly the deciders (not the submitter) in its blocks and its notification text; no separate reply; typed text pings no one', async () => {
    await start();
    const job = await submit('review', HOSTILE);
    const card = await waitForGateCard(fake, job, 'draft');
    const root = rootOf(fake, job)!.message;
    // No per-pipeline channel: the global one, not where the command was typed.
    expect(root.channel).toBe(JOBS);
    // The card as posted (posting is what notifies): a line under its header, the same mentions in `text`.
    const posted = card.call.args as { text: string; blocks: { type: string; text?: { type: string; text: string } }[] };
    expect(posted.text).toBe(`✋ Approval needed: draft of job ${job} — waiting for <@U0BOB> <!subteam^S0DIR>`);
    expect(posted.blocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '🔔 Waiting for <@U0BOB> <!subteam^S0DIR>', verbatim: true } });
    expect(pings(blockText(posted.blocks))).toEqual(['<@U0BOB>', '<!subteam^S0DIR>']);
    expect(shown(card.message)).not.toContain(ALICE);

    // A rejection reason as hostile as the brief: the card and the notice stay inert too.
    expect((await command(BOB, `reject ${job} draft ${HOSTILE}`)).text).toContain('Rejected');
    await waitFor(() => threadOf(JOBS, root.ts).some((m) => m.text?.includes('rejected by')), 'the rejection notice');
    await waitFor(() => !actionsBlock(fake.message(JOBS, card.message.ts)!.blocks), 'the card to show the outcome');
    await waitFor(async () => (await h.app.store.outbox.pendingForJob('slack', job)).length === 0, 'the outbox to drain');
    // The opening posted no reply of its own: the card, then the rejection's notice.
    expect(threadOf(JOBS, root.ts).filter((m) => m.text?.startsWith('🔔'))).toEqual([]);
    for (const m of fake.messageList()) {
      // The job's root names its submitter (as before); nothing else mentions anyone, and the
      // decided card no longer says whom it waited for.
      expect(pings(shown(m)), `message ${m.ts}: ${shown(m).slice(0, 200)}`).toEqual(m.ts === root.ts ? ['<@U0ALICE>'] : []);
    }
    expect(shown(fake.message(JOBS, card.message.ts)!)).not.toMatch(/[Ww]aiting for/);
    expect(blockText(root.blocks)).toContain('&lt;!channel&gt; &lt;@U0BOB&gt; &lt;!subteam^S0DIR&gt; @everyone');
  });

  it('DMs the card to each decider (user-group members expanded, submitter left out); a DM click decides; every copy is edited; Home tabs follow', async () => {
    await start();
    const job = await submit('deploy', HOSTILE);
    const card = await waitForGateCard(fake, job, 'build');
    const root = rootOf(fake, job)!.message;
    expect(root.channel).toBe(DEPLOY);
    // Per-pipeline channel for the whole job.
    expect(card.message.channel).toBe(DEPLOY);

    const bobDm = await waitFor(() => dms(BOB)[0], 'the card in Bob\'s DMs');
    const carolDm = await waitFor(() => dms(CAROL)[0], 'the card in Carol\'s DMs (via her user group)');
    expect(dms(ALICE)).toEqual([]);
    expect(Object.keys(buttons(bobDm.blocks))).toEqual(['Approve', 'Approve with note…', 'Reject']);
    // The same card as in the thread without its mention line, as inert: nothing typed by a person pings from a DM either.
    const threadBlocks = card.call.args.blocks as unknown[];
    expect(threadBlocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '🔔 Waiting for <@U0BOB> <!subteam^S0DIR>', verbatim: true } });
    expect(bobDm.blocks).toEqual([threadBlocks[0], ...threadBlocks.slice(2)]);
    expect(bobDm.text).toBe(`✋ Approval needed: build of job ${job}`);
    for (const m of [bobDm, carolDm]) expect(pings(shown(m))).toEqual([]);
    expect(fake.callsTo('conversations.open').map((c) => c.args.users).sort()).toEqual([BOB, CAROL]);

    // Carol opens the app's Home tab: it lists the gate with a link to the card in its thread.
    await openHome(CAROL);
    await waitFor(() => blockText(fake.homes.get(CAROL)?.blocks as unknown[]).includes('Waiting for you: 1'), "Carol's Home tab");
    expect(blockText(fake.homes.get(CAROL)!.blocks as unknown[])).toContain(`https://test.slack.com/archives/${DEPLOY}/p${card.message.ts.replace('.', '')}`);

    // Bob approves in his DM, Carol in hers: two approvals, one gate, decided.
    await click({ channel: bobDm.channel, ts: bobDm.ts, blocks: bobDm.blocks }, 'Approve', BOB);
    await waitFor(async () => (await gate(job, 'build')).votes.length === 1, "Bob's vote");
    await click({ channel: carolDm.channel, ts: carolDm.ts, blocks: carolDm.blocks }, 'Approve', CAROL);
    await waitFor(async () => (await gate(job, 'build')).state === 'approved', 'the gate to be approved');

    // Every copy shows the outcome, none keeps its buttons.
    for (const [channel, ts] of [[DEPLOY, card.message.ts], [bobDm.channel, bobDm.ts], [carolDm.channel, carolDm.ts]] as const) {
      await waitFor(() => !actionsBlock(fake.message(channel, ts)!.blocks) && blockText(fake.message(channel, ts)!.blocks).includes('Approved by'), `the copy in ${channel} to show the outcome`);
    }
    // One DM each: the decision edited them rather than posting more.
    expect(dms(BOB)).toHaveLength(1);
    expect(dms(CAROL)).toHaveLength(1);
    await waitFor(() => blockText(fake.homes.get(CAROL)?.blocks as unknown[]).includes('Nothing waits for you'), "Carol's Home tab to be refreshed");

    // Dave, a viewer, opens his: nothing waits for him.
    await openHome(DAVE);
    expect(blockText(fake.homes.get(DAVE)!.blocks as unknown[])).toContain('Nothing waits for you');
  });

  it('a DM whose answer is lost is found in the DM, not sent twice', async () => {
    await start();
    // Opening Bob's DM is slow, so the answer of the post after it (his card) can be lost on purpose.
    fake.failNext('conversations.open', { hangMs: 1_500 }, 1);
    const job = await submit('deploy', 'Release 3.0');
    await waitForGateCard(fake, job, 'build');
    fake.failNext('chat.postMessage', { lose: true }, 1);
    await waitFor(() => dms(CAROL).length === 1, "Carol's DM");
    await waitFor(async () => (await h.app.store.outbox.pendingForJob('slack', job)).length === 0, 'the outbox to drain');
    expect(fake.stats.lost).toBe(1);
    expect(dms(BOB)).toHaveLength(1);
    expect(dms(CAROL)).toHaveLength(1);
    expect(fake.callsTo('conversations.history').some((c) => c.args.channel === `D${BOB}`)).toBe(true);
  });

  it('reminds only those who have not voted; escalates on time, after a restart, and only then accepts the escalation group', async () => {
    await start();
    const job = await submit('deploy', 'Release 2.0');
    const card = asPosted(await waitForGateCard(fake, job, 'build'));
    const root = rootOf(fake, job)!.message;

    // Erin (leads) may not decide before the escalation: refused privately, nothing changes.
    const refused = await click(card, 'Approve', ERIN);
    const answer = await waitFor(() => responsesTo(fake, refused)[0], "Erin's refusal");
    expect(answer.text).toContain('once it escalates');
    await click(card, 'Approve', BOB);
    await waitFor(async () => (await gate(job, 'build')).votes.length === 1, "Bob's approval");

    clock.advance(3 * HOUR);
    await h.app.engine.tick();
    const reminder = await waitFor(() => threadOf(DEPLOY, root.ts).find((m) => m.text?.startsWith('⏰')), 'the reminder');
    expect(pings(reminder.text!)).toEqual(['<!subteam^S0DIR>']);
    // The reminder DM goes to Carol, who has not voted, not to Bob.
    await waitFor(() => dms(CAROL).some((m) => m.text?.startsWith('⏰')), "Carol's reminder DM");
    expect(dms(BOB).some((m) => m.text?.startsWith('⏰'))).toBe(false);

    // Restart: the escalation timer is in the database and fires in the new process.
    const dataDir = h.dataDir;
    await h.app.stop();
    await start(dataDir);
    clock.advance(HOUR / 2 - 1_000);
    await h.app.engine.tick();
    expect((await gate(job, 'build')).escalatedAt).toBeNull();
    clock.advance(1_000);
    await h.app.engine.tick();
    await waitFor(async () => (await gate(job, 'build')).escalatedAt !== null, 'the escalation');
    const escalated = await waitFor(() => threadOf(DEPLOY, root.ts).find((m) => m.text?.startsWith('📣')), 'the escalation notice');
    expect(pings(escalated.text!)).toEqual([`<@${ERIN}>`]);
    const erinDm = await waitFor(() => dms(ERIN)[0], "the card in Erin's DMs");
    await waitFor(() => blockText(fake.message(DEPLOY, card.ts)!.blocks).includes('Escalated to leads'), 'the card to say it escalated');

    await click({ channel: erinDm.channel, ts: erinDm.ts, blocks: erinDm.blocks }, 'Approve', ERIN);
    await waitFor(async () => (await gate(job, 'build')).state === 'approved', 'the escalation group to decide');
    expect((await gate(job, 'build')).votes.map((v) => v.actor).sort()).toEqual([`slack:${BOB}`, `slack:${ERIN}`]);
  });

  it('/signoff pending lists what waits for the approver (link and buttons), nothing for the submitter or a viewer; the API agrees', async () => {
    await start();
    const job = await submit('review', 'Check the copy');
    const card = await waitForGateCard(fake, job, 'draft');

    const forBob = await command(BOB, 'pending');
    expect(forBob.text).toBe('1 gate waits for you (oldest first)');
    const listed = blockText(forBob.body.blocks);
    expect(listed).toContain(`#${job} review · draft · waiting`);
    expect(listed).toContain(`https://test.slack.com/archives/${JOBS}/p${card.message.ts.replace('.', '')}`);
    expect(Object.keys(buttons(forBob.body.blocks))).toEqual(['Approve', 'Reject']);
    expect((await command(ALICE, 'pending')).text).toContain('Nothing waits for you');
    expect((await command(DAVE, 'pending')).text).toContain('Nothing waits for you');

    const api = async (q: string): Promise<{ gates: unknown[] }> => (await fetch(`${h.app.url}/api/v1/gates?${q}`, { headers: { authorization: 'Bearer slack-e2e-api-token-0123456789' } })).json() as Promise<{ gates: unknown[] }>;
    expect((await api(`state=pending&for=slack:${BOB}`)).gates).toMatchObject([{ job, stage: 'draft', round: 1, console_anchor: `#job-${job}-gate-draft-1` }]);
    expect((await api(`state=pending&for=slack:${ALICE}`)).gates).toEqual([]);
    expect((await api('state=pending&for=slack:U0NOBODY')).gates).toEqual([]);
    const bad = await fetch(`${h.app.url}/api/v1/gates?state=done`, { headers: { authorization: 'Bearer slack-e2e-api-token-0123456789' } });
    expect(bad.status).toBe(400);

    // The list's Approve button decides like the card's.
    await click({ channel: 'C0OTHER', ts: '1.0', blocks: forBob.body.blocks }, 'Approve', BOB);
    await waitFor(async () => (await gate(job, 'draft')).state === 'approved', 'the approval from the pending list');
    expect((await command(BOB, 'pending')).text).toContain('Nothing waits for you');
  });
});
