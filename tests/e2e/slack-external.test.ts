/**
 * A stage waiting for an external system, as a Slack channel sees it: the job's root message
 * (real @slack/bolt against the fake Slack) says the stage waits for an external system and
 * when it last gave a sign of life, and never shows the run's token.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSlack } from '../helpers/fake-slack.js';
import { API_TOKEN, CHANNEL, blockText, startSlackApp, type SlackHarness } from '../helpers/slack-harness.js';
import { NotifyReceiver } from '../helpers/notify-receiver.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeSlack;
let receiver: NotifyReceiver;
let h: SlackHarness | undefined;

beforeEach(async () => {
  fake = await FakeSlack.start();
  receiver = await new NotifyReceiver().start();
});
afterEach(async () => {
  await h?.stop();
  await fake.close();
  await receiver.stop();
});

describe('Slack status of an external stage', () => {
  it('says the stage waits for an external system, with its last sign of life, and leaks no token', async () => {
    h = await startSlackApp({
      fake,
      mode: 'http',
      yaml: `
operators:
  editors: { slack: [U0ALICE] }
channels: { slack: ${CHANNEL} }
pipelines:
  ci:
    stages:
      - id: deploy
        name: Deploy on CI
        run: { external: { notify: { url: "${receiver.url}/notify" }, heartbeat: 10m } }
`,
    });
    const res = await fetch(`${h.app.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pipeline: 'ci', brief: 'ship it' }),
    });
    const job = ((await res.json()) as { job: { id: number } }).job.id;
    await waitFor(() => receiver.to('/notify').length === 1, 'the notification');
    const token = receiver.to('/notify')[0]!.body.token as string;
    const root = await waitFor(() => {
      const m = [...fake.messages.values()].find((msg) => msg.thread_ts === undefined && blockText(msg.blocks).includes(`Job ${job}`));
      return m && /waiting for an external system · last sign of life \S+ ago \(\d\d:\d\d:\d\d UTC\)/.test(blockText(m.blocks)) && m;
    }, 'the root message to show the external wait');
    expect(blockText(root.blocks)).toContain('Deploy on CI');
    const everything = JSON.stringify([...fake.messages.values()]);
    expect(everything).not.toContain(token);
  });
});
