/**
 * signoff as a real process connected to the fake Discord, killed with SIGKILL while a gate
 * waits: after a restart on the same data directory it still knows the messages it made, so a
 * click on the gate message edits the SAME root and gate messages instead of posting new ones (no
 * second root, thread or gate message), and the job finishes. On both stores (SQLite, PostgreSQL).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { discordChildEnv } from '../helpers/chat-child-env.js';
import { ALICE_ID, BOB_ID, CHANNEL_ID, FakeDiscord, type Json } from '../helpers/fake-discord.js';
import { tempDir } from '../helpers/fixtures.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { deferredAnswer, discordConfigYaml, expectGateShownOnce, performed, postedGate, rootOf, rootsOf, threadLog, threadOf } from '../helpers/discord-harness.js';
import { STORES, storeEnv } from '../helpers/stores.js';
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

describe.each(STORES)('Discord across a crash (%s)', (kind) => {
  it('after kill -9 at a gate, the restarted process edits the same root and gate messages and finishes the job', async () => {
    fake = await FakeDiscord.start();
    dir = tempDir('signoff-discord-restart-');
    const configPath = writeConfig(dir, discordConfigYaml());
    const dataDir = path.join(dir, 'data');
    const env = { ...(await storeEnv(kind)), ...discordChildEnv(fake) };
    const launch = async () => {
      const p = await startSignoff({ configPath, dataDir, env });
      running.push(p);
      // /healthz answers before the Discord client is connected; this line comes once it is.
      await waitFor(() => p.output().includes('signoff is listening on'), 'signoff to finish starting (Discord connected)');
      return p;
    };

    let signoff = await launch();
    expect(fake.identifies).toHaveLength(1);
    const submit = fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'gated', brief: 'Survive a crash' }, user: ALICE_ID });
    expect(await fake.dispatchInteraction(submit)).toMatchObject({ type: 5, accepted: true });
    expect((await deferredAnswer(fake, String(submit.id))).content).toBe('Job 1 (gated) started.');

    const gate = await postedGate(fake, 1, 'outline');
    const root = rootOf(fake, 1)!;
    const thread = threadOf(fake, 1)!;
    expect(gate.channel).toBe(thread.id);
    expect(Object.keys(gate.buttons)).toEqual(['Approve', 'Approve with note…', 'Reject']);
    // The card itself pinged the decider when it was posted (no separate reply).
    expect(gate.body.content).toBe('✋ Approval needed: outline of job 1 — waiting for <@1200000000000001002>');
    expect(gate.body.allowed_mentions).toEqual({ parse: [], users: ['1200000000000001002'], roles: [] });
    await waitFor(() => rootOf(fake!, 1)!.content === '✋ Job 1 · gated: Awaiting approval of outline', 'the root to show the gate');

    await signoff.kill('SIGKILL');
    const callsBeforeRestart = fake.calls.length;
    const messagesBeforeRestart = fake.messagesIn(CHANNEL_ID).length + fake.messagesIn(thread.id).length;

    signoff = await launch();
    expect(fake.identifies).toHaveLength(2);
    // bob clicks Approve on the message the first process posted (custom id as posted).
    const click = fake.button({ custom_id: gate.buttons.Approve!.custom_id, message: gate.id, user: BOB_ID });
    expect(await fake.dispatchInteraction(click)).toMatchObject({ type: 6, accepted: true });

    const done = await waitFor(async () => {
      const { json } = await signoff.api('GET', '/jobs/1');
      return json.state === 'succeeded' && json;
    }, 'the job to finish after the restart');
    expect(done.gates).toEqual([expect.objectContaining({ stage: 'outline', round: 1, state: 'approved' })]);
    await waitFor(
      () => /^✅ Job 1 · gated: Succeeded in/.test(rootOf(fake!, 1)?.content ?? '') && threadLog(fake!, thread.id).some((l) => l.startsWith('✅ Job 1 succeeded')),
      'the root to show the outcome and the final files in the thread',
    );

    // The same root and gate messages, edited; no second root, thread or gate message.
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(rootOf(fake, 1)!.id).toBe(root.id);
    expect(fake.threads).toHaveLength(1);
    expectGateShownOnce(fake, 1, 'outline');
    const after = fake.calls.slice(callsBeforeRestart).filter(performed);
    expect(after.filter((c) => c.method === 'POST' && c.path === `/channels/${CHANNEL_ID}/messages`)).toEqual([]);
    expect(after.filter((c) => c.method === 'POST' && c.path.endsWith('/threads'))).toEqual([]);
    const posted = after.filter((c) => c.method === 'POST' && /^\/channels\/\d+\/messages$/.test(c.path));
    expect(posted.every((c) => c.path === `/channels/${thread.id}/messages`)).toBe(true);
    expect(posted.map((c) => String((c.body as Json).content).split('\n')[0]!.replace(/ in \d+(ms|s)/, ' in T').replace(/\d+ (sections|scenes|words)/g, 'N $1'))).toEqual([
      '✅ script done in T: Script: N scenes, N words',
      '✅ Job 1 succeeded in T. 2 artifacts.',
    ]);
    const edited = new Set(after.filter((c) => c.method === 'PATCH' && c.path.startsWith('/channels/')).map((c) => c.path));
    expect(edited).toEqual(new Set([`/channels/${CHANNEL_ID}/messages/${root.id}`, `/channels/${thread.id}/messages/${gate.id}`]));

    const gateNow = fake.messages.get(gate.id)!;
    expect(gateNow.content).toBe('✅ Approval needed: outline of job 1 — Approved by Bob');
    expect(gateNow.components).toEqual([]);
    expect(threadLog(fake, thread.id)).toEqual([
      '✅ outline done in T: Outline: N sections [outline.md]',
      '✅ Approval needed: outline of job 1 — Approved by Bob',
      '✅ script done in T: Script: N scenes, N words [script.md]',
      '✅ Job 1 succeeded in T. 2 artifacts.',
    ]);
    expect(fake.messagesIn(CHANNEL_ID).length + fake.messagesIn(thread.id).length).toBe(messagesBeforeRestart + 2);
  });
});
