/**
 * The fake Slack (tests/helpers/fake-slack.ts) proven against the REAL libraries: @slack/web-api's
 * WebClient, and @slack/bolt Apps in Socket Mode and behind an HTTPReceiver.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, LogLevel, SocketModeReceiver, webApi } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSlack } from '../helpers/fake-slack.js';
import { postInteraction, postSlashCommand } from '../helpers/slack-signing.js';
import { waitFor } from '../helpers/wait.js';

const { WebClient, WebClientEvent } = webApi;
type WebClient = webApi.WebClient;

const TOKEN = 'xoxb-test';
const retryConfig = { retries: 2, minTimeout: 10, maxTimeout: 50 };

let fake: FakeSlack;
const apps: App[] = [];

beforeEach(async () => {
  fake = await FakeSlack.start();
});

afterEach(async () => {
  // Apps first: a Socket Mode client whose server vanished would try to reconnect.
  for (const app of apps.splice(0)) await app.stop().catch(() => undefined);
  await fake.close();
  await fake.close(); // safe twice
  expect(fake.internalErrors).toEqual([]);
});

function webClient(options: { timeout?: number } = {}): WebClient {
  return new WebClient(TOKEN, { slackApiUrl: fake.apiUrl, retryConfig, logLevel: LogLevel.ERROR, ...options });
}

/** The error a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; data?: { error?: string }; statusCode?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('the Web API with the real WebClient', () => {
  it('answers auth.test and records the call with its bearer token', async () => {
    const result = await webClient().auth.test();
    expect(result).toMatchObject({ ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1', user: 'signoff', team: 'Test' });
    expect(fake.callsTo('auth.test')).toEqual([expect.objectContaining({ method: 'auth.test', token: TOKEN })]);
  });

  it('posts and updates messages, keeping the current content of each', async () => {
    const client = webClient();
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*job 1* running' } }];
    const root = await client.chat.postMessage({ channel: 'C1', text: 'job 1 running', blocks });
    const reply = await client.chat.postMessage({ channel: 'C1', thread_ts: root.ts!, text: 'stage outline done' });
    expect(root).toMatchObject({ ok: true, channel: 'C1', message: { text: 'job 1 running', blocks } });
    expect(root.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(reply.ts)).toBeGreaterThan(Number(root.ts));

    // blocks arrive as a JSON string in the form body; the recorded call holds the object.
    expect(fake.callsTo('chat.postMessage')[0]!.args.blocks).toEqual(blocks);

    const newBlocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*job 1* succeeded' } }];
    const updated = await client.chat.update({ channel: 'C1', ts: root.ts!, text: 'job 1 succeeded', blocks: newBlocks });
    expect(updated).toMatchObject({ ok: true, channel: 'C1', ts: root.ts });
    expect(fake.message('C1', root.ts!)).toMatchObject({ text: 'job 1 succeeded', blocks: newBlocks, updates: 1, thread_ts: undefined });
    expect(fake.threadReplies('C1', root.ts!).map((m) => m.text)).toEqual(['stage outline done']);

    // Leaving blocks out keeps them, as Slack does.
    await client.chat.update({ channel: 'C1', ts: root.ts!, text: 'job 1 archived' });
    expect(fake.message('C1', root.ts!)).toMatchObject({ text: 'job 1 archived', blocks: newBlocks, updates: 2 });

    const missing = await rejection(client.chat.update({ channel: 'C1', ts: '1.000001', text: 'x' }));
    expect(missing).toMatchObject({ code: 'slack_webapi_platform_error', data: { error: 'message_not_found' } });
  });

  it('records ephemeral messages', async () => {
    const result = await webClient().chat.postEphemeral({ channel: 'C1', user: 'U0DAVE', text: 'you may not approve this gate' });
    expect(result).toMatchObject({ ok: true, message_ts: expect.stringMatching(/^\d+\.\d{6}$/) });
    expect(fake.ephemerals).toEqual([expect.objectContaining({ channel: 'C1', user: 'U0DAVE', text: 'you may not approve this gate' })]);
  });

  it('answers views, user groups, users and channels', async () => {
    const client = webClient();
    const view = { type: 'modal' as const, callback_id: 'reject', title: { type: 'plain_text' as const, text: 'Reject' }, blocks: [] };
    const opened = await client.views.open({ trigger_id: fake.triggerId(), view });
    expect(opened.view).toMatchObject({ id: expect.stringMatching(/^V/), callback_id: 'reject' });
    const updated = await client.views.update({ view_id: opened.view!.id!, view: { ...view, private_metadata: 'job=1' } });
    expect(updated.view).toMatchObject({ id: opened.view!.id, private_metadata: 'job=1' });
    expect(fake.views.map((v) => [v.method, v.id])).toEqual([
      ['views.open', opened.view!.id],
      ['views.update', opened.view!.id],
    ]);

    fake.usergroups.set('S0DIR', ['U0CAROL']);
    expect((await client.usergroups.users.list({ usergroup: 'S0DIR' })).users).toEqual(['U0CAROL']);
    expect((await rejection(client.usergroups.users.list({ usergroup: 'S0NONE' }))).data?.error).toBe('no_such_subteam');

    fake.users.set('U0CAROL', { real_name: 'Carol C.', display_name: 'carol' });
    expect((await client.users.info({ user: 'U0CAROL' })).user).toMatchObject({ id: 'U0CAROL', real_name: 'Carol C.', profile: { display_name: 'carol' } });
    expect((await client.users.info({ user: 'U0BOB' })).user).toMatchObject({ id: 'U0BOB', name: 'u0bob' });
    expect((await client.conversations.info({ channel: 'C1' })).channel).toMatchObject({ id: 'C1', name: 'general' });
  });

  it('answers an unknown method with unknown_method and records it', async () => {
    const error = await rejection(webClient().apiCall('signoff.nothing', { x: 1 }));
    expect(error.data?.error).toBe('unknown_method');
    expect(fake.callsTo('signoff.nothing')[0]!.args).toMatchObject({ x: '1' });
  });

  it('completes filesUploadV2 of two files into a thread, with their bytes', async () => {
    const client = webClient();
    const root = await client.chat.postMessage({ channel: 'C1', text: 'job 1' });
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x0d, 0x0a]);
    const result = await client.filesUploadV2({
      channel_id: 'C1',
      thread_ts: root.ts!,
      initial_comment: 'outline artifacts',
      file_uploads: [
        { file: png, filename: 'storyboard.png', title: 'Storyboard' },
        { content: '# Outline\nbees', filename: 'outline.md' },
      ],
    });
    expect(result.ok).toBe(true);

    expect(fake.callsTo('files.getUploadURLExternal').map((c) => c.args)).toEqual([
      expect.objectContaining({ filename: 'storyboard.png', length: String(png.length) }),
      expect.objectContaining({ filename: 'outline.md', length: String(Buffer.byteLength('# Outline\nbees')) }),
    ]);
    // One completeUploadExternal for both (same channel, thread and comment).
    const complete = fake.callsTo('files.completeUploadExternal');
    expect(complete).toHaveLength(1);
    expect(complete[0]!.args).toMatchObject({ channel_id: 'C1', thread_ts: root.ts, initial_comment: 'outline artifacts' });
    expect(complete[0]!.args.files).toEqual([
      expect.objectContaining({ id: expect.stringMatching(/^F/), title: 'Storyboard' }),
      expect.objectContaining({ id: expect.stringMatching(/^F/), title: 'outline.md' }),
    ]);

    expect(fake.uploads.map((u) => ({ filename: u.filename, title: u.title, channel: u.channel, threadTs: u.threadTs, bytes: u.bytes.toString('hex') }))).toEqual([
      { filename: 'storyboard.png', title: 'Storyboard', channel: 'C1', threadTs: root.ts, bytes: png.toString('hex') },
      { filename: 'outline.md', title: 'outline.md', channel: 'C1', threadTs: root.ts, bytes: Buffer.from('# Outline\nbees').toString('hex') },
    ]);
    // What WebClient puts on the wire for the bytes: multipart/form-data, one part named "body",
    // filename "Untitled", and the bot token in Authorization.
    expect(fake.uploadPosts).toHaveLength(2);
    for (const post of fake.uploadPosts) {
      expect(post).toMatchObject({ contentType: expect.stringMatching(/^multipart\/form-data; boundary=/), field: 'body', partFilename: 'Untitled', authorization: `Bearer ${TOKEN}` });
    }
  });

  it('answers 429 with Retry-After; WebClient waits and retries; the fake counts it', async () => {
    const client = webClient();
    const rateLimited: number[] = [];
    client.on(WebClientEvent.RATE_LIMITED, (seconds: number) => rateLimited.push(seconds));
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const started = Date.now();
    const result = await client.chat.postMessage({ channel: 'C1', text: 'hi' });
    expect(result.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(rateLimited).toEqual([1]);
    expect(fake.stats.rateLimited).toBe(1);
    expect(fake.callsTo('chat.postMessage').map((c) => c.fault)).toEqual([{ status: 429, retryAfter: 1 }, undefined]);
    expect(fake.messages.size).toBe(1);
  });

  it('a 429 that outlasts the retries surfaces as a request error, not a rate-limit error', async () => {
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 0 }, 3);
    const error = await rejection(webClient().chat.postMessage({ channel: 'C1', text: 'hi' }));
    expect(error.code).toBe('slack_webapi_request_error');
    expect(error.message).toMatch(/rate limit was exceeded/);
    expect(fake.stats.rateLimited).toBe(3);
  });

  it('answers 500; WebClient retries it, and gives up with an HTTP error after its retries', async () => {
    const client = webClient();
    fake.failNext('chat.postMessage', { status: 500 }, 2);
    expect((await client.chat.postMessage({ channel: 'C1', text: 'hi' })).ok).toBe(true);
    expect(fake.callsTo('chat.postMessage')).toHaveLength(3);

    fake.failNext('chat.postMessage', { status: 500 }, 3);
    const error = await rejection(client.chat.postMessage({ channel: 'C1', text: 'again' }));
    expect(error).toMatchObject({ code: 'slack_webapi_http_error', statusCode: 500 });
    expect(fake.stats.serverErrors).toBe(5);
    expect(fake.messages.size).toBe(1);
  });

  it('answers ok:false errors, which WebClient does not retry', async () => {
    fake.failNext('chat.postMessage', { error: 'channel_not_found' });
    const error = await rejection(webClient().chat.postMessage({ channel: 'C404', text: 'hi' }));
    expect(error).toMatchObject({ code: 'slack_webapi_platform_error', data: { ok: false, error: 'channel_not_found' } });
    expect(fake.callsTo('chat.postMessage')).toHaveLength(1);
    expect(fake.stats.errors).toBe(1);
  });

  it('hangs an answer, and a lost answer makes WebClient post twice', async () => {
    const client = webClient();
    fake.failNext('chat.postMessage', { hangMs: 300 });
    const started = Date.now();
    await client.chat.postMessage({ channel: 'C1', text: 'slow' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(fake.stats.hung).toBe(1);

    fake.failNext('chat.postMessage', { lose: true });
    await client.chat.postMessage({ channel: 'C1', text: 'once?' });
    expect(fake.messageList('C1').map((m) => m.text)).toEqual(['slow', 'once?', 'once?']);
    expect(fake.stats.lost).toBe(1);
  });

  it('emulates the per-channel posting limit', async () => {
    const client = webClient();
    fake.channelRateLimit = { perSecond: 1, burst: 3 };
    for (let i = 1; i <= 4; i++) await client.chat.postMessage({ channel: 'C1', text: `m${i}` });
    await client.chat.postMessage({ channel: 'C2', text: 'other channel' });
    expect(fake.stats.rateLimited).toBe(1);
    expect(fake.callsTo('chat.postMessage').filter((c) => c.fault).map((c) => c.args.text)).toEqual(['m4']);
    expect(fake.messageList('C1').map((m) => m.text)).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('injects random faults deterministically from a seed, never on auth.test', async () => {
    async function outcomes(seed: number): Promise<string[]> {
      const other = await FakeSlack.start();
      try {
        other.faultRate = { rate: 0.4, kinds: [{ error: 'fatal_error' }, { status: 503 }], seed };
        const out: string[] = [];
        for (let i = 0; i < 30; i++) {
          for (const method of ['auth.test', 'chat.postMessage']) {
            const response = await fetch(`${other.apiUrl}${method}`, {
              method: 'POST',
              headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ channel: 'C1', text: `m${i}` }).toString(),
            });
            const body = (await response.json()) as { ok: boolean; error?: string };
            out.push(`${method}:${response.status}:${body.error ?? 'ok'}`);
          }
        }
        return out;
      } finally {
        await other.close();
      }
    }
    const first = await outcomes(42);
    expect(await outcomes(42)).toEqual(first);
    expect(await outcomes(7)).not.toEqual(first);
    expect(first.filter((o) => o.startsWith('auth.test')).every((o) => o === 'auth.test:200:ok')).toBe(true);
    const posts = first.filter((o) => o.startsWith('chat.postMessage'));
    expect(posts).toContain('chat.postMessage:200:ok');
    expect(posts).toContain('chat.postMessage:200:fatal_error');
    expect(posts).toContain('chat.postMessage:503:internal_error');
  });

  it('records what is posted to a response_url and refuses unknown ones', async () => {
    const url = fake.responseUrl();
    const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'done', response_type: 'ephemeral' }) });
    expect(ok.status).toBe(200);
    expect(fake.responses).toEqual([expect.objectContaining({ id: url.split('/').pop(), body: { text: 'done', response_type: 'ephemeral' } })]);
    const unknown = await fetch(`${fake.baseUrl}/response/nope`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
  });
});

describe('a Bolt App in Socket Mode', () => {
  function socketApp(receiverOptions?: { clientPingTimeout: number }): App {
    const clientOptions = { slackApiUrl: fake.apiUrl, retryConfig };
    const app = receiverOptions
      ? new App({
          token: TOKEN,
          receiver: new SocketModeReceiver({ appToken: 'xapp-1-test', logLevel: LogLevel.ERROR, installerOptions: { clientOptions }, ...receiverOptions }),
          clientOptions,
          logLevel: LogLevel.ERROR,
        })
      : new App({ token: TOKEN, appToken: 'xapp-1-test', socketMode: true, clientOptions, logLevel: LogLevel.ERROR });
    apps.push(app);
    return app;
  }

  it('starts against the fake, receives a slash command, acks, and respond() reaches the fake', async () => {
    const app = socketApp();
    const seen: string[] = [];
    app.command('/signoff', async ({ command, ack, respond }) => {
      seen.push(command.text);
      await ack();
      await respond({ response_type: 'ephemeral', text: `on it: ${command.text}` });
    });
    await app.start();
    await fake.socketConnected();
    expect(fake.callsTo('apps.connections.open')).toEqual([expect.objectContaining({ token: 'xapp-1-test' })]);
    expect(fake.callsTo('auth.test')[0]?.token).toBe(TOKEN);

    const payload = fake.slashCommand({ text: 'status 1', user_id: 'U0ALICE', channel_id: 'C1' });
    const ack = await fake.sendEnvelope('slash_commands', payload);
    expect(ack).toEqual({ envelope_id: expect.any(String), payload: {} });
    expect(seen).toEqual(['status 1']);
    const response = await waitFor(() => fake.responses[0], 'respond() to reach the response_url');
    expect(response).toMatchObject({ id: payload.response_url!.split('/').pop(), body: { response_type: 'ephemeral', text: 'on it: status 1' } });
  });

  it('carries block actions and view submissions, and the listener client talks to the fake', async () => {
    const app = socketApp();
    app.action('approve', async ({ ack, body, client }) => {
      await ack();
      if (body.type !== 'block_actions') return;
      await client.chat.update({ channel: body.container.channel_id as string, ts: body.container.message_ts as string, text: 'approved by ' + body.user.id });
      await client.views.open({ trigger_id: body.trigger_id, view: { type: 'modal', callback_id: 'reason', title: { type: 'plain_text', text: 'Why?' }, blocks: [] } });
    });
    app.view('reason', async ({ ack, view }) => {
      const reason = view.state.values.reason?.text?.value;
      await ack(reason ? undefined : { response_action: 'errors', errors: { reason: 'A reason is required' } });
    });
    await app.start();

    const client = webClient();
    const card = await client.chat.postMessage({ channel: 'C1', text: 'gate script awaits approval' });
    const ack = await fake.sendEnvelope('interactive', fake.blockAction({ user: 'U0BOB', channel: 'C1', message_ts: card.ts!, action_id: 'approve', value: 'job=1' }));
    expect(ack.payload).toEqual({});
    await waitFor(() => fake.callsTo('views.open').length === 1, 'views.open from the listener');
    expect(fake.message('C1', card.ts!)?.text).toBe('approved by U0BOB');
    // The listener's client adds the payload's team_id to every call.
    expect(fake.callsTo('chat.update')[0]!.args.team_id).toBe('T1');

    const refused = await fake.sendEnvelope('interactive', fake.viewSubmission({ user: 'U0BOB', callback_id: 'reason', values: { reason: { text: { type: 'plain_text_input', value: null } } } }));
    expect(refused.payload).toEqual({ response_action: 'errors', errors: { reason: 'A reason is required' } });
    const accepted = await fake.sendEnvelope('interactive', fake.viewSubmission({ user: 'U0BOB', callback_id: 'reason', values: { reason: { text: { type: 'plain_text_input', value: 'too long' } } } }));
    expect(accepted.payload).toEqual({});
  });

  it('reconnects after a disconnect message', async () => {
    // The reconnect waits clientPingTimeout (default 5 s), which App does not expose: use the receiver.
    const app = socketApp({ clientPingTimeout: 300 });
    app.command('/signoff', async ({ ack }) => ack('pong'));
    await app.start();
    await fake.disconnectSocket();
    await fake.socketConnected({ count: 2 });
    expect(fake.callsTo('apps.connections.open')).toHaveLength(2);
    const ack = await fake.sendEnvelope('slash_commands', fake.slashCommand({ text: 'ping' }));
    expect(ack.payload).toEqual({ text: 'pong' });
  });

  it('rejects sendEnvelope when nobody acks in time, and when nobody is connected', async () => {
    const app = socketApp();
    app.command('/signoff', async () => {
      // never acks
    });
    await app.start();
    await expect(fake.sendEnvelope('slash_commands', fake.slashCommand(), { timeoutMs: 200 })).rejects.toThrow(/no ack/);
    await app.stop();
    apps.splice(0);
    await waitFor(() => !fake.socketOpen, 'the socket to close');
    await expect(fake.sendEnvelope('slash_commands', fake.slashCommand())).rejects.toThrow(/no Socket Mode client/);
  });
});

describe('a Bolt App behind an HTTPReceiver', () => {
  const SECRET = 'test-signing-secret';

  async function httpApp(): Promise<{ app: App; url: string }> {
    const receiver = new HTTPReceiver({ signingSecret: SECRET, logLevel: LogLevel.ERROR });
    const app = new App({ token: TOKEN, receiver, clientOptions: { slackApiUrl: fake.apiUrl, retryConfig }, logLevel: LogLevel.ERROR });
    apps.push(app);
    app.command('/signoff', async ({ command, ack, respond }) => {
      await ack({ response_type: 'ephemeral', text: `working on ${command.text}` });
      await respond({ text: 'done' });
    });
    app.action('approve', async ({ ack }) => ack());
    const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
    return { app, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events` };
  }

  it('accepts a signed slash command and refuses forged, stale and unsigned ones', async () => {
    const { url } = await httpApp();
    const fields = fake.slashCommand({ text: 'status 1', user_id: 'U0ALICE' });
    const ok = await postSlashCommand(url, SECRET, fields);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ response_type: 'ephemeral', text: 'working on status 1' });
    await waitFor(() => fake.responses.length === 1, 'respond() to reach the fake');
    expect(fake.responses[0]!.body).toEqual({ text: 'done' });

    expect((await postSlashCommand(url, 'not-the-secret', fields)).status).toBe(401);
    expect((await postSlashCommand(url, SECRET, fields, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 })).status).toBe(401);
    const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    expect(unsigned.status).toBe(401);
  });

  it('accepts a signed interaction', async () => {
    const { url } = await httpApp();
    const result = await postInteraction(url, SECRET, fake.blockAction({ user: 'U0BOB', channel: 'C1', message_ts: '1700000000.000100', action_id: 'approve', value: 'x' }));
    expect(result).toMatchObject({ status: 200, text: '' });
  });
});
