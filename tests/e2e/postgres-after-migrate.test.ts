/**
 * From SQLite to PostgreSQL as an operator does it: a data directory with a job in every state
 * (made by the real engine, Slack and the API) is copied with `signoff migrate --to`, then
 * signoff starts on PostgreSQL on the same directory and the same (fake) Slack workspace. The
 * pending gates keep their deadlines, every waiting job is driven to its end through the API, and
 * the chat messages the SQLite signoff made are edited, never posted again.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runMigrate } from '../../src/cli/migrate.js';
import { Database } from '../../src/store/sqlite/driver.js';
import { sqliteFileIn } from '../../src/store/sqlite/export.js';
import { ApiClient, type Json } from '../helpers/api-client.js';
import { EVERY_STATE_YAML, everyStateDataDir } from '../helpers/every-state-data-dir.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { FakeClock } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { API_TOKEN, CAROL, drained, gateCards, rootsOf, startSlackApp, type SlackHarness } from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeSlack | undefined;
let h: SlackHarness | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await h?.app.stop().catch(() => undefined);
  await fake?.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('a migrated data directory on PostgreSQL', () => {
  it('keeps pending gates\' deadlines, finishes every waiting job, and edits the chat messages it had made', async () => {
    fake = await FakeSlack.start();
    const source = await everyStateDataDir({ fake });
    dirs.push(source.dataDir);
    const { jobs } = source;
    // The SQLite signoff started once more with room for one more job: the queued job starts and
    // waits at its auto-approving outline gate (a deadline to carry across), and a new job queues
    // behind it. The PostgreSQL signoff keeps the same clock.
    const clock = new FakeClock(Date.now() + 120_000);
    const before = await startSlackApp({ fake, mode: 'http', clock, yaml: EVERY_STATE_YAML.replace('max_concurrent_jobs: 3', 'max_concurrent_jobs: 4'), dataDir: source.dataDir });
    const beforeApi = new ApiClient(before.app.url, API_TOKEN);
    const timed = jobs.queued;
    await beforeApi.waitAtGate(timed, 'outline');
    const queued = (await beforeApi.submit('A film about dragonflies', { actor: 'console:alice' })).id as number;
    expect((await beforeApi.job(queued)).state).toBe('queued');
    for (const id of [timed, queued]) await drained(before.app, id);
    await before.app.stop();

    // What SQLite held: the open gates with their deadlines.
    const db = new Database(sqliteFileIn(source.dataDir), { readonly: true });
    const openGates = db.prepare("SELECT job_id AS job, stage, round, deadline_at AS deadline FROM gates WHERE state IN ('pending', 'held') ORDER BY id").all() as { job: number; stage: string; round: number; deadline: number | null }[];
    const lastEventId = (db.prepare('SELECT MAX(id) AS id FROM events').get() as { id: number }).id;
    db.close();
    expect(openGates.map((g) => g.job).sort()).toEqual([jobs.awaiting_approval, jobs.awaiting_round_two, timed].sort());
    const deadline = openGates.find((g) => g.job === timed)!.deadline!;
    expect(deadline).toBeGreaterThan(clock.now());

    const url = await freshDatabase();
    let out = '';
    const code = await runMigrate(['--to', url, '--data-dir', source.dataDir], (s) => void (out += s), (s) => void (out += s));
    expect(code, out).toBe(0);

    const all = [...Object.values(jobs), queued];
    const rootsBefore = Object.fromEntries(all.map((id) => [id, rootsOf(fake!, id).length]));
    const cardBefore = gateCards(fake, jobs.awaiting_approval, 'storyboard');
    expect(cardBefore).toHaveLength(1);
    const cardUpdates = cardBefore[0]!.message.updates;

    fake.usergroups.set('S0DIR', [CAROL]);
    h = await startSlackApp({ fake, mode: 'http', clock, yaml: EVERY_STATE_YAML, dataDir: source.dataDir, databaseUrl: url });
    expect(h.app.store.dialect).toBe('postgres');
    const api = new ApiClient(h.app.url, API_TOKEN);
    const bob = { actor: 'console:bob' };
    const ok = async (r: Promise<{ status: number; text: string }>) => expect((await r).status).toBe(200);

    // The finished jobs read as they were; the open gates kept their deadlines.
    for (const state of ['succeeded', 'rejected', 'failed', 'cancelled'] as const) expect((await api.job(jobs[state])).state).toBe(state);
    for (const g of openGates) {
      const gate = (await api.job(g.job)).gates.find((x: Json) => x.stage === g.stage && x.round === g.round);
      expect(gate.state).toBe('pending');
      expect(gate.deadline_at === null ? null : Date.parse(gate.deadline_at)).toBe(g.deadline);
    }
    // The interaction acknowledged but not carried out before the copy is carried out (or dropped) at start.
    await waitFor(async () => (await h!.app.store.inbox.pending()).length === 0, 'the stored interaction to be carried out');

    // Every waiting job to its end.
    await ok(api.gate(jobs.awaiting_approval, 'storyboard', 'approve', { actor: 'console:carol' }));
    await api.waitForJob(jobs.awaiting_approval, (j) => j.state === 'succeeded', 'the job at its last gate to succeed');
    await ok(api.gate(jobs.awaiting_round_two, 'write', 'approve', bob));
    await api.waitForJob(jobs.awaiting_round_two, (j) => j.state === 'succeeded', 'the round-two job to succeed');
    await ok(api.post(`/api/v1/jobs/${jobs.running}/cancel`, { json: { reason: 'moved to PostgreSQL' } }));
    await api.waitForJob(jobs.running, (j) => j.state === 'cancelled', 'the waiting external run to be cancelled');
    // The queued job started when places came free.
    await api.waitAtGate(queued, 'outline');
    // The copied deadline fires on PostgreSQL's timer sweep, like the new job's.
    clock.advance(Math.max(30_001, deadline - clock.now() + 1));
    await h.app.engine.tick();
    for (const id of [timed, queued]) {
      await api.waitAtGate(id, 'script');
      expect((await api.job(id)).gates[0]).toMatchObject({ stage: 'outline', state: 'approved', decided_by: 'timer' });
      await ok(api.gate(id, 'script', 'approve', bob));
      await api.waitAtGate(id, 'storyboard');
      await ok(api.gate(id, 'storyboard', 'approve', bob));
      await ok(api.gate(id, 'storyboard', 'approve', { actor: 'console:carol' }));
      await api.waitForJob(id, (j) => j.state === 'succeeded', 'the job to succeed');
    }

    // Chat: the messages made before the copy were edited, none posted again.
    for (const id of all) await drained(h.app, id);
    for (const id of all) expect({ job: id, roots: rootsOf(fake, id).length }).toEqual({ job: id, roots: rootsBefore[id] });
    const card = gateCards(fake, jobs.awaiting_approval, 'storyboard');
    expect(card).toHaveLength(1);
    expect(card[0]!.message.updates).toBeGreaterThan(cardUpdates);
    // New rows take ids after the copied ones, and each job's sequence goes on without a gap.
    const events = (await api.get(`/api/v1/jobs/${queued}/events`)).body.events as Json[];
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const started = events.find((e) => e.type === 'job.started')!;
    expect(started.id).toBeGreaterThan(lastEventId);
  });
});
