/**
 * The SQLite dialect's statements, behind small synchronous typed functions over one file, with
 * better-sqlite3's transactions. Only src/store/sqlite uses this shape directly (and tests that
 * set up files); everything else sees the async boundary (../port.ts) that SqliteStore builds on it.
 */
import { BUSY_TIMEOUT_MS, type Db } from './db.js';
import { jobStatements } from './jobs.js';
import { eventStatements } from './events.js';
import { artifactStatements } from './artifacts.js';
import { queryStatements } from './queries.js';
import { outboxStatements } from './outbox.js';
import { inboxStatements } from './inbox.js';
import { diffStatements } from './diffs.js';
import { externalRunStatements } from './external-runs.js';

/** The statements over an open database: the synchronous SQLite store. */
export function sqliteStatements(db: Db) {
  const jobs = jobStatements(db);
  // One wrapper for every transaction: better-sqlite3 builds a new one per `db.transaction` call.
  const run = db.transaction((fn: () => unknown) => fn());
  return {
    db,
    jobs,
    events: eventStatements(db),
    artifacts: artifactStatements(db),
    queries: queryStatements(db),
    outbox: outboxStatements(db),
    inbox: inboxStatements(db),
    diffs: diffStatements(db),
    externalRuns: externalRunStatements(db),
    /**
     * Runs `fn` in one IMMEDIATE transaction (writers queue on the file lock, not fail). Called
     * inside another transaction it runs as a savepoint: if `fn` throws, only its own writes are
     * undone and the error is rethrown to the caller, who may carry on with the outer one.
     */
    transaction<T>(fn: () => T): T {
      const mark = jobs.cacheMark();
      try {
        const result = run.immediate(fn) as T;
        if (!db.inTransaction) jobs.cacheCommitted();
        return result;
      } catch (err) {
        // Some errors (a full disk, I/O) make SQLite roll back the whole transaction, not just the savepoint.
        jobs.cacheRollback(db.inTransaction ? mark : 0);
        throw err;
      }
    },
    /**
     * Runs `fn` waiting at most `ms` (instead of busy_timeout) for a lock another process holds:
     * for writes that must answer a person quickly or not at all.
     */
    withLockWait<T>(ms: number, fn: () => T): T {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
      try {
        return fn();
      } finally {
        db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      }
    },
    /** True while a transaction is open (false again if SQLite rolled one back by itself). */
    inTransaction: (): boolean => db.inTransaction,
    close: () => db.close(),
  };
}

export type SyncStore = ReturnType<typeof sqliteStatements>;
