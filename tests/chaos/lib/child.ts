/**
 * signoff as a real child process (`node dist/main.js`) for the chaos suites. Unlike
 * tests/helpers/signoff-process.ts it keeps one port across restarts (as a deployment would, so
 * Slack's Request URL stays valid), keeps the whole output in a log file for post-mortems, and
 * can be started without waiting for it to become healthy (for start-up failures).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../../helpers/signoff-process.js';
import { waitFor } from '../../helpers/wait.js';

export const MAIN_JS = path.join(REPO, 'dist', 'main.js');
export const CHAOS_API_TOKEN = 'chaos-api-token-0123456789abcdef';

export interface ChildOptions {
  configPath: string;
  dataDir: string;
  port: number;
  /** Added to (and overriding) the defaults below. */
  env?: Record<string, string>;
  /** Every line the process writes is appended here. */
  logFile?: string;
  /** Run through this program instead of node directly (e.g. `unshare`); `node main.js` is appended. */
  wrapper?: string[];
  /** Arguments after main.js (default: none = start). */
  args?: string[];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class SignoffChild {
  readonly url: string;
  readonly exited: Promise<Exit>;
  private out = '';
  private exit: Exit | undefined;

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    logFile: string | undefined,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    const log = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : undefined;
    const take = (d: Buffer) => {
      this.out = (this.out + d.toString('utf8')).slice(-256_000);
      log?.write(d);
    };
    proc.stdout?.on('data', take);
    proc.stderr?.on('data', take);
    this.exited = new Promise((resolve) =>
      // 'close', not 'exit': the last output may still be in the pipe when the process is gone.
      proc.on('close', (code, signal) => {
        this.exit = { code, signal };
        log?.end();
        resolve(this.exit);
      }),
    );
  }

  /** Spawns the process and returns at once (see {@link SignoffChild.start} to wait for health). */
  static spawn(o: ChildOptions): SignoffChild {
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      SIGNOFF_CONFIG: o.configPath,
      SIGNOFF_DATA_DIR: o.dataDir,
      SIGNOFF_PORT: String(o.port),
      SIGNOFF_HOST: '127.0.0.1',
      SIGNOFF_API_TOKEN: CHAOS_API_TOKEN,
      SIGNOFF_LOG_LEVEL: 'warn',
      SIGNOFF_LOG_PRETTY: 'false',
      ...o.env,
    };
    const [program, ...pre] = o.wrapper ?? [process.execPath];
    const args = o.wrapper ? [...pre, process.execPath, MAIN_JS, ...(o.args ?? [])] : [MAIN_JS, ...(o.args ?? [])];
    const proc = spawn(program!, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    return new SignoffChild(proc, o.port, o.logFile);
  }

  /** Spawns the process and waits until /healthz answers; rejects with its output if it exits first. */
  static async start(o: ChildOptions, timeoutMs = 30_000): Promise<SignoffChild> {
    const child = SignoffChild.spawn(o);
    await child.healthy(timeoutMs);
    return child;
  }

  async healthy(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        if (this.exit) throw new Error(`signoff exited during start (${JSON.stringify(this.exit)}):\n${this.out.slice(-4000)}`);
        return fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
      },
      'signoff to answer /healthz',
      timeoutMs,
    );
  }

  get output(): string {
    return this.out;
  }

  get exitStatus(): Exit | undefined {
    return this.exit;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.alive) this.proc.kill(signal);
    return this.exited;
  }

  /** A JSON call to the API with the chaos token. */
  async api(method: string, route: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<{ status: number; json: any }> {
    const res = await fetch(`${this.url}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${CHAOS_API_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  }

  /** One Prometheus sample from GET /metrics, e.g. `signoff_outbox_pending`. */
  async metric(name: string): Promise<number | undefined> {
    const text = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text());
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  }
}

/** Resident memory of a process in bytes, from /proc (Linux). */
export function rssOf(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}
