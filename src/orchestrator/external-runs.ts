/**
 * The runner side of runs that wait for an external system: it mints each run's capability
 * token, notifies the outside system, sweeps the runs' deadlines with the engine's ticker, tells
 * the outside system when a run is given up, and turns the reports that come back with a token
 * into the job inputs every stage produces (`stage.progress`, `stage.succeeded`, `stage.failed`).
 * A report that ends a run is stored in the same transaction as the guarded update that ends the
 * run, so a report, an expiry and a cancel racing each other decide once.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { StageDef } from '../config/schema.js';
import { BUSY, externalRequest, gone, limitsOf, reportHash, UNKNOWN, WAITING_MESSAGE, type Limits, type ReportAnswer } from './external-request.js';
import { collectOutputs } from '../artifacts/outputs.js';
import type { ArtifactContents } from '../artifacts/contents.js';
import { StageError } from '../stages/types.js';
import { postWithRetries } from '../stages/external-notify.js';
import { hashRunToken, looksLikeRunToken, mintRunToken } from '../stages/run-token.js';
import type { ExternalRun, Guard, Store } from '../store/store.js';
import type { JobAggregate, JobInput } from './types.js';

export interface ExternalRunsOptions {
  store: Store;
  log: Logger;
  clock: { now(): number };
  /** Where run directories are and where a completed run's files are kept. */
  contents: ArtifactContents;
  /** Applies `input` to the job in one transaction with `guard`, only when the guard holds. */
  commit(jobId: number, input: JobInput, guard: Guard): Promise<'applied' | 'refused' | 'busy'>;
  dispatch(jobId: number, input: JobInput): void;
  /** Wait before the second notification attempt (doubles each time). */
  notifyBackoffMs?: number;
}

const NOTIFY_ATTEMPTS = 6;
const PROGRESS_GAP_MS = 500;
export { WAITING_MESSAGE, type ReportAnswer };

export class ExternalRuns {
  private aborter = new AbortController();
  /** Runs whose `complete` or `fail` is being stored: other reports and uploads are refused meanwhile. */
  private readonly completing = new Set<number>();
  /** When each waiting run last reported progress (entries go when the run ends or the map grows large). */
  private readonly lastProgress = new Map<number, number>();
  private baseUrl = '';

  constructor(private readonly o: ExternalRunsOptions) {}

  /** The URL the outside system reports to (`SIGNOFF_PUBLIC_URL`, else where signoff listens). */
  setBaseUrl(url: string): void {
    this.baseUrl = url.replace(/\/+$/, '');
  }

  /** Where a run's files go: the same directory every stage run writes to. */
  outputDir(run: Pick<ExternalRun, 'jobId' | 'stage' | 'run'>): string {
    return path.join(this.o.contents.runDir(run.jobId, run.stage, run.run), 'out');
  }

  /** An `external` stage starts: record the run and its token, then notify the outside system. */
  async begin(agg: JobAggregate, def: StageDef, run: number): Promise<void> {
    const limits = limitsOf(def);
    const token = mintRunToken();
    const jobId = agg.job.id;
    let id: number;
    let request: Record<string, unknown>;
    try {
      request = await externalRequest(this.o.store, agg, def.id);
      id = await this.startRun({ jobId, stage: def.id, run, state: 'waiting', heartbeatMs: limits.heartbeat, timeoutMs: limits.timeout, notify: Boolean(limits.notify), tokenHash: hashRunToken(token) }, def);
    } catch (err) {
      this.o.log.error({ err, jobId, stage: def.id }, 'could not record an external run');
      this.o.dispatch(jobId, { type: 'stage.failed', stage: def.id, run, error: 'could not record the external run; see the log', code: 'crash' });
      return;
    }
    this.o.dispatch(jobId, { type: 'stage.progress', stage: def.id, run, message: WAITING_MESSAGE });
    if (limits.notify) void this.notify(id, token, request, limits);
  }

  /**
   * A command stage may hand off: it gets a token that opens nothing until the program prints
   * `::external::`. Returns what the command needs, and `handOff` that starts the wait.
   */
  async arm(agg: JobAggregate, def: StageDef, run: number): Promise<{ url: string; token: string; id: number; handOff(): Promise<boolean> } | undefined> {
    const limits = limitsOf(def);
    const token = mintRunToken();
    try {
      const id = await this.startRun({ jobId: agg.job.id, stage: def.id, run, state: 'armed', heartbeatMs: limits.heartbeat, timeoutMs: limits.timeout, notify: false, tokenHash: hashRunToken(token) }, def);
      const handOff = async () => {
        const ok = await this.o.store.externalRuns.handOff(id, this.o.clock.now(), limits.timeout);
        if (ok) this.o.dispatch(agg.job.id, { type: 'stage.progress', stage: def.id, run, message: WAITING_MESSAGE });
        return ok;
      };
      return { url: this.baseUrl, token, id, handOff };
    } catch (err) {
      // The stage still runs; it only cannot hand off.
      this.o.log.warn({ err, jobId: agg.job.id, stage: def.id }, 'could not arm a hand-off token');
      return undefined;
    }
  }

  /** A command stage ended without handing off (or its hand-off failed): its token dies. */
  async disarm(id: number): Promise<void> {
    try {
      await this.o.store.externalRuns.end(id, 'ended', this.o.clock.now());
    } catch (err) {
      this.o.log.warn({ err }, 'could not end a hand-off token; it opens nothing once the stage is over');
    }
  }

  /** After a restart: notifications that were not confirmed are sent again, with a new token. */
  async resume(): Promise<void> {
    for (const r of await this.o.store.externalRuns.pendingNotify()) {
      const a = await this.o.store.jobs.load(r.jobId);
      const def = a?.job.def.stages.find((s) => s.id === r.stage);
      if (!a || !def) continue;
      // A cancel stored just before the crash may not have reached its run: end it now.
      if (!(await this.isCurrent(r))) {
        if (await this.safely(() => this.o.store.externalRuns.end(r.id, 'cancelled', this.o.clock.now()))) void this.tellCancelled(r, 'cancelled', def);
        continue;
      }
      // Only the hash of the first token was kept, so the old token cannot be sent again. It
      // stays valid: a receiver that got the first notification and dedupes on the idempotency
      // key keeps working with it.
      const token = mintRunToken();
      await this.o.store.externalRuns.addToken(r.id, hashRunToken(token));
      void this.notify(r.id, token, await externalRequest(this.o.store, a, r.stage), limitsOf(def), r.notifyAttempts);
    }
  }

  private async notify(id: number, token: string, request: Record<string, unknown>, limits: Limits, done = 0): Promise<void> {
    const r = await this.safely(() => this.o.store.externalRuns.byId(id));
    if (!r || !limits.notify) return;
    const key = `signoff-${r.jobId}-${r.stage}-${r.run}`;
    const body = { ...request, run: r.run, idempotency_key: key, callback_url: this.baseUrl, token, heartbeat_ms: limits.heartbeat, timeout_at: r.timeoutDeadline === null ? null : new Date(r.timeoutDeadline).toISOString() };
    const log = this.o.log.child({ jobId: r.jobId, stage: r.stage, run: r.run });
    const result = await postWithRetries(limits.notify, key, body, {
      attempts: Math.max(1, NOTIFY_ATTEMPTS - done),
      backoffMs: this.o.notifyBackoffMs ?? 1_000,
      timeoutMs: 10_000,
      signal: this.aborter.signal,
      log,
      onAttempt: (n) => this.safely(() => this.o.store.externalRuns.setNotify(id, 'pending', done + n)),
      // A run cancelled or completed meanwhile needs no more notifying.
      proceed: async () => (await this.o.store.externalRuns.byId(id))?.state === 'waiting',
    });
    if (result.outcome === 'aborted') return;
    if (result.outcome === 'delivered') return void (await this.safely(() => this.o.store.externalRuns.setNotify(id, 'delivered', 0)));
    await this.safely(() => this.o.store.externalRuns.setNotify(id, 'failed', NOTIFY_ATTEMPTS));
    const error = `could not notify the external system: ${result.error}`;
    await this.o.commit(r.jobId, { type: 'stage.failed', stage: r.stage, run: r.run, error, code: 'notify' }, { type: 'externalRun.end', id, state: 'failed', at: this.o.clock.now() });
  }

  /** Fails the attempts whose heartbeat or timeout ran out (called by the engine's tick). */
  async sweep(): Promise<void> {
    const now = this.o.clock.now();
    for (const r of await this.o.store.externalRuns.due(now)) {
      const timedOut = r.timeoutDeadline !== null && r.timeoutDeadline <= now;
      const error = timedOut
        ? `the external system did not report within the timeout (${Math.round((now - (r.waitingSince ?? now)) / 1000)} s)`
        : `no heartbeat from the external system for ${Math.round((now - (r.lastHeartbeatAt ?? now)) / 1000)} s`;
      const outcome = await this.o.commit(r.jobId, { type: 'stage.failed', stage: r.stage, run: r.run, error, code: timedOut ? 'timeout' : 'heartbeat' }, { type: 'externalRun.end', id: r.id, state: 'expired', at: now });
      if (outcome === 'applied') void this.tellCancelled(r, timedOut ? 'timeout' : 'heartbeat');
    }
  }

  /** The job was cancelled (a `killStage` effect): the run's token dies and the outside system is told. */
  async cancel(jobId: number, stage: string, run: number): Promise<void> {
    for (const r of (await this.safely(() => this.o.store.externalRuns.waitingForJob(jobId))) ?? []) {
      if (r.stage !== stage || r.run !== run) continue;
      if (await this.safely(() => this.o.store.externalRuns.end(r.id, 'cancelled', this.o.clock.now()))) void this.tellCancelled(r, 'cancelled');
    }
  }

  /** Records a new run with its token, ending the older runs of the stage still open (one transaction). */
  private async startRun(r: Parameters<Store['externalRuns']['start']>[0], def: StageDef): Promise<number> {
    const { id, superseded } = await this.o.store.externalRuns.start(r, this.o.clock.now());
    for (const old of superseded) if (old.state === 'waiting') void this.tellCancelled(old, 'superseded', def);
    return id;
  }

  /** POSTs `{event: "cancelled"}` to `notify.cancel_url`, when there is one (best effort, retried). */
  private async tellCancelled(r: ExternalRun, reason: string, known?: StageDef): Promise<void> {
    const def = known ?? (await this.safely(() => this.o.store.jobs.load(r.jobId)))?.job.def.stages.find((s) => s.id === r.stage);
    const url = def ? limitsOf(def).notify?.cancel_url : undefined;
    if (!def || !url) return;
    const key = `signoff-${r.jobId}-${r.stage}-${r.run}`;
    const body = { event: 'cancelled', reason, idempotency_key: key, job: r.jobId, stage: r.stage, run: r.run };
    void postWithRetries({ url, headers: limitsOf(def).notify?.headers ?? {} }, key, body, {
      attempts: NOTIFY_ATTEMPTS, backoffMs: this.o.notifyBackoffMs ?? 1_000, timeoutMs: 10_000, signal: this.aborter.signal, log: this.o.log,
    });
  }

  /**
   * The run a token belongs to, if it may still report. The lookup is by the token's sha256:
   * the comparison of secret bytes then happens on a hash of 256 random bits, so how long a
   * lookup takes tells a guesser nothing about any real token (they would need a preimage).
   */
  async authorize(token: string): Promise<{ run: ExternalRun } | { answer: ReportAnswer }> {
    if (!looksLikeRunToken(token)) return { answer: UNKNOWN };
    const r = await this.o.store.externalRuns.byTokenHash(hashRunToken(token));
    if (!r) return { answer: UNKNOWN };
    if (r.state === 'armed') return { answer: { status: 409, body: { error: 'not_handed_off', message: 'This run has not handed off yet: print ::external:: first.' } } };
    if (r.state !== 'waiting') return { answer: gone(r.state) };
    if (!(await this.isCurrent(r))) return { answer: gone('the job moved on') };
    if (this.completing.has(r.id)) return { answer: { status: 409, body: { error: 'completing', message: 'A report that ends this run is being stored.' } } };
    return { run: r };
  }

  /** True when the job still runs this very run of the stage (a cancel or retry ends it at once). */
  async isCurrent(r: ExternalRun): Promise<boolean> {
    const rec = (await this.o.store.jobs.loadShared(r.jobId))?.stages.find((s) => s.stage === r.stage);
    return rec?.state === 'running' && rec.run === r.run;
  }

  async heartbeat(token: string): Promise<ReportAnswer> {
    const a = await this.authorize(token);
    if ('answer' in a) return a.answer;
    if ((await this.safely(() => this.o.store.externalRuns.heartbeat(a.run.id, this.o.clock.now()))) === undefined) return BUSY;
    return { status: 200, body: { message: 'Heartbeat recorded.', heartbeat_ms: a.run.heartbeatMs } };
  }

  async progress(token: string, message: string): Promise<ReportAnswer> {
    const a = await this.authorize(token);
    if ('answer' in a) return a.answer;
    const now = this.o.clock.now();
    // Any report is a sign of life.
    if ((await this.safely(() => this.o.store.externalRuns.heartbeat(a.run.id, now))) === undefined) return BUSY;
    // A chatty reporter cannot flood chat: lines closer together than the gap are dropped.
    if (now - (this.lastProgress.get(a.run.id) ?? 0) >= PROGRESS_GAP_MS) {
      if (this.lastProgress.size > 10_000) this.lastProgress.clear();
      this.lastProgress.set(a.run.id, now);
      this.o.dispatch(a.run.jobId, { type: 'stage.progress', stage: a.run.stage, run: a.run.run, message: message.slice(0, 300) });
    }
    return { status: 200, body: { message: 'Progress recorded.' } };
  }

  /** The success input of a completed run, its uploads kept; a file over the size cap makes it a failure saying so. */
  private async completed(r: ExternalRun, report: { summary?: string; outputs?: Record<string, unknown> }): Promise<JobInput> {
    const out = this.outputDir(r);
    try {
      const artifacts = await collectOutputs(this.o.contents, r.jobId, r.stage, r.run, out, path.join(path.dirname(out), 'stage.log'));
      return { type: 'stage.succeeded', stage: r.stage, run: r.run, summary: report.summary ?? 'completed by an external system', ...(report.outputs ? { outputs: report.outputs } : {}), artifacts };
    } catch (err) {
      if (!(err instanceof StageError)) throw err;
      return { type: 'stage.failed', stage: r.stage, run: r.run, error: err.message, code: err.code };
    }
  }

  /** `complete` or `fail`: ends the run once; the same report again is 200, a different one 409. */
  async finish(token: string, report: { kind: 'complete'; summary?: string; outputs?: Record<string, unknown> } | { kind: 'fail'; error: string }): Promise<ReportAnswer> {
    if (!looksLikeRunToken(token)) return UNKNOWN;
    const hash = reportHash(report.kind, report);
    const again = (r: ExternalRun): ReportAnswer | undefined => {
      if (r.state !== 'completed' && r.state !== 'failed') return undefined;
      return r.reportHash === hash
        ? { status: 200, body: { message: `Already ${r.state}; nothing changed.` } }
        : { status: 409, body: { error: 'conflict', message: `This run was already ${r.state} with a different report.` } };
    };
    const known = await this.o.store.externalRuns.byTokenHash(hashRunToken(token));
    if (known && again(known)) return again(known)!;
    const a = await this.authorize(token);
    if ('answer' in a) return a.answer;
    const r = a.run;
    this.completing.add(r.id);
    try {
      const input: JobInput = report.kind === 'complete' ? await this.completed(r, report) : { type: 'stage.failed', stage: r.stage, run: r.run, error: report.error.slice(0, 2000), code: 'external' };
      this.completing.delete(r.id);
      const outcome = await this.o.commit(r.jobId, input, {
        type: 'externalRun.end', id: r.id, state: report.kind === 'complete' ? 'completed' : 'failed', at: this.o.clock.now(), reportHash: hash,
        current: { jobId: r.jobId, stage: r.stage, run: r.run },
      });
      if (outcome === 'busy') return BUSY;
      if (outcome === 'applied') {
        this.lastProgress.delete(r.id);
        // Only once applied: a `complete` that was refused as busy is sent again and collects the same files.
        await this.o.contents.release(path.dirname(this.outputDir(r))).catch((err: unknown) => this.o.log.warn({ err }, 'could not remove the run directory'));
        return { status: 200, body: { message: report.kind === 'complete' ? 'Completed.' : 'Failure recorded.' } };
      }
      const now = await this.o.store.externalRuns.byId(r.id);
      return (now && again(now)) ?? gone(now?.state ?? 'unknown');
    } finally {
      this.completing.delete(r.id);
    }
  }

  /**
   * Another token for the run of `stage` that is waiting now, for whoever may manage the job
   * (an external stage without `notify` reaches its outside system this way). The caller checks
   * who asks; undefined when that stage has no waiting run.
   */
  async mintFor(jobId: number, stage: string): Promise<{ token: string; run: number; callbackUrl: string } | undefined> {
    const r = (await this.o.store.externalRuns.waitingForJob(jobId)).find((w) => w.stage === stage);
    if (!r || !(await this.isCurrent(r))) return undefined;
    const token = mintRunToken();
    await this.o.store.externalRuns.addToken(r.id, hashRunToken(token));
    return { token, run: r.run, callbackUrl: this.baseUrl };
  }

  /** Runs of a job that are waiting, for the API. */
  waiting(jobId: number): Promise<ExternalRun[]> {
    return this.o.store.externalRuns.waitingForJob(jobId);
  }

  /** May an upload be kept? Read from the store; `completingNow` is checked again right before the file moves. */
  async mayKeepUpload(id: number): Promise<boolean> {
    const r = await this.o.store.externalRuns.byId(id);
    return Boolean(r && r.state === 'waiting' && (await this.isCurrent(r)) && !this.completing.has(id));
  }

  /**
   * True while a report that ends the run is being stored. Synchronous, so the caller can check it
   * and move an uploaded file into place without yielding: a `complete` that began earlier sees
   * the file, one that begins later is refused the file.
   */
  completingNow(id: number): boolean {
    return this.completing.has(id);
  }

  /** Records a sign of life from an upload. */
  async touch(id: number): Promise<void> {
    await this.safely(() => this.o.store.externalRuns.heartbeat(id, this.o.clock.now()));
  }

  /** Stops notifications in flight; those not confirmed are sent again by `resume` at the next start. */
  stop(): void {
    this.aborter.abort();
    this.aborter = new AbortController();
  }

  private async safely<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.o.log.warn({ err }, 'could not record the state of an external run');
      return undefined;
    }
  }
}
