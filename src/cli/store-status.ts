/**
 * Which store signoff would use, for `check-config` and start-up: the data directory's SQLite
 * file, or PostgreSQL when SIGNOFF_DATABASE_URL is set (shown with its password blotted out).
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import { StartupError } from '../startup-error.js';
import { StoreError } from '../store/errors.js';
import { openPostgres } from '../store/postgres/connect.js';
import { PG_MIGRATIONS } from '../store/postgres/migrations.js';
import { redactDatabaseUrl } from '../store/postgres/redact.js';

/** Prints the store line of `check-config`; returns its exit code (2 when PostgreSQL cannot be used). */
export async function printStoreStatus(env: Env, out = (s: string) => process.stdout.write(s)): Promise<number> {
  if (!env.databaseUrl) {
    out(`Store: SQLite, ${path.join(env.dataDir, 'signoff.db')}\n`);
    return 0;
  }
  try {
    const pg = await openPostgres(env.databaseUrl);
    await pg.close();
    out(`Store: PostgreSQL, ${pg.where}: reachable, schema version ${pg.version} of ${PG_MIGRATIONS.length}.\n`);
    out('Note: running signoff on PostgreSQL is not built yet; `signoff migrate --to` can prepare it.\n');
    return 0;
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    out(`Store: PostgreSQL, ${redactDatabaseUrl(env.databaseUrl)}: NOT usable (${err.code}).\n  ${err.message}\n`);
    return 2;
  }
}

/**
 * `signoff start` with SIGNOFF_DATABASE_URL: checks the connection (so a wrong URL gets its own
 * clear message), then stops, because the engine does not run on PostgreSQL yet. Always throws.
 */
export async function refuseStartOnPostgres(env: Env & { databaseUrl: string }, log: Logger): Promise<never> {
  const pg = await openPostgres(env.databaseUrl, log);
  await pg.close();
  throw new StartupError(
    `SIGNOFF_DATABASE_URL is set and PostgreSQL at ${pg.where} answers (schema version ${pg.version}), but running signoff on PostgreSQL is not built yet: the PostgreSQL store can be prepared with \`signoff migrate --to\`, running on it is not built yet. Unset SIGNOFF_DATABASE_URL to run on the SQLite data directory ${env.dataDir}.`,
  );
}
