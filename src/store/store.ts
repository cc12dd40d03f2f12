/**
 * The store as the rest of signoff opens and sees it: the boundary (./port.ts) and its SQLite
 * dialect (./sqlite), the default. Every SQL statement signoff runs lives under src/store.
 */
import type { StorePort } from './port.js';
import { openSqliteStore, type SqliteStore } from './sqlite/store.js';

/** The store everything outside src/store works with. */
export type Store = StorePort;

/** Opens the SQLite store in `file` (made and migrated if needed). */
export function openStore(file: string): SqliteStore {
  return openSqliteStore(file);
}

export { SqliteStore, sqliteStoreOver } from './sqlite/store.js';
export { StoreError } from './errors.js';
export type {
  Applied, Artifact, ChatRef, Committed, Decider, Decision, ExternalRun, ExternalRunState, Guard, InboxItem, JobSummaryRow,
  NewExternalRun, NotifyState, OutboxRow, StoredDiff, StoredEvent, StorePort, Work,
} from './port.js';
