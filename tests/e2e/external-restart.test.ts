/**
 * External runs across a SIGKILL of signoff (a real process): a waiting run keeps waiting (it is
 * not run again), its token still works and its deadlines still hold after the restart; a
 * notification cut off by the kill is sent again with the same idempotency key, and the run
 * still completes once. On both stores.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Json } from '../helpers/api-client.js';
import { tempDir } from '../helpers/fixtures.js';
import { NotifyReceiver } from '../helpers/notify-receiver.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { STORES, storeEnv, type StoreKind } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

let running: SignoffProcess[] = [];
let receiver: NotifyReceiver | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.map((p) => p.kill()));
  running = [];
  await receiver?.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function setup(kind: StoreKind) {
  receiver = await new NotifyReceiver().start();
  const dir = tempDir('signoff-ext-restart-');
  dirs.push(dir);
  const configPath = writeConfig(dir, `
pipelines:
  slow:
    stages:
      - id: render
        run: { external: { notify: { url: "${receiver.url}/notify" }, timeout: 2h, heartbeat: 1h } }
  lively:
    stages:
      - id: render
        run: { external: { notify: { url: "${receiver.url}/notify" }, timeout: 2h, heartbeat: 3s } }
`);
  const dataDir = path.join(dir, 'data');
  const env = await storeEnv(kind);
  const start = async () => {
    const p = await startSignoff({ configPath, dataDir, env });
    running.push(p);
    return p;
  };
  return { start };
}

/** Reports with the run token alone. */
const report = (p: SignoffProcess, token: string, what: string, body: unknown = {}) =>
  fetch(`${p.url}/api/v1/runs/${token}/${what}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);

const notifications = (job: number) => receiver!.to('/notify').filter((n) => n.body.job === job);

describe.each(STORES)('external runs across a restart (%s)', (kind) => {
  it('keep waiting with their tokens and deadlines; a missed heartbeat still fails its attempt', async () => {
    const { start } = await setup(kind);
    let p = await start();
    const slow = (await p.api('POST', '/jobs', { pipeline: 'slow', brief: 'a long render' })).json.job.id as number;
    const lively = (await p.api('POST', '/jobs', { pipeline: 'lively', brief: 'a render that must keep talking' })).json.job.id as number;
    await waitFor(() => notifications(slow).length === 1 && notifications(lively).length === 1, 'both notifications');
    const token = notifications(slow)[0]!.body.token as string;
    expect(await report(p, token, 'progress', { message: 'frame 10 of 100' })).toBe(200);
    const before: Json = (await waitFor(async () => {
      const j = (await p.api('GET', `/jobs/${slow}`)).json;
      return j.stages[0].external?.notify === 'delivered' && j;
    }, 'the notification to be recorded as delivered'));

    expect(await p.kill('SIGKILL')).toBe(null);
    p = await start();

    const after = (await p.api('GET', `/jobs/${slow}`)).json;
    expect(after.stages[0]).toMatchObject({ state: 'running', run: 1 });
    expect(after.stages[0].external.timeout_at).toBe(before.stages[0].external.timeout_at);
    expect(after.stages[0].external.heartbeat_deadline_at).toBe(before.stages[0].external.heartbeat_deadline_at);
    const events = (await p.api('GET', `/jobs/${slow}/events`)).json.events as Json[];
    expect(events.some((e) => e.type === 'stage.recovered')).toBe(false);
    // A delivered notification is not sent again.
    expect(notifications(slow)).toHaveLength(1);
    expect(await report(p, token, 'heartbeat')).toBe(200);

    // The other run's heartbeat deadline, set before the kill, still fails its attempt.
    const failed = await waitFor(async () => {
      const j = (await p.api('GET', `/jobs/${lively}`)).json;
      return j.state === 'failed' && j;
    }, 'the silent run to fail on its heartbeat deadline');
    expect(failed.stages[0].error).toMatch(/no heartbeat/);

    expect(await report(p, token, 'complete', { summary: 'rendered' })).toBe(200);
    await waitFor(async () => (await p.api('GET', `/jobs/${slow}`)).json.state === 'succeeded', 'the job to succeed');
  });

  it('sends a notification cut off by the kill again, with the same idempotency key; the run completes once', async () => {
    const { start } = await setup(kind);
    receiver!.hang = true;
    let p = await start();
    const job = (await p.api('POST', '/jobs', { pipeline: 'slow', brief: 'render' })).json.job.id as number;
    await waitFor(() => notifications(job).length === 1, 'the first notification to arrive');
    expect(await p.kill('SIGKILL')).toBe(null);
    receiver!.hang = false;
    p = await start();
    await waitFor(() => notifications(job).length === 2, 'the notification to be sent again');
    const [first, second] = notifications(job).map((n) => n.body);
    expect(second.idempotency_key).toBe(first.idempotency_key);
    // The receiver may have acted on either: both tokens belong to the one run.
    expect(second.token).not.toBe(first.token);
    expect(await report(p, first.token, 'complete', { summary: 'rendered' })).toBe(200);
    expect(await report(p, second.token, 'complete', { summary: 'rendered' })).toBe(200);
    expect(await report(p, second.token, 'complete', { summary: 'other' })).toBe(409);
    const events = (await p.api('GET', `/jobs/${job}/events`)).json.events as Json[];
    expect(events.filter((e) => e.type === 'stage.succeeded')).toHaveLength(1);
    expect((await p.api('GET', `/jobs/${job}`)).json.state).toBe('succeeded');
  });
});
