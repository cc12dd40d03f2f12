/**
 * Copies a SQLite data directory's rows into an empty PostgreSQL database at the same schema
 * version, in one transaction: ids are kept, identity sequences are moved past the highest id
 * SQLite ever handed out, and the copy is checked (rows per table, the last event id of each job)
 * before it commits. Anything wrong rolls the whole copy back.
 */
import type pg from 'pg';
import { StoreError } from '../errors.js';
import type { SqliteExport } from '../sqlite/export.js';
import { PG_ONLY_TABLES, SIGNOFF_TABLES } from './migrations.js';
import { postgresColumns, postgresCount, postgresLastEventIds, postgresTables } from './describe.js';

/** Tables whose `id` is an identity column. */
export const IDENTITY_TABLES = new Set(['jobs', 'gates', 'artifacts', 'events', 'outbox', 'external_runs']);
/** Serialises two copies into the same database (the second then finds it not empty). */
const COPY_LOCK = 7_246_183_502;
/** PostgreSQL takes at most 65,535 parameters per statement. */
const MAX_PARAMS = 60_000;

/** What a copy did, for the person who ran it. */
export interface CopyReport {
  /** Rows copied, per table, in copy order. */
  rows: { table: string; count: number }[];
  /** Text values that held NUL characters, per table (see `withoutNul`). */
  nulReplaced: { table: string; count: number }[];
  /** Jobs whose last event id was checked. */
  jobsChecked: number;
}

/**
 * Why `db` is not an empty target, or undefined when it is: no tables but signoff's own (and
 * `schema_version`), and none of signoff's holding a row.
 */
export async function whyNotEmpty(db: pg.Pool | pg.PoolClient, where: string): Promise<string | undefined> {
  const tables = await postgresTables(db);
  const foreign = tables.filter((t) => t !== 'schema_version' && !PG_ONLY_TABLES.includes(t) && !(SIGNOFF_TABLES as readonly string[]).includes(t));
  if (foreign.length > 0) return `${where} is not empty: it holds tables signoff did not make (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}). Give signoff an empty database of its own.`;
  const filled: string[] = [];
  for (const t of SIGNOFF_TABLES.filter((t) => tables.includes(t))) {
    const n = await postgresCount(db, t);
    if (n > 0) filled.push(`${t}: ${n}`);
  }
  if (filled.length > 0) return `${where} is not empty: it already holds signoff data (${filled.join(', ')} rows). migrate copies into an empty database only; use a new one, or drop this one's tables if its data is not needed.`;
  return undefined;
}

/** Copies every table of `source` into `pool` (already migrated to the same version). */
export async function copyFromSqlite(source: SqliteExport, pool: pg.Pool, where: string): Promise<CopyReport> {
  const sourceTables = source.tables();
  const unknown = sourceTables.filter((t) => !(SIGNOFF_TABLES as readonly string[]).includes(t));
  if (unknown.length > 0)
    throw new StoreError(`The SQLite database holds tables this signoff does not know how to copy (${unknown.join(', ')}). Use the signoff version that made them.`, 'schema_mismatch');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [COPY_LOCK]);
    const notEmpty = await whyNotEmpty(client, where);
    if (notEmpty) throw new StoreError(notEmpty, 'target_not_empty');
    const report: CopyReport = { rows: [], nulReplaced: [], jobsChecked: 0 };
    for (const table of SIGNOFF_TABLES.filter((t) => sourceTables.includes(t))) {
      const columns = source.columns(table).map((c) => c.name);
      const target = (await postgresColumns(client, table)).map((c) => c.name);
      if (columns.join(',') !== target.join(','))
        throw new StoreError(`The table ${table} has columns (${columns.join(', ')}) in SQLite but (${target.join(', ')}) in ${where}; both must be at the same schema version.`, 'schema_mismatch');
      const { count, nul } = await copyTable(client, table, columns, source.rows(table)).catch((err: Error) => {
        throw new Error(`copying the table ${table} failed: ${err.message}`, { cause: err });
      });
      report.rows.push({ table, count });
      if (nul > 0) report.nulReplaced.push({ table, count: nul });
    }
    await resetIdentities(client, source.highestIds());
    report.jobsChecked = await check(client, source, report);
    await client.query('COMMIT');
    return report;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** PostgreSQL's text cannot hold NUL (U+0000), which SQLite's can (a command's stderr, say). */
const NUL = /\u0000/g;

/**
 * A value as PostgreSQL can store it: NUL characters in text become U+FFFD (the replacement
 * character), so one stray byte in a stage's error output does not stop a whole copy.
 */
export function withoutNul(value: unknown): { value: unknown; replaced: boolean } {
  if (typeof value !== 'string' || !value.includes('\u0000')) return { value, replaced: false };
  return { value: value.replace(NUL, '\uFFFD'), replaced: true };
}

/** Inserts rows in multi-row statements; returns how many, and how many values lost a NUL. */
async function copyTable(client: pg.PoolClient, table: string, columns: string[], rows: Iterable<Record<string, unknown>>): Promise<{ count: number; nul: number }> {
  const perStatement = Math.max(1, Math.min(1_000, Math.floor(MAX_PARAMS / columns.length)));
  const head = `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES `;
  let batch: unknown[][] = [];
  let count = 0;
  let nul = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const values = batch.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
    await client.query(head + values, batch.flat());
    count += batch.length;
    batch = [];
  };
  for (const row of rows) {
    batch.push(
      columns.map((c) => {
        const v = withoutNul(row[c] ?? null);
        if (v.replaced) nul++;
        return v.value;
      }),
    );
    if (batch.length >= perStatement) await flush();
  }
  await flush();
  return { count, nul };
}

/** Moves each identity past the highest id SQLite used, so new rows never take an old id. */
async function resetIdentities(client: pg.PoolClient, highest: Map<string, number>): Promise<void> {
  for (const table of IDENTITY_TABLES) {
    const { rows } = await client.query<{ max: number | null }>(`SELECT MAX(id) AS max FROM "${table}"`);
    const top = Math.max(rows[0]?.max ?? 0, highest.get(table) ?? 0);
    // setval(…, n, true): the next id is n + 1; a table that never had a row starts at 1.
    if (top > 0) await client.query(`SELECT setval(pg_get_serial_sequence($1, 'id'), $2, true)`, [table, top]);
  }
}

/** Row counts per table and each job's last event id must match the source; returns jobs checked. */
async function check(client: pg.PoolClient, source: SqliteExport, report: CopyReport): Promise<number> {
  for (const { table, count } of report.rows) {
    const expected = source.count(table);
    const copied = await postgresCount(client, table);
    if (expected !== count || copied !== expected)
      throw new StoreError(`The copy of ${table} does not match: ${expected} rows in SQLite, ${copied} in PostgreSQL. Nothing was copied.`, 'copy_mismatch');
  }
  const want = source.lastEventIds();
  const got = await postgresLastEventIds(client);
  for (const [job, last] of want)
    if (got.get(job) !== last)
      throw new StoreError(`The copy of job ${job}'s events does not match: last event ${last} in SQLite, ${got.get(job) ?? 'none'} in PostgreSQL. Nothing was copied.`, 'copy_mismatch');
  if (got.size !== want.size) throw new StoreError('The copy has events for jobs SQLite does not. Nothing was copied.', 'copy_mismatch');
  return want.size;
}
