/**
 * One job driven straight through a store's unit of work (no engine): a pipeline whose one stage
 * would run for a minute behind a required gate, so the job stays `running` while a test feeds it
 * inputs by hand. For tests of the store boundary itself.
 */
import { transitionDecider } from '../../src/orchestrator/commit-input.js';
import { createJob } from '../../src/orchestrator/create-job.js';
import type { StorePort } from '../../src/store/store.js';
import { configFrom, FakeClock, OPERATORS } from './fixtures.js';

export const slowConfig = configFrom(`${OPERATORS}
pipelines:
  slow:
    stages:
      - id: wait
        run: { command: ["sleep", "60"] }
        gate: { required: true, approvers: [editors] }
`);
export const slowClock = new FakeClock();
/** The pure transition, as the engine hands it to the store. */
export const slowDecider = transitionDecider(slowClock);

/** Creates a `slow` job (its events go to `targets`' outboxes) and, unless `start` is false, starts it; its id. */
export async function slowJob(store: StorePort, o: { targets?: string[]; brief?: string; submitter?: string; start?: boolean } = {}): Promise<number> {
  const created = createJob({ id: 0, pipeline: 'slow', def: slowConfig.pipelines.slow!, brief: o.brief ?? 'bees', params: {}, submitter: o.submitter ?? 'console:alice', origin: { surface: 'console' }, targets: o.targets ?? [] }, slowClock.now());
  const job = (await store.apply({ create: { ...created, at: slowClock.now() }, items: [] }, slowDecider)).created!.agg.job.id;
  if (o.start !== false) await store.apply({ items: [{ jobId: job, input: { type: 'start' } }] }, slowDecider);
  return job;
}
