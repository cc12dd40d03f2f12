/**
 * Reviewing a redo on Discord, end to end (real discord.js against the fake Discord, a command
 * stage whose output depends on SIGNOFF_REDO_REASON): the round-2 gate message shows the counts
 * and a ```diff excerpt, the full `.diff` is attached in the thread exactly once, and "Approve
 * with note…" opens a modal whose note shows, inert, on the decided message.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALICE_ID, BOB_ID, FakeDiscord } from '../helpers/fake-discord.js';
import { deferredAnswer, drained, gateMessages, postedGate, startDiscordApp, threadOf, visibleText, type DiscordHarness } from '../helpers/discord-harness.js';
import { operatorsDiscord, redoPipelines } from '../helpers/redo-pipeline.js';
import { waitFor } from '../helpers/wait.js';
import { sqliteOnly } from '../../src/store/store.js';

let fake: FakeDiscord;
let h: DiscordHarness | undefined;

beforeEach(async () => {
  fake = await FakeDiscord.start();
});

afterEach(async () => {
  await h?.stop();
  h = undefined;
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

async function slash(user: string, subcommand: string, options: Record<string, string | number>) {
  const payload = fake.slashCommand({ subcommand, options, user });
  await fake.dispatchInteraction(payload);
  const answer = await deferredAnswer(fake, String(payload.id), `the answer to /signoff ${subcommand}`);
  return { answer, job: Number(/Job (\d+)/.exec(answer.content)?.[1] ?? NaN) };
}

describe('a redo reviewed on Discord', () => {
  it('shows what changed since the rejected round, attaches the .diff once, and takes an approval note', async () => {
    h = await startDiscordApp({ fake, yaml: `${operatorsDiscord(ALICE_ID, BOB_ID)}\nlimits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: 4 }\npipelines:${redoPipelines()}\n` });
    const app = h.app;
    const { job } = await slash(ALICE_ID, 'submit', { pipeline: 'redo', brief: 'A film about bees' });
    const round1 = await postedGate(fake, job, 'write');
    await drained(app, job);
    expect(visibleText(round1.body)).not.toContain('Changes since');

    await fake.dispatchInteraction(fake.button({ custom_id: round1.buttons.Reject!.custom_id, message: round1.id, user: BOB_ID }));
    await fake.dispatchInteraction(fake.modalSubmit({ custom_id: `sg:reject:${job}:write:1`, fields: { reason: 'make the ending shorter' }, user: BOB_ID }));
    await waitFor(async () => (await app.store.jobs.load(job))!.job.state === 'rejected', 'the job to be rejected');
    await slash(ALICE_ID, 'retry', { job });

    const round2 = await postedGate(fake, job, 'write', 2);
    await drained(app, job);
    const field = ((round2.body as { embeds: { fields: unknown }[] }).embeds[0]!.fields as { name: string; value: string }[]).find((f) => f.name === '🔁 Changes since round 1')!;
    expect(field.value).toContain('data.bin changed; frame.svg changed; +1 −1 lines in script.md; sound.wav unchanged; write.log unchanged');
    expect(field.value).toContain('```diff\n@@ script.md\n');
    expect(field.value).toContain('- The end comes slowly, over many long and winding minutes.');
    // In the code block nothing renders; the mention is broken so it cannot even look like one.
    expect(field.value).toContain('+ The end. <!here> @\u200beveryone **bold**');
    expect(field.value.length).toBeLessThanOrEqual(1024);
    expect(visibleText(round2.body)).toContain('**Redo asked for:** make the ending shorter');
    // Only the card's own mention of its decider (Alice submitted) may ping; nothing from the diff.
    expect(round2.body.allowed_mentions).toEqual({ parse: [], users: [BOB_ID], roles: [] });
    expect(round2.body.content).toBe(`✋ Approval needed: write of job ${job} (round 2) — waiting for <@${BOB_ID}>`);

    // The full diff is attached once in the job's thread.
    const thread = threadOf(fake, job)!;
    const withDiff = fake.messagesIn(thread.id).filter((m) => m.attachments.some((a) => a.filename === 'write-round-2.diff'));
    expect(withDiff).toHaveLength(1);
    expect(withDiff[0]!.content).toBe('📄 The full diff of round 2 since round 1.');
    const patch = fake.filesOf(withDiff[0]!.id).find((f) => f.name === 'write-round-2.diff')!.bytes.toString('utf8');
    expect(patch).toContain('-The end comes slowly, over many long and winding minutes.\n+The end. <!here> @everyone **bold**');

    // As if signoff had died after Discord took the post but before its id was stored: the next
    // delivery of the card posts with the same nonce and gets the same message back.
    sqliteOnly(app.store).db.prepare("DELETE FROM chat_refs WHERE target = 'discord' AND key = 'diff:write:2'").run();

    // Approve with note…: a modal, then the note on the decided message, escaped.
    expect(Object.keys(round2.buttons)).toEqual(['Approve', 'Approve with note…', 'Reject']);
    const modal = await fake.dispatchInteraction(fake.button({ custom_id: round2.buttons['Approve with note…']!.custom_id, message: round2.id, user: BOB_ID }));
    expect(modal).toMatchObject({ type: 9, accepted: true });
    expect(modal.data).toMatchObject({ custom_id: `sn:note:${job}:write:2` });
    const note = 'fine, but check the intro timing @everyone <@&456> **loud**';
    const answered = await fake.dispatchInteraction(fake.modalSubmit({ custom_id: `sn:note:${job}:write:2`, fields: { note }, user: BOB_ID }));
    expect(String(answered.data?.content)).toBe(`Approved "write" of job ${job}.`);
    await waitFor(async () => (await app.store.jobs.load(job))!.job.state === 'succeeded', 'the job to finish');
    await drained(app, job);
    const decided = gateMessages(fake, job, 'write', 2)[0]!;
    expect(decided.components).toEqual([]);
    const text = visibleText(decided);
    expect(text).toContain('**Approved by Bob**');
    expect(text).toContain('Reason: “fine, but check the intro timing @\u200beveryone <@\u200b&456> \\*\\*loud\\*\\*”');
    expect(fake.messagesIn(thread.id).filter((m) => m.attachments.some((a) => a.filename === 'write-round-2.diff'))).toHaveLength(1);
    expect((await app.store.outbox.getRef('discord', job, 'diff:write:2'))?.messageId).toBe(withDiff[0]!.id);
  });
});
