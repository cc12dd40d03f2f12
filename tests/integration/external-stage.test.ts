/**
 * External stages end to end in one process: a real signoff (SQLite file, engine, fastify on a
 * real port) notifies a real HTTP receiver, and the test plays the outside system, reporting
 * with the run token alone. On both stores (the same tests with jobs in PostgreSQL). Deadlines are moved with a fake clock and `(await engine.tick())`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { jobThread } from '../../src/bot/console/job-thread.js';
import { redactRunUrl } from '../../src/log.js';
import { ApiClient, latestGate, type Json } from '../helpers/api-client.js';
import { FakeClock, configFrom, silentLog } from '../helpers/fixtures.js';
import { STORES, appPlace, freshPlace, type StoreKind } from '../helpers/stores.js';
import { NotifyReceiver } from '../helpers/notify-receiver.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'test-token-0123456789';
let app: App | undefined;
let receiver: NotifyReceiver | undefined;
let dataDir: string | undefined;
/** The store the tests of the current block run on. */
let storeKind: StoreKind = 'sqlite';
let clock: FakeClock;
let api: ApiClient;
let logged = '';

function yaml(recv: string, extra = '') {
  return `
operators:
  editors: { console: [alice, bob] }
  viewers: { console: [dave] }
pipelines:
  manual:
    stages:
      - id: sign
        run: { external: { timeout: 2h } }
        gate: { required: true, approvers: [editors] }
  ci:
    stages:
      - id: build
        run: { builtin: outline }
      - id: deploy
        run:
          external:
            notify: { url: "${recv}/notify", cancel_url: "${recv}/cancel", headers: { x-ci-key: "ci-secret" } }
            timeout: 1h
            heartbeat: 1m
        retries: 1
        retry_backoff: 1s
        gate: { required: true, approvers: [editors] }
      - id: announce
        run: { builtin: script }
  handoff:
    stages:
      - id: kick
        run:
          command: ["sh", "-c", "env | grep '^SIGNOFF_\\\\(CALLBACK_URL\\\\|RUN_TOKEN\\\\)=' > \\"$HANDOFF_FILE\\"; echo started CI; echo ::external::"]
          env: { HANDOFF_FILE: "${extra}" }
          external: { timeout: 30m }
      - id: plain
        run:
          command: ["sh", "-c", "env | grep '^SIGNOFF_RUN_TOKEN=' > \\"$HANDOFF_FILE.plain\\"; echo done"]
          env: { HANDOFF_FILE: "${extra}" }
`;
}

async function boot(o: { maxUploadBytes?: number; logToBuffer?: boolean } = {}) {
  receiver = await new NotifyReceiver().start();
  const place = await freshPlace(storeKind, 'signoff-ext-');
  dataDir = place.dataDir;
  clock = new FakeClock();
  logged = '';
  const log = o.logToBuffer
    ? pino({ level: 'trace' }, new Writable({ write: (chunk, _e, next) => ((logged += chunk), next()) }))
    : silentLog;
  app = await startApp({
    config: configFrom(yaml(receiver.url, path.join(dataDir, 'handoff.env'))),
    ...appPlace(place), apiToken: TOKEN, log, host: '127.0.0.1', port: 0, clock, tickSchedule: false, notifyBackoffMs: 5,
    ...(o.maxUploadBytes ? { maxUploadBytes: o.maxUploadBytes } : {}),
  });
  api = new ApiClient(app.url, TOKEN);
  return api;
}

afterEach(async () => {
  await app?.stop();
  await receiver?.stop();
  app = undefined;
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Reports as the outside system does: no API token, only the run token in the path. */
const report = (token: string, what: string, body?: unknown) =>
  api.request('POST', `/api/v1/runs/${token}/${what}`, { token: null, ...(body !== undefined ? { json: body } : {}) });

async function submitAndWaitForNotify(n = 1): Promise<{ job: Json; notification: Json }> {
  const job = await api.submit('ship 1.4.2', { pipeline: 'ci' });
  await waitFor(() => receiver!.to('/notify').filter((p) => p.body.job === job.id).length >= n, 'the notification');
  const mine = receiver!.to('/notify').filter((p) => p.body.job === job.id);
  return { job, notification: mine[mine.length - 1]!.body };
}

const deployOf = (j: Json) => j.stages.find((s: Json) => s.id === 'deploy');

describe.each(STORES)('an external stage (%s)', (kind) => {
  beforeEach(() => {
    storeKind = kind;
  });

  it('notifies with the stage request and a token, retried through failures, and completes once with that token', async () => {
    await boot({ logToBuffer: true });
    receiver!.failFirst = 2;
    const { job, notification } = await submitAndWaitForNotify(3);
    const posts = receiver!.to('/notify');
    expect(posts).toHaveLength(3);
    // The same idempotency key on every attempt: the receiver can act once.
    expect(new Set(posts.map((p) => p.headers['idempotency-key']))).toEqual(new Set([`signoff-${job.id}-deploy-1`]));
    expect(posts[0]!.headers['x-ci-key']).toBe('ci-secret');
    expect(notification).toMatchObject({ job: job.id, pipeline: 'ci', stage: 'deploy', brief: 'ship 1.4.2', callback_url: app!.url, idempotency_key: `signoff-${job.id}-deploy-1` });
    expect(notification.inputs.map((i: Json) => i.stage)).toContain('build');
    expect(notification.inputs[0].path).toBeUndefined();
    const token = notification.token as string;
    expect(token).toMatch(/^sor_[A-Za-z0-9_-]{43}$/);

    const waiting = await api.waitForJob(job.id, (j) => deployOf(j)?.external?.notify === 'delivered', 'the notification to be delivered');
    expect(deployOf(waiting).external).toMatchObject({ waiting: true, message: 'waiting for an external system', seconds_since_heartbeat: 0 });

    // The console's status block says so, with the time since the last sign of life.
    clock.advance(30_000);
    const line = (await jobThread(app!.store, job.id, clock.now()))!.status.stages.find((s) => s.id === 'deploy')!;
    expect(line.note).toMatch(/^waiting for an external system · last sign of life 30s ago \(\d\d:\d\d:\d\d UTC\)$/);
    // The configuration the API shows hides the notification's headers (they may be credentials).
    expect((await api.get('/api/v1/config')).text).not.toContain('ci-secret');

    expect((await report(token, 'progress', { message: 'deploying to 3 hosts' })).status).toBe(200);
    expect((await report(token, 'heartbeat')).status).toBe(200);
    const done = await report(token, 'complete', { summary: 'deployed 1.4.2', outputs: { version: '1.4.2' } });
    expect(done.status, done.text).toBe(200);
    const atGate = await api.waitAtGate(job.id, 'deploy');
    expect(deployOf(atGate)).toMatchObject({ state: 'succeeded', summary: 'deployed 1.4.2' });
    // The same report again is fine; a different one is a conflict; either way nothing changes.
    expect((await report(token, 'complete', { outputs: { version: '1.4.2' }, summary: 'deployed 1.4.2' })).status).toBe(200);
    expect((await report(token, 'complete', { summary: 'deployed 1.4.3' })).status).toBe(409);
    expect((await report(token, 'fail', { error: 'oops' })).status).toBe(409);
    expect((await report(token, 'progress', { message: 'late' })).status).toBe(410);
    const events = await api.events(job.id);
    expect(events.filter((e) => e.type === 'stage.succeeded' && e.stage === 'deploy')).toHaveLength(1);
    expect(events.some((e) => e.type === 'stage.progress' && e.message === 'deploying to 3 hosts')).toBe(true);
    // The token is in no event and no log line (the logger ran at trace level).
    expect(JSON.stringify(events)).not.toContain(token);
    expect(logged).not.toContain(token);
    expect(logged).not.toContain(token.slice(4, 20));
    expect(redactRunUrl(`/api/v1/runs/${token}/complete?x=1`)).toBe('/api/v1/runs/[redacted]/complete?x=1');
    // Any log line of the HTTP server that carries a request has the token blotted out of its URL.
    app!.server.log.warn({ req: { method: 'POST', url: `/api/v1/runs/${token}/complete` } }, 'a request went wrong');
    expect(logged).toContain('/api/v1/runs/[redacted]/complete');
    expect(logged).not.toContain(token);
  });

  it('fails the attempt when the notification cannot be delivered after its retries, then notifies the retry', async () => {
    await boot();
    receiver!.failFirst = 6;
    const job = await api.submit('ship', { pipeline: 'ci' });
    const failed = await api.waitForJob(job.id, (j) => deployOf(j)?.state === 'retry_wait', 'the attempt to fail');
    expect(deployOf(failed).error).toMatch(/could not notify the external system: .*answered 500/);
    expect(receiver!.to('/notify')).toHaveLength(6);
    clock.advance(1_000);
    await app!.engine.tick();
    await waitFor(() => receiver!.to('/notify').length === 7, 'the retry to be notified');
    expect(receiver!.to('/notify')[6]!.body).toMatchObject({ run: 2, attempt: 2 });
  });

  it('lets a token act on its own run only: not another job, not a guess, not after the run finished', async () => {
    await boot();
    const a = await submitAndWaitForNotify();
    const b = await submitAndWaitForNotify();
    expect(a.notification.token).not.toBe(b.notification.token);
    const guessed = `sor_${'A'.repeat(43)}`;
    expect((await report('x'.repeat(150), 'complete', { summary: 'forged' })).status).toBe(414);
    for (const bad of [guessed, 'sor_short', 'x'.repeat(90), a.notification.token.slice(0, -1) + (a.notification.token.endsWith('A') ? 'B' : 'A')]) {
      const r = await report(bad, 'complete', { summary: 'forged' });
      expect(r.status, bad).toBe(404);
    }
    // A's token completes A, and only A.
    expect((await report(a.notification.token, 'complete', { summary: 'A done' })).status).toBe(200);
    await api.waitAtGate(a.job.id, 'deploy');
    const jobB = await api.job(b.job.id);
    expect(deployOf(jobB).state).toBe('running');
    // The API token opens nothing here, and a run token opens nothing of the API.
    expect((await api.request('POST', `/api/v1/runs/${TOKEN}/heartbeat`)).status).toBe(404);
    expect((await api.request('GET', `/api/v1/jobs/${a.job.id}`, { token: a.notification.token })).status).toBe(401);
  });

  it('makes the token useless at once when the job is cancelled, and tells cancel_url', async () => {
    await boot();
    const { job, notification } = await submitAndWaitForNotify();
    expect((await api.post(`/api/v1/jobs/${job.id}/cancel`)).status).toBe(200);
    const r = await report(notification.token, 'complete', { summary: 'too late' });
    expect(r.status).toBe(410);
    expect((await report(notification.token, 'heartbeat')).status).toBe(410);
    await waitFor(() => receiver!.to('/cancel').length === 1, 'the cancellation to reach cancel_url');
    expect(receiver!.to('/cancel')[0]!.body).toMatchObject({ event: 'cancelled', job: job.id, stage: 'deploy', run: 1, idempotency_key: `signoff-${job.id}-deploy-1` });
    expect((await api.job(job.id)).state).toBe('cancelled');
  });

  it('fails an attempt without a heartbeat, retries it with a new token and notification, and refuses the old token', async () => {
    await boot();
    const { job, notification } = await submitAndWaitForNotify();
    const first = notification.token as string;
    // A heartbeat pushes the deadline on.
    clock.advance(50_000);
    expect((await report(first, 'heartbeat')).status).toBe(200);
    clock.advance(50_000);
    await app!.engine.tick();
    expect(deployOf(await api.job(job.id)).state).toBe('running');
    // Then silence for more than a minute.
    clock.advance(61_000);
    await app!.engine.tick();
    const failed = await api.waitForJob(job.id, (j) => deployOf(j).state === 'retry_wait', 'the attempt to fail');
    expect(deployOf(failed).error).toMatch(/no heartbeat/);
    expect((await report(first, 'heartbeat')).status).toBe(410);
    await waitFor(() => receiver!.to('/cancel').length === 1, 'the expiry to reach cancel_url');
    clock.advance(1_000);
    await app!.engine.tick();
    await waitFor(() => receiver!.to('/notify').length === 2, 'the second notification');
    const second = receiver!.to('/notify')[1]!.body;
    expect(second).toMatchObject({ run: 2, attempt: 2, idempotency_key: `signoff-${job.id}-deploy-2` });
    expect(second.token).not.toBe(first);
    expect((await report(first, 'complete', { summary: 'old run' })).status).toBe(410);
    expect((await report(second.token, 'complete', { summary: 'second try' })).status).toBe(200);
    const atGate = await api.waitAtGate(job.id, 'deploy');
    expect(deployOf(atGate)).toMatchObject({ attempt: 2, summary: 'second try' });
  });

  it('fails the job when the retries run out, and a fail report counts as the attempt failing', async () => {
    await boot();
    const { job, notification } = await submitAndWaitForNotify();
    expect((await report(notification.token, 'fail', { error: 'build broke' })).status).toBe(200);
    expect((await report(notification.token, 'fail', { error: 'build broke' })).status).toBe(200);
    expect((await report(notification.token, 'complete', {})).status).toBe(409);
    await api.waitForJob(job.id, (j) => deployOf(j).state === 'retry_wait', 'the retry');
    clock.advance(1_000);
    await app!.engine.tick();
    await waitFor(() => receiver!.to('/notify').length === 2, 'the second notification');
    // No report within the timeout: the last attempt fails, and so does the job.
    clock.advance(3_600_000);
    await app!.engine.tick();
    const failed = await api.waitForJob(job.id, (j) => j.state === 'failed', 'the job to fail');
    expect(failed.error).toMatch(/did not report within the timeout/);
  });

  it('keeps uploaded artifacts of the run only when it completes; an oversized upload stores nothing', async () => {
    await boot({ maxUploadBytes: 1024 });
    const { job, notification } = await submitAndWaitForNotify();
    const put = (name: string, body: string | Buffer) =>
      fetch(`${app!.url}/api/v1/runs/${notification.token}/artifacts/${name}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
    const ok = await put('report.json', '{"hosts":3}');
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ name: 'report.json', size: 11, media_type: 'application/json' });
    const big = await put('big.bin', Buffer.alloc(4096, 1));
    expect(big.status).toBe(413);
    const runDir = path.join(dataDir!, 'artifacts', String(job.id), 'deploy', 'run-1');
    expect(fs.readdirSync(path.join(runDir, 'out'))).toEqual(['report.json']);
    expect(fs.readdirSync(path.join(runDir, 'uploads'))).toEqual([]);
    expect((await api.job(job.id)).artifacts.filter((a: Json) => a.stage === 'deploy')).toHaveLength(0);
    expect((await report(notification.token, 'complete', { summary: 'ok' })).status).toBe(200);
    const done = await api.waitAtGate(job.id, 'deploy');
    const artifact = done.artifacts.find((a: Json) => a.stage === 'deploy');
    expect(artifact).toMatchObject({ name: 'report.json', size: 11 });
    expect(await (await api.get(artifact.url)).text).toBe('{"hosts":3}');
    expect(latestGate(done, 'deploy')?.state).toBe('pending');
  });
});

describe.each(STORES)('a command stage that hands off (%s)', (kind) => {
  beforeEach(() => {
    storeKind = kind;
  });

  it('gets a token for its run only, hands off with ::external::, and is completed by the outside system', async () => {
    await boot();
    const envFile = path.join(dataDir!, 'handoff.env');
    const job = await api.submit('run the CI', { pipeline: 'handoff' });
    const waiting = await api.waitForJob(job.id, (j) => j.stages[0].external?.waiting === true, 'the hand-off');
    expect(waiting.stages[0].state).toBe('running');
    await waitFor(() => fs.existsSync(envFile) && fs.readFileSync(envFile, 'utf8').includes('SIGNOFF_RUN_TOKEN='), 'the environment file');
    const env = Object.fromEntries(fs.readFileSync(envFile, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env.SIGNOFF_CALLBACK_URL).toBe(app!.url);
    const token = env.SIGNOFF_RUN_TOKEN!;
    expect((await report(token, 'progress', { message: 'CI job 42 started' })).status).toBe(200);
    expect((await report(token, 'complete', { summary: 'CI passed' })).status).toBe(200);
    const done = await api.waitForJob(job.id, (j) => j.state === 'succeeded', 'the job to finish');
    expect(done.stages[0]).toMatchObject({ state: 'succeeded', summary: 'CI passed' });
    // The stage log of the command is kept, as for any command stage.
    expect(done.artifacts.map((a: Json) => a.name)).toContain('kick.log');
    // A command stage without an `external:` block gets no token at all.
    expect(fs.readFileSync(`${envFile}.plain`, 'utf8').trim()).toBe('');
  });
});

describe.each(STORES)('an external stage without notify (%s)', (kind) => {
  beforeEach(() => {
    storeKind = kind;
  });

  it('hands its token to someone who may manage the job, through the API, and to no one else', async () => {
    await boot();
    const job = await api.submit('sign the release', { pipeline: 'manual', actor: 'console:alice' });
    await api.waitForJob(job.id, (j) => j.stages[0].external?.waiting === true, 'the wait');
    const mint = (actor?: string) => api.post(`/api/v1/jobs/${job.id}/stages/sign/run-token`, actor ? { actor } : {});
    expect((await mint('console:dave')).status).toBe(403);
    expect((await api.request('POST', `/api/v1/jobs/${job.id}/stages/sign/run-token`, { token: null })).status).toBe(401);
    expect((await api.post(`/api/v1/jobs/${job.id}/stages/nope/run-token`)).status).toBe(409);
    const minted = await mint('console:alice');
    expect(minted.status).toBe(201);
    expect(minted.body).toMatchObject({ job: job.id, stage: 'sign', run: 1, callback_url: app!.url, token: expect.stringMatching(/^sor_/) });
    expect((await report(minted.body.token, 'complete', { summary: 'signed by hand' })).status).toBe(200);
    await api.waitAtGate(job.id, 'sign');
    expect((await mint()).status).toBe(409);
    expect(JSON.stringify(await api.events(job.id))).not.toContain(minted.body.token);
  });
});
