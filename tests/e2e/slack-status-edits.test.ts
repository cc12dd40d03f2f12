/**
 * The root message's status edits in Slack, on the real Bolt against the fake Slack: a job whose
 * stages report progress many times a second has its root edited at most once every
 * STATUS_EDIT_INTERVAL_MS, far fewer times than its status changes, and the root ends showing
 * how the job ended.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changesStatus } from '../../src/bot/deliver-batch.js';
import { STATUS_EDIT_INTERVAL_MS } from '../../src/bot/outbox-drainer.js';
import type { OutboxRow } from '../../src/store/store.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { ALICE, BOB, CHANNEL, blockText, drained, rootOf, slash, startSlackApp, waitForGateCard, type SlackHarness } from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeSlack;
let h: SlackHarness | undefined;

beforeEach(async () => {
  fake = await FakeSlack.start();
});

afterEach(async () => {
  await h?.stop();
  h = undefined;
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

/** Six stages that each pretend to work for 600 ms, reporting progress a few times, then a required gate and one more stage. */
const YAML = `
operators:
  editors: { slack: [${ALICE}, ${BOB}] }
submitters: [editors]
limits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: 4 }
pipelines:
  busy:
    description: many quick stages with progress, a gate, one more stage
    stages:
      - { id: outline, run: { builtin: outline, delay: 600ms } }
      - { id: script, run: { builtin: script, delay: 600ms } }
      - { id: storyboard, run: { builtin: storyboard, delay: 600ms } }
      - { id: assets, run: { builtin: assets, delay: 600ms } }
      - { id: audio, run: { builtin: audio, delay: 600ms } }
      - id: render
        run: { builtin: render, delay: 600ms }
        gate: { required: true, approvers: [editors] }
      - { id: publish, run: { builtin: outline } }
`;

describe('Slack root status edits', () => {
  it('a job of many quick stages: the root is edited at most once per interval, far fewer times than its status changes, and ends right', async () => {
    h = await startSlackApp({ fake, mode: 'http', yaml: YAML });
    const sent = await slash(fake, h.eventsUrl, { user: ALICE, text: 'submit busy Many quick stages' });
    expect(sent.res.status).toBe(200);
    const job = 1;

    // (That the card is not held back by a waiting root edit is shown deterministically in
    // tests/integration/status-edits.test.ts.)
    await waitForGateCard(fake, job, 'render');
    await slash(fake, h.eventsUrl, { user: BOB, text: `approve ${job} render` });
    await waitFor(async () => (await h!.app.store.jobs.load(job))!.job.state === 'succeeded', 'the job to succeed');
    await drained(h.app, job);

    const root = rootOf(fake, job)!;
    expect(blockText(fake.message(CHANNEL, root.message.ts)!.blocks)).toMatch(/Succeeded in/);
    const events = (await h.app.store.events.forJob(job));
    const statusChanges = events.filter((e) => changesStatus({ event: e } as OutboxRow)).length;
    const edits = fake.callsTo('chat.update').filter((c) => c.args.ts === root.message.ts);
    // Progress makes a couple of dozen changes; the root saw a few edits.
    expect(statusChanges).toBeGreaterThanOrEqual(20);
    expect(edits.length).toBeGreaterThan(0);
    expect(edits.length * 4, `${edits.length} root edits for ${statusChanges} status changes`).toBeLessThan(statusChanges);
    // Never two edits of the root within the interval (a little slack for the network).
    for (let i = 1; i < edits.length; i++) expect(edits[i]!.at - edits[i - 1]!.at).toBeGreaterThanOrEqual(STATUS_EDIT_INTERVAL_MS - 50);
    // The last edit came after the job finished: it is the trailing edit that shows the outcome.
    const finished = events.find((e) => e.type === 'job.finished')!;
    expect(edits.at(-1)!.at).toBeGreaterThanOrEqual(finished.at);
  });
});
