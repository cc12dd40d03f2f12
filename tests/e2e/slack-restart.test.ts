/**
 * signoff as a real process in Slack's HTTP mode, killed with SIGKILL while a gate waits: after a
 * restart on the same data directory it still knows the messages it made, so a click on the gate
 * card edits the SAME root and gate messages instead of posting new ones, and the job finishes.
 * On both stores: the data directory's SQLite file, or a fresh PostgreSQL database.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { slackChildEnv } from '../helpers/chat-child-env.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { tempDir } from '../helpers/fixtures.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import {
  ALICE,
  BOB,
  CHANNEL,
  actionsBlock,
  asPosted,
  blockText,
  buttons,
  clickPayload,
  gateCards,
  interact,
  responsesTo,
  rootOf,
  rootsOf,
  slackConfigYaml,
  slash,
  threadLog,
  waitForGateCard,
} from '../helpers/slack-harness.js';
import { STORES, storeEnv } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeSlack | undefined;
let running: SignoffProcess[] = [];

afterEach(async () => {
  await Promise.all(running.map((p) => p.kill()));
  running = [];
  await fake?.close();
  expect(fake?.internalErrors ?? []).toEqual([]);
  fake = undefined;
});

describe.each(STORES)('Slack across a crash (%s)', (kind) => {
  it('after kill -9 at a gate, the restarted process edits the same root and gate messages and finishes the job', async () => {
    fake = await FakeSlack.start();
    const dir = tempDir('signoff-slack-restart-');
    const configPath = writeConfig(dir, slackConfigYaml());
    const dataDir = path.join(dir, 'data');
    const env = { ...(await storeEnv(kind)), ...slackChildEnv(fake) };
    const launch = async () => {
      const p = await startSignoff({ configPath, dataDir, env });
      running.push(p);
      return p;
    };

    let signoff = await launch();
    const sent = await slash(fake, `${signoff.url}/slack/events`, { user: ALICE, text: 'submit gated Survive a crash' });
    expect(sent.res.status).toBe(200);
    const answer = await waitFor(() => responsesTo(fake!, sent.fields.response_url!)[0], 'the private answer');
    expect(answer.text).toBe('Job 1 (gated) started.');
    const card = asPosted(await waitForGateCard(fake, 1, 'outline'));
    const root = rootOf(fake, 1)!;
    expect(card.thread_ts).toBe(root.message.ts);
    expect(Object.keys(buttons(card.blocks))).toEqual(['Approve', 'Approve with note…', 'Reject']);
    // Killed as soon as Slack has the card: signoff may not have stored its ts yet. It stored the
    // intent before posting, so after the restart it finds the card (by its metadata) instead of
    // posting it again.

    await signoff.kill('SIGKILL');
    const callsBeforeRestart = fake.calls.length;

    signoff = await launch();
    const click = await interact(`${signoff.url}/slack/events`, clickPayload(fake, card, buttons(card.blocks).Approve!, BOB));
    expect(click.status).toBe(200);

    const done = await waitFor(async () => {
      const { json } = await signoff.api('GET', '/jobs/1');
      return json.state === 'succeeded' && json;
    }, 'the job to finish after the restart');
    expect(done.gates).toEqual([expect.objectContaining({ stage: 'outline', round: 1, state: 'approved', decided_by: 'u0bob' })]);
    await waitFor(() => /Succeeded in/.test(blockText(rootOf(fake!, 1)?.message.blocks)) && fake!.messageList().some((m) => /^✅ Job 1 succeeded/.test(m.text ?? '')), 'the root to show the outcome and the closing summary');

    // The same two messages, edited; nothing posted again.
    expect(rootsOf(fake, 1)).toHaveLength(1);
    expect(gateCards(fake, 1, 'outline')).toHaveLength(1);
    const after = fake.calls.slice(callsBeforeRestart);
    // (The card itself mentions the deciders: no reply of its own to send before or after the kill.)
    expect(after.filter((c) => c.method === 'chat.postMessage').map((c) => String(c.args.text).replace(/in \d+(ms|s)/, 'in T'))).toEqual(['✅ Job 1 succeeded in T. 2 artifacts.']);
    expect(fake.messageList().filter((m) => m.text?.startsWith('🔔'))).toHaveLength(0);
    const edited = new Set(after.filter((c) => c.method === 'chat.update').map((c) => c.args.ts));
    expect(edited).toEqual(new Set([root.message.ts, card.ts]));

    const cardNow = fake.message(CHANNEL, card.ts)!;
    expect(actionsBlock(cardNow.blocks)).toBeUndefined();
    expect(blockText(cardNow.blocks)).toContain('*Approved by u0bob*');
    expect(blockText(fake.message(CHANNEL, root.message.ts)!.blocks)).toMatch(/Succeeded in/);
    expect(threadLog(fake, CHANNEL, root.message.ts).map((line) => line.replace(/\d+ (sections|scenes|words)/g, 'N $1').replace(/in \d+(ms|s)/g, 'in T'))).toEqual([
      'upload ✅ outline done in T: Outline: N sections [outline: outline.md]',
      'card gate:1:outline:1 — waiting for <@U0BOB>',
      'upload ✅ script done in T: Script: N scenes, N words [script: script.md]',
      'notice ✅ Job 1 succeeded in T. 2 artifacts.',
    ]);
    // The root, the card and the closing summary (the files are uploads).
    expect(fake.messageList()).toHaveLength(3);
  });
});
