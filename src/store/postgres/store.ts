/**
 * The PostgreSQL dialect of the store boundary (../port.ts), over a node-postgres pool. Reads are
 * one pooled statement each; the unit of work and every write of several statements is one
 * transaction on one client (./unit-of-work.ts). A `bounded(ms)` view waits at most `ms` for a
 * pool client and for row locks, then fails with `StoreError('busy')`, as SQLite's bounded view
 * fails with SQLITE_BUSY: the person hears "could not save that just now; nothing changed".
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { StoreError } from '../errors.js';
import type {
  Applied, ArtifactsPort, Decider, DiffsPort, EventsPort, ExternalRun, ExternalRunsPort, InboxPort, JobsPort, NewExternalRun,
  OutboxPort, QueriesPort, StorePort, Work,
} from '../port.js';
import { openPostgres, type Postgres } from './connect.js';
import { migratePostgres } from './migrate.js';
import { pgStatements, type PgStatements } from './statements.js';
import { applyOn } from './unit-of-work.js';
import { PgEventFeed } from './event-feed.js';
import type { Queryable } from './sql.js';
import { enqueueCommitted, type RunQueueHook, type SqlExecutor } from './run-queue-hook.js';
import { stageLeaseFacet, type StageLeases } from './stage-lease-facet.js';
import { listen, type Listener, type ListenOptions } from './listen.js';

/** How long an unbounded write waits for a row lock another transaction holds (SQLite's busy_timeout). */
const LOCK_WAIT_MS = 5_000;

/** How long a unit of work whose connection was lost is tried again on a new one. */
const RETRY_WITHIN_MS = 5_000;

/** Errors that mean "waited too long", not "wrong": lock_not_available, query_canceled (statement_timeout). */
const WAITED_TOO_LONG = new Set(['55P03', '57014']);

/** Server codes of a connection that ended: admin_shutdown, crash_shutdown, cannot_connect_now, connection_exception…. */
const CONNECTION_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/** True when `err` says the connection (not the statement) failed. */
function connectionLost(err: unknown, depth = 0): boolean {
  const e = err as { code?: string; message?: string; cause?: unknown };
  if (!e || depth > 3) return false;
  if (e.code && CONNECTION_CODES.has(e.code)) return true;
  if (/Connection terminated|connection error|Client was closed|not queryable/i.test(e.message ?? '')) return true;
  // The unit of work wraps a failure that ended its transaction (see unit-of-work.ts).
  return connectionLost(e.cause, depth + 1);
}

const listening = new WeakSet<pg.PoolClient>();

/**
 * A checked-out client whose connection ends emits 'error' (the pool listens only while it is
 * idle): unheard, that would end the process. The query in flight fails with the same error,
 * which the transaction handles.
 */
function listened(client: pg.PoolClient): pg.PoolClient {
  if (!listening.has(client)) {
    listening.add(client);
    client.on('error', () => undefined);
  }
  return client;
}

/** A transaction whose connection was lost; `commitSent` when it may have been stored. */
class Lost extends Error {
  constructor(override readonly cause: unknown, readonly commitSent: boolean) {
    super((cause as Error)?.message ?? String(cause));
  }
}

export class PgStore implements StorePort {
  readonly dialect = 'postgres' as const;
  readonly jobs: JobsPort;
  readonly events: EventsPort;
  readonly artifacts: ArtifactsPort;
  readonly queries: QueriesPort;
  readonly outbox: OutboxPort;
  readonly inbox: InboxPort;
  readonly diffs: DiffsPort;
  readonly externalRuns: ExternalRunsPort;
  /** Leases of queued stage runs (src/stages/queue); PostgreSQL only. */
  readonly stageLeases: StageLeases;
  private readonly s: PgStatements;
  private readonly views: Map<number, PgStore>;
  private ownFeed: PgEventFeed | undefined;
  /** Where the event feed reports trouble (set by openPgStore). */
  log: Logger | undefined;
  /** Shared by every bounded view: the queue that takes the stage runs a unit starts. */
  private readonly shared: { runQueue?: RunQueueHook };

  /** `lockWaitMs`: this view waits at most that long for a client and for locks (undefined: the store's usual waits). */
  constructor(readonly pool: pg.Pool, readonly where: string, private readonly lockWaitMs?: number, views?: Map<number, PgStore>, shared?: { runQueue?: RunQueueHook }) {
    this.views = views ?? new Map();
    this.shared = shared ?? {};
    // A bounded view runs each statement in its own short transaction with the bound set, so
    // reads and single writes are bounded like units of work.
    const on: Queryable = lockWaitMs === undefined ? { query: (text, values) => this.statement(text, values) } : { query: (text, values) => this.tx((c) => c.query(text, values)) };
    const s = pgStatements(on);
    this.s = s;
    this.jobs = { load: s.jobs.load, loadShared: s.jobs.loadShared, loadView: s.jobs.loadView };
    this.events = s.events;
    this.artifacts = { byId: s.artifacts.byId, current: s.artifacts.current };
    this.queries = s.queries;
    this.outbox = {
      ...s.outbox,
      markDelivered: (ids, now) => this.tx((c) => s.outbox.markDelivered(c, ids, now)),
      claimOnce: (key, now) => s.outbox.claimOnce(key, now),
      pruneClaims: (olderThan) => s.outbox.pruneClaims(olderThan),
      pruneAndClaim: (key, now, olderThan) =>
        this.tx(async (c) => {
          await s.outbox.pruneClaims(olderThan, c);
          return s.outbox.claimOnce(key, now, c);
        }),
    };
    this.inbox = {
      accept: (key, at, payload, owner) => s.inbox.accept(key, at, payload, owner),
      done: (key) => s.inbox.done(key),
      pending: s.inbox.pending,
      claim: s.inbox.claim,
      renew: s.inbox.renew,
      owners: s.inbox.owners,
      acceptAll: (items, at, pruneOlderThan, owner) =>
        this.tx(async (c) => {
          if (pruneOlderThan !== undefined) await s.outbox.pruneClaims(pruneOlderThan, c);
          return s.inbox.acceptMany(items, at, owner, c);
        }),
    };
    this.diffs = s.diffs;
    this.stageLeases = stageLeaseFacet(on, (fn) => this.tx(fn));
    const x = s.externalRuns;
    this.externalRuns = {
      addToken: x.addToken, byTokenHash: x.byTokenHash, byId: x.byId, handOff: x.handOff, heartbeat: x.heartbeat,
      end: (id, state, now, reportHash) => x.end(id, state, now, reportHash ?? null),
      due: x.due, waitingForJob: x.waitingForJob, pendingNotify: x.pendingNotify, setNotify: x.setNotify,
      start: (r: NewExternalRun, now: number) =>
        this.tx(async (c): Promise<{ id: number; superseded: ExternalRun[] }> => {
          const superseded = await x.olderOpen(c, r.jobId, r.stage, r.run);
          for (const old of superseded) await x.end(old.id, 'ended', now, null, c);
          return { id: await x.insert(c, r, now), superseded };
        }),
    };
  }

  apply<I>(work: Work<I>, decider: Decider<I>): Promise<Applied> {
    return this.tx(async (c) => {
      const out = await applyOn(this.s, c, work, decider);
      // The runs this unit starts are queued in its own transaction (see run-queue-hook.ts).
      if (this.shared.runQueue && !out.refused) await enqueueCommitted(c, out.committed, this.shared.runQueue);
      return out;
    });
  }

  /** From now on, stage runs that units start go to `hook`'s queue in the same transaction (every view). */
  setRunQueue(hook: RunQueueHook | undefined): void {
    this.shared.runQueue = hook;
  }

  /** Runs `fn` in one transaction with a `SqlExecutor` on its client (a queue library's own statements). */
  inTransaction<T>(fn: (db: SqlExecutor) => Promise<T>): Promise<T> {
    return this.tx((c) => fn({ executeSql: (text, values) => c.query(text, values) }));
  }

  /** LISTEN on `channels` over a connection of its own (wake-ups; see listen.ts). */
  listen(o: ListenOptions): Promise<Listener> {
    return listen(this.pool, o);
  }

  /** The URL the pool connects with (for a connection of its own, and for the queue library's pool). */
  get connectionString(): string {
    return (this.pool as unknown as { options: { connectionString: string } }).options.connectionString;
  }

  bounded(ms: number): PgStore {
    let view = this.views.get(ms);
    if (!view) {
      view = new PgStore(this.pool, this.where, ms, this.views, this.shared);
      view.root = this;
      this.views.set(ms, view);
    }
    return view;
  }

  /** The root store a bounded view was made from (the feed is the root's). */
  private root: PgStore | undefined;

  /** Every event any replica commits, in id order (one per store, made when first asked for). */
  get feed(): PgEventFeed {
    if (this.root) return this.root.feed;
    this.ownFeed ??= new PgEventFeed(this.pool, this.s.events, this.log);
    return this.ownFeed;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.ownFeed?.stop();
    return this.pool.end();
  }

  /**
   * Runs `fn` in one transaction (see `txOnce`). When the connection is lost before COMMIT was
   * sent (a restarted server, a killed backend, a dropped socket) nothing of it was stored, so it
   * is run again on a new connection, with backoff, for at most RETRY_WITHIN_MS (a bounded view:
   * its bound); then it fails as "busy". A connection lost while COMMIT was on its way is not run
   * again: it may have been stored, and running a unit twice could create a job twice.
   */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const until = Date.now() + (this.lockWaitMs ?? RETRY_WITHIN_MS);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.txOnce(fn);
      } catch (err) {
        if (!(err instanceof Lost) || err.commitSent) throw err instanceof Lost ? err.cause : err;
        const wait = Math.min(1_000, 50 * 2 ** attempt);
        if (Date.now() + wait > until) throw this.busy(`the connection to the database was lost and did not come back in time: ${(err.cause as Error).message}`, err.cause);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /**
   * Runs `fn` in one transaction on one client: BEGIN with the lock bound, `fn`, COMMIT; on any
   * error ROLLBACK and reject (nothing of it was stored). A client whose connection broke is
   * dropped from the pool rather than handed out again.
   */
  private async txOnce<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.acquire();
    } catch (err) {
      throw connectionLost(err) ? new Lost(err, false) : err;
    }
    let broken: Error | undefined;
    let commitSent = false;
    try {
      const wait = Math.max(1, Math.floor(this.lockWaitMs ?? LOCK_WAIT_MS));
      // One round trip: a bounded view's statements as a whole also stop soon after the bound.
      await client.query(`BEGIN; SET LOCAL lock_timeout = ${wait}${this.lockWaitMs !== undefined ? `; SET LOCAL statement_timeout = ${wait + 1_000}` : ''}`);
      const result = await fn(client);
      commitSent = true;
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => {
        broken = e;
      });
      if (connectionLost(err)) {
        broken ??= err as Error;
        throw new Lost(err, commitSent);
      }
      throw this.classify(err);
    } finally {
      client.release(broken);
    }
  }

  /**
   * One pooled statement. A read whose connection was lost is read again on a new one (within
   * RETRY_WITHIN_MS); a single write is not, as it may have been stored (a claim applied twice
   * would turn a first click into a "replay").
   */
  private async statement(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    const until = Date.now() + RETRY_WITHIN_MS;
    const read = /^\s*SELECT\b/i.test(text);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.query(text, values);
      } catch (err) {
        const wait = Math.min(1_000, 50 * 2 ** attempt);
        if (!read || !connectionLost(err) || Date.now() + wait > until) throw this.classify(err);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** A pool client, waiting at most the view's bound for one (the pool's own connect timeout otherwise). */
  private async acquire(): Promise<pg.PoolClient> {
    const ms = this.lockWaitMs;
    if (ms === undefined) return this.pool.connect().then(listened, (err: unknown) => Promise.reject(this.classify(err)));
    const pending = this.pool.connect().then(listened);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.busy(`no free database connection within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([pending, late]);
    } catch (err) {
      // The client may still come: hand it straight back.
      pending.then((c) => c.release(), () => undefined);
      throw err instanceof StoreError ? err : this.classify(err);
    } finally {
      clearTimeout(timer);
    }
  }

  private busy(why: string, cause?: unknown): StoreError {
    return new StoreError(`PostgreSQL at ${this.where} is busy (${why}); nothing changed. Try again in a moment.`, 'busy', { cause });
  }

  /** A lock or statement timeout becomes "busy", like SQLITE_BUSY; the rest are passed on as they are. */
  private classify(err: unknown): unknown {
    const code = (err as { code?: string }).code;
    if (code && WAITED_TOO_LONG.has(code)) return this.busy((err as Error).message, err);
    if (err instanceof Error && /timeout exceeded when trying to connect/i.test(err.message)) return this.busy('no free database connection', err);
    return err;
  }
}

/**
 * Connects to `url` (the connection check of ./connect.ts, with its messages), brings the schema
 * up to date, and puts the boundary over the pool.
 */
export async function openPgStore(url: string, log?: Logger): Promise<PgStore> {
  const pg: Postgres = await openPostgres(url, log);
  try {
    const applied = await migratePostgres(pg.pool, pg.where);
    if (applied.length > 0) log?.info({ database: pg.where, applied }, 'PostgreSQL schema brought up to date');
  } catch (err) {
    await pg.close().catch(() => undefined);
    throw err;
  }
  const store = new PgStore(pg.pool, pg.where);
  store.log = log;
  return store;
}
