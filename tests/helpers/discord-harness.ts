/**
 * Shared pieces of the Discord end-to-end tests: a config naming the fake Discord's people and
 * roles, signoff started in-process against the fake (real discord.js on both sides of the wire),
 * and readers that turn the fake's recordings into what a Discord user sees: the job's root
 * message in the channel, its thread, each gate's message and the buttons on it, and the private
 * (ephemeral) answers.
 */
import { expect } from 'vitest';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { startApp, type App } from '../../src/app.js';
import type { Clock } from '../../src/orchestrator/engine.js';
import { ALICE_ID, APP_ID, APPROVER_ROLE_ID, BOB_ID, CHANNEL_ID, type FakeDiscord, type FakeMessage, type InteractionCallback, type Json, type RestCall } from './fake-discord.js';
import { chatTestConfig, configFrom, silentLog, tempDir } from './fixtures.js';
import { waitFor } from './wait.js';

/** A bot token as the environment schema wants it (at least 20 characters). */
export const DISCORD_TOKEN = 'fake-discord-bot-token-0123456789';
export const API_TOKEN = 'discord-e2e-api-token-0123456789';

/**
 * `quick`: instant builtin stages with an optional gate (auto-approves), a required gate that
 * forbids self-approval (the default), and a two-approval gate that editors (alice, bob by user
 * id) and directors (anyone holding the Approvers role) may decide. `gated`: one required gate,
 * then one more stage. `tiny`: an optional gate, then one more stage. `channels.discord` is unset,
 * so each job's messages go to the channel its command was used in.
 */
export function discordConfigYaml(o: { autoApprove?: string } = {}): string {
  return chatTestConfig(
    `
operators:
  editors: { discord: ["${ALICE_ID}", "${BOB_ID}"] }
  directors: { discord_roles: ["${APPROVER_ROLE_ID}"] }
submitters: [editors, directors]`,
    o.autoApprove,
  );
}

export interface DiscordHarness {
  app: App;
  fake: FakeDiscord;
  dataDir: string;
  stop(): Promise<void>;
}

/** signoff in this process on port 0, connected to the fake Discord (resolves once the bot is ready). */
export async function startDiscordApp(o: { fake: FakeDiscord; yaml?: string; clock?: Clock; dataDir?: string; log?: Logger; expandRoles?: boolean; databaseUrl?: string }): Promise<DiscordHarness> {
  const dataDir = o.dataDir ?? tempDir('signoff-discord-e2e-');
  const app = await startApp({
    config: configFrom(o.yaml ?? discordConfigYaml()),
    dataDir,
    ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
    apiToken: API_TOKEN,
    log: o.log ?? silentLog,
    host: '127.0.0.1',
    port: 0,
    ...(o.clock ? { clock: o.clock, tickSchedule: false as const } : {}),
    discord: { token: DISCORD_TOKEN, applicationId: APP_ID, apiUrl: o.fake.apiUrl, ...(o.expandRoles ? { expandRoles: true } : {}) },
  });
  let stopped = false;
  return {
    app,
    fake: o.fake,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ reading what Discord shows

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether a recorded REST call was carried out by the fake (status faults are answered instead). */
export function performed(call: RestCall): boolean {
  return call.status !== undefined && call.status < 300 && !(call.fault?.status !== undefined && call.fault.status >= 300);
}

/** The text a user reads on a message body: content, embed title, description and fields. */
export function visibleText(m: { content?: unknown; embeds?: unknown } | Json | undefined): string {
  if (!m) return '';
  const parts: string[] = [typeof m.content === 'string' ? m.content : ''];
  for (const e of (Array.isArray(m.embeds) ? m.embeds : []) as Json[]) {
    parts.push(String(e.title ?? ''), String(e.description ?? ''));
    for (const f of (Array.isArray(e.fields) ? e.fields : []) as Json[]) parts.push(String(f.name ?? ''), String(f.value ?? ''));
  }
  return parts.filter(Boolean).join('\n');
}

/** Top-level (non-ephemeral) messages in the channel whose content names job `job`. */
export function rootsOf(fake: FakeDiscord, job: number, channel = CHANNEL_ID): FakeMessage[] {
  const title = new RegExp(`^\\S+ Job ${job} · `);
  return fake.messagesIn(channel).filter((m) => title.test(m.content));
}

export function rootOf(fake: FakeDiscord, job: number, channel = CHANNEL_ID): FakeMessage | undefined {
  return rootsOf(fake, job, channel)[0];
}

/** `✋ Approval needed: script of job 1 (round 2) — Approved by Bob` */
function gateTitle(job: number, stage: string, round: number): RegExp {
  return new RegExp(`^\\S+ (Approval needed|Optional review): ${escapeRe(stage)} of job ${job}${round > 1 ? ` \\(round ${round}\\)` : ''}( — |$)`);
}

/** The messages of one gate round (there must be exactly one) in any channel or thread, as they are now. */
export function gateMessages(fake: FakeDiscord, job: number, stage: string, round = 1): FakeMessage[] {
  const title = gateTitle(job, stage, round);
  return [...fake.messages.values()].filter((m) => !(m.flags & 64) && title.test(m.content));
}

/** The recorded POSTs that created a gate round's message (successful ones). */
export function gatePosts(fake: FakeDiscord, job: number, stage: string, round = 1): RestCall[] {
  const title = gateTitle(job, stage, round);
  return fake.callsTo('POST', /^\/channels\/\d+\/messages$/).filter((c) => performed(c) && title.test(String((c.body as Json | undefined)?.content ?? '')));
}

/**
 * A gate round's card exists once. A signoff killed after Discord stored the card but before it
 * recorded it posts it again with the same nonce (enforce_nonce), which Discord answers with the
 * first message: every POST of the card must carry that one nonce.
 */
export function expectGateShownOnce(fake: FakeDiscord, job: number, stage: string, round = 1): void {
  expect(gateMessages(fake, job, stage, round)).toHaveLength(1);
  const posts = gatePosts(fake, job, stage, round);
  expect(posts.length).toBeGreaterThanOrEqual(1);
  expect(new Set(posts.map((c) => (c.body as Json).nonce)).size).toBe(1);
  expect(posts.every((c) => (c.body as Json).enforce_nonce === true)).toBe(true);
}

export async function waitForGate(fake: FakeDiscord, job: number, stage: string, round = 1, timeoutMs = 20_000): Promise<FakeMessage> {
  return waitFor(() => gateMessages(fake, job, stage, round)[0], `the gate message ${job}/${stage}/round ${round}`, timeoutMs);
}

export interface PostedButton {
  custom_id: string;
  label: string;
  style: number;
}

/** The buttons of a message body (or recorded body), by label. */
export function buttonsOf(body: { components?: unknown } | Json | undefined): Record<string, PostedButton> {
  const out: Record<string, PostedButton> = {};
  for (const row of ((body?.components as Json[] | undefined) ?? [])) {
    for (const c of ((row.components as Json[] | undefined) ?? [])) {
      if (c.type === 2) out[String(c.label)] = { custom_id: String(c.custom_id), label: String(c.label), style: Number(c.style) };
    }
  }
  return out;
}

/** The gate message as first posted: its id, thread and the buttons from the recorded POST body. */
export interface PostedGate {
  id: string;
  channel: string;
  body: Json;
  buttons: Record<string, PostedButton>;
}

export async function postedGate(fake: FakeDiscord, job: number, stage: string, round = 1): Promise<PostedGate> {
  const message = await waitForGate(fake, job, stage, round);
  const posts = gatePosts(fake, job, stage, round);
  if (posts.length !== 1) throw new Error(`expected one POST of the gate ${job}/${stage}/${round}, got ${posts.length}`);
  const body = structuredClone(posts[0]!.body as Json);
  return { id: message.id, channel: message.channel_id, body, buttons: buttonsOf(body) };
}

/** The thread started from a job's root message. */
export function threadOf(fake: FakeDiscord, job: number) {
  const root = rootOf(fake, job);
  return root ? fake.threads.find((t) => t.id === root.id || (root.thread as Json | undefined)?.id === t.id) : undefined;
}

/** What a user reads in a thread, in posting order: `content [files]`, with volatile numbers normalised. */
export function threadLog(fake: FakeDiscord, threadId: string): string[] {
  return fake.messagesIn(threadId).map((m) => {
    const files = m.attachments.length ? ` [${m.attachments.map((a) => a.filename).join(', ')}]` : '';
    const text = m.content.split('\n')[0]!.replace(/\d+ (sections|scenes|words|panels)/g, 'N $1').replace(/ in \d+(ms|s)\b/g, ' in T');
    return `${text}${files}`;
  });
}

/** Waits until the Discord outbox of a job is empty (everything was delivered). */
export async function drained(app: App, job: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await app.store.outbox.pendingForJob('discord', job)).length === 0, `the Discord outbox of job ${job} to drain`, timeoutMs);
}

/** The message an interaction's reply (or deferred reply, once edited) is now. */
export function replyOf(fake: FakeDiscord, interactionId: string): FakeMessage | undefined {
  const id = fake.interactions.get(interactionId)?.originalMessageId;
  return id ? fake.messages.get(id) : undefined;
}

/** Waits for the ephemeral text a deferred slash command ends up with. */
export async function deferredAnswer(fake: FakeDiscord, interactionId: string, what = 'the deferred answer'): Promise<FakeMessage> {
  return waitFor(() => {
    const m = replyOf(fake, interactionId);
    return m && m.content !== '' && m.edited_timestamp !== null ? m : undefined;
  }, what);
}

/** Text of an immediate reply callback (type 4). */
export function callbackText(cb: InteractionCallback): string {
  return String(cb.data?.content ?? '');
}

/** Event types of a job, in order. */
export async function eventTypes(app: App, job: number): Promise<string[]> {
  return (await app.store.events.forJob(job)).map((e) => e.type);
}

/** A snapshot of what a job looks like to the engine and to Discord, to compare "nothing changed". */
export async function snapshot(app: App, fake: FakeDiscord, job: number) {
  const agg = (await app.store.jobs.load(job))!;
  return {
    state: agg.job.state,
    gates: agg.gates.map((g) => ({ stage: g.stage, round: g.round, state: g.state, votes: g.votes.map((v) => `${v.actor}:${v.vote}`) })),
    events: (await eventTypes(app, job)).filter((t) => t !== 'gate.refused'),
    messages: [...fake.messages.values()].filter((m) => !(m.flags & 64)).map((m) => JSON.stringify([m.id, m.content, m.embeds, m.components, fake.editsOf(m.id)])),
  };
}
