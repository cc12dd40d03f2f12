/**
 * The root message's status edits in Discord, on the real discord.js against the fake Discord: a
 * job whose stages report progress many times a second has its root edited at most once every
 * STATUS_EDIT_INTERVAL_MS, far fewer times than its status changes, and the root ends showing how
 * the job ended.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changesStatus } from '../../src/bot/deliver-batch.js';
import { STATUS_EDIT_INTERVAL_MS } from '../../src/bot/outbox-drainer.js';
import type { OutboxRow } from '../../src/store/store.js';
import { ALICE_ID, CHANNEL_ID, FakeDiscord } from '../helpers/fake-discord.js';
import { drained, performed, rootOf, startDiscordApp, type DiscordHarness } from '../helpers/discord-harness.js';
import { waitFor } from '../helpers/wait.js';

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

const YAML = `
operators:
  editors: { discord: ["${ALICE_ID}"] }
submitters: [editors]
limits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: 4 }
pipelines:
  busy:
    description: many quick stages with progress
    stages:
      - { id: outline, run: { builtin: outline, delay: 600ms } }
      - { id: script, run: { builtin: script, delay: 600ms } }
      - { id: storyboard, run: { builtin: storyboard, delay: 600ms } }
      - { id: assets, run: { builtin: assets, delay: 600ms } }
      - { id: audio, run: { builtin: audio, delay: 600ms } }
      - { id: render, run: { builtin: render, delay: 600ms } }
`;

describe('Discord root status edits', () => {
  it('a job of many quick stages: the root is edited at most once per interval, far fewer times than its status changes, and ends right', async () => {
    h = await startDiscordApp({ fake, yaml: YAML });
    const r = (await h.app.engine.submit({ platform: 'discord', user: ALICE_ID, display: 'alice' }, { pipeline: 'busy', brief: 'Many quick stages', origin: { surface: 'discord', channel: CHANNEL_ID } }));
    if (!r.ok) throw new Error(r.message);
    await waitFor(async () => (await h!.app.store.jobs.load(r.jobId))!.job.state === 'succeeded', 'the job to succeed');
    await drained(h.app, r.jobId);

    const root = rootOf(fake, r.jobId)!;
    expect(root.content).toMatch(/^✅ Job 1 · busy: Succeeded in/);
    const events = (await h.app.store.events.forJob(r.jobId));
    const statusChanges = events.filter((e) => changesStatus({ event: e } as OutboxRow)).length;
    const edits = fake.callsTo('PATCH', `/channels/${CHANNEL_ID}/messages/${root.id}`).filter(performed);
    expect(statusChanges).toBeGreaterThanOrEqual(20);
    expect(edits.length).toBeGreaterThan(0);
    expect(edits.length * 4, `${edits.length} root edits for ${statusChanges} status changes`).toBeLessThan(statusChanges);
    for (let i = 1; i < edits.length; i++) expect(edits[i]!.at - edits[i - 1]!.at).toBeGreaterThanOrEqual(STATUS_EDIT_INTERVAL_MS - 50);
    expect(edits.at(-1)!.at).toBeGreaterThanOrEqual(events.find((e) => e.type === 'job.finished')!.at);
  });
});
