/**
 * `npm run bench`: builds signoff when dist/ is older than src/, measures every figure of
 * issue 7 several times, and prints one table of medians with the machine it ran on.
 *
 *   npx tsx bench/run.ts                     all figures, 3 runs each
 *   npx tsx bench/run.ts --only ack,timers   some figures (ack, throughput, postgres, chat, footprint, timers)
 *   npx tsx bench/run.ts --runs 5            more runs per figure
 *   npx tsx bench/run.ts --profile           also write --cpu-prof profiles and print their top frames
 *   npx tsx bench/run.ts --json out.json     also write every run's numbers and the medians
 *   npx tsx bench/run.ts --main /tmp/x/main.js   run another build of signoff (to try a fix)
 *   npx tsx bench/run.ts --fresh-db          rebuild the cached 100,000-job database of the footprint figure
 *
 * Every figure is a comparison measured in the same run (the machines are shared and noisy);
 * the table shows the median over the runs of each number, ratios included.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ackLatency } from './ack-latency.js';
import { chatEconomy } from './chat-economy.js';
import { clusterAck } from './cluster-ack.js';
import { clusterThroughput } from './cluster-throughput.js';
import { courierFailover } from './courier-failover.js';
import { footprint } from './footprint.js';
import { summariseProfiles } from './lib/cpuprofile.js';
import type { Figure, Row, Sample } from './lib/figure.js';
import { describeMachine, machine } from './lib/machine.js';
import { REPO } from './lib/proc.js';
import { medianOf } from './lib/stats.js';
import { queueFloor } from './queue-floor.js';
import { renderTable } from './lib/table.js';
import { postgresThroughput } from './postgres-throughput.js';
import { throughput } from './throughput.js';
import { timers } from './timers.js';
import { workerFailover } from './worker-failover.js';

// postgres: the engine on PostgreSQL (an embedded server unless SIGNOFF_BENCH_DATABASE_URL names one).
// cluster, floor, failover, worker, cluster-ack: real processes on one PostgreSQL (issue 12; docs/benchmarks.md#cluster-issue-12).
const FIGURES: Figure[] = [ackLatency, throughput, postgresThroughput, chatEconomy, footprint, timers, clusterThroughput, queueFloor, courierFailover, workerFailover, clusterAck];

function parseArgs(argv: string[]) {
  const o = { runs: 3, only: undefined as string[] | undefined, profile: false, json: undefined as string | undefined, build: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--runs') o.runs = Math.max(1, Number(value()));
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--profile') o.profile = true;
    else if (a === '--json') o.json = value();
    else if (a === '--no-build') o.build = false;
    else if (a === '--main') process.env.SIGNOFF_BENCH_MAIN = path.resolve(value());
    else if (a === '--fresh-db') process.env.SIGNOFF_BENCH_FRESH_DB = '1';
    else throw new Error(`unknown argument ${a}; see the top of bench/run.ts`);
  }
  return o;
}

/** Newest modification time under `dir` (files only). */
function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

function ensureBuilt(log: (m: string) => void): void {
  const dist = path.join(REPO, 'dist', 'main.js');
  if (fs.existsSync(dist) && newest(path.join(REPO, 'dist')) >= newest(path.join(REPO, 'src'))) return;
  log('building dist/ (npm run build)…');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO, stdio: 'inherit' });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  if (o.build) ensureBuilt(log);
  const unknown = (o.only ?? []).filter((id) => !FIGURES.some((f) => f.id === id));
  if (unknown.length) throw new Error(`unknown figure(s) ${unknown.join(', ')}; known: ${FIGURES.map((f) => f.id).join(', ')}`);
  const figures = FIGURES.filter((f) => !o.only || o.only.includes(f.id));
  const m = machine();
  const started = new Date();
  const profileDir = o.profile ? fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-bench-profiles-')) : undefined;
  const rows: Row[] = [];
  const results: Record<string, { runs: Sample[]; median: Sample }> = {};
  for (const figure of figures) {
    const t0 = Date.now();
    log(`== ${figure.title}`);
    try {
      await figure.prepare?.(log);
      const runs: Sample[] = [];
      // Profiles of the first run only: one set is enough to read, and profiling slows the run.
      for (let run = 0; run < o.runs; run++) runs.push(await figure.run({ run, profileDir: run === 0 ? profileDir : undefined, log }));
      const median = medianOf(runs);
      results[figure.id] = { runs, median };
      rows.push(...figure.rows(median));
    } finally {
      await figure.cleanup?.();
    }
    log(`   (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const header = `signoff benchmarks: medians of ${o.runs} run(s) per figure\nmachine: ${describeMachine(m)}\ndate: ${started.toISOString()}\n`;
  const short = { machine: `${m.cpu.replace(/\(R\)|\(TM\)|CPU|Processor/g, '').replace(/\s+/g, ' ').trim()} ×${m.cores}, Node ${m.node}`, date: started.toISOString().slice(0, 10) };
  process.stdout.write(`\n${header}\n${renderTable(rows, short)}\n`);
  if (profileDir) process.stdout.write(`\nCPU profiles in ${profileDir}\n${summariseProfiles(profileDir)}\n`);
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ machine: m, date: started.toISOString(), runs: o.runs, results, rows }, null, 2));
  const failed = rows.filter((r) => r.pass === false).length;
  if (failed) process.stdout.write(`\n${failed} row(s) miss their target (see docs/benchmarks.md for why).\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
