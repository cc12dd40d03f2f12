/**
 * The REST API end to end, as an API user meets it: a real signoff (SQLite file, engine, fastify
 * on a real port) per test, driven with `fetch`. Everything but authentication runs on both stores
 * (the same tests with jobs in a real PostgreSQL database). Timers are fired by moving a fake clock and
 * calling `(await engine.tick())`; everything else is waited for by polling the API.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { ApiClient, latestGate, type Json, type SseStream } from '../helpers/api-client.js';
import { FakeClock, QUICK_PIPELINE, configFrom, silentLog } from '../helpers/fixtures.js';
import { STORES, appPlace, freshPlace, type StoreKind } from '../helpers/stores.js';

const TOKEN = 'test-token-0123456789';

let app: App | undefined;
let dataDir: string | undefined;
/** The store the tests of the current block run on. */
let storeKind: StoreKind = 'sqlite';
let clock: FakeClock;
let api: ApiClient;
const streams: SseStream[] = [];

async function boot(yaml = QUICK_PIPELINE): Promise<ApiClient> {
  const place = await freshPlace(storeKind, 'signoff-api-');
  dataDir = place.dataDir;
  clock = new FakeClock();
  app = await startApp({
    config: configFrom(yaml),
    ...appPlace(place),
    apiToken: TOKEN,
    log: silentLog,
    host: '127.0.0.1',
    port: 0,
    clock,
    tickSchedule: false,
  });
  api = new ApiClient(app.url, TOKEN);
  return api;
}

/** Opens an SSE stream that is closed after the test even when it fails. */
async function openStream(path: string, o: Parameters<ApiClient['stream']>[1] = {}): Promise<SseStream> {
  const s = await api.stream(path, o);
  streams.push(s);
  return s;
}

afterEach(async () => {
  // Open event streams first: the server waits for its connections when it closes.
  await Promise.all(streams.splice(0).map((s) => s.close()));
  await app?.stop();
  app = undefined;
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const typesOf = (events: Json[]) => events.map((e) => e.type as string);

/** True when `expected` appears in `actual` in this order (other items may come between). */
function inOrder(actual: string[], expected: string[]): boolean {
  let i = 0;
  for (const item of actual) if (item === expected[i]) i++;
  return i === expected.length;
}

/** Runs a fresh job through the optional outline gate (by the timer) to the script gate. */
async function jobAtScriptGate(o: { actor?: string; brief?: string } = {}): Promise<Json> {
  const job = await api.submit(o.brief ?? 'Explain heat pumps to homeowners who heat with gas', o.actor ? { actor: o.actor } : {});
  await api.waitAtGate(job.id, 'outline');
  clock.advance(31_000);
  await app!.engine.tick();
  return api.waitAtGate(job.id, 'script');
}

describe('authentication', () => {
  it('refuses a request without a token with 401 and a message saying what to send', async () => {
    await boot();
    const r = await api.get('/api/v1/jobs', { token: null });
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('unauthorized');
    expect(r.body.message).toMatch(/Authorization: Bearer/);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('refuses a wrong token with 401, also on POST', async () => {
    await boot();
    const wrong = await api.get('/api/v1/jobs', { token: 'not-the-token-at-all' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.message).toMatch(/token is wrong/i);
    const post = await api.post('/api/v1/jobs', { token: 'not-the-token-at-all', json: { pipeline: 'quick', brief: 'x' } });
    expect(post.status).toBe(401);
    expect((await api.get('/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('serves /healthz and /metrics without a token', async () => {
    await boot();
    const health = await api.get('/healthz', { token: null });
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, version: expect.any(String) });
    const metrics = await api.get('/metrics', { token: null });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('signoff_jobs');
  });

  it('accepts ?access_token= on GET only', async () => {
    await boot();
    const get = await api.get(`/api/v1/jobs?access_token=${TOKEN}`, { token: null });
    expect(get.status).toBe(200);
    expect(get.body.jobs).toEqual([]);
    const wrong = await api.get('/api/v1/jobs?access_token=nope-nope-nope', { token: null });
    expect(wrong.status).toBe(401);
    const post = await api.post(`/api/v1/jobs?access_token=${TOKEN}`, { token: null, json: { pipeline: 'quick', brief: 'Tides' } });
    expect(post.status).toBe(401);
    expect((await api.get('/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('acts as the person named in X-Signoff-Actor', async () => {
    await boot();
    const r = await api.post('/api/v1/jobs', { actor: 'console:alice', json: { pipeline: 'quick', brief: 'Bees and pollination' } });
    expect(r.status).toBe(201);
    expect(r.body.job.submitter).toBe('console:alice');
    expect(r.body.job.origin).toBe('console');
    const asToken = await api.submit('Bees again');
    expect(asToken.submitter).toBe('api');
  });

  it.each(['console:mallory', 'bogus', 'slack:', 'api:api'])('refuses the unknown actor %j with 403', async (actor) => {
    await boot();
    const r = await api.post('/api/v1/jobs', { actor, json: { pipeline: 'quick', brief: 'Sneaky' } });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('unknown_actor');
    expect(r.body.message).toMatch(/not a configured operator/);
    const list = await api.get('/api/v1/jobs', { actor });
    expect(list.status).toBe(403);
    expect((await api.get('/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('sets security headers on API answers', async () => {
    await boot();
    for (const path of ['/healthz', '/api/v1/jobs']) {
      const r = await api.get(path);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(r.headers.get('x-frame-options')).toBeTruthy();
    }
    const unauthorised = await api.get('/api/v1/jobs', { token: null });
    expect(unauthorised.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe.each(STORES)('POST /api/v1/jobs (%s)', (kind) => {
  beforeEach(() => {
    storeKind = kind;
  });

  it('answers 201 with the new job', async () => {
    await boot();
    const r = await api.post('/api/v1/jobs', { json: { pipeline: 'quick', brief: '  Why the sky is blue  ' } });
    expect(r.status).toBe(201);
    expect(r.body.message).toMatch(/^Job \d+ \(quick\)/);
    const job = r.body.job;
    expect(job).toMatchObject({
      id: expect.any(Number),
      pipeline: 'quick',
      brief: 'Why the sky is blue',
      params: {},
      submitter: 'api',
      origin: 'api',
    });
    // The answer shows the job as it is by then, read as of one moment: before its builtin first
    // stage ends (no gate, no artifact), or, if the reads came later (PostgreSQL's round trips
    // can), at its first gate with that stage's output. Never the output without its gate.
    if (job.state === 'awaiting_approval') expect({ gates: job.gates.map((g: Json) => g.stage), artifacts: job.artifacts.map((a: Json) => a.stage) }).toEqual({ gates: ['outline'], artifacts: ['outline'] });
    else expect(job).toMatchObject({ state: expect.stringMatching(/^(queued|running)$/), gates: [], artifacts: [] });
    expect(job).toHaveProperty('stage');
    expect(job.stages.map((s: Json) => s.id)).toEqual(['outline', 'script', 'storyboard']);
    expect(job.stages.map((s: Json) => s.has_gate)).toEqual([true, true, true]);
    expect(new Date(job.created_at).toISOString()).toBe(job.created_at);
    // And it is there to read back.
    const again = await api.job(job.id);
    expect(again.id).toBe(job.id);
  });

  it('answers 404 for an unknown pipeline, naming the pipelines there are', async () => {
    await boot();
    const r = await api.post('/api/v1/jobs', { json: { pipeline: 'nope', brief: 'Something' } });
    expect(r.status).toBe(404);
    expect(r.body.error).toBe('not_found');
    expect(r.body.message).toContain('"nope"');
    expect(r.body.message).toContain('quick');
  });

  it.each([
    ['a missing brief', { pipeline: 'quick' }, 'brief'],
    ['a brief of the wrong type', { pipeline: 'quick', brief: 42 }, 'brief'],
    ['a missing pipeline', { brief: 'Hello' }, 'pipeline'],
    ['params that are not strings', { pipeline: 'quick', brief: 'Hello', params: { tone: 3 } }, 'params.tone'],
  ])('answers 400 with the path for %s', async (_what, json, path) => {
    await boot();
    const r = await api.post('/api/v1/jobs', { json });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid');
    expect(r.body.path).toBe(path);
    expect(r.body.message).toContain(path);
  });

  it('answers 400 for an unknown field, naming it', async () => {
    await boot();
    const r = await api.post('/api/v1/jobs', { json: { pipeline: 'quick', brief: 'Hello', priority: 'high' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid');
    expect(typeof r.body.path).toBe('string');
    expect(r.body.message).toContain('priority');
  });

  it('answers 400 for a blank brief and for an unknown parameter', async () => {
    await boot();
    const blank = await api.post('/api/v1/jobs', { json: { pipeline: 'quick', brief: '   ' } });
    expect(blank.status).toBe(400);
    expect(blank.body.message).toMatch(/brief/i);
    const param = await api.post('/api/v1/jobs', { json: { pipeline: 'quick', brief: 'Hi', params: { tone: 'dry' } } });
    expect(param.status).toBe(400);
    expect(param.body.message).toContain('tone');
    expect((await api.get('/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('answers 400 for malformed JSON and 415 for a form body', async () => {
    await boot();
    const r = await api.post('/api/v1/jobs', { raw: '{"pipeline": "quick", "brief": ', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('bad_request');
    expect(r.body.message).toMatch(/not valid JSON/);
    const form = await api.post('/api/v1/jobs', { raw: 'pipeline=quick&brief=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    expect(form.body.message).toMatch(/application\/json/);
    expect((await api.get('/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('answers 413 for a body over the limit, and creates nothing', async () => {
    await boot();
    const r = await api.post('/api/v1/jobs', { json: { pipeline: 'quick', brief: 'x'.repeat(300_000) } });
    expect(r.status).toBe(413);
    expect(r.body.message).toMatch(/larger than 262144 bytes/);
    expect((await api.get('/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('refuses a viewer with 403', async () => {
    await boot();
    const r = await api.post('/api/v1/jobs', { actor: 'console:dave', json: { pipeline: 'quick', brief: 'Let me in' } });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('not_authorised');
    expect(r.body.message).toMatch(/may not submit/);
    expect((await api.get('/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('rate-limits a person with 429 and Retry-After, creating nothing', async () => {
    await boot(QUICK_PIPELINE.replace('jobs_per_user_per_minute: 100', 'jobs_per_user_per_minute: 2'));
    await api.submit('First', { actor: 'console:alice' });
    await api.submit('Second', { actor: 'console:alice' });
    const before = (await api.get('/api/v1/jobs')).body.jobs.length;
    expect(before).toBe(2);

    const third = await api.post('/api/v1/jobs', { actor: 'console:alice', json: { pipeline: 'quick', brief: 'Third' } });
    expect(third.status).toBe(429);
    expect(third.body.error).toBe('rate_limited');
    const retryAfter = Number(third.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await api.get('/api/v1/jobs')).body.jobs.length).toBe(before);

    // Someone else is not limited by alice's submissions, and a minute later alice may go again.
    await api.submit('Bob too', { actor: 'console:bob' });
    clock.advance(61_000);
    await api.submit('Third, later', { actor: 'console:alice' });
    expect((await api.get('/api/v1/jobs')).body.jobs.length).toBe(4);
  });
});

describe.each(STORES)('a job through its gates (%s)', (kind) => {
  beforeEach(() => {
    storeKind = kind;
  });

  it('runs to the optional gate, auto-approves, waits at the required gates and finishes with downloadable artifacts', async () => {
    await boot();
    const submitted = await api.submit('Explain solar panels to homeowners');
    const id = submitted.id as number;

    // 1. It runs by itself to the optional outline gate, which waits for its timer.
    let job = await api.waitAtGate(id, 'outline');
    const outlineGate = latestGate(job, 'outline');
    expect(outlineGate).toMatchObject({ required: false, deadline_kind: 'auto_approve', approvers: ['editors'], round: 1 });
    expect(Date.parse(outlineGate.deadline_at) - Date.parse(outlineGate.opened_at)).toBe(30_000);
    expect(job.artifacts.map((a: Json) => a.name)).toEqual(['outline.md']);

    // Not yet due: a tick changes nothing.
    clock.advance(29_000);
    await app!.engine.tick();
    expect((await api.job(id)).stage).toBe('outline');

    // 2. After 30 s it approves itself and the job runs on to the required script gate.
    clock.advance(2_000);
    await app!.engine.tick();
    job = await api.waitAtGate(id, 'script');
    expect(latestGate(job, 'outline')).toMatchObject({ state: 'approved', decided_by: 'timer' });
    expect(job.state).toBe('awaiting_approval');
    expect(latestGate(job, 'script')).toMatchObject({ state: 'pending', required: true, deadline_kind: 'timeout', approvals: [] });
    expect(job.stages.find((s: Json) => s.id === 'storyboard').state).toBe('pending');

    // 3. A person approves the script.
    const approved = await api.gate(id, 'script', 'approve', { actor: 'console:alice' });
    expect(approved.status).toBe(200);
    expect(approved.body.message).toMatch(/Approved "script"/);
    expect(latestGate(approved.body.job, 'script')).toMatchObject({ state: 'approved', decided_by: 'alice', approvals: ['console:alice'] });

    // 4. The storyboard needs two approvals: the first is recorded and shown, the gate stays open.
    job = await api.waitAtGate(id, 'storyboard');
    expect(latestGate(job, 'storyboard')).toMatchObject({ min_approvals: 2, approvers: ['editors', 'directors'], approvals: [] });
    const first = await api.gate(id, 'storyboard', 'approve', { actor: 'console:alice' });
    expect(first.status).toBe(200);
    expect(first.body.message).toMatch(/1 of 2/);
    job = await api.job(id);
    expect(job.state).toBe('awaiting_approval');
    expect(latestGate(job, 'storyboard')).toMatchObject({ state: 'pending', approvals: ['console:alice'], min_approvals: 2 });
    expect(latestGate(job, 'storyboard').votes).toEqual([expect.objectContaining({ actor: 'console:alice', display: 'alice', vote: 'approve' })]);

    // The same person cannot count twice.
    const twice = await api.gate(id, 'storyboard', 'approve', { actor: 'console:alice' });
    expect(twice.status).toBe(409);
    expect(twice.body.error).toBe('already_voted');

    const second = await api.gate(id, 'storyboard', 'approve', { actor: 'console:carol' });
    expect(second.status).toBe(200);
    expect(latestGate(second.body.job, 'storyboard')).toMatchObject({ state: 'approved', approvals: ['console:alice', 'console:carol'] });

    // 5. Done: succeeded, with every stage's artifacts.
    job = await api.waitForJob(id, (j) => j.state === 'succeeded', 'succeeded');
    expect(job.error).toBeNull();
    expect(job.finished_at).toEqual(expect.any(String));
    expect(job.stages.map((s: Json) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const names = job.artifacts.map((a: Json) => a.name);
    expect(names).toEqual(expect.arrayContaining(['outline.md', 'script.md', 'storyboard.svg']));

    // 6. Each artifact downloads with its media type and exactly the bytes the JSON vouches for.
    const mediaTypes: Record<string, RegExp> = { 'outline.md': /^text\/markdown/, 'script.md': /^text\/markdown/, 'storyboard.svg': /^image\/svg\+xml/ };
    for (const a of job.artifacts) {
      expect(a.url).toBe(`/api/v1/artifacts/${a.id}`);
      const res = await fetch(api.url(a.url), { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(res.headers.get('content-type')).toBe(a.media_type);
      if (mediaTypes[a.name]) expect(a.media_type).toMatch(mediaTypes[a.name]!);
      expect(bytes.length).toBe(a.size);
      expect(Number(res.headers.get('content-length'))).toBe(a.size);
      expect(sha256(bytes)).toBe(a.sha256);
      expect(res.headers.get('content-security-policy')).toMatch(/sandbox/);
      expect(res.headers.get('content-disposition')).toContain(a.name);
    }
    // A download link works with ?access_token= (what a browser link can carry).
    const viaQuery = await fetch(api.url(`${job.artifacts[0].url}?access_token=${TOKEN}`));
    expect(viaQuery.status).toBe(200);
    expect(sha256(Buffer.from(await viaQuery.arrayBuffer()))).toBe(job.artifacts[0].sha256);
    expect((await api.get('/api/v1/artifacts/99999')).status).toBe(404);

    // 7. Every step is in the job's event log, numbered 1..n without gaps.
    const events = await api.events(id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.every((e) => e.job === id)).toBe(true);
    const types = typesOf(events);
    expect(
      inOrder(types, ['job.created', 'job.started', 'stage.started', 'stage.succeeded', 'gate.opened', 'gate.approved', 'stage.started', 'stage.succeeded', 'gate.opened', 'gate.approved', 'stage.started', 'stage.succeeded', 'gate.opened', 'gate.voted', 'gate.voted', 'gate.approved', 'job.finished']),
      types.join(', '),
    ).toBe(true);
    const steps = events
      .filter((e) => ['stage.started', 'gate.opened', 'gate.approved'].includes(e.type))
      .map((e) => `${e.type}:${e.stage}`);
    expect(steps).toEqual([
      'stage.started:outline', 'gate.opened:outline', 'gate.approved:outline',
      'stage.started:script', 'gate.opened:script', 'gate.approved:script',
      'stage.started:storyboard', 'gate.opened:storyboard', 'gate.approved:storyboard',
    ]);
    expect(events.find((e) => e.type === 'gate.approved' && e.stage === 'outline')).toMatchObject({ auto: true, by: 'timer' });
    expect(events.at(-1)).toMatchObject({ type: 'job.finished', state: 'succeeded' });
    expect(events.filter((e) => e.type === 'artifact.added').length).toBe(job.artifacts.length);
    // Paging with ?after= continues where the client left off.
    const tail = (await api.get(`/api/v1/jobs/${id}/events?after=${events.length - 2}`)).body.events;
    expect(tail.map((e: Json) => e.seq)).toEqual([events.length - 1, events.length]);

    // 8. Metrics reflect the run.
    const metrics = (await api.get('/metrics', { token: null })).text;
    expect(metrics).toMatch(/^signoff_jobs\{state="succeeded"\} 1$/m);
    expect(metrics).toMatch(/^signoff_stage_duration_seconds_count\{stage="outline",outcome="succeeded"\} 1$/m);
    expect(metrics).toMatch(/^signoff_stage_duration_seconds_count\{stage="storyboard",outcome="succeeded"\} 1$/m);
    expect(metrics).toMatch(/^signoff_gate_wait_seconds_count\{stage="script",outcome="approved"\} 1$/m);
  });

  it('answers 404 for a job that does not exist, and 400 for an id that is not one', async () => {
    await boot();
    const missing = await api.get('/api/v1/jobs/4242');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/Job 4242 does not exist/);
    expect((await api.gate(4242, 'script', 'approve')).status).toBe(404);
    expect((await api.post('/api/v1/jobs/4242/cancel')).status).toBe(404);
    expect((await api.get('/api/v1/jobs/4242/events')).status).toBe(404);
    const bad = await api.get('/api/v1/jobs/abc');
    expect(bad.status).toBe(400);
    expect(bad.body.path).toBe('id');
    const action = await api.post('/api/v1/jobs/1/explode');
    expect(action.status).toBe(400);
    expect(action.body.path).toBe('action');
  });
});

describe.each(STORES)('gate rules (%s)', (kind) => {
  beforeEach(() => {
    storeKind = kind;
  });

  it('refuses self-approval and viewers, needs a reason to reject, reports who decided, and redoes with the reason', async () => {
    await boot();
    const job = await jobAtScriptGate({ actor: 'console:alice' });
    const id = job.id as number;
    expect(job.submitter).toBe('console:alice');

    // The submitter may not approve her own job's gate.
    const self = await api.gate(id, 'script', 'approve', { actor: 'console:alice' });
    expect(self.status).toBe(403);
    expect(self.body.error).toBe('self_approval');
    expect(self.body.message).toMatch(/someone else/);
    // A viewer may not decide at all; a director is not an approver of this gate.
    const viewer = await api.gate(id, 'script', 'approve', { actor: 'console:dave' });
    expect(viewer.status).toBe(403);
    expect(viewer.body.error).toBe('not_authorised');
    expect(viewer.body.message).toMatch(/editors/);
    expect((await api.gate(id, 'script', 'approve', { actor: 'console:carol' })).status).toBe(403);
    // No gate on an unknown stage.
    expect((await api.gate(id, 'nosuchstage', 'approve', { actor: 'console:bob' })).status).toBe(404);

    let now = await api.job(id);
    expect(now.state).toBe('awaiting_approval');
    expect(latestGate(now, 'script')).toMatchObject({ state: 'pending', approvals: [], votes: [] });

    // A rejection needs a reason.
    const noReason = await api.gate(id, 'script', 'reject', { actor: 'console:bob' });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error).toBe('reason_required');
    const blankReason = await api.gate(id, 'script', 'reject', { actor: 'console:bob', json: { reason: '   ' } });
    expect(blankReason.status).toBe(400);
    const unknownField = await api.gate(id, 'script', 'reject', { actor: 'console:bob', json: { reason: 'x', why: 'y' } });
    expect(unknownField.status).toBe(400);
    expect(latestGate(await api.job(id), 'script').state).toBe('pending');

    const reason = 'Too much jargon: explain COP in plain words';
    const rejected = await api.gate(id, 'script', 'reject', { actor: 'console:bob', json: { reason } });
    expect(rejected.status).toBe(200);
    expect(rejected.body.job.state).toBe('rejected');
    expect(latestGate(rejected.body.job, 'script')).toMatchObject({ state: 'rejected', decided_by: 'bob', reason });
    expect(rejected.body.job.error).toContain(reason);

    // A second click after the decision says who decided.
    const late = await api.gate(id, 'script', 'approve', { actor: 'console:bob' });
    expect(late.status).toBe(409);
    expect(late.body.error).toBe('already_decided');
    expect(late.body.message).toMatch(/already rejected by bob/);
    const lateReject = await api.gate(id, 'script', 'reject', { actor: 'console:alice', json: { reason: 'me too' } });
    expect(lateReject.status).toBe(409);
    expect(lateReject.body.message).toMatch(/already rejected by bob/);
    expect((await api.job(id)).state).toBe('rejected');

    // Only the submitter or an approver may retry; a viewer may not.
    expect((await api.post(`/api/v1/jobs/${id}/retry`, { actor: 'console:dave' })).status).toBe(403);

    // Retry: the script stage runs again and is handed the reason.
    const retried = await api.post(`/api/v1/jobs/${id}/retry`, { actor: 'console:alice' });
    expect(retried.status).toBe(200);
    expect(retried.body.message).toMatch(/rejection reason/);
    const scriptNow = retried.body.job.stages.find((s: Json) => s.id === 'script');
    expect(scriptNow.redo_reason).toBe(reason);
    expect(scriptNow.run).toBe(2);

    now = await api.waitForJob(id, (j) => j.state === 'awaiting_approval' && latestGate(j, 'script')?.round === 2, 'the script gate to open again');
    expect(latestGate(now, 'script')).toMatchObject({ state: 'pending', round: 2, approvals: [] });
    const scriptStage = now.stages.find((s: Json) => s.id === 'script');
    expect(scriptStage).toMatchObject({ state: 'succeeded', run: 2 });
    expect(scriptStage.summary).toMatch(/revised/);
    const events = await api.events(id);
    expect(events.find((e) => e.type === 'job.retried')).toMatchObject({ from: 'script', reason, by: 'alice' });

    // The artifact of the new run carries the reason.
    const scriptMd = now.artifacts.find((a: Json) => a.name === 'script.md');
    expect(scriptMd.run).toBe(2);
    const res = await fetch(api.url(scriptMd.url), { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    expect(text).toContain(reason);
    expect(sha256(Buffer.from(text))).toBe(scriptMd.sha256);

    // Retrying a job that is not finished is refused.
    const notRetryable = await api.post(`/api/v1/jobs/${id}/retry`, { actor: 'console:alice' });
    expect(notRetryable.status).toBe(409);
    expect(notRetryable.body.error).toBe('not_retryable');

    // Refusals are audited in the event log, and the numbering still has no gaps.
    expect(events.filter((e) => e.type === 'gate.refused').map((e) => e.code)).toEqual(
      expect.arrayContaining(['self_approval', 'not_authorised', 'reason_required', 'already_decided']),
    );
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });

  it('holds an optional gate so it does not auto-approve, then moves on when approved', async () => {
    await boot();
    const { id } = await api.submit('The history of the bicycle');
    await api.waitAtGate(id, 'outline');

    // A viewer may not hold; an editor may.
    expect((await api.gate(id, 'outline', 'hold', { actor: 'console:dave' })).status).toBe(403);
    const held = await api.gate(id, 'outline', 'hold', { actor: 'console:bob' });
    expect(held.status).toBe(200);
    expect(latestGate(held.body.job, 'outline')).toMatchObject({ state: 'held', deadline_at: null });
    const again = await api.gate(id, 'outline', 'hold', { actor: 'console:bob' });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('not_holdable');

    clock.advance(10 * 60_000);
    await app!.engine.tick();
    let job = await api.job(id);
    expect(job.state).toBe('awaiting_approval');
    expect(job.stage).toBe('outline');
    expect(latestGate(job, 'outline').state).toBe('held');
    expect(job.stages.find((s: Json) => s.id === 'script').state).toBe('pending');

    const approved = await api.gate(id, 'outline', 'approve', { actor: 'console:bob' });
    expect(approved.status).toBe(200);
    expect(latestGate(approved.body.job, 'outline')).toMatchObject({ state: 'approved', decided_by: 'bob' });
    job = await api.waitAtGate(id, 'script');

    // A required gate cannot be held.
    const holdRequired = await api.gate(id, 'script', 'hold', { actor: 'console:bob' });
    expect(holdRequired.status).toBe(409);
    expect(holdRequired.body.error).toBe('not_holdable');
    expect(typesOf(await api.events(id))).toEqual(expect.arrayContaining(['gate.held']));
  });

  it('cancels a job waiting at a gate, and refuses a second cancel', async () => {
    await boot();
    const { id } = await jobAtScriptGate({ actor: 'console:alice' });

    const byViewer = await api.post(`/api/v1/jobs/${id}/cancel`, { actor: 'console:dave' });
    expect(byViewer.status).toBe(403);
    expect((await api.job(id)).state).toBe('awaiting_approval');

    const cancelled = await api.post(`/api/v1/jobs/${id}/cancel`, { actor: 'console:alice', json: { reason: 'brief changed' } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.message).toMatch(/Cancelled job/);
    const job = await api.job(id);
    expect(job.state).toBe('cancelled');
    expect(job.error).toContain('brief changed');
    expect(latestGate(job, 'script')).toMatchObject({ state: 'cancelled', decided_by: 'alice', deadline_at: null });

    const twice = await api.post(`/api/v1/jobs/${id}/cancel`, { actor: 'console:alice' });
    expect(twice.status).toBe(409);
    expect(twice.body.error).toBe('finished');
    expect(twice.body.message).toMatch(/already cancelled/);
    // Its gate cannot be decided any more either.
    const approve = await api.gate(id, 'script', 'approve', { actor: 'console:bob' });
    expect(approve.status).toBe(409);
    expect(approve.body.message).toMatch(/already cancelled by alice/);

    const types = typesOf(await api.events(id));
    expect(inOrder(types, ['gate.opened', 'gate.cancelled', 'job.cancelled', 'job.finished'])).toBe(true);
  });
});

describe.each(STORES)('server-sent events (%s)', (kind) => {
  beforeEach(() => {
    storeKind = kind;
  });

  it('streams a job\'s events from Last-Event-ID on, then new ones live', async () => {
    await boot();
    const { id } = await jobAtScriptGate();
    const stored = await api.events(id);
    expect(stored.length).toBeGreaterThan(5);

    const stream = await openStream(`/api/v1/jobs/${id}/events`, { headers: { 'last-event-id': '3' } });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.headers.get('cache-control')).toMatch(/no-cache/);
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff');

    // Catch-up: everything after 3, in order, each frame's id being the event's seq.
    const catchUp = await stream.until((f) => Number(f.id) === stored.length);
    expect(catchUp[0]!.id).toBe('4');
    expect(catchUp.map((f) => Number(f.id))).toEqual(stored.slice(3).map((e) => e.seq));
    for (const f of catchUp) {
      expect(f.event).toBe(f.parsed.type);
      expect(f.parsed.seq).toBe(Number(f.id));
      expect(f.parsed.job).toBe(id);
    }
    expect(catchUp.map((f) => f.parsed)).toEqual(stored.slice(3));

    // Live: an approval arrives on the open stream without reconnecting.
    const approved = await api.gate(id, 'script', 'approve', { actor: 'console:alice' });
    expect(approved.status).toBe(200);
    const live = await stream.until((f) => f.event === 'gate.approved');
    expect(live.map((f) => f.event)).toEqual(['gate.voted', 'gate.approved']);
    expect(Number(live[0]!.id)).toBe(stored.length + 1);
    expect(live[1]!.parsed).toMatchObject({ stage: 'script', by: 'alice', auto: false });
    // …and the stage that follows.
    const next = await stream.until((f) => f.event === 'stage.started');
    expect(next.at(-1)!.parsed.stage).toBe('storyboard');
  });

  it('accepts ?access_token= and ?after= on a stream (EventSource cannot set headers)', async () => {
    await boot();
    const { id } = await api.submit('Volcanoes for children');
    await api.waitAtGate(id, 'outline');
    const stream = await openStream(`/api/v1/jobs/${id}/events?after=2&access_token=${TOKEN}`, { token: null });
    expect(stream.status).toBe(200);
    const first = await stream.next();
    expect(first.id).toBe('3');
    expect(stream.frames[0]).toMatchObject({ retry: '2000' });
  });

  it('streams all jobs\' events on /api/v1/events with global ids', async () => {
    await boot();
    const first = await api.submit('Rivers');
    await api.waitAtGate(first.id, 'outline');
    const all = (await api.get('/api/v1/events')).body.events as Json[];
    expect(all.length).toBeGreaterThan(0);
    const lastId = all.at(-1)!.id as number;

    const stream = await openStream('/api/v1/events', { headers: { 'last-event-id': String(lastId) } });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);

    const second = await api.submit('Mountains', { actor: 'console:bob' });
    const frames = await stream.until((f) => f.event === 'gate.opened' && f.parsed.job === second.id);
    expect(frames[0]).toMatchObject({ event: 'job.created' });
    expect(frames[0]!.parsed).toMatchObject({ job: second.id, seq: 1, submitter: 'console:bob' });
    expect(Number(frames[0]!.id)).toBe(lastId + 1);
    const ids = frames.map((f) => Number(f.id));
    expect(ids).toEqual(ids.map((_, i) => lastId + 1 + i));
    for (const f of frames) expect(f.parsed.id).toBe(Number(f.id));

    // Events of an older job reach the global stream too.
    await api.gate(first.id, 'outline', 'approve', { actor: 'console:bob' });
    const more = await stream.until((f) => f.event === 'gate.approved' && f.parsed.job === first.id);
    expect(more.at(-1)!.parsed.stage).toBe('outline');
  });

  it('stops promptly while a client still holds a stream open', async () => {
    await boot();
    const stream = await openStream('/api/v1/events');
    expect(stream.status).toBe(200);
    await app!.stop();
    app = undefined;
    // The server ended the stream itself; the reader sees the end instead of hanging.
    await expect(stream.next()).rejects.toThrow(/ended/);
  });

  it('does not stream without a token', async () => {
    await boot();
    const res = await fetch(api.url('/api/v1/events'), { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(401);
    await res.body?.cancel();
  });
});

describe.each(STORES)('lists and config (%s)', (kind) => {
  beforeEach(() => {
    storeKind = kind;
  });

  it('lists jobs newest first and filters by state', async () => {
    await boot();
    const a = await api.submit('Alpha');
    const b = await api.submit('Beta', { actor: 'console:bob' });
    const c = await api.submit('Gamma');
    await api.waitAtGate(c.id, 'outline');
    const cancel = await api.post(`/api/v1/jobs/${b.id}/cancel`);
    expect(cancel.status).toBe(200);

    const list = await api.get('/api/v1/jobs');
    expect(list.status).toBe(200);
    expect(list.body.jobs.map((j: Json) => j.id)).toEqual([c.id, b.id, a.id]);
    expect(list.body.jobs[1]).toMatchObject({ pipeline: 'quick', state: 'cancelled', submitter: 'console:bob', brief: 'Beta' });

    const cancelled = await api.get('/api/v1/jobs?state=cancelled');
    expect(cancelled.body.jobs.map((j: Json) => j.id)).toEqual([b.id]);
    await api.waitAtGate(a.id, 'outline');
    const waiting = await api.get('/api/v1/jobs?state=awaiting_approval');
    expect(waiting.body.jobs.map((j: Json) => j.id)).toEqual([c.id, a.id]);
    expect((await api.get('/api/v1/jobs?state=succeeded')).body.jobs).toEqual([]);

    const paged = await api.get(`/api/v1/jobs?limit=1&before=${c.id}`);
    expect(paged.body.jobs.map((j: Json) => j.id)).toEqual([b.id]);

    const bad = await api.get('/api/v1/jobs?state=finished');
    expect(bad.status).toBe(400);
    expect(bad.body.path).toBe('state');
  });

  it('shows the config with its pipelines and no token', async () => {
    await boot();
    const r = await api.get('/api/v1/config');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.pipelines)).toEqual(['quick']);
    expect(r.body.pipelines.quick.stages.map((s: Json) => s.id)).toEqual(['outline', 'script', 'storyboard']);
    expect(r.body.surfaces).toEqual([]);
    expect(r.text).not.toContain(TOKEN);

    const pipelines = await api.get('/api/v1/pipelines');
    expect(pipelines.status).toBe(200);
    expect(pipelines.body.pipelines[0]).toMatchObject({ name: 'quick', description: 'quick test pipeline' });
    expect(pipelines.body.pipelines[0].stages.map((s: Json) => s.kind)).toEqual(['builtin', 'builtin', 'builtin']);
  });

  it('hides http stage headers and command env values in /config', async () => {
    await boot(`${QUICK_PIPELINE}
  calls:
    stages:
      - id: remote
        run: { http: { url: "http://127.0.0.1:9/x", headers: { authorization: "Bearer s3cret-service-key" } } }
      - id: local
        run: { command: ["true"], env: { DEPLOY_KEY: "hunter2-hunter2" } }
`);
    const r = await api.get('/api/v1/config');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('s3cret-service-key');
    expect(r.text).not.toContain('hunter2');
    expect(r.body.pipelines.calls.stages[0].run.http.headers).toEqual({ authorization: '[hidden]' });
  });

  it('accepts the bearer scheme in any case', async () => {
    await boot();
    const r = await fetch(`${app!.url}/api/v1/jobs`, { headers: { authorization: `bearer ${TOKEN}` } });
    expect(r.status).toBe(200);
  });

  it('answers unknown routes with a JSON 404', async () => {
    await boot();
    const r = await api.get('/api/v1/nothing-here');
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: 'not_found', message: expect.stringContaining('/api/v1/nothing-here') });
  });
});
