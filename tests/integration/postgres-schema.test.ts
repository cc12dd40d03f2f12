/**
 * PostgreSQL's schema against SQLite's, on a real PostgreSQL server the tests start themselves:
 * version N on one store is the same tables, columns (names, order, nullability) and indexes as
 * version N on the other, from every earlier version up to the latest; migrations are taken by
 * one process at a time; and a connection that cannot be used says why, never with its password.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Database } from '../../src/store/sqlite/driver.js';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { openDatabase } from '../../src/store/sqlite/db.js';
import { exportOver } from '../../src/store/sqlite/export.js';
import { PG_MIGRATIONS, PG_ONLY_TABLES, SIGNOFF_TABLES } from '../../src/store/postgres/migrations.js';
import { createPool, openPostgres } from '../../src/store/postgres/connect.js';
import { migratePostgres, schemaVersion } from '../../src/store/postgres/migrate.js';
import { postgresColumns, postgresIndexes, postgresTables } from '../../src/store/postgres/describe.js';
import { redactDatabaseUrl } from '../../src/store/postgres/redact.js';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase, postgresServerUrl } from '../helpers/postgres.js';
import { freePort } from '../helpers/signoff-process.js';

const dir = tempDir('signoff-pg-schema-');
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function pool(url: string): pg.Pool {
  const p = createPool(url);
  pools.push(p);
  return p;
}

interface Schema {
  tables: Record<string, { name: string; notNull: boolean }[]>;
  indexes: string[];
}

/** A SQLite file at version `k`, made by applying the first k migrations as an old signoff did. */
function sqliteAt(k: number): string {
  const file = path.join(dir, `v${k}-${Math.random().toString(36).slice(2)}.db`);
  const db = new Database(file);
  for (const [i, sql] of MIGRATIONS.slice(0, k).entries()) {
    db.exec(sql);
    db.pragma(`user_version = ${i + 1}`);
  }
  db.close();
  return file;
}

function sqliteSchema(file: string): Schema {
  const db = new Database(file, { readonly: true });
  const x = exportOver(db);
  const schema = { tables: Object.fromEntries(x.tables().map((t) => [t, x.columns(t)])), indexes: x.indexes() };
  db.close();
  return schema;
}

async function postgresSchema(p: pg.Pool): Promise<Schema> {
  const tables = (await postgresTables(p)).filter((t) => t !== 'schema_version' && !PG_ONLY_TABLES.includes(t));
  return { tables: Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await postgresColumns(p, t)] as const))), indexes: await postgresIndexes(p, PG_ONLY_TABLES) };
}

describe('PostgreSQL migrations', () => {
  it('has one migration for each SQLite migration, and the copy order names every table of the latest schema', () => {
    expect(PG_MIGRATIONS.length).toBe(MIGRATIONS.length);
    const latest = sqliteSchema(sqliteAt(MIGRATIONS.length));
    expect([...SIGNOFF_TABLES].sort()).toEqual(Object.keys(latest.tables).sort());
  });

  it('gives version N the same tables, columns and indexes as SQLite at N, and upgrades from every earlier version to the same latest schema', async () => {
    for (let k = 0; k <= MIGRATIONS.length; k++) {
      const file = sqliteAt(k);
      const p = pool(await freshDatabase());
      expect(await migratePostgres(p, 'test', k)).toEqual(Array.from({ length: k }, (_, i) => i + 1));
      expect({ version: k, ...(await postgresSchema(p)) }).toEqual({ version: k, ...sqliteSchema(file) });

      // From version k to the latest: SQLite through the store's own opening, PostgreSQL through its runner.
      openDatabase(file).close();
      expect(await migratePostgres(p, 'test')).toEqual(Array.from({ length: MIGRATIONS.length - k }, (_, i) => k + i + 1));
      expect(await schemaVersion(p)).toBe(MIGRATIONS.length);
      expect({ from: k, ...(await postgresSchema(p)) }).toEqual({ from: k, ...sqliteSchema(file) });
      // Each pool may hold up to ten connections (the schema is read in parallel): end it now, so
      // the versions together stay under the server's max_connections.
      pools.splice(pools.indexOf(p), 1);
      await p.end();
    }
  });

  it('lets only one of two processes migrating at once apply each version', async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([migratePostgres(pool(url), 'a'), migratePostgres(pool(url), 'b')]);
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
    const { rows } = await pool(url).query('SELECT version FROM schema_version ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
  });

  it('refuses a database whose schema is newer than this signoff, before changing it', async () => {
    const url = await freshDatabase();
    const p = pool(url);
    await migratePostgres(p, 'test');
    await p.query('INSERT INTO schema_version (version) VALUES (99)');
    await expect(openPostgres(url)).rejects.toMatchObject({ code: 'schema_newer', message: expect.stringMatching(/schema version 99, newer than this signoff knows \(\d+\)\. Upgrade signoff/) });
    await expect(migratePostgres(p, 'test')).rejects.toMatchObject({ code: 'schema_newer' });
    expect(await schemaVersion(p)).toBe(99);
  });
});

describe('connecting', () => {
  it('says the server answers and which schema version it holds', async () => {
    const url = await freshDatabase();
    const db = await openPostgres(url);
    expect(db.version).toBe(0);
    expect(db.where).not.toContain(new URL(url).password);
    const { rows } = await db.pool.query('SELECT 1::bigint AS n');
    expect(rows[0].n).toBe(1);
    await db.close();
  });

  it('sorts failures into messages that say what to do, and never show the password', async () => {
    const server = new URL(await postgresServerUrl());
    const secret = server.password;
    const cases: [string, string, RegExp][] = [];
    const nobody = new URL(server);
    nobody.port = String(await freePort());
    cases.push([nobody.toString(), 'pg_unreachable', /Cannot reach PostgreSQL at .*Check the host and port/]);
    const wrongPassword = new URL(server);
    wrongPassword.password = 'not-the-password-4242';
    cases.push([wrongPassword.toString(), 'pg_auth', /refused the credentials .*Check the user and password/]);
    const noDatabase = new URL(server);
    noDatabase.pathname = '/no_such_database_here';
    cases.push([noDatabase.toString(), 'pg_no_database', /does not exist .*Create it first/]);
    for (const [url, code, message] of cases) {
      const err = await openPostgres(url).then(() => undefined, (e: Error & { code: string }) => e);
      expect(err, url).toMatchObject({ code, message: expect.stringMatching(message) });
      expect(err!.message).toContain(redactDatabaseUrl(url));
      expect(err!.message).not.toContain(secret);
      expect(err!.message).not.toContain('not-the-password-4242');
    }
  });
});
