/**
 * Reaching the people who must decide, on Discord, end to end: real discord.js against the fake
 * Discord. What a Discord user would notice: the mention reply pings exactly the deciders (users
 * and roles, listed in allowed_mentions, never parsed from text), the card in their DMs, every
 * copy edited when the gate is decided, escalation, "/signoff pending" with jump links, and the
 * pipeline's own channel.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALICE_ID, APPROVER_ROLE_ID, BOB_ID, CAROL_ID, CHANNEL_ID, FakeDiscord, GUILD_ID, OTHER_CHANNEL_ID, type Json } from '../helpers/fake-discord.js';
import { buttonsOf, deferredAnswer, gatePosts, performed, rootOf, startDiscordApp, waitForGate, type DiscordHarness } from '../helpers/discord-harness.js';
import { chatTestConfig, FakeClock } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const HOSTILE = `Ship it @everyone @here <@&${APPROVER_ROLE_ID}> <@${BOB_ID}> <!channel> <!subteam^S0DIR>`;
const MINUTE = 60_000;

const YAML = chatTestConfig(`
operators:
  editors: { discord: ["${ALICE_ID}", "${BOB_ID}"] }
  directors: { discord_roles: ["${APPROVER_ROLE_ID}"] }
  leads: { discord: ["${CAROL_ID}"] }
submitters: [editors, directors]
channels: { discord: "${CHANNEL_ID}" }`).replace(/\npipelines:/, `
pipelines:
  deploy:
    channels: { discord: "${OTHER_CHANNEL_ID}" }
    stages:
      - id: build
        run: { builtin: outline }
        gate: { approvers: [editors, directors], notify: both, timeout: 4h, escalate_after: 210m, escalate_to: [leads] }
      - id: ship
        run: { builtin: script }`);

let fake: FakeDiscord;
let clock: FakeClock;
let h: DiscordHarness | undefined;

beforeEach(async () => {
  fake = await FakeDiscord.start();
  clock = new FakeClock(Date.now());
});

afterEach(async () => {
  await h?.stop();
  h = undefined;
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

const app = () => h!.app;
const gate = async (job: number) => (await app().store.jobs.load(job))!.gates.find((g) => g.stage === 'build')!;

async function slash(user: string, subcommand: string, options: Record<string, string | number> = {}) {
  const payload = fake.slashCommand({ subcommand, options, user });
  await fake.dispatchInteraction(payload);
  return deferredAnswer(fake, String(payload.id), `the answer to /signoff ${subcommand}`);
}

async function submit(brief: string): Promise<number> {
  const answer = await slash(ALICE_ID, 'submit', { pipeline: 'deploy', brief });
  const job = Number(/Job (\d+)/.exec(answer.content)?.[1]);
  expect(job).toBeGreaterThan(0);
  return job;
}

/** Posts (message creations) of signoff, with their bodies. */
const messagePosts = () => fake.callsTo('POST', /^\/channels\/\d+\/messages$/).filter(performed);
/** The job thread a gate card is in, checked to be under the pipeline's own channel. */
function threadIn(id: string) {
  const thread = fake.channels.get(id)!;
  expect(thread.parent_id).toBe(OTHER_CHANNEL_ID);
  return thread;
}
const dmChannelOf = (user: string) => fake.callsTo('POST', /^\/users\/@me\/channels$/).filter(performed).find((c) => (c.body as Json).recipient_id === user);

describe('reaching the deciders on Discord', () => {
  it('pings exactly the deciders with allowed_mentions; the card goes to listed users by DM; a DM click decides and every copy is edited', async () => {
    h = await startDiscordApp({ fake, clock, yaml: YAML });
    const job = await submit(HOSTILE);
    const card = await waitForGate(fake, job, 'build');
    // The pipeline's own channel, not the global one or the command's.
    expect(rootOf(fake, job, OTHER_CHANNEL_ID)).toBeDefined();
    const thread = threadIn(card.channel_id);

    // The card itself pings the deciders as it is posted (Alice submitted: Bob and the role).
    const [ping] = gatePosts(fake, job, 'build');
    const body = ping!.body as Json;
    expect(ping!.path).toBe(`/channels/${thread.id}/messages`);
    expect(body.content).toBe(`✋ Approval needed: build of job ${job} — waiting for <@${BOB_ID}> <@&${APPROVER_ROLE_ID}>`);
    expect(body.allowed_mentions).toEqual({ parse: [], users: [BOB_ID], roles: [APPROVER_ROLE_ID] });
    await waitFor(async () => (await app().store.outbox.pendingForJob('discord', job)).length === 0, 'the outbox to drain');
    // No reply of its own in the thread: the card carries the mentions.
    expect(fake.messagesIn(thread.id).map((m) => m.id).filter((id) => id !== card.id).map((id) => fake.messages.get(id)!.content)).toEqual([expect.stringMatching(/^✅ build done/)]);
    // Everything else signoff sent pings nobody, whatever the brief says (an edit of the open card keeps its exact mentions).
    const cardEdit = `/channels/${thread.id}/messages/${card.id}`;
    for (const c of fake.calls.filter((x) => performed(x) && (x.method === 'POST' || x.method === 'PATCH') && /\/messages/.test(x.path) && x !== ping)) {
      const mentions = (c.body as Json | undefined)?.allowed_mentions as Json | undefined;
      if (mentions && c.path === cardEdit && 'users' in mentions) expect(mentions).toEqual(body.allowed_mentions);
      else if (mentions) expect({ users: [], roles: [], ...mentions }, `${c.method} ${c.path}`).toMatchObject({ parse: [], users: [], roles: [] });
    }
    const rootText = JSON.stringify(rootOf(fake, job, OTHER_CHANNEL_ID)!.embeds);
    expect(rootText).not.toContain(`<@${BOB_ID}>`);
    expect(rootText).not.toContain('@everyone');

    // DMs: Bob (listed) only. Alice submitted; the role is pinged in the thread, not expanded.
    const bobDm = await waitFor(() => dmChannelOf(BOB_ID), "Bob's DM channel");
    expect(dmChannelOf(ALICE_ID)).toBeUndefined();
    const dmChannel = String((await waitFor(() => fake.channels.get(`9${BOB_ID.padStart(18, '0')}`), 'the DM channel')).id);
    expect(bobDm).toBeDefined();
    const dm = await waitFor(() => fake.messagesIn(dmChannel)[0], "the card in Bob's DMs");
    // The same card, without the thread's mentions.
    expect(dm.content).toBe(`✋ Approval needed: build of job ${job}`);
    expect(dm.embeds).toEqual(fake.messages.get(card.id)!.embeds);
    expect(Object.keys(buttonsOf(dm))).toEqual(['Approve', 'Approve with note…', 'Reject']);
    const dmPost = messagePosts().find((c) => c.path === `/channels/${dmChannel}/messages`)!;
    expect((dmPost.body as Json).allowed_mentions).toEqual({ parse: [] });

    // Bob approves from his DM: one decision, and both copies show it without buttons.
    const approve = buttonsOf(dm).Approve!;
    await fake.dispatchInteraction(fake.button({ custom_id: approve.custom_id, message: dm.id, user: BOB_ID }));
    await waitFor(async () => (await gate(job)).state === 'approved', 'the gate to be approved from the DM');
    for (const id of [card.id, dm.id]) {
      await waitFor(() => fake.messages.get(id)!.components.length === 0 && fake.messages.get(id)!.content.includes('Approved by'), `copy ${id} to show the outcome`);
    }
    expect(fake.messagesIn(dmChannel)).toHaveLength(1);
    // Decided, the thread's card says its outcome, no longer whom it waits for, and pings nobody.
    expect(fake.messages.get(card.id)!.content).toBe(`✅ Approval needed: build of job ${job} — Approved by Bob`);
    const lastEdit = fake.callsTo('PATCH', new RegExp(`^/channels/${thread.id}/messages/${card.id}$`)).filter(performed).at(-1)!;
    expect((lastEdit.body as Json).allowed_mentions).toEqual({ parse: [] });
  });

  it('escalates on time to the escalation group (ping and DM), who may then decide; /signoff pending lists it with a jump link', async () => {
    h = await startDiscordApp({ fake, clock, yaml: YAML });
    const job = await submit('Release 2.0');
    const card = await waitForGate(fake, job, 'build');
    const thread = threadIn(card.channel_id);

    expect((await slash(CAROL_ID, 'pending')).content).toContain('Nothing waits for you');
    clock.advance(210 * MINUTE - 1);
    (await app().engine.tick());
    expect((await gate(job)).escalatedAt).toBeNull();
    clock.advance(1);
    (await app().engine.tick());
    const ping = await waitFor(() => messagePosts().find((c) => String((c.body as Json).content).startsWith('📣')), 'the escalation ping');
    expect(ping.path).toBe(`/channels/${thread.id}/messages`);
    expect(String((ping.body as Json).content)).toMatch(new RegExp(`^📣 Escalated: build of job ${job} got no decision in 3h ?30m; leads may decide it now too\\. <@${CAROL_ID}>$`));
    expect((ping.body as Json).allowed_mentions).toEqual({ parse: [], users: [CAROL_ID], roles: [] });
    await waitFor(() => dmChannelOf(CAROL_ID), "Carol's DM");
    await waitFor(() => fake.messages.get(card.id)!.embeds.some((e) => String(e.description).includes('Escalated to leads')), 'the card to say it escalated');

    const pending = await slash(CAROL_ID, 'pending');
    expect(pending.content).toContain(`#${job} deploy · build · waiting 3h`);
    expect(pending.content).toContain(`https://discord.com/channels/${GUILD_ID}/${thread.id}/${card.id}`);
    const buttons = buttonsOf(pending);
    expect(Object.keys(buttons)).toEqual([`Approve #${job} build`, 'Reject']);
    expect((await slash(ALICE_ID, 'pending')).content).toContain('Nothing waits for you');

    await fake.dispatchInteraction(fake.button({ custom_id: buttons[`Approve #${job} build`]!.custom_id, message: pending.id, user: CAROL_ID }));
    await waitFor(async () => (await gate(job)).state === 'approved', 'the escalation group to decide');
  });

  it('with DISCORD_EXPAND_ROLES, role members get the card by DM too (not the submitter), and the role is not pinged for notify: dm', async () => {
    fake.setMember(CAROL_ID, [APPROVER_ROLE_ID]);
    fake.setMember(ALICE_ID, [APPROVER_ROLE_ID]);
    h = await startDiscordApp({ fake, clock, yaml: YAML.replace('notify: both', 'notify: dm'), expandRoles: true });
    const job = await submit('Release 4.0');
    const card = await waitForGate(fake, job, 'build');
    await waitFor(() => dmChannelOf(CAROL_ID), "Carol's DM (she holds the approvers role)");
    await waitFor(() => dmChannelOf(BOB_ID), "Bob's DM (listed)");
    await waitFor(async () => (await app().store.outbox.pendingForJob('discord', job)).length === 0, 'the outbox to drain');
    expect(dmChannelOf(ALICE_ID)).toBeUndefined();
    // notify: dm with the roles expanded: nobody is pinged in the thread, neither by the card nor by a reply.
    expect(gatePosts(fake, job, 'build').filter((c) => c.path === `/channels/${card.channel_id}/messages`).map((c) => [(c.body as Json).content, (c.body as Json).allowed_mentions])).toEqual([[`✋ Approval needed: build of job ${job}`, { parse: [] }]]);
    expect(messagePosts().some((c) => String((c.body as Json).content).startsWith('🔔'))).toBe(false);
  });
});
