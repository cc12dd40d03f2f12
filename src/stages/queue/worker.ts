/**
 * A stage worker (PostgreSQL): takes queued runs of its pools, runs each with the same code as the
 * in-process launcher (src/orchestrator/run-stage.ts), and reports outcomes and progress as
 * inputs through the store's unit of work. While a run goes on, its lease is renewed by
 * heartbeats; no database connection or transaction is held meanwhile.
 *
 * Runs are taken when the transaction that queued them commits (NOTIFY `signoff_stage_runs`,
 * or `wake()` from the engine of this process), and every POLL_MS as well, since a notification
 * is a wake-up and may be missed. A cancel arrives as NOTIFY `signoff_stage_cancel` and, should
 * that be missed, as the lease found gone at the next heartbeat: either kills the run's process
 * group. pg-boss's own `work` loop is not used: it runs one batch at a time and waits for the
 * whole batch, where a worker here runs up to `concurrency` stages side by side.
 */
import type PgBoss from 'pg-boss';
import type { PgStore } from '../../store/postgres/store.js';
import { CANCEL_CHANNEL, RUNS_CHANNEL } from '../../store/postgres/stage-leases.js';
import { keyOf, type RunKey } from '../../store/postgres/stage-lease-facet.js';
import type { Listener } from '../../store/postgres/listen.js';
import { runStageRun, type StageRunDeps } from '../../orchestrator/run-stage.js';
import type { RunMessage } from './enqueue.js';
import type { JobAggregate } from '../../orchestrator/types.js';
import { queueName } from './pools.js';

/** How long a lease lasts without a heartbeat: a dead worker's run starts again this long after its last beat (plus a sweep). */
export const LEASE_MS = 10_000;
const HEARTBEAT_MS = 3_000;
/** The slow poll behind the notifications. */
const POLL_MS = 2_000;
const MAX_HINTS = 200;
/** How often taken queue jobs are deleted (in one batch). */
const TIDY_MS = 1_000;
/** What a worker's LISTEN connection is called in pg_stat_activity (not the event feed's name, which tests count). */
const STAGE_LISTEN_APPLICATION_NAME = 'signoff-stage-runs';

export interface WorkerOptions {
  store: PgStore;
  boss: PgBoss;
  pools: readonly string[];
  /** This process (`replicaId()`): the holder named on its leases. */
  holder: string;
  /** Runs at once, at most. */
  concurrency: number;
  /** The `origin` of this process's queue side: wake-ups it sent are ignored (the engine woke this worker). */
  origin?: string;
  /** What running a stage needs; `report` takes outcomes and progress (the engine's `dispatch`). */
  run: StageRunDeps;
  leaseMs?: number;
  heartbeatMs?: number;
}

interface Running {
  key: RunKey;
  controller: AbortController;
  done: Promise<void>;
}

type Taken = { id: string; key: RunKey; attempt: number };

export class StageWorker {
  private readonly inflight = new Map<string, Running>();
  /** Jobs this process just started runs of: taken here, a run needs no read of its job (bounded). */
  private readonly hints = new Map<string, JobAggregate>();
  private listening: Listener | undefined;
  private timers: NodeJS.Timeout[] = [];
  private taking: Promise<void> | undefined;
  private again = false;
  private stopping = false;
  /** The last take stopped at `concurrency`: a run that ends takes more. */
  private full = false;
  /** Queue jobs taken (their runs leased), to delete from the queue in the next batch. */
  private taken: { queue: string; id: string }[] = [];

  constructor(private readonly o: WorkerOptions) {}

  /** Listens for new runs and cancels, then takes what is queued already. */
  async start(): Promise<void> {
    const pools = new Set(this.o.pools);
    this.listening = await this.o.store.listen({
      channels: [RUNS_CHANNEL, CANCEL_CHANNEL],
      onNotify: (channel, payload) => {
        if (channel === CANCEL_CHANNEL) return void this.inflight.get(payload)?.controller.abort('cancelled');
        // Runs this process queued woke this worker already (the engine calls `wake`).
        const [pool, origin] = payload.split(' ');
        if (pools.has(pool!) && origin !== this.o.origin) this.wake();
      },
      onReconnect: () => this.wake(),
      applicationName: STAGE_LISTEN_APPLICATION_NAME,
      log: this.o.run.log,
    });
    this.timers.push(setInterval(() => void this.heartbeat(), this.o.heartbeatMs ?? HEARTBEAT_MS).unref());
    this.timers.push(setInterval(() => this.wake(), POLL_MS).unref());
    this.timers.push(setInterval(() => void this.tidy(), TIDY_MS).unref());
    this.wake();
  }

  /**
   * Takes queued runs now (a run was just queued). Calls while a take is in flight make it go
   * round once more. `started`: the job as the commit that queued its run left it.
   */
  wake(started?: JobAggregate): void {
    if (this.stopping) return;
    if (started) {
      for (const r of started.stages) if (r.state === 'running') this.hints.set(keyOf({ jobId: started.job.id, stage: r.stage, run: r.run }), started);
      // Runs taken by other workers leave their hints behind: forget the oldest.
      for (const k of this.hints.keys()) {
        if (this.hints.size <= MAX_HINTS) break;
        this.hints.delete(k);
      }
    }
    if (this.taking) {
      this.again = true;
      return;
    }
    this.taking = this.takeAll().finally(() => {
      this.taking = undefined;
      if (this.again) this.wake();
    });
  }

  /** How many stage runs this process is doing now (for /healthz's `stageRuns`). */
  get running(): number {
    return this.inflight.size;
  }

  /** Stops taking runs, stops the running ones, and lets their leases run out at once so a live worker re-runs them soon. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.listening?.close();
    await this.taking;
    const all = [...this.inflight.values()];
    for (const r of all) r.controller.abort('shutdown');
    await Promise.allSettled(all.map((r) => r.done));
    await this.o.store.stageLeases.drop(this.o.holder, all.map((r) => r.key), 'expire').catch((err: unknown) => this.o.run.log.warn({ err }, 'could not hand back stage runs at shutdown; they start again when their leases run out'));
    await this.tidy();
  }

  /** Deletes the queue jobs taken since the last batch, one statement per queue. */
  private async tidy(): Promise<void> {
    const batch = this.taken;
    if (batch.length === 0) return;
    this.taken = [];
    const queues = [...new Set(batch.map((t) => t.queue))];
    try {
      await this.o.store.stageLeases.tidy(async (db) => {
        for (const q of queues) await this.o.boss.deleteJob(q, batch.filter((t) => t.queue === q).map((t) => t.id), { db });
      });
    } catch (err) {
      this.o.run.log.warn({ err }, 'could not delete taken stage runs from the queue; pg-boss drops them at their expiry');
    }
  }

  private async takeAll(): Promise<void> {
    this.again = false;
    this.full = false;
    for (const pool of this.o.pools) {
      const free = this.o.concurrency - this.inflight.size;
      if (this.stopping) return;
      if (free <= 0) {
        this.full = true;
        return;
      }
      const name = queueName(pool);
      let taken: { fetched: Taken[]; mine: Taken[] };
      try {
        taken = await this.o.store.stageLeases.take(this.o.holder, this.o.leaseMs ?? LEASE_MS, async (db) =>
          (await this.o.boss.fetch<RunMessage>(name, { batchSize: free, db })).map((j) => ({ id: j.id, key: { jobId: j.data.jobId, stage: j.data.stage, run: j.data.run }, attempt: j.data.attempt })),
        );
      } catch (err) {
        // The poll comes round again in a moment.
        this.o.run.log.warn({ err, pool }, 'could not take stage runs from the queue just now');
        continue;
      }
      for (const t of taken.mine) this.begin(t.key, t.attempt);
      // Off the critical path and in batches: the fetch marked the jobs active, so no other worker
      // takes them; one left behind by a crash is only failed by pg-boss at its expiry (retryLimit 0).
      for (const t of taken.fetched) this.taken.push({ queue: name, id: t.id });
      // A full batch: there may be more waiting.
      if (taken.fetched.length === free) this.again = true;
    }
  }

  private begin(key: RunKey, attempt: number): void {
    const controller = new AbortController();
    const id = keyOf(key);
    const hint = this.hints.get(id);
    this.hints.delete(id);
    const done = (async () => {
      // The lease was taken, so the run is current (a cancel or a newer run deletes the lease in its
      // own commit): the job as that commit left it is what the run needs.
      const agg = hint ?? (await this.o.store.jobs.load(key.jobId).catch(() => undefined));
      const rec = agg?.stages.find((s) => s.stage === key.stage);
      if (!agg || rec?.state !== 'running' || rec.run !== key.run) {
        // Cancelled or superseded between queueing and taking: nothing to run.
        await this.o.store.stageLeases.drop(this.o.holder, [key], 'release').catch(() => undefined);
        return;
      }
      const outcome = await runStageRun(this.o.run, agg, key.stage, key.run, attempt, controller.signal);
      const why = controller.signal.aborted ? controller.signal.reason : undefined;
      // Stopped for shutdown, or the lease was lost: this run is not ours to report any more.
      if (why === 'shutdown' || why === 'lost') return;
      // Handed to an external system: the run lives on there, under its token, without a lease.
      if (!outcome) await this.o.store.stageLeases.drop(this.o.holder, [key], 'release').catch(() => undefined);
      else this.o.run.report(key.jobId, outcome);
    })()
      .catch((err: unknown) => this.o.run.log.error({ err, ...key }, 'a stage run failed outside its stage'))
      .finally(() => {
        this.inflight.delete(id);
        if (this.full) this.wake();
      });
    this.inflight.set(id, { key, controller, done });
  }

  /** Renews the leases of the running runs; a run whose lease is gone (cancelled, superseded, re-run elsewhere) is stopped. */
  private async heartbeat(): Promise<void> {
    const runs = [...this.inflight.values()];
    if (runs.length === 0) return;
    let held: RunKey[];
    try {
      held = await this.o.store.stageLeases.renew(this.o.holder, runs.map((r) => r.key), this.o.leaseMs ?? LEASE_MS);
    } catch (err) {
      // The database is away: keep running; if the lease runs out meanwhile, the run's report is ignored.
      this.o.run.log.warn({ err }, 'could not renew stage leases just now');
      return;
    }
    const mine = new Set(held.map(keyOf));
    for (const r of runs) {
      // A run that ended meanwhile reported already (its lease went with the report).
      if (!mine.has(keyOf(r.key)) && this.inflight.has(keyOf(r.key))) {
        this.o.run.log.warn({ ...r.key }, 'this stage run is no longer ours (cancelled, or re-run elsewhere); stopping it');
        r.controller.abort('lost');
      }
    }
  }
}
