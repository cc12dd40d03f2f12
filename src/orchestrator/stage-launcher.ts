/**
 * Performs `runStage` and `killStage` effects in this process (SQLite; on PostgreSQL only the
 * external stages, which are tokens and deadlines, not tasks): runs each stage run
 * (./run-stage.ts) and reports its outcome back as a `stage.succeeded` / `stage.failed` input.
 */
import type { JobAggregate } from './types.js';
import type { ExternalRuns } from './external-runs.js';
import { runStageRun, type StageRunDeps } from './run-stage.js';

export interface LauncherOptions extends StageRunDeps {
  external: ExternalRuns;
}

export class StageLauncher {
  private readonly inflight = new Map<string, { controller: AbortController; done: Promise<void> }>();

  constructor(private readonly o: LauncherOptions) {}

  launch(agg: JobAggregate, stage: string, run: number, attempt: number): void {
    const { job } = agg;
    const key = `${job.id}:${stage}:${run}`;
    if (this.inflight.has(key)) return;
    const def = job.def.stages.find((s) => s.id === stage)!;
    // An external stage runs elsewhere: it is a token, a notification and deadlines, not a task here.
    if ('external' in def.run && !('command' in def.run)) return void this.o.external.begin(agg, def, run);
    const controller = new AbortController();
    const done = (async () => {
      let outcome: Awaited<ReturnType<typeof runStageRun>>;
      try {
        outcome = await runStageRun(this.o, agg, stage, run, attempt, controller.signal);
      } finally {
        this.inflight.delete(key);
      }
      if (outcome && (!controller.signal.aborted || controller.signal.reason !== 'shutdown')) this.o.report(job.id, outcome);
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
