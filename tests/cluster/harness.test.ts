/**
 * The cluster harness itself (tests/cluster/lib), on real processes and a PostgreSQL server of
 * the test's own: replicas share one database, a SIGKILLed replica is replaced in its slot with
 * a new replica id, PostgreSQL restarts under running replicas and they carry on, and the courier
 * is found from /healthz (or said to be unknown on a build that does not report it), and, run as
 * root, each replica cannot see the other's directory (as on two hosts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';
import { canRunApart } from './lib/apart.js';
import { Cluster } from './lib/cluster.js';
import { health } from './lib/health.js';
import { startOwnPostgres, type OwnPostgres } from '../helpers/own-postgres.js';

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

const YAML = `
operators:
  editors: { console: [alice] }
limits: { jobs_per_user_per_minute: 1000, max_concurrent_jobs: 10 }
pipelines:
  one:
    stages:
      - id: a
        run: { builtin: outline }
`;

describe('the cluster harness', () => {
  it('runs replicas on one database, replaces a killed one, and survives a PostgreSQL restart', { timeout: 120_000 }, async () => {
    const pg: OwnPostgres = await startOwnPostgres();
    cleanup.push(() => pg.close());
    const dir = tempDir('signoff-cluster-harness-');
    const configPath = path.join(dir, 'signoff.yaml');
    fs.writeFileSync(configPath, YAML);
    const surprises: string[] = [];
    // Apart (as on two hosts) where this machine allows it, as the chaos run does.
    const apart = canRunApart();
    const cluster = await Cluster.start({ replicas: 2, workers: 0, databaseUrl: pg.url, configPath, dir, apart, onUnexpectedExit: (m, exit) => surprises.push(`${m.id} ${JSON.stringify(exit)}`) });
    cleanup.push(() => cluster.stop());
    const [one, two] = cluster.replicas as [(typeof cluster.replicas)[0], (typeof cluster.replicas)[0]];

    // One database: a job made through the first replica is read through the second.
    const made = await one.child.api('POST', '/jobs', { pipeline: 'one', brief: 'shared' });
    expect(made.status).toBe(201);
    expect((await two.child.api('GET', `/jobs/${made.json.job.id}`)).json.brief).toBe('shared');

    // Apart: each replica sees its own directory, and the other's as an empty one.
    if (apart) {
      const own = (m: typeof one, of: typeof one) => fs.readdirSync(path.join(`/proc/${m.child.proc.pid}/root`, of.options.dataDir));
      expect(own(one, one).length, 'replica 1 sees its own files').toBeGreaterThan(0);
      expect(fs.readdirSync(two.options.dataDir).length, 'replica 2 wrote files').toBeGreaterThan(0);
      expect(own(one, two), "replica 1 does not see replica 2's files").toEqual([]);
    }

    // The courier, from /healthz: a replica, or "unknown" when no replica reports the field.
    const courier = await cluster.courier();
    const reported = (await health(one.child.url))?.courier;
    if (reported === undefined) expect(courier).toBe('unknown');
    else expect(cluster.replicas).toContain(courier);

    // SIGKILL and replace: same slot (port, data directory), next replica id.
    const oldPid = one.child.proc.pid;
    await cluster.kill(one);
    expect(one.child.exitStatus?.signal).toBe('SIGKILL');
    expect(cluster.liveReplicas()).toEqual([two]);
    await cluster.replace(one);
    expect(one.child.proc.pid).not.toBe(oldPid);
    expect(one.id).toBe('replica-1-g1');
    expect(cluster.liveReplicas()).toHaveLength(2);

    // PostgreSQL stops and starts on the same port and data; both replicas carry on.
    await pg.restart(500);
    for (const m of cluster.replicas) {
      await waitFor(async () => (await m.child.api('GET', `/jobs/${made.json.job.id}`).catch(() => ({ status: 0, json: null }))).status === 200, `${m.id} to read the database again`, 30_000);
    }
    const after = await two.child.api('POST', '/jobs', { pipeline: 'one', brief: 'after the restart' });
    expect(after.status).toBe(201);
    expect(surprises, 'no process exited on its own').toEqual([]);
    // Stopped cleanly: SIGTERM, exit 0, each.
    for (const [name, exit] of await cluster.stop()) expect(exit.code, name).toBe(0);
  });
});
