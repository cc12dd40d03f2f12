/**
 * The chat courier: the one replica that delivers the chat outboxes (order per job, pacing per
 * channel, the post-intent lookups that keep a message from showing twice) and holds Discord's
 * gateway connection. Every replica still takes chat requests and answers people itself; only
 * the "courier half" of each surface runs here.
 *
 * On PostgreSQL the role is a lease (./lease.ts): the courier half starts when this replica wins
 * a term and stops when the term is lost, and every delivery checks `mayDeliver()` right before
 * it is made, so a courier that lost its term stops before another can begin. A replica may win,
 * lose and win again. On SQLite there is one process per database, and it is always the courier.
 */
import type { Logger } from 'pino';
import { Lease, type LeaseOptions } from './lease.js';

/** What the courier half of a surface is given for its term. */
export interface CourierTerm {
  /** True while this replica may deliver: checked right before each message is sent. */
  mayDeliver(): boolean;
}

/** The courier half of a chat surface. */
export interface CourierDuty {
  readonly name: string;
  /** Starts delivering (and, for Discord, connects the gateway); resolves once it does. */
  startCourier(term: CourierTerm): Promise<void>;
  /** Stops delivering and disconnects; undelivered rows stay for the next courier. */
  stopCourier(): Promise<void>;
  /** Something new may be in the outbox: deliver soon. */
  poke(): void;
}

/** After a term whose courier half failed to start, this long passes before this replica asks again. */
const RETRY_AFTER_FAILURE_MS = 10_000;

export class Courier {
  private readonly lease: Lease | undefined;
  private running = false;
  private stopping = false;
  private settling: Promise<void> | undefined;
  private again = false;
  /** While start() waits for the first term, a failure to start is thrown to it. */
  private starting = false;
  private startError: unknown;

  constructor(private readonly o: { duties: CourierDuty[]; log: Logger; lease?: Omit<LeaseOptions, 'onWon' | 'onLost' | 'log'> }) {
    this.lease = o.lease && new Lease({ ...o.lease, log: o.log, onWon: () => this.settle(), onLost: () => this.settle() });
  }

  /** Whether this replica is the courier now (holds the term; on SQLite: once started). */
  get active(): boolean {
    return this.lease ? this.lease.epoch !== undefined : this.running;
  }

  /** The lease's current epoch on this replica (PostgreSQL), for logs and health. */
  get epoch(): number | undefined {
    return this.lease?.epoch;
  }

  /** True while deliveries may be made from here (see CourierTerm). */
  readonly mayDeliver = (): boolean => !this.stopping && (this.lease ? this.lease.held() : this.running);

  /**
   * SQLite: starts the courier half (its failure fails start-up). PostgreSQL: asks for the lease
   * once, starting the courier half if it was won (a failure then fails start-up too), and keeps
   * asking and renewing from then on.
   */
  async start(): Promise<void> {
    this.stopping = false;
    if (!this.lease) {
      await this.startDuties();
      return;
    }
    this.starting = true;
    try {
      await this.lease.start();
      while (this.settling) await this.settling;
      if (this.startError) throw this.startError;
    } finally {
      this.starting = false;
    }
  }

  /** Stops the courier half first, then lets the lease go, so the next courier never overlaps this one. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.settle();
    while (this.settling) await this.settling;
    await this.lease?.stop();
  }

  /**
   * Wakes the outbox drainers when another replica may have written outbox rows (the
   * cross-replica event feed calls this); without it they still poll every second.
   */
  poke(): void {
    if (this.running) for (const d of this.o.duties) d.poke();
  }

  /** Brings the courier half in line with the lease, one change at a time. */
  private settle(): void {
    if (this.settling) {
      this.again = true;
      return;
    }
    this.settling = (async () => {
      do {
        this.again = false;
        const want = !this.stopping && (this.lease ? this.lease.epoch !== undefined : this.running);
        if (want && !this.running) await this.startDuties();
        else if (!want && this.running) await this.stopDuties();
      } while (this.again);
    })()
      .catch((err: unknown) => this.o.log.error({ err }, 'the chat courier role could not be brought in line with the lease'))
      .finally(() => {
        this.settling = undefined;
        if (this.again) this.settle();
      });
  }

  private async startDuties(): Promise<void> {
    const started: CourierDuty[] = [];
    // Running from the first duty on, so a surface that starts quickly delivers at once while a
    // slower one (Discord's gateway) is still connecting.
    this.running = true;
    try {
      for (const d of this.o.duties) {
        await d.startCourier({ mayDeliver: this.mayDeliver });
        started.push(d);
      }
      this.o.log.info({ epoch: this.lease?.epoch, surfaces: started.map((d) => d.name) }, 'this replica is the chat courier');
    } catch (err) {
      this.running = false;
      for (const d of started.reverse()) await d.stopCourier().catch(() => undefined);
      if (!this.lease) throw err;
      if (this.starting) this.startError ??= err;
      else this.o.log.error({ err }, 'could not start the chat courier here; another replica may take over');
      await this.lease.giveUp('could not start the courier half', RETRY_AFTER_FAILURE_MS);
    }
  }

  private async stopDuties(): Promise<void> {
    this.running = false;
    for (const d of this.o.duties) {
      try {
        await d.stopCourier();
      } catch (err) {
        this.o.log.warn({ err, surface: d.name }, 'the courier half of a surface did not stop cleanly');
      }
    }
    this.o.log.info({ stopping: this.stopping }, 'this replica is no longer the chat courier');
  }
}
