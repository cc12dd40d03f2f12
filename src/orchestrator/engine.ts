/**
 * The engine: the runner around the pure transition. It loads a job, applies an input, stores
 * the new state with its events and outbox rows in one SQLite transaction, then performs the
 * effects (stage runs, kills) and feeds their outcomes back as inputs. Timers are deadline
 * columns swept by one node-cron tick (and once at start), so they survive restarts.
 *
 * Inputs the engine feeds itself (stage outcomes, timers, starts) are grouped: those that arrive
 * within one event-loop turn are applied in arrival order in one transaction, each in its own
 * savepoint, so a commit (most of a transition's cost) is shared, and one input that fails undoes
 * only its own writes. People's actions and submissions are applied at once, in their own
 * transaction, so their answer never waits for a turn.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Store, StoredEvent } from '../store/store.js';
import { cloneAggregate } from './clone-aggregate.js';
import { commitInput, persistEffects, type Committed } from './commit-input.js';
import { createJob, checkSubmission, type Submission } from './create-job.js';
import { actorFor, maySubmit, type Identity } from './policy.js';
import { StageLauncher } from './stage-launcher.js';
import { ensureRoundDiff } from '../review/ensure-diff.js';
import { ExternalRuns } from './external-runs.js';
import type { JobInput, Reply } from './types.js';

export interface Clock {
  now(): number;
}

export interface EngineOptions {
  store: Store;
  config: Config;
  /** Where stage outputs are kept (`<dataDir>/artifacts/...`). */
  dataDir: string;
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
/** What a person is told when the database could not take their change. */
export const BUSY_MESSAGE = 'signoff could not save that just now; nothing changed. Try again in a moment.';

/** Inputs applied per group commit at most; the rest follow on the next turn. */
const MAX_GROUP = 32;
const FREES_OR_QUEUES = new Set(['job.finished', 'job.queued']);
const startsQueue = (cs: readonly Committed[]) => cs.some((c) => c.events.some((e) => FREES_OR_QUEUES.has(e.type)));

export class Engine {
  readonly store: Store;
  readonly config: Config;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly listeners = new Set<(event: StoredEvent) => void>();
  private readonly launcher: StageLauncher;
  /** Runs that wait for an external system: tokens, notifications, their deadlines. */
  readonly external: ExternalRuns;
  private task: ScheduledTask | undefined;
  private stopping = false;
  private queue: Queued[] = [];
  private flushing: NodeJS.Immediate | undefined;

  constructor(private readonly options: EngineOptions) {
    this.store = options.store;
    this.config = options.config;
    this.log = options.log;
    this.clock = options.clock ?? { now: () => Date.now() };
    this.external = new ExternalRuns({
      store: options.store,
      log: options.log,
      clock: this.clock,
      dataDir: options.dataDir,
      commit: (jobId, input, guard) => this.applyWith(jobId, input, guard),
      dispatch: (jobId, input) => {
        if (!this.stopping) this.dispatch(jobId, input);
      },
      ...(options.notifyBackoffMs !== undefined ? { notifyBackoffMs: options.notifyBackoffMs } : {}),
    });
    this.launcher = new StageLauncher({
      external: this.external,
      store: options.store,
      dataDir: options.dataDir,
      baseDir: options.baseDir,
      log: options.log,
      clock: this.clock,
      report: (jobId, input) => {
        if (!this.stopping) this.dispatch(jobId, input);
      },
    });
  }

  /** Recovers stages a dead process left running, fires overdue timers, starts queued jobs, then ticks. */
  start(): void {
    this.stopping = false;
    for (const id of this.store.queries.jobsWithRunningStages()) {
      const waiting = this.external.waiting(id).map((r) => ({ stage: r.stage, run: r.run }));
      this.dispatch(id, { type: 'recover', ...(waiting.length ? { waiting } : {}) });
    }
    this.external.resume();
    this.tick();
    const schedule = this.options.tickSchedule ?? '* * * * * *';
    if (schedule) this.task = cron.schedule(schedule, () => this.tick(), { name: 'signoff-timers', noOverlap: true });
  }

  /** Stops the tick and the running stages; their stage rows stay `running`, so the next start re-runs them. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Outcomes that arrived before the stop are stored, as if each had been applied on arrival.
    this.flush();
    await this.task?.destroy();
    this.task = undefined;
    this.external.stop();
    await this.launcher.abortAll();
  }

  /** The engine's clock (injected in tests), for views that show ages and deadlines. */
  now(): number {
    return this.clock.now();
  }

  onEvent(listener: (event: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Fires every timer that is due now (retries, reminders, auto-approvals, timeouts) and starts
   * queued jobs there is room for: one transaction, after the inputs that arrived before it.
   */
  tick(): void {
    if (this.stopping) return;
    this.external.sweep();
    const due = this.store.queries.jobsWithDueTimers(this.clock.now());
    // Reads first: an idle tick opens no write transaction (which would wait on another
    // process's lock, holding up everything else in this process).
    const mayStart = this.startable().length > 0;
    if (due.length === 0 && !mayStart && this.queue.length === 0) return;
    this.flush(due.map((jobId) => ({ jobId, input: { type: 'tick' }, attempt: 0 })), mayStart);
  }

  submit(who: Identity, sub: Submission): SubmitResult {
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
    if (!actor.admin) {
      const limit = this.config.limits.jobs_per_user_per_minute;
      const recent = this.store.queries.submittedSince(actor.id, now - 60_000);
      if (recent.n >= limit) {
        const wait = Math.max(1, Math.ceil(((recent.oldest ?? now) + 60_000 - now) / 1000));
        return refuse('rate_limited', `You submitted ${recent.n} jobs in the last minute (limit ${limit}). Try again in ${wait}s.`);
      }
    }
    const targets = (this.options.chatSurfaces ?? []).filter(
      // A pipeline's own channels take the place of the global ones.
      (s) => s === sub.origin.surface || Boolean(def.channels?.[s as keyof Config['channels']] ?? this.config.channels[s as keyof Config['channels']]),
    );
    let committed: Committed[];
    try {
      committed = this.store.transaction(() => {
        const { agg, effects } = createJob({ id: 0, pipeline: sub.pipeline, def, brief: checked.brief, params: checked.params, submitter: actor.id, origin: sub.origin, targets }, now);
        this.store.jobs.insert(agg);
        const prev = cloneAggregate(agg);
        const events = persistEffects(this.store, agg, effects, now);
        this.store.jobs.save(prev, agg, now);
        // The new job (or another queued one) starts in the same commit when there is room.
        return [{ agg, effects, events }, ...this.startQueued()];
      });
    } catch (err) {
      this.log.error({ err }, 'could not store a submission');
      return refuse('busy', 'signoff could not save the job just now; nothing was created. Try again in a moment.');
    }
    this.afterCommit(committed);
    const job = this.store.jobs.load(committed[0]!.agg.job.id)!.job;
    const where = job.state === 'queued' ? `queued at position ${this.store.queries.queuePosition(job.id)}` : 'started';
    return { ok: true, jobId: job.id, message: `Job ${job.id} (${sub.pipeline}) ${where}.` };
  }

  /** A person acts on a job: approve, reject, hold a gate; cancel or retry the job. */
  act(who: Identity, jobId: number, action: EngineAction): Reply {
    const actor = actorFor(this.config.operators, who);
    const input: JobInput =
      action.type === 'approve' || action.type === 'reject'
        ? { type: 'vote', actor, stage: action.stage, vote: action.type, ...(action.reason !== undefined ? { reason: action.reason } : {}), ...(action.round !== undefined ? { round: action.round } : {}) }
        : action.type === 'hold'
          ? { type: 'hold', actor, stage: action.stage, ...(action.round !== undefined ? { round: action.round } : {}) }
          : action.type === 'cancel'
            ? { type: 'cancel', actor, ...(action.reason !== undefined ? { reason: action.reason } : {}) }
            : { type: 'retry', actor };
    let committed: Committed[] | undefined;
    try {
      committed = this.store.transaction(() => {
        const c = commitInput(this.store, this.clock, jobId, input);
        if (!c) return undefined;
        // A cancel or a decision that ends the job frees a place: the next queued job starts in the same commit.
        return startsQueue([c]) ? [c, ...this.startQueued()] : [c];
      });
    } catch (err) {
      this.log.error({ err, jobId, action: action.type }, 'could not apply an action to a job');
      return { ok: false, code: 'busy', message: BUSY_MESSAGE };
    }
    if (!committed) return { ok: false, code: 'not_found', message: `There is no job ${jobId}. /signoff list shows recent jobs.` };
    this.afterCommit(committed);
    return committed[0]!.reply ?? { ok: true, message: 'Nothing changed.' };
  }

  /**
   * Applies `input` in its own transaction together with `guard` (a guarded update of the store,
   * e.g. ending an external run): when `guard` returns false nothing is written. For outcomes that
   * must be decided once and answered only when stored, like an external system's report.
   */
  applyWith(jobId: number, input: JobInput, guard: () => boolean): 'applied' | 'refused' | 'busy' {
    let committed: Committed[] | undefined;
    try {
      committed = this.store.transaction(() => {
        if (!guard()) return undefined;
        const c = commitInput(this.store, this.clock, jobId, input);
        if (!c) return undefined;
        return startsQueue([c]) ? [c, ...this.startQueued()] : [c];
      });
    } catch (err) {
      this.log.error({ err, jobId, input: input.type }, 'could not apply an input to a job');
      return 'busy';
    }
    if (!committed) return 'refused';
    this.afterCommit(committed);
    return 'applied';
  }

  /**
   * Applies an input from the engine itself (stage outcomes, timers) with the others of this
   * event-loop turn, in one group commit. A stage's outcome must not be lost when the database is
   * busy: it is tried again with backoff (timers fire again by themselves on the next tick).
   */
  dispatch(jobId: number, input: JobInput, attempt = 0): void {
    this.queue.push({ jobId, input, attempt });
    this.flushing ??= setImmediate(() => this.flush());
  }

  /**
   * Applies the queued inputs, then `more`, in arrival order in one transaction, each in its own
   * savepoint, then starts queued jobs if a place may have come free (or `pump` asks). Effects
   * are performed only after the one commit.
   */
  private flush(more: Queued[] = [], pump = false): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    const all = this.queue.concat(more);
    // A bounded group: one turn never blocks the process for long (people's clicks wait behind it).
    const batch = all.slice(0, MAX_GROUP);
    this.queue = all.slice(MAX_GROUP);
    if (this.queue.length > 0) this.flushing = setImmediate(() => this.flush());
    if (batch.length === 0 && !pump) return;
    const done: Committed[] = [];
    let failed: { item: Queued; err: unknown }[] = [];
    try {
      this.store.transaction(() => {
        for (const item of batch) {
          try {
            const c = commitInput(this.store, this.clock, item.jobId, item.input);
            if (c) done.push(c);
          } catch (err) {
            // A disk or I/O error can end the whole transaction, not just the savepoint: then
            // nothing of the group was stored, and the error must end the group too.
            if (!this.store.inTransaction()) throw err;
            failed.push({ item, err });
          }
        }
        if (pump || startsQueue(done)) done.push(...this.startQueued());
      });
    } catch (err) {
      // Nothing of the group was stored. Stage outcomes are tried again; timers and starts come
      // round again with the next tick.
      done.length = 0;
      failed = batch.map((item) => ({ item, err }));
      if (batch.length === 0) this.log.warn({ err }, 'could not start queued jobs just now');
    }
    this.afterCommit(done);
    for (const { item, err } of failed) this.failed(item, err);
  }

  private failed({ jobId, input, attempt }: Queued, err: unknown): void {
    const outcome = input.type === 'stage.succeeded' || input.type === 'stage.failed';
    this.log.error({ err, jobId, input: input.type, attempt }, outcome ? 'could not store a stage outcome; will try again' : 'could not apply an input to a job');
    if (outcome && !this.stopping && attempt < 20) {
      setTimeout(() => this.dispatch(jobId, input, attempt + 1), Math.min(30_000, 500 * 2 ** attempt)).unref();
    }
  }

  /** Tells listeners about the committed events, then performs the stage effects. */
  private afterCommit(committed: readonly Committed[]): void {
    for (const c of committed) this.diffRounds(c);
    for (const c of committed) {
      for (const event of c.events) {
        for (const listener of this.listeners) {
          try {
            listener(event);
          } catch (err) {
            this.log.error({ err }, 'an event listener failed');
          }
        }
      }
      for (const effect of c.effects) {
        if (effect.type === 'runStage') this.launcher.launch(c.agg, effect.stage, effect.run, effect.attempt);
        if (effect.type === 'killStage') {
          this.launcher.kill(c.agg.job.id, effect.stage, effect.run);
          this.external.cancel(c.agg.job.id, effect.stage, effect.run);
        }
      }
    }
  }

  /**
   * Stores the diff of every gate round (2 or later) these commits opened, before chat renders
   * its card. It reads files, so it runs here, after the commit; if signoff dies first, the
   * renderers and the API compute it when they first need it (ensureRoundDiff is idempotent).
   */
  private diffRounds(c: Committed): void {
    for (const e of c.events) {
      if (e.type !== 'gate.opened' || Number(e.data.round) < 2) continue;
      try {
        ensureRoundDiff(this.store, c.agg.job.id, String(e.data.stage), Number(e.data.round), this.clock.now());
      } catch (err) {
        this.log.warn({ err, jobId: c.agg.job.id, stage: e.data.stage }, 'could not store a round diff now; it is computed when first shown');
      }
    }
  }

  /**
   * Starts queued jobs while fewer than `max_concurrent_jobs` are in progress, inside the
   * caller's transaction (each start in its own savepoint). A start that cannot be stored now is
   * tried again by the next tick (every second).
   */
  /** Queued jobs that fit under `max_concurrent_jobs` now, oldest first. */
  private startable(): number[] {
    const free = this.config.limits.max_concurrent_jobs - this.store.queries.activeCount();
    return free > 0 ? this.store.queries.queuedIds(free) : [];
  }

  private startQueued(): Committed[] {
    const started: Committed[] = [];
    if (this.stopping) return started;
    try {
      for (const id of this.startable()) {
        const c = commitInput(this.store, this.clock, id, { type: 'start' });
        if (c) started.push(c);
      }
    } catch (err) {
      if (!this.store.inTransaction()) throw err;
      this.log.warn({ err }, 'could not start queued jobs just now');
    }
    return started;
  }
}
