/**
 * Shared pieces of the Slack end-to-end tests: a config with every kind of gate, signoff started
 * in-process against the fake Slack (HTTP or Socket Mode), and readers that turn the fake's
 * recordings into what a Slack user sees: the job's root message, its thread, each gate's card
 * and the buttons on it.
 */
import fs from 'node:fs';
import { startApp, type App } from '../../src/app.js';
import type { Clock } from '../../src/orchestrator/engine.js';
import type { ApiCall, FakeSlack, StoredMessage } from './fake-slack.js';
import { chatTestConfig, configFrom, silentLog, tempDir } from './fixtures.js';
import { postInteraction, postSlashCommand, type SignOptions, type SlackHttpResult } from './slack-signing.js';
import { waitFor } from './wait.js';

export const BOT_TOKEN = 'xoxb-signoff-e2e';
export const APP_TOKEN = 'xapp-1-signoff-e2e';
export const SIGNING_SECRET = 'e2e-signing-secret-0123456789';
export const API_TOKEN = 'slack-e2e-api-token-0123456789';
export const CHANNEL = 'C0JOBS';

/** Slack people of the tests. alice and bob edit (by user id), carol directs through the S0DIR user group, dave is in no group. */
export const ALICE = 'U0ALICE';
export const BOB = 'U0BOB';
export const CAROL = 'U0CAROL';
export const DAVE = 'U0DAVE';

/**
 * `quick`: instant builtin stages with an optional gate (auto-approves), a required gate that
 * forbids self-approval (the default), and a two-approval gate editors and directors may decide.
 * `gated`: one required gate, for the restart test. `tiny`: an optional gate and one more stage,
 * for the pacing test. `channels.slack` is unset, so each job's messages go to the channel its
 * command was typed in.
 */
export function slackConfigYaml(): string {
  return chatTestConfig(`
operators:
  editors: { slack: [${ALICE}, ${BOB}], console: [alice, bob] }
  directors: { slack_usergroups: [S0DIR], console: [carol] }
  viewers: { console: [dave] }
submitters: [editors, directors]`);
}

export interface SlackHarness {
  app: App;
  fake: FakeSlack;
  dataDir: string;
  /** `${app.url}/slack/events` (HTTP mode). */
  eventsUrl: string;
  /** GET /api/v1/jobs/:id as the API user. */
  job(id: number): Promise<any>;
  stop(): Promise<void>;
}

export async function startSlackApp(o: {
  fake: FakeSlack;
  mode: 'http' | 'socket';
  yaml?: string;
  clock?: Clock;
  postsPerSecond?: number;
  dataDir?: string;
  /** Jobs in this PostgreSQL database instead of the data directory's SQLite file. */
  databaseUrl?: string;
}): Promise<SlackHarness> {
  const dataDir = o.dataDir ?? tempDir('signoff-slack-e2e-');
  const app = await startApp({
    config: configFrom(o.yaml ?? slackConfigYaml()),
    dataDir,
    ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
    apiToken: API_TOKEN,
    log: silentLog,
    host: '127.0.0.1',
    port: 0,
    ...(o.clock ? { clock: o.clock, tickSchedule: false as const } : {}),
    slack: {
      botToken: BOT_TOKEN,
      ...(o.mode === 'socket' ? { appToken: APP_TOKEN } : { signingSecret: SIGNING_SECRET }),
      apiUrl: o.fake.apiUrl,
      postsPerSecond: o.postsPerSecond ?? 50,
    },
  });
  let stopped = false;
  return {
    app,
    fake: o.fake,
    dataDir,
    eventsUrl: `${app.url}/slack/events`,
    async job(id) {
      const res = await fetch(`${app.url}/api/v1/jobs/${id}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      return res.json();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ HTTP mode requests

/** A signed `/signoff <text>` to a Request URL; returns the HTTP answer and the fields sent. */
export async function slash(
  fake: FakeSlack,
  url: string,
  input: { user: string; text: string; channel?: string; trigger_id?: string; response_url?: string },
  options: SignOptions = {},
): Promise<{ res: SlackHttpResult; fields: Record<string, string>; ms: number }> {
  const fields = fake.slashCommand({
    user_id: input.user,
    text: input.text,
    channel_id: input.channel ?? CHANNEL,
    ...(input.trigger_id ? { trigger_id: input.trigger_id } : {}),
    ...(input.response_url ? { response_url: input.response_url } : {}),
  });
  const started = Date.now();
  const res = await postSlashCommand(url, SIGNING_SECRET, fields, options);
  return { res, fields, ms: Date.now() - started };
}

/** A signed interaction payload. */
export async function interact(url: string, payload: unknown, options: SignOptions = {}): Promise<SlackHttpResult> {
  return postInteraction(url, SIGNING_SECRET, payload, options);
}

// ------------------------------------------------------------------ reading what Slack shows

type Block = { type: string; block_id?: string; text?: { text?: string }; elements?: Array<Record<string, any>> };

/** Whether a recorded call was performed (the fake performs `lose` and `hangMs` calls, not status/error faults). */
export function created(call: ApiCall): boolean {
  const f = call.fault;
  return !f || (f.status === undefined && f.error === undefined);
}

/** Every message as first posted, paired with its current content, in posting order (signoff never deletes messages). */
export function posts(fake: FakeSlack): { call: ApiCall; message: StoredMessage }[] {
  const calls = fake.callsTo('chat.postMessage').filter(created);
  const messages = fake.messageList();
  if (calls.length !== messages.length) throw new Error(`posts: ${calls.length} created postMessage calls but ${messages.length} messages`);
  return calls.map((call, i) => ({ call, message: messages[i]! }));
}

export function blocksOf(m: { blocks?: unknown[] | undefined } | Record<string, unknown>): Block[] {
  return ((m as { blocks?: unknown[] }).blocks ?? []) as Block[];
}

/** Every bit of visible text of a block list, joined. */
export function blockText(blocks: unknown[] | undefined): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (k === 'text' || k === 'elements' || k === 'fields') walk(x);
  };
  walk(blocks ?? []);
  return out.join('\n');
}

export function actionsBlock(blocks: unknown[] | undefined): Block | undefined {
  return ((blocks ?? []) as Block[]).find((b) => b.type === 'actions');
}

/** The root message of a job (a top-level message whose header names the job), as posted and now. */
export function rootOf(fake: FakeSlack, job: number): { call: ApiCall; message: StoredMessage } | undefined {
  const all = rootsOf(fake, job);
  return all[0];
}

export function rootsOf(fake: FakeSlack, job: number): { call: ApiCall; message: StoredMessage }[] {
  const title = new RegExp(`Job ${job} · `);
  return posts(fake).filter((p) => p.message.thread_ts === undefined && blocksOf(p.call.args).some((b) => b.type === 'header' && title.test(b.text?.text ?? '')));
}

/** Every card posted for one gate round (a user should see exactly one), as first posted and now. */
export function gateCards(fake: FakeSlack, job: number, stage: string, round = 1): { call: ApiCall; message: StoredMessage }[] {
  const id = `gate:${job}:${stage}:${round}`;
  return posts(fake).filter((p) => actionsBlock(blocksOf(p.call.args))?.block_id === id);
}

export async function waitForGateCard(fake: FakeSlack, job: number, stage: string, round = 1, timeoutMs = 20_000) {
  return waitFor(() => gateCards(fake, job, stage, round)[0], `the gate card ${job}/${stage}/round ${round}`, timeoutMs);
}

/** A card as it was first posted (a copy: the fake's messages change as they are edited). */
export interface PostedCard {
  channel: string;
  ts: string;
  thread_ts: string | undefined;
  blocks: unknown[];
}

export function asPosted(card: { call: ApiCall; message: StoredMessage }): PostedCard {
  return { channel: card.message.channel, ts: card.message.ts, thread_ts: card.message.thread_ts, blocks: structuredClone(card.call.args.blocks as unknown[]) };
}

export interface Button {
  action_id: string;
  value: string;
  block_id: string;
  text: string;
}

/** The buttons of a block list (a gate card), by label. */
export function buttons(blocks: unknown[] | undefined): Record<string, Button> {
  const actions = actionsBlock(blocks);
  const out: Record<string, Button> = {};
  for (const e of actions?.elements ?? []) {
    out[String(e.text?.text)] = { action_id: String(e.action_id), value: String(e.value), block_id: String(actions!.block_id), text: String(e.text?.text) };
  }
  return out;
}

/** The block_actions payload of a click on `button` of the card `card` by `user`. */
export function clickPayload(fake: FakeSlack, card: { channel: string; ts: string }, button: Button, user: string, extra: { action_ts?: string; value?: string } = {}) {
  return fake.blockAction({
    user,
    channel: card.channel,
    message_ts: card.ts,
    action_id: button.action_id,
    value: extra.value ?? button.value,
    block_id: button.block_id,
    text: button.text,
    ...(extra.action_ts ? { action_ts: extra.action_ts } : {}),
  });
}

/** The text of what was POSTed to one response_url (respond()). */
export function responsesTo(fake: FakeSlack, responseUrl: string): { text: string; body: any }[] {
  const id = responseUrl.split('/').pop();
  return fake.responses.filter((r) => r.id === id).map((r) => ({ text: String((r.body as { text?: unknown }).text ?? ''), body: r.body }));
}

/**
 * What a Slack user sees appear in a job's thread, in the order it was sent: `card <block_id>` for
 * a gate card (then ` — waiting for <mentions>` when it mentions its deciders), `upload <initial comment> [files]` for files with their comment, `notice <text>`
 * for any other reply.
 */
export function threadLog(fake: FakeSlack, channel: string, rootTs: string): string[] {
  const messages = fake.messageList();
  const out: string[] = [];
  let made = 0;
  for (const call of fake.calls) {
    if (!created(call)) continue;
    if (call.method === 'chat.postMessage') {
      const m = messages[made++];
      if (!m || m.channel !== channel || m.thread_ts !== rootTs) continue;
      const actions = actionsBlock(blocksOf(call.args));
      // A card shows whom it waits for (the mentions its posting notified), if anyone.
      out.push(actions ? `card ${actions.block_id}${/ — waiting for .*$/.exec(String(call.args.text))?.[0] ?? ''}` : `notice ${String(call.args.text)}`);
    } else if (call.method === 'files.completeUploadExternal' && call.args.channel_id === channel && call.args.thread_ts === rootTs) {
      const files = (call.args.files as { title?: string }[]).map((f) => f.title).join(', ');
      out.push(`upload ${String(call.args.initial_comment)} [${files}]`);
    }
  }
  return out;
}

/** Waits until the Slack outbox has nothing left for a job: everything was delivered, no delivery is in flight. */
export async function drained(app: App, job: number, what = `the Slack outbox of job ${job} to drain`, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await app.store.outbox.pendingForJob('slack', job)).length === 0, what, timeoutMs);
}

/** Event types of a job, in order. */
export async function eventTypes(app: App, job: number): Promise<string[]> {
  return (await app.store.events.forJob(job)).map((e) => e.type);
}

/** A snapshot of what a job looks like to the engine and to Slack, to compare "nothing changed". */
export async function snapshot(app: App, fake: FakeSlack, job: number) {
  const agg = (await app.store.jobs.load(job))!;
  return {
    state: agg.job.state,
    gates: agg.gates.map((g) => ({ stage: g.stage, round: g.round, state: g.state, votes: g.votes.map((v) => `${v.actor}:${v.vote}`) })),
    events: (await eventTypes(app, job)).filter((t) => t !== 'gate.refused'),
    messages: fake.messageList().map((m) => JSON.stringify([m.ts, m.text, m.blocks, m.updates])),
  };
}
