/**
 * Reviewing a redo through the API, end to end: a real signoff (a SQLite file or a PostgreSQL
 * database: the diffs are stored and found by dialect-specific SQL; engine, command
 * stages as child processes, fastify on a real port). A reviewer rejects, the job is retried,
 * the stage's output changes with the reason, and GET …/gates/:stage/diff says exactly what
 * changed; an approval's note reaches the next stage's stdin and environment and the audit.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { ApiClient, latestGate, type Json } from '../helpers/api-client.js';
import { FakeClock, OPERATORS, configFrom, silentLog } from '../helpers/fixtures.js';
import { redoPipelines } from '../helpers/redo-pipeline.js';
import { sqliteOnly } from '../../src/store/store.js';
import type { PgStore } from '../../src/store/postgres/store.js';
import { STORES, appPlace, freshPlace, type StoreKind } from '../helpers/stores.js';

const TOKEN = 'test-token-0123456789';
const BOB = 'console:bob';
let app: App | undefined;
let dataDir: string | undefined;
let api: ApiClient;

/** Starts signoff on a fresh store of `kind` (on PostgreSQL the artifacts' contents are in the database). */
async function boot(kind: StoreKind = 'sqlite'): Promise<void> {
  const place = await freshPlace(kind, 'signoff-diff-');
  dataDir = place.dataDir;
  app = await startApp({
    config: configFrom(`${OPERATORS}\nlimits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: 4 }\npipelines:${redoPipelines()}\n`),
    ...appPlace(place), apiToken: TOKEN, log: silentLog, host: '127.0.0.1', port: 0, clock: new FakeClock(), tickSchedule: false,
  });
  api = new ApiClient(app.url, TOKEN);
}

afterEach(async () => {
  await app?.stop();
  app = undefined;
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/** Submits to `pipeline`, rejects round 1 with `reason`, retries, and waits for round 2. */
async function atRoundTwo(pipeline: string, reason = 'make the ending shorter'): Promise<Json> {
  const job = await api.submit('A film about bees', { pipeline, actor: 'console:alice' });
  await api.waitAtGate(job.id, 'write');
  expect((await api.gate(job.id, 'write', 'reject', { json: { reason }, actor: BOB })).status).toBe(200);
  expect((await api.post(`/api/v1/jobs/${job.id}/retry`)).status).toBe(200);
  return api.waitForJob(job.id, (j) => j.state === 'awaiting_approval' && latestGate(j, 'write')?.round === 2, 'round 2 of the write gate');
}

describe.each(STORES)('GET /api/v1/jobs/:id/gates/:stage/diff (%s)', (kind) => {
  it('shows what changed since the rejected round: line counts, changed words, binaries, images', async () => {
    await boot(kind);
    const job = await atRoundTwo('redo');
    const r = await api.get(`/api/v1/jobs/${job.id}/gates/write/diff?round=2`);
    expect(r.status).toBe(200);
    const d = r.body;
    expect(d).toMatchObject({ job: job.id, stage: 'write', round: 2, previous_round: 1, too_large: false });
    expect(d.stats).toMatchObject({ lines_added: 1, lines_removed: 1, files_changed: 3, files_unchanged: 2 });
    expect(d.summary).toBe('data.bin changed; frame.svg changed; +1 −1 lines in script.md; sound.wav unchanged; write.log unchanged');
    const by = Object.fromEntries((d.files as Json[]).map((f) => [f.name, f]));
    const lines = by['script.md'].hunks.flatMap((h: Json) => h.lines);
    const removed = lines.find((l: Json) => l.op === '-');
    expect(removed.text).toBe('The end comes slowly, over many long and winding minutes.');
    // Word-level changes: the words put together give the line back; the kept words are marked kept.
    const added = lines.find((l: Json) => l.op === '+');
    expect(added.text).toBe('The end. <!here> @everyone **bold**');
    expect(removed.words.map((w: Json) => w.text).join('')).toBe(removed.text);
    expect(added.words.map((w: Json) => w.text).join('')).toBe(added.text);
    expect(removed.words.find((w: Json) => w.op === ' ').text).toMatch(/^The/);
    expect(removed.words.filter((w: Json) => w.op === '-').map((w: Json) => w.text).join(' ')).toContain('winding');
    expect(added.words.filter((w: Json) => w.op === '+').map((w: Json) => w.text).join(' ')).toContain('<!here>');
    expect(by['data.bin']).toMatchObject({ kind: 'binary', status: 'changed', before: { size: 3 }, after: { size: 4 } });
    expect(by['data.bin'].before.sha256).not.toBe(by['data.bin'].after.sha256);
    expect(by['sound.wav']).toMatchObject({ kind: 'binary', status: 'unchanged' });
    expect(by['frame.svg']).toMatchObject({ kind: 'image', status: 'changed' });
    // Before and after are both still served, so a reviewer can look at each.
    const before = await api.get(by['frame.svg'].before.url);
    const after = await api.get(by['frame.svg'].after.url);
    expect(before.text).toContain('#c33');
    expect(after.text).toContain('#2a7');
    // The same diff is stored once: asking again, or without a round, gives the same answer.
    expect((await api.get(`/api/v1/jobs/${job.id}/gates/write/diff`)).body).toEqual(d);
  });

  it('recomputes a diff that was never stored (signoff died between opening the gate and storing it)', async () => {
    await boot(kind);
    const job = await atRoundTwo('redo');
    const first = (await api.get(`/api/v1/jobs/${job.id}/gates/write/diff?round=2`)).body;
    if (kind === 'sqlite') sqliteOnly(app!.store).db.prepare('DELETE FROM round_diffs').run();
    else await (app!.store as PgStore).pool.query('DELETE FROM round_diffs');
    expect((await app!.engine.store.diffs.get(job.id, 'write', 2))).toBeUndefined();
    const again = await api.get(`/api/v1/jobs/${job.id}/gates/write/diff?round=2`);
    expect(again.body).toEqual(first);
    expect((await app!.engine.store.diffs.get(job.id, 'write', 2))).toBeDefined();
  });

  it('answers a round with no text artifacts by size and checksum, and a file over the cap with "too large"', async () => {
    await boot(kind);
    const bin = await atRoundTwo('binonly');
    const b = (await api.get(`/api/v1/jobs/${bin.id}/gates/write/diff?round=2`)).body;
    expect(b.files).toEqual([expect.objectContaining({ name: 'data.bin', kind: 'binary', status: 'changed', hunks: [], before: expect.objectContaining({ size: 2 }), after: expect.objectContaining({ size: 4 }) })]);
    expect(b.summary).toBe('data.bin changed');

    const big = await atRoundTwo('big');
    const g = (await api.get(`/api/v1/jobs/${big.id}/gates/write/diff?round=2`)).body;
    expect(g.too_large).toBe(true);
    expect(g.files[0]).toMatchObject({ name: 'big.txt', status: 'changed', too_large: true, hunks: [] });
    expect(g.summary).toBe('big.txt changed (diff too large, see the files)');
  });

  it('says clearly when there is nothing to compare', async () => {
    await boot(kind);
    const job = await api.submit('bees', { pipeline: 'redo', actor: 'console:alice' });
    await api.waitAtGate(job.id, 'write');
    const first = await api.get(`/api/v1/jobs/${job.id}/gates/write/diff?round=1`);
    expect(first.status).toBe(404);
    expect(first.body.message).toMatch(/round 1 .*nothing before it/);
    expect((await api.get(`/api/v1/jobs/${job.id}/gates/nope/diff`)).status).toBe(404);
    expect((await api.get(`/api/v1/jobs/${job.id}/gates/write/diff?round=7`)).status).toBe(404);
    expect((await api.get(`/api/v1/jobs/${job.id}/gates/write/diff?round=x`)).status).toBe(400);
    expect((await api.get(`/api/v1/jobs/999/gates/write/diff`)).status).toBe(404);
  });
});

describe.each(STORES)('approve with a note (%s)', (kind) => {
  it('hands the note to the next stage (stdin and SIGNOFF_APPROVAL_NOTES), keeps it in the audit, and refuses one too long', async () => {
    await boot(kind);
    const job = await api.submit('bees', { pipeline: 'redo', actor: 'console:alice' });
    await api.waitAtGate(job.id, 'write');
    const tooLong = await api.gate(job.id, 'write', 'approve', { json: { note: 'x'.repeat(1001) }, actor: BOB });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.message).toMatch(/at most 1000 characters; yours has 1001/);
    expect(latestGate(await api.job(job.id), 'write').state).toBe('pending');
    expect((await api.gate(job.id, 'write', 'reject', { json: { note: 'no' }, actor: BOB })).status).toBe(400);

    const note = 'fine, but check the intro timing <!channel> @everyone **bold** <@U0ALICE>';
    const r = await api.gate(job.id, 'write', 'approve', { json: { note }, actor: BOB });
    expect(r.status).toBe(200);
    const done = await api.waitForJob(job.id, (j) => j.state === 'succeeded', 'finished');
    const received = done.artifacts.find((a: Json) => a.name === 'received.json');
    const stdin = JSON.parse((await api.get(received.url)).text);
    expect(stdin.approval_notes).toEqual([{ stage: 'write', round: 1, by: 'bob', note }]);
    const env = done.artifacts.find((a: Json) => a.name === 'notes-env.txt');
    expect(JSON.parse((await api.get(env.url)).text)).toEqual([{ stage: 'write', round: 1, by: 'bob', note }]);
    const events = await api.events(job.id);
    expect(events.find((e) => e.type === 'gate.approved')).toMatchObject({ notes: [{ by: 'bob', note }] });
    expect(events.find((e) => e.type === 'gate.refused')).toMatchObject({ code: 'invalid' });
    expect(latestGate(done, 'write').votes[0]).toMatchObject({ vote: 'approve', reason: note });
  });
});

// SQLite only: the test removes the stored diff behind signoff's back through the open file.
describe('GET …/diff after a crash lost the stored diff (sqlite)', () => {
  it('recomputes a diff that was never stored (signoff died between opening the gate and storing it)', async () => {
    await boot('sqlite');
    const job = await atRoundTwo('redo');
    const first = (await api.get(`/api/v1/jobs/${job.id}/gates/write/diff?round=2`)).body;
    sqliteOnly(app!.store).db.prepare('DELETE FROM round_diffs').run();
    expect((await app!.engine.store.diffs.get(job.id, 'write', 2))).toBeUndefined();
    const again = await api.get(`/api/v1/jobs/${job.id}/gates/write/diff?round=2`);
    expect(again.body).toEqual(first);
    expect((await app!.engine.store.diffs.get(job.id, 'write', 2))).toBeDefined();
  });
});
