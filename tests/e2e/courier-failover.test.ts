/**
 * Two signoff replicas (real processes) on one PostgreSQL database, with Slack in HTTP mode
 * against the fake Slack. Exactly one says it is the chat courier in /healthz, and only it
 * posts to Slack, whichever replica took the /signoff command. The courier is killed with
 * SIGKILL while it is still delivering (posts are paced): the other replica becomes the courier
 * within 10 s, and at the end every job's thread holds each of its messages exactly once.
 *
 * Each replica is given its own bot token (the fake accepts any): only so that the test can tell
 * which process made each Slack call. Real replicas share one token.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { slackChildEnv } from '../helpers/chat-child-env.js';
import { FakeSlack, type ApiCall } from '../helpers/fake-slack.js';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { ALICE, BOB, CHANNEL, asPosted, buttons, clickPayload, gateCards, interact, responsesTo, rootsOf, slackConfigYaml, slash, threadLog, waitForGateCard } from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';

const JOBS = 12;
let fake: FakeSlack | undefined;
let running: SignoffProcess[] = [];

afterEach(async () => {
  await Promise.all(running.map((p) => p.kill()));
  running = [];
  await fake?.close();
  expect(fake?.internalErrors ?? []).toEqual([]);
  fake = undefined;
});

interface Health {
  ok: boolean;
  replica: string;
  courier: boolean;
  database: string;
  stageRuns: number;
}

async function health(p: SignoffProcess): Promise<Health> {
  return (await fetch(`${p.url}/healthz`)).json() as Promise<Health>;
}

/** Calls that make or change what people see in Slack (not reads, not the start-up check). */
const DELIVERY = new Set(['chat.postMessage', 'chat.update', 'files.completeUploadExternal']);
const deliveries = (calls: ApiCall[], token: string) => calls.filter((c) => c.token === token && DELIVERY.has(c.method));

/** What a job's thread shows, one word per message: each must be there exactly once, in this order. */
function threadKinds(f: FakeSlack, rootTs: string): string[] {
  return threadLog(f, CHANNEL, rootTs).map((line) =>
    line.startsWith('card ') ? 'card' : /outline done/.test(line) ? 'outline' : /script done/.test(line) ? 'script' : /succeeded/.test(line) ? 'summary' : line,
  );
}

/** Starts replicas named by the caller on one database, Slack in HTTP mode, each with its own data directory and bot token. */
function launcher(configPath: string, databaseUrl: string, dir: string) {
  return async (name: string) => {
    const p = await startSignoff({
      configPath,
      dataDir: path.join(dir, `data-${name}`),
      // Paced, so that the courier is still delivering when it is killed.
      env: { SIGNOFF_DATABASE_URL: databaseUrl, SIGNOFF_REPLICA_ID: name, ...slackChildEnv(fake!, { botToken: `xoxb-${name}`, postsPerSecond: 4 }) },
    });
    running.push(p);
    await waitFor(async () => (await health(p)).ok, `${name} to be ready`);
    return p;
  };
}

describe('two replicas on one PostgreSQL, one chat courier', () => {
  it('delivers through the courier only; after SIGKILL of the courier the other takes over within 10 s and nothing is lost or shown twice', async () => {
    fake = await FakeSlack.start();
    const dir = tempDir('signoff-courier-');
    // Room for every job at once: the cluster-wide limits are another part's work.
    const configPath = writeConfig(dir, slackConfigYaml().replace('max_concurrent_jobs: 4', `max_concurrent_jobs: ${JOBS * 2}`));
    const databaseUrl = await freshDatabase();
    const launch = launcher(configPath, databaseUrl, dir);
    const a = await launch('replica-a');
    const b = await launch('replica-b');
    const replicas = [a, b];

    // Exactly one courier: the replica that started first took the lease.
    const before = await Promise.all(replicas.map(health));
    expect(before.map((h) => [h.replica, h.courier, h.database])).toEqual([
      ['replica-a', true, 'ok'],
      ['replica-b', false, 'ok'],
    ]);
    for (const h of before) expect(h.stageRuns).toEqual(expect.any(Number));

    // Commands to each replica in turn; each answers its own person.
    const ids: number[] = [];
    const viaB = new Set<number>();
    await Promise.all(
      Array.from({ length: JOBS }, async (_, i) => {
        const sent = await slash(fake!, `${replicas[i % 2]!.url}/slack/events`, { user: ALICE, text: `submit gated Cluster job ${i}` });
        expect(sent.res.status).toBe(200);
        const answer = await waitFor(() => responsesTo(fake!, sent.fields.response_url!)[0], `the answer to command ${i}`);
        const id = Number(/^Job (\d+) \(gated\) started\.$/.exec(answer.text)?.[1]);
        expect(id).toBeGreaterThan(0);
        ids.push(id);
        if (i % 2 === 1) viaB.add(id);
      }),
    );
    // Every job waits at its gate (no stage is left running in the process about to be killed).
    await waitFor(async () => {
      for (const id of ids) if ((await a.api('GET', `/jobs/${id}`)).json?.gates?.[0]?.state !== 'pending') return false;
      return true;
    }, 'every job to wait at its gate');

    // Kill the courier part-way through its deliveries, once it has posted for a job replica-b
    // took (found by its once-a-second poll: replica-b's commits do not wake it).
    await waitFor(() => fake!.callsTo('chat.postMessage').length >= JOBS, 'the courier to have posted some messages');
    await waitFor(() => [...viaB].some((id) => rootsOf(fake!, id)[0]?.call.token === 'xoxb-replica-a'), 'replica-a to post for a job replica-b took');
    await a.kill('SIGKILL');
    const killedAt = Date.now();
    const killed = performance.now();
    const postsBeforeKill = fake.callsTo('chat.postMessage').length;
    // Up to here only the courier delivered anything.
    expect(deliveries(fake.calls, 'xoxb-replica-b')).toEqual([]);
    expect(deliveries(fake.calls, 'xoxb-replica-a').length).toBeGreaterThan(0);
    // Mid-run: root, first notice and card for every job are 3 posts a job.
    expect(postsBeforeKill).toBeLessThan(JOBS * 3);

    await waitFor(async () => (await health(b)).courier, 'replica-b to become the courier', 15_000);
    const takeoverMs = Math.round(performance.now() - killed);
    const firstCall = await waitFor(() => deliveries(fake!.calls, 'xoxb-replica-b')[0], 'the new courier to deliver');
    const firstCallMs = firstCall.at - killedAt;
    console.info(`courier failover: SIGKILL → replica-b says courier in ${takeoverMs} ms; → its first Slack delivery in ${firstCallMs} ms (${postsBeforeKill} posts made before the kill)`);
    expect(takeoverMs).toBeLessThan(10_000);

    // Every gate card arrives; bob approves each through the surviving replica.
    for (const id of ids) {
      const card = asPosted(await waitForGateCard(fake, id, 'outline', 1, 30_000));
      expect((await interact(`${b.url}/slack/events`, clickPayload(fake, card, buttons(card.blocks).Approve!, BOB))).status).toBe(200);
    }
    await waitFor(async () => {
      for (const id of ids) if ((await b.api('GET', `/jobs/${id}`)).json?.state !== 'succeeded') return false;
      return true;
    }, 'every job to succeed', 60_000);
    // Every thread complete: its closing summary is the last message each job gets.
    await waitFor(() => ids.every((id) => rootsOf(fake!, id)[0] && threadKinds(fake!, rootsOf(fake!, id)[0]!.message.ts).includes('summary')), 'every closing summary', 60_000);

    for (const id of ids) {
      const roots = rootsOf(fake, id);
      expect({ id, roots: roots.length }).toEqual({ id, roots: 1 });
      expect({ id, cards: gateCards(fake, id, 'outline').length }).toEqual({ id, cards: 1 });
      expect({ id, thread: threadKinds(fake, roots[0]!.message.ts) }).toEqual({ id, thread: ['outline', 'card', 'script', 'summary'] });
    }
    // After the kill only the new courier delivered.
    expect(fake.calls.filter((c) => c.at > killedAt && DELIVERY.has(c.method) && c.token !== 'xoxb-replica-b')).toEqual([]);
    expect((await health(b)).replica).toBe('replica-b');
  });

  it('a courier stopped with SIGTERM hands the role over at once: the other replica delivers the next job', async () => {
    fake = await FakeSlack.start();
    const dir = tempDir('signoff-courier-term-');
    const launch = launcher(writeConfig(dir, slackConfigYaml()), await freshDatabase(), dir);
    const a = await launch('replica-a');
    const b = await launch('replica-b');
    expect([(await health(a)).courier, (await health(b)).courier]).toEqual([true, false]);

    const stopped = performance.now();
    expect(await a.kill('SIGTERM')).toBe(0);
    await waitFor(async () => (await health(b)).courier, 'replica-b to become the courier', 10_000);
    const handoverMs = Math.round(performance.now() - stopped);
    console.info(`courier handover after SIGTERM: ${handoverMs} ms`);
    // The lease was released, not left to run out (8 s).
    expect(handoverMs).toBeLessThan(5_000);

    const sent = await slash(fake, `${b.url}/slack/events`, { user: ALICE, text: 'submit gated After the handover' });
    expect(sent.res.status).toBe(200);
    await waitForGateCard(fake, 1, 'outline');
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(deliveries(fake.calls, 'xoxb-replica-a')).toEqual([]);
  });
});
