/**
 * The store keeps the last aggregate it loaded or saved per job. Over a real SQLite file with two
 * connections (as two processes would have): what one store remembers never hides a write of the
 * other, including after a transaction of its own was rolled back.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cloneAggregate } from '../../src/orchestrator/clone-aggregate.js';
import { createJob } from '../../src/orchestrator/create-job.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { configFrom, OPERATORS, tempDir } from '../helpers/fixtures.js';

const config = configFrom(`${OPERATORS}
pipelines:
  p:
    stages:
      - id: a
        run: { builtin: outline }
      - id: b
        run: { builtin: script }
`);

let stores: SqliteStore[] = [];
afterEach(() => {
  for (const s of stores) s.close();
  stores = [];
});

function twoStores() {
  const file = path.join(tempDir(), 'signoff.db');
  const one = openStore(file);
  const two = openStore(file);
  stores.push(one, two);
  return { one, two };
}

function insertJob(store: SqliteStore): number {
  return store.sync.transaction(() => {
    const { agg } = createJob({ id: 0, pipeline: 'p', def: config.pipelines.p!, brief: 'cache me', params: {}, submitter: 'console:alice', origin: { surface: 'console' }, targets: [] }, 1_000);
    const id = store.sync.jobs.insert(agg);
    store.sync.jobs.save(cloneAggregate(agg), agg, 1_000);
    return id;
  });
}

/** Saves a change to the job's error text (a field nothing else touches) and returns the new aggregate. */
function saveError(store: SqliteStore, id: number, error: string, now: number) {
  const prev = store.sync.jobs.load(id)!;
  const next = cloneAggregate(prev);
  next.job.error = error;
  store.sync.jobs.save(prev, next, now);
  return next;
}

describe('the job cache', () => {
  it('sees what another connection wrote', async () => {
    const { one, two } = twoStores();
    const id = insertJob(one);
    expect((await one.jobs.load(id))!.job.error).toBeNull();
    two.sync.transaction(() => saveError(two, id, 'written by the other process', 2_000));
    expect((await one.jobs.load(id))!.job.error).toBe('written by the other process');
  });

  it('forgets what a rolled-back transaction saved, so a later write of the same version by another connection is seen', async () => {
    const { one, two } = twoStores();
    const id = insertJob(one);
    const version = (await one.jobs.load(id))!.job.version;
    expect(() =>
      one.sync.transaction(() => {
        saveError(one, id, 'never committed', 2_000);
        throw new Error('rolled back by the test');
      }),
    ).toThrow('rolled back by the test');
    // The same, as a savepoint inside a transaction that commits.
    one.sync.transaction(() => {
      expect(() => one.sync.transaction(() => {
        saveError(one, id, 'rolled back to its savepoint', 2_000);
        throw new Error('rolled back by the test');
      })).toThrow('rolled back by the test');
    });
    // (Checked through the other connection: a load here would itself replace a wrong entry.)
    expect((await two.jobs.load(id))!.job).toMatchObject({ version, error: null });
    // The other connection now writes the version the rolled-back saves had claimed.
    two.sync.transaction(() => saveError(two, id, 'the real next version', 3_000));
    expect((await one.jobs.load(id))!.job).toMatchObject({ version: version + 1, error: 'the real next version' });
  });

  it('hands out copies: changing a loaded aggregate changes nothing stored', async () => {
    const { one } = twoStores();
    const id = insertJob(one);
    const a = (await one.jobs.load(id))!;
    a.job.error = 'changed in memory only';
    a.stages[0]!.state = 'failed';
    expect((await one.jobs.load(id))!.job.error).toBeNull();
    expect((await one.jobs.load(id))!.stages[0]!.state).toBe('pending');
  });
});
