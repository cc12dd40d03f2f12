/**
 * The drainer's status edits, on a real engine and store (SQLite and PostgreSQL) with a surface that records what
 * it is asked to do: gate messages and notices go out at once, the status message is edited at
 * most once per interval per job with a trailing edit for the last change, and a change still
 * waiting for its edit stays in the outbox, so the next process makes it.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { changesStatus } from '../../src/bot/deliver-batch.js';
import { OutboxDrainer } from '../../src/bot/outbox-drainer.js';
import { Engine } from '../../src/orchestrator/engine.js';
import type { OutboxRow, Store } from '../../src/store/store.js';
import { configFrom, FakeClock, QUICK_PIPELINE, silentLog } from '../helpers/fixtures.js';
import { STORES, freshPlace, openAt, type StoreKind } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function boot(kind: StoreKind) {
  const place = await freshPlace(kind);
  const dir = place.dataDir;
  const store = await openAt(place);
  const engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: dir, baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false, chatSurfaces: ['slack'] });
  await engine.start();
  cleanup.push(async () => {
    await engine.stop();
    await store.close();
  });
  const r = (await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'quick', brief: 'b', origin: { surface: 'slack' } }));
  if (!r.ok) throw new Error(r.message);
  return { store, engine, job: r.jobId };
}

/** A surface that records the rows it delivers (by event type) and when it edits the status. */
function drainer(store: Store, statusEditIntervalMs: number) {
  const delivered: string[] = [];
  const edits: number[] = [];
  const d = new OutboxDrainer({
    store,
    target: 'slack',
    log: silentLog,
    statusEditIntervalMs,
    deliver: async (_job, rows: OutboxRow[]) => void delivered.push(...rows.map((r) => r.event.type)),
    editStatus: async () => void edits.push(performance.now()),
  });
  d.start();
  cleanup.push(() => d.stop());
  return { d, delivered, edits };
}

const atGate = (store: Store, job: number, stage: string) =>
  waitFor(async () => (await store.jobs.load(job))!.gates.some((g) => g.stage === stage && g.state === 'pending'), `the ${stage} gate to open`);
const pending = async (store: Store, job: number) => (await store.outbox.pendingForJob('slack', job));
const bob = { platform: 'console' as const, user: 'bob' };

describe.each(STORES)('status edits (%s)', (kind) => {
  it('delivers gate cards at once, edits the status once per interval, and the last change lands', async () => {
    const { store, engine, job } = await boot(kind);
    await atGate(store, job, 'outline');
    const a = drainer(store, 3_000);
    await waitFor(async () => (await pending(store, job)).length === 0, 'the first batch');
    expect(a.edits).toHaveLength(1);

    // Within the interval: the script card and the notices go out at once; the status edit waits,
    // its newest row kept in the outbox.
    expect((await engine.act(bob, job, { type: 'approve', stage: 'outline' }))).toMatchObject({ ok: true });
    await atGate(store, job, 'script');
    await waitFor(async () => a.delivered.lastIndexOf('gate.opened') > a.delivered.indexOf('gate.approved') && (await pending(store, job)).length === 1, 'the script card, with the status edit waiting');
    const kept = await pending(store, job);
    expect(changesStatus(kept[0]!)).toBe(true);
    expect(kept[0]!.event.seq).toBe((await store.events.forJob(job)).filter((e) => changesStatus({ event: e } as OutboxRow)).at(-1)!.seq);
    expect(a.edits).toHaveLength(1);

    // The trailing edit, once the interval is over; the kept row is not delivered twice.
    await waitFor(async () => (await pending(store, job)).length === 0, 'the trailing status edit');
    expect(a.edits).toHaveLength(2);
    expect(a.edits[1]! - a.edits[0]!).toBeGreaterThanOrEqual(3_000);
    expect(a.delivered.filter((t) => t === 'gate.opened')).toHaveLength(2);
    expect(a.delivered).toHaveLength((await store.events.forJob(job)).length);
  });

  it('a status change still waiting for its edit survives a crash: the next process edits the status', async () => {
    const { store, engine, job } = await boot(kind);
    await atGate(store, job, 'outline');
    const a = drainer(store, 60_000);
    await waitFor(async () => (await pending(store, job)).length === 0, 'the first batch');
    await engine.act(bob, job, { type: 'approve', stage: 'outline' });
    await atGate(store, job, 'script');
    await waitFor(async () => a.delivered.lastIndexOf('gate.opened') > a.delivered.indexOf('gate.approved') && (await pending(store, job)).length === 1, 'the script card, with the status edit waiting');
    // The process dies: nothing more happens in it.
    await a.d.stop();
    expect(a.edits).toHaveLength(1);
    const [kept] = await pending(store, job);

    // The next process delivers the kept row again (its parts are idempotent) and edits the status at once.
    const b = drainer(store, 60_000);
    await waitFor(async () => (await pending(store, job)).length === 0, 'the status edit after the restart');
    expect(b.edits).toHaveLength(1);
    expect(b.delivered).toEqual([kept!.event.type]);
  });
});
