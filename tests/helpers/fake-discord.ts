/**
 * A fake Discord on 127.0.0.1 for driving the REAL discord.js (Client, REST) in tests: the REST
 * API under `/api/v10`, and the gateway WebSocket (`/gateway?v=10&encoding=json`) with HELLO,
 * IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME and dispatches such as INTERACTION_CREATE.
 *
 * Everything it receives is recorded (`calls`, `identifies`, `gatewayMessages`), the current state
 * of what the bot made is kept (`messages`, `channels`, `threads`, `commands`, `interactions`),
 * and faults are injected like the real Discord does them (`failNext`, `faultRate`,
 * `channelRateLimit`): 429s with the headers @discordjs/rest reads, 5xx, hung answers, lost answers.
 *
 *   const fake = await FakeDiscord.start();
 *   const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl, retries: 1, timeout: 5000 } });
 *   const ready = once(client, Events.ClientReady);
 *   await client.login('test-token'); await ready;
 *   const callback = await fake.dispatchInteraction(fake.slashCommand({ subcommand: 'status', options: { job: 1 } }));
 *   // callback.type === 4 / 5 …; fake.messagesIn(CHANNEL_ID), fake.ephemeralReplies …
 *   await client.destroy(); await fake.close();
 *
 * Things the real Discord does that the fake does too, because product code must cope with them:
 * a thread started from a message has the message's id; the first follow-up after a deferred reply
 * edits the "thinking" message instead of posting; the focused option of an autocomplete is always
 * a string; a second callback to one interaction is refused (40060); limits of message content,
 * embeds, components and command registration answer 50035 "Invalid Form Body".
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { closeSocketsAndServer } from './close-sockets.js';

// ------------------------------------------------------------------ identities

/** The application (Routes.applicationGuildCommands(APP_ID, GUILD_ID); interaction webhooks). */
export const APP_ID = '1200000000000000001';
/** The bot user (READY `user`, author of every message the bot makes). Distinct from APP_ID on purpose. */
export const BOT_ID = '1200000000000000002';
export const GUILD_ID = '1200000000000000100';
/** The guild's text channel (type 0), where jobs are posted by default. */
export const CHANNEL_ID = '1200000000000000200';
/** A second text channel, for tests about "the configured channel" versus "where the command was typed". */
export const OTHER_CHANNEL_ID = '1200000000000000201';
/** Roles that exist in the guild (GUILD_CREATE `roles`); @everyone is GUILD_ID. */
export const APPROVER_ROLE_ID = '1200000000000000301';
export const EDITOR_ROLE_ID = '1200000000000000302';
/** The bot's managed role. */
export const BOT_ROLE_ID = '1200000000000000303';
export const ALICE_ID = '1200000000000001001';
export const BOB_ID = '1200000000000001002';
export const CAROL_ID = '1200000000000001003';
export const DAVE_ID = '1200000000000001004';
/** The id slash commands carry while no /signoff has been registered with the fake. */
export const COMMAND_ID = '1200000000000000400';

export const FAKE_DISCORD_IDS = {
  app: APP_ID,
  bot: BOT_ID,
  guild: GUILD_ID,
  channel: CHANNEL_ID,
  otherChannel: OTHER_CHANNEL_ID,
  roles: { everyone: GUILD_ID, approver: APPROVER_ROLE_ID, editor: EDITOR_ROLE_ID, bot: BOT_ROLE_ID },
  users: { alice: ALICE_ID, bob: BOB_ID, carol: CAROL_ID, dave: DAVE_ID },
  command: COMMAND_ID,
} as const;

/** Discord's own error codes that the fake answers with. */
export const DISCORD_ERRORS = {
  unknownChannel: 10003,
  unknownMember: 10007,
  unknownGuild: 10004,
  unknownMessage: 10008,
  unknownWebhook: 10015,
  unknownInteraction: 10062,
  unknownCommand: 10063,
  notAuthorizedForApplication: 20012,
  requestTooLarge: 40005,
  alreadyAcknowledged: 40060,
  emptyMessage: 50006,
  invalidWebhookToken: 50027,
  invalidFormBody: 50035,
  threadArchived: 50083,
  invalidJson: 50109,
  threadAlreadyCreated: 160004,
} as const;

const API_PREFIX = '/api/v10';
const DISCORD_EPOCH = 1420070400000n;
const EPHEMERAL = 1 << 6;
const LOADING = 1 << 7;
const HAS_THREAD = 1 << 5;
const IS_COMPONENTS_V2 = 1 << 15;
const INTENT_GUILDS = 1 << 0;
const INTENT_GUILD_MESSAGES = 1 << 9;
/** ViewChannel, SendMessages, EmbedLinks, AttachFiles, ReadMessageHistory, AddReactions, UseApplicationCommands, CreatePublicThreads, SendMessagesInThreads. */
const MEMBER_PERMISSIONS = ((1n << 10n) | (1n << 11n) | (1n << 14n) | (1n << 15n) | (1n << 16n) | (1n << 6n) | (1n << 31n) | (1n << 35n) | (1n << 38n)).toString();

// ------------------------------------------------------------------ types

export type Json = Record<string, unknown>;

export interface FakeUser {
  id: string;
  username: string;
  global_name: string | null;
  bot?: boolean;
}

export interface FakeRole {
  id: string;
  name: string;
  /** Permission bits as a decimal string (default: none for test roles). */
  permissions?: string;
  position?: number;
}

export interface FakeDiscordOptions {
  /** Roles added to the guild besides @everyone, Approvers, Editors and the bot's role. */
  roles?: FakeRole[];
  /** More text channels (type 0) in the guild. */
  channels?: { id: string; name: string }[];
  /** Guild members: user id → roles (and names). Defaults: alice, bob, carol, dave with no roles. */
  members?: { user: FakeUser; roles?: string[] }[];
  guildName?: string;
  /** When set, REST calls (`Authorization: Bot <token>`) and IDENTIFY must carry this token (else 401 / close 4004). */
  expectedToken?: string;
  /** HELLO's heartbeat_interval (default 41250, as Discord). */
  heartbeatIntervalMs?: number;
  /** How long dispatchInteraction() waits for the bot's callback (default 5000 ms). */
  callbackTimeoutMs?: number;
  /** When set, a callback later than this after the dispatch gets 404 10062 Unknown interaction (Discord: 3000). */
  ackDeadlineMs?: number;
  /** Largest total upload per request (default 10 MiB, Discord's free tier); more → 413 40005. */
  maxUploadBytes?: number;
}

/** One uploaded file of a multipart request. */
export interface UploadedFile {
  /** The multipart field (`files[0]`…). */
  field: string;
  name: string;
  contentType: string | undefined;
  bytes: Buffer;
}

/**
 * A fault to answer a REST request with, as the real Discord would:
 * `{ status: 429, retryAfter: 0.2, global?: false }` (JSON `{message, retry_after, global}` plus
 * `Retry-After`, `X-RateLimit-*` headers), `{ status: 500 }` (any status; 4xx may carry Discord's
 * `code`/`message`, e.g. `{ status: 403, code: 50013, message: 'Missing Permissions' }`),
 * `{ hangMs }` (the normal answer, late; combinable) and `{ lose: true }` (the request IS
 * performed, then the connection is destroyed without an answer).
 */
export interface Fault {
  status?: number;
  retryAfter?: number;
  global?: boolean;
  /** X-RateLimit-Scope of a 429 (default 'user', or 'global' when global). */
  scope?: 'user' | 'shared' | 'global';
  code?: number;
  message?: string;
  hangMs?: number;
  lose?: boolean;
}

export interface FaultRate {
  /** Probability in [0, 1] that an eligible request gets a fault. */
  rate: number;
  /** Picked uniformly. */
  kinds: Fault[];
  /** Seed of the deterministic PRNG (default 1). Setting `faultRate` restarts the sequence. */
  seed?: number;
  /** Only requests whose path starts with / matches one of these (default: all but `exempt`). */
  routes?: (string | RegExp)[];
  /** Never faulted. Default `['/gateway']` (login would fail, a different test). */
  exempt?: (string | RegExp)[];
}

/** Discord's per-channel message limit (about 5 per 5 s), emulated for POST /channels/:id/messages. */
export interface ChannelRateLimit {
  limit: number;
  windowMs: number;
}

/** One REST request as the fake received it. */
export interface RestCall {
  method: string;
  /** Decoded, without `/api/v10`: `/channels/1/messages/@original`. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body; for multipart requests the parsed `payload_json` part. */
  body: unknown;
  /** The files of a multipart request. */
  files: UploadedFile[];
  /** The Authorization header (`Bot <token>`), absent on interaction callbacks and webhooks. */
  authorization: string | undefined;
  /** X-Audit-Log-Reason, decoded. */
  reason: string | undefined;
  /** Date.now() when it arrived. */
  at: number;
  /** The status answered (undefined while pending or when the answer was lost). */
  status?: number;
  /** Set when a fault decided the answer. */
  fault?: Fault;
}

/** A message as the fake keeps it: the API shape discord.js parses. */
export interface FakeMessage {
  id: string;
  channel_id: string;
  type: number;
  content: string;
  embeds: Json[];
  components: Json[];
  attachments: FakeAttachment[];
  author: Json;
  flags: number;
  timestamp: string;
  edited_timestamp: string | null;
  [key: string]: unknown;
}

export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type?: string;
  description?: string;
  [key: string]: unknown;
}

/** A channel or thread as the fake keeps it (API shape). */
export interface FakeChannel {
  id: string;
  type: number;
  guild_id: string;
  name: string;
  parent_id?: string | null;
  thread_metadata?: { archived: boolean; auto_archive_duration: number; archive_timestamp: string; locked: boolean; create_timestamp?: string; invitable?: boolean };
  [key: string]: unknown;
}

/** One interaction callback (`POST /interactions/:id/:token/callback`) as received. */
export interface InteractionCallback {
  interactionId: string;
  /** 4 reply, 5 deferReply, 6 deferUpdate, 7 update, 8 autocomplete result, 9 modal, … */
  type: number;
  data: Json | undefined;
  /** The whole body (`{ type, data }`). */
  body: Json;
  files: UploadedFile[];
  /** `?with_response=true` was asked (discord.js's `withResponse`). */
  withResponse: boolean;
  at: number;
  /** Milliseconds between the dispatch and this callback. */
  latencyMs: number;
  /** Whether the fake accepted it (false: unknown, late or already acknowledged). */
  accepted: boolean;
}

export interface FakeInteraction {
  id: string;
  token: string;
  type: number;
  payload: Json;
  dispatchedAt: number;
  callbacks: InteractionCallback[];
  /** The message `@original` designates: the reply, the deferred reply, or (types 6/7) the component's message. */
  originalMessageId: string | undefined;
  /** Messages made by follow-ups (not the deferred message a first follow-up edits). */
  followupIds: string[];
  /** Set by expireInteraction(): webhook calls then answer 401 50027. */
  expired: boolean;
}

export interface FakeDiscordStats {
  /** REST requests received. */
  calls: number;
  rateLimited: number;
  serverErrors: number;
  /** Other 4xx answers (404, 400 …). */
  clientErrors: number;
  hung: number;
  lost: number;
  /** WebSocket connections to /gateway. */
  gatewayConnections: number;
  identifies: number;
  /** READY + GUILD_CREATE sent. */
  readies: number;
  resumes: number;
  heartbeats: number;
  dispatches: number;
}

export interface IdentifyRecord {
  token: string;
  intents: number;
  compress: boolean;
  shard: unknown;
  properties: unknown;
  at: number;
}

/** Who acts in an interaction: a user id (known users get their names) or a whole user. */
export type UserInput = string | FakeUser;

export interface InteractionInput {
  user?: UserInput;
  /** The member's role ids (default: the fake's member record, else none). */
  roles?: string[];
  channel_id?: string;
  /** Member permissions (computed, decimal string). Default '0'. */
  permissions?: string;
  locale?: string;
  nick?: string | null;
  /** Force ids (replays: the same id twice). */
  id?: string;
  token?: string;
}

/** An option value: the type is inferred (string 3, integer 4, number 10, boolean 5) unless given. */
export type OptionInput = { name: string; value: string | number | boolean; type?: number };

export interface SlashCommandInput extends InteractionInput {
  name?: string;
  subcommand?: string;
  group?: string;
  options?: Record<string, string | number | boolean> | OptionInput[];
}

export interface AutocompleteInput extends SlashCommandInput {
  /** The option being typed in. */
  focused: string;
  /** What has been typed so far: always a string, as Discord sends it (even for integer options). */
  value: string;
  /** The focused option's declared type (default 3 string; 4 integer, 10 number). */
  focusedType?: number;
}

export interface ButtonInput extends InteractionInput {
  custom_id: string;
  /** The message carrying the button: a stored message id, or a message object. */
  message: string | FakeMessage | Json;
  component_type?: number;
  /** For select menus. */
  values?: string[];
}

export interface ModalSubmitInput extends InteractionInput {
  custom_id: string;
  /** text input custom_id → value. */
  fields: Record<string, string>;
  /** Default: as the modal the bot showed with this custom_id (action rows or label components). */
  layout?: 'rows' | 'labels';
  /** The message of the component that opened the modal (default: that interaction's message, if any). */
  message?: string | FakeMessage | Json;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

interface GatewayConnection {
  n: number;
  ws: WebSocket;
  identified: boolean;
  ready: boolean;
  query: URLSearchParams;
}

interface GatewaySession {
  id: string;
  seq: number;
  intents: number;
  sent: { s: number; t: string; d: unknown }[];
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

// ------------------------------------------------------------------ small helpers

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

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function matches(path: string, pattern: string | RegExp): boolean {
  return typeof pattern === 'string' ? path.startsWith(pattern) : pattern.test(path);
}

function iso(ms = Date.now()): string {
  return new Date(ms).toISOString();
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** A 400 50035 "Invalid Form Body" with Discord's nested `errors` object. */
class FormErrors {
  private readonly list: { path: string; code: string; message: string }[] = [];
  add(path: string, code: string, message: string): void {
    this.list.push({ path, code, message });
  }
  maxLength(path: string, value: unknown, max: number): void {
    if (typeof value === 'string' && [...value].length > max) this.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
  answer(): Answer {
    const errors: Json = {};
    for (const e of this.list) {
      let node = errors;
      for (const key of e.path.split('.')) {
        const next = isObject(node[key]) ? (node[key] as Json) : {};
        node[key] = next;
        node = next;
      }
      const list = Array.isArray(node._errors) ? (node._errors as Json[]) : [];
      list.push({ code: e.code, message: e.message });
      node._errors = list;
    }
    return { status: 400, body: { code: DISCORD_ERRORS.invalidFormBody, message: 'Invalid Form Body', errors } };
  }
}

function discordError(status: number, code: number, message: string): Answer {
  return { status, body: { code, message } };
}

const notFound = (): Answer => discordError(404, 0, '404: Not Found');
const unknownChannel = (): Answer => discordError(404, DISCORD_ERRORS.unknownChannel, 'Unknown Channel');
const unknownMessage = (): Answer => discordError(404, DISCORD_ERRORS.unknownMessage, 'Unknown Message');

/** Parses a multipart/form-data body with the platform's own parser (undici's Request.formData). */
async function parseMultipart(contentType: string, body: Buffer): Promise<{ fields: Record<string, string>; files: UploadedFile[] }> {
  const form = await new Request('http://fake.invalid/', { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(body) }).formData();
  const fields: Record<string, string> = {};
  const files: UploadedFile[] = [];
  for (const [key, value] of form.entries()) {
    if (typeof value === 'string') fields[key] = value;
    else files.push({ field: key, name: value.name, contentType: value.type || undefined, bytes: Buffer.from(await value.arrayBuffer()) });
  }
  return { fields, files };
}

function optionType(value: string | number | boolean): number {
  if (typeof value === 'boolean') return 5;
  if (typeof value === 'number') return Number.isInteger(value) ? 4 : 10;
  return 3;
}

function toOptions(options: SlashCommandInput['options']): Json[] {
  if (!options) return [];
  const list: OptionInput[] = Array.isArray(options) ? options : Object.entries(options).map(([name, value]) => ({ name, value }));
  return list.map((o) => ({ name: o.name, type: o.type ?? optionType(o.value), value: o.value }));
}

// ------------------------------------------------------------------ the fake

export class FakeDiscord {
  /** `http://127.0.0.1:P/api`: discord.js `rest: { api }`. */
  readonly apiUrl: string;
  /** `http://127.0.0.1:P` */
  readonly baseUrl: string;
  /** `ws://127.0.0.1:P/gateway`, answered by GET /gateway/bot. */
  readonly gatewayUrl: string;
  readonly port: number;

  /** Every REST request, in arrival order. */
  readonly calls: RestCall[] = [];
  /** Every message the bot made (channel posts, replies, follow-ups), by id, as it is NOW. */
  readonly messages = new Map<string, FakeMessage>();
  /** Text channels and threads, by id. */
  readonly channels = new Map<string, FakeChannel>();
  /** Registered commands: 'global' or a guild id → the list as last overwritten. */
  readonly commands = new Map<string, Json[]>();
  /** Every interaction dispatched, by id. */
  readonly interactions = new Map<string, FakeInteraction>();
  /** The guild's roles (GUILD_CREATE `roles`), by id. */
  readonly roles = new Map<string, Json>();
  /** Guild members known to the fake (GET /guilds/:id/members/:user; default roles of interactions). */
  readonly members = new Map<string, { user: FakeUser; roles: string[] }>();
  /** Every IDENTIFY received. */
  readonly identifies: IdentifyRecord[] = [];
  /** Every gateway payload from the client other than heartbeats and IDENTIFY (RESUME, presence, op 8 …). */
  readonly gatewayMessages: Json[] = [];
  /** Errors of the fake itself (or of a test's misuse): answered 500; assert it stays empty. */
  readonly internalErrors: Error[] = [];
  readonly stats: FakeDiscordStats = {
    calls: 0,
    rateLimited: 0,
    serverErrors: 0,
    clientErrors: 0,
    hung: 0,
    lost: 0,
    gatewayConnections: 0,
    identifies: 0,
    readies: 0,
    resumes: 0,
    heartbeats: 0,
    dispatches: 0,
  };

  /** Emulates the per-channel message limit on POST /channels/:id/messages; undefined = none. */
  channelRateLimit: ChannelRateLimit | undefined;

  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly options: FakeDiscordOptions;
  private readonly guildName: string;
  private readonly bytes = new Map<string, Buffer>();
  private readonly edits = new Map<string, number>();
  private readonly failQueue: { method: string; pattern: string | RegExp; fault: Fault; remaining: number }[] = [];
  private faultRateValue: FaultRate | undefined;
  private random: () => number = prng(1);
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly connections = new Set<GatewayConnection>();
  private session: GatewaySession | undefined;
  private readonly callbackWaiters = new Map<string, Waiter<InteractionCallback>[]>();
  private readyWaiters: { count: number; resolve: () => void }[] = [];
  private readonly modals: { customId: string; data: Json; interactionId: string }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private lastMs = 0n;
  private increment = 0n;
  private connectionCounter = 0;
  private closing: Promise<void> | undefined;

  private constructor(server: Server, wss: WebSocketServer, port: number, options: FakeDiscordOptions) {
    this.server = server;
    this.wss = wss;
    this.port = port;
    this.options = options;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.baseUrl}/api`;
    this.gatewayUrl = `ws://127.0.0.1:${port}/gateway`;
    this.guildName = options.guildName ?? 'signoff test';
    this.seedGuild(options);
  }

  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const server = createServer();
    const wss = new WebSocketServer({ noServer: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const fake = new FakeDiscord(server, wss, (server.address() as AddressInfo).port, options);
    server.on('request', (req, res) => void fake.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => fake.onUpgrade(req, socket as Socket, head));
    wss.on('connection', (ws, req) => fake.onConnection(ws, req));
    return fake;
  }

  // ---------------------------------------------------------------- inspection

  /** The calls of one method (`'*'` = any) whose path starts with `path` (or matches it), in order. */
  callsTo(method: string, path: string | RegExp): RestCall[] {
    return this.calls.filter((c) => (method === '*' || c.method === method.toUpperCase()) && matches(c.path, path));
  }

  /** Messages everyone sees in a channel or thread, in posting order (ephemeral ones only if asked). */
  messagesIn(channelId: string, options: { ephemeral?: boolean } = {}): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.channel_id === channelId && (options.ephemeral || !(m.flags & EPHEMERAL)));
  }

  /** Threads, in creation order. */
  get threads(): FakeChannel[] {
    return [...this.channels.values()].filter((c) => c.type === 10 || c.type === 11 || c.type === 12);
  }

  /** Replies only their user saw (flag 64), in order; `interaction_metadata.user.id` says to whom. */
  get ephemeralReplies(): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.flags & EPHEMERAL);
  }

  /** The bytes of the files attached to a message, in attachment order. */
  filesOf(messageId: string): { name: string; bytes: Buffer; contentType: string | undefined }[] {
    const message = this.messages.get(messageId);
    if (!message) return [];
    return message.attachments.map((a) => ({ name: a.filename, bytes: this.bytes.get(a.id) ?? Buffer.alloc(0), contentType: a.content_type }));
  }

  /** How many times a message was edited (PATCH, update callbacks, editReply). */
  editsOf(messageId: string): number {
    return this.edits.get(messageId) ?? 0;
  }

  /** The callbacks of one interaction, in order. */
  callbacksOf(interactionId: string): InteractionCallback[] {
    return this.interactions.get(interactionId)?.callbacks ?? [];
  }

  // ---------------------------------------------------------------- faults

  /**
   * The next `count` requests of `method` (`'*'` = any) whose decoded path (without /api/v10)
   * starts with `path` (or matches it) get `kind`. Queued faults run in the order given.
   */
  failNext(method: string, path: string | RegExp, kind: Fault, count = 1): void {
    this.failQueue.push({ method: method.toUpperCase(), pattern: path, fault: kind, remaining: count });
  }

  /** Random faults on REST requests, from a deterministic PRNG; undefined turns them off. */
  get faultRate(): FaultRate | undefined {
    return this.faultRateValue;
  }

  set faultRate(value: FaultRate | undefined) {
    this.faultRateValue = value;
    this.random = prng(value?.seed ?? 1);
  }

  // ---------------------------------------------------------------- guild state

  /**
   * Adds (or replaces) a role and tells the client (GUILD_ROLE_CREATE): at once when connected,
   * else on its RESUME (a client that identifies anew gets it in GUILD_CREATE).
   */
  addRole(role: FakeRole): void {
    const data = this.roleObject(role, role.position ?? this.roles.size);
    this.roles.set(role.id, data);
    this.emitEvent('GUILD_ROLE_CREATE', { guild_id: GUILD_ID, role: data }, INTENT_GUILDS);
  }

  /** Sets a member's roles (used by later interactions of that user and by GET member). */
  setMember(user: UserInput, roles: string[]): void {
    const u = this.user(user);
    this.members.set(u.id, { user: u, roles: [...roles] });
  }

  // ---------------------------------------------------------------- gateway

  /**
   * Resolves when READY and GUILD_CREATE were SENT on the `count`-th identified session (default:
   * the first) and a connection is ready now. Sent is not processed: before `client.destroy()`
   * wait for the client's own `Events.ClientReady` / `Events.ShardReady` (or one interaction round
   * trip). Destroying a client whose shard still waits for READY makes @discordjs/ws 1.2.3
   * reconnect anyway and `destroy()` never resolves.
   */
  ready(options: { count?: number; timeoutMs?: number } = {}): Promise<void> {
    const count = options.count ?? 1;
    if (this.stats.readies >= count && this.currentConnection()) return Promise.resolve();
    const timeoutMs = options.timeoutMs ?? 20_000;
    return new Promise<void>((resolve, reject) => {
      const timer = this.timer(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w.resolve !== done);
        reject(new Error(`FakeDiscord: no READY #${count} within ${timeoutMs} ms (identifies: ${this.stats.identifies})`));
      }, timeoutMs);
      const done = () => {
        this.clearTimer(timer);
        resolve();
      };
      this.readyWaiters.push({ count, resolve: done });
    });
  }

  /** Whether a client is connected and past READY (or RESUMED) now. */
  get gatewayReady(): boolean {
    return this.currentConnection() !== undefined;
  }

  /** Sends a dispatch (op 0) on the ready connection: `{ op: 0, t, s, d }`. Throws when none is ready. */
  dispatch(t: string, d: unknown): number {
    if (!this.currentConnection()) throw new Error(`FakeDiscord: cannot dispatch ${t}, no gateway connection is ready`);
    return this.emitEvent(t, d, 0);
  }

  /** Asks the client for a heartbeat now (server op 1); it answers at once. */
  requestHeartbeat(): void {
    this.currentConnection()?.ws.send(JSON.stringify({ op: 1, d: null }));
  }

  /** Tells the client to reconnect (op 7): it closes, reconnects to resume_gateway_url and RESUMEs. */
  requestReconnect(): void {
    this.currentConnection()?.ws.send(JSON.stringify({ op: 7, d: null }));
  }

  /** Invalid session (op 9). Not resumable: the client identifies again (after discord.js's identify throttle, up to 6.5 s). */
  invalidateSession(resumable = false): void {
    const conn = this.currentConnection();
    if (!resumable) this.session = undefined;
    conn?.ws.send(JSON.stringify({ op: 9, d: resumable }));
  }

  /**
   * Closes the gateway connection with `code` and resolves when it is closed. 4000 (default):
   * the client resumes; 1000: it identifies again; 4004: authentication failed, it gives up.
   */
  async disconnectGateway(code = 4000, reason = 'fake discord disconnect'): Promise<void> {
    const conn = this.currentConnection() ?? [...this.connections].at(-1);
    if (!conn || conn.ws.readyState !== WebSocket.OPEN) return;
    const closed = new Promise<void>((resolve) => conn.ws.once('close', () => resolve()));
    conn.ws.close(code, reason);
    await closed;
  }

  // ---------------------------------------------------------------- interactions

  /**
   * Sends INTERACTION_CREATE and resolves with the bot's first callback
   * (`POST /interactions/:id/:token/callback`); rejects if none comes within the timeout.
   * Later callbacks, edits and follow-ups: `interactions.get(id)`, `callbacksOf(id)`.
   */
  async dispatchInteraction(payload: Json, options: { timeoutMs?: number } = {}): Promise<InteractionCallback> {
    const id = String(payload.id);
    const waiting = this.waitForCallback(id, options.timeoutMs ?? this.options.callbackTimeoutMs ?? 5000);
    try {
      this.sendInteraction(payload);
    } catch (error) {
      waiting.cancel();
      throw error;
    }
    return waiting.promise;
  }

  /** Sends INTERACTION_CREATE without waiting; `nextCallback(id)` waits later. */
  sendInteraction(payload: Json): FakeInteraction {
    const id = String(payload.id);
    const record: FakeInteraction = this.interactions.get(id) ?? {
      id,
      token: String(payload.token),
      type: Number(payload.type),
      payload,
      dispatchedAt: Date.now(),
      callbacks: [],
      originalMessageId: undefined,
      followupIds: [],
      expired: false,
    };
    record.dispatchedAt = Date.now();
    this.interactions.set(id, record);
    this.dispatch('INTERACTION_CREATE', payload);
    return record;
  }

  /** Resolves with the next callback of an interaction not yet seen (or the first one, if any is there). */
  nextCallback(interactionId: string, options: { after?: number; timeoutMs?: number } = {}): Promise<InteractionCallback> {
    const seen = options.after ?? 0;
    const existing = this.callbacksOf(interactionId)[seen];
    if (existing) return Promise.resolve(existing);
    return this.waitForCallback(interactionId, options.timeoutMs ?? this.options.callbackTimeoutMs ?? 5000).promise;
  }

  /** Makes an interaction's token expire (Discord: after 15 minutes): webhook edits then answer 401 50027. */
  expireInteraction(interactionId: string): void {
    const record = this.interactions.get(interactionId);
    if (record) record.expired = true;
  }

  /** A /signoff slash command (type 2), `data.options = [{ type: 1, name: subcommand, options }]`. */
  slashCommand(input: SlashCommandInput = {}): Json {
    const name = input.name ?? 'signoff';
    return this.interactionBase(2, input, { ...this.commandData(name), options: this.nestOptions(input, toOptions(input.options)) });
  }

  /** An autocomplete (type 4): the focused option is a string with `focused: true`, the others typed. */
  autocomplete(input: AutocompleteInput): Json {
    const name = input.name ?? 'signoff';
    const others = toOptions(input.options).filter((o) => o.name !== input.focused);
    const focused = { name: input.focused, type: input.focusedType ?? 3, value: input.value, focused: true };
    return this.interactionBase(4, input, { ...this.commandData(name), options: this.nestOptions(input, [...others, focused]) });
  }

  /** A button click (type 3) on a message the bot posted. */
  button(input: ButtonInput): Json {
    const message = this.resolveMessage(input.message);
    const data: Json = { custom_id: input.custom_id, component_type: input.component_type ?? 2 };
    if (input.values) data.values = input.values;
    return this.interactionBase(3, { channel_id: message.channel_id, ...input }, data, { message });
  }

  /** A modal submission (type 5): `data.components` holds the text inputs, as action rows or labels. */
  modalSubmit(input: ModalSubmitInput): Json {
    const shown = [...this.modals].reverse().find((m) => m.customId === input.custom_id);
    const shownComponents = Array.isArray(shown?.data.components) ? (shown.data.components as Json[]) : [];
    const layout = input.layout ?? (shownComponents[0]?.type === 18 ? 'labels' : 'rows');
    let n = 0;
    const components = Object.entries(input.fields).map(([customId, value]) => {
      const text = { type: 4, id: (n += 2), custom_id: customId, value };
      return layout === 'labels' ? { type: 18, id: n - 1, component: text } : { type: 1, id: n - 1, components: [text] };
    });
    const opener = shown ? this.interactions.get(shown.interactionId)?.payload : undefined;
    const message = input.message !== undefined ? this.resolveMessage(input.message) : isObject(opener?.message) ? this.current(opener.message as FakeMessage) : undefined;
    const channel = input.channel_id ?? (typeof opener?.channel_id === 'string' ? opener.channel_id : undefined);
    const extra: Json = message ? { message } : {};
    return this.interactionBase(5, { ...(channel ? { channel_id: channel } : {}), ...input }, { custom_id: input.custom_id, components }, extra);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Ends everything: pending waiters, gateway sockets, the server. Safe to call twice. Destroy the
   * discord.js Client FIRST: a client whose gateway vanishes keeps reconnecting to a dead port.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      for (const [id, waiters] of this.callbackWaiters) for (const w of waiters) w.reject(new Error(`FakeDiscord closed before interaction ${id} got a callback`));
      this.callbackWaiters.clear();
      const sockets = [...this.connections].map((c) => c.ws);
      this.connections.clear();
      await closeSocketsAndServer(sockets, this.wss, this.server, 'fake discord closing');
    })();
    return this.closing;
  }

  // ================================================================ internals: ids and shapes

  /** Increasing snowflakes from the current time (always above the fixed test ids). */
  snowflake(): string {
    let ms = BigInt(Date.now()) - DISCORD_EPOCH;
    if (ms <= this.lastMs) {
      this.increment += 1n;
      if (this.increment > 4095n) {
        this.lastMs += 1n;
        this.increment = 0n;
      }
      ms = this.lastMs;
    } else {
      this.lastMs = ms;
      this.increment = 0n;
    }
    return ((ms << 22n) | (1n << 17n) | this.increment).toString();
  }

  private seedGuild(options: FakeDiscordOptions): void {
    const roles: FakeRole[] = [
      { id: GUILD_ID, name: '@everyone', permissions: MEMBER_PERMISSIONS, position: 0 },
      { id: APPROVER_ROLE_ID, name: 'Approvers', position: 1 },
      { id: EDITOR_ROLE_ID, name: 'Editors', position: 2 },
      ...(options.roles ?? []),
    ];
    roles.forEach((r, i) => this.roles.set(r.id, this.roleObject(r, r.position ?? i + 3)));
    this.roles.set(BOT_ROLE_ID, { ...this.roleObject({ id: BOT_ROLE_ID, name: 'signoff', permissions: MEMBER_PERMISSIONS }, roles.length + 1), managed: true, tags: { bot_id: BOT_ID } });
    const channels = [{ id: CHANNEL_ID, name: 'signoff' }, { id: OTHER_CHANNEL_ID, name: 'general' }, ...(options.channels ?? [])];
    channels.forEach((c, i) => this.channels.set(c.id, this.textChannel(c.id, c.name, i)));
    const members = options.members ?? [
      { user: { id: ALICE_ID, username: 'alice', global_name: 'Alice' } },
      { user: { id: BOB_ID, username: 'bob', global_name: 'Bob' } },
      { user: { id: CAROL_ID, username: 'carol', global_name: 'Carol' } },
      { user: { id: DAVE_ID, username: 'dave', global_name: 'Dave' } },
    ];
    for (const m of members) this.members.set(m.user.id, { user: m.user, roles: [...(m.roles ?? [])] });
  }

  private roleObject(role: FakeRole, position: number): Json {
    return {
      id: role.id,
      name: role.name,
      description: null,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position,
      permissions: role.permissions ?? '0',
      managed: false,
      mentionable: false,
      flags: 0,
    };
  }

  private textChannel(id: string, name: string, position: number): FakeChannel {
    return {
      id,
      type: 0,
      guild_id: GUILD_ID,
      name,
      position,
      parent_id: null,
      topic: null,
      nsfw: false,
      last_message_id: null,
      rate_limit_per_user: 0,
      permission_overwrites: [],
      flags: 0,
      icon_emoji: null,
      theme_color: null,
    };
  }

  private botUser(): Json {
    return { id: BOT_ID, username: 'signoff', discriminator: '0', global_name: null, avatar: null, bot: true, public_flags: 0, flags: 0, banner: null, accent_color: null, avatar_decoration_data: null, collectibles: null, primary_guild: null };
  }

  private userObject(u: FakeUser): Json {
    return {
      id: u.id,
      username: u.username,
      discriminator: '0',
      global_name: u.global_name,
      avatar: null,
      ...(u.bot ? { bot: true } : {}),
      public_flags: 0,
      flags: 0,
      banner: null,
      accent_color: null,
      avatar_decoration_data: null,
      collectibles: null,
      primary_guild: null,
      clan: null,
    };
  }

  private user(input: UserInput | undefined): FakeUser {
    if (input === undefined) return this.members.get(ALICE_ID)?.user ?? { id: ALICE_ID, username: 'alice', global_name: 'Alice' };
    if (typeof input !== 'string') return input;
    return this.members.get(input)?.user ?? { id: input, username: `user${input.slice(-4)}`, global_name: null };
  }

  private memberObject(u: FakeUser, roles: string[], extra: Json = {}): Json {
    return {
      user: this.userObject(u),
      roles,
      nick: null,
      avatar: null,
      banner: null,
      premium_since: null,
      joined_at: '2024-01-01T00:00:00.000000+00:00',
      pending: false,
      deaf: false,
      mute: false,
      flags: 0,
      communication_disabled_until: null,
      unusual_dm_activity_until: null,
      ...extra,
    };
  }

  /** GUILD_CREATE's guild: what discord.js needs to cache the guild, its roles, channels and its own member. */
  private guildCreate(): Json {
    const textChannels = [...this.channels.values()].filter((c) => c.type === 0);
    const threads = this.threads.filter((t) => !t.thread_metadata?.archived);
    return {
      id: GUILD_ID,
      name: this.guildName,
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: ALICE_ID,
      afk_channel_id: null,
      afk_timeout: 300,
      widget_enabled: false,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: CHANNEL_ID,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      max_members: 500000,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      vanity_url_code: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      premium_progress_bar_enabled: false,
      preferred_locale: 'en-US',
      nsfw_level: 0,
      nsfw: false,
      incidents_data: null,
      roles: [...this.roles.values()],
      emojis: [],
      stickers: [],
      // The GUILD_CREATE-only fields.
      joined_at: '2024-01-01T00:00:00.000000+00:00',
      large: false,
      unavailable: false,
      member_count: this.members.size + 1,
      lazy: true,
      voice_states: [],
      members: [this.memberObject({ id: BOT_ID, username: 'signoff', global_name: null, bot: true }, [BOT_ROLE_ID])],
      channels: textChannels,
      threads,
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      embedded_activities: [],
      activity_instances: [],
      version: Date.now(),
    };
  }

  private commandData(name: string): Json {
    const registered = [...(this.commands.get(GUILD_ID) ?? []), ...(this.commands.get('global') ?? [])].find((c) => c.name === name && (c.type ?? 1) === 1);
    return {
      id: typeof registered?.id === 'string' ? registered.id : COMMAND_ID,
      name,
      type: 1,
      ...(registered && registered.guild_id ? { guild_id: registered.guild_id } : !registered ? { guild_id: GUILD_ID } : {}),
    };
  }

  private nestOptions(input: SlashCommandInput, options: Json[]): Json[] {
    if (!input.subcommand) return options;
    const sub = { type: 1, name: input.subcommand, options };
    return input.group ? [{ type: 2, name: input.group, options: [sub] }] : [sub];
  }

  private interactionBase(type: number, input: InteractionInput, data: Json, extra: Json = {}): Json {
    const id = input.id ?? this.snowflake();
    const user = this.user(input.user);
    const roles = input.roles ?? this.members.get(user.id)?.roles ?? [];
    const channelId = input.channel_id ?? CHANNEL_ID;
    const channel = this.channels.get(channelId);
    return {
      id,
      application_id: APP_ID,
      type,
      data,
      guild: { id: GUILD_ID, locale: 'en-US', features: [] },
      guild_id: GUILD_ID,
      guild_locale: 'en-US',
      channel: channel ? clone(channel) : { id: channelId, type: 0, guild_id: GUILD_ID, name: 'unknown' },
      channel_id: channelId,
      member: this.memberObject(user, [...roles], { permissions: input.permissions ?? '0', nick: input.nick ?? null }),
      token: input.token ?? `aW50ZXJhY3Rpb246${Buffer.from(`${id}:${randomBytes(48).toString('hex')}`).toString('base64url')}`,
      version: 1,
      app_permissions: MEMBER_PERMISSIONS,
      locale: input.locale ?? 'en-US',
      entitlements: [],
      entitlement_sku_ids: [],
      // A guild-installed app: Discord names the guild under integration type 0 (GUILD_INSTALL).
      authorizing_integration_owners: { '0': GUILD_ID },
      context: 0,
      attachment_size_limit: this.options.maxUploadBytes ?? 10 * 1024 * 1024,
      ...extra,
    };
  }

  private resolveMessage(input: string | FakeMessage | Json): FakeMessage {
    if (typeof input === 'string') {
      const stored = this.messages.get(input);
      if (!stored) throw new Error(`FakeDiscord: no message ${input} to build the interaction on`);
      return clone(stored);
    }
    return this.current(input as FakeMessage);
  }

  /** The fake's current copy of a message if it has one, else the object given. */
  private current(message: FakeMessage): FakeMessage {
    const stored = typeof message.id === 'string' ? this.messages.get(message.id) : undefined;
    return clone(stored ?? message);
  }

  // ================================================================ internals: HTTP

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', this.baseUrl);
      const raw = await readBody(req);
      if (req.method === 'GET' && url.pathname.startsWith('/attachments/')) return this.serveAttachment(res, url.pathname);
      const method = (req.method ?? 'GET').toUpperCase();
      const path = url.pathname.startsWith(`${API_PREFIX}/`) ? decodeURIComponent(url.pathname.slice(API_PREFIX.length)) : decodeURIComponent(url.pathname);
      const reasonHeader = req.headers['x-audit-log-reason'];
      const call: RestCall = {
        method,
        path,
        query: Object.fromEntries(url.searchParams),
        body: undefined,
        files: [],
        authorization: req.headers.authorization,
        reason: typeof reasonHeader === 'string' ? decodeURIComponent(reasonHeader) : undefined,
        at: Date.now(),
      };
      this.calls.push(call);
      this.stats.calls += 1;
      let parseError: Answer | undefined;
      try {
        await this.parseBody(req, raw, call);
      } catch {
        parseError = discordError(400, DISCORD_ERRORS.invalidJson, 'The request body contains invalid JSON.');
      }
      if (!url.pathname.startsWith(`${API_PREFIX}/`)) return this.send(res, call, notFound());
      const fault = this.takeFault(method, path) ?? this.channelLimitFault(method, path);
      if (fault) call.fault = fault;
      await this.answer(res, call, fault, async () => parseError ?? this.authorize(call) ?? (await this.route(call)));
    } catch (error) {
      this.internalErrors.push(error instanceof Error ? error : new Error(String(error)));
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 0, message: `fake discord internal error: ${String(error)}` }));
      }
    }
  }

  private async parseBody(req: IncomingMessage, raw: Buffer, call: RestCall): Promise<void> {
    if (raw.length === 0) return;
    const contentType = req.headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/form-data')) {
      const { fields, files } = await parseMultipart(contentType, raw);
      call.files = files;
      call.body = fields.payload_json !== undefined ? JSON.parse(fields.payload_json) : fields;
    } else {
      call.body = JSON.parse(raw.toString('utf8'));
    }
  }

  /** Bot-authenticated routes need the token when one is expected; callbacks and webhooks carry none. */
  private authorize(call: RestCall): Answer | undefined {
    const expected = this.options.expectedToken;
    if (!expected || call.path.startsWith('/interactions/') || call.path.startsWith('/webhooks/')) return undefined;
    if (call.authorization === `Bot ${expected}`) return undefined;
    return discordError(401, 0, '401: Unauthorized');
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const index = this.failQueue.findIndex((f) => (f.method === '*' || f.method === method) && matches(path, f.pattern));
    const queued = this.failQueue[index];
    if (queued) {
      queued.remaining -= 1;
      if (queued.remaining <= 0) this.failQueue.splice(index, 1);
      return queued.fault;
    }
    const fr = this.faultRateValue;
    if (!fr || fr.kinds.length === 0) return undefined;
    if (fr.routes ? !fr.routes.some((r) => matches(path, r)) : (fr.exempt ?? ['/gateway']).some((r) => matches(path, r))) return undefined;
    if (this.random() >= fr.rate) return undefined;
    return fr.kinds[Math.floor(this.random() * fr.kinds.length)];
  }

  /** A fixed window per channel; over the limit → a 429 like Discord's. */
  private channelLimitFault(method: string, path: string): Fault | undefined {
    const limit = this.channelRateLimit;
    const channel = /^\/channels\/(\d+)\/messages$/.exec(path)?.[1];
    if (!limit || method !== 'POST' || !channel) return undefined;
    const now = Date.now();
    let win = this.windows.get(channel);
    if (!win || now - win.start >= limit.windowMs) {
      win = { start: now, count: 0 };
      this.windows.set(channel, win);
    }
    if (win.count >= limit.limit) return { status: 429, retryAfter: Math.max(0.001, (win.start + limit.windowMs - now) / 1000) };
    win.count += 1;
    return undefined;
  }

  private rateLimitHeaders(path: string, method: string): Record<string, string> {
    const limit = this.channelRateLimit;
    const channel = /^\/channels\/(\d+)\/messages$/.exec(path)?.[1];
    if (!limit || method !== 'POST' || !channel) return {};
    const win = this.windows.get(channel);
    if (!win) return {};
    const resetAfter = Math.max(0, (win.start + limit.windowMs - Date.now()) / 1000);
    return {
      'x-ratelimit-limit': String(limit.limit),
      'x-ratelimit-remaining': String(Math.max(0, limit.limit - win.count)),
      'x-ratelimit-reset': ((win.start + limit.windowMs) / 1000).toFixed(3),
      'x-ratelimit-reset-after': resetAfter.toFixed(3),
      'x-ratelimit-bucket': `fake-messages-${channel}`,
    };
  }

  private faultAnswer(fault: Fault, call: RestCall): Answer | undefined {
    if (fault.status === 429) {
      const retryAfter = fault.retryAfter ?? 1;
      const global = fault.global ?? false;
      const headers: Record<string, string> = {
        'retry-after': String(retryAfter),
        'x-ratelimit-limit': String(this.channelRateLimit?.limit ?? 5),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': ((Date.now() + retryAfter * 1000) / 1000).toFixed(3),
        'x-ratelimit-reset-after': retryAfter.toFixed(3),
        'x-ratelimit-bucket': `fake-${call.method}-${call.path.split('/').slice(0, 3).join('-')}`,
        'x-ratelimit-scope': fault.scope ?? (global ? 'global' : 'user'),
      };
      // @discordjs/rest treats the mere PRESENCE of X-RateLimit-Global as "global": send it only then.
      if (global) headers['x-ratelimit-global'] = 'true';
      return { status: 429, body: { message: 'You are being rate limited.', retry_after: retryAfter, global, ...(global ? { code: 0 } : {}) }, headers };
    }
    if (fault.status !== undefined && fault.status >= 300) {
      return discordError(fault.status, fault.code ?? 0, fault.message ?? (fault.status >= 500 ? `${fault.status}: Internal Server Error` : `${fault.status}: Error`));
    }
    return undefined;
  }

  /** Runs `perform` under `fault`: hang, answer the fault, or perform and answer (or lose the answer). */
  private async answer(res: ServerResponse, call: RestCall, fault: Fault | undefined, perform: () => Promise<Answer>): Promise<void> {
    if (fault?.hangMs) {
      this.stats.hung += 1;
      await this.delay(fault.hangMs);
      if (this.closing) return;
    }
    const injected = fault ? this.faultAnswer(fault, call) : undefined;
    const result = injected ?? (await perform());
    if (fault?.lose) {
      this.stats.lost += 1;
      res.socket?.destroy();
      return;
    }
    if (!injected) result.headers = { ...this.rateLimitHeaders(call.path, call.method), ...result.headers };
    this.send(res, call, result);
  }

  private send(res: ServerResponse, call: RestCall, answer: Answer): void {
    if (answer.status === 429) this.stats.rateLimited += 1;
    else if (answer.status >= 500) this.stats.serverErrors += 1;
    else if (answer.status >= 400) this.stats.clientErrors += 1;
    if (res.destroyed || res.writableEnded) return;
    call.status = answer.status;
    if (answer.status === 204 || answer.body === undefined) {
      res.writeHead(answer.status === 200 ? 204 : answer.status, { ...answer.headers });
      res.end();
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  }

  private serveAttachment(res: ServerResponse, pathname: string): void {
    const id = pathname.split('/')[3] ?? '';
    const bytes = this.bytes.get(id);
    if (!bytes) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
    res.end(bytes);
  }

  // ================================================================ internals: REST routes

  private async route(call: RestCall): Promise<Answer> {
    const seg = call.path.split('/').slice(1);
    const [root, a, b, c, d, e] = seg;
    const m = call.method;
    const body = isObject(call.body) ? call.body : {};

    if (root === 'gateway') {
      if (m !== 'GET') return notFound();
      if (a === 'bot' && seg.length === 2) {
        return { status: 200, body: { url: this.gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } } };
      }
      if (seg.length === 1) return { status: 200, body: { url: this.gatewayUrl } };
      return notFound();
    }
    if (root === 'users' && a === '@me' && seg.length === 2 && m === 'GET') return { status: 200, body: this.botUser() };
    if (root === 'users' && a === '@me' && b === 'channels' && seg.length === 3 && m === 'POST') return this.openDm(body);
    if (root === 'applications' && a === '@me' && seg.length === 2 && m === 'GET') {
      return { status: 200, body: { id: APP_ID, name: 'signoff', icon: null, description: '', bot_public: false, bot_require_code_grant: false, flags: 0, bot: this.botUser(), owner: this.userObject(this.user(ALICE_ID)) } };
    }
    if (root === 'applications' && a && a !== APP_ID && a !== '@me') {
      return discordError(403, DISCORD_ERRORS.notAuthorizedForApplication, 'You are not authorized to perform this action on this application');
    }
    if (root === 'applications' && a && b === 'commands') return this.commandsRoute(call, 'global', c, seg.length === 3 ? undefined : c);
    if (root === 'applications' && a && b === 'guilds' && c && d === 'commands') return this.commandsRoute(call, c, e, e);
    if (root === 'guilds' && a) return this.guildRoute(call, a, seg.slice(2));
    if (root === 'interactions' && a && b && c === 'callback' && seg.length === 4 && m === 'POST') return this.callbackRoute(call, a, b);
    if (root === 'webhooks' && a && b) return this.webhookRoute(call, a, b, seg.slice(3));

    if (root === 'channels' && a) {
      const channel = this.channels.get(a);
      if (seg.length === 2) {
        if (!channel) return unknownChannel();
        if (m === 'GET') return { status: 200, body: clone(channel) };
        if (m === 'PATCH') return this.patchChannel(channel, body);
        return notFound();
      }
      if (b === 'messages') {
        if (seg.length === 3 && m === 'POST') return this.createMessage(a, body, call.files);
        if (seg.length === 3 && m === 'GET') {
          if (!channel) return unknownChannel();
          const limit = Number(call.query.limit ?? 50);
          return { status: 200, body: this.messagesIn(a).reverse().slice(0, limit) };
        }
        if (c && seg.length === 4) {
          const message = this.messages.get(c);
          if (!message || message.channel_id !== a) return channel ? unknownMessage() : unknownChannel();
          if (m === 'GET') return { status: 200, body: clone(message) };
          if (m === 'PATCH') return this.editMessage(message, body, call.files);
          if (m === 'DELETE') return this.deleteMessage(message);
          return notFound();
        }
        if (c && d === 'threads' && seg.length === 5 && m === 'POST') return this.startThread(a, body, c);
        return notFound();
      }
      if (b === 'threads' && seg.length === 3 && m === 'POST') return this.startThread(a, body, undefined);
      if (b === 'thread-members' && seg.length === 4 && (m === 'PUT' || m === 'DELETE')) return channel ? { status: 204 } : unknownChannel();
      if (b === 'typing' && seg.length === 3 && m === 'POST') return channel ? { status: 204 } : unknownChannel();
    }
    return notFound();
  }

  /** `POST /users/@me/channels {recipient_id}`: the DM channel with a user (type 1, no guild), the same one each time. */
  private openDm(body: Json): Answer {
    const recipient = typeof body.recipient_id === 'string' ? body.recipient_id : undefined;
    if (!recipient || !/^\d{1,20}$/.test(recipient)) return discordError(400, 50035, 'Invalid Form Body');
    const id = `9${recipient.padStart(18, '0')}`;
    let channel = this.channels.get(id);
    if (!channel) {
      channel = { id, type: 1, guild_id: '', name: '', last_message_id: null, recipients: [{ id: recipient, username: `user${recipient.slice(-4)}`, discriminator: '0', global_name: null, avatar: null }] };
      this.channels.set(id, channel);
    }
    return { status: 200, body: clone(channel) };
  }

  private guildRoute(call: RestCall, guildId: string, rest: string[]): Answer {
    if (guildId !== GUILD_ID) return discordError(404, DISCORD_ERRORS.unknownGuild, 'Unknown Guild');
    const [what, id] = rest;
    if (call.method !== 'GET') return notFound();
    if (what === undefined) {
      const { channels: _c, members: _m, threads: _t, presences: _p, voice_states: _v, ...guild } = this.guildCreate();
      return { status: 200, body: guild };
    }
    if (what === 'channels' && rest.length === 1) return { status: 200, body: [...this.channels.values()].filter((c) => c.type === 0) };
    if (what === 'roles' && rest.length === 1) return { status: 200, body: [...this.roles.values()] };
    if (what === 'members' && id && rest.length === 2) {
      if (id === BOT_ID) return { status: 200, body: this.memberObject({ id: BOT_ID, username: 'signoff', global_name: null, bot: true }, [BOT_ROLE_ID]) };
      const member = this.members.get(id);
      return member ? { status: 200, body: this.memberObject(member.user, member.roles) } : discordError(404, DISCORD_ERRORS.unknownMember, 'Unknown Member');
    }
    return notFound();
  }

  // ---------------------------------------------------------------- messages

  /** Validates a message body as Discord does; returns the 400 to answer, if any. */
  private validateMessage(body: Json, files: UploadedFile[]): Answer | undefined {
    const errors = new FormErrors();
    errors.maxLength('content', body.content, 2000);
    const embeds = Array.isArray(body.embeds) ? (body.embeds as Json[]) : [];
    if (embeds.length > 10) errors.add('embeds', 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    let total = 0;
    embeds.forEach((embed, i) => {
      const p = `embeds.${i}`;
      errors.maxLength(`${p}.title`, embed.title, 256);
      errors.maxLength(`${p}.description`, embed.description, 4096);
      const footer = isObject(embed.footer) ? embed.footer : {};
      const author = isObject(embed.author) ? embed.author : {};
      errors.maxLength(`${p}.footer.text`, footer.text, 2048);
      errors.maxLength(`${p}.author.name`, author.name, 256);
      const fields = Array.isArray(embed.fields) ? (embed.fields as Json[]) : [];
      if (fields.length > 25) errors.add(`${p}.fields`, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
      fields.forEach((f, j) => {
        errors.maxLength(`${p}.fields.${j}.name`, f.name, 256);
        errors.maxLength(`${p}.fields.${j}.value`, f.value, 1024);
        if (typeof f.name !== 'string' || f.name === '') errors.add(`${p}.fields.${j}.name`, 'BASE_TYPE_REQUIRED', 'This field is required');
        if (typeof f.value !== 'string' || f.value === '') errors.add(`${p}.fields.${j}.value`, 'BASE_TYPE_REQUIRED', 'This field is required');
        total += String(f.name ?? '').length + String(f.value ?? '').length;
      });
      total += String(embed.title ?? '').length + String(embed.description ?? '').length + String(footer.text ?? '').length + String(author.name ?? '').length;
    });
    if (total > 6000) errors.add('embeds', 'MAX_EMBED_SIZE_EXCEEDED', 'Embed size exceeds maximum size of 6000');
    const flags = typeof body.flags === 'number' ? body.flags : 0;
    if (Array.isArray(body.components) && !(flags & IS_COMPONENTS_V2)) this.validateRows(body.components as Json[], errors);
    if (files.length > 10) errors.add('files', 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    if (!errors.empty) return errors.answer();
    const bytes = files.reduce((n, f) => n + f.bytes.length, 0);
    if (bytes > (this.options.maxUploadBytes ?? 10 * 1024 * 1024)) return discordError(413, DISCORD_ERRORS.requestTooLarge, 'Request entity too large');
    return undefined;
  }

  private validateRows(rows: Json[], errors: FormErrors): void {
    if (rows.length > 5) errors.add('components', 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
    const seen = new Set<string>();
    rows.forEach((row, i) => {
      if (row.type !== 1) return errors.add(`components.${i}.type`, 'UNION_TYPE_CHOICES', 'Value of field "type" must be one of (1,).');
      const items = Array.isArray(row.components) ? (row.components as Json[]) : [];
      if (items.length === 0) errors.add(`components.${i}.components`, 'BASE_TYPE_MIN_LENGTH', 'Must be 1 or more in length.');
      if (items.length > 5) errors.add(`components.${i}.components`, 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
      items.forEach((item, j) => {
        const p = `components.${i}.components.${j}`;
        errors.maxLength(`${p}.custom_id`, item.custom_id, 100);
        if (item.type === 2) {
          errors.maxLength(`${p}.label`, item.label, 80);
          if (item.style === 5 ? typeof item.url !== 'string' : typeof item.custom_id !== 'string') {
            errors.add(p, 'BUTTON_COMPONENT_INVALID', item.style === 5 ? 'A link button needs a url' : 'A button needs a custom_id');
          }
        }
        if (typeof item.custom_id === 'string') {
          if (seen.has(item.custom_id)) errors.add(`${p}.custom_id`, 'COMPONENT_CUSTOM_ID_DUPLICATED', 'Component custom id cannot be duplicated');
          seen.add(item.custom_id);
        }
      });
    });
  }

  /** The attachments of a new or edited message: `body.attachments` entries name upload indexes or kept attachment ids. */
  private attachmentsFor(channelId: string, body: Json, files: UploadedFile[], kept: FakeAttachment[]): FakeAttachment[] {
    const byIndex = new Map<string, UploadedFile>();
    files.forEach((f, i) => byIndex.set(/^files\[(\d+)\]$/.exec(f.field)?.[1] ?? String(i), f));
    const wanted: Json[] = Array.isArray(body.attachments) ? (body.attachments as Json[]) : files.map((_f, i) => ({ id: i }));
    const out: FakeAttachment[] = [];
    for (const entry of wanted) {
      const ref = String(entry.id);
      const old = kept.find((a) => a.id === ref);
      if (old) {
        out.push(old);
        continue;
      }
      const file = byIndex.get(ref);
      if (!file) continue;
      const id = this.snowflake();
      const filename = typeof entry.filename === 'string' ? entry.filename : file.name;
      const url = `${this.baseUrl}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`;
      this.bytes.set(id, file.bytes);
      out.push({
        id,
        filename,
        size: file.bytes.length,
        url,
        proxy_url: url,
        ...(file.contentType ? { content_type: file.contentType } : {}),
        ...(typeof entry.description === 'string' ? { description: entry.description } : {}),
      });
    }
    return out;
  }

  private newMessage(channelId: string, body: Json, files: UploadedFile[], extra: Partial<FakeMessage> = {}): FakeMessage {
    const id = this.snowflake();
    const flags = typeof body.flags === 'number' ? body.flags : 0;
    const message: FakeMessage = {
      id,
      channel_id: channelId,
      type: 0,
      content: typeof body.content === 'string' ? body.content : '',
      embeds: Array.isArray(body.embeds) ? (body.embeds as Json[]).map((e) => ({ type: 'rich', ...e })) : [],
      components: Array.isArray(body.components) ? (body.components as Json[]) : [],
      attachments: this.attachmentsFor(channelId, body, files, []),
      author: this.botUser(),
      flags,
      timestamp: iso(),
      edited_timestamp: null,
      mentions: [],
      mention_roles: [],
      mention_everyone: false,
      pinned: false,
      tts: false,
      ...(typeof body.nonce === 'string' || typeof body.nonce === 'number' ? { nonce: body.nonce } : {}),
      ...extra,
    };
    return message;
  }

  private createMessage(channelId: string, body: Json, files: UploadedFile[]): Answer {
    const channel = this.channels.get(channelId);
    if (!channel) return unknownChannel();
    const invalid = this.validateMessage(body, files);
    if (invalid) return invalid;
    const hasContent = (typeof body.content === 'string' && body.content !== '') || (Array.isArray(body.embeds) && body.embeds.length > 0) || (Array.isArray(body.components) && body.components.length > 0) || files.length > 0 || Array.isArray(body.sticker_ids) || isObject(body.poll);
    if (!hasContent) return discordError(400, DISCORD_ERRORS.emptyMessage, 'Cannot send an empty message');
    if (channel.thread_metadata?.archived) {
      if (channel.thread_metadata.locked) return discordError(400, DISCORD_ERRORS.threadArchived, 'Thread is archived');
      channel.thread_metadata.archived = false; // Sending into an unlocked archived thread unarchives it.
    }
    // As Discord: with enforce_nonce, a nonce the bot used in this channel already answers with that message.
    if (body.enforce_nonce === true && (typeof body.nonce === 'string' || typeof body.nonce === 'number')) {
      const earlier = [...this.messages.values()].find((m) => m.channel_id === channelId && m.nonce === body.nonce);
      if (earlier) return { status: 200, body: clone(earlier) };
    }
    const isThread = channel.type === 11 || channel.type === 12;
    const message = this.newMessage(channelId, body, files, isThread ? { position: Number(channel.total_message_sent ?? 0) } : {});
    this.messages.set(message.id, message);
    channel.last_message_id = message.id;
    if (isThread) {
      channel.message_count = Number(channel.message_count ?? 0) + 1;
      channel.total_message_sent = Number(channel.total_message_sent ?? 0) + 1;
    }
    this.emitEvent('MESSAGE_CREATE', { ...clone(message), guild_id: GUILD_ID }, INTENT_GUILD_MESSAGES);
    return { status: 200, body: clone(message) };
  }

  private applyEdit(message: FakeMessage, body: Json, files: UploadedFile[]): Answer | undefined {
    const invalid = this.validateMessage(body, files);
    if (invalid) return invalid;
    if ('content' in body) message.content = typeof body.content === 'string' ? body.content : '';
    if ('embeds' in body) message.embeds = Array.isArray(body.embeds) ? (body.embeds as Json[]).map((e) => ({ type: 'rich', ...e })) : [];
    if ('components' in body) message.components = Array.isArray(body.components) ? (body.components as Json[]) : [];
    if ('attachments' in body || files.length > 0) message.attachments = this.attachmentsFor(message.channel_id, body, files, message.attachments);
    // Only SUPPRESS_EMBEDS (4) can be changed by an edit; the loading flag goes once content arrives.
    if (typeof body.flags === 'number') message.flags = (message.flags & ~4) | (body.flags & 4);
    message.flags &= ~LOADING;
    message.edited_timestamp = iso();
    this.edits.set(message.id, this.editsOf(message.id) + 1);
    this.emitEvent('MESSAGE_UPDATE', { ...clone(message), guild_id: GUILD_ID }, INTENT_GUILD_MESSAGES);
    return undefined;
  }

  private editMessage(message: FakeMessage, body: Json, files: UploadedFile[]): Answer {
    return this.applyEdit(message, body, files) ?? { status: 200, body: clone(message) };
  }

  private deleteMessage(message: FakeMessage): Answer {
    this.messages.delete(message.id);
    this.emitEvent('MESSAGE_DELETE', { id: message.id, channel_id: message.channel_id, guild_id: GUILD_ID }, INTENT_GUILD_MESSAGES);
    return { status: 204 };
  }

  // ---------------------------------------------------------------- threads and channels

  private startThread(parentId: string, body: Json, messageId: string | undefined): Answer {
    const parent = this.channels.get(parentId);
    if (!parent || parent.type !== 0) return unknownChannel();
    const errors = new FormErrors();
    if (typeof body.name !== 'string' || body.name.length === 0) errors.add('name', 'BASE_TYPE_REQUIRED', 'This field is required');
    errors.maxLength('name', body.name, 100);
    if (!errors.empty) return errors.answer();
    let starter: FakeMessage | undefined;
    if (messageId !== undefined) {
      starter = this.messages.get(messageId);
      if (!starter || starter.channel_id !== parentId) return unknownMessage();
      if (this.channels.has(messageId)) return discordError(400, DISCORD_ERRORS.threadAlreadyCreated, 'A thread has already been created for this message');
    }
    const now = iso();
    // As Discord: a thread started from a message has the message's id.
    const id = messageId ?? this.snowflake();
    const type = messageId !== undefined ? 11 : Number(body.type ?? 12);
    const thread: FakeChannel = {
      id,
      type,
      guild_id: GUILD_ID,
      parent_id: parentId,
      owner_id: BOT_ID,
      name: String(body.name),
      last_message_id: null,
      rate_limit_per_user: typeof body.rate_limit_per_user === 'number' ? body.rate_limit_per_user : 0,
      flags: 0,
      message_count: 0,
      member_count: 1,
      total_message_sent: 0,
      thread_metadata: {
        archived: false,
        auto_archive_duration: typeof body.auto_archive_duration === 'number' ? body.auto_archive_duration : 4320,
        archive_timestamp: now,
        locked: false,
        create_timestamp: now,
        ...(type === 12 ? { invitable: body.invitable !== false } : {}),
      },
      member: { id, user_id: BOT_ID, join_timestamp: now, flags: 0 },
    };
    this.channels.set(id, thread);
    if (starter) {
      starter.thread = clone(thread);
      starter.flags |= HAS_THREAD;
    }
    this.emitEvent('THREAD_CREATE', { ...clone(thread), newly_created: true }, INTENT_GUILDS);
    return { status: 201, body: clone(thread) };
  }

  private patchChannel(channel: FakeChannel, body: Json): Answer {
    if (typeof body.name === 'string') channel.name = body.name;
    const meta = channel.thread_metadata;
    if (meta) {
      if (typeof body.archived === 'boolean') {
        meta.archived = body.archived;
        meta.archive_timestamp = iso();
      }
      if (typeof body.locked === 'boolean') meta.locked = body.locked;
      if (typeof body.auto_archive_duration === 'number') meta.auto_archive_duration = body.auto_archive_duration;
    }
    this.emitEvent(meta ? 'THREAD_UPDATE' : 'CHANNEL_UPDATE', clone(channel), INTENT_GUILDS);
    return { status: 200, body: clone(channel) };
  }

  // ---------------------------------------------------------------- commands

  private validateCommands(list: unknown[]): Answer | undefined {
    const errors = new FormErrors();
    if (list.length > 100) errors.add('_root', 'BASE_TYPE_MAX_LENGTH', 'Must be 100 or fewer in length.');
    const names = new Set<string>();
    const checkOptions = (options: unknown, path: string) => {
      if (!Array.isArray(options)) return;
      if (options.length > 25) errors.add(path, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
      (options as Json[]).forEach((o, i) => {
        const p = `${path}.${i}`;
        if (typeof o.name !== 'string' || !/^[-_\p{Ll}\p{Lo}\p{N}]{1,32}$/u.test(o.name)) errors.add(`${p}.name`, 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
        if (typeof o.description !== 'string' || o.description.length < 1 || o.description.length > 100) errors.add(`${p}.description`, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
        if (Array.isArray(o.choices) && o.choices.length > 25) errors.add(`${p}.choices`, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
        checkOptions(o.options, `${p}.options`);
      });
    };
    list.forEach((raw, i) => {
      const c = isObject(raw) ? raw : {};
      const type = c.type ?? 1;
      if (typeof c.name !== 'string' || (type === 1 ? !/^[-_\p{Ll}\p{Lo}\p{N}]{1,32}$/u.test(c.name) : c.name.length < 1 || c.name.length > 32)) {
        errors.add(`${i}.name`, 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
      }
      if (type === 1 && (typeof c.description !== 'string' || c.description.length < 1 || c.description.length > 100)) errors.add(`${i}.description`, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
      const key = `${String(type)}:${String(c.name)}`;
      if (names.has(key)) errors.add(`${i}.name`, 'APPLICATION_COMMANDS_DUPLICATE_NAME', 'Application command names must be unique');
      names.add(key);
      checkOptions(c.options, `${i}.options`);
    });
    return errors.empty ? undefined : errors.answer();
  }

  private commandObject(scope: string, c: Json, id: string): Json {
    return {
      id,
      application_id: APP_ID,
      version: this.snowflake(),
      default_member_permissions: null,
      type: 1,
      nsfw: false,
      description: '',
      name_localizations: null,
      description_localizations: null,
      contexts: null,
      integration_types: [0],
      ...c,
      ...(scope === 'global' ? {} : { guild_id: scope }),
    };
  }

  private commandsRoute(call: RestCall, scope: string, commandId: string | undefined, single: string | undefined): Answer {
    if (scope !== 'global' && scope !== GUILD_ID) return discordError(404, DISCORD_ERRORS.unknownGuild, 'Unknown Guild');
    const list = this.commands.get(scope) ?? [];
    const m = call.method;
    if (single === undefined) {
      if (m === 'GET') return { status: 200, body: list };
      if (m === 'PUT') {
        const wanted = Array.isArray(call.body) ? call.body : [];
        const invalid = this.validateCommands(wanted);
        if (invalid) return invalid;
        // A bulk overwrite keeps the id of a command that stays (same name and type).
        const next = (wanted as Json[]).map((c) => {
          const old = list.find((o) => o.name === c.name && (o.type ?? 1) === (c.type ?? 1));
          return this.commandObject(scope, c, typeof old?.id === 'string' ? old.id : this.snowflake());
        });
        this.commands.set(scope, next);
        return { status: 200, body: next };
      }
      if (m === 'POST' && isObject(call.body)) {
        const invalid = this.validateCommands([call.body]);
        if (invalid) return invalid;
        const old = list.find((o) => o.name === (call.body as Json).name);
        const made = this.commandObject(scope, call.body, typeof old?.id === 'string' ? old.id : this.snowflake());
        this.commands.set(scope, [...list.filter((o) => o !== old), made]);
        return { status: old ? 200 : 201, body: made };
      }
      return notFound();
    }
    const found = list.find((c) => c.id === commandId);
    if (!found) return discordError(404, DISCORD_ERRORS.unknownCommand, 'Unknown application command');
    if (m === 'GET') return { status: 200, body: found };
    if (m === 'DELETE') {
      this.commands.set(scope, list.filter((c) => c !== found));
      return { status: 204 };
    }
    if (m === 'PATCH' && isObject(call.body)) {
      Object.assign(found, call.body);
      return { status: 200, body: found };
    }
    return notFound();
  }

  // ---------------------------------------------------------------- interaction callbacks and webhooks

  private callbackRoute(call: RestCall, interactionId: string, token: string): Answer {
    const record = this.interactions.get(interactionId);
    const body = isObject(call.body) ? call.body : {};
    const type = Number(body.type);
    const data = isObject(body.data) ? body.data : undefined;
    const now = Date.now();
    const callback: InteractionCallback = {
      interactionId,
      type,
      data,
      body,
      files: call.files,
      withResponse: call.query.with_response === 'true',
      at: now,
      latencyMs: record ? now - record.dispatchedAt : -1,
      accepted: false,
    };
    const refuse = (answer: Answer): Answer => {
      record?.callbacks.push(callback);
      if (record) this.settleCallback(record.id, callback);
      return answer;
    };
    if (!record || record.token !== token) return refuse(discordError(404, DISCORD_ERRORS.unknownInteraction, 'Unknown interaction'));
    const deadline = this.options.ackDeadlineMs;
    if (deadline !== undefined && callback.latencyMs > deadline && !record.callbacks.some((c) => c.accepted)) {
      return refuse(discordError(404, DISCORD_ERRORS.unknownInteraction, 'Unknown interaction'));
    }
    if (record.callbacks.some((c) => c.accepted)) return refuse(discordError(400, DISCORD_ERRORS.alreadyAcknowledged, 'Interaction has already been acknowledged.'));

    const payload = record.payload;
    const channelId = typeof payload.channel_id === 'string' ? payload.channel_id : CHANNEL_ID;
    const componentMessage = isObject(payload.message) ? (payload.message as FakeMessage) : undefined;
    let message: FakeMessage | undefined;
    switch (type) {
      case 4:
      case 5: {
        const invalid = type === 4 ? this.validateMessage(data ?? {}, call.files) : undefined;
        if (invalid) return refuse(invalid);
        const flags = (typeof data?.flags === 'number' ? data.flags : 0) | (type === 5 ? LOADING : 0);
        message = this.newMessage(channelId, type === 5 ? { flags } : { ...(data ?? {}), flags }, type === 5 ? [] : call.files, this.interactionFields(record));
        this.messages.set(message.id, message);
        record.originalMessageId = message.id;
        break;
      }
      case 6:
      case 7: {
        if (!componentMessage) return refuse(discordError(400, DISCORD_ERRORS.invalidFormBody, 'Interaction callback type is only valid for component interactions'));
        message = this.messages.get(componentMessage.id);
        if (type === 7 && message) {
          const invalid = this.applyEdit(message, data ?? {}, call.files);
          if (invalid) return refuse(invalid);
        }
        record.originalMessageId = componentMessage.id;
        break;
      }
      case 8: {
        const choices = Array.isArray(data?.choices) ? data.choices : [];
        if (choices.length > 25) {
          const errors = new FormErrors();
          errors.add('data.choices', 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
          return refuse(errors.answer());
        }
        break;
      }
      case 9: {
        if (record.type === 5) return refuse(discordError(400, DISCORD_ERRORS.invalidFormBody, 'A modal cannot answer a modal submission'));
        const errors = new FormErrors();
        errors.maxLength('data.title', data?.title, 45);
        errors.maxLength('data.custom_id', data?.custom_id, 100);
        if (!errors.empty) return refuse(errors.answer());
        this.modals.push({ customId: String(data?.custom_id), data: data ?? {}, interactionId });
        break;
      }
      default:
        break;
    }
    callback.accepted = true;
    record.callbacks.push(callback);
    this.settleCallback(record.id, callback);
    if (!callback.withResponse) return { status: 204 };
    return {
      status: 200,
      body: {
        interaction: {
          id: interactionId,
          type: record.type,
          response_message_id: message?.id ?? null,
          response_message_loading: message ? Boolean(message.flags & LOADING) : null,
          response_message_ephemeral: message ? Boolean(message.flags & EPHEMERAL) : null,
        },
        resource: message && type !== 6 ? { type, message: clone(message) } : { type },
      },
    };
  }

  /** What Discord adds to a message made by an interaction response or follow-up. */
  private interactionFields(record: FakeInteraction): Partial<FakeMessage> {
    const payload = record.payload;
    const member = isObject(payload.member) ? payload.member : {};
    const user = member.user ?? payload.user;
    const data = isObject(payload.data) ? payload.data : {};
    return {
      webhook_id: APP_ID,
      application_id: APP_ID,
      interaction_metadata: {
        id: record.id,
        type: record.type,
        user,
        authorizing_integration_owners: payload.authorizing_integration_owners ?? {},
        ...(record.type === 2 ? { name: data.name, command_type: data.type } : {}),
        ...(isObject(payload.message) ? { interacted_message_id: payload.message.id } : {}),
      },
    };
  }

  private webhookRoute(call: RestCall, appId: string, token: string, rest: string[]): Answer {
    const record = [...this.interactions.values()].find((r) => r.token === token);
    if (!record || appId !== APP_ID) return discordError(404, DISCORD_ERRORS.unknownWebhook, 'Unknown Webhook');
    if (record.expired) return discordError(401, DISCORD_ERRORS.invalidWebhookToken, 'Invalid Webhook Token');
    const acknowledged = record.callbacks.some((c) => c.accepted);
    const body = isObject(call.body) ? call.body : {};
    const m = call.method;
    if (rest.length === 0 && m === 'POST') {
      if (!acknowledged) return discordError(404, DISCORD_ERRORS.unknownWebhook, 'Unknown Webhook');
      const original = record.originalMessageId ? this.messages.get(record.originalMessageId) : undefined;
      // Discord: the first follow-up after a deferred reply edits the "thinking" message, keeping its ephemerality.
      if (original && original.flags & LOADING) {
        const { flags: _flags, ...rest2 } = body;
        return this.applyEdit(original, rest2, call.files) ?? { status: 200, body: clone(original) };
      }
      const invalid = this.validateMessage(body, call.files);
      if (invalid) return invalid;
      const channelId = typeof record.payload.channel_id === 'string' ? record.payload.channel_id : CHANNEL_ID;
      const message = this.newMessage(channelId, body, call.files, this.interactionFields(record));
      this.messages.set(message.id, message);
      record.followupIds.push(message.id);
      return { status: 200, body: clone(message) };
    }
    if (rest[0] !== 'messages' || rest.length !== 2 || !rest[1]) return notFound();
    const target = rest[1] === '@original' ? record.originalMessageId : rest[1];
    const message = target ? this.messages.get(target) : undefined;
    if (!message) return unknownMessage();
    if (m === 'GET') return { status: 200, body: clone(message) };
    if (m === 'PATCH') return this.editMessage(message, body, call.files);
    if (m === 'DELETE') return this.deleteMessage(message);
    return notFound();
  }

  private waitForCallback(interactionId: string, timeoutMs: number): { promise: Promise<InteractionCallback>; cancel: () => void } {
    let waiter: Waiter<InteractionCallback> | undefined;
    const remove = () => {
      const list = (this.callbackWaiters.get(interactionId) ?? []).filter((w) => w !== waiter);
      if (list.length) this.callbackWaiters.set(interactionId, list);
      else this.callbackWaiters.delete(interactionId);
    };
    const promise = new Promise<InteractionCallback>((resolve, reject) => {
      const timer = this.timer(() => {
        remove();
        reject(new Error(`FakeDiscord: no callback for interaction ${interactionId} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter = {
        resolve: (cb) => {
          this.clearTimer(timer);
          resolve(cb);
        },
        reject: (error) => {
          this.clearTimer(timer);
          reject(error);
        },
        timer,
      };
      this.callbackWaiters.set(interactionId, [...(this.callbackWaiters.get(interactionId) ?? []), waiter]);
    });
    return {
      promise,
      cancel: () => {
        if (waiter) this.clearTimer(waiter.timer);
        remove();
      },
    };
  }

  private settleCallback(interactionId: string, callback: InteractionCallback): void {
    const waiters = this.callbackWaiters.get(interactionId);
    if (!waiters) return;
    this.callbackWaiters.delete(interactionId);
    for (const w of waiters) w.resolve(callback);
  }

  // ================================================================ internals: gateway

  private currentConnection(): GatewayConnection | undefined {
    let newest: GatewayConnection | undefined;
    for (const c of this.connections) if (c.ready && c.ws.readyState === WebSocket.OPEN) newest = c;
    return newest;
  }

  /**
   * Sends a dispatch in the current session if the client asked for `intent` (0 = always), and
   * keeps it for a RESUME. Returns its sequence number (0 when not sent).
   */
  private emitEvent(t: string, d: unknown, intent: number): number {
    const session = this.session;
    if (!session || (intent && !(session.intents & intent))) return 0;
    const s = ++session.seq;
    session.sent.push({ s, t, d });
    if (session.sent.length > 1000) session.sent.shift();
    const conn = this.currentConnection();
    if (conn) {
      conn.ws.send(JSON.stringify({ op: 0, t, s, d }));
      this.stats.dispatches += 1;
    }
    return s;
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', this.baseUrl);
    if (this.closing || url.pathname.replace(/\/$/, '') !== '/gateway') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const query = new URL(req.url ?? '/', this.baseUrl).searchParams;
    const conn: GatewayConnection = { n: ++this.connectionCounter, ws, identified: false, ready: false, query };
    this.connections.add(conn);
    this.stats.gatewayConnections += 1;
    ws.on('close', () => this.connections.delete(conn));
    ws.on('error', () => this.connections.delete(conn));
    if (query.get('v') !== '10' || query.get('encoding') !== 'json' || query.has('compress')) {
      // zlib-stream or ETF would need a different fake: fail loudly rather than half-work.
      this.internalErrors.push(new Error(`FakeDiscord: unsupported gateway query ${query.toString()} (only v=10&encoding=json, no compress)`));
      ws.close(4012, 'Invalid API version');
      return;
    }
    ws.on('message', (raw, isBinary) => {
      if (isBinary) {
        ws.close(4002, 'Error while decoding payload.');
        return;
      }
      let payload: Json;
      try {
        const parsed: unknown = JSON.parse(raw.toString());
        if (!isObject(parsed)) throw new Error('not an object');
        payload = parsed;
      } catch {
        ws.close(4002, 'Error while decoding payload.');
        return;
      }
      try {
        this.onGatewayPayload(conn, payload);
      } catch (error) {
        this.internalErrors.push(error instanceof Error ? error : new Error(String(error)));
      }
    });
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.options.heartbeatIntervalMs ?? 41250, _trace: ['["fake-gateway",{"micros":0}]'] }, s: null, t: null }));
  }

  private onGatewayPayload(conn: GatewayConnection, payload: Json): void {
    const d = isObject(payload.d) ? payload.d : {};
    switch (payload.op) {
      case 1:
        this.stats.heartbeats += 1;
        conn.ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
        return;
      case 2:
        return this.onIdentify(conn, d);
      case 6:
        this.gatewayMessages.push(payload);
        return this.onResume(conn, d);
      default:
        this.gatewayMessages.push(payload);
        if (payload.op === 8) this.onRequestMembers(d);
        return;
    }
  }

  private onIdentify(conn: GatewayConnection, d: Json): void {
    const record: IdentifyRecord = {
      token: String(d.token ?? ''),
      intents: Number(d.intents ?? 0),
      compress: d.compress === true,
      shard: d.shard,
      properties: d.properties,
      at: Date.now(),
    };
    this.identifies.push(record);
    this.stats.identifies += 1;
    if (conn.identified) {
      conn.ws.close(4005, 'Already authenticated.');
      return;
    }
    if (this.options.expectedToken !== undefined && record.token !== this.options.expectedToken) {
      conn.ws.close(4004, 'Authentication failed.');
      return;
    }
    conn.identified = true;
    const session: GatewaySession = { id: randomBytes(16).toString('hex'), seq: 0, intents: record.intents, sent: [] };
    this.session = session;
    const ready = {
      v: 10,
      user: { id: BOT_ID, username: 'signoff', discriminator: '0', global_name: null, avatar: null, bot: true, verified: true, mfa_enabled: false, flags: 0, email: null },
      guilds: [{ id: GUILD_ID, unavailable: true }],
      session_id: session.id,
      session_type: 'normal',
      resume_gateway_url: this.gatewayUrl,
      shard: [0, 1],
      application: { id: APP_ID, flags: 0 },
      private_channels: [],
      relationships: [],
      presences: [],
      guild_join_requests: [],
      user_settings: {},
      geo_ordered_rtc_regions: ['fake'],
      _trace: ['["fake-gateway",{"micros":0}]'],
    };
    const readySeq = ++session.seq;
    session.sent.push({ s: readySeq, t: 'READY', d: ready });
    // GUILD_CREATE goes out once READY is flushed, so the two never share one read on the client.
    conn.ws.send(JSON.stringify({ op: 0, t: 'READY', s: readySeq, d: ready }), () => {
      if (conn.ws.readyState !== WebSocket.OPEN || this.session !== session) return;
      const s = ++session.seq;
      const guild = this.guildCreate();
      session.sent.push({ s, t: 'GUILD_CREATE', d: guild });
      conn.ws.send(JSON.stringify({ op: 0, t: 'GUILD_CREATE', s, d: guild }));
      this.stats.dispatches += 2;
      conn.ready = true;
      this.stats.readies += 1;
      this.wakeReadyWaiters();
    });
  }

  private onResume(conn: GatewayConnection, d: Json): void {
    const session = this.session;
    if (!session || d.session_id !== session.id || (this.options.expectedToken !== undefined && d.token !== this.options.expectedToken)) {
      // Not resumable: discord.js then identifies again.
      conn.ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
      return;
    }
    conn.identified = true;
    const seq = Number(d.seq ?? 0);
    for (const event of session.sent) if (event.s > seq) conn.ws.send(JSON.stringify({ op: 0, t: event.t, s: event.s, d: event.d }));
    const s = ++session.seq;
    conn.ws.send(JSON.stringify({ op: 0, t: 'RESUMED', s, d: { _trace: ['["fake-gateway",{"micros":0}]'] } }));
    conn.ready = true;
    this.stats.resumes += 1;
    this.wakeReadyWaiters();
  }

  /** op 8 (guild.members.fetch() over the gateway) → one GUILD_MEMBERS_CHUNK from `members`. */
  private onRequestMembers(d: Json): void {
    const wanted = Array.isArray(d.user_ids) ? d.user_ids.map(String) : typeof d.user_ids === 'string' ? [d.user_ids] : undefined;
    const all = [...this.members.values()];
    const found = wanted ? all.filter((m) => wanted.includes(m.user.id)) : all.slice(0, Number(d.limit) || all.length);
    this.emitEvent(
      'GUILD_MEMBERS_CHUNK',
      {
        guild_id: GUILD_ID,
        members: found.map((m) => this.memberObject(m.user, m.roles)),
        chunk_index: 0,
        chunk_count: 1,
        ...(wanted ? { not_found: wanted.filter((id) => !found.some((m) => m.user.id === id)) } : {}),
        ...(d.nonce !== undefined ? { nonce: d.nonce } : {}),
      },
      0,
    );
  }

  private wakeReadyWaiters(): void {
    const due = this.readyWaiters.filter((w) => this.stats.readies >= w.count);
    this.readyWaiters = this.readyWaiters.filter((w) => this.stats.readies < w.count);
    for (const w of due) w.resolve();
  }

  // ================================================================ internals: timers

  private timer(fn: () => void, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private clearTimer(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.timer(resolve, ms));
  }
}
