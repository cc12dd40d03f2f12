/**
 * Figure 3, chat economy. signoff (in this process, as startApp assembles it) in Slack HTTP mode
 * against the fake Slack, which enforces a per-channel chat.postMessage limit as a token bucket
 * and answers 429 + Retry-After: 1 beyond it. Jobs are submitted at once into one channel;
 * required gates are decided by people (engine.act as Slack users, 200 ms after the gate opens),
 * optional ones auto-approve after 1 s. Counted: Web API calls per job against the events per job
 * that one-message-per-event would post, the 429s, and whether every message that should exist
 * does (lost = 0).
 *
 * Two scenarios per run, both scaled in time, not in work. Slack's limit is about 1 post/s per
 * channel and signoff paces to SIGNOFF_SLACK_POSTS_PER_SECOND (default 1); at 1/s, 50 demo jobs
 * (14 paced posts each) would take about 13 minutes. So the fake's limit and signoff's pace are
 * both RATE posts/s (burst 3 each, as at 1/s): the same pace-equals-limit relation, RATE times
 * faster (signoff's ChannelPacer itself paces at 90 % of the setting). Retry-After stays 1 s
 * (Slack sends whole seconds), so each 429 costs relatively more.
 *   single: one job of the demo pipeline (six builtins with real artifacts uploaded into the
 *         thread, six gates of every kind) alone: calls per job when nothing else is going on.
 *   demo: DEMO_JOBS jobs of the demo pipeline at once: calls per job when deliveries queue up.
 *   burst: BURST_JOBS jobs at once of a two-stage pipeline with one optional gate: the 429s and
 *         the lost messages when 50 jobs share one channel.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../src/config/load.js';
import { startApp, type App } from '../src/app.js';
import { renderPlan } from '../src/bot/views/render-plan.js';
import { FakeSlack } from '../tests/helpers/fake-slack.js';
import { waitFor } from '../tests/helpers/wait.js';
import { benchDir, silentLog } from './lib/engine.js';
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';
import { sqliteOnly } from '../src/store/store.js';

const DEMO_JOBS = Number(process.env.BENCH_CHAT_DEMO_JOBS ?? 5);
const BURST_JOBS = Number(process.env.BENCH_CHAT_JOBS ?? 50);
const RATE = Number(process.env.BENCH_CHAT_RATE ?? 10);
const BURST = 3;
const CHANNEL = 'C0CHAT';
const ALICE = 'U0ALICE';
const BOB = 'U0BOB';
const CAROL = 'U0CAROL';

const YAML = `
operators:
  editors: { slack: [${ALICE}, ${BOB}] }
  directors: { slack: [${CAROL}] }
submitters: [editors, directors]
limits: { jobs_per_user_per_minute: 1000, max_concurrent_jobs: 100 }
channels: { slack: ${CHANNEL} }
console: { enabled: false }
pipelines:
  demo:
    description: the bundled demo without its pretend work time, gates shortened
    stages:
      - id: outline
        run: { builtin: outline }
        gate: { required: false, approvers: [editors], auto_approve_after: 1s }
      - id: script
        run: { builtin: script }
        gate: { required: true, approvers: [editors] }
      - id: storyboard
        run: { builtin: storyboard }
        gate: { required: true, approvers: [editors, directors], min_approvals: 2 }
      - id: assets
        run: { builtin: assets }
        gate: { required: true, approvers: [directors] }
      - id: audio
        run: { builtin: audio }
        gate: { required: false, approvers: [editors, directors], auto_approve_after: 1s }
      - id: render
        run: { builtin: render }
        gate: { required: false, approvers: [directors], auto_approve_after: 1s }
  tiny:
    description: one stage, an optional gate, one more stage
    stages:
      - id: outline
        run: { builtin: outline }
        gate: { required: false, approvers: [editors], auto_approve_after: 1s }
      - id: script
        run: { builtin: script }
`;

/** Who decides each required gate (alice submits, so she never approves her own job). */
const DECIDERS: Record<string, string[]> = { script: [BOB], storyboard: [BOB, CAROL], assets: [CAROL] };

const NOTICE_TYPES = new Set(['stage.succeeded', 'stage.failed', 'stage.retried', 'stage.recovered', 'gate.approved', 'gate.rejected', 'gate.expired', 'gate.held', 'gate.reminded', 'job.cancelled', 'job.retried', 'job.finished']);

async function scenario(ctx: RunContext, name: string, pipeline: string, JOBS: number): Promise<Sample> {
  const dataDir = benchDir('chat');
  const fake = await FakeSlack.start();
  fake.channelRateLimit = { perSecond: RATE, burst: BURST };
  let app: App | undefined;
  try {
    app = await startApp({
      config: parseConfig(YAML, 'bench.yaml'),
      dataDir,
      apiToken: 'bench-api-token-0123456789abcdef',
      log: silentLog,
      host: '127.0.0.1',
      port: 0,
      slack: { botToken: 'xoxb-bench', signingSecret: 'bench-signing-secret-0123456789', apiUrl: fake.apiUrl, postsPerSecond: RATE },
    });
    const { engine, store } = app;
    // People decide required gates a moment after their card could have been seen.
    engine.onEvent((e) => {
      if (e.type !== 'gate.opened' || !e.data.required) return;
      const stage = String(e.data.stage);
      setTimeout(async () => {
        for (const user of DECIDERS[stage] ?? []) {
          const r = await engine.act({ platform: 'slack', user, display: user.toLowerCase() }, e.job, { type: 'approve', stage, round: Number(e.data.round) });
          if (!r.ok) ctx.log(`chat: approval refused: ${r.message}`);
        }
      }, 200);
    });
    const t0 = performance.now();
    for (let i = 0; i < JOBS; i++) {
      const r = await engine.submit({ platform: 'slack', user: ALICE, display: 'alice' }, { pipeline, brief: `Film ${i + 1}: how bees find flowers, for children`, origin: { surface: 'slack', channel: CHANNEL } });
      if (!r.ok) throw new Error(r.message);
    }
    const finished = () => (sqliteOnly(store).db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE state = 'succeeded'").get() as { n: number }).n;
    const undelivered = () => (sqliteOnly(store).db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE target = 'slack' AND delivered_at IS NULL").get() as { n: number }).n;
    await waitFor(() => finished() === JOBS && undelivered() === 0, `${JOBS} jobs to finish and their Slack messages to be delivered`, 600_000);
    const seconds = (performance.now() - t0) / 1000;
    const jobsDone = performance.now();

    // What one-message-per-event would post: one message per event shown in Slack.
    const outboxRows = (sqliteOnly(store).db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE target = 'slack'").get() as { n: number }).n;
    const failedRows = (sqliteOnly(store).db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE target = 'slack' AND attempts > 0").get() as { n: number }).n;
    const dropped = (sqliteOnly(store).db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE target = 'slack' AND last_error LIKE 'dropped:%'").get() as { n: number }).n;
    const lost = await missingMessages(app, fake, ctx.log);

    const api = fake.calls.filter((c) => c.method !== 'auth.test');
    const byMethod = (m: string) => api.filter((c) => c.method === m).length;
    const s: Sample = {
      jobs: JOBS,
      seconds,
      calls_per_job: api.length / JOBS,
      http_per_job: (api.length + fake.uploadPosts.length) / JOBS,
      events_per_job: outboxRows / JOBS,
      posts_per_job: byMethod('chat.postMessage') / JOBS,
      updates_per_job: byMethod('chat.update') / JOBS,
      upload_calls_per_job: (byMethod('files.getUploadURLExternal') + byMethod('files.completeUploadExternal')) / JOBS,
      uploads_per_job: fake.uploads.length / JOBS,
      rate_limited: fake.stats.rateLimited,
      rate_limited_per_job: fake.stats.rateLimited / JOBS,
      outbox_retries: failedRows,
      dropped,
      lost,
      other_errors: fake.stats.errors + fake.stats.serverErrors,
      posts_per_second: byMethod('chat.postMessage') / seconds,
    };
    s.ratio = s.calls_per_job! / s.events_per_job!;
    ctx.log(`chat run ${ctx.run + 1}, ${name} (${JOBS} jobs): ${s.calls_per_job!.toFixed(1)} calls/job (${s.posts_per_job!.toFixed(1)} posts, ${s.updates_per_job!.toFixed(1)} edits, ${s.upload_calls_per_job!.toFixed(1)} upload calls) vs ${s.events_per_job!.toFixed(1)} events/job; ${s.rate_limited} 429s, ${lost} lost, ${dropped} dropped, ${failedRows} outbox retries; ${seconds.toFixed(1)} s (${((performance.now() - jobsDone) / 1000).toFixed(1)} s checking)`);
    return s;
  } finally {
    await app?.stop();
    await fake.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Messages that should exist and do not: each job's root message (showing the finished job),
 * one card per gate (decided: its buttons gone) and one thread reply per notice event (a message,
 * or an upload of files with the notice as its comment).
 */
async function missingMessages(app: App, fake: FakeSlack, log: (m: string) => void): Promise<number> {
  const { store } = app;
  // Completed uploads per thread: the fake records each files.completeUploadExternal call.
  const uploadsIn = new Map<string, number>();
  for (const c of fake.callsTo('files.completeUploadExternal')) {
    if (c.fault) continue;
    const thread = String(c.args.thread_ts);
    uploadsIn.set(thread, (uploadsIn.get(thread) ?? 0) + 1);
  }
  let missing = 0;
  const miss = (what: string) => {
    missing++;
    if (missing <= 5) log(`  missing: ${what}`);
  };
  for (const { id } of sqliteOnly(store).db.prepare('SELECT id FROM jobs').all() as { id: number }[]) {
    const root = (await store.outbox.getRef('slack', id, 'root'));
    const rootMessage = root && fake.message(root.channel, root.messageId);
    if (!rootMessage || !/Succeeded/.test(JSON.stringify(rootMessage.blocks))) miss(`job ${id}: root message (or it does not show the job succeeded)`);
    const agg = (await store.jobs.load(id))!;
    for (const gate of agg.gates) {
      const ref = (await store.outbox.getRef('slack', id, `gate:${gate.stage}:${gate.round}`));
      const card = ref && fake.message(ref.channel, ref.messageId);
      if (!card || JSON.stringify(card.blocks).includes('"type":"actions"')) miss(`job ${id}: ${gate.stage} card${card ? ' still has its buttons' : ''}`);
    }
    let uploadNotices = 0;
    for (const e of await store.events.forJob(id)) {
      if (!NOTICE_TYPES.has(e.type) || !renderPlan(e).notice) continue;
      const ref = (await store.outbox.getRef('slack', id, `notice:${e.seq}`));
      if (!ref) miss(`job ${id}: ${e.type} notice (seq ${e.seq}) never made`);
      else if (!fake.message(ref.channel, ref.messageId)) uploadNotices++;
    }
    // Notices made as uploads are stored without a message ts (see the notes): count them.
    const uploads = root ? (uploadsIn.get(root.messageId) ?? 0) : 0;
    if (uploads < uploadNotices) for (let i = uploads; i < uploadNotices; i++) miss(`job ${id}: an upload notice`);
  }
  return missing;
}

async function run(ctx: RunContext): Promise<Sample> {
  const single = await scenario(ctx, 'single', 'demo', 1);
  const demo = await scenario(ctx, 'demo', 'demo', DEMO_JOBS);
  const burst = await scenario(ctx, 'burst', 'tiny', BURST_JOBS);
  return {
    ...Object.fromEntries(Object.entries(single).map(([k, v]) => [`single_${k}`, v])),
    ...Object.fromEntries(Object.entries(demo).map(([k, v]) => [`demo_${k}`, v])),
    ...Object.fromEntries(Object.entries(burst).map(([k, v]) => [`burst_${k}`, v])),
  };
}

export const chatEconomy: Figure = {
  id: 'chat',
  title: 'Chat economy',
  run,
  rows: (m) => [
    {
      figure: 'Slack Web API calls per job, demo pipeline (6 stages, 6 gates, uploads), one job alone',
      signoff: `${fmt.n(m.single_calls_per_job!, 1)} (${fmt.n(m.single_posts_per_job!, 1)} posts, ${fmt.n(m.single_updates_per_job!, 1)} edits, ${fmt.n(m.single_upload_calls_per_job!, 1)} upload calls)`,
      baseline: `${fmt.n(m.single_events_per_job!, 1)} events/job (one message per event)`,
      ratio: fmt.x(m.single_ratio!),
      target: '< 1× (fewer calls than events)',
      pass: m.single_ratio! < 1,
    },
    {
      figure: `Slack Web API calls per job, demo pipeline, ${DEMO_JOBS} jobs at once in one channel`,
      signoff: `${fmt.n(m.demo_calls_per_job!, 1)} (${fmt.n(m.demo_posts_per_job!, 1)} posts, ${fmt.n(m.demo_updates_per_job!, 1)} edits, ${fmt.n(m.demo_upload_calls_per_job!, 1)} upload calls)`,
      baseline: `${fmt.n(m.demo_events_per_job!, 1)} events/job (one message per event)`,
      ratio: fmt.x(m.demo_ratio!),
      target: '< 1× (fewer calls than events)',
      pass: m.demo_ratio! < 1,
    },
    {
      figure: `Slack Web API calls per job, 2-stage pipeline, ${BURST_JOBS} jobs at once in one channel`,
      signoff: `${fmt.n(m.burst_calls_per_job!, 1)} (${fmt.n(m.burst_posts_per_job!, 1)} posts, ${fmt.n(m.burst_updates_per_job!, 1)} edits, ${fmt.n(m.burst_upload_calls_per_job!, 1)} upload calls)`,
      baseline: `${fmt.n(m.burst_events_per_job!, 1)} events/job`,
      ratio: fmt.x(m.burst_ratio!),
      target: '< 1×',
      pass: m.burst_ratio! < 1,
    },
    {
      figure: `429s when ${BURST_JOBS} jobs post at once in one channel (fake limit = SIGNOFF_SLACK_POSTS_PER_SECOND = ${RATE}/s, burst ${BURST}; Slack's is 1/s)`,
      signoff: `${fmt.n(m.burst_rate_limited!)} 429s in ${fmt.n(m.burst_seconds!, 0)} s`,
      baseline: `${fmt.n(m.burst_posts_per_job! * BURST_JOBS)} posts`,
      ratio: fmt.x(m.burst_rate_limited! / (m.burst_posts_per_job! * BURST_JOBS)),
      target: 'reported (0 is better)',
      pass: null,
    },
    {
      figure: 'Lost Slack messages, all scenarios (expected root, cards, replies missing; dropped outbox rows)',
      signoff: `${fmt.n(m.single_lost! + m.demo_lost! + m.burst_lost!)} lost, ${fmt.n(m.single_dropped! + m.demo_dropped! + m.burst_dropped!)} dropped`,
      baseline: 'every expected message',
      ratio: '—',
      target: '0',
      pass: m.single_lost === 0 && m.demo_lost === 0 && m.burst_lost === 0 && m.single_dropped === 0 && m.demo_dropped === 0 && m.burst_dropped === 0,
    },
  ],
};
