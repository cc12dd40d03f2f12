/**
 * The store boundary: what the engine, the chat surfaces, the API and the views may ask of a
 * store, whatever database holds it. Every call is awaitable, so a network database (PostgreSQL,
 * through a pool) can implement it as well as SQLite (src/store/sqlite), whose calls finish
 * before they return.
 *
 * Writes that must be atomic are never "open a transaction, run any code, commit": the store owns
 * the unit of work. The engine hands `apply` a description of the work (which jobs, which inputs,
 * a guard, whether to start queued jobs) and a SYNCHRONOUS decider (the pure transition); the
 * store loads, decides, writes and commits, and resolves after the commit. No code of the
 * caller's runs between BEGIN and COMMIT except the decider, which cannot await.
 */
import type { ArtifactFile, Effect, JobAggregate, JobState, Reply } from '../orchestrator/types.js';

export { StoreError } from './errors.js';

/** An event as the API and surfaces see it. */
export interface StoredEvent {
  /** Global, increasing id (SSE `id:` of the all-jobs stream). */
  id: number;
  job: number;
  seq: number;
  type: string;
  at: number;
  data: Record<string, unknown>;
}

export interface Artifact extends ArtifactFile {
  id: number;
  job: number;
  createdAt: number;
}

export interface JobSummaryRow {
  id: number;
  pipeline: string;
  state: JobState;
  stage: string | null;
  submitter: string;
  brief: string;
  createdAt: number;
  updatedAt: number;
}

export interface OutboxRow {
  id: number;
  target: string;
  job: number;
  attempts: number;
  event: StoredEvent;
}

export interface ChatRef {
  channel: string;
  messageId: string;
  threadId: string | null;
}

export interface InboxItem {
  key: string;
  at: number;
  payload: string;
}

/** A stored diff; `data` is the JSON the review module made (a RoundDiff). */
export interface StoredDiff {
  job: number;
  stage: string;
  round: number;
  run: number;
  previousRun: number;
  data: unknown;
  createdAt: number;
}

/**
 * `armed`: a command stage holds a token but has not handed off (the token opens nothing yet);
 * `waiting`: the outside system may report; the rest are final.
 */
export type ExternalRunState = 'armed' | 'waiting' | 'completed' | 'failed' | 'expired' | 'cancelled' | 'ended';
export type NotifyState = 'none' | 'pending' | 'delivered' | 'failed';

export interface ExternalRun {
  id: number;
  jobId: number;
  stage: string;
  run: number;
  state: ExternalRunState;
  createdAt: number;
  waitingSince: number | null;
  lastHeartbeatAt: number | null;
  heartbeatMs: number | null;
  heartbeatDeadline: number | null;
  timeoutDeadline: number | null;
  notifyState: NotifyState;
  notifyAttempts: number;
  /** sha256 of the body of the `complete` or `fail` report that ended the run. */
  reportHash: string | null;
  endedAt: number | null;
}

export interface NewExternalRun {
  jobId: number;
  stage: string;
  run: number;
  /** `waiting` for an external stage, `armed` for a command stage that may hand off. */
  state: 'armed' | 'waiting';
  heartbeatMs: number | null;
  timeoutMs: number;
  notify: boolean;
  tokenHash: string;
}

// ---------------------------------------------------------------------------------------------
// The unit of work

/** What a decider returns for one job: the transition's result, and when it was decided. */
export interface Decision {
  agg: JobAggregate;
  /** `event` and `artifact` effects are written by the store; the rest are the caller's, after the commit. */
  effects: Effect[];
  reply?: Reply;
  /** The time of the decision: events' `at`, the job's `updated_at`. */
  at: number;
}

/** What one decided job stored. */
export interface Committed {
  agg: JobAggregate;
  effects: Effect[];
  /** The events written (ids assigned), in order. */
  events: StoredEvent[];
  reply?: Reply;
}

/**
 * The pure part the store calls inside its transaction. Both functions are synchronous and must
 * not touch the store: on SQLite they run inside one better-sqlite3 transaction, on PostgreSQL
 * between `SELECT … FOR UPDATE` and the writes on one client.
 */
export interface Decider<I> {
  /** The job's next state for `input` (`prev` is shared: read it, never change it). */
  decide(prev: JobAggregate, input: I): Decision;
  /** Whether chat surfaces are told of an event type (false: the audit trail only). */
  toChat(type: string): boolean;
}

/**
 * A compare-and-set on another table that must hold for anything of the unit to be written:
 * when it fails the unit writes nothing and resolves `{ refused: true }`.
 */
export type Guard = ExternalRunGuard | StageLeaseGuard;

/**
 * A queued stage run whose lease ran out (its worker died): the lease row is taken (SKIP LOCKED,
 * so one replica wins) and the job must still run exactly this run. PostgreSQL only; SQLite
 * has no leases and refuses it.
 */
export interface StageLeaseGuard {
  type: 'stageLease.expired';
  jobId: number;
  stage: string;
  run: number;
}

export type ExternalRunGuard = {
  type: 'externalRun.end';
  id: number;
  state: Exclude<ExternalRunState, 'armed' | 'waiting'>;
  at: number;
  reportHash?: string | null;
  /** Also required: this job still runs exactly this run of this stage. */
  current?: { jobId: number; stage: string; run: number };
};

export interface Work<I> {
  guard?: Guard;
  /**
   * A stored chat interaction this unit carries out: its inbox row is cleared in the same
   * transaction, so a crash can neither lose it nor carry it out twice. The clear is a
   * compare-and-set: when the row was cleared already (another replica carried it out), the unit
   * writes nothing and resolves `{ refused: true }`.
   */
  inboxDone?: string;
  /** A new job (already decided by the pure `createJob`): inserted first, its effects written. */
  create?: Decision;
  /**
   * The submitter's rate limit, checked in the transaction that creates the job, after every
   * other submission of theirs in flight (on any process) has committed or rolled back: at most
   * `max` jobs of `submitter` created after `since`. When full, nothing is created and `apply`
   * resolves with `limited`.
   */
  submitLimit?: { submitter: string; since: number; max: number };
  /**
   * All or nothing: an item that fails undoes the whole unit (the guard's write included) and
   * `apply` rejects with its error. For a person's change and a guarded report.
   */
  atomic?: boolean;
  /** Inputs, applied in order, each in its own savepoint: one that fails undoes only its own writes (unless `atomic`). */
  items: readonly { jobId: number; input: I }[];
  /**
   * After the items, start queued jobs while fewer than `maxConcurrent` are running or awaiting
   * approval, when `when(done)` says a place may have come free (each start in its own savepoint).
   */
  startQueued?: { maxConcurrent: number; input: I; when(done: readonly Committed[]): boolean };
}

export interface Applied {
  /** True when the guard (or the inbox row's compare-and-set) failed: nothing was written. */
  refused: boolean;
  /** The created job, if any, then what each item stored (in order; missing jobs and failed items are absent), then the started jobs. */
  committed: Committed[];
  /** The created job's result (also first in `committed`). */
  created?: Committed;
  /** Result per item, by index: the commit, `undefined` for a job that does not exist, or the error of an item that was rolled back. */
  items: ({ ok: true; committed: Committed } | { ok: true; committed: undefined } | { ok: false; error: unknown })[];
  /** Set when `submitLimit` was full: the submitter's recent jobs, and the oldest one's time. Nothing was created. */
  limited?: { n: number; oldest: number | null };
  /** Starting queued jobs failed (the rest of the unit stands); the next tick tries again. */
  startError?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Facets: reads and the small writes that are their own transaction

/** What the API shows of one job, read as of one moment (see `JobsPort.loadView`). */
export interface JobView {
  /** Possibly shared with a cache: read it, never change it. */
  agg: JobAggregate;
  /** The latest run's artifacts of each stage. */
  artifacts: Artifact[];
  /** 1-based place in the queue; null unless the job is queued. */
  queuePosition: number | null;
}

export interface JobsPort {
  /** A job with its stages, gates and votes: the caller's own copy. */
  load(id: number): Promise<JobAggregate | undefined>;
  /** The same, possibly shared with a cache: the caller must not change it. */
  loadShared(id: number): Promise<JobAggregate | undefined>;
  /**
   * The job, its current artifacts and its queue place from ONE consistent read, so an answer
   * never shows a stage's output without the gate the same commit opened (separate reads could
   * straddle another commit on PostgreSQL).
   */
  loadView(id: number): Promise<JobView | undefined>;
}

export interface EventsPort {
  forJob(job: number, afterSeq?: number, limit?: number): Promise<StoredEvent[]>;
  since(afterId?: number, limit?: number): Promise<StoredEvent[]>;
  byId(id: number): Promise<StoredEvent | undefined>;
}

export interface ArtifactsPort {
  byId(id: number): Promise<Artifact | undefined>;
  /** The latest run's artifacts of each stage of a job. */
  current(job: number): Promise<Artifact[]>;
}

export interface QueriesPort {
  list(opts?: { state?: JobState; before?: number; limit?: number }): Promise<JobSummaryRow[]>;
  activeCount(): Promise<number>;
  queuedIds(limit: number): Promise<number[]>;
  /** 1-based place in the queue of a queued job. */
  queuePosition(id: number): Promise<number>;
  jobsWithRunningStages(): Promise<number[]>;
  jobsWithDueTimers(now: number): Promise<number[]>;
  submittedSince(submitter: string, since: number): Promise<{ n: number; oldest: number | null }>;
  countsByState(): Promise<{ state: JobState; n: number }[]>;
  outboxLag(): Promise<{ oldest: number | null; n: number }>;
  /** Gates waiting for a decision, oldest first. */
  openGates(limit?: number): Promise<{ job: number; stage: string; round: number }[]>;
  lastEventId(): Promise<number>;
}

export interface OutboxPort {
  /** Jobs with undelivered rows for `target` whose oldest row is due by `now`. */
  dueJobs(target: string, now: number, limit?: number): Promise<number[]>;
  /** A job's undelivered rows for `target`, oldest first. */
  pendingForJob(target: string, job: number, limit?: number): Promise<OutboxRow[]>;
  /** Marks rows delivered, in one transaction. */
  markDelivered(ids: readonly number[], now: number): Promise<void>;
  markFailed(id: number, error: string, retryAt: number): Promise<void>;
  /** Gives up on a row (it stays in the table with its error, for the audit). */
  markDropped(id: number, error: string, now: number): Promise<void>;
  getRef(target: string, job: number, key: string): Promise<ChatRef | undefined>;
  putRef(target: string, job: number, key: string, ref: ChatRef): Promise<void>;
  /** Every ref of a job whose key starts with `prefix`. */
  refsWithPrefix(target: string, job: number, prefix: string): Promise<(ChatRef & { key: string })[]>;
  /** True the first time a key is seen (replayed chat interactions are applied once). */
  claimOnce(key: string, now: number): Promise<boolean>;
  /** Forgets claims older than `olderThan`, then claims `key`: one transaction. */
  pruneAndClaim(key: string, now: number, olderThan: number): Promise<boolean>;
  pruneClaims(olderThan: number): Promise<void>;
  /** Forgets a claim, so the same key may be applied again. */
  releaseClaim(key: string): Promise<void>;
}

/**
 * How long a replica holds a stored interaction it has not carried out yet without renewing the
 * hold; after that any replica may claim it (its holder is presumed dead).
 */
export const INBOX_LEASE_MS = 10_000;

export interface InboxPort {
  /** Stores an interaction under its claim (held by `owner`, when given, for INBOX_LEASE_MS); false when the key was seen before. */
  accept(key: string, at: number, payload: string, owner?: string): Promise<boolean>;
  /** Stores a batch in one transaction (pruning old claims first when `pruneOlderThan` is given); per item, false for a replay. */
  acceptAll(items: readonly { key: string; payload: string }[], at: number, pruneOlderThan?: number, owner?: string): Promise<boolean[]>;
  /** The interaction was carried out: keep only its claim. False when it had been already (by another replica). */
  done(key: string): Promise<boolean>;
  /** Interactions stored but not yet carried out, oldest first. */
  pending(): Promise<InboxItem[]>;
  /**
   * Takes interactions stored but not carried out whose holder's lease lapsed (or that no one
   * holds), oldest first: they are held by `owner` now. With `restart`, also those a process of
   * this place left behind: on SQLite every one (the data directory's lock proves that process
   * dead), on PostgreSQL those held under `owner`'s own id or one of `deadOwners` (processes of
   * this host known to be gone, so their holds need not run out first).
   */
  claim(owner: string, opts?: { restart?: boolean; limit?: number; deadOwners?: readonly string[] }): Promise<InboxItem[]>;
  /** Who holds interactions not carried out yet (to find the holders that are dead). */
  owners(): Promise<string[]>;
  /** Renews `owner`'s hold on every interaction it has not carried out yet. */
  renew(owner: string): Promise<void>;
}

export interface DiffsPort {
  get(job: number, stage: string, round: number): Promise<StoredDiff | undefined>;
  /** Stores a diff; a diff already stored for the round stays. */
  insert(d: Omit<StoredDiff, 'createdAt'>, at: number): Promise<void>;
  /** The run the gate round reviewed, when its gate.opened event says. */
  reviewedRun(job: number, stage: string, round: number): Promise<number | undefined>;
  runBefore(job: number, stage: string, run: number): Promise<number | undefined>;
  artifactsOf(job: number, stage: string, run: number): Promise<Artifact[]>;
}

export interface ExternalRunsPort {
  /**
   * One transaction: ends the older runs of the stage still open (returned, to tell their outside
   * systems), then creates the run with its first token.
   */
  start(r: NewExternalRun, now: number): Promise<{ id: number; superseded: ExternalRun[] }>;
  /** Another token for the same run. */
  addToken(id: number, tokenHash: string): Promise<void>;
  byTokenHash(hash: string): Promise<ExternalRun | undefined>;
  byId(id: number): Promise<ExternalRun | undefined>;
  /** An armed command run starts waiting; false when it was not armed. */
  handOff(id: number, now: number, timeoutMs: number): Promise<boolean>;
  heartbeat(id: number, now: number): Promise<boolean>;
  /** Ends a run that is still armed or waiting; false when something else ended it first. */
  end(id: number, state: Exclude<ExternalRunState, 'armed' | 'waiting'>, now: number, reportHash?: string | null): Promise<boolean>;
  due(now: number): Promise<ExternalRun[]>;
  waitingForJob(jobId: number): Promise<ExternalRun[]>;
  pendingNotify(): Promise<ExternalRun[]>;
  setNotify(id: number, state: NotifyState, attempts: number): Promise<void>;
}

/**
 * Every event committed to the store by any process sharing it, in id order, each once (a
 * PostgreSQL store shared by replicas; ./postgres/event-feed.ts). SQLite has one process, whose
 * engine hears its own commits, so it has no feed.
 */
export interface EventFeed {
  /** Starts reading after the events committed now; resolves once the position is known. */
  start(): Promise<void>;
  /** `fn` hears each event delivered from now on, in id order. */
  subscribe(fn: (event: StoredEvent) => void): () => void;
  /** Every event with an id up to this one has been delivered (none later will have a smaller id). */
  readonly delivered: number;
  /** True while the wake-up connection (LISTEN) is up; without it events still arrive, by the slow poll (for /healthz). */
  readonly listening: boolean;
  stop(): Promise<void>;
}

/** The store as everything outside src/store sees it. */
export interface StorePort {
  /** Which database: start-up and check-config say it. */
  readonly dialect: 'sqlite' | 'postgres';
  readonly jobs: JobsPort;
  readonly events: EventsPort;
  readonly artifacts: ArtifactsPort;
  readonly queries: QueriesPort;
  readonly outbox: OutboxPort;
  readonly inbox: InboxPort;
  readonly diffs: DiffsPort;
  readonly externalRuns: ExternalRunsPort;
  /** Events other processes commit (PostgreSQL); undefined when this process is the only writer. */
  readonly feed?: EventFeed;
  /**
   * The unit of work: one transaction that loads each job, calls `decider.decide`, and writes the
   * state (compare-and-set on the job's version and the gates' states), events, outbox rows and
   * artifacts; resolves after the commit. Rejects when the transaction as a whole could not be
   * stored (nothing of it was); an item that fails alone is reported in `items`.
   */
  apply<I>(work: Work<I>, decider: Decider<I>): Promise<Applied>;
  /**
   * The same store, but every write waits at most `ms` for a lock another process or client
   * holds, then fails (for writes made before a chat platform's acknowledgement).
   */
  bounded(ms: number): StorePort;
  /** True when the store answers (the health check). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
