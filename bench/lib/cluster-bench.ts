/**
 * The cluster figures' common ground: real `dist/main.js start` replicas (the harness of
 * tests/cluster/lib) on a fresh database of one PostgreSQL server, jobs submitted
 * through the API to the replicas in turn, and what the database says happened (events, their
 * times) read with plain `pg`.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { MAIN_JS } from '../../tests/chaos/lib/child.js';
import { Cluster } from '../../tests/cluster/lib/cluster.js';
import { scriptPostgres, type ScriptPostgres } from '../../tests/helpers/script-postgres.js';
import { benchDir } from './engine.js';
import { TRANSITION_EVENTS } from './engine-run.js';

/**
 * One PostgreSQL server for a figure's runs (started in prepare(), stopped in cleanup()): the one
 * SIGNOFF_BENCH_DATABASE_URL names, else an embedded PostgreSQL 17, as for the `postgres` figure.
 */
export class BenchPostgres {
  private server: ScriptPostgres | undefined;

  async start(): Promise<void> {
    this.server ??= await scriptPostgres(process.env.SIGNOFF_BENCH_DATABASE_URL);
  }

  /** A new empty database `name` on the server; its URL. */
  database(name: string): Promise<string> {
    if (!this.server) throw new Error('the bench PostgreSQL server is not started (prepare() did not run)');
    return this.server.freshDatabase(name);
  }

  async close(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}

let warnedMain = false;

export interface BenchCluster {
  cluster: Cluster;
  databaseUrl: string;
  dir: string;
  /** Stops every process and removes the directories (keeps them when BENCH_KEEP is set). */
  stop(): Promise<void>;
}

/** Starts `replicas` replicas (and `workers` workers) with `yaml` on a fresh database `db`. */
export async function startBenchCluster(o: { pg: BenchPostgres; db: string; replicas: number; workers?: number; yaml: string; env?: Record<string, string> }): Promise<BenchCluster> {
  if (process.env.SIGNOFF_BENCH_MAIN && process.env.SIGNOFF_BENCH_MAIN !== MAIN_JS && !warnedMain) {
    warnedMain = true;
    process.stderr.write(`the cluster figures run ${MAIN_JS} (the cluster harness's build); --main applies to the other figures only\n`);
  }
  const databaseUrl = await o.pg.database(o.db);
  const dir = benchDir(o.db.replace(/_/g, '-'));
  const configPath = path.join(dir, 'signoff.yaml');
  fs.writeFileSync(configPath, o.yaml);
  const cluster = await Cluster.start({ replicas: o.replicas, workers: o.workers ?? 0, databaseUrl, configPath, dir, env: o.env ?? {} });
  return {
    cluster,
    databaseUrl,
    dir,
    async stop() {
      await cluster.stop();
      if (!process.env.BENCH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A pipeline of `stages` stages running `builtin`, no gates (nothing waits for a clock). */
export function chainYaml(o: { pipeline: string; stages: number; builtin: string; maxConcurrent: number; extra?: string }): string {
  const stages = Array.from({ length: o.stages }, (_, i) => `\n      - id: s${i + 1}\n        run: { builtin: ${o.builtin} }`).join('');
  return `limits: { jobs_per_user_per_minute: 100000, max_concurrent_jobs: ${o.maxConcurrent} }\nconsole: { enabled: false }\n${o.extra ?? ''}pipelines:\n  ${o.pipeline}:\n    stages:${stages}\n`;
}

/**
 * Submits `count` jobs through the API, to the replicas in turn (as a load balancer would), a few
 * at a time; returns their ids.
 */
export async function submitSpread(cluster: Cluster, count: number, pipeline: string, inFlight = 6): Promise<number[]> {
  const ids: number[] = [];
  let next = 0;
  const replicas = cluster.liveReplicas();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++;
        const r = await replicas[i % replicas.length]!.child.api('POST', '/jobs', { pipeline, brief: `Bench job ${i}: bees, hives and honey` });
        if (r.status >= 300) throw new Error(`submitting a job answered ${r.status}: ${JSON.stringify(r.json)}`);
        ids.push(Number(r.json?.job?.id));
      }
    }),
  );
  return ids;
}

/** Runs `fn` with a client of the database at `url`. */
export async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Polls (every 100 ms) until `count` events of `type` exist; throws after `timeoutMs`. */
export async function waitEvents(url: string, type: string, count: number, timeoutMs = 180_000): Promise<void> {
  await withPg(url, async (c) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = Number((await c.query('SELECT count(*) AS n FROM events WHERE type = $1', [type])).rows[0].n);
      if (n >= count) return;
      if (Date.now() > deadline) throw new Error(`only ${n} of ${count} ${type} events after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
}

/** Transitions recorded and the span from the first job's creation to the last one's end (ms). */
export async function transitionSpan(url: string): Promise<{ transitions: number; spanMs: number; jobs: number }> {
  return withPg(url, async (c) => {
    const r = (
      await c.query(
        `SELECT count(*) FILTER (WHERE type = ANY($1)) AS transitions,
                count(*) FILTER (WHERE type = 'job.finished') AS jobs,
                min(at) FILTER (WHERE type = 'job.created') AS first,
                max(at) FILTER (WHERE type = 'job.finished') AS last
           FROM events`,
        [[...TRANSITION_EVENTS]],
      )
    ).rows[0];
    return { transitions: Number(r.transitions), jobs: Number(r.jobs), spanMs: Number(r.last) - Number(r.first) };
  });
}
