/**
 * The store's facets answer alike on both stores (a real SQLite file, a real PostgreSQL
 * database): chat message refs and their prefix lookup, replay claims and the interaction inbox,
 * the outbox's due rows, failures and drops, external runs with their deadlines and guarded
 * ends, and round diffs with the run a gate reviewed. What a surface or the API reads must not
 * depend on which database holds it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JobInput } from '../../src/orchestrator/types.js';
import type { StorePort } from '../../src/store/store.js';
import { slowClock, slowDecider, slowJob } from '../helpers/slow-job.js';
import { STORES, freshPlace, openAt, type StoreKind } from '../helpers/stores.js';

const clock = slowClock;
const decider = slowDecider;

let open: StorePort[] = [];
afterEach(async () => {
  for (const s of open) await s.close();
  open = [];
});

/** A store with one started job whose events go to the `slack` outbox. */
async function setUp(kind: StoreKind) {
  const store = await openAt(await freshPlace(kind));
  open.push(store);
  const job = await slowJob(store, { targets: ['slack'] });
  return { store, job };
}

describe.each(STORES)('store facets (%s)', (kind) => {
  it('chat refs: kept per key, replaced in place, and found by prefix in key order', async () => {
    const { store, job } = await setUp(kind);
    for (const key of ['gate:dm:U2', 'gate:dm:U1', 'gate:dmx', 'root']) await store.outbox.putRef('slack', job, key, { channel: `C-${key}`, messageId: `m-${key}`, threadId: null });
    await store.outbox.putRef('slack', job, 'root', { channel: 'C1', messageId: '111.222', threadId: '111.000' });
    expect(await store.outbox.getRef('slack', job, 'root')).toEqual({ channel: 'C1', messageId: '111.222', threadId: '111.000' });
    expect(await store.outbox.getRef('discord', job, 'root')).toBeUndefined();
    expect((await store.outbox.refsWithPrefix('slack', job, 'gate:dm:')).map((r) => r.key)).toEqual(['gate:dm:U1', 'gate:dm:U2']);
  });

  it('claims and the inbox: a key is first once, a prune forgets old claims only, a stored interaction waits until done', async () => {
    const { store } = await setUp(kind);
    expect(await store.outbox.claimOnce('old', 1_000)).toBe(true);
    expect(await store.outbox.claimOnce('old', 1_001)).toBe(false);
    expect(await store.inbox.accept('pending-click', 1_000, '{"a":1}')).toBe(true);
    expect(await store.outbox.pruneAndClaim('new', 5_000, 2_000)).toBe(true);
    // The old claim was pruned; a stored interaction is never pruned.
    expect(await store.outbox.claimOnce('old', 5_001)).toBe(true);
    expect(await store.inbox.accept('pending-click', 5_002, 'again')).toBe(false);
    // One batch: a replay of an earlier key, and a key repeated within the batch (Slack retried it
    // before the first answer): only the first occurrence is stored.
    expect(await store.inbox.acceptAll([{ key: 'b', payload: 'pb' }, { key: 'a', payload: 'pa' }, { key: 'new', payload: 'replay' }, { key: 'b', payload: 'pb again' }], 6_000)).toEqual([true, true, false, false]);
    expect(await store.inbox.acceptAll([], 6_000)).toEqual([]);
    expect((await store.inbox.pending()).map((i) => [i.key, i.at, i.payload])).toEqual([['pending-click', 1_000, '{"a":1}'], ['a', 6_000, 'pa'], ['b', 6_000, 'pb']]);
    await store.inbox.done('a');
    expect((await store.inbox.pending()).map((i) => i.key)).toEqual(['pending-click', 'b']);
    await store.outbox.releaseClaim('a');
    expect(await store.outbox.claimOnce('a', 7_000)).toBe(true);
  });

  it('the outbox: due jobs wait behind their oldest row; failed rows come back when due; dropped and delivered rows are gone', async () => {
    const { store, job } = await setUp(kind);
    const rows = await store.outbox.pendingForJob('slack', job);
    expect(rows[0]!.event.type).toBe('job.created');
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.map((r) => r.event.seq)).toEqual(rows.map((_, i) => i + 1));
    const now = clock.now();
    expect(await store.outbox.dueJobs('slack', now)).toEqual([job]);
    await store.outbox.markFailed(rows[0]!.id, 'rate limited', now + 1_000);
    expect(await store.outbox.dueJobs('slack', now)).toEqual([]);
    expect(await store.outbox.dueJobs('slack', now + 1_000)).toEqual([job]);
    expect((await store.outbox.pendingForJob('slack', job))[0]!.attempts).toBe(1);
    await store.outbox.markDropped(rows[0]!.id, 'channel_not_found', now);
    await store.outbox.markDelivered([rows[1]!.id], now);
    const rest = rows.slice(2).map((r) => r.id);
    expect((await store.outbox.pendingForJob('slack', job)).map((r) => r.id)).toEqual(rest);
    expect(await store.queries.outboxLag()).toEqual({ oldest: expect.any(Number), n: rest.length });
    await store.outbox.markDelivered(rest, now);
    expect(await store.queries.outboxLag()).toEqual({ oldest: null, n: 0 });
  });

  it('external runs: deadlines fall due, a newer run ends the older, ends are guarded, an armed run hands off once', async () => {
    const { store, job } = await setUp(kind);
    const t = 10_000;
    const first = await store.externalRuns.start({ jobId: job, stage: 'wait', run: 1, state: 'waiting', heartbeatMs: 1_000, timeoutMs: 60_000, notify: true, tokenHash: 'h1' }, t);
    expect(first.superseded).toEqual([]);
    expect(await store.externalRuns.byTokenHash('h1')).toMatchObject({ id: first.id, state: 'waiting', heartbeatDeadline: t + 1_000, timeoutDeadline: t + 60_000, notifyState: 'pending' });
    expect(await store.externalRuns.heartbeat(first.id, t + 500)).toBe(true);
    expect(await store.externalRuns.due(t + 1_400)).toEqual([]);
    expect((await store.externalRuns.due(t + 1_600)).map((r) => r.id)).toEqual([first.id]);
    expect((await store.externalRuns.pendingNotify()).map((r) => r.id)).toEqual([first.id]);
    await store.externalRuns.setNotify(first.id, 'delivered', 1);
    expect(await store.externalRuns.pendingNotify()).toEqual([]);
    const second = await store.externalRuns.start({ jobId: job, stage: 'wait', run: 2, state: 'armed', heartbeatMs: null, timeoutMs: 60_000, notify: false, tokenHash: 'h2' }, t + 2_000);
    expect(second.superseded.map((r) => r.id)).toEqual([first.id]);
    expect((await store.externalRuns.byId(first.id))!.state).toBe('ended');
    expect(await store.externalRuns.handOff(second.id, t + 3_000, 5_000)).toBe(true);
    expect(await store.externalRuns.handOff(second.id, t + 3_001, 5_000)).toBe(false);
    expect(await store.externalRuns.byId(second.id)).toMatchObject({ state: 'waiting', waitingSince: t + 3_000, heartbeatDeadline: null, timeoutDeadline: t + 8_000 });
    await store.externalRuns.addToken(second.id, 'h2b');
    expect((await store.externalRuns.byTokenHash('h2b'))!.id).toBe(second.id);
    expect((await store.externalRuns.waitingForJob(job)).map((r) => r.id)).toEqual([second.id]);
    expect(await store.externalRuns.end(second.id, 'completed', t + 4_000, 'sha')).toBe(true);
    expect(await store.externalRuns.end(second.id, 'failed', t + 4_001)).toBe(false);
    expect(await store.externalRuns.byId(second.id)).toMatchObject({ state: 'completed', reportHash: 'sha', endedAt: t + 4_000 });
  });

  it('round diffs: the first stored stays, and the run a gate reviewed is read from its gate.opened event', async () => {
    const { store, job } = await setUp(kind);
    const done: JobInput = { type: 'stage.succeeded', stage: 'wait', run: 1, summary: 'done', artifacts: [] };
    await store.apply({ items: [{ jobId: job, input: done }] }, decider);
    expect(await store.diffs.reviewedRun(job, 'wait', 1)).toBe(1);
    expect(await store.diffs.reviewedRun(job, 'wait', 2)).toBeUndefined();
    await store.diffs.insert({ job, stage: 'wait', round: 2, run: 2, previousRun: 1, data: { files: ['a'] } }, 1_000);
    await store.diffs.insert({ job, stage: 'wait', round: 2, run: 2, previousRun: 1, data: { files: ['b'] } }, 2_000);
    expect(await store.diffs.get(job, 'wait', 2)).toEqual({ job, stage: 'wait', round: 2, run: 2, previousRun: 1, data: { files: ['a'] }, createdAt: 1_000 });
    expect(await store.diffs.runBefore(job, 'wait', 2)).toBeUndefined();
    expect(await store.queries.openGates()).toEqual([{ job, stage: 'wait', round: 1 }]);
    expect(await store.queries.countsByState()).toEqual([{ state: 'awaiting_approval', n: 1 }]);
  });

  it('the job view: a job with its gate, its stage output and its queue place, as the API shows them', async () => {
    const { store, job } = await setUp(kind);
    const file = { stage: 'wait', run: 1, name: 'out.md', path: '/tmp/out.md', size: 3, mediaType: 'text/markdown', sha256: 'abc' };
    await store.apply({ items: [{ jobId: job, input: { type: 'stage.succeeded', stage: 'wait', run: 1, summary: 'done', artifacts: [file] } }] }, decider);
    const view = (await store.jobs.loadView(job))!;
    expect(view.agg.job.state).toBe('awaiting_approval');
    expect(view.agg.gates.map((g) => [g.stage, g.state])).toEqual([['wait', 'pending']]);
    expect(view.artifacts.map((a) => ({ ...a, id: 0, createdAt: 0 }))).toEqual([{ ...file, id: 0, job, createdAt: 0 }]);
    expect(view.queuePosition).toBeNull();
    // A queued job (never started) says where it waits; an unknown id is nothing.
    const second = await slowJob(store, { brief: 'wasps', submitter: 'console:bob', start: false });
    expect(await store.jobs.loadView(second)).toMatchObject({ agg: { job: { state: 'queued' } }, artifacts: [], queuePosition: 1 });
    expect(await store.jobs.loadView(second + 1)).toBeUndefined();
  });
});
