/**
 * Slack Socket Mode with two replicas (real processes) on one PostgreSQL: each replica holds a
 * socket of its own (Slack spreads events over an app's connections), the replica an envelope
 * reaches acknowledges and carries it out, and only the chat courier posts. When the replica
 * holding the newest socket dies, envelopes reach the other one's socket and still work.
 *
 * As in courier-failover.test.ts, each replica has its own bot token only so the test can tell
 * whose Slack calls it sees.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { slackChildEnv } from '../helpers/chat-child-env.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { ALICE, BOB, CHANNEL, asPosted, buttons, clickPayload, gateCards, responsesTo, rootsOf, slackConfigYaml, threadLog, waitForGateCard } from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeSlack | undefined;
let running: SignoffProcess[] = [];

afterEach(async () => {
  // The processes first: a Socket Mode client whose server vanished would try to reconnect.
  await Promise.all(running.map((p) => p.kill()));
  running = [];
  await fake?.close();
  expect(fake?.internalErrors ?? []).toEqual([]);
  fake = undefined;
});

const POSTS = new Set(['chat.postMessage', 'files.completeUploadExternal']);

describe('Slack Socket Mode with two replicas', () => {
  it('each replica holds a socket and carries out what reaches it; only the courier posts', async () => {
    fake = await FakeSlack.start();
    const dir = tempDir('signoff-socket-replicas-');
    const configPath = writeConfig(dir, slackConfigYaml());
    const databaseUrl = await freshDatabase();
    const launch = async (name: string) => {
      const p = await startSignoff({
        configPath,
        dataDir: path.join(dir, `data-${name}`),
        env: { SIGNOFF_DATABASE_URL: databaseUrl, SIGNOFF_REPLICA_ID: name, ...slackChildEnv(fake!, { socket: true, botToken: `xoxb-${name}` }) },
      });
      running.push(p);
      return p;
    };
    const a = await launch('replica-a');
    await fake.socketConnected({ count: 1 });
    const b = await launch('replica-b');
    await fake.socketConnected({ count: 2 });

    // The fake sends to the newest socket: replica-b's, which is not the courier.
    const command = fake.slashCommand({ user_id: ALICE, channel_id: CHANNEL, text: 'submit gated Over sockets' });
    expect(await fake.sendEnvelope('slash_commands', command)).toMatchObject({ envelope_id: expect.any(String) });
    expect((await waitFor(() => responsesTo(fake!, command.response_url!)[0], 'the answer')).text).toBe('Job 1 (gated) started.');
    const card = asPosted(await waitForGateCard(fake, 1, 'outline'));
    expect(fake.calls.filter((c) => POSTS.has(c.method)).every((c) => c.token === 'xoxb-replica-a')).toBe(true);

    // replica-b dies; the next envelope reaches replica-a's socket.
    await b.kill('SIGKILL');
    await waitFor(() => fake!.socketOpen, 'an open socket');
    const approve = clickPayload(fake, card, buttons(card.blocks).Approve!, BOB);
    await fake.sendEnvelope('interactive', approve);
    await waitFor(async () => (await a.api('GET', '/jobs/1')).json?.state === 'succeeded', 'the job to finish');
    const root = rootsOf(fake, 1)[0]!;
    await waitFor(() => threadLog(fake!, CHANNEL, root.message.ts).some((l) => /Job 1 succeeded/.test(l)), 'the closing summary');
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(gateCards(fake, 1, 'outline')).toHaveLength(1);
    expect(fake.calls.filter((c) => POSTS.has(c.method)).every((c) => c.token === 'xoxb-replica-a')).toBe(true);
  });
});
