/**
 * Figure 5, timer precision. signoff as `node dist/main.js`; jobs submitted through the API run
 * one instant stage, then wait at an optional gate that auto-approves. The delay of each firing
 * is `gate.approved` event time − the deadline written in its `gate.opened` event, read from the
 * database. Deadlines are spread over the second (submits are staggered at random).
 *
 * Steady: STEADY_JOBS jobs, 2 s auto-approval, the process up throughout. Baseline in the same
 * run: plain setTimeout()s in the bench process for the same deadlines (how late a timer fires on
 * this machine at all).
 * Restart: RESTART_JOBS jobs whose deadlines fall while signoff is stopped (SIGTERM after their
 * gates opened, started again after the deadlines) plus as many whose deadlines fall after it is
 * back. For the first group the delay counts from when firing became possible, i.e. the restart
 * (spawn); the total lateness including the downtime is reported too. Baseline: the same
 * restart's time from spawn to a healthy /healthz.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Database } from '../src/store/sqlite/driver.js';
import { waitFor } from '../tests/helpers/wait.js';
import { benchDir } from './lib/engine.js';
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';
import { BENCH_API_TOKEN, signoffEnv, spawnServer, type Spawned } from './lib/proc.js';
import { quantile } from './lib/stats.js';

const STEADY_JOBS = 20;
const RESTART_JOBS = 10;
const SHORT_MS = 2_000;
const LONG_MS = 8_000;
/** signoff's timer sweep runs every second (node-cron '* * * * * *' in src/orchestrator/engine.ts). */
const SWEEP_MS = 1_000;

const YAML = `
operators:
  editors: { console: [alice] }
limits: { jobs_per_user_per_minute: 1000, max_concurrent_jobs: 100 }
console: { enabled: false }
pipelines:
  short:
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { required: false, approvers: [editors], auto_approve_after: ${SHORT_MS}ms }
      - id: final
        run: { builtin: script }
  long:
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { required: false, approvers: [editors], auto_approve_after: ${LONG_MS}ms }
      - id: final
        run: { builtin: script }
`;

interface Firing {
  job: number;
  deadline: number;
  approvedAt: number | null;
}

function firings(dataDir: string): Firing[] {
  const db = new Database(path.join(dataDir, 'signoff.db'), { readonly: true });
  try {
    const opened = db.prepare("SELECT job_id AS job, data FROM events WHERE type = 'gate.opened' ORDER BY job_id").all() as { job: number; data: string }[];
    const approved = new Map((db.prepare("SELECT job_id AS job, at FROM events WHERE type = 'gate.approved'").all() as { job: number; at: number }[]).map((r) => [r.job, r.at]));
    return opened.map((o) => ({ job: o.job, deadline: Number(JSON.parse(o.data).deadline_at), approvedAt: approved.get(o.job) ?? null }));
  } finally {
    db.close();
  }
}

async function submit(url: string, pipeline: string, n: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BENCH_API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pipeline, brief: `Timer job ${i}: bees` }),
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { job?: { id?: number } };
    ids.push(Number(body.job?.id));
    // Staggered at random so the deadlines fall at different points of the timer sweep's second.
    await new Promise((r) => setTimeout(r, Math.random() * 90));
  }
  return ids;
}

const start = (dataDir: string, ctx: RunContext, name: string) =>
  spawnServer({
    env: signoffEnv({ configPath: path.join(dataDir, 'signoff.yaml'), dataDir }),
    nodeArgs: ctx.profileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.profileDir, '--cpu-prof-name', `timers-${name}-${ctx.run}.cpuprofile`] : [],
    logFile: path.join(dataDir, `${name}.log`),
  });

async function steady(ctx: RunContext): Promise<Sample> {
  const dataDir = benchDir('timers-steady');
  fs.writeFileSync(path.join(dataDir, 'signoff.yaml'), YAML);
  let p: Spawned | undefined;
  try {
    p = await start(dataDir, ctx, 'steady');
    await submit(p.url, 'short', STEADY_JOBS);
    // The baseline: setTimeout()s here for the same deadlines, armed as soon as each gate opened.
    const baseline: number[] = [];
    const armed = new Set<number>();
    const timers: Promise<void>[] = [];
    await waitFor(() => {
      for (const f of firings(dataDir)) {
        if (armed.has(f.job)) continue;
        armed.add(f.job);
        timers.push(new Promise((resolve) => setTimeout(() => resolve(void baseline.push(Date.now() - f.deadline)), Math.max(0, f.deadline - Date.now()))));
      }
      return armed.size === STEADY_JOBS;
    }, 'the gates to open', 30_000);
    await Promise.all(timers);
    await waitFor(() => firings(dataDir).every((f) => f.approvedAt !== null), 'every auto-approval', 30_000);
    const delays = firings(dataDir).map((f) => f.approvedAt! - f.deadline);
    return {
      steady_p50: quantile(delays, 0.5),
      steady_max: Math.max(...delays),
      steady_min: Math.min(...delays),
      baseline_p50: quantile(baseline, 0.5),
      baseline_max: Math.max(...baseline),
    };
  } finally {
    await p?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function restart(ctx: RunContext): Promise<Sample> {
  const dataDir = benchDir('timers-restart');
  fs.writeFileSync(path.join(dataDir, 'signoff.yaml'), YAML);
  let p: Spawned | undefined;
  try {
    p = await start(dataDir, ctx, 'before');
    const during = await submit(p.url, 'short', RESTART_JOBS);
    const after = await submit(p.url, 'long', RESTART_JOBS);
    await waitFor(() => firings(dataDir).length === 2 * RESTART_JOBS, 'the gates to open', 30_000);
    await p.stop();
    p = undefined;
    const byJob = () => new Map(firings(dataDir).map((f) => [f.job, f]));
    const missedWhileDown = [...byJob().values()].filter((f) => during.includes(f.job));
    if (missedWhileDown.some((f) => f.approvedAt !== null)) throw new Error('a gate fired before signoff was stopped; the bench is too slow for its own timings');
    // Down until every "during" deadline has passed.
    const lastDeadline = Math.max(...missedWhileDown.map((f) => f.deadline));
    await new Promise((r) => setTimeout(r, Math.max(0, lastDeadline - Date.now()) + 300));
    p = await start(dataDir, ctx, 'after');
    const spawnedAt = p.spawnedAt;
    await waitFor(() => [...byJob().values()].every((f) => f.approvedAt !== null), 'every auto-approval after the restart', 60_000);
    const all = byJob();
    const sinceRestart = during.map((j) => all.get(j)!.approvedAt! - Math.max(all.get(j)!.deadline, spawnedAt));
    const total = during.map((j) => all.get(j)!.approvedAt! - all.get(j)!.deadline);
    const later = after.map((j) => all.get(j)!).filter((f) => f.deadline > spawnedAt).map((f) => f.approvedAt! - f.deadline);
    return {
      restart_max: Math.max(...sinceRestart),
      restart_p50: quantile(sinceRestart, 0.5),
      restart_total_max: Math.max(...total),
      restart_start_ms: p.startMs,
      after_restart_max: later.length ? Math.max(...later) : Number.NaN,
      after_restart_n: later.length,
    };
  } finally {
    await p?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function run(ctx: RunContext): Promise<Sample> {
  const s = { ...(await steady(ctx)), ...(await restart(ctx)) };
  s.restart_ratio = s.restart_max! / s.restart_start_ms!;
  ctx.log(`timers run ${ctx.run + 1}: steady p50 ${Math.round(s.steady_p50!)} / max ${Math.round(s.steady_max!)} ms (setTimeout max ${Math.round(s.baseline_max!)}); restart max ${Math.round(s.restart_max!)} ms after spawn (healthy at ${Math.round(s.restart_start_ms!)} ms; ${Math.round(s.restart_total_max!)} ms incl. downtime); after restart max ${Math.round(s.after_restart_max!)} ms (${s.after_restart_n} gates)`);
  return s;
}

export const timers: Figure = {
  id: 'timers',
  title: 'Timer precision',
  run,
  rows: (m) => [
    {
      figure: `Auto-approve firing delay, steady (${STEADY_JOBS} gates, deadline → gate.approved), max`,
      signoff: `${fmt.ms(m.steady_max!)} (p50 ${fmt.ms(m.steady_p50!)})`,
      baseline: `1000 ms timer sweep period; setTimeout at the same deadlines: ${fmt.ms(m.baseline_max!)} late`,
      ratio: `${fmt.x(m.steady_max! / SWEEP_MS)} of the sweep`,
      target: '≤ 1.5 s',
      pass: m.steady_max! <= 1500,
    },
    {
      figure: `Firing delay across a restart (${RESTART_JOBS} deadlines passed while stopped), max, from the restart's spawn`,
      signoff: `${fmt.ms(m.restart_max!)} (${fmt.ms(m.restart_total_max!)} incl. downtime)`,
      baseline: `${fmt.ms(m.restart_start_ms!)} spawn → /healthz 200`,
      ratio: fmt.x(m.restart_ratio!),
      target: '≤ 1.5 s',
      pass: m.restart_max! <= 1500,
    },
    {
      figure: 'Firing delay after a restart (deadlines falling once it is back up), max',
      signoff: fmt.ms(m.after_restart_max!),
      baseline: '—',
      ratio: '—',
      target: '≤ 1.5 s',
      pass: m.after_restart_max! <= 1500,
    },
  ],
};
