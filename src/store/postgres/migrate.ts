/**
 * Applies PostgreSQL migrations: each in its own transaction with its `schema_version` row, under
 * a transaction-scoped advisory lock so two processes starting at once do not both migrate (the
 * second waits, then finds the work done). A transaction-level lock also holds behind a
 * transaction-pooling proxy, where a session-level one would not.
 */
import type pg from 'pg';
import { StoreError } from '../errors.js';
import { PG_MIGRATIONS } from './migrations.js';

/** An arbitrary constant: the advisory lock key every signoff takes while it migrates. */
const MIGRATION_LOCK = 7_246_183_501;

const CREATE_VERSION_TABLE = `CREATE TABLE IF NOT EXISTS schema_version (
  version integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** The schema version of the database (0 when signoff has not made its schema there). */
export async function schemaVersion(db: pg.Pool | pg.PoolClient): Promise<number> {
  const exists = await db.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
  if (!exists.rows[0]?.t) return 0;
  const { rows } = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_version');
  return Number(rows[0]?.v ?? 0);
}

/** Refuses a database whose schema is newer than this signoff knows. */
export function assertKnownVersion(version: number, where: string): void {
  if (version > PG_MIGRATIONS.length)
    throw new StoreError(`The PostgreSQL database ${where} has schema version ${version}, newer than this signoff knows (${PG_MIGRATIONS.length}). Upgrade signoff or use another database.`, 'schema_newer');
}

/**
 * Brings the schema up to `target` (default: the latest), one migration per transaction.
 * Returns the versions it applied (empty when another process had done it already).
 */
export async function migratePostgres(pool: pg.Pool, where: string, target = PG_MIGRATIONS.length): Promise<number[]> {
  const applied: number[] = [];
  for (;;) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(CREATE_VERSION_TABLE);
      const current = await schemaVersion(client);
      assertKnownVersion(current, where);
      if (current >= target) {
        await client.query('COMMIT');
        return applied;
      }
      await client.query(PG_MIGRATIONS[current]!);
      await client.query('INSERT INTO schema_version (version) VALUES ($1)', [current + 1]);
      await client.query('COMMIT');
      applied.push(current + 1);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}
