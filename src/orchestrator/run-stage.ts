/**
 * One stage run, wherever it runs (in-process by the StageLauncher on SQLite, by a queue worker on
 * PostgreSQL): prepares a fresh output directory, hands the stage its inputs, runs the adapter,
 * and turns what happened into the `stage.succeeded` / `stage.failed` input to report. This is
 * the one place that reads a run's inputs and the one place that collects its outputs.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { adapterFor } from '../stages/index.js';
import { collectOutputs } from '../artifacts/outputs.js';
import { stageInputs } from '../artifacts/inputs.js';
import type { ArtifactContents } from '../artifacts/contents.js';
import { StageError, type StageContext } from '../stages/types.js';
import type { Store } from '../store/store.js';
import type { JobAggregate, JobInput } from './types.js';
import { approvalNotesBefore } from './approval-notes.js';
import type { ExternalRuns } from './external-runs.js';

/** What running a stage needs from its host process. */
export interface StageRunDeps {
  store: Store;
  /**
   * Where run directories are and where outputs are kept once a run succeeds (src/artifacts):
   * the data directory on SQLite, the database (or a shared directory) on PostgreSQL.
   */
  contents: ArtifactContents;
  /** Directory command stages run in unless they set `cwd`. */
  baseDir: string;
  log: Logger;
  clock: { now(): number };
  external: ExternalRuns;
  /** Progress lines (already thinned out), reported as `stage.progress` inputs. */
  report(jobId: number, input: JobInput): void;
}

/**
 * Makes `outputDir` inside an empty run directory `dir`. Run numbers only grow, so the directory
 * is nearly always new: `mkdir` says so (it returns the first directory it created), and only a
 * run directory that already existed (a run number reused after a lost commit) is removed first.
 */
async function freshDirectory(dir: string, outputDir: string): Promise<void> {
  const created = await fs.mkdir(outputDir, { recursive: true });
  if (created !== undefined && !path.relative(created, dir).startsWith('..')) return;
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(outputDir, { recursive: true });
}

/**
 * Runs `fn` (reading inputs from, or storing outputs into, where artifact contents live) again
 * with backoff while it fails for a reason that is not the stage's (a database restart, a dropped
 * connection), for about a minute: a stage that did its work must not fail because PostgreSQL
 * was briefly away. A StageError (an output over the cap) is the stage's and is not retried.
 */
async function persistently<T>(what: string, fn: () => Promise<T>, log: Logger, signal: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StageError || attempt >= 9 || signal.aborted) throw err;
      const wait = Math.min(8_000, 250 * 2 ** attempt);
      log.warn({ err, attempt, waitMs: wait }, `could not ${what} just now; trying again`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/** Progress lines closer together than this are dropped, so a chatty stage cannot flood chat. */
const PROGRESS_GAP_MS = 500;

/**
 * Runs `run` of `stage` of the job in `agg` until it ends or `signal` aborts it. Resolves the
 * outcome to report, or undefined when the run was handed to an external system (its outcome
 * comes with the run's token). Never rejects: a crash is a `stage.failed` with code `crash`.
 */
export async function runStageRun(o: StageRunDeps, agg: JobAggregate, stage: string, run: number, attempt: number, signal: AbortSignal): Promise<JobInput | undefined> {
  const { job } = agg;
  const index = job.def.stages.findIndex((s) => s.id === stage);
  const def = job.def.stages[index]!;
  const record = agg.stages[index]!;
  const dir = o.contents.runDir(job.id, stage, run);
  const outputDir = path.join(dir, 'out');
  const logPath = path.join(dir, 'stage.log');
  const before = new Set(job.def.stages.slice(0, index).map((s) => s.id));
  const log = o.log.child({ jobId: job.id, stage, run });
  let lastProgress = 0;
  const approvalNotes = approvalNotesBefore(agg, stage);
  const ctx: StageContext = {
    jobId: job.id,
    pipeline: job.pipeline,
    stageId: stage,
    attempt,
    brief: job.brief,
    params: job.params,
    submitter: job.submitter,
    outputDir,
    logPath,
    inputs: [],
    ...(record.redoReason ? { redoReason: record.redoReason } : {}),
    ...(approvalNotes.length ? { approvalNotes } : {}),
    signal,
    progress: (message) => {
      const now = o.clock.now();
      if (now - lastProgress < PROGRESS_GAP_MS) return;
      lastProgress = now;
      o.report(job.id, { type: 'stage.progress', stage, run, message: message.slice(0, 300) });
    },
    log,
  };
  let handoff: Awaited<ReturnType<ExternalRuns['arm']>>;
  let handedOff = false;
  try {
    await freshDirectory(dir, outputDir);
    // After the fresh directory: inputs that must be copied to this host go inside it.
    ctx.inputs = await persistently('read the stage\'s inputs', () => stageInputs(o.store, o.contents, job.id, before, dir), log, signal);
    // A command stage whose run has an `external:` block may hand its run to an external system
    // (`::external::`). Only those get a token: least privilege, and no extra writes for the rest.
    handoff = 'command' in def.run && def.run.external ? await o.external.arm(agg, def, run) : undefined;
    if (handoff) ctx.handoff = { url: handoff.url, token: handoff.token, begin: handoff.handOff };
    log.info({ attempt }, 'stage started');
    const { wait, ...result } = await adapterFor(def.run, { baseDir: o.baseDir })(ctx);
    // Handed off: the outcome comes with the token; the program's exit says nothing more.
    if (wait === 'external') {
      handedOff = true;
      log.info('stage handed off to an external system');
      return undefined;
    }
    if (handoff) await o.external.disarm(handoff.id);
    // The contents are stored before the success is reported: a counted output always has them.
    const artifacts = await persistently('store the stage\'s outputs', () => collectOutputs(o.contents, job.id, stage, run, outputDir, logPath), log, signal);
    log.info({ artifacts: artifacts.length }, 'stage succeeded');
    return { type: 'stage.succeeded', stage, run, artifacts, ...result };
  } catch (err) {
    const code = err instanceof StageError ? err.code : 'crash';
    const message = err instanceof Error ? err.message : String(err);
    if (handoff) await o.external.disarm(handoff.id);
    log.warn({ err, code }, 'stage failed');
    return { type: 'stage.failed', stage, run, error: message.slice(0, 2000), code };
  } finally {
    // A handed-off run's directory still takes the external system's uploads. Released before
    // the caller stops counting the run as in flight, so the same run cannot start again meanwhile.
    if (!handedOff) await o.contents.release(dir).catch((err: unknown) => log.warn({ err }, 'could not remove the run directory'));
  }
}
