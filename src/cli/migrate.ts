/**
 * `signoff migrate --to postgres://…`: copies a SQLite data directory into an empty PostgreSQL
 * database (schema first, then every table in one transaction, checked before it commits).
 * It holds the data directory's lock for the whole copy, so no signoff can change the directory
 * meanwhile, and refuses (exit 2, target untouched) whatever would make the copy wrong.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDotEnv, readEnv } from '../config/env.js';
import { StoreError } from '../store/errors.js';
import { lockDataDir, type DirLock } from '../store/sqlite/dir-lock.js';
import { openSqliteExport, sqliteFileIn, type SqliteExport } from '../store/sqlite/export.js';
import { openPostgres, type Postgres } from '../store/postgres/connect.js';
import { migratePostgres } from '../store/postgres/migrate.js';
import { copyFromSqlite, whyNotEmpty } from '../store/postgres/copy-from-sqlite.js';
import { redactDatabaseUrl } from '../store/postgres/redact.js';
import { copyContentsIntoPostgres } from '../artifacts/copy-into-postgres.js';

const USAGE = `usage: signoff migrate --to postgres://user:password@host:5432/database [--data-dir DIR]

Copies the SQLite data directory (--data-dir, else $SIGNOFF_DATA_DIR, else ./data) into an EMPTY
PostgreSQL database: its schema first, then every table in one transaction, keeping ids. The copy
is checked (rows per table, the last event id of each job) before it commits. Then each artifact's
contents are copied into the database (unless SIGNOFF_ARTIFACTS_DIR is set), one file at a time.
--to defaults to $SIGNOFF_DATABASE_URL (which keeps the password out of your shell history).
Stop signoff first: migrate takes the data directory's lock.

exit codes: 0 copied; 1 unexpected failure; 2 refused or usage (nothing was written to the target).
`;

/** Runs the command; returns the exit code. Output goes to `out`/`err` (the process's by default). */
export async function runMigrate(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: { to: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: false }).values;
  } catch (e) {
    err(`signoff migrate: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    out(USAGE);
    return 0;
  }
  loadDotEnv();
  const env = readEnv();
  const url = args.to ?? env.databaseUrl;
  if (!url || !/^postgres(ql)?:\/\/\S+$/.test(url)) {
    err(`signoff migrate: ${url ? `--to (${redactDatabaseUrl(url)}) is not a PostgreSQL URL.` : 'say where to copy to: --to postgres://… (or set SIGNOFF_DATABASE_URL).'}\n${USAGE}`);
    return 2;
  }
  const dataDir = path.resolve(args['data-dir'] ?? env.dataDir);
  try {
    const report = await migrate(dataDir, url, out, env.artifactsDir);
    return report;
  } catch (e) {
    if (e instanceof StoreError) {
      err(`signoff migrate: ${e.message}\n`);
      return 2;
    }
    // The copy is one transaction: whatever failed, no row reached the target (its schema may have).
    err(`signoff migrate: unexpected failure, no rows were copied: ${(e as Error).message ?? String(e)}\n${(e as Error).stack ?? ''}\n`);
    return 1;
  }
}

async function migrate(dataDir: string, url: string, out: (s: string) => void, artifactsDir?: string): Promise<number> {
  const started = performance.now();
  // Checked before locking: taking the lock would make the directory if it did not exist.
  if (!fs.existsSync(sqliteFileIn(dataDir)))
    throw new StoreError(`There is no signoff database in ${dataDir} (no signoff.db). Point --data-dir (or SIGNOFF_DATA_DIR) at the directory signoff start uses.`, 'no_data');
  let lock: DirLock | undefined;
  let source: SqliteExport | undefined;
  let target: Postgres | undefined;
  try {
    try {
      lock = await lockDataDir(dataDir, 500);
    } catch (e) {
      if (e instanceof StoreError && e.code === 'locked')
        throw new StoreError(`A signoff is running with the data directory ${dataDir}. Stop it first, then migrate: the copy must not miss what it writes meanwhile.`, 'locked', { cause: e });
      throw e;
    }
    source = openSqliteExport(dataDir);
    target = await openPostgres(url);
    const notEmpty = await whyNotEmpty(target.pool, target.where);
    if (notEmpty) throw new StoreError(notEmpty, 'target_not_empty');
    const applied = await migratePostgres(target.pool, target.where);
    const report = await copyFromSqlite(source, target.pool, target.where);
    const ms = Math.round(performance.now() - started);
    const width = Math.max(...report.rows.map((r) => r.table.length));
    out(`Copied ${source.file} into ${target.where} in ${ms} ms (schema version ${applied.at(-1) ?? target.version}):\n`);
    for (const { table, count } of report.rows) out(`  ${table.padEnd(width)}  ${count}\n`);
    for (const { table, count } of report.nulReplaced)
      out(`Note: ${count} text value${count === 1 ? '' : 's'} in ${table} held NUL characters, which PostgreSQL cannot store; each became U+FFFD (\uFFFD).\n`);
    out(`Checked: the rows of every table, and the last event id of each of ${report.jobsChecked} jobs.\n`);
    if (artifactsDir) {
      // Contents stay files: a shared artifacts directory is this deployment's choice.
      out(`Artifact files stay where they are (SIGNOFF_ARTIFACTS_DIR is set, so contents are not moved into the database); old artifacts are read from ${path.join(dataDir, 'artifacts')} by the process whose disk that is.\n`);
    } else {
      let moved;
      try {
        moved = await copyContentsIntoPostgres(target.pool);
      } catch (e) {
        // The rows are committed by now: say exactly what state the target is in.
        out(`The rows were copied, but copying artifact contents into the database failed: ${(e as Error).message}. Artifacts not copied yet keep their file paths and are read from ${path.join(dataDir, 'artifacts')} on this host only.\n`);
        return 1;
      }
      out(`Artifact contents: ${moved.copied} file${moved.copied === 1 ? '' : 's'} (${moved.bytes} bytes) copied into the database, so every signoff process can serve them.\n`);
      if (moved.missing.length)
        out(`Note: ${moved.missing.length} artifact file${moved.missing.length === 1 ? ' was' : 's were'} missing or changed (e.g. ${moved.missing[0]!.path}); ${moved.missing.length === 1 ? 'it keeps its' : 'they keep their'} old path and will read as missing.\n`);
    }
    out(`To run on it: start signoff with SIGNOFF_DATABASE_URL set to this database; the SQLite file in ${dataDir} is no longer used.\n`);
    return 0;
  } finally {
    await target?.close().catch(() => undefined);
    source?.close();
    lock?.release();
  }
}
