/**
 * Figure 2 on PostgreSQL: the same engine run as on SQLite (lib/engine-run.ts) on a fresh
 * PostgreSQL database per run. Baseline, on the same server in the same run, before and after:
 * single-row autocommit INSERTs of event-like rows with raw `pg`, one client, one after another
 * (each is a round trip and a commit, as each of the engine's statements is a round trip).
 *
 * The server is the one SIGNOFF_BENCH_DATABASE_URL names (its user may CREATE DATABASE; the
 * bench makes its own `bench_*` databases, replacing them each run), else an embedded PostgreSQL 17 started for the
 * bench (the npm package the tests use), so `npm run bench` needs no server installed.
 *
 *   npx tsx bench/run.ts --only postgres
 */
import fs from 'node:fs';
import { openPgStore } from '../src/store/postgres/store.js';
import { scriptPostgres, type ScriptPostgres } from '../tests/helpers/script-postgres.js';
import { benchDir } from './lib/engine.js';
import { ENGINE_JOBS, runEngineOn } from './lib/engine-run.js';
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';
import { rawPgInsertRate } from './lib/pg-baseline.js';

let server: ScriptPostgres | undefined;

/** The engine run on a fresh database `name`. */
async function engineOnPg(name: string, builtin: string) {
  const dir = benchDir('pg-engine');
  const store = await openPgStore(await server!.freshDatabase(name));
  try {
    return await runEngineOn(store, dir, builtin);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function run(ctx: RunContext): Promise<Sample> {
  const s: Sample = {};
  const rawBefore = await rawPgInsertRate(await server!.freshDatabase('bench_raw_1'));
  for (const builtin of ['outline', 'noop']) {
    const r = await engineOnPg(`bench_engine_${builtin}`, builtin);
    s[`${builtin}_tps`] = r.transitions / r.seconds;
    s[`${builtin}_cpu_tps`] = r.transitions / r.cpuSeconds;
  }
  const rawAfter = await rawPgInsertRate(await server!.freshDatabase('bench_raw_2'));
  s.raw_ips = (rawBefore + rawAfter) / 2;
  s.outline_ratio = s.outline_tps! / s.raw_ips;
  s.noop_ratio = s.noop_tps! / s.raw_ips;
  ctx.log(`postgres run ${ctx.run + 1}: raw ${Math.round(rawBefore)}/${Math.round(rawAfter)} inserts/s; outline ${Math.round(s.outline_tps!)} tr/s (${s.outline_ratio.toFixed(3)}; ${Math.round(s.outline_cpu_tps!)} per CPU-s), noop ${Math.round(s.noop_tps!)} tr/s (${s.noop_ratio.toFixed(3)})`);
  return s;
}

export const postgresThroughput: Figure = {
  id: 'postgres',
  title: 'Engine throughput on PostgreSQL',
  async prepare(log) {
    const given = process.env.SIGNOFF_BENCH_DATABASE_URL;
    log(given ? '   on the server SIGNOFF_BENCH_DATABASE_URL names' : '   starting an embedded PostgreSQL 17…');
    server = await scriptPostgres(given);
  },
  run,
  async cleanup() {
    await server?.stop();
    server = undefined;
  },
  rows: (m) => [
    {
      figure: `Engine transitions/s on PostgreSQL, ${ENGINE_JOBS} jobs × 6 stages (builtin outline) + auto gates`,
      signoff: `${fmt.n(m.outline_tps!)} /s`,
      baseline: `${fmt.n(m.raw_ips!)} raw pg autocommit inserts/s, same server`,
      ratio: fmt.x(m.outline_ratio!),
      target: 'reported',
      pass: null,
    },
    {
      figure: 'Engine transitions/s on PostgreSQL, same with a no-op builtin',
      signoff: `${fmt.n(m.noop_tps!)} /s`,
      baseline: `${fmt.n(m.raw_ips!)} raw inserts/s`,
      ratio: fmt.x(m.noop_ratio!),
      target: 'reported',
      pass: null,
    },
  ],
};
