/**
 * What a crash-chaos campaign (crash-run.ts) needs from whatever keeps signoff running: one
 * process on SQLite (restarter.ts) or a cluster on PostgreSQL (tests/cluster/lib/cluster-keeper.ts).
 * The campaign only sends requests, waits while nothing is up, and asks for disruptions; the
 * keeper decides what a disruption is (a SIGKILL of one process, a PostgreSQL restart).
 */
import type { DbSnapshot } from './checks.js';
import type { SignoffChild } from './child.js';

export interface Keeper {
  /** The process to send the next request to (a cluster hands out its live replicas in turn). */
  readonly child: SignoffChild;
  /** +1 at each disruption: a request in flight across one may have lost its answer. */
  readonly generation: number;
  /** When the processes last changed (the latest restart or disruption). */
  readonly upSince: number;
  /** Processes started again after a disruption. */
  readonly restarts: number;
  /** Processes that exited without being asked to (each is also reported as a violation). */
  readonly diedOnItsOwn: number;
  /** Stages found running right after each disruption, as `job:stage:run`. */
  readonly snapshots: Set<string>[];
  /** Date.now() of each disruption. */
  readonly killTimes: number[];
  start(): Promise<void>;
  /** Resolves when a process can take requests (at once if one can). */
  up(): Promise<void>;
  /** The next disruption, then `downtimeMs` of whatever it took down staying down. */
  killAndRestart(downtimeMs: number): Promise<void>;
  /** Stops everything cleanly (SIGTERM), reporting a process that does not exit 0 as a violation. */
  stop(): Promise<void>;
  /** Everything stored, read once `stop()` returned. */
  read(): Promise<DbSnapshot>;
}
