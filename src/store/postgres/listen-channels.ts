/**
 * LISTEN on PostgreSQL channels over a connection of its own (a pooled client would be taken
 * from the pool for good). A notification is a wake-up, not a log: a connection that drops is
 * opened again with backoff, and `onReconnect` lets the listener read what it may have missed.
 */
import pg from 'pg';
import type { Logger } from 'pino';

/** A running listener; `close` ends it. */
export interface Listening {
  close(): Promise<void>;
}

export interface ListenOptions {
  channels: readonly string[];
  onNotify(channel: string, payload: string): void;
  /** Called after the connection came back (not on the first connect). */
  onReconnect?(): void;
  log?: Logger;
}

/** Starts listening on `connectionString`; resolves once the first LISTEN is in place. */
export async function listen(connectionString: string, o: ListenOptions): Promise<Listening> {
  let client: pg.Client | undefined;
  let closed = false;
  let attempt = 0;
  const open = async (): Promise<void> => {
    const c = new pg.Client({ connectionString, connectionTimeoutMillis: 5_000 });
    c.on('notification', (n) => o.onNotify(n.channel, n.payload ?? ''));
    c.on('error', () => undefined);
    c.on('end', () => {
      if (closed || client !== c) return;
      client = undefined;
      void again();
    });
    try {
      await c.connect();
      // Channel names are ours (constants), never user input: quoting them is enough.
      await c.query(o.channels.map((ch) => `LISTEN "${ch.replace(/"/g, '')}"`).join('; '));
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    client = c;
    attempt = 0;
  };
  const again = async (): Promise<void> => {
    while (!closed) {
      await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt++)).unref());
      if (closed) return;
      try {
        await open();
        o.onReconnect?.();
        return;
      } catch (err) {
        o.log?.warn({ err: { message: (err as Error).message } }, 'could not listen for stage runs; trying again');
      }
    }
  };
  await open();
  return {
    async close() {
      closed = true;
      await client?.end().catch(() => undefined);
    },
  };
}
