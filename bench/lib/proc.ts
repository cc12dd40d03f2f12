/**
 * signoff as the process people run (`node dist/main.js`), started with a given environment:
 * its output goes to a file (so the bench's own event loop does not carry it), start-up is timed
 * from spawn to the first 200 of /healthz, and its RSS is read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, REPO } from '../../tests/helpers/signoff-process.js';

export { freePort, REPO };

export const BENCH_API_TOKEN = 'bench-api-token-0123456789abcdef';

export interface Spawned {
  proc: ChildProcess;
  pid: number;
  url: string;
  /** Milliseconds from spawn() to the first 200 of /healthz. */
  startMs: number;
  /** Date.now() at spawn. */
  spawnedAt: number;
  logFile: string;
  rssKb(): number;
  /** SIGTERM (signoff stops cleanly and a --cpu-prof profile is written), then waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  env: Record<string, string>;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir', dir]. */
  nodeArgs?: string[];
  /** Script to run (default dist/main.js); null when nodeArgs say what to run (`-e CODE`). */
  script?: string | null;
  args?: string[];
  logFile: string;
  port?: number;
  /** Path answered 200 when ready (default /healthz). */
  readyPath?: string;
  timeoutMs?: number;
}

/**
 * The signoff entry point the bench runs: dist/main.js, or another build named by
 * SIGNOFF_BENCH_MAIN (`bench/run.ts --main PATH`), to measure a candidate fix against the same run.
 */
export function signoffMain(): string {
  return process.env.SIGNOFF_BENCH_MAIN ?? path.join(REPO, 'dist', 'main.js');
}

/** Resident set size of a process in KiB (VmRSS), 0 when it is gone. */
export function rssKbOf(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export async function spawnServer(o: SpawnOptions): Promise<Spawned> {
  const port = o.port ?? (await freePort());
  const out = fs.openSync(o.logFile, 'a');
  const spawnedAt = Date.now();
  const t0 = performance.now();
  const script = o.script === null ? [] : [o.script ?? signoffMain()];
  const what = o.script === null ? 'node' : (o.script ?? 'signoff');
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), ...script, ...(o.args ?? [])], {
    cwd: REPO,
    env: { ...process.env, SIGNOFF_PORT: String(port), SIGNOFF_HOST: '127.0.0.1', ...o.env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve((exitCode = code))));
  const url = `http://127.0.0.1:${port}`;
  const deadline = t0 + (o.timeoutMs ?? 60_000);
  let startMs = Number.NaN;
  // Polls tightly (every 5 ms): the poll interval bounds the start-up figure's resolution.
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${what} exited (${exitCode}) during start; see ${o.logFile}:\n${tail(o.logFile)}`);
    const ok = await fetch(`${url}${o.readyPath ?? '/healthz'}`).then((r) => r.status === 200, () => false);
    if (ok) {
      startMs = performance.now() - t0;
      break;
    }
    if (performance.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${what} did not become healthy within ${o.timeoutMs ?? 60_000} ms; see ${o.logFile}:\n${tail(o.logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    proc,
    pid: proc.pid!,
    url,
    startMs,
    spawnedAt,
    logFile: o.logFile,
    rssKb: () => rssKbOf(proc.pid!),
    async stop(signal = 'SIGTERM') {
      if (exitCode === undefined) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

/** The environment of a signoff process over `dataDir` with `configPath`. */
export function signoffEnv(o: { configPath: string; dataDir: string; extra?: Record<string, string> }): Record<string, string> {
  return {
    SIGNOFF_CONFIG: o.configPath,
    SIGNOFF_DATA_DIR: o.dataDir,
    SIGNOFF_API_TOKEN: BENCH_API_TOKEN,
    SIGNOFF_LOG_PRETTY: 'false',
    // Without these, a developer's .env in the repo would leak into the bench.
    SLACK_BOT_TOKEN: '',
    SLACK_APP_TOKEN: '',
    SLACK_SIGNING_SECRET: '',
    DISCORD_TOKEN: '',
    DISCORD_APPLICATION_ID: '',
    ...o.extra,
  };
}
