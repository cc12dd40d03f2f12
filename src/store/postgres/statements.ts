/**
 * The PostgreSQL dialect's statements over a pool (mirrors ../sqlite/statements.ts). Writes that
 * belong to a transaction take its client as their first argument.
 */
import type { Queryable } from './sql.js';
import { jobStatements } from './jobs.js';
import { eventStatements } from './events.js';
import { artifactStatements } from './artifacts.js';
import { queryStatements } from './queries.js';
import { outboxStatements } from './outbox.js';
import { inboxStatements } from './inbox.js';
import { diffStatements } from './diffs.js';
import { externalRunStatements } from './external-runs.js';

/** The statements over an open pool (or a bounded view's runner). */
export function pgStatements(pool: Queryable) {
  return {
    jobs: jobStatements(pool),
    events: eventStatements(pool),
    artifacts: artifactStatements(pool),
    queries: queryStatements(pool),
    outbox: outboxStatements(pool),
    inbox: inboxStatements(pool),
    diffs: diffStatements(pool),
    externalRuns: externalRunStatements(pool),
  };
}

export type PgStatements = ReturnType<typeof pgStatements>;
