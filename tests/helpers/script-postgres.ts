/**
 * PostgreSQL for scripts that run outside vitest (`npm run bench`, `npm run chaos -- --store
 * postgres`): the server a URL names, or else an embedded PostgreSQL 17 of the script's own
 * (the npm package, loaded as the tests load it), with a fresh database per measurement.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadEmbeddedPostgres } from './load-embedded-postgres.js';
import { freePort } from './signoff-process.js';

export interface ScriptPostgres {
  /** An admin URL: its user may CREATE DATABASE. */
  url: string;
  /** Makes (or empties) the database `name` and returns its URL. */
  freshDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** The server at `given` (user may CREATE DATABASE), or an embedded one started now. */
export async function scriptPostgres(given: string | undefined): Promise<ScriptPostgres> {
  if (given) return withDatabases(given, async () => undefined);
  const { EmbeddedPostgres, copy } = await loadEmbeddedPostgres();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-script-pg-'));
  // Run as root, the server runs as the `postgres` user, who must reach its data below.
  fs.chmodSync(dir, 0o711);
  const password = crypto.randomBytes(12).toString('hex');
  const port = await freePort();
  const instance = new EmbeddedPostgres({ databaseDir: path.join(dir, 'data'), port, user: 'postgres', password, persistent: false, createPostgresUser: true, onLog: () => undefined, onError: () => undefined });
  await instance.initialise();
  await instance.start();
  return withDatabases(`postgres://postgres:${password}@127.0.0.1:${port}/postgres`, async () => {
    await instance.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    if (copy) fs.rmSync(copy, { recursive: true, force: true });
  });
}

function withDatabases(url: string, stop: () => Promise<void>): ScriptPostgres {
  return {
    url,
    stop,
    async freshDatabase(name) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await c.query(`CREATE DATABASE "${name}"`);
      } finally {
        await c.end();
      }
      const u = new URL(url);
      u.pathname = `/${name}`;
      return u.toString();
    },
  };
}
