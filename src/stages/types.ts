/**
 * The one interface every stage adapter (builtin, command, http) implements. An adapter does
 * the work of one stage attempt: it reads its inputs, writes files into `outputDir` (each file
 * left there becomes an artifact of the stage) and resolves, or rejects with a `StageError`.
 */
import type { Logger } from 'pino';

/** An artifact of an earlier stage, handed to later stages. */
export interface InputArtifact {
  id: number;
  stage: string;
  name: string;
  /** Absolute path of the file on disk. */
  path: string;
  size: number;
}

export interface StageContext {
  jobId: number;
  pipeline: string;
  stageId: string;
  /** 1 for the first attempt of this stage run, 2 for its first retry… */
  attempt: number;
  brief: string;
  params: Record<string, string>;
  submitter: string;
  /** Absolute, empty, stage-private directory; every file left here becomes an artifact. */
  outputDir: string;
  /** Absolute path where an adapter may write a log; registered as `<stage>.log` when not empty. */
  logPath: string;
  /** Artifacts of every earlier stage of the job (latest run of each). */
  inputs: InputArtifact[];
  /** When this stage is being redone after a rejection: the reviewer's reason. */
  redoReason?: string;
  /** Notes approvers left when approving earlier stages ("yes, but…"), earliest stage first. */
  approvalNotes?: { stage: string; round: number; by: string; note: string }[];
  /** Aborted on cancel or shutdown; adapters stop their work (and kill their processes). */
  signal: AbortSignal;
  /** Report progress (a short line a person can read). */
  progress(message: string): void;
  log: Logger;
  /**
   * When the stage may hand its run to an external system: where to report and the run's token
   * (for a command stage's environment), and `begin`, called when the program prints `::external::`.
   */
  handoff?: { url: string; token: string; begin(): Promise<boolean> };
}

export interface StageOutcome {
  /** A one-line summary shown in chat, e.g. "Outline: 5 sections". */
  summary?: string;
  /** Small structured outputs (JSON) kept with the stage. */
  outputs?: Record<string, unknown>;
  /** `external`: the run was handed off; its outcome arrives later with the run's token. */
  wait?: 'external';
}

export type StageAdapter = (ctx: StageContext) => Promise<StageOutcome>;

/** A stage attempt that did not succeed; `message` is shown to people, so it says what happened. */
export class StageError extends Error {
  constructor(
    message: string,
    /** `timeout`, `exit`, `http`, `cancelled`, `invalid`, `crash` … */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StageError';
  }
}
