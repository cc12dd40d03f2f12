/**
 * Which store signoff would use, for `check-config` and start-up: the data directory's SQLite
 * file, or PostgreSQL when SIGNOFF_DATABASE_URL is set (shown with its password blotted out).
 */
import path from 'node:path';
import type { Env } from '../config/env.js';
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
    const artifacts = env.artifactsDir ? `artifact contents in ${env.artifactsDir} (SIGNOFF_ARTIFACTS_DIR)` : 'artifact contents there too';
    out(`Note: \`signoff start\` keeps jobs there (migrating the schema if needed) and ${artifacts}; the lock file stays in ${env.dataDir}. \`signoff migrate --to\` copies an SQLite data directory into an empty database.\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    out(`Store: PostgreSQL, ${redactDatabaseUrl(env.databaseUrl)}: NOT usable (${err.code}).\n  ${err.message}\n`);
    return 2;
  }
}
