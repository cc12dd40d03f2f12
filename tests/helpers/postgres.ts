/**
 * A fresh PostgreSQL database for a test file, on the run's one server (see postgres-server.ts).
 * A server that is missing or did not start is a test failure saying how to get one, never a skip.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { HOW_TO_GET_POSTGRES } from './postgres-server.js';
import { waitFor } from './wait.js';

let adminUrl: Promise<string> | undefined;

/** The server's admin URL (a database where CREATE DATABASE works), once it is up. */
export function postgresServerUrl(): Promise<string> {
  adminUrl ??= (async () => {
    const file = inject('postgresStatusFile');
    if (!file) throw new Error(`No PostgreSQL server for tests: vitest's globalSetup (tests/helpers/postgres-server.ts) did not run. Run the tests with \`npx vitest\`. ${HOW_TO_GET_POSTGRES}`);
    const status = await waitFor(() => fs.existsSync(file) && (JSON.parse(fs.readFileSync(file, 'utf8')) as { url?: string; error?: string }), 'the test PostgreSQL server to start', 60_000);
    if (status.error || !status.url) throw new Error(status.error ?? 'The test PostgreSQL server did not say where it is.');
    return status.url;
  })();
  return adminUrl;
}

/** Makes an empty database on the test server and returns its URL. */
export async function freshDatabase(): Promise<string> {
  const url = await postgresServerUrl();
  const name = `${inject('postgresDatabasePrefix')}${crypto.randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query(`CREATE DATABASE "${name}"`);
  } catch (err) {
    const hint = process.env.SIGNOFF_TEST_DATABASE_URL
      ? 'SIGNOFF_TEST_DATABASE_URL names this server: start it, fix the URL (its user must be allowed to CREATE DATABASE), or unset it to let the tests start their own.'
      : HOW_TO_GET_POSTGRES;
    throw new Error(`Could not make a test database on ${url.replace(/:[^:@/]*@/, ':***@')}: ${(err as Error).message}. ${hint}`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
  const target = new URL(url);
  target.pathname = `/${name}`;
  return target.toString();
}
