/**
 * Delivers one chat surface's outbox: jobs whose oldest undelivered row is due, each job's rows
 * in order, a few jobs at a time. A failed batch stays in the outbox and is tried again after a
 * backoff (or the platform's Retry-After); only that job waits, others go on.
 */
import type { Logger } from 'pino';
import type { OutboxRow, Store } from '../store/store.js';

/** A delivery failure that retrying cannot fix (channel gone, bot removed, bad request). */
export class PermanentDeliveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentDeliveryError';
  }
}

export interface DrainerOptions {
  store: Store;
  target: string;
  /** Delivers a job's rows in order; must be idempotent (a retried batch may repeat delivered parts). */
  deliver(job: number, rows: OutboxRow[]): Promise<void>;
  log: Logger;
  clock?: { now(): number };
  /** Pause between rounds when nothing pokes the drainer. */
  idleMs?: number;
  /** Jobs delivered at the same time. */
  concurrency?: number;
  /** Attempts before a permanently failing row is dropped so its job's later rows can go. */
  maxPermanentAttempts?: number;
}

const MAX_BACKOFF_MS = 5 * 60_000;

export class OutboxDrainer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private again = false;
  private readonly now: () => number;

  constructor(private readonly o: DrainerOptions) {
    this.now = () => (o.clock ?? Date).now();
  }

  start(): void {
    this.stopped = false;
    this.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Runs a round now (or right after the current one). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.round().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.poke();
      } else this.timer = setTimeout(() => this.poke(), this.o.idleMs ?? 1_000);
    });
  }

  /** Delivers every job that is due now; resolves when the round is done. */
  async round(): Promise<void> {
    const jobs = this.o.store.outbox.dueJobs(this.o.target, this.now(), 100);
    const width = this.o.concurrency ?? 4;
    for (let i = 0; i < jobs.length && !this.stopped; i += width) {
      await Promise.all(jobs.slice(i, i + width).map((job) => this.deliverJob(job)));
    }
  }

  private async deliverJob(job: number): Promise<void> {
    const rows = this.o.store.outbox.pendingForJob(this.o.target, job);
    if (!rows.length) return;
    try {
      await this.o.deliver(job, rows);
      this.o.store.outbox.markDelivered(rows.map((r) => r.id), this.now());
    } catch (err) {
      const first = rows[0]!;
      const message = err instanceof Error ? err.message : String(err);
      const permanent = err instanceof PermanentDeliveryError;
      if (permanent && first.attempts + 1 >= (this.o.maxPermanentAttempts ?? 5)) {
        this.o.log.error({ err, job, target: this.o.target, event: first.event.type }, 'dropping a chat notification that keeps failing');
        this.o.store.outbox.markDropped(first.id, message, this.now());
        return;
      }
      const retryAfter = retryAfterMs(err);
      const backoff = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(first.attempts, 12));
      this.o.log.warn({ err, job, target: this.o.target, attempts: first.attempts + 1 }, 'chat delivery failed; will retry');
      this.o.store.outbox.markFailed(first.id, message, this.now() + Math.max(retryAfter ?? 0, backoff));
    }
  }
}

/** Retry-After from platform client errors (Slack WebClient and discord.js shapes). */
function retryAfterMs(err: unknown): number | undefined {
  const e = err as { retryAfter?: number; data?: { retry_after?: number } } | undefined;
  if (typeof e?.retryAfter === 'number') return e.retryAfter * 1000;
  if (typeof e?.data?.retry_after === 'number') return e.data.retry_after * 1000;
  return undefined;
}
