/** signoff as a real child process (the built dist/main.js), for restart and CLI tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from './wait.js';

export const REPO = path.resolve(import.meta.dirname, '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface SignoffProcess {
  proc: ChildProcess;
  url: string;
  token: string;
  output: () => string;
  exited: Promise<number | null>;
  api(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startSignoff(o: { configPath: string; dataDir: string; env?: Record<string, string> }): Promise<SignoffProcess> {
  const port = await freePort();
  const token = 'process-test-token-0123456789';
  let out = '';
  const proc = spawn(process.execPath, [path.join(REPO, 'dist', 'main.js')], {
    cwd: REPO,
    env: { ...process.env, SIGNOFF_CONFIG: o.configPath, SIGNOFF_DATA_DIR: o.dataDir, SIGNOFF_PORT: String(port), SIGNOFF_API_TOKEN: token, SIGNOFF_LOG_LEVEL: 'warn', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  let dead = false;
  void exited.then(() => (dead = true));
  await waitFor(async () => {
    if (dead) throw new Error(`signoff exited during start:\n${out}`);
    return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
  }, 'signoff to answer /healthz');
  return {
    proc,
    url,
    token,
    output: () => out,
    exited,
    async api(method, route, body, headers = {}) {
      const res = await fetch(`${url}/api/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: await res.json().catch(() => null) };
    },
    async kill(signal = 'SIGKILL') {
      if (!dead) proc.kill(signal);
      return exited;
    },
  };
}

export function writeConfig(dir: string, yaml: string): string {
  const file = path.join(dir, 'signoff.yaml');
  fs.writeFileSync(file, yaml);
  return file;
}
