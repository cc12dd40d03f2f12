/**
 * The engine: the runner around the pure transition. It hands the store a unit of work (which
 * jobs, which inputs) with the transition as its decider; the store loads each job, decides, and
 * stores the new state with its events and outbox rows in one transaction, then the engine performs the
 * effects (stage runs, kills) and feeds their outcomes back as inputs. Timers are deadline
 * columns swept by one node-cron tick (and once at start), so they survive restarts.
 *
 * Inputs the engine feeds itself (stage outcomes, timers, starts) are grouped: those that arrive
 * within one event-loop turn are applied in arrival order in one transaction, each in its own
 * savepoint, so a commit (most of a transition's cost) is shared, and one input that fails undoes
 * only its own writes. People's actions and submissions are applied at once, in their own
 * transaction, so their answer never waits for a turn.
 */
import path from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Applied, Decider, Guard, Store, StoredEvent, Work } from '../store/store.js';
import { transitionDecider, type Committed } from './commit-input.js';
import { createJob, checkSubmission, type Submission } from './create-job.js';
import { actorFor, maySubmit, type Identity } from './policy.js';
import { StageLauncher } from './stage-launcher.js';
import { ensureRoundDiff } from '../review/ensure-diff.js';
import { ExternalRuns } from './external-runs.js';
import type { JobInput, Reply } from './types.js';
import type { ArtifactContents } from '../artifacts/contents.js';
import { LocalContents } from '../artifacts/local.js';
import { ClusterEvents } from './cluster-events.js';
import type { StageQueue } from './stage-queue.js';

export interface Clock {
  now(): number;
}

export interface EngineOptions {
  store: Store;
  config: Config;
  /** The process's data directory: stage outputs go under `<dataDir>/artifacts/` unless `contents` says otherwise. */
  dataDir: string;
  /** Where artifact contents are kept and read (default: files under `<dataDir>/artifacts`, SQLite's way). */
  contents?: ArtifactContents;
  /** Directory command stages run in unless they set `cwd`. */
  baseDir: string;
  log: Logger;
  clock?: Clock;
  /** Chat surfaces that are connected; a job notifies those it came from or that have a channel. */
  chatSurfaces?: string[];
  /** node-cron expression of the timer sweep; `false` to sweep only when `tick()` is called (tests). */
  tickSchedule?: string | false;
  /** Wait before the second attempt to notify an external system (doubles each time; default 1 s). */
  notifyBackoffMs?: number;
  /** On PostgreSQL: stage runs go through this queue instead of running in this process. */
  stageQueue?: StageQueue;
}

/** The answer to a submission: the new job's id on success. */
export type SubmitResult = (Reply & { ok: true; jobId: number }) | (Reply & { ok: false });

export type EngineAction =
  | { type: 'approve'; stage: string; reason?: string; round?: number }
  | { type: 'reject'; stage: string; reason?: string; round?: number }
  | { type: 'hold'; stage: string; round?: number }
  | { type: 'cancel'; reason?: string }
  | { type: 'retry' };


/** An input the engine fed itself, waiting for the group commit of this turn. */
interface Queued {
  jobId: number;
  input: JobInput;
  attempt: number;
}

/** Events after which a place may be free, or a job waits for one. */
/** Options of a person's change: `lockWaitMs` bounds the wait for a lock another process holds. */
export interface ChangeOptions {
  lockWaitMs?: number;
  /** The stored chat interaction this change carries out: its inbox row is cleared in the same transaction. */
  inboxKey?: string;
}

/** The answer to a stored chat interaction another replica carried out first (its holder's lease had lapsed). */
const ALREADY_CARRIED_OUT = 'That was already carried out; nothing changed.';

/** What a person is told when the database could not take their change. */
export const BUSY_MESSAGE = 'signoff could not save that just now; nothing changed. Try again in a moment.';

/** How old stored artifact contents no artifact names must be before a start removes them. */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;

/** Inputs applied per group commit at most; the rest follow on the next turn. */
const MAX_GROUP = 32;
const FREES_OR_QUEUES = new Set(['job.finished', 'job.queued']);
const startsQueue = (cs: readonly Committed[]) => cs.some((c) => c.events.some((e) => FREES_OR_QUEUES.has(e.type)));

export class Engine {
  readonly store: Store;
  readonly config: Config;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Who hears which events (this process's, or every replica's): ./cluster-events.ts. */
  readonly events: ClusterEvents;
  private readonly launcher: StageLauncher;
  /** Runs that wait for an external system: tokens, notifications, their deadlines. */
  readonly external: ExternalRuns;
  /** Where artifact contents are kept; every reader (downloads, diffs, chat) reads through it. */
  readonly contents: ArtifactContents;
  private task: ScheduledTask | undefined;
  private contentSweeper: NodeJS.Timeout | undefined;
  private stopping = false;
  private queue: Queued[] = [];
  private flushing: NodeJS.Immediate | undefined;
  /** The group commit in flight: the next one waits for it, so inputs are applied in arrival order. */
  private committing: Promise<void> | undefined;
  private readonly decider: Decider<JobInput>;

  constructor(private readonly options: EngineOptions) {
    this.store = options.store;
    this.config = options.config;
    this.log = options.log;
    this.clock = options.clock ?? { now: () => Date.now() };
    this.decider = transitionDecider(this.clock);
    this.contents = options.contents ?? new LocalContents(path.join(options.dataDir, 'artifacts'));
    this.events = new ClusterEvents(options.store, options.log);
    this.external = new ExternalRuns({
      store: options.store,
      log: options.log,
      clock: this.clock,
      contents: this.contents,
      commit: (jobId, input, guard) => this.applyWith(jobId, input, guard),
      dispatch: (jobId, input) => {
        if (!this.stopping) this.dispatch(jobId, input);
      },
      ...(options.notifyBackoffMs !== undefined ? { notifyBackoffMs: options.notifyBackoffMs } : {}),
    });
    this.launcher = new StageLauncher({
      external: this.external,
      store: options.store,
      contents: this.contents,
      baseDir: options.baseDir,
      log: options.log,
      clock: this.clock,
      report: (jobId, input) => {
        if (!this.stopping) this.dispatch(jobId, input);
      },
    });
  }

  /** Recovers stages a dead process left running, fires overdue timers, starts queued jobs, then ticks. */
  async start(): Promise<void> {
    this.stopping = false;
    await this.events.start();
    // With a queue, another live process may be running any stage: leases decide what re-runs
    // (the tick's sweep). Only stages that never had a lease are recovered here.
    const running = this.options.stageQueue ? [...new Set((await this.options.stageQueue.unleased()).map((r) => r.jobId))] : await this.store.queries.jobsWithRunningStages();
    for (const id of running) {
      const waiting = (await this.external.waiting(id)).map((r) => ({ stage: r.stage, run: r.run }));
      this.dispatch(id, { type: 'recover', ...(waiting.length ? { waiting } : {}) });
    }
    await this.external.resume();
    await this.sweepContents();
    // And every hour after, so a process that runs for weeks keeps the table clean too.
    this.contentSweeper = setInterval(() => void this.sweepContents(), ORPHAN_GRACE_MS).unref();
    await this.tick();
    const schedule = this.options.tickSchedule ?? '* * * * * *';
    if (schedule) this.task = cron.schedule(schedule, () => this.tick(), { name: 'signoff-timers', noOverlap: true });
  }

  /**
   * Removes stored artifact contents no artifact names (a run whose success lost its
   * compare-and-set, or whose process died between storing and reporting), at start and hourly.
   * Only those older than ORPHAN_GRACE_MS: a run on another process may have stored its outputs
   * and not reported yet.
   */
  private async sweepContents(): Promise<void> {
    try {
      const swept = await this.contents.sweep(ORPHAN_GRACE_MS);
      if (swept) this.log.info({ swept }, 'removed stored artifact contents no artifact names');
    } catch (err) {
      this.log.warn({ err }, 'could not sweep unnamed artifact contents; the next start tries again');
    }
  }

  /** Stops the tick and the running stages; their stage rows stay `running`, so the next start re-runs them. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Outcomes that arrived before the stop are stored, as if each had been applied on arrival.
    await this.flush();
    await this.task?.destroy();
    this.task = undefined;
    clearInterval(this.contentSweeper);
    this.external.stop();
    await this.launcher.abortAll();
    this.events.stop();
  }

  /** Stage runs this process's launcher is doing now (on PostgreSQL the queue's worker does the rest). */
  get localRuns(): number {
    return this.launcher.running;
  }

  /** The engine's clock (injected in tests), for views that show ages and deadlines. */
  now(): number {
    return this.clock.now();
  }

  /** Every event of the cluster, each once: this process's as committed, other replicas' as the store's feed reads them. */
  onEvent(listener: (event: StoredEvent) => void): () => void {
    return this.events.onAny(listener);
  }

  /**
   * Fires every timer that is due now (retries, reminders, auto-approvals, timeouts) and starts
   * queued jobs there is room for: one transaction, after the inputs that arrived before it.
   */
  async tick(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.external.sweep();
      await this.sweepLeases();
      const due = await this.store.queries.jobsWithDueTimers(this.clock.now());
      // Reads first: an idle tick opens no write transaction (which would wait on another
      // process's lock, holding up everything else in this process).
      const mayStart = (await this.startable()) > 0;
      if (due.length === 0 && !mayStart && this.queue.length === 0) return;
      await this.flush(due.map((jobId) => ({ jobId, input: { type: 'tick' }, attempt: 0 })), mayStart);
    } catch (err) {
      // The next tick (a second later) tries again.
      this.log.warn({ err }, 'could not sweep the timers just now');
    }
  }

  /**
   * Re-runs queued stage runs whose lease ran out (their worker died or lost the database):
   * each in its own transaction that takes the expired lease (SKIP LOCKED, so one replica does
   * it) and applies `recover`, which starts the stage again under a new run number.
   */
  private async sweepLeases(): Promise<void> {
    const queue = this.options.stageQueue;
    if (!queue) return;
    for (const r of await queue.expired()) {
      const waiting = (await this.external.waiting(r.jobId)).map((w) => ({ stage: w.stage, run: w.run }));
      const done = await this.applyWith(r.jobId, { type: 'recover', ...(waiting.length ? { waiting } : {}) }, { type: 'stageLease.expired', ...r });
      if (done === 'applied') this.log.warn({ jobId: r.jobId, stage: r.stage, run: r.run }, 'a stage run stopped renewing its lease (its worker died?); it starts again');
    }
  }

  async submit(who: Identity, sub: Submission, opts: ChangeOptions = {}): Promise<SubmitResult> {
    const actor = actorFor(this.config.operators, who);
    const refuse = (code: Extract<Reply, { ok: false }>['code'], message: string): SubmitResult => ({ ok: false, code, message });
    if (!maySubmit(this.config, actor)) {
      const groups = this.config.submitters ?? Object.keys(this.config.operators);
      return refuse('not_authorised', `You may not submit jobs: ask an admin to add you to ${groups.join(' or ')} in the signoff config.`);
    }
    const def = this.config.pipelines[sub.pipeline];
    if (!def) return refuse('not_found', `There is no pipeline "${sub.pipeline}". Pipelines: ${Object.keys(this.config.pipelines).join(', ')}.`);
    const checked = checkSubmission(def, sub.pipeline, sub, this.config.limits.max_brief_chars);
    if (!checked.ok) return refuse('invalid', checked.message);
    const now = this.clock.now();
    const limit = this.config.limits.jobs_per_user_per_minute;
    // Counted inside the submission's transaction, so the limit holds across replicas and concurrent requests.
    const submitLimit = actor.admin ? {} : { submitLimit: { submitter: actor.id, since: now - 60_000, max: limit } };
    const targets = (this.options.chatSurfaces ?? []).filter(
      // A pipeline's own channels take the place of the global ones.
      (s) => s === sub.origin.surface || Boolean(def.channels?.[s as keyof Config['channels']] ?? this.config.channels[s as keyof Config['channels']]),
    );
    let applied: Applied;
    try {
      const created = createJob({ id: 0, pipeline: sub.pipeline, def, brief: checked.brief, params: checked.params, submitter: actor.id, origin: sub.origin, targets }, now);
      // The new job (or another queued one) starts in the same commit when there is room.
      applied = await this.storeFor(opts).apply({ create: { ...created, at: now }, items: [], atomic: true, ...submitLimit, ...inboxDone(opts), ...this.startQueued(() => true) }, this.decider);
    } catch (err) {
      this.log.error({ err }, 'could not store a submission');
      return refuse('busy', 'signoff could not save the job just now; nothing was created. Try again in a moment.');
    }
    if (applied.refused) return refuse('already_decided', ALREADY_CARRIED_OUT);
    if (applied.limited) {
      const { n, oldest } = applied.limited;
      const wait = Math.max(1, Math.ceil(((oldest ?? now) + 60_000 - now) / 1000));
      return refuse('rate_limited', `You submitted ${n} jobs in the last minute (limit ${limit}). Try again in ${wait}s.`);
    }
    await this.afterCommit(applied.committed, applied.startError);
    const id = applied.created!.agg.job.id;
    const job = (await this.store.jobs.load(id))!.job;
    const where = job.state === 'queued' ? `queued at position ${await this.store.queries.queuePosition(job.id)}` : 'started';
    return { ok: true, jobId: job.id, message: `Job ${job.id} (${sub.pipeline}) ${where}.` };
  }

  /** A person acts on a job: approve, reject, hold a gate; cancel or retry the job. */
  async act(who: Identity, jobId: number, action: EngineAction, opts: ChangeOptions = {}): Promise<Reply> {
    const actor = actorFor(this.config.operators, who);
    const input: JobInput =
      action.type === 'approve' || action.type === 'reject'
        ? { type: 'vote', actor, stage: action.stage, vote: action.type, ...(action.reason !== undefined ? { reason: action.reason } : {}), ...(action.round !== undefined ? { round: action.round } : {}) }
        : action.type === 'hold'
          ? { type: 'hold', actor, stage: action.stage, ...(action.round !== undefined ? { round: action.round } : {}) }
          : action.type === 'cancel'
            ? { type: 'cancel', actor, ...(action.reason !== undefined ? { reason: action.reason } : {}) }
            : { type: 'retry', actor };
    let applied: Applied;
    try {
      // A cancel or a decision that ends the job frees a place: the next queued job starts in the same commit.
      // (`atomic`: an input that fails makes `apply` reject, so the item below succeeded.)
      applied = await this.storeFor(opts).apply({ items: [{ jobId, input }], atomic: true, ...inboxDone(opts), ...this.startQueued(startsQueue) }, this.decider);
    } catch (err) {
      this.log.error({ err, jobId, action: action.type }, 'could not apply an action to a job');
      return { ok: false, code: 'busy', message: BUSY_MESSAGE };
    }
    if (applied.refused) return { ok: false, code: 'already_decided', message: ALREADY_CARRIED_OUT };
    const item = applied.items[0];
    const committed = item?.ok ? item.committed : undefined;
    await this.afterCommit(applied.committed, applied.startError);
    if (!committed) return { ok: false, code: 'not_found', message: `There is no job ${jobId}. /signoff list shows recent jobs.` };
    return committed.reply ?? { ok: true, message: 'Nothing changed.' };
  }

  /**
   * Applies `input` in its own transaction together with `guard` (a guarded update of the store,
   * e.g. ending an external run): when the guard fails nothing is written. For outcomes that
   * must be decided once and answered only when stored, like an external system's report.
   */
  async applyWith(jobId: number, input: JobInput, guard: Guard): Promise<'applied' | 'refused' | 'busy'> {
    let applied: Applied;
    try {
      applied = await this.store.apply({ guard, items: [{ jobId, input }], atomic: true, ...this.startQueued(startsQueue) }, this.decider);
    } catch (err) {
      this.log.error({ err, jobId, input: input.type }, 'could not apply an input to a job');
      return 'busy';
    }
    const item = applied.items[0];
    if (applied.refused || !item?.ok || !item.committed) return 'refused';
    await this.afterCommit(applied.committed, applied.startError);
    return 'applied';
  }

  /**
   * Applies an input from the engine itself (stage outcomes, timers) with the others of this
   * event-loop turn, in one group commit. A stage's outcome must not be lost when the database is
   * busy: it is tried again with backoff (timers fire again by themselves on the next tick).
   */
  dispatch(jobId: number, input: JobInput, attempt = 0): void {
    this.queue.push({ jobId, input, attempt });
    this.flushing ??= setImmediate(() => void this.flush());
  }

  /**
   * Applies the queued inputs, then `more`, in arrival order in one transaction, each in its own
   * savepoint, then starts queued jobs if a place may have come free (or `pump` asks). Effects
   * are performed only after the one commit. A group waits for the one before it.
   */
  private flush(more: Queued[] = [], pump = false): Promise<void> {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    const all = this.queue.concat(more);
    // A bounded group: one turn never blocks the process for long (people's clicks wait behind it).
    const batch = all.slice(0, MAX_GROUP);
    this.queue = all.slice(MAX_GROUP);
    if (this.queue.length > 0) this.flushing = setImmediate(() => void this.flush());
    if (batch.length === 0 && !pump) return this.committing ?? Promise.resolve();
    const run = this.committing ? this.committing.then(() => this.commitGroup(batch, pump)) : this.commitGroup(batch, pump);
    const settled = run.finally(() => {
      if (this.committing === settled) this.committing = undefined;
    });
    this.committing = settled;
    return settled;
  }

  private async commitGroup(batch: Queued[], pump: boolean): Promise<void> {
    let applied: Applied;
    try {
      applied = await this.store.apply({ items: batch, ...this.startQueued((done) => pump || startsQueue(done)) }, this.decider);
    } catch (err) {
      // Nothing of the group was stored. Stage outcomes are tried again; timers and starts come
      // round again with the next tick.
      for (const item of batch) this.failed(item, err);
      if (batch.length === 0) this.log.warn({ err }, 'could not start queued jobs just now');
      return;
    }
    await this.afterCommit(applied.committed, applied.startError);
    applied.items.forEach((r, i) => {
      if (!r.ok) this.failed(batch[i]!, r.error);
    });
  }

  private failed({ jobId, input, attempt }: Queued, err: unknown): void {
    const outcome = input.type === 'stage.succeeded' || input.type === 'stage.failed';
    this.log.error({ err, jobId, input: input.type, attempt }, outcome ? 'could not store a stage outcome; will try again' : 'could not apply an input to a job');
    if (outcome && !this.stopping && attempt < 20) {
      setTimeout(() => this.dispatch(jobId, input, attempt + 1), Math.min(30_000, 500 * 2 ** attempt)).unref();
    }
  }

  /** Tells listeners about the committed events, then performs the stage effects. */
  private async afterCommit(committed: readonly Committed[], startError?: unknown): Promise<void> {
    if (startError !== undefined) this.log.warn({ err: startError }, 'could not start queued jobs just now');
    for (const c of committed) if (c.events.some(opensLaterRound)) await this.diffRounds(c);
    for (const c of committed) {
      for (const event of c.events) this.events.committed(event);
      for (const effect of c.effects) {
        if (effect.type === 'runStage' && this.options.stageQueue?.queued(c.agg, effect.stage)) this.options.stageQueue.wake(c.agg);
        else if (effect.type === 'runStage') this.launcher.launch(c.agg, effect.stage, effect.run, effect.attempt);
        if (effect.type === 'killStage') {
          this.launcher.kill(c.agg.job.id, effect.stage, effect.run);
          void this.external.cancel(c.agg.job.id, effect.stage, effect.run);
        }
      }
    }
  }

  /**
   * Stores the diff of every gate round (2 or later) these commits opened, before chat renders
   * its card. It reads files, so it runs here, after the commit; if signoff dies first, the
   * renderers and the API compute it when they first need it (ensureRoundDiff is idempotent).
   */
  private async diffRounds(c: Committed): Promise<void> {
    for (const e of c.events) {
      if (!opensLaterRound(e)) continue;
      try {
        await ensureRoundDiff(this.store, this.contents, c.agg.job.id, String(e.data.stage), Number(e.data.round), this.clock.now());
      } catch (err) {
        this.log.warn({ err, jobId: c.agg.job.id, stage: e.data.stage }, 'could not store a round diff now; it is computed when first shown');
      }
    }
  }

  /** How many queued jobs fit under `max_concurrent_jobs` now (0 when none waits). */
  private async startable(): Promise<number> {
    const free = this.config.limits.max_concurrent_jobs - (await this.store.queries.activeCount());
    return free > 0 ? (await this.store.queries.queuedIds(free)).length : 0;
  }

  /**
   * The part of a unit of work that starts queued jobs while fewer than `max_concurrent_jobs`
   * are in progress, when `when` says a place may have come free (each start in its own
   * savepoint; a start that cannot be stored now is tried again by the next tick). Nothing
   * starts while the engine stops.
   */
  private startQueued(when: (done: readonly Committed[]) => boolean): Pick<Work<JobInput>, 'startQueued'> {
    if (this.stopping) return {};
    return { startQueued: { maxConcurrent: this.config.limits.max_concurrent_jobs, input: { type: 'start' }, when } };
  }

  /** The store a person's change goes through (bounded when they must be answered in time). */
  private storeFor(opts: ChangeOptions): Store {
    return opts.lockWaitMs === undefined ? this.store : this.store.bounded(opts.lockWaitMs);
  }
}

const inboxDone = (opts: ChangeOptions): Pick<Work<JobInput>, 'inboxDone'> => (opts.inboxKey === undefined ? {} : { inboxDone: opts.inboxKey });

/** A gate round 2 or later opened: its diff is stored before chat hears of it. */
function opensLaterRound(e: StoredEvent): boolean {
  return e.type === 'gate.opened' && Number(e.data.round) >= 2;
}
