/**
 * The `command` stage adapter: runs a program (no shell) in its own process group, hands it
 * the job on stdin and in `SIGNOFF_*` variables, streams its output to the stage log and kills
 * the whole group on timeout or cancel, so no grandchild outlives the stage.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { formatDuration } from '../config/duration.js';
import { reapOrphans, recordRunPid } from './orphans.js';
import { StageError, type StageAdapter, type StageContext } from './types.js';
import { stageRequest } from './request.js';

/** Variables passed through from our environment; everything else (tokens!) stays out. */
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'SHELL'];
const KILL_GRACE_MS = 3_000;
/** How long after the program exits we wait for its pipes, which a leftover child may hold. */
const PIPE_GRACE_MS = 2_000;
const STDERR_KEEP = 4_096;
/** A stdout line longer than this is cut: we only need its start (progress) and a summary. */
const MAX_LINE = 16_384;
const PROGRESS = '::progress::';
/** A stdout line that hands the run to an external system (see ctx.handoff). */
const EXTERNAL = '::external::';

/** The settings of a `command` stage, as parsed by the config schema (timeout in ms). */
export interface CommandRun {
  command: string[];
  cwd?: string;
  env: Record<string, string>;
  timeout: number;
}

/** Builds the environment: a safe subset of ours, the stage's own, then what signoff tells it. */
export function commandEnv(run: CommandRun, ctx: StageContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of PASSED_ENV) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  Object.assign(env, run.env, {
    SIGNOFF_JOB_ID: String(ctx.jobId),
    SIGNOFF_PIPELINE: ctx.pipeline,
    SIGNOFF_STAGE: ctx.stageId,
    SIGNOFF_ATTEMPT: String(ctx.attempt),
    SIGNOFF_BRIEF: ctx.brief,
    SIGNOFF_SUBMITTER: ctx.submitter,
    SIGNOFF_OUTPUT_DIR: ctx.outputDir,
    SIGNOFF_PARAMS: JSON.stringify(ctx.params),
    SIGNOFF_INPUTS: JSON.stringify(ctx.inputs.map(({ stage, name, path, size }) => ({ stage, name, path, size }))),
  });
  for (const [name, value] of Object.entries(ctx.params)) {
    env[`SIGNOFF_PARAM_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = value;
  }
  if (ctx.redoReason !== undefined) env.SIGNOFF_REDO_REASON = ctx.redoReason;
  if (ctx.approvalNotes?.length) env.SIGNOFF_APPROVAL_NOTES = JSON.stringify(ctx.approvalNotes);
  // Only for handing the run off: the token opens this run's report endpoints and nothing else.
  if (ctx.handoff) {
    env.SIGNOFF_CALLBACK_URL = ctx.handoff.url;
    env.SIGNOFF_RUN_TOKEN = ctx.handoff.token;
  }
  return env;
}

/** Sends a signal to every process of the group led by `pid`; false when the group is gone. */
function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    // ESRCH: the group is gone already. EPERM cannot happen for our own child; never throw
    // from here, as we are called from timers and event handlers.
    return false;
  }
}

/** The last lines of stderr, short enough to show in chat. */
function stderrTail(text: string): string {
  const lines = text.trimEnd().split('\n').slice(-20).join('\n');
  return lines.length > 1_500 ? `…${lines.slice(-1_500)}` : lines;
}

/** A stage adapter that runs `run.command`; relative `cwd` is resolved against `options.baseDir`. */
export function commandStage(run: CommandRun, options: { baseDir: string }): StageAdapter {
  return async (ctx) => {
    // An older run of this stage may still be running, left by a signoff that was killed.
    await reapOrphans(path.dirname(ctx.logPath), ctx.log);
    return new Promise((resolve, reject) => {
      const [program, ...args] = run.command;
      if (program === undefined) return reject(new StageError('no command to run', 'invalid'));
      if (ctx.signal.aborted) return reject(new StageError('cancelled before it started', 'cancelled'));
      const cwd = path.resolve(options.baseDir, run.cwd ?? '.');
      // spawn reports a missing cwd as ENOENT of the program, which misleads; say it plainly.
      if (!existsSync(cwd)) return reject(new StageError(`could not start "${program}": working directory ${cwd} does not exist`, 'spawn'));

      mkdirSync(path.dirname(ctx.logPath), { recursive: true });
      const log = createWriteStream(ctx.logPath, { flags: 'a' });
      log.on('error', (error) => ctx.log.warn({ err: error, path: ctx.logPath }, 'cannot write stage log'));

      const child = spawn(program, args, { cwd, env: commandEnv(run, ctx), detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      if (child.pid !== undefined) {
        try {
          recordRunPid(path.dirname(ctx.logPath), child.pid);
        } catch (error) {
          ctx.log.warn({ err: error }, 'could not record the stage process id; a crash now would leave it running');
        }
      }

      let stopReason: { code: 'timeout' | 'cancelled'; message: string } | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let pipeTimer: NodeJS.Timeout | undefined;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let settled = false;

      const stop = (code: 'timeout' | 'cancelled', message: string) => {
        if (stopReason || exit || child.pid === undefined) return;
        stopReason = { code, message };
        ctx.log.info({ pid: child.pid, code }, 'stopping stage command');
        if (killGroup(child.pid, 'SIGTERM')) {
          killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
        }
      };
      const onAbort = () => stop('cancelled', 'cancelled; the process group was killed');
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      const timeoutTimer = setTimeout(
        () => stop('timeout', `timed out after ${formatDuration(run.timeout)}; the process group was killed`),
        run.timeout,
      );

      const finish = (error: StageError | undefined, summary?: string, handedOffNow = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeoutTimer);
        clearTimeout(pipeTimer);
        ctx.signal.removeEventListener('abort', onAbort);
        if (killTimer) {
          clearTimeout(killTimer);
          // Once we report the stage as over, nothing of it may keep running: skip the grace.
          if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
        }
        // Settle only when the log is flushed, so whoever reads it next sees all of it.
        const done = () => (error ? reject(error) : resolve(handedOffNow ? { wait: 'external' } : { summary }));
        if (log.closed || log.errored) done();
        else log.end(done);
      };

      // stdout: to the log, and scanned line by line for progress and the summary.
      const decoder = new StringDecoder('utf8');
      let partial = '';
      let lastLine = '';
      // The hand-off is stored asynchronously; the stage's end waits for its answer.
      let handedOff: Promise<boolean> | undefined;
      const onLine = (raw: string) => {
        const line = raw.replace(/\r$/, '').trim();
        if (line === EXTERNAL && ctx.handoff && !handedOff) {
          handedOff = ctx.handoff.begin().catch((error: unknown) => {
            ctx.log.warn({ err: error }, 'could not hand the run off');
            return false;
          });
        } else if (line.startsWith(PROGRESS)) {
          const text = line.slice(PROGRESS.length).trim();
          try {
            if (text) ctx.progress(text);
          } catch (error) {
            ctx.log.warn({ err: error }, 'progress callback failed');
          }
        } else if (line) lastLine = line;
      };
      child.stdout.pipe(log, { end: false });
      child.stdout.on('data', (chunk: Buffer) => {
        const lines = (partial + decoder.write(chunk)).split('\n');
        partial = (lines.pop() ?? '').slice(0, MAX_LINE);
        for (const line of lines) onLine(line.slice(0, MAX_LINE));
      });

      // stderr: to the log; only its tail is kept, for the error message.
      const stderrDecoder = new StringDecoder('utf8');
      let stderr = '';
      child.stderr.pipe(log, { end: false });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr = (stderr + stderrDecoder.write(chunk)).slice(-STDERR_KEEP);
      });

      // stdin: the job as one JSON document. A program that never reads it gets EPIPE; fine.
      child.stdin.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE') ctx.log.debug({ err: error }, 'stage command stdin');
      });
      child.stdin.end(
        JSON.stringify(stageRequest(ctx, { paths: true })),
      );

      child.on('error', (error: NodeJS.ErrnoException) => {
        // Only a failed start is reported here; other errors (after spawn) show up as the exit.
        if (child.pid === undefined) finish(new StageError(`could not start "${program}": ${error.message}`, 'spawn', { cause: error }));
        else ctx.log.warn({ err: error }, 'stage command error');
      });

      child.on('exit', (code, signal) => {
        exit = { code, signal };
        if (settled) return;
        // A background process left by the program may hold our pipes open for ever.
        pipeTimer = setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, PIPE_GRACE_MS);
      });

      child.on('close', (closeCode, closeSignal) => {
        if (child.pid === undefined) return; // a failed start, already reported by 'error'
        onLine(partial + decoder.end());
        stderr = (stderr + stderrDecoder.end()).slice(-STDERR_KEEP);
        const code = exit?.code ?? closeCode;
        const signal = exit?.signal ?? closeSignal;
        if (stopReason) return finish(new StageError(stopReason.message, stopReason.code));
        const tail = stderrTail(stderr);
        const detail = tail ? `: ${tail}` : ' (nothing on stderr)';
        if (signal) return finish(new StageError(`was killed by signal ${signal}${detail}`, 'exit'));
        if (code !== 0) return finish(new StageError(`exited with code ${code}${detail}`, 'exit'));
        const summary = lastLine ? (lastLine.length > 200 ? `${lastLine.slice(0, 199)}…` : lastLine) : 'exit 0';
        if (handedOff) void handedOff.then((ok) => finish(undefined, summary, ok));
        else finish(undefined, summary, false);
      });
    });
  };
}
