/**
 * The store: every SQL statement signoff runs, behind small typed functions, over one SQLite
 * file. A PostgreSQL store would implement the same shape.
 */
import { openDatabase, type Db } from './db.js';
import { jobStatements } from './jobs.js';
import { eventStatements } from './events.js';
import { artifactStatements } from './artifacts.js';
import { queryStatements } from './queries.js';
import { outboxStatements } from './outbox.js';
import { inboxStatements } from './inbox.js';

export function openStore(file: string) {
  const db = openDatabase(file);
  return storeOver(db);
}

export function storeOver(db: Db) {
  return {
    db,
    jobs: jobStatements(db),
    events: eventStatements(db),
    artifacts: artifactStatements(db),
    queries: queryStatements(db),
    outbox: outboxStatements(db),
    inbox: inboxStatements(db),
    /** Runs `fn` in one IMMEDIATE transaction (writers queue on the file lock, not fail). */
    transaction<T>(fn: () => T): T {
      return db.transaction(fn).immediate();
    },
    close: () => db.close(),
  };
}

export type Store = ReturnType<typeof storeOver>;
export { StoreError } from './db.js';
export type { StoredEvent } from './events.js';
export type { Artifact } from './artifacts.js';
export type { JobSummaryRow } from './queries.js';
export type { OutboxRow, ChatRef } from './outbox.js';
export type { InboxItem } from './inbox.js';
