/**
 * Two replicas (real `signoff start` processes, their own data directories) on one PostgreSQL:
 * an event-stream client of replica A sees, live and in order, every event of jobs driven
 * entirely through replica B, with no gaps and no repeats, also across LISTEN connections the
 * server cut (pg_terminate_backend) in the middle.
 */
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { openSse, type SseClient } from '../helpers/sse-client.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const CONFIG = `
operators:
  editors: { console: [alice] }
limits: { max_concurrent_jobs: 20, jobs_per_user_per_minute: 100 }
pipelines:
  two:
    stages:
      - id: outline
        run: { builtin: outline }
        gate: { required: true, approvers: [editors] }
      - id: script
        run: { builtin: script }
`;

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function replicas(n: number) {
  const url = await freshDatabase();
  const dir = tempDir('signoff-replicas-');
  const configPath = writeConfig(dir, CONFIG);
  const started: SignoffProcess[] = [];
  // One after another: the first brings the schema up to date.
  for (let i = 0; i < n; i++) {
    const p = await startSignoff({ configPath, dataDir: path.join(dir, `data-${i}`), env: { SIGNOFF_DATABASE_URL: url, SIGNOFF_REPLICA_ID: `replica-${i}` } });
    started.push(p);
    cleanup.push(() => p.kill());
  }
  return { url, replicas: started };
}

const auth = (p: SignoffProcess) => ({ authorization: `Bearer ${p.token}` });
const alice = { 'x-signoff-actor': 'console:alice' };

describe('replicas share live events (PostgreSQL)', () => {
  it('a client of replica A sees every event of jobs driven through replica B, in order, once, across cut LISTEN connections', async () => {
    const { url, replicas: [a, b] } = await replicas(2);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    cleanup.push(() => db.end());
    const all: SseClient = await openSse(`${a!.url}/api/v1/events`, auth(a!));
    cleanup.push(() => all.close());

    const submit = async () => {
      const r = await b!.api('POST', '/jobs', { pipeline: 'two', brief: 'through B' });
      expect(r.status).toBe(201);
      return r.json.job.id as number;
    };
    // Concurrent submissions: their transactions commit out of id order.
    const first = await Promise.all([submit(), submit(), submit()]);
    const oneJob: SseClient = await openSse(`${a!.url}/api/v1/jobs/${first[0]}/events`, auth(a!));
    cleanup.push(() => oneJob.close());

    // The server cuts every LISTEN connection (both replicas'); they come back by themselves.
    const listeners = async () => (await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'signoff-listen' AND datname = current_database()`)).rows.map((r) => r.pid);
    const before = await waitFor(async () => ((await listeners()).length === 2 ? listeners() : undefined), 'both replicas to listen');
    await db.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before]);
    const second = await Promise.all([submit(), submit()]);
    await waitFor(async () => {
      const now = await listeners();
      return now.length === 2 && now.every((pid) => !before.includes(pid));
    }, 'both replicas to listen again');

    const jobs = [...first, ...second];
    for (const id of jobs) {
      await waitFor(async () => (await b!.api('GET', `/jobs/${id}`)).json.state === 'awaiting_approval', `job ${id} at its gate`);
    }
    await Promise.all(jobs.map((id) => b!.api('POST', `/jobs/${id}/gates/outline/approve`, {}, alice).then((r) => expect(r.status).toBe(200))));
    for (const id of jobs) await waitFor(async () => (await b!.api('GET', `/jobs/${id}`)).json.state === 'succeeded', `job ${id} to finish`);

    // Every event in the table, as replica B reads it, and what A's client saw live.
    const stored = (await b!.api('GET', '/events?after=0&limit=1000')).json.events as { id: number; job: number; seq: number }[];
    expect(stored.filter((e) => e.job === jobs[0]).length).toBeGreaterThan(5);
    await waitFor(() => all.frames.length >= stored.length, `A's client to see all ${stored.length} events`);
    expect(all.frames.map((f) => f.id)).toEqual(stored.map((e) => e.id));
    expect(all.frames.map((f) => f.data.type)).toEqual(stored.map((e) => (e as unknown as { type: string }).type));
    // The per-job stream (positions are the job's sequence numbers) is gap-free too.
    const ofJob = stored.filter((e) => e.job === jobs[0]);
    await waitFor(() => oneJob.frames.length >= ofJob.length, "A's per-job client to see the whole job");
    expect(oneJob.frames.map((f) => f.id)).toEqual(ofJob.map((e) => e.seq));
  });
});
