/**
 * What the stage queue costs a job on PostgreSQL: the time from submission to `job.finished` of a
 * 3-stage job whose stages do nothing, one job after another, in three set-ups on one server:
 *   - in-process: stages run by the engine itself (PostgreSQL before the queue; SQLite today);
 *   - queue, own worker: runs go through pg-boss to this process's worker (`signoff start`);
 *   - queue, other worker: the replica takes no runs (SIGNOFF_WORKER=off); a second engine with
 *     its own store and worker (as `signoff worker`) takes them, woken by NOTIFY.
 *
 *   npx tsx bench/stage-queue-latency.ts            (starts an embedded PostgreSQL of its own)
 *   SIGNOFF_BENCH_DATABASE_URL=postgres://… npx tsx bench/stage-queue-latency.ts
 *
 * Not part of `npm run bench` (which must not need a PostgreSQL server).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { builtinStages } from '../src/stages/builtin/index.js';
import { parseConfig } from '../src/config/load.js';
import { Engine } from '../src/orchestrator/engine.js';
import { openPgStore } from '../src/store/postgres/store.js';
import { processEngine } from '../src/stages/queue/process-engine.js';
import type { StoredEvent } from '../src/store/store.js';
import { loadEmbeddedPostgres } from '../tests/helpers/load-embedded-postgres.js';
import { silentLog } from './lib/engine.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 30);

builtinStages.noop ??= async () => ({ summary: 'nothing to do' });

const config = parseConfig(`
operators:
  editors: { console: [alice] }
limits: { jobs_per_user_per_minute: 100000, max_concurrent_jobs: 20 }
console: { enabled: false }
pipelines:
  three:
    stages:
      - { id: s1, run: { builtin: noop } }
      - { id: s2, run: { builtin: noop } }
      - { id: s3, run: { builtin: noop } }
`, 'bench');

async function server(): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.SIGNOFF_BENCH_DATABASE_URL;
  if (given) return { url: given, stop: async () => undefined };
  const { EmbeddedPostgres, copy } = await loadEmbeddedPostgres();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-bench-pg-'));
  fs.chmodSync(dir, 0o711);
  const password = crypto.randomBytes(12).toString('hex');
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const instance = new EmbeddedPostgres({ databaseDir: path.join(dir, 'data'), port, user: 'postgres', password, persistent: false, createPostgresUser: true, onLog: () => undefined, onError: () => undefined });
  await instance.initialise();
  await instance.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await instance.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      if (copy) fs.rmSync(copy, { recursive: true, force: true });
    },
  };
}

async function freshDb(admin: string): Promise<string> {
  const name = `signoff_latency_${crypto.randomBytes(4).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

type Setup = { engines: Engine[]; submitVia: Engine; stop(): Promise<void> };

async function setup(kind: 'in-process' | 'own worker' | 'other worker', url: string): Promise<Setup> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-latency-'));
  const base = { config, dataDir, baseDir: process.cwd(), log: silentLog, tickSchedule: false as const };
  const store = await openPgStore(url);
  if (kind === 'in-process') {
    const engine = new Engine({ ...base, store });
    await engine.start();
    return { engines: [engine], submitVia: engine, stop: async () => { await engine.stop(); await store.close(); } };
  }
  const replica = await processEngine({ ...base, store }, { on: kind === 'own worker', pools: ['default'], concurrency: 32 });
  await replica.start();
  if (kind === 'own worker') return { engines: [replica.engine], submitVia: replica.engine, stop: async () => { await replica.stop(); await store.close(); } };
  const workerStore = await openPgStore(url);
  const worker = await processEngine({ ...base, store: workerStore }, { on: true, pools: ['default'], concurrency: 32 });
  await worker.startWorker();
  return {
    engines: [replica.engine, worker.engine],
    submitVia: replica.engine,
    stop: async () => { await worker.stop(); await replica.stop(); await workerStore.close(); await store.close(); },
  };
}

/** Runs `n` jobs one after another on `s`; their times. */
async function measure(s: Setup, n: number): Promise<number[]> {
  const waiting = new Map<number, () => void>();
  const off = s.engines.map((e) => e.onEvent((ev: StoredEvent) => { if (ev.type === 'job.finished') waiting.get(ev.job)?.(); }));
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    let finished!: () => void;
    const done = new Promise<void>((r) => (finished = r));
    const r = await s.submitVia.submit({ platform: 'console', user: 'alice' }, { pipeline: 'three', brief: `job ${i}`, origin: { surface: 'console' } });
    if (!r.ok) throw new Error(r.message);
    waiting.set(r.jobId, finished);
    await done;
    times.push(performance.now() - t0);
  }
  for (const f of off) f();
  return times;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const srv = await server();
try {
  console.log(`3-stage job (stages do nothing), submit → job.finished, ${JOBS} jobs one after another, PostgreSQL ${srv.url.replace(/:[^:@/]*@/, ':***@')}`);
  // Context for the figures: what one round trip to this server costs now.
  const c = new pg.Client({ connectionString: srv.url });
  await c.connect();
  const rtts: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await c.query('SELECT 1');
    rtts.push(performance.now() - t0);
  }
  await c.end();
  console.log(`one round trip (SELECT 1): median ${pct(rtts, 50).toFixed(2)} ms, p95 ${pct(rtts, 95).toFixed(2)} ms`);
  const kinds = ['in-process', 'own worker', 'other worker'] as const;
  const setups = await Promise.all(kinds.map(async (k) => setup(k, await freshDb(srv.url))));
  // Interleaved in rounds of 5 jobs, after a warm-up, so a busy moment of the machine hits every set-up alike.
  for (const s of setups) await measure(s, 3);
  const times: number[][] = kinds.map(() => []);
  for (let round = 0; round < Math.ceil(JOBS / 5); round++) for (const [i, s] of setups.entries()) times[i]!.push(...(await measure(s, 5)));
  for (const s of setups) await s.stop();
  for (const [i, kind] of kinds.entries()) {
    const t = times[i]!;
    console.log(`${kind.padEnd(13)} median ${pct(t, 50).toFixed(1)} ms   p95 ${pct(t, 95).toFixed(1)} ms   (per stage ≈ ${(pct(t, 50) / 3).toFixed(1)} ms)`);
  }
} finally {
  await srv.stop();
}
