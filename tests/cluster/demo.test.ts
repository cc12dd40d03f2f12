/**
 * `npm run cluster:demo` as a newcomer runs it: started as a child process, it must print the
 * console URL, have both replicas answer /healthz, and on Ctrl-C (SIGINT to its whole process
 * group, as a terminal sends it) stop every process it
 * started (replicas, worker, PostgreSQL) and remove its temporary files.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const started: number[] = [];
afterEach(() => {
  // A failed run must not leave the cluster behind: everything it printed a pid for goes.
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('npm run cluster:demo', () => {
  it('prints the console URL, serves /healthz on both replicas, and stops everything on Ctrl-C', { timeout: 120_000 }, async () => {
    // A process group of its own, as a terminal gives a command: Ctrl-C reaches the whole group.
    const demo = spawn(process.execPath, ['--import', 'tsx', path.join('scripts', 'cluster-demo.ts')], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    demo.stdout.on('data', (d) => (out += d));
    demo.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => demo.on('close', (code) => resolve(code)));
    started.push(demo.pid!);
    await waitFor(() => {
      if (demo.exitCode !== null) throw new Error(`the demo exited early (${demo.exitCode}):\n${out}`);
      return out.includes('Press Ctrl-C');
    }, 'the demo to print its URLs', 90_000);

    const consoleUrls = [...out.matchAll(/^Console of \S+: (http:\/\/\S+\/\?token=\S+)$/gm)].map((m) => m[1]!);
    expect(consoleUrls, out).toHaveLength(2);
    const replicas = [...out.matchAll(/^replica\s+(\S+)\s+(http:\/\/\S+)\s+\(pid (\d+), log (\S+)\)$/gm)].map((m) => ({ id: m[1]!, url: m[2]!, pid: Number(m[3]), log: m[4]! }));
    expect(replicas, out).toHaveLength(2);
    const pgPid = Number(/^PostgreSQL .*\(pid (\d+)\)$/m.exec(out)?.[1]);
    expect(pgPid, out).toBeGreaterThan(0);
    const workerPids = [...out.matchAll(/^worker\s+\S+\s+\S+\s+\(pid (\d+),/gm)].map((m) => Number(m[1]));
    const pids = [...replicas.map((r) => r.pid), ...workerPids, pgPid];
    started.push(...pids);

    for (const r of replicas) {
      const res = await fetch(`${r.url}/healthz`);
      expect(res.status, `${r.id} /healthz`).toBe(200);
      expect(((await res.json()) as { ok: boolean }).ok).toBe(true);
    }
    // The console URL opens the console (its token is accepted).
    expect((await fetch(consoleUrls[0]!)).status).toBe(200);
    // Both replicas share one database: a job made through one is listed by the other.
    const token = /^API token \(every replica\): (\S+)$/m.exec(out)?.[1];
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const made = await fetch(`${replicas[0]!.url}/api/v1/jobs`, { method: 'POST', headers, body: JSON.stringify({ pipeline: 'demo', brief: 'seen from the other replica' }) });
    const id = ((await made.json()) as { job?: { id: number } }).job?.id;
    expect(made.status, 'a job submitted to the first replica').toBe(201);
    const seen = await fetch(`${replicas[1]!.url}/api/v1/jobs/${id}`, { headers });
    expect(seen.status).toBe(200);
    expect(((await seen.json()) as { brief: string }).brief).toBe('seen from the other replica');

    // Ctrl-C: SIGINT to every process in the group (the demo, the replicas, PostgreSQL) at once.
    process.kill(-demo.pid!, 'SIGINT');
    expect(await exited, out).toBe(0);
    expect(out).toContain('stopped: every process and the database are down');
    await waitFor(() => pids.every((pid) => !alive(pid)), 'every process the demo started to be gone', 10_000);
    expect(fs.existsSync(path.dirname(replicas[0]!.log)), 'the temporary directory is removed').toBe(false);
  });
});
