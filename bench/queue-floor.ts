/**
 * Cluster figure 2: the floor set by the queue itself. The same pipeline (6 stages) as a bare
 * chain of pg-boss 10 jobs: one queue per stage, each stage's handler does nothing but send the
 * next stage's job; JOBS chains started at once. Measured in the same run, on the same server:
 * signoff with one replica on that pipeline (bench/cluster-throughput.ts). Both in pipelines/s.
 *
 * Two chains, because pg-boss's workers poll: "woken" calls `notifyWorker` on the next stage's
 * worker after each send (what one process can do; the queue's own cost alone), "polling" relies
 * on pg-boss's shortest polling interval (0.5 s), as workers in other processes do. The target
 * (signoff ≥ half of the floor) is read against the woken chain, the stricter of the two.
 */
import { performance } from 'node:perf_hooks';
import PgBoss from 'pg-boss';
import { clusterRate } from './cluster-throughput.js';
import { BenchPostgres } from './lib/cluster-bench.js';
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';

const JOBS = Number(process.env.BENCH_CLUSTER_JOBS ?? 60);
const STAGES = 6;
/** Jobs a stage queue's worker fetches at once. */
const BATCH = 20;

const server = new BenchPostgres();

/** Pipelines/s of JOBS bare pg-boss chains of STAGES jobs on a fresh database named `db`. */
export async function bossChainRate(pg: BenchPostgres, db: string, wake: boolean): Promise<number> {
  const boss = new PgBoss({ connectionString: await pg.database(db), max: 10 });
  boss.on('error', () => undefined);
  await boss.start();
  try {
    const queues = Array.from({ length: STAGES }, (_, i) => `s${i + 1}`);
    for (const q of queues) await boss.createQueue(q);
    let done = 0;
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    const workers: string[] = [];
    for (const [i, q] of queues.entries()) {
      workers[i] = await boss.work<{ n: number }>(q, { batchSize: BATCH, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        const next = queues[i + 1];
        if (!next) {
          done += jobs.length;
          if (done >= JOBS) finish();
          return;
        }
        // One send per job, as a stage's completion enqueues its successor's run on its own.
        await Promise.all(jobs.map((j) => boss.send(next, j.data)));
        if (wake) boss.notifyWorker(workers[i + 1]!);
      });
    }
    const t0 = performance.now();
    await Promise.all(Array.from({ length: JOBS }, (_, n) => boss.send(queues[0]!, { n })));
    if (wake) boss.notifyWorker(workers[0]!);
    await finished;
    return JOBS / ((performance.now() - t0) / 1000);
  } finally {
    await boss.stop({ graceful: false, wait: true, close: true });
  }
}

async function run(ctx: RunContext): Promise<Sample> {
  const woken = await bossChainRate(server, `bench_boss_${ctx.run}_a`, true);
  // Every job in flight at once on both sides: the chains are all sent at the start.
  const signoff = await clusterRate(server, `bench_floor_${ctx.run}`, 1, { maxConcurrent: JOBS });
  const polling = await bossChainRate(server, `bench_boss_${ctx.run}_b`, false);
  ctx.log(`floor run ${ctx.run + 1}: signoff ${signoff.jobsPerSecond.toFixed(1)} jobs/s; pg-boss chains ${woken.toFixed(1)} /s woken, ${polling.toFixed(1)} /s polling`);
  return { signoff: signoff.jobsPerSecond, woken, polling, ratio_woken: signoff.jobsPerSecond / woken, ratio_polling: signoff.jobsPerSecond / polling };
}

export const queueFloor: Figure = {
  id: 'floor',
  title: 'Cluster: the floor set by the queue (bare pg-boss chains) vs signoff',
  prepare: () => server.start(),
  run,
  rows: (m) => [
    {
      figure: `Queue floor: ${JOBS} jobs × ${STAGES} stages, signoff (1 replica, builtin \`outline\`) vs a bare chain of pg-boss 10 jobs, each handler sending the next (woken with notifyWorker)`,
      signoff: `${fmt.n(m.signoff!, 1)} jobs/s`,
      baseline: `${fmt.n(m.woken!, 1)} chains/s`,
      ratio: fmt.x(m.ratio_woken!),
      target: '≥ 0.5×',
      pass: m.ratio_woken! >= 0.5,
    },
    {
      figure: 'Queue floor, same chain on polling alone (0.5 s, as workers in other processes)',
      signoff: `${fmt.n(m.signoff!, 1)} jobs/s`,
      baseline: `${fmt.n(m.polling!, 1)} chains/s`,
      ratio: fmt.x(m.ratio_polling!),
      target: '—',
      pass: null,
    },
  ],
  cleanup: () => server.close(),
};
