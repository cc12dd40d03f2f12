/**
 * The outbox drainer under a courier term that ends: while `mayDeliver()` is false it sends
 * nothing, and a batch cut short because the term ended mid-way records no failure (no attempt
 * counted, no backoff), so the next courier delivers the rows at once. When the term comes
 * back, the rows go out, each once.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/orchestrator/engine.js';
import { NotCourierError, OutboxDrainer } from '../../src/bot/outbox-drainer.js';
import { openStore } from '../../src/store/store.js';
import type { OutboxRow } from '../../src/store/store.js';
import { configFrom, FakeClock, QUICK_PIPELINE, silentLog, tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('the outbox drainer and the courier term', () => {
  it('sends nothing while the term is off, records no failure when it ends mid-batch, and delivers once it is back', async () => {
    const dir = tempDir();
    const store = openStore(path.join(dir, 'signoff.db'));
    const clock = new FakeClock();
    const engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: dir, baseDir: process.cwd(), log: silentLog, clock, tickSchedule: false, chatSurfaces: ['slack'] });
    await engine.start();
    cleanup.push(async () => {
      await engine.stop();
      store.close();
    });
    const r = await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'quick', brief: 'b', origin: { surface: 'slack' } });
    if (!r.ok) throw new Error(r.message);
    await waitFor(async () => (await store.jobs.load(r.jobId))!.job.state === 'awaiting_approval', 'the first gate');
    const pending = (await store.outbox.pendingForJob('slack', r.jobId)).length;
    expect(pending).toBeGreaterThan(1);

    let term = false;
    let endTermAfterOne = false;
    const sent: number[] = [];
    const drainer = new OutboxDrainer({
      store, target: 'slack', log: silentLog, clock, idleMs: 60_000, statusEditIntervalMs: 0,
      mayDeliver: () => term,
      // Sends each row's part in order; the term may end between two of them, as a platform
      // call takes time (the notifier checks the term before each post).
      deliver: async (_job, rows: OutboxRow[]) => {
        for (const row of rows) {
          if (!term) throw new NotCourierError();
          if (!sent.includes(row.id)) sent.push(row.id);
          if (endTermAfterOne) term = false;
        }
      },
      editStatus: async () => {
        if (!term) throw new NotCourierError();
      },
    });
    cleanup.push(() => drainer.stop());

    // Not the courier: rounds send nothing. (No idle round comes during the test: each round
    // below is the test's own.)
    drainer.start();
    await drainer.round();
    expect(sent).toEqual([]);

    // The term ends after the first part of the batch.
    term = true;
    endTermAfterOne = true;
    await drainer.round();
    expect(sent).toHaveLength(1);
    const rows = await store.outbox.pendingForJob('slack', r.jobId);
    expect(rows).toHaveLength(pending);
    expect(rows.map((row) => row.attempts)).toEqual(rows.map(() => 0));
    expect(await store.outbox.dueJobs('slack', clock.now())).toEqual([r.jobId]);

    // Back: everything goes out, each part once.
    endTermAfterOne = false;
    term = true;
    drainer.poke();
    await waitFor(async () => (await store.outbox.pendingForJob('slack', r.jobId)).length === 0, 'the outbox to drain');
    expect(new Set(sent).size).toBe(sent.length);
    expect(sent).toHaveLength(pending);
  });
});
