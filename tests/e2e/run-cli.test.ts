/**
 * `signoff run …` as a script on another machine uses it: a separate process (the built
 * dist/main.js) with only signoff's URL and a run token in its environment, run from a directory
 * that has nothing to do with signoff's data. Exit codes are what a shell script tests.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { ApiClient, type Json } from '../helpers/api-client.js';
import { configFrom, silentLog, tempDir } from '../helpers/fixtures.js';
import { NotifyReceiver } from '../helpers/notify-receiver.js';
import { freePort, REPO } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'test-token-0123456789';
let app: App;
let receiver: NotifyReceiver;
let api: ApiClient;
let dataDir: string;
let elsewhere: string;

beforeAll(async () => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  receiver = await new NotifyReceiver().start();
  dataDir = tempDir('signoff-cli-data-');
  elsewhere = tempDir('signoff-cli-ci-');
  app = await startApp({
    config: configFrom(`
pipelines:
  ci:
    stages:
      - id: deploy
        run: { external: { notify: { url: "${receiver.url}/notify" }, timeout: 1h } }
`),
    dataDir, apiToken: TOKEN, log: silentLog, host: '127.0.0.1', port: 0, tickSchedule: false, notifyBackoffMs: 5,
  });
  api = new ApiClient(app.url, TOKEN);
});

afterAll(async () => {
  await app?.stop();
  await receiver?.stop();
  for (const dir of [dataDir, elsewhere]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `signoff run …` with only PATH and the given variables, in a directory of its own. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO, 'dist', 'main.js'), 'run', ...args], { cwd: elsewhere, env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

async function waitingRun(): Promise<{ job: Json; token: string }> {
  const job = await api.submit('deploy', { pipeline: 'ci' });
  await waitFor(() => receiver.to('/notify').find((p) => p.body.job === job.id), 'the notification');
  return { job, token: receiver.to('/notify').find((p) => p.body.job === job.id)!.body.token };
}

describe('signoff run', () => {
  it('exits 2 with usage when the command, the URL or the token is missing', async () => {
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('usage: signoff run');
    expect((await cli(['launch'], { SIGNOFF_URL: app.url, SIGNOFF_RUN_TOKEN: 'sor_x' })).code).toBe(2);
    const noToken = await cli(['heartbeat'], { SIGNOFF_URL: app.url });
    expect(noToken.code).toBe(2);
    expect(noToken.err).toContain('SIGNOFF_RUN_TOKEN');
    expect((await cli(['progress'], { SIGNOFF_URL: app.url, SIGNOFF_RUN_TOKEN: 'sor_x' })).code).toBe(2);
    expect((await cli(['complete', '--outputs', '[1]'], { SIGNOFF_URL: app.url, SIGNOFF_RUN_TOKEN: 'sor_x' })).code).toBe(2);
  });

  it('exits 3 when signoff cannot be reached, and 1 for a wrong token', async () => {
    const port = await freePort();
    const down = await cli(['heartbeat', '--url', `http://127.0.0.1:${port}`, '--token', `sor_${'a'.repeat(43)}`]);
    expect(down.code).toBe(3);
    expect(down.err).toContain('cannot reach signoff');
    const wrong = await cli(['heartbeat'], { SIGNOFF_URL: app.url, SIGNOFF_RUN_TOKEN: `sor_${'a'.repeat(43)}` });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('wrong token');
  });

  it('reports progress, uploads artifacts from a directory signoff cannot see, and completes; the run then refuses more', async () => {
    const { job, token } = await waitingRun();
    const env = { SIGNOFF_URL: app.url, SIGNOFF_RUN_TOKEN: token };
    const progress = await cli(['progress', 'building', 'the', 'image'], env);
    expect(progress.code, progress.err).toBe(0);
    await waitFor(async () => (await api.events(job.id)).some((e) => e.type === 'stage.progress' && e.message === 'building the image'), 'the progress event');
    expect((await cli(['heartbeat'], env)).code).toBe(0);

    fs.writeFileSync(path.join(elsewhere, 'report.md'), '# Deployed\n3 hosts\n');
    fs.writeFileSync(path.join(elsewhere, 'image.bin'), Buffer.alloc(200_000, 7));
    const missing = await cli(['complete', '--artifact', 'nope.txt'], env);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('nope.txt');
    const done = await cli(['complete', '--summary', 'deployed 1.4.2', '--outputs', '{"version":"1.4.2"}', '--artifact', 'report.md', '--artifact', 'image.bin'], env);
    expect(done.code, done.err).toBe(0);
    expect(done.out).toContain('uploaded report.md');
    const finished = await api.waitForJob(job.id, (j) => j.state === 'succeeded', 'the job to succeed');
    const image = finished.artifacts.find((a: Json) => a.name === 'image.bin');
    expect(image.sha256).toBe(createHash('sha256').update(Buffer.alloc(200_000, 7)).digest('hex'));
    expect(finished.artifacts.map((a: Json) => a.name).sort()).toEqual(['image.bin', 'report.md']);
    expect(finished.stages[0].summary).toBe('deployed 1.4.2');

    // The same completion again is fine (a retried script); anything else is refused.
    expect((await cli(['complete', '--summary', 'deployed 1.4.2', '--outputs', '{"version":"1.4.2"}'], env)).code).toBe(0);
    const conflicting = await cli(['complete', '--summary', 'deployed 9.9.9'], env);
    expect(conflicting.code).toBe(1);
    const late = await cli(['progress', 'still going'], env);
    expect(late.code).toBe(1);
    expect(late.err).toContain('the run is over');
  });
});
