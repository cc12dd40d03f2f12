/**
 * The SQLite driver for the Node that runs signoff. Every `new Database(...)` in the project
 * comes from here, never from `import 'better-sqlite3'` directly.
 *
 * On Node 22 and 24 it is better-sqlite3 13 (Node-API, prebuilt inside its npm package, so no
 * compiler is needed). better-sqlite3 12 is a classic addon that, on Node 24, can abort the
 * whole process ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook) when a
 * statement is garbage-collected after its environment is gone: seen in this suite's workers.
 * 13 in turn segfaults on Node 20 at the first statement, so Node 20 loads 12, installed under
 * the alias `better-sqlite3-node20` (an optional dependency: where it cannot compile, Node 22
 * and 24 do not need it). Drop the alias with Node 20.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

/** The package name this Node loads. */
export const SQLITE_DRIVER = Number(process.versions.node.split('.')[0]) >= 22 ? 'better-sqlite3' : 'better-sqlite3-node20';

/** A database connection (the same API in both versions). */
export type SqliteDb = BetterSqlite3.Database;

const require = createRequire(import.meta.url);

function load(): typeof BetterSqlite3 {
  try {
    return require(SQLITE_DRIVER) as typeof BetterSqlite3;
  } catch (cause) {
    throw new Error(
      `signoff cannot load its SQLite driver (${SQLITE_DRIVER}) on Node ${process.version}: ${(cause as Error).message}. ` +
        'Reinstall with `npm ci` (or `npm install`) on this Node version; Node 22 or 24 need no compiler.',
      { cause },
    );
  }
}

/** The `Database` class of the driver for this Node. */
export const Database = load();

/** Where the driver's entry file is, for a test that opens the same database from a child process. */
export const SQLITE_DRIVER_PATH = require.resolve(SQLITE_DRIVER);
