/**
 * Two signoff replicas (real processes) on one PostgreSQL database with Discord: only the chat
 * courier opens the gateway (several sessions might each get interactions, or not; Discord does
 * not say), and when it is killed with SIGKILL the other replica opens it within 10 s, delivers
 * what is left and carries the job to its end with every message made once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { discordChildEnv } from '../helpers/chat-child-env.js';
import { ALICE_ID, BOB_ID, FakeDiscord } from '../helpers/fake-discord.js';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { deferredAnswer, discordConfigYaml, expectGateShownOnce, postedGate, rootOf, rootsOf, threadLog, threadOf } from '../helpers/discord-harness.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeDiscord | undefined;
let running: SignoffProcess[] = [];
let dir: string | undefined;

afterEach(async () => {
  await Promise.all(running.map((p) => p.kill()));
  running = [];
  await fake?.close();
  expect(fake?.internalErrors ?? []).toEqual([]);
  fake = undefined;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const courierOf = async (p: SignoffProcess): Promise<boolean> => ((await (await fetch(`${p.url}/healthz`)).json()) as { courier: boolean }).courier;

describe('Discord with two replicas on one PostgreSQL', () => {
  it('only the courier holds the gateway; after SIGKILL the other replica opens it and finishes the job', async () => {
    fake = await FakeDiscord.start();
    dir = tempDir('signoff-discord-courier-');
    const configPath = writeConfig(dir, discordConfigYaml());
    const databaseUrl = await freshDatabase();
    const launch = async (name: string) => {
      const p = await startSignoff({
        configPath,
        dataDir: path.join(dir!, `data-${name}`),
        env: { SIGNOFF_DATABASE_URL: databaseUrl, SIGNOFF_REPLICA_ID: name, ...discordChildEnv(fake!) },
      });
      running.push(p);
      await waitFor(() => p.output().includes('signoff is listening on'), `${name} to finish starting`);
      return p;
    };

    const a = await launch('replica-a');
    await fake.ready();
    const b = await launch('replica-b');
    expect([await courierOf(a), await courierOf(b)]).toEqual([true, false]);
    // One gateway session: the courier's.
    expect(fake.identifies).toHaveLength(1);

    const submit = fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'gated', brief: 'Two replicas' }, user: ALICE_ID });
    expect(await fake.dispatchInteraction(submit)).toMatchObject({ type: 5, accepted: true });
    expect((await deferredAnswer(fake, String(submit.id))).content).toBe('Job 1 (gated) started.');
    const gate = await postedGate(fake, 1, 'outline');
    expect(fake.identifies).toHaveLength(1);

    await a.kill('SIGKILL');
    const killed = performance.now();
    await waitFor(() => fake!.identifies.length === 2 && fake!.gatewayReady, 'replica-b to open the gateway', 15_000);
    const gatewayMs = Math.round(performance.now() - killed);
    console.info(`Discord courier failover: SIGKILL → replica-b's gateway ready in ${gatewayMs} ms`);
    expect(gatewayMs).toBeLessThan(10_000);
    await waitFor(() => courierOf(b), 'replica-b to say it is the courier');

    // bob clicks Approve on the card the first courier posted; the new one carries it out.
    const click = fake.button({ custom_id: gate.buttons.Approve!.custom_id, message: gate.id, user: BOB_ID });
    expect(await fake.dispatchInteraction(click)).toMatchObject({ type: 6, accepted: true });
    await waitFor(async () => (await b.api('GET', '/jobs/1')).json?.state === 'succeeded', 'the job to finish on replica-b');
    const thread = threadOf(fake, 1)!;
    await waitFor(() => threadLog(fake!, thread.id).some((l) => l.startsWith('✅ Job 1 succeeded')) && /Succeeded in/.test(rootOf(fake!, 1)?.content ?? ''), 'the closing summary and the final root');

    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(fake.threads).toHaveLength(1);
    expectGateShownOnce(fake, 1, 'outline');
    expect(threadLog(fake, thread.id).map((l) => l.replace(/ in \d+(ms|s)/, ' in T').replace(/\d+ (sections|scenes|words)/g, 'N $1').split(' [')[0]!.split(':')[0]!)).toEqual([
      '✅ outline done in T',
      '✅ Approval needed',
      '✅ script done in T',
      '✅ Job 1 succeeded in T. 2 artifacts.',
    ]);
  });
});
