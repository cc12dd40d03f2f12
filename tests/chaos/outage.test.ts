/**
 * Chat outages: signoff as a real process with Slack (HTTP mode) and Discord connected, while
 * the fake Slack answers 30% of its calls with a 500, a 429 with Retry-After or a hang for a
 * stretch of the run (and loses the answers to three posts it made) (the fake Discord likewise, for a shorter stretch). Jobs keep being
 * submitted and approved through the API meanwhile. Afterwards: every message arrived, once, in
 * order; the engine ran stages and fired timers during the outage; memory stayed bounded.
 *
 * CHAOS_OUTAGE_S sets the Slack outage (default 10 s here; the "a minute" with 60).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { APP_ID, CHANNEL_ID, FakeDiscord, type FakeMessage } from '../helpers/fake-discord.js';
import { REPO } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';
import { checkDiscordThreads, checkEventLog, checkGates, checkOutbox, checkSlackThreads, merge } from './lib/checks.js';
import { rssOf } from './lib/child.js';
import { chaosMayDecide, PEOPLE } from './lib/pipeline.js';
import { rng } from './lib/prng.js';
import { CHANNEL, startSlackChild, type SlackChild } from './lib/slack-child.js';

const OUTAGE_MS = Number(process.env.CHAOS_OUTAGE_S ?? 10) * 1000;
const SEED = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : 611;
const DISCORD_TOKEN = 'chaos-discord-token-0123456789abcdef';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  cleanup = [];
});

describe('chat outage', () => {
  it(`delivers everything, in order and once, after ${OUTAGE_MS / 1000} s of a flaky Slack (and Discord); the engine keeps going`, { timeout: 150_000 }, async () => {
    const r = rng(SEED);
    const discord = await FakeDiscord.start();
    cleanup.push(() => discord.close());
    const h: SlackChild = await startSlackChild({
      autoApprove: '1s',
      maxConcurrent: 8,
      discordChannel: CHANNEL_ID,
      env: { DISCORD_TOKEN, DISCORD_APPLICATION_ID: APP_ID, DISCORD_API_URL: discord.apiUrl },
    });
    cleanup.push(async () => {
      await h.child.kill('SIGKILL');
      await h.fake.close();
    });
    await discord.ready();
    const pid = h.child.proc.pid!;

    // Memory: sampled from /proc all along; the metric is read too, to check it agrees.
    const rss: { at: number; bytes: number }[] = [];
    const sampler = setInterval(() => {
      const bytes = rssOf(pid);
      if (bytes) rss.push({ at: Date.now(), bytes });
    }, 250);
    // Every second: resident memory, the JS heap in use and the outbox backlog, as signoff reports them.
    const series: { s: number; rssMB: number; heapMB: number; pending: number }[] = [];
    const t0 = Date.now();
    const seriesSampler = setInterval(() => {
      void fetch(`${h.child.url}/metrics`, { signal: AbortSignal.timeout(1_500) })
        .then((res) => res.text())
        .then((text) => {
          const value = (re: RegExp) => Number(text.split('\n').find((l) => re.test(l))?.split(' ').pop() ?? NaN);
          series.push({
            s: Math.round((Date.now() - t0) / 1000),
            rssMB: Math.round(value(/^signoff_process_resident_memory_bytes /) / 2 ** 20),
            heapMB: Math.round(value(/^signoff_nodejs_heap_size_used_bytes /) / 2 ** 20),
            pending: value(/^signoff_outbox_pending /),
          });
        }, () => undefined);
    }, 1_000);
    cleanup.push(async () => clearInterval(seriesSampler));
    cleanup.push(async () => clearInterval(sampler));

    // Submitting and approving through the API goes on whatever chat does.
    const jobs: number[] = [];
    let submitting = true;
    const submitter = (async () => {
      let n = 0;
      while (submitting) {
        n += 1;
        jobs.push(await h.submit(n === 3 ? 'outage job with @everyone and <!channel> in it' : `outage job ${n}`));
        await sleep(r.int(150, 500));
      }
    })();
    const approved = new Set<string>();
    let approving = true;
    const approver = (async () => {
      while (approving) {
        const { json } = await h.child.api('GET', '/jobs?state=awaiting_approval&limit=500');
        for (const j of json?.jobs ?? []) {
          if (j.stage !== 'review' && j.stage !== 'publish') continue;
          for (const who of j.stage === 'review' ? [PEOPLE.alice, PEOPLE.bob] : [PEOPLE.alice]) {
            const key = `${j.id}:${j.stage}:${who}`;
            if (approved.has(key)) continue;
            const res = await h.child.api('POST', `/jobs/${j.id}/gates/${j.stage}/approve`, {}, { 'x-signoff-actor': `slack:${who}` });
            if (res.status === 200 || res.status === 409) approved.add(key);
          }
        }
        await sleep(100);
      }
    })();

    // Warm up, then the outage.
    await waitFor(() => jobs.length >= 3, 'a few jobs before the outage');
    const rssBefore = rss.at(-1)?.bytes ?? rssOf(pid)!;
    const outageStart = Date.now();
    h.fake.faultRate = { rate: 0.3, kinds: [{ status: 500 }, { status: 429, retryAfter: 1 }, { hangMs: 2_500 }], seed: SEED };
    // And three posts Slack makes but whose answers are lost: the client cannot tell "not
    // posted" from "posted, answer lost"; signoff must not post them twice.
    h.fake.failNext('chat.postMessage', { lose: true }, 3);
    discord.faultRate = { rate: 0.3, kinds: [{ status: 500 }, { status: 429, retryAfter: 0.5 }, { hangMs: 2_000 }], seed: SEED, exempt: ['/gateway'] };
    const discordOutageEnd = outageStart + OUTAGE_MS / 2;
    const faultsAt = { slack: { ...h.fake.stats }, discord: { ...discord.stats } };
    await waitFor(() => Date.now() >= discordOutageEnd, 'the Discord outage to run its course', OUTAGE_MS + 5_000);
    discord.faultRate = undefined;
    const discordFaults = { rateLimited: discord.stats.rateLimited - faultsAt.discord.rateLimited, serverErrors: discord.stats.serverErrors - faultsAt.discord.serverErrors, hung: discord.stats.hung - faultsAt.discord.hung };
    await waitFor(() => Date.now() >= outageStart + OUTAGE_MS, 'the Slack outage to run its course', OUTAGE_MS + 5_000);
    h.fake.faultRate = undefined;
    const outageEnd = Date.now();
    const slackFaults = { rateLimited: h.fake.stats.rateLimited - faultsAt.slack.rateLimited, serverErrors: h.fake.stats.serverErrors - faultsAt.slack.serverErrors, hung: h.fake.stats.hung - faultsAt.slack.hung, lostAnswers: h.fake.stats.lost - faultsAt.slack.lost };
    const rssAtEnd = rss.at(-1)!.bytes;
    // The name prom-client's default metrics get with signoff's prefix (see the last test).
    const metricRss = await h.child.metric('signoff_process_resident_memory_bytes');
    submitting = false;
    await submitter;

    // Recovery: every job finishes, every notification goes out.
    await waitFor(
      async () => {
        const { json } = await h.child.api('GET', '/jobs?limit=500');
        return json.jobs.length === jobs.length && json.jobs.every((j: { state: string }) => ['succeeded', 'rejected', 'failed'].includes(j.state));
      },
      'every job to finish',
      90_000,
    );
    approving = false;
    await approver;
    await h.drained(120_000);
    const recoveredAfterMs = Date.now() - outageEnd;
    clearInterval(sampler);
    clearInterval(seriesSampler);
    const db = await h.stop();
    await discord.close();

    const result = merge(
      checkEventLog(db),
      checkGates(db, (actor, _job, stage) => actor === 'api' || chaosMayDecide(actor, stage)),
      checkOutbox(db, 'slack'),
      checkOutbox(db, 'discord'),
      checkSlackThreads(db, h.recorder.posts, CHANNEL),
      checkDiscordThreads(db, [...discord.messages.values()] as FakeMessage[], CHANNEL_ID),
    );
    const during = db.events.filter((e) => e.at >= outageStart && e.at <= outageEnd);
    const figures = {
      seed: SEED,
      outageS: OUTAGE_MS / 1000,
      jobs: jobs.length,
      succeeded: db.jobs.filter((j) => j.state === 'succeeded').length,
      slackFaults,
      discordFaults,
      duringOutage: {
        stagesSucceeded: during.filter((e) => e.type === 'stage.succeeded').length,
        autoApprovals: during.filter((e) => e.type === 'gate.approved' && e.data.auto).length,
        jobsFinished: during.filter((e) => e.type === 'job.finished').length,
      },
      recoveredAfterS: Math.round(recoveredAfterMs / 100) / 10,
      rssMB: { before: Math.round(rssBefore / 2 ** 20), endOfOutage: Math.round(rssAtEnd / 2 ** 20), peak: Math.round(Math.max(...rss.map((s) => s.bytes)) / 2 ** 20), metric: Math.round((metricRss ?? 0) / 2 ** 20) },
      ...result.figures,
    };
    console.log(`chat outage: ${JSON.stringify(figures)}`);
    // Kept for docs/reliability.md, like the crash-chaos summary.
    fs.mkdirSync(path.join(REPO, 'test-output'), { recursive: true });
    fs.writeFileSync(path.join(REPO, 'test-output', `outage-${OUTAGE_MS / 1000}s-summary.json`), `${JSON.stringify({ ...figures, outageStartS: Math.round((outageStart - t0) / 1000), outageEndS: Math.round((outageEnd - t0) / 1000), series, at: new Date().toISOString() }, null, 1)}\n`);
    console.log(`chat outage, memory and backlog every second (outage from ${Math.round((outageStart - t0) / 1000)} s to ${Math.round((outageEnd - t0) / 1000)} s): ${JSON.stringify(series)}`);

    expect(result.violations).toEqual([]);
    expect(h.recorder.cardsWithButtons().map((m) => m.ts), 'no card still offers buttons').toEqual([]);
    expect(slackFaults.serverErrors + slackFaults.rateLimited + slackFaults.hung, 'faults were injected into Slack').toBeGreaterThanOrEqual(5);
    expect(slackFaults.lostAnswers, 'posts whose answer was lost').toBe(3);
    expect(discordFaults.serverErrors + discordFaults.rateLimited + discordFaults.hung, 'faults were injected into Discord').toBeGreaterThanOrEqual(3);
    // The engine did not wait for chat: stages ran, timers fired and jobs finished during the outage.
    expect(figures.duringOutage.stagesSucceeded).toBeGreaterThan(5);
    expect(figures.duringOutage.autoApprovals).toBeGreaterThan(2);
    expect(figures.duringOutage.jobsFinished).toBeGreaterThan(0);
    // Memory grows with the backlog and the calls in flight during an outage and is given back
    // after (see the series printed above; in a 60 s outage the heap went 49 → 135 → 55 MB):
    // bounded, not leaking. Asserted here: the peak, and the heap at the end of the outage.
    expect(figures.rssMB.peak, 'peak resident memory (MB)').toBeLessThan(400);
    const heapAtEnd = series.filter((x) => Number.isFinite(x.heapMB) && x.s * 1000 <= outageEnd - t0 + 1_000).at(-1)?.heapMB;
    expect(heapAtEnd, 'JS heap in use at the end of the outage (MB)').toBeLessThan(256);
    expect(metricRss).toBeGreaterThan(0);
    // Nothing signoff sent to Discord could ping anyone, whatever the brief said.
    const sent = discord.calls.filter((c) => /^\/channels\/\d+\/messages(\/\d+)?$/.test(c.path) && (c.method === 'POST' || c.method === 'PATCH'));
    expect(sent.length).toBeGreaterThan(0);
    for (const c of sent) expect((c.body as { allowed_mentions?: { parse?: unknown[] } })?.allowed_mentions?.parse, `${c.method} ${c.path}`).toEqual([]);
    expect(h.fake.internalErrors).toEqual([]);
    expect(discord.internalErrors).toEqual([]);
  });
});
