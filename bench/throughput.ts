/**
 * Figure 2, engine throughput: the shared engine run (lib/engine-run.ts: 200 jobs through a
 * 6-stage pipeline whose gates all auto-approve, a FakeClock moved by hand) on a real SQLite file
 * (WAL, the store's own pragmas). Counted: transitions (14 per job), events, and SQLite commits.
 * Baseline, in the same run, before and after: single-row
 * autocommit INSERTs of event-like rows with raw better-sqlite3 into a file with the same pragmas.
 *
 * Two pipelines: `outline` ×6 (the cheapest real builtin: it writes one small markdown file, which
 * the launcher then hashes and registers as an artifact) and `noop` ×6, a builtin the bench adds
 * that writes nothing (the engine, the store and the launcher's directory handling only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Database } from '../src/store/sqlite/driver.js';
import { benchDir } from './lib/engine.js';
import { ENGINE_JOBS, runEngineOn, type EngineRunResult } from './lib/engine-run.js';
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';
import { tracedStore, type Trace } from './lib/sql-trace.js';

const JOBS = ENGINE_JOBS;
const RAW_ROWS = 20_000;

/** Single-row autocommit inserts per second into a fresh file with the store's pragmas. */
export function rawInsertRate(dir: string, name: string): number {
  const db = new Database(path.join(dir, name));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL, UNIQUE (job_id, seq))');
  const insert = db.prepare('INSERT INTO events (job_id, seq, type, at, data) VALUES (?, ?, ?, ?, ?)');
  const data = JSON.stringify({ stage: 's3', run: 1, attempt: 1, summary: 'Outline: 5 sections', artifacts: 1, duration_ms: 0 });
  const t0 = performance.now();
  for (let i = 0; i < RAW_ROWS; i++) insert.run(1 + (i >> 5), i & 31, 'stage.succeeded', Date.now(), data);
  const rate = RAW_ROWS / ((performance.now() - t0) / 1000);
  db.close();
  return rate;
}

interface EngineResult extends EngineRunResult {
  /** Outermost SQLite transactions that wrote something. */
  commits: number;
  /** Every outermost transaction, including queue pumps that found nothing to start. */
  transactions: number;
  trace: Trace;
}

/** The shared engine run (lib/engine-run.ts) on a traced SQLite file in `dir`. */
export async function engineRun(dir: string, builtin: string, o: { jobs?: number; timing?: boolean } = {}): Promise<EngineResult> {
  const { store, trace } = tracedStore(path.join(dir, 'signoff.db'), { timing: o.timing ?? false });
  try {
    const r = await runEngineOn(store, dir, builtin, o.jobs ?? JOBS);
    return { ...r, commits: trace.writingTransactions, transactions: trace.transactions, trace };
  } finally {
    await store.close();
  }
}

const DIAG_JOBS = 50;

async function run(ctx: RunContext): Promise<Sample> {
  const dir = benchDir('throughput');
  try {
    const s: Sample = {};
    const rawBefore = rawInsertRate(dir, 'raw-1.db');
    for (const builtin of ['outline', 'noop']) {
      const sub = path.join(dir, builtin);
      fs.mkdirSync(sub);
      const r = await engineRun(sub, builtin);
      s[`${builtin}_tps`] = r.transitions / r.seconds;
      s[`${builtin}_eps`] = r.events / r.seconds;
      s[`${builtin}_transitions_per_job`] = r.transitions / JOBS;
      s[`${builtin}_commits_per_job`] = r.commits / JOBS;
      s[`${builtin}_events_per_job`] = r.events / JOBS;
      s[`${builtin}_cpu_tps`] = r.transitions / r.cpuSeconds;
    }
    const rawAfter = rawInsertRate(dir, 'raw-2.db');
    s.raw_ips = (rawBefore + rawAfter) / 2;
    s.outline_ratio = s.outline_tps! / s.raw_ips;
    s.noop_ratio = s.noop_tps! / s.raw_ips;
    s.outline_event_ratio = s.outline_eps! / s.raw_ips;

    // Where a transition's time goes: a smaller run with every statement and commit timed
    // (timing perturbs the rate a little, so it is kept apart from the measured runs above).
    const diag = path.join(dir, 'diag');
    fs.mkdirSync(diag);
    const d = await engineRun(diag, 'noop', { jobs: DIAG_JOBS, timing: true });
    const t = d.trace;
    const inTx = [...t.statements.values()].reduce((n, st) => n + st.calls, 0);
    const stmtMs = [...t.statements.values()].reduce((n, st) => n + st.ms, 0);
    s.diag_statements_per_transition = inTx / d.transitions;
    s.diag_sql_us_per_transition = ((stmtMs + t.beginCommitMs) * 1000) / d.transitions;
    s.diag_commit_us_per_transition = (t.beginCommitMs * 1000) / d.transitions;
    s.diag_tx_us_per_transition = (t.transactionMs * 1000) / d.transitions;
    s.diag_wall_us_per_transition = (d.seconds * 1e6) / d.transitions;
    s.diag_sql_only_ratio = 1e6 / s.diag_sql_us_per_transition / s.raw_ips;
    if (ctx.run === 0) ctx.log(describeTrace(d.trace, d.transitions));
    ctx.log(`throughput run ${ctx.run + 1}: raw ${Math.round(rawBefore)}/${Math.round(rawAfter)} inserts/s; outline ${Math.round(s.outline_tps!)} tr/s (${s.outline_ratio.toFixed(3)}; ${Math.round(s.outline_cpu_tps!)} per CPU-s), noop ${Math.round(s.noop_tps!)} tr/s (${s.noop_ratio.toFixed(3)}); per transition: ${s.diag_statements_per_transition.toFixed(1)} statements, SQLite ${Math.round(s.diag_sql_us_per_transition)} µs (commit ${Math.round(s.diag_commit_us_per_transition)}), in transaction ${Math.round(s.diag_tx_us_per_transition)} µs, wall ${Math.round(s.diag_wall_us_per_transition)} µs`);
    return s;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The statements of a traced run, most time first, per transition. */
function describeTrace(t: Trace, transitions: number): string {
  const lines = [...t.statements.values()]
    .filter((st) => st.calls > 0)
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 12)
    .map((st) => `    ${((st.ms * 1000) / transitions).toFixed(1).padStart(6)} µs  ${(st.calls / transitions).toFixed(2).padStart(5)}×  ${st.sql.replace(/\s+/g, ' ').slice(0, 110)}`);
  return [`  statements per transition (time per transition, calls per transition, SQL):`, ...lines, `    ${((t.beginCommitMs * 1000) / transitions).toFixed(1).padStart(6)} µs         BEGIN IMMEDIATE + COMMIT`].join('\n');
}

export const throughput: Figure = {
  id: 'throughput',
  title: 'Engine throughput',
  run,
  rows: (m) => [
    {
      figure: `Engine transitions/s, ${JOBS} jobs × 6 stages (builtin outline) + auto gates, SQLite WAL file`,
      signoff: `${fmt.n(m.outline_tps!)} /s (${fmt.n(m.outline_transitions_per_job!, 0)} per job, ${fmt.n(m.outline_commits_per_job!, 1)} commits per job)`,
      baseline: `${fmt.n(m.raw_ips!)} raw autocommit inserts/s`,
      ratio: fmt.x(m.outline_ratio!),
      target: '≥ 0.33× raw inserts',
      pass: m.outline_ratio! >= 1 / 3,
    },
    {
      figure: 'Engine transitions/s, same with a no-op builtin (no files written)',
      signoff: `${fmt.n(m.noop_tps!)} /s`,
      baseline: `${fmt.n(m.raw_ips!)} raw inserts/s`,
      ratio: fmt.x(m.noop_ratio!),
      target: '≥ 0.33× raw inserts',
      pass: m.noop_ratio! >= 1 / 3,
    },
    {
      figure: 'SQLite time alone per transition (statements + BEGIN/COMMIT, traced no-op run)',
      signoff: `${fmt.n(m.diag_sql_us_per_transition!)} µs, ${fmt.n(m.diag_statements_per_transition!, 1)} statements`,
      baseline: `${fmt.n(1e6 / m.raw_ips!)} µs per raw insert`,
      ratio: fmt.x(m.diag_sql_only_ratio!),
      target: 'bound on the ratio above',
      pass: null,
    },
    {
      figure: 'Engine events/s (outline pipeline)',
      signoff: `${fmt.n(m.outline_eps!)} /s (${fmt.n(m.outline_events_per_job!, 1)} per job)`,
      baseline: `${fmt.n(m.raw_ips!)} raw inserts/s`,
      ratio: fmt.x(m.outline_event_ratio!),
      target: '—',
      pass: null,
    },
  ],
};
