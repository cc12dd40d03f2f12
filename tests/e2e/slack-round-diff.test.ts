/**
 * Reviewing a redo on Slack, end to end (HTTP mode, the real Bolt against the fake Slack, a
 * command stage whose output depends on SIGNOFF_REDO_REASON): the round-2 card shows the
 * rejection reason, the counts and an escaped excerpt of what changed; the full `.diff` is
 * uploaded into the thread exactly once; "Approve with note…" opens a dialog whose note shows,
 * inert, on the decided card.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSlack } from '../helpers/fake-slack.js';
import { OPERATORS_SLACK, redoPipelines } from '../helpers/redo-pipeline.js';
import {
  ALICE, BOB, CHANNEL, actionsBlock, asPosted, blockText, buttons, clickPayload, drained, gateCards, interact, responsesTo, rootOf, slash,
  startSlackApp, threadLog, waitForGateCard, type PostedCard, type SlackHarness,
} from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';
import { STORES, freshPlace } from '../helpers/stores.js';

let fake: FakeSlack;
let h: SlackHarness;

beforeEach(async () => {
  fake = await FakeSlack.start();
});

afterEach(async () => {
  await h?.stop();
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

async function command(user: string, text: string) {
  const sent = await slash(fake, h.eventsUrl, { user, text });
  expect(sent.res.status).toBe(200);
  const answer = await waitFor(() => responsesTo(fake, sent.fields.response_url!)[0], `the answer to "/signoff ${text}"`);
  return { answer, job: Number(/Job (\d+)/.exec(answer.text)?.[1] ?? NaN) };
}

async function click(card: PostedCard, label: string, user: string) {
  const button = buttons(card.blocks)[label];
  if (!button) throw new Error(`no ${label} button on the card (buttons: ${Object.keys(buttons(card.blocks)).join(', ')})`);
  const res = await interact(h.eventsUrl, clickPayload(fake, card, button, user));
  expect(res.status).toBe(200);
}

const input = (block: string, value: string) => ({ [block]: { [block]: { type: 'plain_text_input', value } } });

// On PostgreSQL the artifacts' contents are in the database: the excerpt, the diff, the uploaded
// files and the SVG's preview are all read through it.
describe.each(STORES)('a redo reviewed on Slack (%s)', (kind) => {
  it('shows what changed since the rejected round on the card and as a .diff in the thread, and takes an approval note', async () => {
    const place = await freshPlace(kind, 'signoff-slack-diff-');
    h = await startSlackApp({ fake, mode: 'http', dataDir: place.dataDir, ...(place.databaseUrl ? { databaseUrl: place.databaseUrl } : {}), yaml: `${OPERATORS_SLACK}\nlimits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: 4 }\npipelines:${redoPipelines()}\n` });
    const { job } = await command(ALICE, 'submit redo A film about bees');
    const first = asPosted(await waitForGateCard(fake, job, 'write', 1));
    await drained(h.app, job);
    // Round 1 has nothing to compare with.
    expect(blockText(first.blocks)).not.toContain('Changes since');
    // The stage's files went up with their bytes, and the SVG as a PNG drawn from it.
    const script = fake.uploads.find((u) => u.filename === 'script.md');
    expect(script?.bytes.toString('utf8')).toContain('The end comes slowly');
    const preview = fake.uploads.find((u) => u.filename === 'frame-preview.png');
    expect(preview?.bytes.subarray(1, 4).toString('latin1')).toBe('PNG');

    await click(first, 'Reject', BOB);
    await waitFor(() => fake.views.find((v) => v.view.callback_id === 'signoff_reject'), 'the reject dialog');
    await interact(h.eventsUrl, fake.viewSubmission({ user: BOB, callback_id: 'signoff_reject', values: input('reason', 'make the ending shorter') }));
    await waitFor(async () => (await h.app.store.jobs.load(job))!.job.state === 'rejected', 'the job to be rejected');
    await command(ALICE, `retry ${job}`);

    const second = asPosted(await waitForGateCard(fake, job, 'write', 2));
    await drained(h.app, job);
    const text = blockText(second.blocks);
    expect(text).toContain('*Redo asked for:* make the ending shorter');
    expect(text).toContain('*Changes since round 1:* data.bin changed; frame.svg changed; +1 −1 lines in script.md; sound.wav unchanged; write.log unchanged');
    expect(text).toMatch(/```\n@@ script\.md\n/);
    expect(text).toContain('- The end comes slowly, over many long and winding minutes.');
    // Text from the artifact is escaped like anything a person typed: the mention stays inert.
    expect(text).toContain('+ The end. &lt;!here&gt; @everyone **bold**');
    expect(text).not.toContain('<!here>');

    // The full diff is in the thread, once, under the card.
    const rootTs = rootOf(fake, job)!.message.ts;
    const diffs = fake.uploads.filter((u) => u.filename === 'write-round-2.diff');
    expect(diffs).toHaveLength(1);
    expect(diffs[0]!.threadTs).toBe(rootTs);
    const patch = diffs[0]!.bytes.toString('utf8');
    expect(patch).toContain('--- a/script.md\n+++ b/script.md');
    expect(patch).toContain('-The end comes slowly, over many long and winding minutes.\n+The end. <!here> @everyone **bold**');
    expect(patch).toContain('Binary files a/data.bin and b/data.bin differ');
    const log = threadLog(fake, CHANNEL, rootTs);
    expect(log.indexOf(`card gate:${job}:write:2`)).toBeLessThan(log.indexOf('upload 📄 The full diff of round 2 since round 1. [write: changes in round 2 since round 1]'));

    // As if signoff had died after Slack took the upload but before its id was stored: the next
    // edit of the card finds the upload in the thread instead of uploading it again.
    const stored = (await h.app.store.outbox.getRef('slack', job, 'diff:write:2'))!;
    expect(stored.messageId).toMatch(/^F/);
    await h.app.store.outbox.putRef('slack', job, 'diff:write:2', { ...stored, messageId: 'pending' });

    // Approve with note…: a dialog, then the note (mentions and markup inert) on the decided card.
    expect(Object.keys(buttons(second.blocks))).toEqual(['Approve', 'Approve with note…', 'Reject']);
    await click(second, 'Approve with note…', BOB);
    const dialog = await waitFor(() => fake.views.find((v) => v.view.callback_id === 'signoff_approve_note'), 'the note dialog');
    expect(JSON.parse(String(dialog.view.private_metadata))).toMatchObject({ job, stage: 'write', round: 2 });
    const note = 'fine, but check the intro timing <!channel> <@U0ALICE> *loud*';
    const sent = await interact(h.eventsUrl, fake.viewSubmission({ user: BOB, callback_id: 'signoff_approve_note', values: input('note', note) }));
    expect(sent.status).toBe(200);
    await waitFor(async () => (await h.app.store.jobs.load(job))!.job.state === 'succeeded', 'the job to finish');
    await drained(h.app, job);
    const decided = gateCards(fake, job, 'write', 2)[0]!.message;
    expect(actionsBlock(decided.blocks)).toBeUndefined();
    const decidedText = blockText(decided.blocks);
    expect(decidedText).toContain('*Approved by u0bob*');
    expect(decidedText).toContain('“fine, but check the intro timing &lt;!channel&gt; &lt;@U0ALICE&gt; *loud*”');
    expect(decidedText).not.toContain('<!channel>');
    // Edits of the card never upload the diff again, even after the lost id.
    expect(fake.uploads.filter((u) => u.filename === 'write-round-2.diff')).toHaveLength(1);
    expect((await h.app.store.outbox.getRef('slack', job, 'diff:write:2'))!.messageId).toBe(stored.messageId);
  });
});
