/**
 * The Slack inbox: how a click or a /signoff command is acknowledged fast AND never lost. In HTTP
 * mode the request's signature is checked (Bolt's check; ./events-endpoint.ts), in Socket Mode
 * the envelope comes over the socket (./socket-inbox.ts); the payload is stored with its replay
 * claim, and the acknowledgement goes back at once. Bolt then carries the stored interactions out
 * one per event-loop turn once requests stop arriving (for QUIET_MS, or after MAX_WAIT_MS at
 * most), so a wave of clicks is answered before the decisions they ask for are made. A crash
 * after the answer loses nothing: `start()` carries out what is still stored. A replayed request
 * (same key) is acknowledged and changes nothing.
 *
 * Replicas on one PostgreSQL share the inbox: a stored interaction is held by the replica that
 * stored it under a lease (INBOX_LEASE_MS) it renews while the interaction waits here; every
 * SWEEP_MS each replica claims those whose lease lapsed (their replica died) and carries them out.
 * The change clears the row in its own transaction as a compare-and-set, so it happens once.
 *
 * Only interactions whose answer carries nothing go through here (slash commands, gate buttons);
 * modal submissions, whose answer can hold validation errors, stay with Bolt's receiver.
 */
import { HTTPModuleFunctions, isValidSlackRequest, type App } from '@slack/bolt';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Store } from '../../store/store.js';
import { replicaId } from '../../cluster/replica.js';
import { deadOnThisHost } from '../../cluster/dead-holders.js';
import { beforeAck, REPLAY_WINDOW_MS } from '../before-ack.js';

/** The context property that tells a handler its interaction came through the inbox, claimed. */
export const INBOX_KEY = 'signoffInboxKey';
const PRUNE_EVERY_MS = 60_000;
/** Stored interactions wait until no request has arrived for this long… */
const QUIET_MS = 3;
/** …but never longer than this: a steady stream of requests does not starve the decisions. */
const MAX_WAIT_MS = 100;
/** How often holds are renewed and lapsed ones claimed: well inside the lease, so a live replica's hold never lapses. */
const SWEEP_MS = 2_000;

/** The replay claim of an interaction the inbox takes, or undefined for one Bolt's receiver handles. */
export function inboxKey(body: Record<string, unknown>): string | undefined {
  if (typeof body.command === 'string' && typeof body.trigger_id === 'string') return `slack:command:${body.trigger_id}`;
  if (body.type !== 'block_actions' || !Array.isArray(body.actions) || body.actions.length !== 1) return undefined;
  const action = body.actions[0] as Record<string, unknown>;
  const user = (body.user as Record<string, unknown> | undefined)?.id;
  if (typeof action.action_id !== 'string' || !action.action_id.startsWith('signoff_gate_')) return undefined;
  if (typeof user !== 'string' || typeof action.action_ts !== 'string') return undefined;
  return `slack:action:${user}:${action.action_ts}`;
}

export interface Interaction {
  key: string;
  body: Record<string, unknown>;
  /** The request body as Slack sent it (what is stored). */
  form: string;
}

const FORM = 'application/x-www-form-urlencoded';

/** A Slack request body (form fields, or the JSON in its `payload` field), as Bolt reads it. */
function parseForm(form: Buffer | string): Record<string, unknown> | undefined {
  try {
    const rawBody = typeof form === 'string' ? Buffer.from(form) : form;
    return HTTPModuleFunctions.parseHTTPRequestBody({ rawBody, headers: { 'content-type': FORM } } as never) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export class SlackInbox {
  private arriving: (Interaction & { resolve: () => void; reject: (err: unknown) => void })[] = [];
  private readonly queue: { key: string; body: Record<string, unknown>; since: number }[] = [];
  private running = false;
  private scheduled = false;
  private lastPrune = 0;
  private lastArrival = 0;
  /** Keys queued or being carried out here (a claim sweep must not queue one twice). */
  private readonly mine = new Set<string>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly app: App,
    private readonly db: Store,
    /** HTTP mode's signing secret; undefined in Socket Mode, where the socket is the proof. */
    private readonly signingSecret: string | undefined,
    private readonly log: Logger,
    /** Who holds the interactions this process stores (the replica id). */
    private readonly owner: string = replicaId(),
  ) {}

  /**
   * A signed interaction the inbox takes, read from the request; undefined when Bolt's receiver
   * should handle the request (another kind, or a bad signature, which Bolt answers as usual).
   */
  check(headers: IncomingHttpHeaders, raw: Buffer): Interaction | undefined {
    if (headers['content-type'] !== FORM) return undefined;
    const signature = headers['x-slack-signature'];
    const timestamp = Number(headers['x-slack-request-timestamp']);
    const text = raw.toString('utf8');
    if (this.signingSecret === undefined || typeof signature !== 'string' || !isValidSlackRequest({ signingSecret: this.signingSecret, body: text, headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp } }))
      return undefined;
    const body = parseForm(raw);
    const key = body && inboxKey(body);
    return key ? { key, body: body!, form: text } : undefined;
  }

  /**
   * Stores an interaction; resolves once it is on disk (answer 200 then), rejects when it could
   * not be stored (answer an error: nothing was acknowledged). A replay resolves and is dropped.
   * The interactions read in one event-loop turn are stored in one transaction.
   */
  store(item: Interaction): Promise<void> {
    this.lastArrival = Date.now();
    return new Promise((resolve, reject) => {
      this.arriving.push({ ...item, resolve, reject });
      if (this.arriving.length === 1) setImmediate(() => void this.storeArrived());
    });
  }

  private async storeArrived(): Promise<void> {
    const batch = this.arriving.splice(0);
    const now = Date.now();
    const prune = now - this.lastPrune > PRUNE_EVERY_MS;
    let fresh: boolean[];
    try {
      // Slack gives up after 3 s: rather than store late and acknowledge into the void, answer
      // an error (nothing stored) when another process holds the database longer than that.
      const items = batch.map((item) => ({ key: item.key, payload: item.form }));
      fresh = await beforeAck(this.db).inbox.acceptAll(items, now, prune ? now - REPLAY_WINDOW_MS : undefined, this.owner);
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    if (prune) this.lastPrune = now;
    batch.forEach((item, i) => {
      if (fresh[i]) this.enqueue(item.key, item.body, now);
      item.resolve();
    });
    this.schedule();
  }

  /** Starts carrying out stored interactions, those a previous process (or a dead replica) left first. */
  async start(): Promise<void> {
    this.running = true;
    await this.claim(true);
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Stops taking work from the queue; what is left stays stored (its hold lapses) for the next start or another replica. */
  stop(): void {
    this.running = false;
    clearInterval(this.sweeper);
  }

  private enqueue(key: string, body: Record<string, unknown>, since: number, first = false): void {
    if (this.mine.has(key)) return;
    this.mine.add(key);
    if (first) this.queue.unshift({ key, body, since });
    else this.queue.push({ key, body, since });
  }

  /** Takes stored interactions no live replica holds (at start, also those this place left) and queues them first. */
  private async claim(restart: boolean): Promise<void> {
    // At a restart, a previous life of this signoff on this host (another pid) is known dead: its
    // holds are taken at once instead of after their lease.
    const deadOwners = restart ? (await this.db.inbox.owners()).filter((o) => deadOnThisHost(o)) : [];
    const left = await this.db.inbox.claim(this.owner, { restart, deadOwners });
    if (left.length > 0) this.log.info({ count: left.length }, restart ? 'carrying out Slack interactions stored before a restart' : 'carrying out Slack interactions a stopped replica stored');
    for (const item of left.reverse()) {
      const body = parseForm(item.payload);
      if (body) this.enqueue(item.key, body, 0, true);
    }
    this.schedule();
  }

  /** Renews this replica's holds, then claims lapsed ones. */
  private async sweep(): Promise<void> {
    if (!this.running) return;
    try {
      if (this.mine.size > 0) await this.db.inbox.renew(this.owner);
      await this.claim(false);
    } catch (err) {
      this.log.warn({ err }, 'could not sweep the Slack inbox just now');
    }
  }

  private schedule(): void {
    if (this.scheduled || !this.running || this.queue.length === 0) return;
    this.scheduled = true;
    const now = Date.now();
    const waited = now - this.queue[0]!.since;
    const quietFor = now - this.lastArrival;
    if (quietFor < QUIET_MS && waited < MAX_WAIT_MS) {
      // Requests are still arriving: answer them first.
      setTimeout(() => {
        this.scheduled = false;
        this.schedule();
      }, Math.min(QUIET_MS - quietFor, MAX_WAIT_MS - waited));
      return;
    }
    // One interaction per turn: requests waiting on the socket are answered between them.
    setImmediate(() => {
      this.scheduled = false;
      const item = this.running ? this.queue.shift() : undefined;
      if (item) void this.carryOut(item.key, item.body);
      this.schedule();
    });
  }

  private async carryOut(key: string, body: Record<string, unknown>): Promise<void> {
    try {
      // Already acknowledged by the HTTP answer: the handler's ack() does nothing.
      await this.app.processEvent({ body, ack: async () => undefined, customProperties: { [INBOX_KEY]: key } });
    } catch (err) {
      this.log.error({ err, key }, 'a stored Slack interaction failed');
    }
    try {
      await this.db.inbox.done(key);
    } catch (err) {
      this.log.warn({ err, key }, 'could not mark a Slack interaction as carried out; it will run again at start');
    }
    this.mine.delete(key);
  }
}
