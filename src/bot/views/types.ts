/**
 * Neutral views: what a chat surface shows, as plain data with plain text (no markup). The
 * console renders them to HTML, Slack to Block Kit, Discord to embeds and components; each
 * escapes the text for its own format.
 */
import type { GateState, JobState, StageState } from '../../orchestrator/types.js';

/** How something should feel: surfaces map this to colours. */
export type Tone = 'neutral' | 'active' | 'waiting' | 'good' | 'bad' | 'muted';

/** A person as the views show them: the actor id (`slack:U01…`) and a display name. */
export interface PersonRef {
  id: string;
  platform: string;
  user: string;
}

export interface ArtifactRef {
  id: number;
  name: string;
  stage: string;
  size: number;
  mediaType: string;
}

export interface StageLine {
  id: string;
  name: string;
  state: StageState | 'awaiting_approval' | 'held';
  icon: string;
  tone: Tone;
  durationMs: number | null;
  /** e.g. "attempt 2 of 3", "waiting for approval (1 of 2)", "retry in 4s". */
  note: string | null;
}

/** The root message of a job, edited in place through its life. */
export interface JobStatusView {
  kind: 'job.status';
  jobId: number;
  pipeline: string;
  title: string;
  brief: string;
  submitter: PersonRef;
  state: JobState;
  stateLabel: string;
  icon: string;
  tone: Tone;
  stages: StageLine[];
  progress: { done: number; total: number; percent: number };
  queuePosition: number | null;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number;
}

/** One approval gate, one message, edited from pending to its outcome. */
export interface GateCardView {
  kind: 'gate.card';
  jobId: number;
  stage: string;
  stageName: string;
  round: number;
  required: boolean;
  state: GateState;
  icon: string;
  tone: Tone;
  title: string;
  /** What is being reviewed: the stage's summary line. */
  text: string;
  /** The reason a redone stage was given, when this round is a redo. */
  redoReason: string | null;
  approvers: string[];
  approvals: { count: number; needed: number; names: string[] };
  deadline: { kind: 'auto_approve' | 'timeout'; at: number; onTimeout: 'approve' | 'reject' | 'fail' | null } | null;
  /** Buttons to show; empty once the gate is decided, expired or cancelled. */
  actions: ('approve' | 'reject' | 'hold')[];
  outcome: { label: string; by: string | null; at: number | null; reason: string | null } | null;
  /** The reviewed stage's artifacts (text excerpts and images are shown with the gate). */
  artifacts: ArtifactRef[];
  openedAt: number;
}

/** A reply in the job's thread: a stage result, a decision, a summary. */
export interface NoticeView {
  kind: 'notice';
  jobId: number;
  seq: number;
  at: number;
  icon: string;
  tone: Tone;
  text: string;
  artifacts: ArtifactRef[];
}

/** Stage runs and gate waits of a job as bars on a time axis. */
export interface TimelineView {
  kind: 'timeline';
  jobId: number;
  start: number;
  end: number;
  bars: { label: string; kind: 'stage' | 'gate'; state: string; tone: Tone; start: number; end: number }[];
}
