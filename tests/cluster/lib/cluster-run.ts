/**
 * Cluster chaos: the crash-chaos campaign (tests/chaos/lib/crash-run.ts: jobs through Slack's
 * HTTP mode and the API, scripted clicks, replays, refusals) against a cluster of real processes
 * on a PostgreSQL server of the run's own, with SIGKILLs spread over the courier, the other
 * replicas and the workers, and PostgreSQL itself restarted. Shared by `npm run chaos:cluster`
 * (tests/chaos/cluster.ts) and the quick run in `npm test` (tests/chaos/cluster.test.ts).
 */
import { runCrashChaos, type CrashChaosSummary } from '../../chaos/lib/crash-run.js';
import { rng } from '../../chaos/lib/prng.js';
import { checkOutputs } from './check-outputs.js';
import { checkArtifactsServed } from './check-serving.js';
import { ClusterKeeper, type Disruption, type Target } from './cluster-keeper.js';
import { startOwnPostgres } from '../../helpers/own-postgres.js';
import { canRunApart } from './apart.js';
import { hasWorkerCommand } from './worker-command.js';

export interface ClusterChaosOptions {
  replicas: number;
  /** Asked-for workers; 0 are started while `signoff worker` does not exist (see `workersStarted`). */
  workers: number;
  jobs: number;
  /** SIGKILLs of processes (the PostgreSQL restarts come on top). */
  kills: number;
  pgRestarts: number;
  seed: number;
  /** Every apiEvery-th job is submitted through the API (default 4). */
  apiEvery?: number;
  maxConcurrent?: number;
  timeoutMs?: number;
  log?: (line: string) => void;
  keepDir?: boolean;
  /** Run each process as if on a host of its own (default: when this machine can, see apart.ts). */
  apart?: boolean;
}

export interface ClusterChaosSummary extends CrashChaosSummary {
  cluster: { replicas: number; workersAsked: number; workersStarted: number; pgRestarts: number; apart: boolean; disruptions: Disruption[]; kills: Record<string, number> };
}

/**
 * Which part each disruption hits, drawn from the seed: kills spread evenly over the courier,
 * the other replicas and the workers (a part the cluster lacks is replaced by "another replica"
 * when the kill comes), and the PostgreSQL restarts placed among them.
 */
export function disruptionPlan(seed: number, kills: number, pgRestarts: number, workers: number): Target[] {
  // Its own stream: the job plans drawn from the same seed stay what crash chaos draws.
  const r = rng(seed ^ 0x5eedc1a5);
  const parts: Target[] = workers > 0 ? ['courier', 'replica', 'worker'] : ['courier', 'replica'];
  const plan = r.sample(Array.from({ length: kills }, (_, i) => parts[i % parts.length]!), kills);
  // Restarts fall inside the run, never first or last, so work is in flight on both sides.
  for (let i = 0; i < pgRestarts; i++) plan.splice(r.int(Math.min(1, plan.length), Math.max(1, plan.length - 1)), 0, 'postgres');
  return plan;
}

export async function runClusterChaos(o: ClusterChaosOptions): Promise<ClusterChaosSummary> {
  const workers = o.workers > 0 && hasWorkerCommand() ? o.workers : 0;
  if (o.workers > 0 && workers === 0) o.log?.(`dist/main.js has no \`worker\` command yet: starting 0 workers instead of ${o.workers}`);
  const plan = disruptionPlan(o.seed, o.kills, o.pgRestarts, workers);
  // As if on separate hosts where this machine allows it (root and unshare); said in the summary.
  const apart = o.apart ?? canRunApart();
  if (!apart) o.log?.('processes share one file system (no root or no `unshare -m` here): the artifact check cannot tell a local file from a shared one');
  const pg = await startOwnPostgres();
  let keeper: ClusterKeeper | undefined;
  try {
    const summary = await runCrashChaos({
      jobs: o.jobs,
      kills: plan.length,
      seed: o.seed,
      ...(o.maxConcurrent ? { maxConcurrent: o.maxConcurrent } : {}),
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.log ? { log: o.log } : {}),
      ...(o.keepDir ? { keepDir: true } : {}),
      apiEvery: o.apiEvery ?? 4,
      busyIsExpected: o.pgRestarts > 0,
      unansweredGraceMs: 3_000,
      // With one process every stage running at a kill was its own and must be recovered; with
      // more, the others finish theirs.
      requireRecovery: o.replicas === 1 && workers === 0,
      extraChecks: checkOutputs,
      beforeStop: () => checkArtifactsServed(keeper!.cluster),
      keeper: async ({ configPath, dir, env, violation }) => {
        keeper = new ClusterKeeper({ replicas: o.replicas, workers, databaseUrl: pg.url, configPath, dir, env, apart }, pg, plan, violation);
        return keeper;
      },
    });
    const kills: Record<string, number> = {};
    for (const d of keeper?.disruptions ?? []) kills[d.planned] = (kills[d.planned] ?? 0) + 1;
    return { ...summary, cluster: { replicas: o.replicas, workersAsked: o.workers, workersStarted: workers, pgRestarts: o.pgRestarts, apart, disruptions: keeper?.disruptions ?? [], kills } };
  } finally {
    await pg.close();
  }
}
