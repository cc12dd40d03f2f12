/**
 * The SQLite dialect of the store boundary (../port.ts). Every call runs its statements (or its
 * whole transaction) synchronously before it returns a settled promise: the async boundary costs
 * SQLite one promise per call, and no transaction stays open across an await.
 */
import { openDatabase, type Db } from './db.js';
import { sqliteStatements, type SyncStore } from './statements.js';
import { applySync } from './unit-of-work.js';
import type {
  ArtifactsPort, Decider, DiffsPort, EventsPort, ExternalRunsPort, InboxPort, JobsPort, NewExternalRun, OutboxPort,
  QueriesPort, StorePort, Work, Applied, ExternalRun, JobView,
} from '../port.js';

/** The facet's functions, answering with promises. */
type Async<T> = { [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<R> : never };

/** Runs `fn` (bounded when the view is); a throw becomes a rejection. */
type Around = <R>(fn: () => R) => R;

function lift<T extends object, K extends keyof T>(facet: T, keys: readonly K[], around: Around): Async<Pick<T, K>> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const fn = facet[key] as (...a: unknown[]) => unknown;
    out[key as string] = (...a: unknown[]) => {
      try {
        return Promise.resolve(around(() => fn(...a)));
      } catch (err) {
        return Promise.reject(err);
      }
    };
  }
  return out as Async<Pick<T, K>>;
}

export class SqliteStore implements StorePort {
  readonly dialect = 'sqlite' as const;
  readonly jobs: JobsPort;
  readonly events: EventsPort;
  readonly artifacts: ArtifactsPort;
  readonly queries: QueriesPort;
  readonly outbox: OutboxPort;
  readonly inbox: InboxPort;
  readonly diffs: DiffsPort;
  readonly externalRuns: ExternalRunsPort;
  private readonly around: Around;
  private readonly views: Map<number, SqliteStore>;

  /** `lockWaitMs`: this view's writes wait at most that long for another process's lock. */
  constructor(readonly sync: SyncStore, private readonly lockWaitMs?: number, views?: Map<number, SqliteStore>) {
    this.views = views ?? new Map();
    const s = sync;
    this.around = lockWaitMs === undefined ? (fn) => fn() : (fn) => s.withLockWait(lockWaitMs, fn);
    const around = this.around;
    const jobs = {
      ...s.jobs,
      // Three reads run back to back in one synchronous call: no write of this process can come
      // between them, and the data directory's lock keeps other processes off the file, so they
      // see one moment without the cost of a transaction.
      loadView: (id: number): JobView | undefined => {
        const agg = s.jobs.loadShared(id);
        if (!agg) return undefined;
        return { agg, artifacts: s.artifacts.current(id), queuePosition: agg.job.state === 'queued' ? s.queries.queuePosition(id) : null };
      },
    };
    this.jobs = lift(jobs, ['load', 'loadShared', 'loadView'], around);
    this.events = lift(s.events, ['forJob', 'since', 'byId'], around);
    this.artifacts = lift(s.artifacts, ['byId', 'current'], around);
    this.queries = lift(s.queries, ['list', 'activeCount', 'queuedIds', 'queuePosition', 'jobsWithRunningStages', 'jobsWithDueTimers', 'submittedSince', 'countsByState', 'outboxLag', 'openGates', 'lastEventId'], around);
    const outbox = {
      ...s.outbox,
      pruneAndClaim: (key: string, now: number, olderThan: number) =>
        s.transaction(() => {
          s.outbox.pruneClaims(olderThan);
          return s.outbox.claimOnce(key, now);
        }),
    };
    this.outbox = lift(outbox, ['dueJobs', 'pendingForJob', 'markDelivered', 'markFailed', 'markDropped', 'getRef', 'putRef', 'refsWithPrefix', 'claimOnce', 'pruneAndClaim', 'pruneClaims', 'releaseClaim'], around);
    const inbox = {
      ...s.inbox,
      acceptAll: (items: readonly { key: string; payload: string }[], at: number, pruneOlderThan?: number, owner?: string) =>
        s.transaction(() => {
          if (pruneOlderThan !== undefined) s.outbox.pruneClaims(pruneOlderThan);
          return items.map((item) => s.inbox.accept(item.key, at, item.payload, owner));
        }),
    };
    this.inbox = lift(inbox, ['accept', 'acceptAll', 'done', 'pending', 'claim', 'renew', 'owners'], around);
    this.diffs = lift(s.diffs, ['get', 'insert', 'reviewedRun', 'runBefore', 'artifactsOf'], around);
    const externalRuns = {
      ...s.externalRuns,
      start: (r: NewExternalRun, now: number): { id: number; superseded: ExternalRun[] } =>
        s.transaction(() => {
          const superseded = s.externalRuns.olderOpen(r.jobId, r.stage, r.run);
          for (const old of superseded) s.externalRuns.end(old.id, 'ended', now);
          return { id: s.externalRuns.insert(r, now), superseded };
        }),
    };
    this.externalRuns = lift(externalRuns, ['start', 'addToken', 'byTokenHash', 'byId', 'handOff', 'heartbeat', 'end', 'due', 'waitingForJob', 'pendingNotify', 'setNotify'], around);
  }

  /** The open database (SQLite only: tests and the bench read it directly). */
  get db(): Db {
    return this.sync.db;
  }

  apply<I>(work: Work<I>, decider: Decider<I>): Promise<Applied> {
    try {
      return Promise.resolve(this.around(() => applySync(this.sync, work, decider)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  bounded(ms: number): SqliteStore {
    let view = this.views.get(ms);
    if (!view) {
      view = new SqliteStore(this.sync, ms, this.views);
      this.views.set(ms, view);
    }
    return view;
  }

  ping(): Promise<void> {
    try {
      this.sync.db.prepare('SELECT 1').get();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  close(): Promise<void> {
    this.sync.close();
    return Promise.resolve();
  }
}

/** Opens (and migrates) the SQLite file and puts the boundary over it. */
export function openSqliteStore(file: string): SqliteStore {
  return new SqliteStore(sqliteStatements(openDatabase(file)));
}

/** The boundary over an already open database (the bench's traced one). */
export function sqliteStoreOver(db: Db): SqliteStore {
  return new SqliteStore(sqliteStatements(db));
}

export type { Decider };
