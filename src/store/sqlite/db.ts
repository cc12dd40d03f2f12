/**
 * Opening the SQLite file: pragmas set explicitly, migrations applied, and clear errors when the
 * data directory cannot be used.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Database, type SqliteDb } from './driver.js';
import { MIGRATIONS } from '../migrations.js';
import { StoreError } from '../errors.js';

export type Db = SqliteDb;

/** How long a write waits for a lock another process holds before it fails with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5_000;

export { StoreError };

/** Makes the data directory if needed; throws a StoreError people can act on when it cannot be written. */
export function writableDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (cause) {
    throw new StoreError(`The data directory ${dir} cannot be written (${(cause as Error).message}). Make it writable or set SIGNOFF_DATA_DIR to another directory.`, 'data_dir', { cause });
  }
}

export function openDatabase(file: string): Db {
  writableDir(path.dirname(path.resolve(file)));
  let db: Db;
  try {
    db = new Database(file);
    // Refuse a file from a newer signoff before changing anything in it.
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length)
      throw new StoreError(`The database ${file} has schema version ${version}, newer than this signoff knows (${MIGRATIONS.length}). Upgrade signoff or use another data directory.`, 'schema_newer');
    const tables = (db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
    if (version === 0 && tables > 0)
      throw new StoreError(`The file ${file} is an SQLite database that signoff did not make (it has tables but no signoff schema version). Point SIGNOFF_DATA_DIR at a directory of signoff's own.`, 'foreign_db');
    // WAL lets readers (the API) work while the engine writes; NORMAL is durable across process
    // crashes in WAL mode (only an OS crash or power cut can lose the last commits).
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (cause) {
    if (cause instanceof StoreError) throw cause;
    throw new StoreError(`Cannot open the database ${file}: ${(cause as Error).message}. Check the disk has space and the file is not corrupted or locked by another program.`, 'open', { cause });
  }
  return db;
}

/** Applies the migrations the file has not seen yet, each in its own transaction. */
export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length)
    throw new StoreError(`The database has schema version ${current}, newer than this signoff (${MIGRATIONS.length}). Upgrade signoff or use another data directory.`, 'schema_newer');
  MIGRATIONS.slice(current).forEach((sql, i) => {
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${current + i + 1}`);
    })();
  });
}
