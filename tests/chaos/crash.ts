/**
 * `npm run chaos`: the full crash-chaos run (200 jobs, 10 SIGKILLs by default). Prints progress,
 * then the summary as JSON (also written to test-output/chaos-summary.json), and exits non-zero
 * when any promise was broken. Reproduce a run with the seed it prints: `CHAOS_SEED=… npm run chaos`.
 * `CHAOS_JOBS` and `CHAOS_KILLS` change the size.
 *
 * `npm run chaos -- --store postgres` (or CHAOS_STORE=postgres) runs signoff on PostgreSQL: a
 * fresh database on the server CHAOS_DATABASE_URL names (its user may CREATE DATABASE), else on
 * an embedded PostgreSQL the run starts for itself.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { scriptPostgres, type ScriptPostgres } from '../helpers/script-postgres.js';
import { REPO } from '../helpers/signoff-process.js';
import { runCrashChaos } from './lib/crash-run.js';
import { seedFromEnv } from './lib/prng.js';

const count = (name: string, fallback: number) => {
  const value = process.env[name];
  const n = value ? Number(value) : fallback;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, not "${value}"`);
  return n;
};

/** What was tested: the commit, whether src/ had uncommitted changes, and a hash of dist/. */
function build(): { commit: string; srcDirty: boolean; dist: string } {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.js')) hash.update(entry.name).update(fs.readFileSync(file));
    }
  };
  walk(path.join(REPO, 'dist'));
  return { commit: git('rev-parse', '--short', 'HEAD'), srcDirty: git('status', '--porcelain', 'src') !== '', dist: hash.digest('hex').slice(0, 12) };
}

/** `--store sqlite|postgres` (or `--store=…`), else CHAOS_STORE, else sqlite. */
function storeOption(): 'sqlite' | 'postgres' {
  const args = process.argv.slice(2);
  const at = args.findIndex((a) => a === '--store' || a.startsWith('--store='));
  const value = at < 0 ? (process.env.CHAOS_STORE ?? 'sqlite') : args[at]!.includes('=') ? args[at]!.split('=')[1] : args[at + 1];
  if (value !== 'sqlite' && value !== 'postgres') throw new Error(`--store must be sqlite or postgres, not "${value}"`);
  return value;
}

const store = storeOption();
const seed = seedFromEnv();
const jobs = count('CHAOS_JOBS', 200);
const kills = count('CHAOS_KILLS', 10);
if (!fs.existsSync(path.join(REPO, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
const command = `CHAOS_SEED=${seed} CHAOS_JOBS=${jobs} CHAOS_KILLS=${kills} npm run chaos${store === 'postgres' ? ' -- --store postgres' : ''}`;
console.log(`crash chaos on ${store}: ${jobs} jobs, ${kills} SIGKILLs, seed ${seed} (reproduce with ${command})`);
const before = build();
let server: ScriptPostgres | undefined;
let summary: Awaited<ReturnType<typeof runCrashChaos>>;
try {
  server = store === 'postgres' ? await scriptPostgres(process.env.CHAOS_DATABASE_URL) : undefined;
  const databaseUrl = server && (await server.freshDatabase(`signoff_chaos_${seed}`));
  summary = await runCrashChaos({ jobs, kills, seed, log: (line) => console.log(`  ${line}`), timeoutMs: count('CHAOS_TIMEOUT_S', 900) * 1000, ...(databaseUrl ? { databaseUrl } : {}) });
} finally {
  await server?.stop();
}
const out = path.join(REPO, 'test-output', 'chaos-summary.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
const after = build();
// signoff is restarted from dist/ after every kill: a rebuild during the run mixes two versions.
if (after.dist !== before.dist) console.error(`WARNING: dist/ changed during the run (${before.dist} → ${after.dist}); these figures mix two builds.`);
fs.writeFileSync(out, `${JSON.stringify({ ...summary, build: { ...before, changedDuringRun: after.dist !== before.dist }, command, node: process.version, at: new Date().toISOString() }, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 2));
if (summary.violations.length) {
  console.error(`\ncrash chaos FAILED with ${summary.violations.length} violation(s); the working directory (database, signoff.log, runs.log) is kept at ${summary.dir}`);
  process.exit(1);
}
console.log(`\ncrash chaos passed on ${store}: ${summary.jobs} jobs, ${summary.restarts} restarts after SIGKILL, ${summary.clicks.sent} clicks, duplicates=${summary.delivery.duplicates}, lost=${summary.lost.clicks + summary.lost.submissions}; summary in ${path.relative(REPO, out)}`);
