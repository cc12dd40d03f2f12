/**
 * Reading a SQLite data directory for a copy elsewhere (`signoff migrate --to`): read-only
 * statements over the file, and the facts the copy is checked against (row counts, the last
 * event id of each job, the highest id each table ever handed out).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Database } from './driver.js';
import { openDatabase, type Db } from './db.js';
import { StoreError } from '../errors.js';
import { MIGRATIONS } from '../migrations.js';

/** A column as both stores can describe it. */
export interface ColumnInfo {
  name: string;
  notNull: boolean;
}

/** A SQLite data directory's database, opened read-only for a copy. */
export interface SqliteExport {
  file: string;
  db: Db;
  /** The tables signoff made, by name. */
  tables(): string[];
  columns(table: string): ColumnInfo[];
  /** Names of the indexes signoff created (not SQLite's automatic ones for keys). */
  indexes(): string[];
  count(table: string): number;
  /** Every row of `table` in primary-key order, column values as SQLite holds them. */
  rows(table: string): IterableIterator<Record<string, unknown>>;
  /** The last event id of each job that has events. */
  lastEventIds(): Map<number, number>;
  /** The highest id an AUTOINCREMENT table ever handed out (ids of deleted rows are never reused). */
  highestIds(): Map<string, number>;
  close(): void;
}

/** The data directory's database file, as `signoff start` names it. */
export const sqliteFileIn = (dataDir: string) => path.join(dataDir, 'signoff.db');

/** Reads the schema version without changing the file. */
function fileVersion(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

/**
 * Opens the data directory's database for reading. A file from a newer signoff is refused; an
 * older one is first brought up to date, exactly as `signoff start` would (the caller holds the
 * directory's lock).
 */
export function openSqliteExport(dataDir: string): SqliteExport {
  const file = sqliteFileIn(dataDir);
  if (!fs.existsSync(file))
    throw new StoreError(`There is no signoff database in ${dataDir} (no signoff.db). Point --data-dir (or SIGNOFF_DATA_DIR) at the directory signoff start uses.`, 'no_data');
  const version = fileVersion(file);
  if (version > MIGRATIONS.length)
    throw new StoreError(`The database ${file} has schema version ${version}, newer than this signoff knows (${MIGRATIONS.length}). Upgrade signoff, then migrate.`, 'schema_newer');
  if (version < MIGRATIONS.length) openDatabase(file).close();
  const db = new Database(file, { readonly: true, fileMustExist: true });
  return exportOver(db, file);
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The export functions over an open SQLite connection (also used to describe a schema in tests). */
export function exportOver(db: Db, file = db.name): SqliteExport {
  const columns = (table: string): ColumnInfo[] =>
    (db.pragma(`table_info(${quote(table)})`) as { name: string; notnull: number; pk: number }[])
      // A primary-key column cannot hold NULL in signoff's tables (rowid aliases and WITHOUT ROWID keys).
      .map((c) => ({ name: c.name, notNull: c.notnull === 1 || c.pk > 0 }));
  const primaryKey = (table: string): string[] =>
    (db.pragma(`table_info(${quote(table)})`) as { name: string; pk: number }[])
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
  return {
    file,
    db,
    tables: () =>
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as { name: string }[]).map((r) => r.name),
    columns,
    indexes: () => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").all() as { name: string }[]).map((r) => r.name),
    count: (table) => (db.prepare(`SELECT COUNT(*) AS n FROM ${quote(table)}`).get() as { n: number }).n,
    rows: (table) => {
      const order = primaryKey(table).map(quote).join(', ');
      return db.prepare(`SELECT * FROM ${quote(table)}${order ? ` ORDER BY ${order}` : ''}`).iterate() as IterableIterator<Record<string, unknown>>;
    },
    lastEventIds: () =>
      new Map((db.prepare('SELECT job_id, MAX(id) AS last FROM events GROUP BY job_id').all() as { job_id: number; last: number }[]).map((r) => [r.job_id, r.last])),
    highestIds: () => {
      const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").get();
      if (!has) return new Map();
      return new Map((db.prepare('SELECT name, seq FROM sqlite_sequence').all() as { name: string; seq: number }[]).map((r) => [r.name, r.seq]));
    },
    close: () => db.close(),
  };
}
