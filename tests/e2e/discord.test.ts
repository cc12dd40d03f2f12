/**
 * signoff in Discord, end to end: the real discord.js Client of signoff (gateway + REST) against
 * the fake Discord, which delivers interactions as Discord does and records every REST call.
 * Every assertion is about what a Discord user would notice: the interaction callbacks (deferred,
 * ephemeral, modal), the messages in the channel and the job's thread as they are now, the
 * recorded REST calls (which message was posted, which edited), the files, and the job's state.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ALICE_ID,
  APPROVER_ROLE_ID,
  BOB_ID,
  CAROL_ID,
  CHANNEL_ID,
  DAVE_ID,
  FakeDiscord,
  GUILD_ID,
  APP_ID,
  type FakeMessage,
  type InteractionCallback,
  type Json,
} from '../helpers/fake-discord.js';
import { FakeClock, tempDir } from '../helpers/fixtures.js';
import { REPO, writeConfig } from '../helpers/signoff-process.js';
import {
  DISCORD_TOKEN,
  callbackText,
  discordConfigYaml,
  deferredAnswer,
  drained,
  gateMessages,
  gatePosts,
  performed,
  postedGate,
  rootOf,
  rootsOf,
  snapshot,
  startDiscordApp,
  threadLog,
  threadOf,
  visibleText,
  waitForGate,
  type DiscordHarness,
  type PostedGate,
} from '../helpers/discord-harness.js';
import { waitFor } from '../helpers/wait.js';
import { freshDatabase } from '../helpers/postgres.js';
import { STORES, type StoreKind } from '../helpers/stores.js';

let fake: FakeDiscord;
let clock: FakeClock;
let h: DiscordHarness | undefined;

beforeEach(async () => {
  fake = await FakeDiscord.start();
  clock = new FakeClock(Date.now());
});

afterEach(async () => {
  // signoff's client first: a client whose gateway vanishes keeps reconnecting.
  await h?.stop();
  h = undefined;
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

/** Starts signoff on the fake Discord; on `kind`'s store (SQLite unless told). */
async function start(kind: StoreKind = 'sqlite'): Promise<DiscordHarness> {
  h = await startDiscordApp({ fake, clock, ...(kind === 'postgres' ? { databaseUrl: await freshDatabase() } : {}) });
  return h;
}

const app = () => h!.app;
const jobState = async (job: number) => (await app().store.jobs.load(job))!.job.state;
const gate = async (job: number, stage: string, round = 1) => (await app().store.jobs.load(job))!.gates.find((g) => g.stage === stage && g.round === round)!;

/** `/signoff <subcommand> …` used by `user` in the channel: the first callback and the answer it ends with. */
async function slash(user: string, subcommand: string, options: Record<string, string | number>, extra: { roles?: string[] } = {}) {
  const payload = fake.slashCommand({ subcommand, options, user, ...extra });
  const id = String(payload.id);
  const callback = await fake.dispatchInteraction(payload);
  const answer = await deferredAnswer(fake, id, `the answer to /signoff ${subcommand}`);
  return { id, callback, answer, job: Number(/Job (\d+)/.exec(answer.content)?.[1] ?? NaN) };
}

/** A click on a gate message's button (custom id as posted) by `user`; resolves with the bot's callback. */
function click(posted: PostedGate, label: string, user: string, extra: { roles?: string[]; id?: string } = {}): Promise<InteractionCallback> {
  const button = posted.buttons[label];
  if (!button) throw new Error(`no ${label} button on the gate message (buttons: ${Object.keys(posted.buttons).join(', ')})`);
  return fake.dispatchInteraction(fake.button({ custom_id: button.custom_id, message: posted.id, user, ...extra }));
}

/** The ephemeral refusal a click got: an immediate reply with flag 64. */
function expectEphemeral(cb: InteractionCallback): string {
  expect(cb).toMatchObject({ type: 4, accepted: true });
  expect(Number(cb.data?.flags) & 64).toBe(64);
  return callbackText(cb);
}

/** Lets the optional outline gate run out: the fake clock passes its deadline and the timers fire. */
async function autoApproveOutline(job: number) {
  await waitForGate(fake, job, 'outline');
  clock.advance(30_001);
  (await app().engine.tick());
  await waitFor(async () => (await gate(job, 'outline')).state === 'approved', 'the outline gate to auto-approve');
}

/** The one gate message of a round, as it is now. */
function gateNow(job: number, stage: string, round = 1): FakeMessage {
  const all = gateMessages(fake, job, stage, round);
  expect(all).toHaveLength(1);
  return all[0]!;
}

describe('Discord: submit and the job thread', () => {
  it('/signoff submit: deferred ephemeral at once, a root message with a status embed, a thread with results and the gate message, the root edited in place', async () => {
    await start();
    const payload = fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'quick', brief: 'A film about bees' }, user: ALICE_ID });
    const callback = await fake.dispatchInteraction(payload);
    // Deferred (type 5), ephemeral, well inside Discord's 3 s.
    expect(callback).toMatchObject({ type: 5, accepted: true });
    expect(Number(callback.data?.flags) & 64).toBe(64);
    expect(callback.latencyMs).toBeLessThan(1500);
    const answer = await deferredAnswer(fake, String(payload.id));
    expect(answer.content).toBe('Job 1 (quick) started.');
    expect(answer.flags & 64).toBe(64);
    expect(fake.callsTo('PATCH', /^\/webhooks\/\d+\/[^/]+\/messages\/@original$/)).toHaveLength(1);

    // The root message: top level in the command's channel, with a status embed.
    const root = await waitFor(() => rootOf(fake, 1), 'the root message');
    expect(root.channel_id).toBe(CHANNEL_ID);
    const firstPost = fake.callsTo('POST', new RegExp(`^/channels/${CHANNEL_ID}/messages$`)).filter(performed);
    expect(firstPost).toHaveLength(1);
    const firstBody = firstPost[0]!.body as Json;
    expect(firstBody.content).toMatch(/^\S+ Job 1 · quick: /);
    const embed = (firstBody.embeds as Json[])[0]!;
    expect(embed.title).toMatch(/Job 1 · quick/);
    expect(embed.description).toContain(`submitted by <@${ALICE_ID}>`);
    expect(embed.description).toContain('**Brief**\nA film about bees');

    // A thread started FROM the root message (Discord gives it the message's id).
    const thread = await waitFor(() => threadOf(fake, 1), 'the job thread');
    expect(thread).toMatchObject({ id: root.id, parent_id: CHANNEL_ID, type: 11, name: 'Job 1 · quick' });
    expect(fake.callsTo('POST', `/channels/${CHANNEL_ID}/messages/${root.id}/threads`).filter(performed)).toHaveLength(1);

    // The outline result and the optional gate's message go into the thread, not the channel.
    const outline = await postedGate(fake, 1, 'outline');
    await drained(app(), 1);
    expect(outline.channel).toBe(thread.id);
    expect(Object.keys(outline.buttons)).toEqual(['Approve', 'Approve with note…', 'Reject', 'Hold']);
    expect(outline.buttons.Approve!.custom_id).toBe('sg:a:1:outline:1');
    // The card itself mentions the decider (Alice submitted, so only Bob), pinging exactly him; no reply of its own.
    expect(threadLog(fake, thread.id)).toEqual(['✅ outline done in T: Outline: N sections [outline.md]', '✋ Optional review: outline of job 1 — waiting for <@1200000000000001002>']);
    expect(outline.body.content).toBe('✋ Optional review: outline of job 1 — waiting for <@1200000000000001002>');
    expect(outline.body.allowed_mentions).toEqual({ parse: [], users: ['1200000000000001002'], roles: [] });
    expect(fake.messagesIn(CHANNEL_ID).map((m) => m.id)).toEqual([root.id]);

    // The artifact was uploaded with its real bytes.
    const [artifact] = (await app().store.artifacts.current(1));
    const resultMessage = fake.messagesIn(thread.id)[0]!;
    const [file] = fake.filesOf(resultMessage.id);
    expect(file!.name).toBe('outline.md');
    expect(file!.bytes.equals(fs.readFileSync(artifact!.path))).toBe(true);
    expect(createHash('sha256').update(file!.bytes).digest('hex')).toBe(artifact!.sha256);
    expect(file!.bytes.toString('utf8')).toContain('# A film about bees');

    // The root was edited (PATCH on its id), never posted again.
    const edits = fake.callsTo('PATCH', new RegExp(`^/channels/${CHANNEL_ID}/messages/${root.id}$`)).filter(performed);
    expect(edits.length).toBeGreaterThan(0);
    expect(fake.editsOf(root.id)).toBe(edits.length);
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(rootOf(fake, 1)!.content).toMatch(/Awaiting approval of outline/);
  });

  it('the optional gate auto-approves: its message is edited to "Auto-approved…" with the buttons removed', async () => {
    await start();
    const { job } = await slash(ALICE_ID, 'submit', { pipeline: 'tiny', brief: 'Nobody objects' });
    const outline = await postedGate(fake, job, 'outline');
    expect(Object.keys(outline.buttons)).toEqual(['Approve', 'Approve with note…', 'Reject', 'Hold']);
    expect(visibleText(outline.body)).toMatch(/auto-approves <t:\d+:R>/);
    await autoApproveOutline(job);
    await waitFor(async () => (await jobState(job)) === 'succeeded', 'the job to succeed');
    await drained(app(), job);

    const now = gateNow(job, 'outline');
    expect(now.id).toBe(outline.id);
    expect(now.content).toBe('✅ Optional review: outline of job 1 — Auto-approved: nobody objected in time');
    expect(now.components).toEqual([]);
    expect(visibleText(now)).toContain('**Auto-approved: nobody objected in time**');
    const edit = fake.callsTo('PATCH', new RegExp(`^/channels/${outline.channel}/messages/${outline.id}$`)).filter(performed).at(-1)!;
    expect((edit.body as Json).components).toEqual([]);
    expect(gatePosts(fake, job, 'outline')).toHaveLength(1);
    expect(threadLog(fake, outline.channel)).toEqual([
      '✅ outline done in T: Outline: N sections [outline.md]',
      '✅ Optional review: outline of job 1 — Auto-approved: nobody objected in time',
      '✅ script done in T: Script: N scenes, N words [script.md]',
      '✅ Job 1 succeeded in T. 2 artifacts.',
    ]);
    expect(rootOf(fake, job)!.content).toMatch(/^✅ Job 1 · tiny: Succeeded in 30s$/);
  });
});

describe('Discord: autocomplete', () => {
  it('offers pipelines filtered by what was typed, recent jobs by id or words, and the gated stages of the job chosen', async () => {
    await start();
    await slash(ALICE_ID, 'submit', { pipeline: 'quick', brief: 'Bees at dawn' });
    await slash(ALICE_ID, 'submit', { pipeline: 'gated', brief: 'Wasps at dusk' });

    const choices = async (input: Parameters<FakeDiscord['autocomplete']>[0]) => {
      const cb = await fake.dispatchInteraction(fake.autocomplete({ user: ALICE_ID, ...input }));
      expect(cb).toMatchObject({ type: 8, accepted: true });
      expect(cb.latencyMs).toBeLessThan(1500);
      return cb.data?.choices as { name: string; value: string | number }[];
    };
    // Pipelines: those starting with what was typed first, then those containing it.
    expect(await choices({ subcommand: 'submit', focused: 'pipeline', value: '' })).toEqual(['quick', 'gated', 'tiny'].map((p) => ({ name: p, value: p })));
    expect(await choices({ subcommand: 'submit', focused: 'pipeline', value: 'qu' })).toEqual([{ name: 'quick', value: 'quick' }]);
    expect(await choices({ subcommand: 'submit', focused: 'pipeline', value: 'T' })).toEqual([{ name: 'tiny', value: 'tiny' }, { name: 'gated', value: 'gated' }]);
    expect(await choices({ subcommand: 'submit', focused: 'pipeline', value: 'zzz' })).toEqual([]);

    // Jobs (an integer option: Discord still sends what was typed as a string), newest first; values are numbers.
    const all = await choices({ subcommand: 'status', focused: 'job', value: '', focusedType: 4 });
    expect(all.map((c) => c.value)).toEqual([2, 1]);
    expect(all[0]!.name).toMatch(/^#2 · gated · (running|awaiting approval) · Wasps at dusk$/);
    expect(await choices({ subcommand: 'status', focused: 'job', value: '1', focusedType: 4 })).toEqual([expect.objectContaining({ value: 1 })]);
    expect((await choices({ subcommand: 'cancel', focused: 'job', value: 'wasps', focusedType: 4 })).map((c) => c.value)).toEqual([2]);

    // Stages: the gated stages of the job already given, filtered by prefix.
    expect(await choices({ subcommand: 'approve', options: { job: 1 }, focused: 'stage', value: 's' })).toEqual([
      { name: 'script', value: 'script' },
      { name: 'storyboard', value: 'storyboard' },
    ]);
    expect(await choices({ subcommand: 'approve', options: { job: 2 }, focused: 'stage', value: '' })).toEqual([{ name: 'outline', value: 'outline' }]);
    // Autocomplete changed nothing.
    expect((await app().store.queries.list({ limit: 25 }))).toHaveLength(2);
  });
});

describe.each(STORES)('Discord: gate buttons (%s)', (kind) => {
  it('refusals are ephemeral and change nothing; an editor approves; self-approval is refused; a role holder decides; a replayed click counts once; a late click is told', async () => {
    await start(kind);
    const { job } = await slash(ALICE_ID, 'submit', { pipeline: 'quick', brief: 'Buttons' });
    await autoApproveOutline(job);
    const script = await postedGate(fake, job, 'script');
    await drained(app(), job);
    // The buttons as posted: required gate → Approve and Reject; custom ids name job, stage and round.
    expect(Object.values(script.buttons)).toEqual([
      { custom_id: `sg:a:${job}:script:1`, label: 'Approve', style: 3 },
      { custom_id: `sn:${job}:script:1`, label: 'Approve with note…', style: 3 },
      { custom_id: `sg:r:${job}:script:1`, label: 'Reject', style: 4 },
    ]);

    // dave holds no role and is in no group: refused privately, nothing changes.
    const before = (await snapshot(app(), fake, job));
    expect(expectEphemeral(await click(script, 'Approve', DAVE_ID))).toBe('You may not decide the "script" gate: it needs a member of editors. Ask one of them.');
    // carol's Approvers role makes her a director, but this gate is for editors only.
    expect(expectEphemeral(await click(script, 'Approve', CAROL_ID, { roles: [APPROVER_ROLE_ID] }))).toMatch(/^You may not decide the "script" gate/);
    // alice submitted the job: the gate forbids self-approval.
    expect(expectEphemeral(await click(script, 'Approve', ALICE_ID))).toBe(`You submitted job ${job}, and the "script" gate needs someone else's approval.`);
    await drained(app(), job);
    expect((await snapshot(app(), fake, job))).toEqual(before);
    expect((await gate(job, 'script')).state).toBe('pending');
    const refused = (await app().store.events.forJob(job)).filter((e) => e.type === 'gate.refused').map((e) => e.data.code);
    expect(refused).toEqual(['not_authorised', 'not_authorised', 'self_approval']);

    // bob approves: the click is acknowledged silently (deferred update), the gate message is edited.
    const byBob = await click(script, 'Approve', BOB_ID);
    expect(byBob).toMatchObject({ type: 6, accepted: true });
    expect(byBob.latencyMs).toBeLessThan(1500);
    await waitFor(() => gateNow(job, 'script').components.length === 0, 'the script gate message to lose its buttons');
    const scriptNow = gateNow(job, 'script');
    expect(scriptNow.id).toBe(script.id);
    expect(scriptNow.content).toBe(`✅ Approval needed: script of job ${job} — Approved by Bob`);
    const scriptEdits = fake.callsTo('PATCH', new RegExp(`^/channels/${script.channel}/messages/${script.id}$`)).filter(performed);
    expect((scriptEdits.at(-1)!.body as Json).components).toEqual([]);
    expect(gatePosts(fake, job, 'script')).toHaveLength(1);

    // The two-approval gate: editors or the Approvers role.
    const storyboard = await postedGate(fake, job, 'storyboard');
    expect(visibleText(storyboard.body)).toContain('Approvals: 0 of 2');
    const bobClick = fake.button({ custom_id: storyboard.buttons.Approve!.custom_id, message: storyboard.id, user: BOB_ID });
    expect(await fake.dispatchInteraction(bobClick)).toMatchObject({ type: 6, accepted: true });
    // The same interaction delivered again (a gateway replay): applied once, not even answered.
    fake.sendInteraction(bobClick);
    // A later interaction's answer proves the replay was handled (interactions are handled in order).
    await fake.dispatchInteraction(fake.autocomplete({ subcommand: 'status', focused: 'job', value: '', focusedType: 4 }));
    expect(fake.callbacksOf(String(bobClick.id))).toHaveLength(1);
    expect((await gate(job, 'storyboard')).votes.map((v) => `${v.display}:${v.vote}`)).toEqual(['Bob:approve']);
    expect((await app().store.events.forJob(job)).filter((e) => e.type === 'gate.voted' && e.data.stage === 'storyboard')).toHaveLength(1);
    await waitFor(() => /Approvals: 1 of 2 \(Bob\)/.test(visibleText(gateNow(job, 'storyboard'))), 'the tally 1 of 2 on the storyboard gate');
    // A second, separate click by bob is a refusal: his approval is already counted.
    expect(expectEphemeral(await click(storyboard, 'Approve', BOB_ID))).toBe('You already approved; 1 more approval(s) needed from others.');

    // carol holds the Approvers role (a director): her approval is the second one.
    expect(await click(storyboard, 'Approve', CAROL_ID, { roles: [APPROVER_ROLE_ID] })).toMatchObject({ type: 6, accepted: true });
    await waitFor(async () => (await jobState(job)) === 'succeeded', 'the job to succeed');
    await drained(app(), job);
    const storyboardNow = gateNow(job, 'storyboard');
    expect(storyboardNow.content).toBe(`✅ Approval needed: storyboard of job ${job} — Approved by Bob, Carol`);
    expect(storyboardNow.components).toEqual([]);
    expect(gatePosts(fake, job, 'storyboard')).toHaveLength(1);

    // A late click on the (stale) script message: told who decided, privately; nothing changes.
    const done = (await snapshot(app(), fake, job));
    const late = expectEphemeral(await click(script, 'Approve', BOB_ID));
    expect(late).toMatch(/^The "script" gate was already approved by Bob at \d{4}-\d\d-\d\dT[\d:.]+Z; nothing changed\.$/);
    await drained(app(), job);
    expect((await snapshot(app(), fake, job))).toEqual(done);

    expect(rootsOf(fake, job)).toHaveLength(1);
    expect(rootOf(fake, job)!.content).toBe(`✅ Job ${job} · quick: Succeeded in 30s`);
    expect(threadLog(fake, threadOf(fake, job)!.id)).toEqual([
      '✅ outline done in T: Outline: N sections [outline.md]',
      '✅ Optional review: outline of job 1 — Auto-approved: nobody objected in time',
      '✅ script done in T: Script: N scenes, N words [script.md]',
      '✅ Approval needed: script of job 1 — Approved by Bob',
      '✅ storyboard done in T: Storyboard: N panels [storyboard.svg]',
      '✅ Approval needed: storyboard of job 1 — Approved by Bob, Carol [storyboard-preview.png]',
      '✅ Job 1 succeeded in T. 3 artifacts.',
    ]);
  });
});

describe.each(STORES)('Discord: reject through the modal, retry, round 2 (%s)', (kind) => {
  it('Reject opens a modal; its reason rejects the gate and the job; /signoff retry opens round 2; the round-1 buttons are refused as decided', async () => {
    await start(kind);
    const { job } = await slash(ALICE_ID, 'submit', { pipeline: 'gated', brief: 'A long film' });
    const round1 = await postedGate(fake, job, 'outline');
    await drained(app(), job);
    expect(Object.keys(round1.buttons)).toEqual(['Approve', 'Approve with note…', 'Reject']);

    // Reject answers with a modal (type 9) asking for the reason; nothing is decided yet.
    const modal = await click(round1, 'Reject', BOB_ID);
    expect(modal).toMatchObject({ type: 9, accepted: true });
    expect(modal.latencyMs).toBeLessThan(1500);
    expect(modal.data).toMatchObject({ custom_id: `sg:reject:${job}:outline:1`, title: `Reject outline of job ${job}` });
    const input = JSON.stringify(modal.data?.components);
    expect(input).toMatch(/"custom_id":"reason"/);
    expect(input).toMatch(/"required":true/);
    expect((await gate(job, 'outline')).state).toBe('pending');

    // The modal's submission carries the reason: the gate and the job are rejected.
    const submitted = await fake.dispatchInteraction(fake.modalSubmit({ custom_id: `sg:reject:${job}:outline:1`, fields: { reason: 'Too long: cut it to one minute' }, user: BOB_ID }));
    expect(expectEphemeral(submitted)).toBe(`Rejected "outline" of job ${job}. Retry the job to redo the stage with your reason.`);
    await waitFor(async () => (await jobState(job)) === 'rejected', 'the job to be rejected');
    await drained(app(), job);
    const rejected = gateNow(job, 'outline');
    expect(rejected.id).toBe(round1.id);
    expect(rejected.content).toBe(`🚫 Approval needed: outline of job ${job} — Rejected by Bob`);
    expect(rejected.components).toEqual([]);
    expect(visibleText(rejected)).toContain('Reason: “Too long: cut it to one minute”');
    expect(rootOf(fake, job)!.content).toBe(`🚫 Job ${job} · gated: Rejected in 0ms`);

    // /signoff retry: round 2 of the gate gets a new message with its own buttons.
    const retried = await slash(ALICE_ID, 'retry', { job });
    expect(retried.answer.content).toBe(`Job ${job} queued again from "outline" with the rejection reason.`);
    const round2 = await postedGate(fake, job, 'outline', 2);
    expect(round2.id).not.toBe(round1.id);
    expect(round2.channel).toBe(round1.channel);
    expect(round2.buttons.Approve!.custom_id).toBe(`sg:a:${job}:outline:2`);
    expect(visibleText(round2.body)).toContain('**Redo asked for:** Too long: cut it to one minute');
    await drained(app(), job);

    // A click on the OLD round-1 message speaks for round 1 only: already decided.
    const before = (await snapshot(app(), fake, job));
    const old = expectEphemeral(await click(round1, 'Approve', BOB_ID));
    expect(old).toMatch(/^The "outline" gate was already rejected by Bob at .+; nothing changed\.$/);
    await drained(app(), job);
    expect((await snapshot(app(), fake, job))).toEqual(before);
    expect((await gate(job, 'outline', 2)).state).toBe('pending');

    // Round 2 approved: the job goes on and finishes.
    expect(await click(round2, 'Approve', BOB_ID)).toMatchObject({ type: 6 });
    await waitFor(async () => (await jobState(job)) === 'succeeded', 'the job to succeed');
    await drained(app(), job);
    expect(gateNow(job, 'outline', 2).content).toBe(`✅ Approval needed: outline of job ${job} (round 2) — Approved by Bob`);
    expect(gateNow(job, 'outline', 1).content).toBe(`🚫 Approval needed: outline of job ${job} — Rejected by Bob`);
    expect(rootsOf(fake, job)).toHaveLength(1);
    expect(fake.threads).toHaveLength(1);
    expect(threadLog(fake, round1.channel)).toEqual([
      '✅ outline done in T: Outline: N sections [outline.md]',
      '🚫 Approval needed: outline of job 1 — Rejected by Bob',
      '🚫 outline rejected by Bob: Too long: cut it to one minute',
      '🚫 Job 1 rejected in T. "outline" rejected by Bob: Too long: cut it to one minute',
      '🔁 Alice retried the job from outline, with the reason: Too long: cut it to one minute',
      '✅ outline done in T: Outline: N sections (revised) [outline.md]',
      '✅ Approval needed: outline of job 1 (round 2) — Approved by Bob',
      // What changed since round 1, in full, right under the round-2 card.
      '📄 The full diff of round 2 since round 1. [outline-round-2.diff]',
      '✅ script done in T: Script: N scenes, N words [script.md]',
      '✅ Job 1 succeeded in T. 2 artifacts.',
    ]);
  });
});

describe('Discord: user text never pings', () => {
  it('a brief and a reason full of @everyone and mentions: every message body has allowed_mentions { parse: [] } and no live mention text', async () => {
    await start();
    const brief = '@everyone <@123> <@&456> look @here';
    const { job, answer } = await slash(ALICE_ID, 'submit', { pipeline: 'gated', brief });
    expect(answer.content).toBe(`Job ${job} (gated) started.`);
    const outline = await postedGate(fake, job, 'outline');
    await click(outline, 'Reject', BOB_ID);
    await fake.dispatchInteraction(fake.modalSubmit({ custom_id: `sg:reject:${job}:outline:1`, fields: { reason: '@everyone read <@&456> @here' }, user: BOB_ID }));
    await waitFor(async () => (await jobState(job)) === 'rejected', 'the job to be rejected');
    // Answers that echo the brief and the reason back.
    const status = await slash(ALICE_ID, 'status', { job });
    expect(status.answer.content).toContain('everyone');
    const audit = await slash(ALICE_ID, 'audit', { job });
    expect(audit.answer.content).toContain('read');
    await drained(app(), job);

    // Every message body signoff sent: channel posts and edits, interaction replies, webhook edits.
    const bodies: { call: string; body: Json }[] = [];
    for (const c of fake.calls) {
      const body = (c.path.startsWith('/interactions/') ? (c.body as Json | undefined)?.data : c.body) as Json | undefined;
      const isMessage = /^\/channels\/\d+\/messages(\/\d+)?$/.test(c.path) || c.path.startsWith('/webhooks/') || (c.path.startsWith('/interactions/') && [4, 7].includes(Number((c.body as Json)?.type)));
      if (isMessage && body && (c.method === 'POST' || c.method === 'PATCH')) bodies.push({ call: `${c.method} ${c.path}`, body });
    }
    expect(bodies.length).toBeGreaterThan(8);
    const rawMention = /@everyone|@here|<@!?123>|<@&456>/;
    for (const { call, body } of bodies) {
      expect(body.allowed_mentions, call).toMatchObject({ parse: [] });
      expect(visibleText(body), call).not.toMatch(rawMention);
    }
    // Only the open gate's card may ping, and only its decider (Alice submitted): exactly Bob.
    const pinging = bodies.filter(({ body }) => ['users', 'roles'].some((k) => k in (body.allowed_mentions as Json)));
    expect(pinging.length).toBeGreaterThan(0);
    for (const { call, body } of pinging) {
      expect(body.allowed_mentions, call).toEqual({ parse: [], users: [BOB_ID], roles: [] });
      expect(body.content, call).toBe(`✋ Approval needed: outline of job ${job} — waiting for <@${BOB_ID}>`);
    }
    // The texts are still there, made inert (a zero-width space after the @), and what users see now is clean too.
    expect(bodies.some(({ body }) => visibleText(body).includes('@\u200beveryone'))).toBe(true);
    expect(bodies.some(({ body }) => visibleText(body).includes('<@\u200b&456>'))).toBe(true);
    for (const m of fake.messages.values()) {
      expect(visibleText(m), m.id).not.toMatch(rawMention);
      expect(m.mention_everyone).toBe(false);
    }
    expect(visibleText(rootOf(fake, job))).toContain('@\u200beveryone');
  });
});

describe('Discord: rate limits and server errors', () => {
  it('a 429 storm on posts and 500s on edits: every message exists exactly once and ends in the right state', async () => {
    await start();
    fake.failNext('POST', /\/channels\/.*\/messages/, { status: 429, retryAfter: 0.2 }, 3);
    // More 500s than the REST client retries (3): one delivery fails and the outbox tries it again.
    fake.failNext('PATCH', /^\/channels\/\d+\/messages\/\d+$/, { status: 500 }, 5);
    const { job } = await slash(ALICE_ID, 'submit', { pipeline: 'quick', brief: 'Storms' });
    await autoApproveOutline(job);
    const script = await postedGate(fake, job, 'script');
    expect(await click(script, 'Approve', BOB_ID)).toMatchObject({ type: 6 });
    const storyboard = await postedGate(fake, job, 'storyboard');
    fake.failNext('POST', /\/channels\/.*\/messages/, { status: 429, retryAfter: 0.2 }, 3);
    fake.failNext('PATCH', /^\/channels\/\d+\/messages\/\d+$/, { status: 502 }, 2);
    expect(await click(storyboard, 'Approve', BOB_ID)).toMatchObject({ type: 6 });
    expect(await click(storyboard, 'Approve', CAROL_ID, { roles: [APPROVER_ROLE_ID] })).toMatchObject({ type: 6 });
    await waitFor(async () => (await jobState(job)) === 'succeeded', 'the job to succeed');
    await drained(app(), job);

    // The faults happened …
    expect(fake.stats.rateLimited).toBeGreaterThanOrEqual(6);
    expect(fake.stats.serverErrors).toBeGreaterThanOrEqual(7);
    // … and nothing was posted twice.
    expect(rootsOf(fake, job)).toHaveLength(1);
    expect(fake.threads).toHaveLength(1);
    expect(fake.callsTo('POST', /\/threads$/).filter(performed)).toHaveLength(1);
    for (const stage of ['outline', 'script', 'storyboard']) {
      expect(gateMessages(fake, job, stage)).toHaveLength(1);
      expect(gatePosts(fake, job, stage)).toHaveLength(1);
      expect(gateNow(job, stage).components).toEqual([]);
    }
    const log = threadLog(fake, threadOf(fake, job)!.id);
    expect(new Set(log).size).toBe(log.length);
    expect(log).toEqual([
      '✅ outline done in T: Outline: N sections [outline.md]',
      '✅ Optional review: outline of job 1 — Auto-approved: nobody objected in time',
      '✅ script done in T: Script: N scenes, N words [script.md]',
      '✅ Approval needed: script of job 1 — Approved by Bob',
      '✅ storyboard done in T: Storyboard: N panels [storyboard.svg]',
      '✅ Approval needed: storyboard of job 1 — Approved by Bob, Carol [storyboard-preview.png]',
      '✅ Job 1 succeeded in T. 3 artifacts.',
    ]);
    expect(rootOf(fake, job)!.content).toBe(`✅ Job ${job} · quick: Succeeded in 30s`);
    expect(fake.messagesIn(CHANNEL_ID)).toHaveLength(1);
  });
});

/** `node dist/main.js discord-register` as a child process; resolves with its exit code and output. */
function register(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [path.join(REPO, 'dist', 'main.js'), 'discord-register'], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    proc.on('error', reject);
    // 'close', not 'exit': the last output may still be in the pipe when the process is gone.
    proc.on('close', (code) => resolve({ code, out }));
  });
}

describe('Discord: command registration', () => {
  it('a lost answer to the thread creation does not stall the job: the existing thread is used', async () => {
    // The thread is made, but its answer never arrives; the retry hears "already has a thread".
    fake.failNext('POST', /\/channels\/\d+\/messages\/\d+\/threads$/, { lose: true });
    await start();
    await fake.dispatchInteraction(fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'quick', brief: 'Lost answers' }, user: ALICE_ID }));
    const gate = await postedGate(fake, 1, 'outline');
    const thread = threadOf(fake, 1)!;
    expect(gate.channel).toBe(thread.id);
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(fake.threads).toHaveLength(1);
  });

  it('Reject on a decided gate answers at once with who decided, without asking for a reason', async () => {
    await start();
    await fake.dispatchInteraction(fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'quick', brief: 'Late reject' }, user: ALICE_ID }));
    const outline = await postedGate(fake, 1, 'outline');
    await fake.dispatchInteraction(fake.button({ custom_id: outline.buttons.Approve!.custom_id, message: outline.id, user: BOB_ID }));
    const late = await fake.dispatchInteraction(fake.button({ custom_id: outline.buttons.Reject!.custom_id, message: outline.id, user: BOB_ID }));
    expect(late.type).toBe(4);
    expect(callbackText(late)).toContain('already approved by Bob');
  });

  it('`signoff discord-register` puts /signoff with its subcommands in the guild; running it again leaves one command', async () => {
    const dir = tempDir('signoff-discord-register-');
    try {
      const env = {
        SIGNOFF_CONFIG: writeConfig(dir, discordConfigYaml()),
        SIGNOFF_DATA_DIR: path.join(dir, 'data'),
        DISCORD_TOKEN,
        DISCORD_APPLICATION_ID: APP_ID,
        DISCORD_GUILD_ID: GUILD_ID,
        DISCORD_API_URL: fake.apiUrl,
      };
      const first = await register(env);
      expect(first, first.out).toMatchObject({ code: 0 });
      expect(first.out).toBe(`Config: ${env.SIGNOFF_CONFIG}  (from SIGNOFF_CONFIG)\nRegistered /signoff in guild ${GUILD_ID}.\n`);
      const puts = fake.callsTo('PUT', `/applications/${APP_ID}/guilds/${GUILD_ID}/commands`);
      expect(puts).toHaveLength(1);
      expect(puts[0]!.authorization).toBe(`Bot ${DISCORD_TOKEN}`);
      const commands = fake.commands.get(GUILD_ID)!;
      expect(commands.map((c) => c.name)).toEqual(['signoff']);
      const signoff = commands[0]!;
      const subcommands = signoff.options as Json[];
      expect(subcommands.map((o) => o.name)).toEqual(['submit', 'status', 'list', 'cancel', 'retry', 'audit', 'approve', 'reject', 'hold', 'pipelines', 'pending', 'help']);
      expect(subcommands.every((o) => o.type === 1)).toBe(true);
      const submit = (subcommands[0]!.options as Json[]).map((o) => [o.name, o.required ?? false, o.autocomplete ?? false]);
      expect(submit).toEqual([['pipeline', true, true], ['brief', true, false], ['params', false, false]]);
      expect((subcommands[0]!.options as Json[])[0]!.description).toBe('The pipeline to run: quick, gated, tiny');
      expect(fake.commands.has('global')).toBe(false);

      // Again: a bulk overwrite, so still one command, with the same id.
      const second = await register(env);
      expect(second, second.out).toMatchObject({ code: 0 });
      expect(fake.callsTo('PUT', `/applications/${APP_ID}/guilds/${GUILD_ID}/commands`)).toHaveLength(2);
      expect(fake.commands.get(GUILD_ID)!.map((c) => [c.name, c.id])).toEqual([['signoff', signoff.id]]);
      expect(fake.internalErrors).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
