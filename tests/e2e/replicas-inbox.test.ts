/**
 * An acknowledged Slack interaction whose replica died before carrying it out is carried out once,
 * within seconds, by a live replica (real `signoff start` processes on one PostgreSQL, Slack's
 * HTTP mode against the fake Slack), and not before the dead replica's lease lapsed: once with
 * the inbox row written as another replica's, once by SIGKILL of a replica right after it
 * acknowledged a burst of commands.
 */
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { slackChildEnv } from '../helpers/chat-child-env.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { ALICE, CHANNEL, responsesTo, slackConfigYaml, slash } from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

/** Two replicas with Slack in HTTP mode on one fresh database, and a client of that database. */
async function slackReplicas() {
  const fake = await FakeSlack.start();
  cleanup.push(() => fake.close());
  const url = await freshDatabase();
  const dir = tempDir('signoff-replicas-inbox-');
  const configPath = writeConfig(dir, slackConfigYaml());
  const env = { SIGNOFF_DATABASE_URL: url, ...slackChildEnv(fake) };
  const replicas: SignoffProcess[] = [];
  for (const name of ['a', 'b']) {
    const p = await startSignoff({ configPath, dataDir: path.join(dir, name), env: { ...env, SIGNOFF_REPLICA_ID: `replica-${name}` } });
    replicas.push(p);
    cleanup.push(() => p.kill());
  }
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  cleanup.push(() => db.end());
  return { fake, replicas, db };
}

describe('the Slack inbox across replicas (PostgreSQL)', () => {
  it("carries out a dead replica's stored interaction once, on a live replica, after its lease lapsed", async () => {
    const { fake, replicas, db } = await slackReplicas();

    // What the dead replica stored and acknowledged: the request body, held under its id for 1.5 s more.
    const fields = fake.slashCommand({ user_id: ALICE, channel_id: CHANNEL, text: 'submit gated Left by a dead replica' });
    const key = `slack:command:${fields.trigger_id}`;
    const { rows: [held] } = await db.query<{ until: string }>(
      `INSERT INTO dedupe (key, at, payload, owner, lease_until) VALUES ($1, $2, $3, 'replica-dead', (extract(epoch from clock_timestamp()) * 1000)::bigint + 1500) RETURNING lease_until AS until`,
      [key, Date.now(), new URLSearchParams(fields).toString()],
    );
    const leaseEnd = Number(held!.until);

    const answer = await waitFor(() => responsesTo(fake, fields.response_url!)[0], 'the answer to the stored command', 30_000);
    expect(answer.text).toMatch(/^Job 1 \(gated\) started\.$/);
    const row = (await db.query<{ payload: string | null; owner: string | null }>('SELECT payload, owner FROM dedupe WHERE key = $1', [key])).rows[0]!;
    expect(row.payload, 'the row is carried out').toBeNull();
    const { rows: jobs } = await db.query<{ id: number; created_at: string }>(`SELECT id, created_at FROM jobs WHERE brief = 'Left by a dead replica'`);
    expect(jobs).toHaveLength(1);
    const createdAt = Number(jobs[0]!.created_at);
    expect(createdAt, 'not taken while the dead replica held it').toBeGreaterThanOrEqual(leaseEnd);
    expect(createdAt - leaseEnd, 'taken within seconds of the lease lapsing').toBeLessThan(5_000);

    // Both replicas keep sweeping: the command is still carried out once, its answer sent once.
    const claimsSeen = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM dedupe WHERE payload IS NOT NULL`)).rows[0]!.n;
    await waitFor(async () => (await claimsSeen()) === 0 && (await replicas[0]!.api('GET', '/jobs/1')).json.state === 'awaiting_approval', 'the job at its gate');
    expect(responsesTo(fake, fields.response_url!)).toHaveLength(1);
    expect((await db.query(`SELECT id FROM jobs`)).rows).toHaveLength(1);
  });

  it('carries out, once each, the commands a replica acknowledged just before it was killed', async () => {
    const { fake, replicas: [a, b], db } = await slackReplicas();
    const n = 60;
    const sent = await Promise.all(Array.from({ length: n }, (_, i) => slash(fake, `${a!.url}/slack/events`, { user: ALICE, text: `submit gated burst ${i}` })));
    expect(sent.map((s) => s.res.status)).toEqual(sent.map(() => 200));
    await a!.kill('SIGKILL');
    const left = (await db.query<{ key: string }>(`SELECT key FROM dedupe WHERE payload IS NOT NULL AND owner = 'replica-a'`)).rows.map((r) => r.key);
    expect(left.length, 'the killed replica left acknowledged commands not carried out').toBeGreaterThan(0);

    await waitFor(async () => (await db.query(`SELECT key FROM dedupe WHERE payload IS NOT NULL`)).rows.length === 0, 'the live replica to carry out what was left', 30_000);
    const { rows } = await db.query<{ brief: string; n: number }>(`SELECT brief, count(*)::int AS n FROM jobs GROUP BY brief ORDER BY brief`);
    expect(rows).toHaveLength(n);
    expect(rows.every((r) => r.n === 1), 'each command made one job').toBe(true);
    // Each command left over is answered once, by the live replica.
    for (const s of sent.filter((s) => left.includes(`slack:command:${s.fields.trigger_id}`))) {
      await waitFor(() => responsesTo(fake, s.fields.response_url!).length > 0, 'the answer to a command carried out by the live replica');
      expect(responsesTo(fake, s.fields.response_url!)).toHaveLength(1);
    }
    expect((await b!.api('GET', '/jobs?limit=1')).status).toBe(200);
  });
});
