/**
 * Cluster figure 5: ack latency with waves of Slack interactions spread over three replicas (HTTP
 * mode on one PostgreSQL; Web API = the fake Slack). Each wave is 100 concurrent signed requests
 * to POST /slack/events, sent to the replicas in turn as a load balancer would: `Approve` clicks on
 * the real gate cards of jobs submitted through the API (each click decides a gate, so the engine
 * works behind every ack) and `/signoff status <job>` commands. The same bodies, with the same
 * concurrency, go to three bare node:http servers in turn, in the same run; waves alternate which
 * side goes first, and each next wave waits until the cluster has carried out the last one. The single-process version and the pieces reused are in bench/ack-latency.ts.
 */
import path from 'node:path';
import pg from 'pg';
import { FakeSlack } from '../tests/helpers/fake-slack.js';
import { clickPayload, gateCards } from '../tests/helpers/slack-harness.js';
import { waitFor } from '../tests/helpers/wait.js';
import { ALICE, CHANNEL, commandWave, SECRET, signed, WAVE } from './ack-latency.js';
import { BARE_SERVER_JS } from './lib/bare-server.js';
import { BenchPostgres, startBenchCluster, submitSpread, waitEvents, type BenchCluster } from './lib/cluster-bench.js';
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';
import { startLoadClient, type WaveRequest } from './lib/load.js';
import { spawnServer, type Spawned } from './lib/proc.js';
import { quantile } from './lib/stats.js';

const REPLICAS = 3;
const CLICK_WAVES = 2;
const COMMAND_WAVES = 2;
const PAUSE_MS = 300;
const GATES = CLICK_WAVES * WAVE;

const YAML = `
operators:
  editors: { slack: [${ALICE}, U0BOB] }
submitters: [editors]
limits: { jobs_per_user_per_minute: 100000, max_concurrent_jobs: ${GATES + 50} }
channels: { slack: ${CHANNEL} }
console: { enabled: false }
pipelines:
  review:
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { required: true, approvers: [editors] }
      - id: final
        run: { builtin: outline }
`;

const server = new BenchPostgres();

/** The same requests spread over `urls` in turn. */
const spread = (wave: WaveRequest[], urls: string[]): WaveRequest[] => wave.map((r, i) => ({ ...r, baseUrl: urls[i % urls.length]! }));

/** A click on the Approve button of each job's gate card, as Slack sends it. */
function clickWave(fake: FakeSlack, jobs: number[]): WaveRequest[] {
  return jobs.map((job) => {
    const card = gateCards(fake, job, 'draft')[0];
    if (!card) throw new Error(`cluster-ack: no gate card was posted for job ${job}`);
    const actions = (card.call.args.blocks as { type: string; block_id?: string; elements?: { action_id: string; value: string; text: { text: string } }[] }[]).find((b) => b.type === 'actions')!;
    const approve = actions.elements!.find((e) => e.action_id === 'signoff_gate_approve')!;
    const payload = clickPayload(fake, card.message, { action_id: approve.action_id, value: approve.value, block_id: actions.block_id!, text: approve.text.text }, ALICE);
    return signed(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded');
  });
}

/** One measurement with `replicas` replicas against as many bare servers. */
async function measure(ctx: RunContext, replicas: number): Promise<Sample> {
  const fake = await FakeSlack.start();
  const client = startLoadClient();
  const env = { SLACK_BOT_TOKEN: 'xoxb-bench', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl, SIGNOFF_SLACK_POSTS_PER_SECOND: '100' };
  let bench: BenchCluster | undefined;
  const bares: Spawned[] = [];
  try {
    bench = await startBenchCluster({ pg: server, db: `bench_cluster_ack_${ctx.run}_${replicas}`, replicas, yaml: YAML, env });
    for (let i = 0; i < replicas; i++) bares.push(await spawnServer({ env: {}, nodeArgs: ['-e', BARE_SERVER_JS], script: null, logFile: path.join(bench.dir, `bare-${i}.log`), readyPath: '/' }));
    // GATES jobs waiting at their gate, each with its card in the channel (what people click).
    const t0 = Date.now();
    const jobs = (await submitSpread(bench.cluster, GATES, 'review')).sort((a, b) => a - b);
    await waitEvents(bench.databaseUrl, 'gate.opened', GATES);
    await waitFor(() => jobs.every((j) => gateCards(fake, j, 'draft').length > 0), 'every gate card to be posted', 120_000);
    ctx.log(`cluster-ack: ${GATES} pending gates with their cards in ${Date.now() - t0} ms`);
    const sides = [bench.cluster.replicas.map((m) => m.child.url), bares.map((b) => b.url)] as const;

    // Warm-up (not measured): JIT, Bolt's first calls, open sockets, on every server.
    const warm = commandWave(fake, () => 'help');
    for (const urls of sides) await client.wave(urls[0]!, spread(warm, urls));

    const lat = { click: [[], []] as number[][], command: [[], []] as number[][] };
    let failures = 0;
    const responseUrls: string[] = [];
    const order = Array.from({ length: CLICK_WAVES + COMMAND_WAVES }, (_, i) => (i % 2 === 0 ? 'click' : 'command') as 'click' | 'command');
    let nextClick = 0;
    const finished = (c: pg.Client) => c.query("SELECT count(*) AS n FROM events WHERE type = 'job.finished'").then((r) => Number(r.rows[0].n));
    const ids = new Set<string | undefined>();
    const answeredNow = () => new Set(fake.responses.map((r) => r.id).filter((id) => ids.has(id))).size;
    const db = new pg.Client({ connectionString: bench.databaseUrl });
    await db.connect();
    let approved = 0;
    let answered = 0;
    try {
      for (const [w, kind] of order.entries()) {
        const wave = kind === 'click' ? clickWave(fake, jobs.slice(nextClick, (nextClick += WAVE))) : commandWave(fake, (i) => `status ${jobs[(w * 37 + i * 13) % jobs.length]}`, responseUrls);
        for (const u of responseUrls) ids.add(u.split('/').pop());
        const first = w % 2 === 0 ? 0 : 1;
        for (const which of [first, 1 - first]) {
          const result = await client.wave(sides[which]![0]!, spread(wave, sides[which]!));
          failures += result.statuses.filter((s) => s !== 200).length;
          lat[kind][which]!.push(...result.latenciesMs);
          // The next wave meets a cluster that has carried out this one (each click's job finished,
          // each command answered): the figure is the ack path, not a backlog of earlier decisions.
          if (which === 0) {
            approved = await waitFor(async () => ((await finished(db)) >= nextClick ? nextClick : undefined), 'the clicks to be carried out', 60_000).catch(() => finished(db));
            answered = await waitFor(() => (answeredNow() >= ids.size ? answeredNow() : undefined), 'the commands to be answered', 30_000).catch(answeredNow);
          }
          await new Promise((r) => setTimeout(r, PAUSE_MS));
        }
      }
    } finally {
      await db.end();
    }
    const clicks = CLICK_WAVES * WAVE;
    const all = (which: number) => [...lat.click[which]!, ...lat.command[which]!];
    const s: Sample = {
      all_p50: quantile(all(0), 0.5),
      all_p99: quantile(all(0), 0.99),
      bare_p50: quantile(all(1), 0.5),
      bare_p99: quantile(all(1), 0.99),
      click_p99: quantile(lat.click[0]!, 0.99),
      bare_click_p99: quantile(lat.click[1]!, 0.99),
      command_p99: quantile(lat.command[0]!, 0.99),
      bare_command_p99: quantile(lat.command[1]!, 0.99),
      failures,
      approved,
      clicks,
      answered,
      commands: ids.size,
    };
    s.ratio_p99 = s.all_p99! / s.bare_p99!;
    s.ratio_p50 = s.all_p50! / s.bare_p50!;
    ctx.log(`cluster-ack run ${ctx.run + 1}, ${replicas} replica(s): p50 ${s.all_p50!.toFixed(1)} / p99 ${s.all_p99!.toFixed(1)} ms (bare ${s.bare_p50!.toFixed(1)} / ${s.bare_p99!.toFixed(1)}), ${approved}/${clicks} clicks carried out, ${answered}/${ids.size} commands answered, ${failures} non-200`);
    return s;
  } finally {
    await client.close();
    for (const b of bares) await b.stop();
    await bench?.stop();
    await fake.close();
  }
}

async function run(ctx: RunContext): Promise<Sample> {
  const spreadOver = await measure(ctx, REPLICAS);
  // The same waves on one replica on the same server: whether the cost is PostgreSQL's or the spread's.
  const one = await measure(ctx, 1);
  return { ...spreadOver, ...Object.fromEntries(Object.entries(one).map(([k, v]) => [`one_${k}`, v])) };
}

export const clusterAck: Figure = {
  id: 'cluster-ack',
  title: 'Cluster: ack latency, waves spread over 3 replicas',
  prepare: () => server.start(),
  run,
  rows: (m) => [
    {
      figure: `Cluster ack p99, waves of ${WAVE} signed clicks + slash commands spread over ${REPLICAS} replicas on PostgreSQL (${GATES} pending gates)`,
      signoff: fmt.ms(m.all_p99!),
      baseline: `${fmt.ms(m.bare_p99!)} (${REPLICAS} bare node:http, same spread)`,
      ratio: fmt.x(m.ratio_p99!),
      target: '≤ 2× bare',
      pass: m.ratio_p99! <= 2 && m.failures === 0 && m.approved === m.clicks && m.answered === m.commands,
    },
    { figure: 'Cluster ack p50 (same requests)', signoff: fmt.ms(m.all_p50!), baseline: fmt.ms(m.bare_p50!), ratio: fmt.x(m.ratio_p50!), target: '—', pass: null },
    {
      figure: 'Cluster ack p99, same waves on 1 replica on the same server (context)',
      signoff: fmt.ms(m.one_all_p99!),
      baseline: `${fmt.ms(m.one_bare_p99!)} (1 bare node:http)`,
      ratio: fmt.x(m.one_ratio_p99!),
      target: '—',
      pass: null,
    },
    { figure: 'Cluster ack p99, clicks only / commands only', signoff: `${fmt.ms(m.click_p99!)} / ${fmt.ms(m.command_p99!)}`, baseline: `${fmt.ms(m.bare_click_p99!)} / ${fmt.ms(m.bare_command_p99!)}`, ratio: `${fmt.x(m.click_p99! / m.bare_click_p99!)} / ${fmt.x(m.command_p99! / m.bare_command_p99!)}`, target: '—', pass: null },
  ],
  cleanup: () => server.close(),
};
