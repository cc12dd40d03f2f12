/**
 * Cluster-wide limits and timers with two replicas (real `signoff start` processes, their own
 * data directories) on one PostgreSQL: `jobs_per_user_per_minute` and `max_concurrent_jobs` hold
 * for the cluster when submissions race through both replicas at once, and every timer (an
 * retry, an auto-approval, a reminder, a timeout) fires once although both replicas sweep every second,
 * with one chat notification each.
 */
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { slackChildEnv } from '../helpers/chat-child-env.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const CONFIG = `
operators:
  editors: { console: [alice, bob], slack: [U0ALICE] }
submitters: [editors]
limits: { jobs_per_user_per_minute: 3, max_concurrent_jobs: 2 }
channels: { slack: C0JOBS }
pipelines:
  held:
    stages:
      - id: outline
        run: { builtin: outline }
        gate: { required: true, approvers: [editors] }
  timed:
    stages:
      - id: flaky
        run: { command: ["node", "-e", "process.exit(process.env.SIGNOFF_ATTEMPT === '1' ? 1 : 0)"] }
        retries: 1
        retry_backoff: 1s
      - id: outline
        run: { builtin: outline }
        gate: { required: false, approvers: [editors], auto_approve_after: 1s }
      - id: script
        run: { builtin: script }
        gate: { required: true, approvers: [editors], timeout: 3s, remind_before: [2s], on_timeout: reject }
`;

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function cluster(extraEnv: Record<string, string> = {}) {
  const url = await freshDatabase();
  const dir = tempDir('signoff-replicas-limits-');
  const configPath = writeConfig(dir, CONFIG);
  const replicas: SignoffProcess[] = [];
  for (const name of ['a', 'b']) {
    const p = await startSignoff({ configPath, dataDir: path.join(dir, name), env: { SIGNOFF_DATABASE_URL: url, SIGNOFF_REPLICA_ID: `replica-${name}`, ...extraEnv } });
    replicas.push(p);
    cleanup.push(() => p.kill());
  }
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  cleanup.push(() => db.end());
  return { replicas, db };
}

const as = (user: string) => ({ 'x-signoff-actor': `console:${user}` });

describe('limits and timers across replicas (PostgreSQL)', () => {
  it('holds jobs_per_user_per_minute and max_concurrent_jobs for the cluster when submissions race through both replicas', async () => {
    const { replicas: [a, b], db } = await cluster();
    // Ten at once by alice, alternating replicas: three fit in her minute.
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? b! : a!).api('POST', '/jobs', { pipeline: 'held', brief: `alice ${i}` }, as('alice'))));
    expect(answers.filter((r) => r.status === 201)).toHaveLength(3);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(7);
    expect(refused[0]!.json.message).toMatch(/You submitted 3 jobs in the last minute \(limit 3\)/);
    // Bob's minute is his own; with alice's three, two run (at their gates) and the rest queue.
    const bobs = await Promise.all([a!, b!, a!].map((r, i) => r.api('POST', '/jobs', { pipeline: 'held', brief: `bob ${i}` }, as('bob'))));
    expect(bobs.map((r) => r.status)).toEqual([201, 201, 201]);
    const states = async () => (await db.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM jobs GROUP BY state')).rows;
    await waitFor(async () => (await states()).every((r) => r.state !== 'running'), 'the stages to finish');
    expect(Object.fromEntries((await states()).map((r) => [r.state, r.n]))).toEqual({ awaiting_approval: 2, queued: 4 });
  });

  it('fires each retry, auto-approval, reminder and timeout once, with one chat notification each, though both replicas sweep', async () => {
    const fake = await FakeSlack.start();
    cleanup.push(() => fake.close());
    const { replicas: [a, b], db } = await cluster(slackChildEnv(fake));
    const ids: number[] = [];
    for (const [i, r] of [a!, b!].entries()) {
      const created = await r.api('POST', '/jobs', { pipeline: 'timed', brief: `timers ${i}` });
      expect(created.status).toBe(201);
      ids.push(created.json.job.id);
    }
    for (const id of ids) await waitFor(async () => (await a!.api('GET', `/jobs/${id}`)).json.state === 'rejected', `job ${id} to time out`, 30_000);
    const { rows } = await db.query<{ job_id: number; type: string; stage: string; n: number; notices: number }>(
      `SELECT e.job_id::int AS job_id, e.type, e.data::json->>'stage' AS stage, count(DISTINCT e.id)::int AS n, count(o.id)::int AS notices
       FROM events e LEFT JOIN outbox o ON o.event_id = e.id
       WHERE e.type IN ('stage.retried', 'gate.approved', 'gate.reminded', 'gate.expired') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );
    expect(rows).toEqual(ids.flatMap((id) => [
      { job_id: id, type: 'gate.approved', stage: 'outline', n: 1, notices: 1 },
      { job_id: id, type: 'gate.expired', stage: 'script', n: 1, notices: 1 },
      { job_id: id, type: 'gate.reminded', stage: 'script', n: 1, notices: 1 },
      { job_id: id, type: 'stage.retried', stage: 'flaky', n: 1, notices: 1 },
    ]));
    const decided = (await a!.api('GET', `/jobs/${ids[0]}`)).json.gates;
    expect(decided).toEqual([expect.objectContaining({ stage: 'outline', state: 'approved', decided_by: 'timer' }), expect.objectContaining({ stage: 'script', state: 'expired' })]);
  });
});
