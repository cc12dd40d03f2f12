/**
 * A lease: a role only one replica may hold at a time (the chat courier), kept as a database row
 * its holder renews (see src/store/postgres/lease-rows.ts). Renewed every `renewMs`, valid for
 * `ttlMs` by the database's clock; when the holder dies, another replica takes over as soon as
 * the term runs out (it asks again right at the expiry the database told it).
 *
 * The holder must stop before anyone else can start, and a holder that lost the lease may not
 * know yet (its connection hangs, its process was paused). So `held()` is judged locally and
 * conservatively: a term counts from the moment the renewal was SENT (the database stamped it
 * later, so its expiry is later still), minus a safety margin, and a renewal that fails makes
 * `held()` false at once, until a renewal succeeds again. Callers check `held()` right before
 * each side effect; `onLost` fires when the term is surely gone, by the time the margin starts.
 * Each term has an epoch (one more than the last), so a renewal from an earlier term fails.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { LeaseRows } from '../store/postgres/lease-rows.js';
import { deadOnThisHost } from './dead-holders.js';

export interface LeaseOptions {
  rows: Pick<LeaseRows, 'acquire' | 'renew' | 'release'>;
  /** The role, e.g. `chat-courier`. */
  name: string;
  /** This process (replicaId()). */
  holder: string;
  /** How long a term lasts after each renewal (default 8 s). */
  ttlMs?: number;
  /** How often the holder renews, and others ask (default 2 s). */
  renewMs?: number;
  /** How long before the database's expiry the holder stops (default a quarter of the TTL). */
  marginMs?: number;
  log: Logger;
  /** Told when this replica won a term. */
  onWon?(epoch: number): void;
  /** Whether a holder is known dead (default: a process of this host that is gone, see dead-holders.ts). */
  isDead?(holder: string): boolean;
  /** Told when the term is over (lost, run out, given up or released). */
  onLost?(why: string): void;
  /** Monotonic milliseconds (tests). */
  now?: () => number;
}

export class Lease {
  private epochHeld: number | undefined;
  /** Local monotonic time after which the term no longer counts. */
  private validUntil = 0;
  private failing = false;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private attempting: Promise<void> | undefined;
  /** Not before this (monotonic ms) does this replica ask again, after giving the lease up. */
  private quietUntil = 0;
  readonly ttlMs: number;
  readonly renewMs: number;
  private readonly marginMs: number;
  private readonly now: () => number;

  constructor(private readonly o: LeaseOptions) {
    this.ttlMs = o.ttlMs ?? 8_000;
    this.renewMs = o.renewMs ?? 2_000;
    this.marginMs = o.marginMs ?? Math.round(this.ttlMs / 4);
    this.now = o.now ?? (() => performance.now());
  }

  /** The epoch of the term this replica holds (even while a renewal is failing), if any. */
  get epoch(): number | undefined {
    return this.epochHeld;
  }

  /** True when this replica may act as the holder right now (see the module comment). */
  held(): boolean {
    return this.epochHeld !== undefined && !this.failing && this.now() < this.validUntil;
  }

  /** Makes the first attempt (so a caller knows at once whether it won), then keeps at it. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.cycle();
  }

  /** Stops asking and renewing; a term held is released, so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.attempting;
    await this.giveUp('stopping');
  }

  /**
   * Ends this replica's term now and lets `quietMs` pass before it asks again: for a holder that
   * could not do the job (another replica should try).
   */
  async giveUp(why: string, quietMs = 0): Promise<void> {
    const epoch = this.epochHeld;
    this.quietUntil = this.now() + quietMs;
    if (epoch === undefined) return;
    this.lose(why);
    try {
      await this.o.rows.release(this.o.name, this.o.holder, epoch);
    } catch (err) {
      // It runs out by itself within the TTL.
      this.o.log.warn({ err, lease: this.o.name }, 'could not release the lease; it runs out by itself');
    }
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    this.attempting = this.attempt().then((next) => {
      this.attempting = undefined;
      if (!this.stopped) this.timer = setTimeout(() => void this.cycle(), next);
    });
    await this.attempting;
  }

  /** One acquisition or renewal; how long until the next. */
  private async attempt(retryAfterDeadHolder = true): Promise<number> {
    const { rows, name, holder, log } = this.o;
    const sentAt = this.now();
    if (sentAt < this.quietUntil) return Math.ceil(this.quietUntil - sentAt);
    const epoch = this.epochHeld;
    try {
      if (epoch === undefined) {
        const got = await rows.acquire(name, holder, this.ttlMs);
        if (this.stopped) {
          if (got.won) await rows.release(name, holder, got.epoch).catch(() => undefined);
          return this.renewMs;
        }
        if (!got.won) {
          // A holder of this host whose process is gone (a previous life of this signoff, killed)
          // will never renew: end its term now (a compare-and-set on its holder and epoch) and ask
          // again at once, instead of waiting out its lease.
          if (retryAfterDeadHolder && got.remainingMs > 0 && got.holder !== holder && (this.o.isDead ?? deadOnThisHost)(got.holder)) {
            await rows.release(name, got.holder, got.epoch);
            log.info({ lease: name, holder: got.holder }, 'the lease holder died on this host; its term is ended');
            return this.attempt(false);
          }
          return Math.max(20, Math.min(this.renewMs, Math.ceil(got.remainingMs) + 20));
        }
        this.epochHeld = got.epoch;
        this.extend(sentAt);
        log.info({ lease: name, epoch: got.epoch }, 'took the lease');
        this.o.onWon?.(got.epoch);
        return this.renewMs;
      }
      if (await rows.renew(name, holder, epoch, this.ttlMs)) {
        // Only the term this renewal was for: it may have been given up meanwhile.
        if (this.epochHeld === epoch) this.extend(sentAt);
        return this.renewMs;
      }
      if (this.epochHeld === epoch) this.lose('another replica holds it, or it ran out');
      return 20;
    } catch (err) {
      if (epoch !== undefined && this.epochHeld === epoch && !this.failing) {
        log.warn({ err, lease: name, epoch }, 'could not renew the lease; pausing until a renewal succeeds');
        this.failing = true;
      }
      // Soon again, while the term may still be saved.
      return Math.min(this.renewMs, 500);
    }
  }

  /** A renewal sent at `sentAt` succeeded: the term counts until the margin before its expiry. */
  private extend(sentAt: number): void {
    this.failing = false;
    this.validUntil = sentAt + this.ttlMs - this.marginMs;
    clearTimeout(this.expiry);
    this.expiry = setTimeout(() => this.lose('not renewed in time'), Math.max(0, this.validUntil - this.now()));
  }

  private lose(why: string): void {
    if (this.epochHeld === undefined) return;
    this.o.log.info({ lease: this.o.name, epoch: this.epochHeld, why }, 'no longer holds the lease');
    this.epochHeld = undefined;
    this.validUntil = 0;
    this.failing = false;
    clearTimeout(this.expiry);
    this.o.onLost?.(why);
  }
}
