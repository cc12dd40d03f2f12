/**
 * Opening PostgreSQL: a `pg` pool, one round trip to prove it answers, and failures sorted into
 * messages people can act on, each with a code. The URL is only ever shown redacted.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { StoreError } from '../errors.js';
import { redactDatabaseUrl } from './redact.js';
import { assertKnownVersion, schemaVersion } from './migrate.js';

/** How long to wait for a connection before calling the server unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * `bigint` columns (ids, epoch milliseconds) as numbers, like SQLite gives them: every value
 * signoff stores is far below 2^53. A larger one stays a string rather than losing digits (a
 * parser must not throw: it runs inside pg's socket handler).
 */
const types = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === pg.types.builtins.INT8)
      return (text: string) => {
        const n = Number(text);
        return Number.isSafeInteger(n) ? n : text;
      };
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

/** An open PostgreSQL store: its pool and what the connection check found. */
export interface Postgres {
  pool: pg.Pool;
  /** The URL with its password blotted out, for messages and logs. */
  where: string;
  /** The schema version found at connect time (0: no signoff schema yet). */
  version: number;
  close(): Promise<void>;
}

/** Makes a pool for `url` (no connection yet). */
export function createPool(url: string, log?: Logger): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, max: 10, types });
  // An idle client whose server went away emits here; unhandled, it would end the process.
  pool.on('error', (err) => log?.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'a PostgreSQL connection was lost'));
  return pool;
}

/**
 * Connects to `url`, checks the server answers and that its signoff schema (if any) is not
 * newer than this signoff. Throws a `StoreError` whose code says what is wrong:
 * `pg_url`, `pg_unreachable`, `pg_auth`, `pg_no_database`, `pg_version`, `schema_newer`, `pg_error`.
 */
export async function openPostgres(url: string, log?: Logger): Promise<Postgres> {
  const where = redactDatabaseUrl(url);
  let pool: pg.Pool;
  try {
    pool = createPool(url, log);
  } catch (cause) {
    throw new StoreError(`SIGNOFF_DATABASE_URL (${where}) is not a PostgreSQL URL signoff can use; write it as postgres://user:password@host:5432/database.`, 'pg_url', { cause });
  }
  try {
    const { rows } = await pool.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v");
    const serverVersion = rows[0]?.v ?? 0;
    if (serverVersion < 150_000)
      throw new StoreError(`The PostgreSQL server at ${where} is version ${Math.floor(serverVersion / 10_000)}; signoff needs PostgreSQL 15 or newer.`, 'pg_version');
    const version = await schemaVersion(pool);
    assertKnownVersion(version, where);
    log?.info({ database: where, schemaVersion: version }, 'connected to PostgreSQL');
    return { pool, where, version, close: () => pool.end() };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw classifyPgError(err, where);
  }
}

/** Turns a connection or query failure into a `StoreError` that says what to do next. */
export function classifyPgError(err: unknown, where: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { code?: string; message?: string };
  // Node's happy-eyeballs connect fails with an AggregateError whose message is empty: fall back to its code.
  const reason = e.message || e.code || String(err);
  switch (e.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ECONNRESET':
      return new StoreError(`Cannot reach PostgreSQL at ${where} (${reason}). Check the host and port in SIGNOFF_DATABASE_URL and that the server is running and accepts connections from here.`, 'pg_unreachable', { cause: err });
    case '28P01':
    case '28000':
      return new StoreError(`PostgreSQL at ${where} refused the credentials (${reason}). Check the user and password in SIGNOFF_DATABASE_URL (and pg_hba.conf on the server).`, 'pg_auth', { cause: err });
    case '3D000':
      return new StoreError(`The database in ${where} does not exist (${reason}). Create it first (createdb, or CREATE DATABASE) or fix the name in SIGNOFF_DATABASE_URL.`, 'pg_no_database', { cause: err });
    case '57P03':
      return new StoreError(`PostgreSQL at ${where} is starting up or shutting down (${reason}). Try again in a moment.`, 'pg_unreachable', { cause: err });
  }
  if (/timeout|terminated unexpectedly|Connection terminated/i.test(reason))
    return new StoreError(`Cannot reach PostgreSQL at ${where} (${reason}). Check the host and port in SIGNOFF_DATABASE_URL and that the server is running and accepts connections from here.`, 'pg_unreachable', { cause: err });
  return new StoreError(`PostgreSQL at ${where} failed: ${reason}.`, 'pg_error', { cause: err });
}
