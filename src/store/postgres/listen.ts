/**
 * LISTEN on PostgreSQL channels over a connection of its own. A pooled client cannot do this
 * (LISTEN belongs to a session, and the pool hands sessions to others). A notification is a
 * wake-up, not a log: when the connection drops (a killed backend, a restarted server, a broken
 * socket) it connects again with backoff and calls `onReconnect`, since notifications sent
 * meanwhile were lost and the caller must look for what they announced. Used by the cross-replica
 * event feed (./event-feed.ts) and the stage workers (src/stages/queue/worker.ts).
 */
import pg from 'pg';
import type { Logger } from 'pino';

/** What the event feed's LISTEN connection is called in pg_stat_activity (tests find it there to cut it). */
export const LISTEN_APPLICATION_NAME = 'signoff-listen';

const MAX_BACKOFF_MS = 2_000;

export interface ListenOptions {
  channels: readonly string[];
  /** Each notification, with its channel and payload ('' when none). */
  onNotify(channel: string, payload: string): void;
  /** Called once the LISTEN is in place again after the connection dropped (not after the first connect). */
  onReconnect?(): void;
  /** What the connection is called in pg_stat_activity, so an operator (or a test) can tell it apart. */
  applicationName: string;
  log?: Logger;
}

/** A running listener; `close` ends it. */
export interface Listener {
  /** True while a LISTEN connection is up (for health and tests). */
  readonly connected: boolean;
  close(): Promise<void>;
}

/**
 * Listens with the pool's connection settings until closed. Resolves once the first LISTEN is in
 * place (what was committed before then is the caller's to read); rejects if that first attempt
 * fails. Later drops are retried for as long as the listener is open.
 */
export async function listen(pool: pg.Pool, o: ListenOptions): Promise<Listener> {
  let client: pg.Client | undefined;
  let closed = false;
  let connected = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;

  const again = () => {
    if (closed || timer) return;
    const wait = Math.min(MAX_BACKOFF_MS, 50 * 2 ** attempt++);
    timer = setTimeout(() => {
      timer = undefined;
      open().then(
        () => {
          if (!closed) o.onReconnect?.();
        },
        (err: Error) => {
          if (closed) return;
          o.log?.warn({ err: { message: err.message }, channels: o.channels }, 'could not LISTEN on PostgreSQL again; trying again');
          again();
        },
      );
    }, wait);
    timer.unref();
  };

  /** One connection and its LISTEN; throws when either fails (the connection is closed then). */
  async function open(): Promise<void> {
    const c = new pg.Client({ ...(pool.options as pg.ClientConfig), application_name: o.applicationName });
    client = c;
    let up = false;
    let ended = false;
    const drop = (err?: Error) => {
      // Before the LISTEN is in place, the failing connect or query reports the trouble.
      if (!up || ended) return void (ended = true);
      ended = true;
      connected = false;
      c.end().catch(() => undefined);
      if (closed) return;
      o.log?.warn({ err: err && { message: err.message }, channels: o.channels }, 'the PostgreSQL LISTEN connection dropped; connecting again');
      again();
    };
    c.on('error', drop);
    c.on('end', () => drop());
    c.on('notification', (n) => o.onNotify(n.channel, n.payload ?? ''));
    try {
      await c.connect();
      await c.query(o.channels.map((ch) => `LISTEN ${pg.escapeIdentifier(ch)}`).join('; '));
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    if (closed) return void (await c.end().catch(() => undefined));
    if (ended) throw new Error('the LISTEN connection ended as it opened');
    up = true;
    connected = true;
    attempt = 0;
  }

  await open();
  return {
    get connected() {
      return connected;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}
