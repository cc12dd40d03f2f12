/**
 * Performs `runStage` and `killStage` effects: prepares a fresh output directory, hands the stage
 * its inputs, runs the adapter, and reports the outcome back as a `stage.succeeded` /
 * `stage.failed` input. Each run has its own directory, so a re-run never mixes with an old one.
 * Where that directory is, and where its outputs are kept once the run succeeds, is the artifact
 * contents' choice (src/artifacts): the data directory on SQLite, the database on PostgreSQL.
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

export interface LauncherOptions {
  store: Store;
  /** Where run directories are and where outputs are kept. */
  contents: ArtifactContents;
  baseDir: string;
  log: Logger;
  clock: { now(): number };
  report(jobId: number, input: JobInput): void;
  external: ExternalRuns;
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

/** Progress lines closer together than this are dropped, so a chatty stage cannot flood chat. */
const PROGRESS_GAP_MS = 500;

export class StageLauncher {
  private readonly inflight = new Map<string, { controller: AbortController; done: Promise<void> }>();

  constructor(private readonly o: LauncherOptions) {}

  launch(agg: JobAggregate, stage: string, run: number, attempt: number): void {
    const { job } = agg;
    const key = `${job.id}:${stage}:${run}`;
    if (this.inflight.has(key)) return;
    const index = job.def.stages.findIndex((s) => s.id === stage);
    const def = job.def.stages[index]!;
    const record = agg.stages[index]!;
    // An external stage runs elsewhere: it is a token, a notification and deadlines, not a task here.
    if ('external' in def.run && !('command' in def.run)) return void this.o.external.begin(agg, def, run);
    const dir = this.o.contents.runDir(job.id, stage, run);
    const outputDir = path.join(dir, 'out');
    const logPath = path.join(dir, 'stage.log');
    const before = new Set(job.def.stages.slice(0, index).map((s) => s.id));
    const controller = new AbortController();
    const log = this.o.log.child({ jobId: job.id, stage, run });
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
      signal: controller.signal,
      progress: (message) => {
        const now = this.o.clock.now();
        if (now - lastProgress < PROGRESS_GAP_MS) return;
        lastProgress = now;
        this.o.report(job.id, { type: 'stage.progress', stage, run, message: message.slice(0, 300) });
      },
      log,
    };
    let handoff: Awaited<ReturnType<ExternalRuns['arm']>>;
    let handedOff = false;
    const done = (async () => {
      let outcome: JobInput;
      try {
        await freshDirectory(dir, outputDir);
        // After the fresh directory: inputs that must be copied to this host go inside it.
        ctx.inputs = await stageInputs(this.o.store, this.o.contents, job.id, before, dir);
        // A command stage whose run has an `external:` block may hand its run to an external system
        // (`::external::`). Only those get a token: least privilege, and no extra writes for the rest.
        handoff = 'command' in def.run && def.run.external ? await this.o.external.arm(agg, def, run) : undefined;
        if (handoff) ctx.handoff = { url: handoff.url, token: handoff.token, begin: handoff.handOff };
        log.info({ attempt }, 'stage started');
        const { wait, ...result } = await adapterFor(def.run, { baseDir: this.o.baseDir })(ctx);
        // Handed off: the outcome comes with the token; the program's exit says nothing more.
        if (wait === 'external') {
          handedOff = true;
          log.info('stage handed off to an external system');
          return;
        }
        if (handoff) await this.o.external.disarm(handoff.id);
        // The contents are stored before the success is reported: a counted output always has them.
        const artifacts = await collectOutputs(this.o.contents, job.id, stage, run, outputDir, logPath);
        outcome = { type: 'stage.succeeded', stage, run, artifacts, ...result };
        log.info({ artifacts: artifacts.length }, 'stage succeeded');
      } catch (err) {
        const code = err instanceof StageError ? err.code : 'crash';
        const message = err instanceof Error ? err.message : String(err);
        outcome = { type: 'stage.failed', stage, run, error: message.slice(0, 2000), code };
        if (handoff) await this.o.external.disarm(handoff.id);
        log.warn({ err, code }, 'stage failed');
      } finally {
        // A handed-off run's directory still takes the external system's uploads. Released while
        // the run still counts as in flight, so the same run cannot start again meanwhile.
        if (!handedOff) await this.o.contents.release(dir).catch((err: unknown) => log.warn({ err }, 'could not remove the run directory'));
        this.inflight.delete(key);
      }
      if (!controller.signal.aborted || controller.signal.reason !== 'shutdown') this.o.report(job.id, outcome);
    })();
    this.inflight.set(key, { controller, done });
  }

  /** Stops a running stage (cancel); its outcome arrives as an input the job then ignores. */
  kill(jobId: number, stage: string, run: number): void {
    this.inflight.get(`${jobId}:${stage}:${run}`)?.controller.abort('cancelled');
  }

  /** Aborts every running stage for shutdown and waits until each has stopped. */
  async abortAll(): Promise<void> {
    const all = [...this.inflight.values()];
    for (const r of all) r.controller.abort('shutdown');
    await Promise.allSettled(all.map((r) => r.done));
  }

  get running(): number {
    return this.inflight.size;
  }
}
