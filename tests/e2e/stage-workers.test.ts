/**
 * Stage runs through the PostgreSQL queue, with real processes: a replica that takes no runs
 * (SIGNOFF_WORKER=off) and `signoff worker` processes, each with its own data directory. A job
 * runs end to end on the worker, with its progress lines and its stage timeout; a worker SIGKILLed mid-stage has its run started again on
 * another worker (its lease runs out) and only that run's outputs count; a cancel reaches the
 * worker running the stage and kills its process group; a stage of pool `gpu` waits for a gpu
 * worker; `signoff worker` without PostgreSQL says what it needs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import PgBoss from 'pg-boss';
import { openPgStore } from '../../src/store/postgres/store.js';
import type { StorePort } from '../../src/store/store.js';
import { tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { REPO, freePort, startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

interface WorkerProcess {
  proc: ChildProcess;
  dataDir: string;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Starts `signoff worker` on `databaseUrl` with a data directory of its own; resolves once it takes runs. */
async function startWorker(configPath: string, databaseUrl: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const dataDir = tempDir('signoff-worker-');
  let out = '';
  const proc = spawn(process.execPath, [path.join(REPO, 'dist', 'main.js'), 'worker'], {
    cwd: REPO,
    env: { ...process.env, SIGNOFF_CONFIG: configPath, SIGNOFF_DATA_DIR: dataDir, SIGNOFF_DATABASE_URL: databaseUrl, SIGNOFF_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  let dead = false;
  void exited.then(() => (dead = true));
  const w: WorkerProcess = {
    proc,
    dataDir,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (!dead) proc.kill(signal);
      await exited;
    },
  };
  cleanup.push(() => w.kill());
  await waitFor(() => {
    if (dead) throw new Error(`signoff worker exited during start:\n${out}`);
    return out.includes('is taking stage runs');
  }, 'signoff worker to start');
  return w;
}

async function startReplica(configPath: string, databaseUrl: string, env: Record<string, string> = {}): Promise<SignoffProcess> {
  const p = await startSignoff({ configPath, dataDir: tempDir('signoff-replica-'), env: { SIGNOFF_DATABASE_URL: databaseUrl, ...env } });
  cleanup.push(() => p.kill());
  return p;
}

async function store(databaseUrl: string): Promise<StorePort> {
  const s = await openPgStore(databaseUrl);
  cleanup.push(() => s.close());
  return s;
}

/** Whether a process runs (a zombie waiting to be reaped does not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Kills leftover stage processes (a SIGKILLed worker leaves its stage running). */
function killLater(pid: number): void {
  cleanup.push(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  });
}

const OPS = `
operators:
  ops: { console: [alice] }
`;

const jobState = async (replica: SignoffProcess, id: number) => (await replica.api('GET', `/jobs/${id}`)).json;
/** An artifact's contents as the replica serves them (from PostgreSQL, wherever the stage ran). */
const contentOf = async (replica: SignoffProcess, artifactId: number) =>
  (await fetch(`${replica.url}/api/v1/artifacts/${artifactId}`, { headers: { authorization: `Bearer ${replica.token}` } })).text();

describe('stage workers (PostgreSQL queue, real processes)', () => {
  it('runs a job end to end on a signoff worker while the replica takes no runs', async () => {
    const url = await freshDatabase();
    const configPath = writeConfig(tempDir(), `${OPS}
pipelines:
  three:
    stages:
      - { id: a, run: { builtin: outline } }
      - { id: b, run: { command: ["sh", "-c", "echo \\"$SIGNOFF_OUTPUT_DIR\\" > \\"$SIGNOFF_OUTPUT_DIR/where.txt\\""] } }
      - { id: c, run: { builtin: outline } }
`);
    const replica = await startReplica(configPath, url, { SIGNOFF_WORKER: 'off' });
    const worker = await startWorker(configPath, url);
    const created = await replica.api('POST', '/jobs', { pipeline: 'three', brief: 'through the queue' });
    expect(created.status).toBe(201);
    const id = created.json.job.id;
    const done = await waitFor(async () => {
      const j = await jobState(replica, id);
      return j.state === 'succeeded' && j;
    }, 'the job to finish on the worker');
    expect(done.stages.map((s: { state: string }) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // The stages ran in the worker (the command stage wrote where it ran), and their outputs are
    // kept in PostgreSQL, so the replica serves them though it has none of the worker's files.
    const artifacts = await (await store(url)).artifacts.current(id);
    expect(artifacts.length).toBeGreaterThanOrEqual(3);
    for (const a of artifacts) expect(a.path).toMatch(/^postgres:\d+$/);
    const where = artifacts.find((a) => a.name === 'where.txt')!;
    expect((await contentOf(replica, where.id)).startsWith(worker.dataDir + path.sep)).toBe(true);
  });

  it('reports ::progress:: lines from the worker and enforces the stage timeout there', async () => {
    const url = await freshDatabase();
    const dir = tempDir();
    const pidFile = path.join(dir, 'pid');
    const configPath = writeConfig(dir, `${OPS}
pipelines:
  stuck:
    stages:
      - id: talk
        run: { command: ["sh", "-c", "echo $$ > ${pidFile}; echo '::progress:: halfway there'; exec sleep 300"], timeout: 2s }
`);
    const replica = await startReplica(configPath, url, { SIGNOFF_WORKER: 'off' });
    await startWorker(configPath, url);
    const id = (await replica.api('POST', '/jobs', { pipeline: 'stuck', brief: 'too slow' })).json.job.id;
    const pid = Number(await waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim(), 'the stage to start'));
    killLater(pid);
    const failed = await waitFor(async () => {
      const j = await jobState(replica, id);
      return j.state === 'failed' && j;
    }, 'the stage to time out');
    expect(failed.error).toMatch(/timed out|timeout/i);
    expect(alive(pid)).toBe(false);
    const events = (await (await store(url)).events.forJob(id)).map((e) => [e.type, e.data.message ?? e.data.code]);
    expect(events).toContainEqual(['stage.progress', 'halfway there']);
    expect(events).toContainEqual(['stage.failed', 'timeout']);
  });

  it('starts a run again on a live worker when its worker is SIGKILLed mid-stage; only that run counts', async () => {
    const url = await freshDatabase();
    const dir = tempDir();
    const release = path.join(dir, 'release');
    const runsLog = path.join(dir, 'runs.log');
    // Each run records itself, then waits for the test's go before writing its one output.
    const script = `const fs = require('fs');
      fs.appendFileSync(${JSON.stringify(runsLog)}, process.pid + ' ' + process.env.SIGNOFF_OUTPUT_DIR + '\\n');
      const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(release)})) { clearInterval(t); fs.writeFileSync(process.env.SIGNOFF_OUTPUT_DIR + '/result.txt', process.env.SIGNOFF_OUTPUT_DIR); } }, 20);`;
    const configPath = writeConfig(dir, `${OPS}
pipelines:
  long:
    stages:
      - id: work
        run: { command: ["node", "-e", ${JSON.stringify(script)}], timeout: 5m }
`);
    const runs = () => (fs.existsSync(runsLog) ? fs.readFileSync(runsLog, 'utf8').trim().split('\n').map((l) => l.split(' ')) : []);
    const replica = await startReplica(configPath, url, { SIGNOFF_WORKER: 'off' });
    const first = await startWorker(configPath, url);
    const id = (await replica.api('POST', '/jobs', { pipeline: 'long', brief: 'survive a worker' })).json.job.id;
    await waitFor(() => runs().length === 1, 'the first run to start');
    killLater(Number(runs()[0]![0]));
    expect(runs()[0]![1]!.startsWith(first.dataDir)).toBe(true);
    const second = await startWorker(configPath, url);
    await first.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(() => runs().length === 2, 'the run to start again on the live worker', 30_000);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(runs()[1]![1]!.startsWith(second.dataDir)).toBe(true);
    fs.writeFileSync(release, 'go');
    const done = await waitFor(async () => {
      const j = await jobState(replica, id);
      return j.state === 'succeeded' && j;
    }, 'the job to finish');
    // The first run (still alive: its worker died, not it) may finish too; only the second run's output counts.
    const outputs = done.artifacts.filter((a: { stage: string }) => a.stage === 'work');
    expect(outputs.map((a: { name: string; run: number }) => [a.name, a.run])).toEqual([['result.txt', 2]]);
    const s = await store(url);
    const result = (await s.artifacts.current(id)).find((a) => a.name === 'result.txt')!;
    expect((await contentOf(replica, result.id)).startsWith(second.dataDir)).toBe(true);
    const types = (await s.events.forJob(id)).map((e) => e.type);
    expect(types.filter((t) => t === 'stage.recovered')).toHaveLength(1);
    expect(types.filter((t) => t === 'stage.succeeded')).toHaveLength(1);
  });

  it('cancel reaches the worker running the stage and kills its process group', async () => {
    const url = await freshDatabase();
    const dir = tempDir();
    const pids = path.join(dir, 'pids');
    const configPath = writeConfig(dir, `${OPS}
pipelines:
  slow:
    stages:
      - id: wait
        run: { command: ["sh", "-c", "sleep 300 & echo \\"$$ $!\\" > ${pids}; wait"] }
`);
    const replica = await startReplica(configPath, url, { SIGNOFF_WORKER: 'off' });
    await startWorker(configPath, url);
    const id = (await replica.api('POST', '/jobs', { pipeline: 'slow', brief: 'cancel me' })).json.job.id;
    const [shell, sleeper] = (await waitFor(() => fs.existsSync(pids) && fs.readFileSync(pids, 'utf8').trim().split(' ').length === 2 && fs.readFileSync(pids, 'utf8').trim().split(' '), 'the stage to start')).map(Number);
    killLater(shell!);
    expect(alive(shell!) && alive(sleeper!)).toBe(true);
    expect((await replica.api('POST', `/jobs/${id}/cancel`, {})).status).toBe(200);
    await waitFor(() => !alive(shell!) && !alive(sleeper!), 'the stage and its child to be killed');
    expect((await jobState(replica, id)).state).toBe('cancelled');
  });

  it('keeps a stage of pool gpu queued until a gpu worker starts, then runs it there', async () => {
    const url = await freshDatabase();
    const configPath = writeConfig(tempDir(), `${OPS}
pipelines:
  render:
    stages:
      - { id: frames, run: { command: ["sh", "-c", "echo \\"$SIGNOFF_OUTPUT_DIR\\" > \\"$SIGNOFF_OUTPUT_DIR/frames.txt\\""], pool: gpu } }
  text:
    stages:
      - { id: words, run: { builtin: outline } }
`);
    // The replica's own worker takes the default pool only.
    const replica = await startReplica(configPath, url);
    const gpuJob = (await replica.api('POST', '/jobs', { pipeline: 'render', brief: 'frames' })).json.job.id;
    const textJob = (await replica.api('POST', '/jobs', { pipeline: 'text', brief: 'words' })).json.job.id;
    await waitFor(async () => (await jobState(replica, textJob)).state === 'succeeded', 'the default-pool job to finish');
    // Submitted first, the gpu stage still waits: it is in its queue, and nobody ran it.
    expect((await jobState(replica, gpuJob)).stages[0]).toMatchObject({ state: 'running' });
    const boss = new PgBoss({ connectionString: url, max: 1, supervise: false, schedule: false, migrate: false });
    await boss.start();
    cleanup.push(() => boss.stop({ graceful: false }));
    expect(await boss.getQueueSize('signoff-stage-gpu')).toBe(1);
    const gpu = await startWorker(configPath, url, { SIGNOFF_POOLS: 'gpu' });
    const done = await waitFor(async () => {
      const j = await jobState(replica, gpuJob);
      return j.state === 'succeeded' && j;
    }, 'the gpu stage to run on the gpu worker');
    expect(done.artifacts.map((a: { name: string }) => a.name)).toContain('frames.txt');
    const [frames] = (await (await store(url)).artifacts.current(gpuJob)).filter((a) => a.name === 'frames.txt');
    expect((await contentOf(replica, frames!.id)).startsWith(gpu.dataDir + path.sep)).toBe(true);
  });

  it('a worker answers GET /healthz on SIGNOFF_PORT when it is set (its id, no courier, the database, its runs), and nothing else', async () => {
    const url = await freshDatabase();
    const configPath = writeConfig(tempDir(), `${OPS}
pipelines:
  one:
    stages:
      - { id: a, run: { builtin: outline } }
`);
    const port = await freePort();
    const worker = await startWorker(configPath, url, { SIGNOFF_PORT: String(port), SIGNOFF_REPLICA_ID: 'gpu-box-1' });
    expect(worker.output()).toContain(`health: http://127.0.0.1:${port}/healthz`);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, role: 'worker', replica: 'gpu-box-1', courier: false, database: 'ok', stageRuns: 0 });
    expect((await fetch(`http://127.0.0.1:${port}/api/v1/jobs`)).status).toBe(404);
    // Without SIGNOFF_PORT a worker opens no port (a replica on the same host has the default one).
    const quiet = await startWorker(configPath, url);
    expect(quiet.output()).not.toContain('health:');
  });

  it('signoff worker without SIGNOFF_DATABASE_URL says what it needs and exits 2', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, SIGNOFF_DATA_DIR: tempDir() };
    delete env.SIGNOFF_DATABASE_URL;
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'main.js'), 'worker'], { cwd: REPO, env, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/signoff worker takes stage runs from the PostgreSQL queue: set SIGNOFF_DATABASE_URL/);
  });
});
