/**
 * The small helpers every PostgreSQL statement file uses: run a statement on a pool or on the
 * client of an open transaction, with its text parameters made storable first.
 */
import type pg from 'pg';

/** A pool (a statement of its own), the client of an open transaction, or a bounded view's runner. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

type Row = Record<string, unknown>;

/** PostgreSQL's text cannot hold NUL (U+0000), which a command's output or a brief may. */
const NUL = /\u0000/g;

/**
 * A value as PostgreSQL can store it: NUL characters in text become U+FFFD, the replacement
 * character, as `signoff migrate --to` does for copied rows. Every write goes through here, so
 * one stray byte in a stage's error output cannot fail a whole unit of work.
 */
export function pgValue(value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replace(NUL, '\uFFFD') : value;
}

/** Runs one statement; its rows. */
export async function rows<T = Row>(db: Queryable, text: string, params: readonly unknown[] = []): Promise<T[]> {
  const res = await db.query(text, params.map(pgValue) as unknown[]);
  return res.rows as T[];
}

/** Runs one statement; its first row, if any. */
export async function row<T = Row>(db: Queryable, text: string, params: readonly unknown[] = []): Promise<T | undefined> {
  return (await rows<T>(db, text, params))[0];
}

/** Runs one statement; how many rows it changed. */
export async function run(db: Queryable, text: string, params: readonly unknown[] = []): Promise<number> {
  const res = await db.query(text, params.map(pgValue) as unknown[]);
  return res.rowCount ?? 0;
}
