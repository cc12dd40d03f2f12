/**
 * Cluster figure 1: engine transitions/s with 1, 2 and 3 replicas. Real `dist/main.js start`
 * processes on one PostgreSQL server (a fresh database each), JOBS jobs of a 6-stage builtin
 * pipeline (no gates) submitted through the API to the replicas in turn; a transition is an input
 * the engine applied, counted from the events table, over the span from the first job's creation
 * to the last one's end. Baseline in the same run, on the same server: single-row autocommit
 * INSERTs with raw `pg` (before and after the replicas, averaged).
 */
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';
import { BenchPostgres, chainYaml, startBenchCluster, submitSpread, transitionSpan, waitEvents } from './lib/cluster-bench.js';
import { rawPgInsertRate } from './lib/pg-baseline.js';

const JOBS = Number(process.env.BENCH_CLUSTER_JOBS ?? 60);
const STAGES = 6;
const REPLICAS = [1, 2, 3];
/** The stages' builtin: the cheapest real one (a small markdown file, stored as an artifact). */
const BUILTIN = 'outline';

const server = new BenchPostgres();

/** Transitions/s of `replicas` replicas over JOBS jobs (at most 20 running at once) on a fresh database named `db`. */
export async function clusterRate(pg: BenchPostgres, db: string, replicas: number, o: { jobs?: number; maxConcurrent?: number } = {}): Promise<{ rate: number; jobsPerSecond: number; transitions: number; spanMs: number }> {
  const jobs = o.jobs ?? JOBS;
  const bench = await startBenchCluster({ pg, db, replicas, yaml: chainYaml({ pipeline: 'six', stages: STAGES, builtin: BUILTIN, maxConcurrent: o.maxConcurrent ?? 20 }) });
  try {
    await submitSpread(bench.cluster, jobs, 'six');
    await waitEvents(bench.databaseUrl, 'job.finished', jobs);
    const span = await transitionSpan(bench.databaseUrl);
    return { rate: span.transitions / (span.spanMs / 1000), jobsPerSecond: span.jobs / (span.spanMs / 1000), transitions: span.transitions, spanMs: span.spanMs };
  } finally {
    await bench.stop();
  }
}

async function run(ctx: RunContext): Promise<Sample> {
  const s: Sample = {};
  const rawBefore = await rawPgInsertRate(await server.database(`bench_raw_${ctx.run}_a`));
  for (const n of REPLICAS) {
    const r = await clusterRate(server, `bench_cluster_${ctx.run}_${n}`, n);
    s[`tr_${n}`] = r.rate;
    s[`jobs_${n}`] = r.jobsPerSecond;
    ctx.log(`cluster run ${ctx.run + 1}: ${n} replica(s): ${r.transitions} transitions in ${(r.spanMs / 1000).toFixed(2)} s = ${r.rate.toFixed(0)} tr/s`);
  }
  const rawAfter = await rawPgInsertRate(await server.database(`bench_raw_${ctx.run}_b`));
  s.raw = (rawBefore + rawAfter) / 2;
  for (const n of REPLICAS) s[`ratio_${n}`] = s[`tr_${n}`]! / s.raw;
  s.scale_3 = s.tr_3! / s.tr_1!;
  ctx.log(`cluster run ${ctx.run + 1}: raw pg inserts ${rawBefore.toFixed(0)} / ${rawAfter.toFixed(0)} per s (before / after)`);
  return s;
}

export const clusterThroughput: Figure = {
  id: 'cluster',
  title: 'Cluster: engine transitions/s with 1, 2 and 3 replicas on PostgreSQL',
  prepare: () => server.start(),
  run,
  rows: (m) =>
    REPLICAS.map((n) => ({
      figure: `Cluster engine transitions/s, ${n} replica${n > 1 ? 's' : ''} (real processes, ${JOBS} jobs × ${STAGES} builtin \`${BUILTIN}\` stages, API submissions spread over the replicas), PostgreSQL`,
      signoff: `${fmt.n(m[`tr_${n}`]!)} /s (${fmt.n(m[`jobs_${n}`]!, 1)} jobs/s)`,
      baseline: `${fmt.n(m.raw!)} raw pg autocommit inserts/s`,
      ratio: fmt.x(m[`ratio_${n}`]!),
      target: n === 1 ? '—' : `reported (×${fmt.n(m[`tr_${n}`]! / m.tr_1!, 2)} of 1 replica)`,
      pass: null,
    })),
  cleanup: () => server.close(),
};
