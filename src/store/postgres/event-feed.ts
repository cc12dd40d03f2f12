/**
 * Every event committed by any replica, in id order, each once: the cluster's live feed. A
 * NOTIFY (sent by a trigger on `events`, at COMMIT) only wakes the reader; the events are read
 * from the table, and a slow poll reads too, so a lost notification delays an event, never
 * loses it.
 *
 * Event ids come from a sequence, and transactions commit out of id order: "id > last seen" can
 * pass over an id whose transaction commits a moment later. So a round reads the newest id
 * visible now together with the snapshot it was read in; every smaller id was handed out
 * before, so it is visible in that snapshot or belongs to a transaction the snapshot lists as
 * in progress (signoff's writers take an xid, with the job's row lock, before they number
 * events). Once those transactions have ended, the ids up to that newest one are final: they
 * are read and delivered in order, and the cursor moves past them. The cost: an event waits
 * for the transactions in progress when it was read (units of work, a few milliseconds).
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { EventFeed, StoredEvent } from '../port.js';
import type { eventStatements } from './events.js';
import { listen, LISTEN_APPLICATION_NAME, type Listener } from './listen.js';

/** The NOTIFY channel of the trigger in migration 7. */
export const EVENTS_CHANNEL = 'signoff_events';
/** The slow poll that catches what a lost notification did not announce. */
const POLL_MS = 2_000;
const BATCH = 500;

type Events = ReturnType<typeof eventStatements>;

export class PgEventFeed implements EventFeed {
  private cursor = 0;
  private readonly fns = new Set<(e: StoredEvent) => void>();
  private listener: Listener | undefined;
  private poll: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private starting: Promise<void> | undefined;
  private waiting = false;

  constructor(private readonly pool: pg.Pool, private readonly events: Events, private readonly log?: Logger) {}

  get delivered(): number {
    return this.cursor;
  }

  /** True while a round waits for transactions that may still commit smaller ids (tests watch it). */
  get settling(): boolean {
    return this.waiting;
  }

  /** True while the LISTEN connection is up (for health and tests). */
  get listening(): boolean {
    return this.listener?.connected ?? false;
  }

  start(): Promise<void> {
    this.starting ??= (async () => {
      // The starting position obeys the same rule as every round: final ids only.
      const { max, snapshot } = await this.events.horizon();
      await this.settled(snapshot);
      this.cursor = max;
      this.listener = await listen(this.pool, {
        channels: [EVENTS_CHANNEL],
        onNotify: () => this.wake(),
        onReconnect: () => this.wake(),
        applicationName: LISTEN_APPLICATION_NAME,
        log: this.log,
      });
      // A stop while the LISTEN was opening came too early to close it.
      if (this.stopped) return void (await this.listener.close());
      // Whatever was committed after the starting position and before the LISTEN is read now.
      this.wake();
      this.poll = setInterval(() => this.wake(), POLL_MS);
      this.poll.unref();
    })();
    // A start that failed (the database did not answer) may be tried again.
    this.starting.catch(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  subscribe(fn: (event: StoredEvent) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    await this.listener?.close();
    await this.reading?.catch(() => undefined);
  }

  /** Reads now, or once more after the round in flight (wake-ups during a round are one more round). */
  wake(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        try {
          await this.round();
        } catch (err) {
          // The next wake-up or poll tries again from the same cursor: nothing is skipped.
          this.log?.warn({ err }, 'could not read new events just now');
          break;
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.reading = undefined;
    });
  }

  private async round(): Promise<void> {
    const { max, snapshot } = await this.events.horizon();
    if (max <= this.cursor) return;
    await this.settled(snapshot);
    while (!this.stopped && this.cursor < max) {
      const batch = await this.events.between(this.cursor, max, BATCH);
      for (const e of batch) this.deliver(e);
      this.cursor = batch.length < BATCH ? max : batch.at(-1)!.id;
    }
  }

  /** Waits until every transaction in progress in `snapshot` has ended (committed or not). */
  private async settled(snapshot: string): Promise<void> {
    // `xmin:xmax:xip,…`: with no transaction in progress there is nothing to wait for (the usual case when idle).
    if (snapshot.endsWith(':')) return;
    try {
      for (let wait = 1; !this.stopped && (await this.events.stillRunning(snapshot)) > 0; wait = Math.min(50, wait * 2)) {
        this.waiting = true;
        await new Promise((r) => setTimeout(r, wait));
      }
    } finally {
      this.waiting = false;
    }
  }

  private deliver(e: StoredEvent): void {
    for (const fn of this.fns) {
      try {
        fn(e);
      } catch (err) {
        this.log?.error({ err }, 'an event feed subscriber failed');
      }
    }
  }
}
