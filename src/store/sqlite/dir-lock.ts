/**
 * One signoff per data directory: a second process on the same directory would run every stage
 * and post every message twice. The lock is SQLite's own: `signoff.lock` is opened in exclusive
 * locking mode and written once, which holds an OS file lock for the life of the connection.
 * The OS releases it when the process ends however it ends (SIGKILL included), so a restart
 * never waits for a stale lock to time out.
 */
import path from 'node:path';
import { Database, type SqliteDb } from './driver.js';
import { StoreError, writableDir } from './db.js';

export interface DirLock {
  release(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes the data directory's lock, trying for `waitMs` (a supervisor may start the next process
 * a moment before the last one is gone); throws `StoreError('locked')` when another holds it.
 */
export async function lockDataDir(dir: string, waitMs = 3_000): Promise<DirLock> {
  writableDir(path.resolve(dir));
  const file = path.join(dir, 'signoff.lock');
  const deadline = Date.now() + waitMs;
  for (;;) {
    let db: SqliteDb | undefined;
    try {
      db = new Database(file, { timeout: 0 });
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec(`BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER, since INTEGER); DELETE FROM holder;
        INSERT INTO holder VALUES (${process.pid}, ${Date.now()}); COMMIT;`);
      const held = db;
      return { release: () => held.close() };
    } catch (err) {
      db?.close();
      if ((err as { code?: string }).code !== 'SQLITE_BUSY')
        throw new StoreError(`Could not lock the data directory ${dir} (${(err as Error).message}). Make room or fix its permissions, or set SIGNOFF_DATA_DIR to another directory.`, 'data_dir', { cause: err });
      if (Date.now() >= deadline)
        throw new StoreError(`Another signoff is already running with the data directory ${dir}. Stop it first, or give this one its own SIGNOFF_DATA_DIR.`, 'locked', { cause: err });
      await sleep(100);
    }
  }
}
