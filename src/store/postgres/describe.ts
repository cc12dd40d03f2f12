/**
 * What a PostgreSQL database holds, in the shape SQLite's export describes itself
 * (src/store/sqlite-export.ts): tables, their columns, row counts. Used to decide whether a
 * target is empty and to check a copy.
 */
import type pg from 'pg';
import type { ColumnInfo } from '../sqlite/export.js';

type Queryable = pg.Pool | pg.PoolClient;

/** Base tables in the connection's current schema, by name. */
export async function postgresTables(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
  );
  return rows.map((r) => r.name);
}

/** The columns of `table` in declaration order. */
export async function postgresColumns(db: Queryable, table: string): Promise<ColumnInfo[]> {
  const { rows } = await db.query<{ name: string; nullable: string }>(
    'SELECT column_name AS name, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position',
    [table],
  );
  return rows.map((r) => ({ name: r.name, notNull: r.nullable === 'NO' }));
}

/** Rows in `table` (a name from the known table list, never from input). */
export async function postgresCount(db: Queryable, table: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM "${table}"`);
  return rows[0]!.n;
}

/** Every row of `table`, in the order of `orderBy` columns (for comparing a copy in tests and checks). */
export async function postgresRows(db: Queryable, table: string, orderBy: string[]): Promise<Record<string, unknown>[]> {
  const order = orderBy.map((c) => `"${c}"`).join(', ');
  const { rows } = await db.query(`SELECT * FROM "${table}"${order ? ` ORDER BY ${order}` : ''}`);
  return rows as Record<string, unknown>[];
}

/** The last event id of each job that has events. */
export async function postgresLastEventIds(db: Queryable): Promise<Map<number, number>> {
  const { rows } = await db.query<{ job_id: number; last: number }>('SELECT job_id, MAX(id) AS last FROM events GROUP BY job_id');
  return new Map(rows.map((r) => [r.job_id, r.last]));
}

/** Names of the indexes signoff created (not those PostgreSQL makes for keys and UNIQUE constraints). */
export async function postgresIndexes(db: Queryable, exceptTables: readonly string[] = []): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT i.indexname AS name FROM pg_indexes i
     WHERE i.schemaname = current_schema() AND i.tablename <> ALL($1::text[])
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace)
     ORDER BY 1`,
    [exceptTables],
  );
  return rows.map((r) => r.name);
}

/** The last id each identity has handed out (null when it never has), for the tables given. */
export async function postgresIdentityPositions(db: Queryable, tables: readonly string[]): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  for (const t of tables) {
    const { rows } = await db.query<{ last: number | null }>("SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'id')) AS last", [t]);
    out.set(t, rows[0]?.last ?? null);
  }
  return out;
}
