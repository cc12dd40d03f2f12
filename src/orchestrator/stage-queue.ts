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
  /** Runs were queued by this process: its own worker (if any) takes them without waiting for NOTIFY. */
  wake(): void;
}
