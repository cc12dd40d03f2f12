/**
 * The store as the rest of signoff opens and sees it: the boundary (./port.ts) and its SQLite
 * dialect (./sqlite), the default. Every SQL statement signoff runs lives under src/store.
 */
import type { StorePort } from './port.js';
import { openSqliteStore, SqliteStore as SqliteStoreClass, type SqliteStore } from './sqlite/store.js';

/** The store everything outside src/store works with. */
export type Store = StorePort;

/** Opens the SQLite store in `file` (made and migrated if needed). */
export function openStore(file: string): SqliteStore {
  return openSqliteStore(file);
}

/**
 * The SQLite store behind `store`, for tests and benchmarks that read its file directly; throws
 * on any other store, so such a test cannot pass by accident on PostgreSQL.
 */
export function sqliteOnly(store: StorePort): SqliteStore {
  if (!(store instanceof SqliteStoreClass)) throw new Error(`This needs the SQLite store; the store in use is ${store.dialect}.`);
  return store;
}

export { SqliteStore, sqliteStoreOver } from './sqlite/store.js';
export { StoreError } from './errors.js';
export type {
  Applied, Artifact, ChatRef, Committed, Decider, Decision, EventFeed, ExternalRun, ExternalRunState, Guard, InboxItem, JobSummaryRow,
  NewExternalRun, NotifyState, OutboxRow, StoredDiff, StoredEvent, StorePort, Work,
} from './port.js';
