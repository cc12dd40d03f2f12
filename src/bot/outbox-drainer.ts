/**
 * Delivers one chat surface's outbox: jobs whose oldest undelivered row is due, each job's rows
 * in order, a few jobs at a time. A failed batch stays in the outbox and is tried again after a
 * backoff (or the platform's Retry-After); only that job waits, others go on.
 *
 * Gate messages and thread notices go out at once. The status message is edited at most once per
 * job every `statusEditIntervalMs`: a job alone produces its events a few at a time, and editing
 * the root for each would cost more calls than there are events. Within the interval the newest
 * row that changes the status stays undelivered (its gate and notice parts are done and
 * remembered), and the drainer comes back for it when the interval is over: that trailing edit
 * shows the job as it is then, so the last state always lands. After a crash the row is simply
 * delivered again, so a root is never left stale.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { OutboxRow, Store } from '../store/store.js';
import { changesStatus } from './deliver-batch.js';

/** Least time between two edits of one job's status message (Slack's chat.update is Tier 3). */
export const STATUS_EDIT_INTERVAL_MS = 2_000;

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
  /**
   * Delivers the gate messages and notices of a job's rows in order (deliverBatch); must be
   * idempotent (a retried batch may repeat delivered parts). Says whether the status message was
   * posted just now, showing the job as it is: then it needs no edit for these rows.
   */
  deliver(job: number, rows: OutboxRow[]): Promise<Delivered | void>;
  /** Edits the job's status message to show the job as it is now (posting it if it is missing). */
  editStatus(job: number): Promise<void>;
  /** Least time between two status edits of one job (default STATUS_EDIT_INTERVAL_MS). */
  statusEditIntervalMs?: number;
  log: Logger;
  clock?: { now(): number };
  /** Pause between rounds when nothing pokes the drainer. */
  idleMs?: number;
  /** Jobs delivered at the same time. */
  concurrency?: number;
  /** Attempts before a permanently failing row is dropped so its job's later rows can go. */
  maxPermanentAttempts?: number;
  /**
   * Whether this process may deliver right now (the chat courier's term, src/cluster/courier.ts):
   * checked before each job and each status edit. While false nothing is sent and a failure is
   * not recorded: the rows wait, due, for whichever replica delivers next. Default: always.
   */
  mayDeliver?: () => boolean;
}

export interface Delivered {
  /** The status message was posted during this batch and shows every row of it. */
  statusPosted?: boolean;
}

const MAX_BACKOFF_MS = 5 * 60_000;

export class OutboxDrainer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private again = false;
  private readonly now: () => number;
  private readonly interval: number;
  /** When each job's status message was last edited (monotonic ms); pruned once it no longer matters. */
  private readonly edited = new Map<number, number>();
  /** Jobs whose status edit waits for the interval, with the time it may happen (monotonic ms). */
  private readonly waiting = new Map<number, number>();
  /** Undelivered rows whose gate and notice parts are done; only their status edit is left. */
  private readonly partsDone = new Set<number>();

  constructor(private readonly o: DrainerOptions) {
    this.now = () => (o.clock ?? Date).now();
    this.interval = o.statusEditIntervalMs ?? STATUS_EDIT_INTERVAL_MS;
  }

  start(): void {
    this.stopped = false;
    this.poke();
  }

  /**
   * Stops delivering. Like every undelivered row, a status edit still waiting for its interval
   * is made at the next start (its row is still in the outbox).
   */
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
    // A round that cannot read the outbox (the database is away) is tried again after the idle
    // pause; unhandled, its rejection would end the process.
    const round = this.round().catch((err: unknown) => this.o.log.warn({ err, target: this.o.target }, 'could not read the chat outbox just now; trying again shortly'));
    this.running = round.finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.poke();
      } else this.timer = setTimeout(() => this.poke(), this.nextRoundIn());
    });
  }

  /** The idle pause, or less when a waiting status edit becomes due sooner. */
  private nextRoundIn(): number {
    let wait = this.o.idleMs ?? 1_000;
    const now = performance.now();
    for (const at of this.waiting.values()) wait = Math.min(wait, Math.max(10, Math.ceil(at - now)));
    return wait;
  }

  /** Delivers every job that is due now; resolves when the round is done. */
  async round(): Promise<void> {
    if (!this.may()) return;
    const jobs = await this.o.store.outbox.dueJobs(this.o.target, this.now(), 100);
    const width = this.o.concurrency ?? 4;
    for (let i = 0; i < jobs.length && !this.stopped && this.may(); i += width) {
      await Promise.all(jobs.slice(i, i + width).map((job) => this.deliverJob(job)));
    }
    const old = performance.now() - this.interval;
    for (const [job, at] of this.edited) if (at < old && !this.waiting.has(job)) this.edited.delete(job);
  }

  private may(): boolean {
    return this.o.mayDeliver?.() ?? true;
  }

  private async deliverJob(job: number): Promise<void> {
    if (!this.may()) return;
    const rows = await this.o.store.outbox.pendingForJob(this.o.target, job);
    if (!rows.length) {
      this.waiting.delete(job);
      return;
    }
    const fresh = rows.filter((r) => !this.partsDone.has(r.id));
    const statusRows = rows.filter(changesStatus);
    try {
      const delivered = fresh.length ? await this.o.deliver(job, fresh) : undefined;
      for (const r of fresh) this.partsDone.add(r.id);
      // The newest status-changing row stands for all of them: an edit shows the job as it is now.
      let kept: OutboxRow | undefined;
      if (statusRows.length) {
        const started = performance.now();
        if (delivered?.statusPosted) this.edited.set(job, started);
        else if (started >= (this.edited.get(job) ?? -Infinity) + this.interval) {
          if (!this.may()) throw new NotCourierError();
          await this.o.editStatus(job);
          this.edited.set(job, started);
        } else kept = statusRows.at(-1);
      }
      const done = rows.filter((r) => r !== kept);
      await this.o.store.outbox.markDelivered(done.map((r) => r.id), this.now());
      for (const r of done) this.partsDone.delete(r.id);
      if (kept) this.waiting.set(job, this.edited.get(job)! + this.interval);
      else this.waiting.delete(job);
    } catch (err) {
      // The term ended during the batch: the next courier delivers what is left (rows stay due).
      if (!this.may()) return;
      const first = rows[0]!;
      const message = err instanceof Error ? err.message : String(err);
      const permanent = err instanceof PermanentDeliveryError;
      if (permanent && first.attempts + 1 >= (this.o.maxPermanentAttempts ?? 5)) {
        this.o.log.error({ err, job, target: this.o.target, event: first.event.type }, 'dropping a chat notification that keeps failing');
        await this.safely(() => this.o.store.outbox.markDropped(first.id, message, this.now()));
        this.partsDone.delete(first.id);
        return;
      }
      const retryAfter = retryAfterMs(err);
      const backoff = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(first.attempts, 12));
      this.o.log.warn({ err, job, target: this.o.target, attempts: first.attempts + 1 }, 'chat delivery failed; will retry');
      await this.safely(() => this.o.store.outbox.markFailed(first.id, message, this.now() + Math.max(retryAfter ?? 0, backoff)));
    }
  }

  /** A write about a failed delivery that cannot be stored now: the row stays due, and is tried again. */
  private async safely(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.o.log.warn({ err, target: this.o.target }, 'could not record a chat delivery failure');
    }
  }
}

/** Thrown by a delivery that found this process no longer the courier: nothing is recorded. */
export class NotCourierError extends Error {
  constructor() {
    super('this replica is no longer the chat courier');
    this.name = 'NotCourierError';
  }
}

/** Retry-After from platform client errors (Slack WebClient and discord.js shapes). */
function retryAfterMs(err: unknown): number | undefined {
  const e = err as { retryAfter?: number; data?: { retry_after?: number } } | undefined;
  if (typeof e?.retryAfter === 'number') return e.retryAfter * 1000;
  if (typeof e?.data?.retry_after === 'number') return e.data.retry_after * 1000;
  return undefined;
}
