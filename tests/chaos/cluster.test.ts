/**
 * Cluster chaos, quick: the campaign of `npm run chaos:cluster` (tests/cluster/lib/cluster-run.ts)
 * with 10 jobs, 2 SIGKILLs and one PostgreSQL restart, on a PostgreSQL server of the test's own.
 *
 * The cluster's shape is QUICK_SHAPE below: 3 replicas and 2 `signoff worker` processes, as in the
 * full campaign (CLUSTER_REPLICAS / CLUSTER_WORKERS override it for a try).
 */
import { describe, expect, it } from 'vitest';
import { seedFromEnv } from './lib/prng.js';
import { runClusterChaos } from '../cluster/lib/cluster-run.js';
import { markdownReport } from '../cluster/lib/report.js';

const QUICK_SHAPE = { replicas: 3, workers: 2 };

const shape = {
  replicas: Number(process.env.CLUSTER_REPLICAS ?? QUICK_SHAPE.replicas),
  workers: Number(process.env.CLUSTER_WORKERS ?? QUICK_SHAPE.workers),
};
/** Fixed so CI runs the same plan every time; CHAOS_SEED overrides it. */
const QUICK_SEED = process.env.CHAOS_SEED ? seedFromEnv() : 20261203;

describe('cluster chaos (quick)', () => {
  it(`keeps every promise over 10 jobs, 2 SIGKILLs and a PostgreSQL restart with ${shape.replicas} replica(s) and ${shape.workers} worker(s) (seed ${QUICK_SEED})`, { timeout: 120_000 }, async () => {
    const summary = await runClusterChaos({ ...shape, jobs: 10, kills: 2, pgRestarts: 1, seed: QUICK_SEED, maxConcurrent: 6, timeoutMs: 100_000 });
    console.log(markdownReport(summary, `CHAOS_SEED=${QUICK_SEED} CLUSTER_REPLICAS=${shape.replicas} CLUSTER_WORKERS=${shape.workers} npx vitest run tests/chaos/cluster.test.ts`));
    expect(summary.violations, `reproduce with CHAOS_SEED=${QUICK_SEED}; kept in ${summary.dir}`).toEqual([]);
    // Every planned disruption happened: 2 process kills (each followed by a replacement) and the restart.
    expect(summary.cluster.disruptions.map((d) => d.planned).filter((p) => p === 'postgres')).toHaveLength(1);
    expect(summary.restarts).toBe(2);
    expect(summary.lost).toEqual({ submissions: 0, clicks: 0 });
    expect(summary.delivery.duplicates + summary.delivery.missing).toBe(0);
    expect(summary.gates.decidedTwice + summary.gates.skipped).toBe(0);
    expect(summary.extra.outputsFromOtherRuns).toBe(0);
    // Outputs were downloaded from every live replica at the end, and each download worked.
    expect(summary.extra.artifactDownloads).toBeGreaterThan(0);
    expect(summary.extra.artifactDownloadsFailed).toBe(0);
    expect(summary.outcomes.succeeded! + (summary.outcomes.rejected ?? 0)).toBe(10);
  });
});
