/**
 * `signoff migrate --to` in process, against the tests' own PostgreSQL server: a data directory
 * with a job in every state (made by the real engine, Slack and the API) is copied table by table
 * and row for row, ids kept and identities moved past them; and each refusal leaves the target
 * exactly as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Database, type SqliteDb } from '../../src/store/sqlite/driver.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrate } from '../../src/cli/migrate.js';
import { JOB_STATES } from '../../src/orchestrator/types.js';
import { lockDataDir } from '../../src/store/sqlite/dir-lock.js';
import { exportOver, sqliteFileIn } from '../../src/store/sqlite/export.js';
import { createPool } from '../../src/store/postgres/connect.js';
import { IDENTITY_TABLES, withoutNul } from '../../src/store/postgres/copy-from-sqlite.js';
import { postgresCount, postgresIdentityPositions, postgresRows, postgresTables } from '../../src/store/postgres/describe.js';
import { PG_ONLY_TABLES, SIGNOFF_TABLES } from '../../src/store/postgres/migrations.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { everyStateDataDir, type EveryStateDir } from '../helpers/every-state-data-dir.js';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { freePort } from '../helpers/signoff-process.js';

let source: EveryStateDir;
const pools: pg.Pool[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  source = await everyStateDataDir();
  dirs.push(source.dataDir);
}, 120_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function pool(url: string): pg.Pool {
  const p = createPool(url);
  pools.push(p);
  return p;
}

async function migrate(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runMigrate(argv, (s) => void (out += s), (s) => void (err += s));
  return { code, out, err };
}

/** The primary key's columns of a table (from SQLite, which the copy follows). */
function keyOf(db: SqliteDb, table: string): string[] {
  return (db.pragma(`table_info(${table})`) as { name: string; pk: number }[]).filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
}

const byKey = (key: string[]) => (a: Record<string, unknown>, b: Record<string, unknown>) => {
  const ka = JSON.stringify(key.map((k) => a[k]));
  const kb = JSON.stringify(key.map((k) => b[k]));
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** What a target holds: its tables and their row counts (to prove a refusal changed nothing). */
async function contents(p: pg.Pool): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of await postgresTables(p)) out[t] = await postgresCount(p, t);
  return out;
}

/** A copy of the source directory (the refusal tests change their copy, never the source). */
function copyOfSource(): string {
  const dir = tempDir('signoff-migrate-copy-');
  dirs.push(dir);
  fs.cpSync(source.dataDir, dir, { recursive: true });
  fs.rmSync(path.join(dir, 'signoff.lock'), { force: true });
  return dir;
}

describe('signoff migrate --to (in process)', () => {
  it('copies a directory with a job in every state: every table, every row, the same ids; new ids come after the old', async () => {
    const url = await freshDatabase();
    const started = performance.now();
    const r = await migrate('--to', url, '--data-dir', source.dataDir);
    const ms = Math.round(performance.now() - started);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const password = new URL(url).password;
    expect(r.out).not.toContain(password);
    expect(r.out).toMatch(/^Copied .*signoff\.db into postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+ in \d+ ms \(schema version \d+\):/);
    expect(r.out).toContain('Checked: the rows of every table, and the last event id of each of 8 jobs.');
    expect(r.out).toContain(`To run on it: start signoff with SIGNOFF_DATABASE_URL set to this database and the same data directory (${source.dataDir})`);
    expect(r.out).toMatch(/Note: \d+ text values? in stages held NUL characters, which PostgreSQL cannot store; each became U\+FFFD/);

    const p = pool(url);
    const db = new Database(sqliteFileIn(source.dataDir), { readonly: true });
    const x = exportOver(db);
    try {
      const copied: Record<string, number> = {};
      for (const table of SIGNOFF_TABLES) {
        const key = keyOf(db, table);
        // PostgreSQL text cannot hold NUL: the copy stores U+FFFD instead (the failed stage printed one).
        const want = [...x.rows(table)].map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, withoutNul(v).value]))).sort(byKey(key));
        const got = (await postgresRows(p, table, [])).sort(byKey(key));
        expect({ table, rows: got }).toEqual({ table, rows: want });
        copied[table] = got.length;
        expect(r.out).toMatch(new RegExp(`\\n  ${table} +${got.length}\\n`));
      }
      // The directory really had something in every table, so the comparison above proved something.
      for (const table of SIGNOFF_TABLES) expect({ table, rows: copied[table]! > 0 }).toEqual({ table, rows: true });
      const states = (await postgresRows(p, 'jobs', ['id'])).map((j) => j.state);
      expect(new Set(states)).toEqual(new Set(JOB_STATES));
      expect((await postgresRows(p, 'dedupe', ['key'])).some((d) => d.key === 'slack:pending-click' && d.payload !== null)).toBe(true);

      const highest = x.highestIds();
      const positions = await postgresIdentityPositions(p, [...IDENTITY_TABLES]);
      for (const t of IDENTITY_TABLES) expect({ t, next: positions.get(t) }).toEqual({ t, next: highest.get(t) ?? null });
    } finally {
      db.close();
    }
    console.info(`migrate: ${Object.values(source.jobs).length} jobs copied in ${ms} ms`);
  });

  it('brings a data directory from an older signoff up to date first, as start would, then copies it', async () => {
    const dir = tempDir('signoff-migrate-old-');
    dirs.push(dir);
    const old = new Database(sqliteFileIn(dir));
    old.exec(MIGRATIONS[0]!);
    old.pragma('user_version = 1');
    old.close();
    const url = await freshDatabase();
    const r = await migrate('--to', url, '--data-dir', dir);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`\\(schema version ${MIGRATIONS.length}\\):\\n  jobs +0\\n`));
    const after = new Database(sqliteFileIn(dir), { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    after.close();
    expect(Object.keys(await contents(pool(url))).sort()).toEqual(['schema_version', ...SIGNOFF_TABLES, ...PG_ONLY_TABLES].sort());
  });

  it('refuses a target that already holds signoff data, and leaves it as it was', async () => {
    const url = await freshDatabase();
    expect((await migrate('--to', url, '--data-dir', source.dataDir)).code).toBe(0);
    const before = await contents(pool(url));
    const again = await migrate('--to', url, '--data-dir', source.dataDir);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/is not empty: it already holds signoff data \(jobs: 8, .*migrate copies into an empty database only/);
    expect(again.err).not.toContain(new URL(url).password);
    expect(await contents(pool(url))).toEqual(before);
  });

  it('refuses a target holding tables signoff did not make, and leaves it as it was', async () => {
    const url = await freshDatabase();
    const p = pool(url);
    await p.query('CREATE TABLE invoices (id int)');
    const r = await migrate('--to', url, '--data-dir', source.dataDir);
    expect(r.code).toBe(2);
    expect(r.err).toContain('it holds tables signoff did not make (invoices)');
    expect(await contents(p)).toEqual({ invoices: 0 });
  });

  it('refuses while a signoff holds the data directory, and leaves the target as it was', async () => {
    const dir = copyOfSource();
    const url = await freshDatabase();
    const lock = await lockDataDir(dir);
    try {
      const r = await migrate('--to', url, '--data-dir', dir);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`A signoff is running with the data directory ${dir}. Stop it first, then migrate`);
    } finally {
      lock.release();
    }
    expect(await contents(pool(url))).toEqual({});
  });

  it('refuses a SQLite file from a newer signoff, and leaves both sides as they were', async () => {
    const dir = copyOfSource();
    const file = sqliteFileIn(dir);
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    const url = await freshDatabase();
    const r = await migrate('--to', url, '--data-dir', dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/has schema version 99, newer than this signoff knows \(\d+\)\. Upgrade signoff, then migrate\./);
    expect(await contents(pool(url))).toEqual({});
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(99);
    after.close();
  });

  it('refuses an unreachable target, a directory without signoff data, and a missing --to, each with what to do', async () => {
    const dir = copyOfSource();
    const nowhere = `postgres://signoff:hunter2-secret@127.0.0.1:${await freePort()}/signoff`;
    const unreachable = await migrate('--to', nowhere, '--data-dir', dir);
    expect(unreachable.code).toBe(2);
    expect(unreachable.err).toMatch(/Cannot reach PostgreSQL at postgres:\/\/signoff:\*\*\*@127\.0\.0\.1:\d+\/signoff .*Check the host and port/);
    expect(unreachable.err).not.toContain('hunter2');

    const empty = tempDir('signoff-migrate-empty-');
    dirs.push(empty);
    const none = await migrate('--to', await freshDatabase(), '--data-dir', empty);
    expect(none.code).toBe(2);
    expect(none.err).toContain(`There is no signoff database in ${empty} (no signoff.db)`);

    const noTarget = await migrate('--data-dir', dir);
    expect(noTarget.code).toBe(2);
    expect(noTarget.err).toContain('say where to copy to: --to postgres://');
  });
});
