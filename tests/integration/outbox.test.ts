/**
 * The outbox the chat surfaces deliver from: rows written with each event for each connected
 * surface the job belongs to, drained in order per job, a failing row holding back only its job.
 * On both stores (a SQLite file, a PostgreSQL database), including a reopen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/orchestrator/engine.js';
import type { Store } from '../../src/store/store.js';
import { configFrom, FakeClock, QUICK_PIPELINE, silentLog } from '../helpers/fixtures.js';
import { STORES, freshPlace, openAt, type StoreKind } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

async function boot(kind: StoreKind, chatSurfaces: string[], yaml = QUICK_PIPELINE) {
  const place = await freshPlace(kind);
  const dir = place.dataDir;
  const store = await openAt(place);
  const clock = new FakeClock();
  const engine = new Engine({ store, config: configFrom(yaml), dataDir: dir, baseDir: process.cwd(), log: silentLog, clock, tickSchedule: false, chatSurfaces });
  await engine.start();
  cleanup.push(async () => {
    await engine.stop();
    await store.close();
  });
  return { store, engine, clock };
}

const submitFrom = async (engine: Engine, surface: 'slack' | 'discord' | 'console') => {
  const r = (await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'quick', brief: 'b', origin: { surface } }));
  if (!r.ok) throw new Error(r.message);
  return r.jobId;
};
const atGate = (store: Store, id: number) => waitFor(async () => (await store.jobs.load(id))!.job.state === 'awaiting_approval', 'the first gate');

describe.each(STORES)('outbox (%s)', (kind) => {
  it('writes one row per shown event for the surface the job came from, none for others', async () => {
    const { store, engine, clock } = await boot(kind, ['slack', 'discord']);
    const id = await submitFrom(engine, 'slack');
    await atGate(store, id);
    const rows = (await store.outbox.pendingForJob('slack', id));
    expect(rows.map((r) => r.event.seq)).toEqual((await store.events.forJob(id)).map((e) => e.seq));
    expect((await store.outbox.pendingForJob('discord', id))).toEqual([]);
    expect((await store.outbox.dueJobs('slack', clock.now()))).toEqual([id]);
    // A refused click is audit only: it is not announced in chat.
    await engine.act({ platform: 'console', user: 'dave' }, id, { type: 'approve', stage: 'outline' });
    expect((await store.events.forJob(id)).at(-1)!.type).toBe('gate.refused');
    expect((await store.outbox.pendingForJob('slack', id))).toHaveLength(rows.length);
  });

  it('sends every job to a surface that has a configured channel', async () => {
    const { store, engine } = await boot(kind, ['slack'], `${QUICK_PIPELINE}\nchannels: { slack: C0CHAN }\n`);
    const id = await submitFrom(engine, 'console');
    await atGate(store, id);
    expect((await store.outbox.pendingForJob('slack', id)).length).toBeGreaterThan(0);
  });

  it('holds back a job behind its failed row until the retry time, without holding other jobs', async () => {
    const { store, engine, clock } = await boot(kind, ['slack']);
    const a = await submitFrom(engine, 'slack');
    const b = await submitFrom(engine, 'slack');
    await atGate(store, a);
    await atGate(store, b);
    const first = (await store.outbox.pendingForJob('slack', a))[0]!;
    await store.outbox.markFailed(first.id, 'HTTP 500', clock.now() + 5_000);
    expect((await store.outbox.dueJobs('slack', clock.now()))).toEqual([b]);
    clock.advance(5_000);
    expect((await store.outbox.dueJobs('slack', clock.now()))).toEqual([a, b]);
    await store.outbox.markDelivered((await store.outbox.pendingForJob('slack', a)).map((r) => r.id), clock.now());
    expect((await store.outbox.dueJobs('slack', clock.now()))).toEqual([b]);
    expect((await store.queries.outboxLag()).n).toBe((await store.outbox.pendingForJob('slack', b)).length);
  });

  it('remembers message ids across a reopen and claims a replay key once', async () => {
    const place = await freshPlace(kind);
    const dir = place.dataDir;
    let store = await openAt(place);
    const engine = (new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: dir, baseDir: process.cwd(), log: silentLog, tickSchedule: false }));
    const r = (await engine.submit({ platform: 'api', user: 'api' }, { pipeline: 'quick', brief: 'b', origin: { surface: 'api' } }));
    if (!r.ok) throw new Error(r.message);
    await store.outbox.putRef('slack', r.jobId, 'root', { channel: 'C1', messageId: '1700000000.000100', threadId: null });
    expect((await store.outbox.claimOnce('slack:action:123', 1))).toBe(true);
    expect((await store.outbox.claimOnce('slack:action:123', 2))).toBe(false);
    await engine.stop();
    await store.close();
    store = await openAt(place);
    expect((await store.outbox.getRef('slack', r.jobId, 'root'))).toEqual({ channel: 'C1', messageId: '1700000000.000100', threadId: null });
    expect((await store.outbox.claimOnce('slack:action:123', 3))).toBe(false);
    await store.close();
  });

  it('keeps a stored interaction until it is carried out, across a reopen, and applies a replay of it never', async () => {
    const place = await freshPlace(kind);
    let store = await openAt(place);
    expect((await store.inbox.accept('slack:action:U1:1.5', 1_000, '{"n":1}'))).toBe(true);
    expect((await store.inbox.accept('slack:action:U1:1.5', 1_001, '{"n":2}')), 'a replay is refused').toBe(false);
    expect((await store.outbox.claimOnce('slack:action:U1:1.5', 1_002)), 'the inbox row is also the replay claim').toBe(false);
    expect((await store.inbox.accept('slack:command:T2', 2_000, '{"n":3}'))).toBe(true);
    // Old claims are pruned, but never one whose interaction is still to be carried out.
    await store.outbox.pruneClaims(10_000);
    await store.close();
    store = await openAt(place);
    expect((await store.inbox.pending())).toEqual([
      { key: 'slack:action:U1:1.5', at: 1_000, payload: '{"n":1}' },
      { key: 'slack:command:T2', at: 2_000, payload: '{"n":3}' },
    ]);
    await store.inbox.done('slack:action:U1:1.5');
    expect((await store.inbox.pending()).map((i) => i.key)).toEqual(['slack:command:T2']);
    expect((await store.inbox.accept('slack:action:U1:1.5', 3_000, '{"n":4}')), 'carried out, still claimed').toBe(false);
    await store.outbox.pruneClaims(10_000);
    expect((await store.inbox.accept('slack:action:U1:1.5', 11_000, '{"n":5}')), 'a claim pruned after the window').toBe(true);
    await store.close();
  });
});
