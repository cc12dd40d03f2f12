/**
 * A fake Slack on 127.0.0.1 for driving the REAL @slack/bolt / @slack/web-api / @slack/socket-mode
 * in tests: the Web API (`POST /api/<method>`), the file-upload URLs of files.uploadV2, the
 * `response_url`s that Bolt's respond() posts to, and a Socket Mode WebSocket server.
 *
 * Everything it receives is recorded so that tests can assert on it (`calls`, `messages` with the
 * CURRENT content of every message, `ephemerals`, `views`, `uploads`, `responses`, `acks`), and
 * faults can be injected per method (`failNext`), at random (`faultRate`) or by emulating Slack's
 * per-channel posting limit (`channelRateLimit`).
 *
 *   const fake = await FakeSlack.start();
 *   const app = new App({ token: 'xoxb-test', appToken: 'xapp-1-test', socketMode: true,
 *                         clientOptions: { slackApiUrl: fake.apiUrl }, logLevel: LogLevel.ERROR });
 *   await app.start();
 *   const ack = await fake.sendEnvelope('slash_commands', fake.slashCommand({ text: 'help' }));
 *   ...
 *   await app.stop(); await fake.close();
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { closeSocketsAndServer } from './close-sockets.js';

/** The identities the fake answers with (auth.test, message authors, payloads). */
export const FAKE_IDS = {
  team: 'T1',
  teamDomain: 'test',
  teamName: 'Test',
  botUser: 'UBOT',
  botUserName: 'signoff',
  bot: 'BBOT',
  app: 'A1',
  /** The legacy verification token carried in payloads (Bolt ignores it). */
  verificationToken: 'fake-verification-token',
} as const;

export interface FakeSlackOptions {
  /** How long sendEnvelope() waits for the client's ack before rejecting (default 5000 ms). */
  ackTimeoutMs?: number;
}

/** One Web API call as the fake received it. Nested JSON fields (blocks, view, files…) are parsed. */
export interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  /** From `Authorization: Bearer …`, else a `token` argument. */
  token: string | undefined;
  /** Date.now() when the request arrived. */
  at: number;
  /** Set when a fault (failNext, faultRate or the channel limit) decided the answer. */
  fault?: Fault;
}

/** A message as it is NOW (after every chat.update). */
export interface StoredMessage {
  channel: string;
  ts: string;
  thread_ts: string | undefined;
  text: string | undefined;
  blocks: unknown[] | undefined;
  /** Any other arguments of the last post/update (metadata, attachments, unfurl flags…). */
  args: Record<string, unknown>;
  /** How many chat.update calls changed it. */
  updates: number;
}

export interface StoredEphemeral {
  channel: string;
  user: string;
  text: string | undefined;
  blocks: unknown[] | undefined;
  thread_ts: string | undefined;
  message_ts: string;
}

export interface StoredView {
  method: 'views.open' | 'views.update' | 'views.push';
  id: string;
  view: Record<string, unknown>;
  trigger_id: string | undefined;
}

/** A file of files.uploadV2, complete (bytes received and files.completeUploadExternal called). */
export interface StoredUpload {
  fileId: string;
  filename: string;
  title: string;
  bytes: Buffer;
  /** The `length` announced to files.getUploadURLExternal. */
  length: number;
  channel: string | undefined;
  threadTs: string | undefined;
  initialComment: string | undefined;
  /** The ts of the message that shares the file in its channel (files shared in one call share it). */
  shareTs: string | undefined;
}

/** One POST to an upload URL, as sent on the wire. */
export interface UploadPost {
  fileId: string;
  contentType: string | undefined;
  authorization: string | undefined;
  /** The multipart field that held the file, and the filename it was given (multipart only). */
  field: string | undefined;
  partFilename: string | undefined;
  bytes: Buffer;
}

export interface StoredResponse {
  id: string;
  body: unknown;
  at: number;
}

export interface SocketAck {
  envelope_id: string;
  payload?: unknown;
}

/**
 * A fault to answer a request with. Forms: `{ status: 429, retryAfter: 1 }` (HTTP 429 with
 * Retry-After and `{ok:false,error:'ratelimited'}`), `{ status: 500 }` (any non-200 status),
 * `{ error: 'channel_not_found' }` (HTTP 200, `{ok:false,error}`), `{ hangMs: N }` (the normal
 * answer, N ms late; combinable with the others) and `{ lose: true }` (the call IS performed, then
 * the connection is destroyed without an answer: the "lost response" that makes clients retry).
 */
export interface Fault {
  status?: number;
  retryAfter?: number;
  error?: string;
  hangMs?: number;
  lose?: boolean;
}

export interface FaultRate {
  /** Probability in [0, 1] that an eligible call gets a fault. */
  rate: number;
  /** Picked uniformly. */
  kinds: Fault[];
  /** Seed of the deterministic PRNG (default 1). Setting `faultRate` restarts the sequence. */
  seed?: number;
  /** Only these methods (default: every Web API method except `exempt`). */
  methods?: string[];
  /**
   * Never faulted. Default `['auth.test', 'apps.connections.open']`: a failed
   * apps.connections.open makes the Socket Mode client give up starting (it treats HTTP errors as
   * unrecoverable), which is a different test from "Slack is flaky".
   */
  exempt?: string[];
}

/** Slack's ≈1 message/second/channel for chat.postMessage, as a token bucket. */
export interface ChannelRateLimit {
  perSecond: number;
  burst: number;
}

export interface FakeSlackStats {
  /** Web API calls received. */
  calls: number;
  /** 429 answers (injected or from the channel limit). */
  rateLimited: number;
  /** Other non-200 answers. */
  serverErrors: number;
  /** `ok:false` answers with HTTP 200 (injected or real, such as message_not_found). */
  errors: number;
  /** Answers delayed by a hangMs fault. */
  hung: number;
  /** Calls performed whose answer was dropped (`lose`). */
  lost: number;
  /** WebSocket connections that got a hello. */
  socketConnections: number;
}

export interface SlashCommandInput {
  text?: string;
  user_id?: string;
  user_name?: string;
  channel_id?: string;
  channel_name?: string;
  command?: string;
  trigger_id?: string;
  response_url?: string;
}

export interface BlockActionInput {
  user?: string;
  user_name?: string;
  channel?: string;
  message_ts: string;
  thread_ts?: string;
  action_id: string;
  value?: string;
  block_id?: string;
  action_ts?: string;
  /** The button's text (default: the action_id). */
  text?: string;
  trigger_id?: string;
  response_url?: string;
  /** The message Slack shows the payload with; default: the fake's current copy of it, if any. */
  message?: Record<string, unknown>;
}

export interface ViewSubmissionInput {
  user?: string;
  user_name?: string;
  callback_id: string;
  private_metadata?: string;
  /** `view.state.values`: `{ [block_id]: { [action_id]: { type, value | selected_option… } } }`. */
  values?: Record<string, Record<string, unknown>>;
  /** Default: the last view the app opened with this callback_id, else a fresh id. */
  view_id?: string;
  trigger_id?: string;
  /** For `response_url_enabled` inputs: adds `response_urls` pointing at the fake. */
  response_url_channel?: string;
}

export type MethodHandler = (args: Record<string, unknown>, call: ApiCall) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** Nested fields the Web API client sends as JSON strings inside a form-encoded body. */
const JSON_FIELDS = new Set(['blocks', 'attachments', 'view', 'files', 'metadata', 'file_uploads', 'unfurls', 'user_auth_blocks', 'options']);

const DEFAULT_EXEMPT = ['auth.test', 'apps.connections.open'];

type ApiAnswer = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

interface PendingUpload {
  fileId: string;
  filename: string;
  length: number;
  bytes: Buffer | undefined;
}

interface PendingAck {
  resolve: (ack: SocketAck) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function str(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : String(value);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a multipart/form-data body with the platform's own parser (undici's Request.formData). */
async function parseMultipart(contentType: string, body: Buffer): Promise<{ fields: Record<string, string>; files: { field: string; filename: string; bytes: Buffer }[] }> {
  const form = await new Request('http://fake.invalid/', { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(body) }).formData();
  const fields: Record<string, string> = {};
  const files: { field: string; filename: string; bytes: Buffer }[] = [];
  for (const [key, value] of form.entries()) {
    if (typeof value === 'string') fields[key] = value;
    else files.push({ field: key, filename: value.name, bytes: Buffer.from(await value.arrayBuffer()) });
  }
  return { fields, files };
}

export class FakeSlack {
  /** `http://127.0.0.1:P/api/`: give it to WebClient / Bolt as `slackApiUrl`. */
  readonly apiUrl: string;
  /** `http://127.0.0.1:P` */
  readonly baseUrl: string;
  readonly port: number;

  readonly calls: ApiCall[] = [];
  /** By `channel:ts`; the current content of every message posted (and updated). */
  readonly messages = new Map<string, StoredMessage>();
  readonly ephemerals: StoredEphemeral[] = [];
  readonly views: StoredView[] = [];
  /** Home tabs as last published per user (views.publish), and every publish in order. */
  readonly homes = new Map<string, Record<string, unknown>>();
  readonly publishes: { user: string; view: Record<string, unknown> }[] = [];
  /** Complete uploads only (bytes received AND files.completeUploadExternal called), in order. */
  readonly uploads: StoredUpload[] = [];
  /** Every POST to an upload URL, as received. */
  readonly uploadPosts: UploadPost[] = [];
  /** What Bolt's respond() (or anything else) POSTed to a response_url. */
  readonly responses: StoredResponse[] = [];
  /** Every ack a Socket Mode client sent (also those nobody awaited). */
  readonly acks: SocketAck[] = [];
  /** Socket Mode messages from the client that were not acks. */
  readonly socketMessages: unknown[] = [];
  /** Errors thrown by the fake itself (bugs in a test's handler or in the fake): answered 500. */
  readonly internalErrors: Error[] = [];

  /** usergroup id → member user ids, for usergroups.users.list. */
  readonly usergroups = new Map<string, string[]>();
  /** user id → profile, for users.info (unknown ids answer with name = id lower-cased). */
  readonly users = new Map<string, { name?: string; real_name?: string; display_name?: string; is_bot?: boolean; deleted?: boolean }>();
  /** channel id → info, for conversations.info (unknown ids are named 'general'). */
  readonly channels = new Map<string, { name?: string; is_private?: boolean }>();

  readonly stats: FakeSlackStats = { calls: 0, rateLimited: 0, serverErrors: 0, errors: 0, hung: 0, lost: 0, socketConnections: 0 };

  /** Emulates Slack's per-channel chat.postMessage limit; undefined = unlimited. */
  channelRateLimit: ChannelRateLimit | undefined;

  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly ackTimeoutMs: number;
  private readonly handlers = new Map<string, MethodHandler>();
  private readonly failQueue = new Map<string, { fault: Fault; remaining: number }[]>();
  private faultRateValue: FaultRate | undefined;
  private random: () => number = prng(1);
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private tsCounter = 0;
  private shareCounter = 0;
  private idCounter = 0;
  private readonly pendingUploads = new Map<string, PendingUpload>();
  private readonly responseIds = new Set<string>();
  private readonly tickets = new Set<string>();
  private readonly sockets = new Set<WebSocket>();
  private readonly helloed = new WeakSet<WebSocket>();
  private connectedWaiters: { count: number; resolve: () => void }[] = [];
  private readonly pendingAcks = new Map<string, PendingAck>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closing: Promise<void> | undefined;

  private constructor(server: Server, wss: WebSocketServer, port: number, options: FakeSlackOptions) {
    this.server = server;
    this.wss = wss;
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.baseUrl}/api/`;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5000;
  }

  static async start(options: FakeSlackOptions = {}): Promise<FakeSlack> {
    const server = createServer();
    const wss = new WebSocketServer({ noServer: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const fake = new FakeSlack(server, wss, (server.address() as AddressInfo).port, options);
    server.on('request', (req, res) => void fake.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => fake.onUpgrade(req, socket as Socket, head));
    wss.on('connection', (ws) => fake.onConnection(ws));
    return fake;
  }

  // ---------------------------------------------------------------- inspection

  /** The calls of one method, in order. */
  callsTo(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** The current content of one message. */
  message(channel: string, ts: string): StoredMessage | undefined {
    return this.messages.get(`${channel}:${ts}`);
  }

  /** Messages in posting order, optionally only one channel's. */
  messageList(channel?: string): StoredMessage[] {
    return [...this.messages.values()].filter((m) => channel === undefined || m.channel === channel);
  }

  /** The replies in a thread (not the parent), in posting order. */
  threadReplies(channel: string, threadTs: string): StoredMessage[] {
    return this.messageList(channel).filter((m) => m.thread_ts === threadTs && m.ts !== threadTs);
  }

  /** Adds or replaces a Web API method: the handler's object is answered with `ok: true` unless it sets `ok`. */
  handle(method: string, handler: MethodHandler): void {
    this.handlers.set(method, handler);
  }

  // ---------------------------------------------------------------- faults

  /**
   * The next `count` requests of `method` get `kind`. `method` is a Web API method, or `'upload'`
   * (POSTs to upload URLs) or `'response'` (POSTs to response_urls). Queued faults run in order.
   */
  failNext(method: string, kind: Fault, count = 1): void {
    const queue = this.failQueue.get(method) ?? [];
    queue.push({ fault: kind, remaining: count });
    this.failQueue.set(method, queue);
  }

  /** Random faults on Web API calls, from a deterministic PRNG; undefined turns them off. */
  get faultRate(): FaultRate | undefined {
    return this.faultRateValue;
  }

  set faultRate(value: FaultRate | undefined) {
    this.faultRateValue = value;
    this.random = prng(value?.seed ?? 1);
  }

  // ---------------------------------------------------------------- payload builders

  /** A fresh response_url pointing at the fake; what is POSTed there lands in `responses`. */
  responseUrl(): string {
    const id = `R${++this.idCounter}${randomBytes(4).toString('hex')}`;
    this.responseIds.add(id);
    return `${this.baseUrl}/response/${id}`;
  }

  /** A trigger_id in Slack's format. */
  triggerId(): string {
    return `${Date.now()}.${100000 + ++this.idCounter}.${randomBytes(16).toString('hex')}`;
  }

  /** The form fields of a slash command (HTTP mode: form-encode them; Socket Mode: the envelope payload). */
  slashCommand(input: SlashCommandInput = {}): Record<string, string> {
    const user = input.user_id ?? 'U0USER';
    const channel = input.channel_id ?? 'C0GENERAL';
    return {
      token: FAKE_IDS.verificationToken,
      team_id: FAKE_IDS.team,
      team_domain: FAKE_IDS.teamDomain,
      channel_id: channel,
      channel_name: input.channel_name ?? this.channels.get(channel)?.name ?? 'general',
      user_id: user,
      user_name: input.user_name ?? this.users.get(user)?.name ?? user.toLowerCase(),
      command: input.command ?? '/signoff',
      text: input.text ?? '',
      api_app_id: FAKE_IDS.app,
      is_enterprise_install: 'false',
      response_url: input.response_url ?? this.responseUrl(),
      trigger_id: input.trigger_id ?? this.triggerId(),
    };
  }

  /** The interactive payload of a button click (HTTP mode: `payload=<json>`; Socket Mode: type 'interactive'). */
  blockAction(input: BlockActionInput): Record<string, unknown> {
    const user = input.user ?? 'U0USER';
    const channel = input.channel ?? 'C0GENERAL';
    const stored = this.message(channel, input.message_ts);
    const threadTs = input.thread_ts ?? stored?.thread_ts;
    const message = input.message ?? {
      type: 'message',
      user: FAKE_IDS.botUser,
      bot_id: FAKE_IDS.bot,
      app_id: FAKE_IDS.app,
      team: FAKE_IDS.team,
      ts: input.message_ts,
      ...(threadTs ? { thread_ts: threadTs } : {}),
      text: stored?.text ?? '',
      ...(stored?.blocks ? { blocks: stored.blocks } : {}),
    };
    const container: Record<string, unknown> = { type: 'message', message_ts: input.message_ts, channel_id: channel, is_ephemeral: false };
    if (threadTs) container.thread_ts = threadTs;
    return {
      type: 'block_actions',
      user: { id: user, username: input.user_name ?? user.toLowerCase(), name: input.user_name ?? user.toLowerCase(), team_id: FAKE_IDS.team },
      api_app_id: FAKE_IDS.app,
      token: FAKE_IDS.verificationToken,
      container,
      trigger_id: input.trigger_id ?? this.triggerId(),
      team: { id: FAKE_IDS.team, domain: FAKE_IDS.teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: channel, name: this.channels.get(channel)?.name ?? 'general' },
      message,
      state: { values: {} },
      response_url: input.response_url ?? this.responseUrl(),
      actions: [
        {
          action_id: input.action_id,
          block_id: input.block_id ?? 'actions',
          text: { type: 'plain_text', text: input.text ?? input.action_id, emoji: true },
          ...(input.value !== undefined ? { value: input.value } : {}),
          type: 'button',
          action_ts: input.action_ts ?? this.actionTs(),
        },
      ],
    };
  }

  /** The interactive payload of a modal submission. */
  viewSubmission(input: ViewSubmissionInput): Record<string, unknown> {
    const user = input.user ?? 'U0USER';
    const opened = [...this.views].reverse().find((v) => (input.view_id ? v.id === input.view_id : v.view.callback_id === input.callback_id));
    const id = input.view_id ?? opened?.id ?? this.viewId();
    const base = opened?.view ?? {};
    return {
      type: 'view_submission',
      team: { id: FAKE_IDS.team, domain: FAKE_IDS.teamDomain },
      user: { id: user, username: input.user_name ?? user.toLowerCase(), name: input.user_name ?? user.toLowerCase(), team_id: FAKE_IDS.team },
      api_app_id: FAKE_IDS.app,
      token: FAKE_IDS.verificationToken,
      trigger_id: input.trigger_id ?? this.triggerId(),
      view: {
        type: 'modal',
        blocks: [],
        title: { type: 'plain_text', text: 'signoff' },
        ...base,
        id,
        team_id: FAKE_IDS.team,
        callback_id: input.callback_id,
        private_metadata: input.private_metadata ?? str(base.private_metadata) ?? '',
        state: { values: input.values ?? {} },
        hash: `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString('hex')}`,
        root_view_id: id,
        previous_view_id: null,
        app_id: FAKE_IDS.app,
        external_id: '',
        app_installed_team_id: FAKE_IDS.team,
        bot_id: FAKE_IDS.bot,
      },
      response_urls: input.response_url_channel
        ? [{ block_id: 'channel', action_id: 'channel', channel_id: input.response_url_channel, response_url: this.responseUrl() }]
        : [],
      is_enterprise_install: false,
      enterprise: null,
    };
  }

  // ---------------------------------------------------------------- Socket Mode

  /** Resolves once at least `count` connections (in total) got their hello and one is open. */
  socketConnected(options: { count?: number; timeoutMs?: number } = {}): Promise<void> {
    const count = options.count ?? 1;
    if (this.stats.socketConnections >= count && this.openSocket()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.connectedWaiters = this.connectedWaiters.filter((w) => w.resolve !== done);
        reject(new Error(`no Socket Mode connection #${count} within ${options.timeoutMs ?? 20_000} ms`));
      }, options.timeoutMs ?? 20_000);
      this.timers.add(timer);
      const done = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        resolve();
      };
      this.connectedWaiters.push({ count, resolve: done });
    });
  }

  /** Whether a Socket Mode client is connected now. */
  get socketOpen(): boolean {
    return this.openSocket() !== undefined;
  }

  /**
   * Sends `{ envelope_id, type, accepts_response_payload, payload }` on the newest open connection
   * and resolves with the client's ack `{ envelope_id, payload? }`; rejects after the timeout.
   */
  sendEnvelope(
    type: string,
    payload: unknown,
    options: { timeoutMs?: number; envelopeId?: string; acceptsResponsePayload?: boolean; retryAttempt?: number; retryReason?: string } = {},
  ): Promise<SocketAck> {
    const ws = this.openSocket();
    if (!ws) return Promise.reject(new Error('FakeSlack: no Socket Mode client is connected'));
    const envelopeId = options.envelopeId ?? randomUUID();
    const envelope: Record<string, unknown> = { envelope_id: envelopeId, type, accepts_response_payload: options.acceptsResponsePayload ?? true, payload };
    if (options.retryAttempt !== undefined) envelope.retry_attempt = options.retryAttempt;
    if (options.retryReason !== undefined) envelope.retry_reason = options.retryReason;
    const timeoutMs = options.timeoutMs ?? this.ackTimeoutMs;
    return new Promise<SocketAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingAcks.delete(envelopeId);
        reject(new Error(`FakeSlack: no ack for ${type} envelope ${envelopeId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingAcks.set(envelopeId, { resolve, reject, timer });
      ws.send(JSON.stringify(envelope), (error) => {
        if (!error) return;
        clearTimeout(timer);
        this.pendingAcks.delete(envelopeId);
        reject(error);
      });
    });
  }

  /** Sends Slack's `disconnect` message (the client closes and reconnects); resolves when that socket closed. */
  async disconnectSocket(reason = 'refresh_requested'): Promise<void> {
    const ws = this.openSocket();
    if (!ws) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'fake' } }));
    await closed;
  }

  /** Kills every Socket Mode connection without a close handshake (a network failure). */
  dropSockets(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Ends everything: pending answers and acks, sockets, the server. Safe to call twice. Stop Bolt
   * apps FIRST: a Socket Mode client that is still running reconnects ~5 s later to a dead port.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      for (const [id, pending] of this.pendingAcks) {
        clearTimeout(pending.timer);
        pending.reject(new Error(`FakeSlack closed before envelope ${id} was acked`));
      }
      this.pendingAcks.clear();
      // Bolt's app.stop() resolves BEFORE its close handshake is over: let a closing socket finish
      // (and close open ones properly) so the client logs no error, then terminate stragglers.
      const sockets = [...this.sockets];
      this.sockets.clear();
      await closeSocketsAndServer(sockets, this.wss, this.server, 'fake slack closing');
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------- internals

  private nextTs(): string {
    const n = ++this.tsCounter * 100;
    const seconds = 1_700_000_000 + Math.floor(n / 1_000_000);
    return `${seconds}.${String(n % 1_000_000).padStart(6, '0')}`;
  }

  private actionTs(): string {
    const now = Date.now();
    return `${Math.floor(now / 1000)}.${String((now % 1000) * 1000 + (++this.idCounter % 1000)).padStart(6, '0')}`;
  }

  private viewId(): string {
    return `V${String(++this.idCounter).padStart(9, '0')}`;
  }

  private fileId(): string {
    return `F${String(++this.idCounter).padStart(9, '0')}`;
  }

  private openSocket(): WebSocket | undefined {
    let newest: WebSocket | undefined;
    for (const ws of this.sockets) if (ws.readyState === WebSocket.OPEN && this.helloed.has(ws)) newest = ws;
    return newest;
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private takeFault(method: string, api: boolean): Fault | undefined {
    const queue = this.failQueue.get(method);
    const head = queue?.[0];
    if (queue && head) {
      head.remaining -= 1;
      if (head.remaining <= 0) queue.shift();
      return head.fault;
    }
    const fr = this.faultRateValue;
    if (!api || !fr || fr.kinds.length === 0) return undefined;
    if (fr.methods ? !fr.methods.includes(method) : (fr.exempt ?? DEFAULT_EXEMPT).includes(method)) return undefined;
    if (this.random() >= fr.rate) return undefined;
    return fr.kinds[Math.floor(this.random() * fr.kinds.length)];
  }

  /** Token bucket per channel; true = over the limit. */
  private overChannelLimit(channel: string): boolean {
    const limit = this.channelRateLimit;
    if (!limit) return false;
    const now = Date.now();
    const bucket = this.buckets.get(channel) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
    bucket.at = now;
    this.buckets.set(channel, bucket);
    if (bucket.tokens < 1) return true;
    bucket.tokens -= 1;
    return false;
  }

  private send(res: ServerResponse, answer: ApiAnswer): void {
    if (res.destroyed || res.writableEnded) return;
    if (answer.status === 429) this.stats.rateLimited += 1;
    else if (answer.status !== 200) this.stats.serverErrors += 1;
    else if (answer.body.ok === false) this.stats.errors += 1;
    res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  }

  private faultAnswer(fault: Fault): ApiAnswer | undefined {
    if (fault.status === 429) {
      const retryAfter = fault.retryAfter ?? 1;
      return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(retryAfter) } };
    }
    if (fault.status !== undefined && fault.status !== 200) return { status: fault.status, body: { ok: false, error: 'internal_error' } };
    if (fault.error !== undefined) return { status: 200, body: { ok: false, error: fault.error } };
    return undefined;
  }

  /** Runs `perform` under `fault`: hang, answer the fault, or perform and answer (or lose the answer). */
  private async answer(res: ServerResponse, fault: Fault | undefined, perform: () => Promise<ApiAnswer>): Promise<void> {
    if (fault?.hangMs) {
      this.stats.hung += 1;
      await this.delay(fault.hangMs);
      if (this.closing) return;
    }
    const injected = fault ? this.faultAnswer(fault) : undefined;
    const result = injected ?? (await perform());
    if (fault?.lose) {
      this.stats.lost += 1;
      res.socket?.destroy();
      return;
    }
    this.send(res, result);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', this.baseUrl);
      const body = await readBody(req);
      if (req.method !== 'POST') return this.send(res, { status: 405, body: { ok: false, error: 'method_not_allowed' } });
      if (url.pathname.startsWith('/api/')) return await this.onApi(req, res, decodeURIComponent(url.pathname.slice('/api/'.length)), body);
      if (url.pathname.startsWith('/upload/')) return await this.onUpload(req, res, url.pathname.slice('/upload/'.length), body);
      if (url.pathname.startsWith('/response/')) return await this.onResponse(req, res, url.pathname.slice('/response/'.length), body);
      this.send(res, { status: 404, body: { ok: false, error: 'not_found' } });
    } catch (error) {
      this.internalErrors.push(error instanceof Error ? error : new Error(String(error)));
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error: 'fake_slack_internal_error', detail: String(error) }));
      }
    }
  }

  private async parseArgs(req: IncomingMessage, body: Buffer): Promise<Record<string, unknown>> {
    const contentType = req.headers['content-type'] ?? '';
    let args: Record<string, unknown> = {};
    if (contentType.startsWith('application/json')) {
      const parsed: unknown = body.length ? JSON.parse(body.toString('utf8')) : {};
      args = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
    } else if (contentType.startsWith('multipart/form-data')) {
      const { fields, files } = await parseMultipart(contentType, body);
      args = { ...fields };
      for (const file of files) args[file.field] = file.bytes;
    } else {
      for (const [key, value] of new URLSearchParams(body.toString('utf8'))) args[key] = value;
    }
    for (const key of Object.keys(args)) {
      const value = args[key];
      if (JSON_FIELDS.has(key) && typeof value === 'string') {
        try {
          args[key] = JSON.parse(value);
        } catch {
          // left as sent: Slack would answer invalid_blocks / invalid_arguments
        }
      }
    }
    return args;
  }

  private async onApi(req: IncomingMessage, res: ServerResponse, method: string, body: Buffer): Promise<void> {
    const args = await this.parseArgs(req, body);
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const call: ApiCall = { method, args, token: bearer ?? str(args.token), at: Date.now() };
    this.calls.push(call);
    this.stats.calls += 1;
    let fault = this.takeFault(method, true);
    if (!fault && method === 'chat.postMessage' && this.overChannelLimit(str(args.channel) ?? '')) fault = { status: 429, retryAfter: 1 };
    if (fault) call.fault = fault;
    await this.answer(res, fault, async () => {
      const out = await this.perform(method, args, call);
      return { status: 200, body: out };
    });
  }

  private async perform(method: string, args: Record<string, unknown>, call: ApiCall): Promise<Record<string, unknown>> {
    const custom = this.handlers.get(method);
    if (custom) return { ok: true, ...(await custom(args, call)) };
    const token = call.token;
    if (!token) return { ok: false, error: 'not_authed' };
    if (method === 'apps.connections.open') {
      if (!token.startsWith('xapp-')) return { ok: false, error: 'not_allowed_token_type' };
      const ticket = `${++this.idCounter}${randomBytes(6).toString('hex')}`;
      this.tickets.add(ticket);
      return { ok: true, url: `ws://127.0.0.1:${this.port}/link/?ticket=${ticket}` };
    }
    if (token.startsWith('xapp-')) return { ok: false, error: 'not_allowed_token_type' };
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: `https://${FAKE_IDS.teamDomain}.slack.com/`,
          team: FAKE_IDS.teamName,
          user: FAKE_IDS.botUserName,
          team_id: FAKE_IDS.team,
          user_id: FAKE_IDS.botUser,
          bot_id: FAKE_IDS.bot,
          is_enterprise_install: false,
        };
      case 'chat.postMessage':
        return this.postMessage(args);
      case 'chat.update':
        return this.updateMessage(args);
      case 'chat.delete': {
        const key = `${str(args.channel)}:${str(args.ts)}`;
        if (!this.messages.delete(key)) return { ok: false, error: 'message_not_found' };
        return { ok: true, channel: str(args.channel), ts: str(args.ts) };
      }
      case 'chat.postEphemeral': {
        const channel = str(args.channel);
        const user = str(args.user);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (!user) return { ok: false, error: 'user_not_in_channel' };
        const message_ts = this.nextTs();
        this.ephemerals.push({ channel, user, text: str(args.text), blocks: args.blocks as unknown[] | undefined, thread_ts: str(args.thread_ts), message_ts });
        return { ok: true, message_ts };
      }
      case 'views.open':
      case 'views.push':
      case 'views.update':
        return this.openView(method, args);
      case 'conversations.open': {
        // One DM channel per user, as Slack: opening it again returns the same channel.
        const users = str(args.users);
        if (!users || users.includes(',')) return { ok: false, error: users ? 'not_implemented' : 'users_list_not_supplied' };
        if (!/^[UW][A-Z0-9]+$/.test(users)) return { ok: false, error: 'user_not_found' };
        return { ok: true, channel: { id: `D${users}`, is_im: true, user: users } };
      }
      case 'views.publish': {
        const user = str(args.user_id);
        const view = args.view as Record<string, unknown> | undefined;
        if (!user) return { ok: false, error: 'invalid_arguments' };
        if (!view || view.type !== 'home') return { ok: false, error: 'invalid_arguments' };
        if (Array.isArray(view.blocks) && view.blocks.length > 100) return { ok: false, error: 'invalid_blocks' };
        this.homes.set(user, view);
        this.publishes.push({ user, view });
        return { ok: true, view: { id: this.viewId(), type: 'home', ...view } };
      }
      case 'chat.getPermalink': {
        const channel = str(args.channel);
        const ts = str(args.message_ts);
        const m = channel && ts ? this.message(channel, ts) : undefined;
        if (!m) return { ok: false, error: 'message_not_found' };
        const thread = m.thread_ts && m.thread_ts !== m.ts ? `?thread_ts=${m.thread_ts}&cid=${channel}` : '';
        return { ok: true, channel, permalink: `https://${FAKE_IDS.teamDomain}.slack.com/archives/${channel}/p${ts!.replace('.', '')}${thread}` };
      }
      case 'usergroups.users.list': {
        const members = this.usergroups.get(str(args.usergroup) ?? '');
        if (!members) return { ok: false, error: 'no_such_subteam' };
        return { ok: true, users: [...members] };
      }
      case 'users.info': {
        const id = str(args.user);
        if (!id) return { ok: false, error: 'user_not_found' };
        const known = this.users.get(id);
        const name = known?.name ?? id.toLowerCase();
        const realName = known?.real_name ?? name;
        return {
          ok: true,
          user: {
            id,
            team_id: FAKE_IDS.team,
            name,
            real_name: realName,
            deleted: known?.deleted ?? false,
            is_bot: known?.is_bot ?? false,
            profile: { display_name: known?.display_name ?? name, real_name: realName },
          },
        };
      }
      case 'conversations.info': {
        const id = str(args.channel);
        if (!id) return { ok: false, error: 'channel_not_found' };
        const known = this.channels.get(id);
        return { ok: true, channel: { id, name: known?.name ?? 'general', is_channel: true, is_private: known?.is_private ?? false, is_archived: false, is_member: true } };
      }
      case 'conversations.history':
      case 'conversations.replies': {
        const channel = str(args.channel);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const parent = str(args.ts);
        const all = [...this.messages.values()].filter((m) => m.channel === channel);
        const picked = method === 'conversations.history'
          ? all.filter((m) => !m.thread_ts || m.thread_ts === m.ts).reverse()
          : all.filter((m) => m.ts === parent || m.thread_ts === parent);
        const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true';
        const messages: Record<string, unknown>[] = picked.map((m) => {
          const raw = m.args.metadata;
          const metadata = typeof raw === 'string' ? JSON.parse(raw) : raw;
          return { type: 'message', ts: m.ts, thread_ts: m.thread_ts, text: m.text, blocks: m.blocks, user: FAKE_IDS.botUser, bot_id: FAKE_IDS.bot, ...(withMetadata && metadata ? { metadata } : {}) };
        });
        const shares = new Map<string, StoredUpload[]>();
        for (const u of this.uploads) {
          const inView = method === 'conversations.history' ? !u.threadTs : u.threadTs === parent;
          if (u.shareTs && u.channel === channel && inView) shares.set(u.shareTs, [...(shares.get(u.shareTs) ?? []), u]);
        }
        for (const [ts, files] of shares)
          messages.push({ type: 'message', subtype: 'file_share', ts, thread_ts: files[0]!.threadTs, text: files[0]!.initialComment ?? '', user: FAKE_IDS.botUser, bot_id: FAKE_IDS.bot,
            files: files.map((f) => ({ id: f.fileId, name: f.filename, title: f.title, size: f.bytes.length })) });
        return { ok: true, messages, has_more: false };
      }
      case 'files.getUploadURLExternal': {
        const filename = str(args.filename);
        const length = Number(args.length);
        if (!filename || !Number.isFinite(length) || length < 0) return { ok: false, error: 'invalid_arguments' };
        const fileId = this.fileId();
        this.pendingUploads.set(fileId, { fileId, filename, length, bytes: undefined });
        return { ok: true, upload_url: `${this.baseUrl}/upload/${fileId}`, file_id: fileId };
      }
      case 'files.completeUploadExternal':
        return this.completeUpload(args);
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private postMessage(args: Record<string, unknown>): Record<string, unknown> {
    const channel = str(args.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    const text = str(args.text);
    const blocks = args.blocks as unknown[] | undefined;
    if (!text && !blocks && !args.attachments) return { ok: false, error: 'no_text' };
    const ts = this.nextTs();
    const thread_ts = str(args.thread_ts);
    const { channel: _c, text: _t, blocks: _b, thread_ts: _th, token: _tok, ...rest } = args;
    this.messages.set(`${channel}:${ts}`, { channel, ts, thread_ts, text, blocks, args: rest, updates: 0 });
    return { ok: true, channel, ts, message: this.messageShape(channel, ts) };
  }

  private updateMessage(args: Record<string, unknown>): Record<string, unknown> {
    const channel = str(args.channel);
    const ts = str(args.ts);
    const stored = channel && ts ? this.message(channel, ts) : undefined;
    if (!channel || !ts || !stored) return { ok: false, error: channel ? 'message_not_found' : 'channel_not_found' };
    // As Slack: a field left out keeps its value (send `blocks: []` to remove the blocks).
    if (args.text !== undefined) stored.text = str(args.text);
    if (args.blocks !== undefined) stored.blocks = args.blocks as unknown[];
    const { channel: _c, ts: _ts, text: _t, blocks: _b, token: _tok, ...rest } = args;
    stored.args = { ...stored.args, ...rest };
    stored.updates += 1;
    return { ok: true, channel, ts, text: stored.text ?? '', message: this.messageShape(channel, ts) };
  }

  private messageShape(channel: string, ts: string): Record<string, unknown> {
    const m = this.message(channel, ts);
    return {
      type: 'message',
      user: FAKE_IDS.botUser,
      bot_id: FAKE_IDS.bot,
      app_id: FAKE_IDS.app,
      team: FAKE_IDS.team,
      ts,
      text: m?.text ?? '',
      ...(m?.thread_ts ? { thread_ts: m.thread_ts } : {}),
      ...(m?.blocks ? { blocks: m.blocks } : {}),
    };
  }

  private openView(method: StoredView['method'], args: Record<string, unknown>): Record<string, unknown> {
    const view = args.view;
    if (!view || typeof view !== 'object') return { ok: false, error: 'invalid_arguments' };
    let id: string;
    if (method === 'views.update') {
      const wanted = str(args.view_id) ?? this.views.find((v) => v.view.external_id !== undefined && v.view.external_id === args.external_id)?.id;
      if (!wanted || !this.views.some((v) => v.id === wanted)) return { ok: false, error: 'not_found' };
      id = wanted;
    } else {
      id = this.viewId();
    }
    const stored: StoredView = { method, id, view: view as Record<string, unknown>, trigger_id: str(args.trigger_id) };
    this.views.push(stored);
    return {
      ok: true,
      view: {
        id,
        team_id: FAKE_IDS.team,
        ...(view as Record<string, unknown>),
        state: { values: {} },
        hash: `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString('hex')}`,
        root_view_id: id,
        previous_view_id: null,
        app_id: FAKE_IDS.app,
        bot_id: FAKE_IDS.bot,
      },
    };
  }

  private completeUpload(args: Record<string, unknown>): Record<string, unknown> {
    const files = args.files;
    if (!Array.isArray(files) || files.length === 0) return { ok: false, error: 'invalid_arguments' };
    const wanted = files.map((f) => (f && typeof f === 'object' ? (f as { id?: unknown; title?: unknown }) : {}));
    const pending: PendingUpload[] = [];
    for (const file of wanted) {
      const found = this.pendingUploads.get(str(file.id) ?? '');
      if (!found || !found.bytes) return { ok: false, error: 'file_not_found' };
      pending.push(found);
    }
    const answer: Record<string, unknown>[] = [];
    // As Slack: the files of one call are shared by one message (its text the initial comment),
    // which conversations.replies/history list with its files. A separate ts series keeps the
    // ts of posted messages what tests expect.
    const shareTs = str(args.channel_id) ? `1800000000.${String(++this.shareCounter).padStart(6, '0')}` : undefined;
    wanted.forEach((file, i) => {
      const upload = pending[i]!;
      this.pendingUploads.delete(upload.fileId);
      const title = str(file.title) ?? upload.filename;
      this.uploads.push({
        fileId: upload.fileId,
        filename: upload.filename,
        title,
        bytes: upload.bytes!,
        length: upload.length,
        channel: str(args.channel_id),
        threadTs: str(args.thread_ts),
        initialComment: str(args.initial_comment),
        shareTs,
      });
      answer.push({ id: upload.fileId, title, name: upload.filename, size: upload.bytes!.length });
    });
    return { ok: true, files: answer };
  }

  private async onUpload(req: IncomingMessage, res: ServerResponse, fileId: string, body: Buffer): Promise<void> {
    const fault = this.takeFault('upload', false);
    await this.answer(res, fault, async () => {
      const pending = this.pendingUploads.get(fileId);
      if (!pending) return { status: 404, body: { ok: false, error: 'file_not_found' } };
      const contentType = req.headers['content-type'];
      let bytes = body;
      let field: string | undefined;
      let partFilename: string | undefined;
      if (contentType?.startsWith('multipart/form-data')) {
        const { files } = await parseMultipart(contentType, body);
        const file = files[0];
        if (!file) return { status: 400, body: { ok: false, error: 'no_file_data' } };
        ({ bytes, field, filename: partFilename } = file);
      }
      this.uploadPosts.push({ fileId, contentType, authorization: req.headers.authorization, field, partFilename, bytes });
      pending.bytes = bytes;
      return { status: 200, body: { ok: true } };
    });
  }

  private async onResponse(req: IncomingMessage, res: ServerResponse, id: string, body: Buffer): Promise<void> {
    const fault = this.takeFault('response', false);
    await this.answer(res, fault, async () => {
      if (!this.responseIds.has(id)) return { status: 404, body: { ok: false, error: 'expired_url' } };
      const text = body.toString('utf8');
      let parsed: unknown = text;
      try {
        parsed = (req.headers['content-type'] ?? '').startsWith('application/json') ? JSON.parse(text) : (await this.parseArgs(req, body));
      } catch {
        // kept as text
      }
      this.responses.push({ id, body: parsed, at: Date.now() });
      return { status: 200, body: { ok: true } };
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const ticket = url.searchParams.get('ticket') ?? '';
    if (this.closing || url.pathname !== '/link/' || !this.tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private onConnection(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', () => this.sockets.delete(ws));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        this.socketMessages.push(data.toString());
        return;
      }
      const envelopeId = message && typeof message === 'object' ? (message as { envelope_id?: unknown }).envelope_id : undefined;
      if (typeof envelopeId !== 'string') {
        this.socketMessages.push(message);
        return;
      }
      const ack = message as SocketAck;
      this.acks.push(ack);
      const pending = this.pendingAcks.get(envelopeId);
      if (pending) {
        clearTimeout(pending.timer);
        this.pendingAcks.delete(envelopeId);
        pending.resolve(ack);
      }
    });
    const open = [...this.sockets].filter((s) => s.readyState === WebSocket.OPEN).length;
    ws.send(JSON.stringify({ type: 'hello', num_connections: open, debug_info: { host: 'fake', build_number: 1, approximate_connection_time: 18060 }, connection_info: { app_id: FAKE_IDS.app } }));
    // Marked at once (not in the send callback): the client may see the hello, and a test send an
    // envelope, before that callback runs.
    this.helloed.add(ws);
    this.stats.socketConnections += 1;
    const ready = this.connectedWaiters.filter((w) => this.stats.socketConnections >= w.count);
    this.connectedWaiters = this.connectedWaiters.filter((w) => this.stats.socketConnections < w.count);
    for (const waiter of ready) waiter.resolve();
  }
}
