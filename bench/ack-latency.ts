/**
 * Figure 1, interaction ack latency. signoff runs as `node dist/main.js` in Slack HTTP mode (the
 * Web API is the fake Slack, in this process) over a database holding 1,000 jobs each waiting at a
 * required gate. Waves of 100 concurrent signed requests hit POST /slack/events: button clicks
 * (each approves a different gate, so the engine really works behind every ack) and
 * `/signoff status <job>` commands. The same bodies, with the same concurrency, go to a bare
 * node:http server in the same run; waves alternate which server goes first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Database } from '../src/store/sqlite/driver.js';
import { FakeSlack } from '../tests/helpers/fake-slack.js';
import { slackSignature } from '../tests/helpers/slack-signing.js';
import { waitFor } from '../tests/helpers/wait.js';
import { benchDir, eventsSeen, localEngine } from './lib/engine.js';
import { writeWindow } from './lib/cpuprofile.js';
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';
import { startLoadClient, type WaveRequest } from './lib/load.js';
import { BARE_SERVER_JS } from './lib/bare-server.js';
import { signoffEnv, spawnServer, type Spawned } from './lib/proc.js';
import { quantile } from './lib/stats.js';

const GATES = 1_000;
export const WAVE = 100;
const CLICK_WAVES = 5;
const COMMAND_WAVES = 3;
const PAUSE_MS = 300;
export const CHANNEL = 'C0BENCH';
export const ALICE = 'U0ALICE';
export const SECRET = 'bench-signing-secret-0123456789';

const YAML = `
operators:
  editors: { slack: [${ALICE}, U0BOB] }
  directors: { slack_usergroups: [S0DIR] }
submitters: [editors, directors]
limits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: ${GATES + 100} }
channels: { slack: ${CHANNEL} }
console: { enabled: false }
pipelines:
  review:
    description: one stage, a required gate, one more stage
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { required: true, approvers: [editors, directors] }
      - id: final
        run: { builtin: script }
`;

let template: string | undefined;

/** Builds, once, a data directory with GATES jobs waiting at their gate, their Slack messages already made. */
async function prepare(log: (m: string) => void): Promise<void> {
  const dir = benchDir('ack-template');
  fs.writeFileSync(path.join(dir, 'signoff.yaml'), YAML);
  const local = localEngine({ dataDir: dir, yaml: YAML, chatSurfaces: ['slack'] });
  await local.engine.start();
  const opened = eventsSeen(local.engine, 'gate.opened', GATES);
  const t0 = Date.now();
  for (let i = 0; i < GATES; i++) {
    const r = await local.engine.submit({ platform: 'api', user: 'api' }, { pipeline: 'review', brief: `Bench job ${i}: a short film about bees and their keepers`, origin: { surface: 'api' } });
    if (!r.ok) throw new Error(`submit failed: ${r.message}`);
  }
  await opened;
  // What Slack already shows for these jobs: the outbox was delivered long ago and the root
  // message and gate card of each job exist (their ts are stored), so clicks lead to edits.
  const db = local.store.db;
  const now = Date.now();
  db.transaction(() => {
    db.prepare('UPDATE outbox SET delivered_at = ? WHERE delivered_at IS NULL').run(now);
    const ref = db.prepare('INSERT INTO chat_refs (target, job_id, key, channel, message_id, thread_id) VALUES (?, ?, ?, ?, ?, ?)');
    for (const { id } of db.prepare('SELECT id FROM jobs').all() as { id: number }[]) {
      const root = `1700000000.${String(id * 10).padStart(6, '0')}`;
      ref.run('slack', id, 'root', CHANNEL, root, null);
      ref.run('slack', id, 'gate:draft:1', CHANNEL, `1700000000.${String(id * 10 + 1).padStart(6, '0')}`, root);
    }
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  await local.stop();
  log(`ack: ${GATES} pending gates prepared in ${Date.now() - t0} ms`);
  template = dir;
}

/** A request to POST /slack/events signed with SECRET, as Slack signs it. */
export function signed(body: string, contentType: string): WaveRequest {
  const ts = Math.floor(Date.now() / 1000);
  return { path: '/slack/events', body, headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': slackSignature(SECRET, ts, body) } };
}

function clickWave(fake: FakeSlack, jobs: number[]): WaveRequest[] {
  return jobs.map((job) => {
    const payload = fake.blockAction({
      user: ALICE,
      user_name: 'alice',
      channel: CHANNEL,
      message_ts: `1700000000.${String(job * 10 + 1).padStart(6, '0')}`,
      thread_ts: `1700000000.${String(job * 10).padStart(6, '0')}`,
      action_id: 'signoff_gate_approve',
      value: JSON.stringify({ j: job, s: 'draft', r: 1 }),
      block_id: `gate:${job}:draft:1`,
      text: 'Approve',
    });
    return signed(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded');
  });
}

/** `/signoff <text>` commands; the response_url of each is added to `urls` when given. */
export function commandWave(fake: FakeSlack, text: (i: number) => string, urls?: string[]): WaveRequest[] {
  return Array.from({ length: WAVE }, (_, i) => {
    const fields = fake.slashCommand({ user_id: ALICE, user_name: 'alice', channel_id: CHANNEL, text: text(i) });
    urls?.push(fields.response_url!);
    return signed(new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded');
  });
}

async function run(ctx: RunContext): Promise<Sample> {
  if (!template) throw new Error('ack: prepare() did not run');
  const dataDir = benchDir('ack');
  fs.cpSync(template, dataDir, { recursive: true });
  const fake = await FakeSlack.start();
  fake.usergroups.set('S0DIR', ['U0CAROL']);
  // The cards and root messages were "posted" before this process started: edits of them succeed.
  fake.handle('chat.update', (args) => ({ channel: args.channel, ts: args.ts }));
  const client = startLoadClient();
  const profile = ctx.profileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.profileDir, '--cpu-prof-name', `ack-signoff-${ctx.run}.cpuprofile`] : [];
  let signoff: Spawned | undefined;
  let profileWindow: { file: string; fromMs: number; toMs: number } | undefined;
  let bare: Spawned | undefined;
  try {
    signoff = await spawnServer({
      env: signoffEnv({
        configPath: path.join(dataDir, 'signoff.yaml'),
        dataDir,
        extra: { SLACK_BOT_TOKEN: 'xoxb-bench', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl },
      }),
      nodeArgs: profile,
      logFile: path.join(dataDir, 'signoff.log'),
    });
    bare = await spawnServer({ env: {}, nodeArgs: ['-e', BARE_SERVER_JS], script: null, logFile: path.join(dataDir, 'bare.log'), readyPath: '/' });
    const both = [signoff, bare] as const;

    // Warm-up (not measured): JIT, Bolt's first auth.test, the user-group cache, open sockets.
    const warm = commandWave(fake, () => 'help');
    for (const s of both) await client.wave(s.url, warm);

    const measureFrom = Date.now() - signoff.spawnedAt;
    const lat = { click: [[], []] as number[][], command: [[], []] as number[][] };
    let failures = 0;
    let nextJob = 1;
    const responseUrls: string[] = [];
    const kinds = [...Array(CLICK_WAVES).fill('click'), ...Array(COMMAND_WAVES).fill('command')] as ('click' | 'command')[];
    // Interleave the kinds: click, command, click, command, click, command, click, click.
    const order = kinds.map((_, i) => (i < 2 * COMMAND_WAVES ? (i % 2 === 0 ? 'click' : 'command') : 'click'));
    for (const [w, kind] of order.entries()) {
      const jobs = Array.from({ length: WAVE }, () => nextJob++);
      const wave = kind === 'click' ? clickWave(fake, jobs) : commandWave(fake, (i) => `status ${1 + ((w * 37 + i * 13) % GATES)}`, responseUrls);
      const first = w % 2 === 0 ? 0 : 1;
      for (const which of [first, 1 - first]) {
        const result = await client.wave(both[which]!.url, wave);
        failures += result.statuses.filter((s) => s !== 200).length;
        lat[kind][which]!.push(...result.latenciesMs);
        await new Promise((r) => setTimeout(r, PAUSE_MS));
      }
    }
    const measureTo = Date.now() - signoff.spawnedAt;
    if (ctx.profileDir) profileWindow = { file: path.join(ctx.profileDir, `ack-signoff-${ctx.run}.cpuprofile`), fromMs: measureFrom, toMs: measureTo };
    const clicks = CLICK_WAVES * WAVE;
    // Every click was acted on (not only acknowledged): the gates it named are approved.
    const approved = await waitApproved(dataDir, clicks);
    // Every measured command was answered too (its private answer reached its response_url).
    const ids = new Set(responseUrls.map((u) => u.split('/').pop()));
    const answered = await waitFor(() => {
      const n = new Set(fake.responses.map((r) => r.id).filter((id) => ids.has(id))).size;
      return n >= ids.size ? n : undefined;
    }, 'every command to be answered', 30_000).catch(() => new Set(fake.responses.map((r) => r.id).filter((id) => ids.has(id))).size);
    const all = (which: number) => [...lat.click[which]!, ...lat.command[which]!];
    const s: Sample = {
      click_p50: quantile(lat.click[0]!, 0.5),
      click_p99: quantile(lat.click[0]!, 0.99),
      command_p50: quantile(lat.command[0]!, 0.5),
      command_p99: quantile(lat.command[0]!, 0.99),
      all_p50: quantile(all(0), 0.5),
      all_p99: quantile(all(0), 0.99),
      all_max: Math.max(...all(0)),
      bare_click_p50: quantile(lat.click[1]!, 0.5),
      bare_click_p99: quantile(lat.click[1]!, 0.99),
      bare_command_p50: quantile(lat.command[1]!, 0.5),
      bare_command_p99: quantile(lat.command[1]!, 0.99),
      bare_all_p50: quantile(all(1), 0.5),
      bare_all_p99: quantile(all(1), 0.99),
      failures,
      approved,
      clicks,
      answered,
      commands: ids.size,
    };
    s.ratio_p50 = s.all_p50! / s.bare_all_p50!;
    s.ratio_p99 = s.all_p99! / s.bare_all_p99!;
    s.ratio_click_p99 = s.click_p99! / s.bare_click_p99!;
    s.ratio_command_p99 = s.command_p99! / s.bare_command_p99!;
    ctx.log(`ack run ${ctx.run + 1}: p50 ${s.all_p50!.toFixed(1)} / p99 ${s.all_p99!.toFixed(1)} ms (bare ${s.bare_all_p50!.toFixed(1)} / ${s.bare_all_p99!.toFixed(1)}), ${approved}/${clicks} clicks applied, ${answered}/${ids.size} commands answered, ${failures} non-200`);
    return s;
  } finally {
    await client.close();
    await signoff?.stop();
    await bare?.stop();
    if (profileWindow) writeWindow(profileWindow.file, profileWindow);
    await fake.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Waits (up to 30 s) until `count` gates are approved in the database; returns how many are. */
async function waitApproved(dataDir: string, count: number): Promise<number> {
  const db = new Database(path.join(dataDir, 'signoff.db'), { readonly: true });
  try {
    const deadline = Date.now() + 30_000;
    let n = 0;
    while (Date.now() < deadline) {
      n = (db.prepare("SELECT COUNT(*) AS n FROM gates WHERE state = 'approved'").get() as { n: number }).n;
      if (n >= count) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    return n;
  } finally {
    db.close();
  }
}

export const ackLatency: Figure = {
  id: 'ack',
  title: 'Interaction ack latency',
  prepare,
  run,
  rows: (m) => [
    {
      figure: `Ack latency p99, ${WAVE} concurrent signed clicks + slash commands, ${GATES} pending gates`,
      signoff: fmt.ms(m.all_p99!),
      baseline: `${fmt.ms(m.bare_all_p99!)} (bare node:http)`,
      ratio: fmt.x(m.ratio_p99!),
      target: 'p99 < 50 ms and ≤ 2× bare',
      pass: m.all_p99! < 50 && m.ratio_p99! <= 2 && m.failures === 0 && m.approved === m.clicks && m.answered === m.commands,
    },
    { figure: 'Ack latency p50 (same requests)', signoff: fmt.ms(m.all_p50!), baseline: fmt.ms(m.bare_all_p50!), ratio: fmt.x(m.ratio_p50!), target: '—', pass: null },
    { figure: 'Ack latency p99, button clicks only', signoff: fmt.ms(m.click_p99!), baseline: fmt.ms(m.bare_click_p99!), ratio: fmt.x(m.ratio_click_p99!), target: 'p99 < 50 ms and ≤ 2× bare', pass: m.click_p99! < 50 && m.ratio_click_p99! <= 2 },
    { figure: 'Ack latency p99, slash commands only', signoff: fmt.ms(m.command_p99!), baseline: fmt.ms(m.bare_command_p99!), ratio: fmt.x(m.ratio_command_p99!), target: 'p99 < 50 ms and ≤ 2× bare', pass: m.command_p99! < 50 && m.ratio_command_p99! <= 2 },
  ],
  async cleanup() {
    if (template) fs.rmSync(template, { recursive: true, force: true });
    template = undefined;
  },
};
