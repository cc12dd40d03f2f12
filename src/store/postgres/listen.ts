/**
 * A dedicated connection that LISTENs on one channel and calls `wake` for each notification. A
 * pooled client cannot do this (LISTEN belongs to a session, and the pool hands sessions to
 * others). When the connection drops (a killed backend, a restarted server, a broken socket) it
 * connects again with backoff and wakes once: notifications sent meanwhile were lost, and the
 * reader must look for what they announced.
 */
import pg from 'pg';
import type { Logger } from 'pino';

/** What the connection is called in pg_stat_activity (tests find it there to cut it). */
export const LISTEN_APPLICATION_NAME = 'signoff-listen';

const MAX_BACKOFF_MS = 2_000;

export interface Listener {
  /** True while a LISTEN connection is up. */
  readonly connected: boolean;
  close(): Promise<void>;
}

/** Listens on `channel` with the pool's connection settings until closed. */
export function listen(pool: pg.Pool, channel: string, wake: () => void, log?: Logger): Listener {
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
      void connect();
    }, wait);
    timer.unref();
  };

  async function connect(): Promise<void> {
    const c = new pg.Client({ ...(pool.options as pg.ClientConfig), application_name: LISTEN_APPLICATION_NAME });
    client = c;
    let lost = false;
    const drop = (err?: Error) => {
      if (lost) return;
      lost = true;
      connected = false;
      if (!closed) log?.warn({ err: err && { message: err.message } }, 'the PostgreSQL LISTEN connection dropped; connecting again');
      c.end().catch(() => undefined);
      again();
    };
    c.on('error', drop);
    c.on('end', () => drop());
    c.on('notification', () => wake());
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      drop(err as Error);
      return;
    }
    if (closed) return void c.end().catch(() => undefined);
    connected = true;
    attempt = 0;
    // Whatever was committed while no one listened is read now.
    wake();
  }

  void connect();
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
