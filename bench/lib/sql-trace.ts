/**
 * The store over a traced database: every statement signoff prepares is recorded with its SQL,
 * and (optionally) each call is timed, so a bench can say how many statements a transition runs,
 * how long SQLite takes for them and for the commit, and what is left for JavaScript. The
 * tracing wraps the bench's own Database instance; signoff's code is not changed.
 */
import { performance } from 'node:perf_hooks';
import { openDatabase, type Db } from '../../src/store/sqlite/db.js';
import { sqliteStatements } from '../../src/store/sqlite/statements.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';

export interface StatementStats {
  sql: string;
  writes: boolean;
  calls: number;
  ms: number;
}

export interface Trace {
  statements: Map<string, StatementStats>;
  /** Outermost transactions, those among them that wrote, and their time (total, and outside statements). */
  transactions: number;
  writingTransactions: number;
  transactionMs: number;
  /** BEGIN IMMEDIATE + COMMIT of outermost transactions (the time around the function they run). */
  beginCommitMs: number;
  /** Time inside statements run within transactions. */
  statementMsInTransactions: number;
  /** Every SQL text prepared, in order (for EXPLAIN QUERY PLAN). */
  prepared: string[];
}

export function tracedStore(file: string, o: { timing: boolean }): { store: SqliteStore; trace: Trace; db: Db } {
  const db = openDatabase(file);
  const trace: Trace = { statements: new Map(), transactions: 0, writingTransactions: 0, transactionMs: 0, beginCommitMs: 0, statementMsInTransactions: 0, prepared: [] };
  let depth = 0;
  let wrote = false;
  const prepare = db.prepare.bind(db);
  (db as { prepare: Db['prepare'] }).prepare = ((sql: string) => {
    const stmt = prepare(sql);
    trace.prepared.push(sql);
    const stats: StatementStats = trace.statements.get(sql) ?? { sql, writes: !stmt.reader, calls: 0, ms: 0 };
    trace.statements.set(sql, stats);
    for (const method of ['run', 'get', 'all'] as const) {
      const original = stmt[method] as (...args: unknown[]) => unknown;
      (stmt as unknown as Record<string, unknown>)[method] = function (this: unknown, ...args: unknown[]) {
        stats.calls++;
        if (stats.writes && depth > 0) wrote = true;
        if (!o.timing) return original.apply(this, args);
        const t0 = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          const ms = performance.now() - t0;
          stats.ms += ms;
          if (depth > 0) trace.statementMsInTransactions += ms;
        }
      };
    }
    return stmt;
  }) as Db['prepare'];
  // The unit of work calls the statements' transaction(): wrapping it times every transaction.
  const sync = sqliteStatements(db);
  const transaction = sync.transaction;
  sync.transaction = <T>(fn: () => T): T => {
    const outer = depth === 0;
    if (outer) {
      trace.transactions++;
      wrote = false;
    }
    depth++;
    const timed = o.timing && outer;
    let t1 = 0;
    let t2 = 0;
    const t0 = timed ? performance.now() : 0;
    try {
      return timed
        ? transaction(() => {
            t1 = performance.now();
            try {
              return fn();
            } finally {
              t2 = performance.now();
            }
          })
        : transaction(fn);
    } finally {
      depth--;
      if (outer) {
        if (timed) {
          const t3 = performance.now();
          trace.transactionMs += t3 - t0;
          trace.beginCommitMs += t1 - t0 + (t3 - t2);
        }
        if (wrote) trace.writingTransactions++;
      }
    }
  };
  return { store: new SqliteStore(sync), trace, db };
}
