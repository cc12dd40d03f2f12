/**
 * `npm run chaos:cluster`: the cluster chaos run (tests/cluster/lib/cluster-run.ts). Defaults are
 * issue 12's: 3 replicas, 2 workers, 200 jobs, 10 SIGKILLs, 1 PostgreSQL restart. Every size is
 * an environment variable (CLUSTER_REPLICAS, CLUSTER_WORKERS, CHAOS_JOBS, CHAOS_KILLS,
 * CLUSTER_PG_RESTARTS, CHAOS_SEED, CHAOS_TIMEOUT_S), so a run can be made smaller. Prints the
 * seed first, the figures as a Markdown table for docs/reliability.md last, writes the summary to
 * test-output/cluster-chaos-summary.json, and exits non-zero when any promise was broken.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/signoff-process.js';
import { seedFromEnv } from './lib/prng.js';
import { runClusterChaos } from '../cluster/lib/cluster-run.js';
import { markdownReport } from '../cluster/lib/report.js';

const count = (name: string, fallback: number, min = 0) => {
  const value = process.env[name];
  const n = value ? Number(value) : fallback;
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be a whole number of at least ${min}, not "${value}"`);
  return n;
};

const o = {
  replicas: count('CLUSTER_REPLICAS', 3, 1),
  workers: count('CLUSTER_WORKERS', 2),
  jobs: count('CHAOS_JOBS', 200, 1),
  kills: count('CHAOS_KILLS', 10),
  pgRestarts: count('CLUSTER_PG_RESTARTS', 1),
  seed: seedFromEnv(),
};
if (!fs.existsSync(path.join(REPO, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
const command = `CHAOS_SEED=${o.seed} CLUSTER_REPLICAS=${o.replicas} CLUSTER_WORKERS=${o.workers} CHAOS_JOBS=${o.jobs} CHAOS_KILLS=${o.kills} CLUSTER_PG_RESTARTS=${o.pgRestarts} npm run chaos:cluster`;
console.log(`cluster chaos: ${o.replicas} replicas, ${o.workers} workers, ${o.jobs} jobs, ${o.kills} SIGKILLs, ${o.pgRestarts} PostgreSQL restart(s), seed ${o.seed}\n  reproduce with ${command}`);
const summary = await runClusterChaos({ ...o, log: (line) => console.log(`  ${line}`), timeoutMs: count('CHAOS_TIMEOUT_S', 1200, 1) * 1000 });
const out = path.join(REPO, 'test-output', 'cluster-chaos-summary.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${JSON.stringify({ ...summary, command, node: process.version, at: new Date().toISOString() }, null, 2)}\n`);
console.log(JSON.stringify({ ...summary, violations: summary.violations.slice(0, 50) }, null, 2));
console.log(`\n${markdownReport(summary, command)}\n`);
if (summary.violations.length) {
  console.error(`cluster chaos FAILED with ${summary.violations.length} violation(s); the working directory (logs of every process, posts.json, calls.json) is kept at ${summary.dir}`);
  process.exit(1);
}
console.log(`cluster chaos passed; summary in ${path.relative(REPO, out)}`);
