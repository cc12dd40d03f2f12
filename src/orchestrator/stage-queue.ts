/**
 * The stage queue as the engine sees it (implemented in src/stages/queue, PostgreSQL only).
 */
import type { JobAggregate } from './types.js';

/** A run of a job's stage. */
export interface RunRef {
  jobId: number;
  stage: string;
  run: number;
}

/**
 * The store queues runs in the transaction that starts them; the engine only skips running those
 * here, wakes this process's worker, and re-runs runs whose lease ran out (their worker died).
 */
export interface StageQueue {
  /** True when runs of `stage` go through the queue (every stage but an external one). */
  queued(agg: JobAggregate, stage: string): boolean;
  /** Leases that ran out, oldest first. */
  expired(): Promise<RunRef[]>;
  /** Stages running with no lease at all (from before leases existed). */
  unleased(): Promise<RunRef[]>;
  /**
   * A run of `started` was queued by this process: its own worker (if any) takes it without
   * waiting for NOTIFY, and without reading the job again.
   */
  wake(started: JobAggregate): void;
}
