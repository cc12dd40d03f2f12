/**
 * The command stage adapter against real child processes: what the program sees, what it
 * leaves, and that timeouts and cancels kill its whole process group.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commandStage } from '../../src/stages/command.js';
import { StageError, type StageContext } from '../../src/stages/types.js';
import { stageError } from '../helpers/stage-error.js';

const dirs: string[] = [];
const strays: number[] = [];

function makeCtx(overrides: Partial<StageContext> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'signoff-cmd-'));
  dirs.push(dir);
  const outputDir = path.join(dir, 'out');
  mkdirSync(outputDir);
  const progress: string[] = [];
  const controller = new AbortController();
  const ctx: StageContext = {
    jobId: 7,
    pipeline: 'blog',
    stageId: 'draft',
    attempt: 2,
    brief: 'Write about "quotes" and\nnewlines',
    params: { 'target-env': 'staging', tone: 'dry' },
    submitter: 'console:alice',
    outputDir,
    logPath: path.join(dir, 'logs', 'draft.log'),
    inputs: [{ id: 1, stage: 'outline', name: 'outline.md', path: path.join(dir, 'outline.md'), size: 12 }],
    redoReason: 'too long',
    signal: controller.signal,
    progress: (message) => progress.push(message),
    log: pino({ level: 'silent' }),
    ...overrides,
  };
  return { ctx, progress, controller, dir };
}

/** Polls until `condition` holds; fails after `deadlineMs` instead of hanging the suite. */
async function waitFor(condition: () => boolean, deadlineMs = 5_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * True when the process no longer runs. A zombie counts as gone: it is dead, only not reaped,
 * and in containers whose PID 1 never reaps orphans it would stay a zombie for ever.
 */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
  } catch {
    return true;
  }
}

/** Reads the pids the test programs write: "<shell pid> <grandchild pid>". */
async function readPids(file: string): Promise<number[]> {
  await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim().split(/\s+/).length === 2);
  const pids = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
  strays.push(...pids);
  return pids;
}


const run = (command: string[], extra: { timeout?: number; env?: Record<string, string>; cwd?: string } = {}) =>
  commandStage({ command, env: extra.env ?? {}, timeout: extra.timeout ?? 10_000, cwd: extra.cwd }, { baseDir: tmpdir() });

// Writes "<shell pid> <sleep pid>"; readPids registers both so afterEach kills any survivor.
const FORK = 'sleep 300 & echo "$$ $!" > "$SIGNOFF_OUTPUT_DIR/pids"';

let savedToken: string | undefined;
beforeAll(() => {
  savedToken = process.env.SLACK_BOT_TOKEN;
  process.env.SLACK_BOT_TOKEN = 'xoxb-must-not-leak';
});
afterAll(() => {
  if (savedToken === undefined) delete process.env.SLACK_BOT_TOKEN;
  else process.env.SLACK_BOT_TOKEN = savedToken;
});
afterEach(() => {
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('command stage', () => {
  it('hands the job on stdin and in SIGNOFF_* variables, but no secrets; reports progress and logs output', async () => {
    const { ctx, progress } = makeCtx();
    const script = `
      const fs = require('fs'), path = require('path');
      let input = '';
      process.stdin.on('data', (d) => (input += d));
      process.stdin.on('end', () => {
        const out = process.env.SIGNOFF_OUTPUT_DIR;
        fs.writeFileSync(path.join(out, 'stdin.json'), input);
        fs.writeFileSync(path.join(out, 'env.json'), JSON.stringify(process.env));
        fs.writeFileSync(path.join(out, 'cwd.txt'), process.cwd());
        process.stdout.write('::progress:: reading\\n::prog');
        console.error('a warning on stderr');
        setTimeout(() => { process.stdout.write('ress:: split across chunks\\n'); console.log('Draft: 3 sections'); }, 50);
      });`;
    const outcome = await run([process.execPath, '-e', script], { env: { FOO: 'bar' }, cwd: ctx.outputDir })(ctx);

    expect(outcome.summary).toBe('Draft: 3 sections');
    expect(progress).toEqual(['reading', 'split across chunks']);
    const stdin = JSON.parse(readFileSync(path.join(ctx.outputDir, 'stdin.json'), 'utf8'));
    expect(stdin).toEqual({
      job: 7,
      pipeline: 'blog',
      stage: 'draft',
      attempt: 2,
      brief: ctx.brief,
      params: ctx.params,
      submitter: 'console:alice',
      inputs: [{ stage: 'outline', name: 'outline.md', path: ctx.inputs[0]!.path, size: 12 }],
      redo_reason: 'too long',
      approval_notes: [],
    });
    const env = JSON.parse(readFileSync(path.join(ctx.outputDir, 'env.json'), 'utf8')) as Record<string, string>;
    expect(env.SLACK_BOT_TOKEN).toBeUndefined();
    expect(Object.values(env)).not.toContain('xoxb-must-not-leak');
    expect(env).toMatchObject({
      FOO: 'bar',
      SIGNOFF_JOB_ID: '7',
      SIGNOFF_PIPELINE: 'blog',
      SIGNOFF_STAGE: 'draft',
      SIGNOFF_ATTEMPT: '2',
      SIGNOFF_BRIEF: ctx.brief,
      SIGNOFF_SUBMITTER: 'console:alice',
      SIGNOFF_OUTPUT_DIR: ctx.outputDir,
      SIGNOFF_PARAM_TARGET_ENV: 'staging',
      SIGNOFF_PARAM_TONE: 'dry',
      SIGNOFF_REDO_REASON: 'too long',
    });
    expect(JSON.parse(env.SIGNOFF_PARAMS!)).toEqual(ctx.params);
    expect(JSON.parse(env.SIGNOFF_INPUTS!)).toEqual(stdin.inputs);
    expect(readFileSync(path.join(ctx.outputDir, 'cwd.txt'), 'utf8')).toBe(ctx.outputDir);
    const log = readFileSync(ctx.logPath, 'utf8');
    expect(log).toContain('a warning on stderr');
    expect(log).toContain('Draft: 3 sections');
  });

  it('leaves files in the output dir and says "exit 0" when nothing was printed', async () => {
    const { ctx } = makeCtx({ redoReason: undefined });
    const outcome = await run(['sh', '-c', 'echo hi > "$SIGNOFF_OUTPUT_DIR/a.txt"; [ -z "${SIGNOFF_REDO_REASON+x}" ] || exit 9'])(ctx);
    expect(outcome.summary).toBe('exit 0');
    expect(readFileSync(path.join(ctx.outputDir, 'a.txt'), 'utf8')).toBe('hi\n');
  });

  it('rejects a non-zero exit with the tail of stderr', async () => {
    const { ctx } = makeCtx();
    const error = await stageError(run(['sh', '-c', 'for i in $(seq 1 50); do echo "line $i" >&2; done; exit 3'])(ctx));
    expect(error.code).toBe('exit');
    expect(error.message).toMatch(/^exited with code 3: /);
    expect(error.message).toContain('line 50');
    expect(error.message).not.toContain('line 30\n');
    expect(readFileSync(ctx.logPath, 'utf8')).toContain('line 1\n');
  });

  it('says which signal killed the program', async () => {
    const { ctx } = makeCtx();
    const error = await stageError(run(['sh', '-c', 'kill -KILL $$'])(ctx));
    expect(error.code).toBe('exit');
    expect(error.message).toContain('SIGKILL');
  });

  it('kills the whole process group, grandchild included, on timeout', async () => {
    const { ctx } = makeCtx();
    const pending = run(['sh', '-c', `${FORK}; wait`], { timeout: 2_000 })(ctx);
    const pids = await readPids(path.join(ctx.outputDir, 'pids'));
    const error = await stageError(pending);
    expect(error.code).toBe('timeout');
    expect(error.message).toBe('timed out after 2s; the process group was killed');
    await waitFor(() => pids.every(isGone));
  });

  it('escalates to SIGKILL when the group ignores SIGTERM', async () => {
    const { ctx } = makeCtx();
    const pending = run(['sh', '-c', `trap '' TERM; ${FORK}; wait; wait`], { timeout: 500 })(ctx);
    const pids = await readPids(path.join(ctx.outputDir, 'pids'));
    expect((await stageError(pending)).code).toBe('timeout');
    await waitFor(() => pids.every(isGone));
  }, 15_000);

  it('kills the process group when the signal aborts', async () => {
    const { ctx, controller } = makeCtx();
    const pending = run(['sh', '-c', `${FORK}; wait`])(ctx);
    const pids = await readPids(path.join(ctx.outputDir, 'pids'));
    controller.abort();
    const error = await stageError(pending);
    expect(error.code).toBe('cancelled');
    await waitFor(() => pids.every(isGone));
  });

  it('does not wait for ever on a background process that keeps the output pipes open', async () => {
    const { ctx } = makeCtx();
    const outcome = await run(['sh', '-c', `${FORK}; echo started`])(ctx);
    expect(outcome.summary).toBe('started');
    const [, sleeper] = await readPids(path.join(ctx.outputDir, 'pids')); // afterEach kills it
    expect(isGone(sleeper!)).toBe(false);
  });

  it('reports a program that cannot start', async () => {
    const { ctx } = makeCtx();
    const error = await stageError(run(['signoff-no-such-program-xyz', '--flag'])(ctx));
    expect(error.code).toBe('spawn');
    expect(error.message).toContain('could not start "signoff-no-such-program-xyz"');
    expect(error.message).toContain('ENOENT');
  });

  it('reports a missing working directory', async () => {
    const { ctx } = makeCtx();
    const error = await stageError(run(['sh', '-c', 'true'], { cwd: 'signoff-no-such-dir-xyz' })(ctx));
    expect(error.code).toBe('spawn');
    expect(error.message).toContain('does not exist');
  });
});
