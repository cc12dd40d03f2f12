/**
 * The values the orchestrator works with. A job and everything that belongs to it (its stage
 * records, its gates and their votes) form one aggregate that a transition reads and returns.
 */
import type { Pipeline } from '../config/schema.js';

export const JOB_STATES = ['queued', 'running', 'awaiting_approval', 'succeeded', 'failed', 'rejected', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'rejected', 'cancelled'];

export type StageState = 'pending' | 'running' | 'retry_wait' | 'succeeded' | 'failed' | 'cancelled';
export type GateState = 'pending' | 'held' | 'approved' | 'rejected' | 'expired' | 'cancelled';

/** Where a job came from, so replies and chat messages go back there. */
export interface Origin {
  surface: 'api' | 'console' | 'slack' | 'discord';
  channel?: string;
  thread?: string;
}

export interface Job {
  id: number;
  pipeline: string;
  brief: string;
  params: Record<string, string>;
  /** Actor id of the person who submitted, e.g. `slack:U01AAA`, `console:alice`, `api`. */
  submitter: string;
  origin: Origin;
  /** Chat surfaces this job's notifications go to (`slack`, `discord`). */
  targets: string[];
  /** The pipeline as it was when the job was submitted; later config edits do not change it. */
  def: Pipeline;
  state: JobState;
  /** The current (or last) stage id. */
  stage: string | null;
  /** On a retry: the stage to start from. */
  resumeFrom: string | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Bumped on every save; a save with a stale version is refused (compare-and-set). */
  version: number;
  lastSeq: number;
}

export interface StageRecord {
  stage: string;
  index: number;
  state: StageState;
  /** Execution counter; bumped whenever the stage (re)starts. Outcomes of older runs are ignored. */
  run: number;
  /** Attempt within the current series of retries (1 = first try). */
  attempt: number;
  startedAt: number | null;
  finishedAt: number | null;
  retryAt: number | null;
  error: string | null;
  summary: string | null;
  outputs: Record<string, unknown> | null;
  /** The reviewer's reason when this stage is being redone after a rejection. */
  redoReason: string | null;
}

export interface Vote {
  actor: string;
  display: string;
  vote: 'approve' | 'reject';
  reason: string | null;
  at: number;
}

export interface Gate {
  /** Database id; 0 until stored. */
  id: number;
  stage: string;
  /** 1 for the first time the gate opens, 2 after a redo… */
  round: number;
  state: GateState;
  required: boolean;
  minApprovals: number;
  openedAt: number;
  deadlineAt: number | null;
  deadlineKind: 'auto_approve' | 'timeout' | null;
  remindAt: number | null;
  /** When the gate escalates to its `escalate_to` groups if still undecided; null once done or when it never does. */
  escalateAt: number | null;
  /** When it escalated: from then on the escalation groups may decide too. */
  escalatedAt: number | null;
  decidedAt: number | null;
  /** Display name of who (or `timer`) decided. */
  decidedBy: string | null;
  reason: string | null;
  votes: Vote[];
}

export interface JobAggregate {
  job: Job;
  stages: StageRecord[];
  gates: Gate[];
}

/** Who is acting, with the operator groups the policy found them in. */
export interface Actor {
  id: string;
  display: string;
  groups: string[];
  /** The API token holder: may do anything, is not a person, so self-approval rules do not bind it. */
  admin: boolean;
}

export interface ArtifactFile {
  stage: string;
  run: number;
  name: string;
  path: string;
  size: number;
  mediaType: string;
  sha256: string;
}

/** What can happen to a job: inputs of the transition function. */
export type JobInput =
  | { type: 'start' }
  /** `waiting`: stage runs that wait for an external system; they keep waiting instead of re-running. */
  | { type: 'recover'; waiting?: { stage: string; run: number }[] }
  | { type: 'tick' }
  | { type: 'stage.progress'; stage: string; run: number; message: string }
  | { type: 'stage.succeeded'; stage: string; run: number; summary?: string; outputs?: Record<string, unknown>; artifacts: ArtifactFile[] }
  | { type: 'stage.failed'; stage: string; run: number; error: string; code: string }
  /** `round`, when given, is the gate round the person saw (a button on an older card). */
  | { type: 'vote'; actor: Actor; stage: string; vote: 'approve' | 'reject'; reason?: string; round?: number }
  | { type: 'hold'; actor: Actor; stage: string; round?: number }
  | { type: 'cancel'; actor: Actor; reason?: string }
  | { type: 'retry'; actor: Actor };

export type EventType =
  | 'job.created' | 'job.queued' | 'job.started' | 'job.cancelled' | 'job.retried' | 'job.finished'
  | 'stage.started' | 'stage.progress' | 'stage.succeeded' | 'stage.failed' | 'stage.retried' | 'stage.recovered'
  | 'gate.opened' | 'gate.voted' | 'gate.approved' | 'gate.rejected' | 'gate.held' | 'gate.expired'
  | 'gate.reminded' | 'gate.escalated' | 'gate.cancelled' | 'gate.refused' | 'artifact.added';

/** Effects are data: the runner persists events and artifacts in the transaction, then acts. */
export type Effect =
  | { type: 'event'; event: EventType; data: Record<string, unknown> }
  | { type: 'artifact'; file: ArtifactFile }
  | { type: 'runStage'; stage: string; run: number; attempt: number }
  | { type: 'killStage'; stage: string; run: number };

/** The answer to the person who acted. Refusals change nothing but the audit trail. */
export type Reply =
  | { ok: true; message: string }
  | { ok: false; code: RefusalCode; message: string };

export type RefusalCode =
  | 'not_found' | 'not_authorised' | 'self_approval' | 'already_decided' | 'not_pending'
  | 'already_voted' | 'reason_required' | 'not_holdable' | 'not_retryable' | 'finished'
  | 'rate_limited' | 'invalid' | 'busy';

export interface TransitionResult {
  agg: JobAggregate;
  effects: Effect[];
  reply?: Reply;
}
