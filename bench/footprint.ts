/**
 * Figure 4, footprint. `node dist/main.js` (the bundled demo config, Slack in HTTP mode against the
 * fake Slack, which only sees Bolt's auth.test while signoff idles) over a database with
 * 100,000 finished jobs, against the same over an empty database, in the same run (order
 * alternating between runs): start-up time from spawn to the first 200 of /healthz, and RSS
 * after 5 s idle. A bare node:http server gives Node's own floor.
 *
 * The database is made realistic, not synthetic: TEMPLATE_JOBS jobs of the demo pipeline (its
 * six builtins and six gates, Slack as a target) really run through the engine; their outbox
 * rows are marked delivered and the chat message refs the Slack notifier keeps are added (one per
 * root, card and thread reply). Then every row of those jobs (jobs, stages, gates, votes,
 * artifacts, events, outbox, chat_refs) is copied with shifted ids and times until there are
 * 100,000 jobs, in a few big INSERT … SELECT statements. The result is cached in the temporary
 * directory (keyed by schema version) and reused by later bench runs; --fresh-db rebuilds it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Database } from '../src/store/sqlite/driver.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { renderPlan } from '../src/bot/views/render-plan.js';
import { FakeSlack } from '../tests/helpers/fake-slack.js';
import { FakeClock } from '../tests/helpers/fixtures.js';
import { BARE_SERVER_JS } from './lib/bare-server.js';
import { benchDir, eventsSeen, localEngine } from './lib/engine.js';
import { fmt, type Figure, type RunContext, type Sample } from './lib/figure.js';
import { REPO, signoffEnv, spawnServer, type Spawned } from './lib/proc.js';

export const TOTAL_JOBS = 100_000;
const TEMPLATE_JOBS = 20;
const IDLE_MS = 5_000;
const CHANNEL = 'C0DEMO';
const CACHE = path.join(os.tmpdir(), 'signoff-bench-cache');

/** The bundled demo config, with Slack as a target and the pretend work time taken out. */
function demoYaml(): string {
  const raw = fs.readFileSync(path.join(REPO, 'conf', 'signoff.yaml'), 'utf8');
  // Only the `delay: Ns` of each builtin goes (it is real sleeping); durations stay as written.
  return raw.replace(/,\s*delay:\s*\w+\s*\}/g, ' }').replace(/^channels: \{\}$/m, `channels: { slack: ${CHANNEL} }`);
}

/** Runs TEMPLATE_JOBS demo jobs to the end in `dir`, then makes their Slack side look delivered. */
async function buildTemplate(dir: string): Promise<void> {
  const yaml = demoYaml();
  fs.writeFileSync(path.join(dir, 'signoff.yaml'), yaml);
  const clock = new FakeClock(Date.now() - 100 * 86_400_000);
  const local = localEngine({ dataDir: dir, yaml, clock, chatSurfaces: ['slack'] });
  const { engine, store } = local;
  await engine.start();
  const finished = eventsSeen(engine, 'job.finished', TEMPLATE_JOBS);
  // Required gates are decided by the console users of the demo config (alice submits).
  const deciders: Record<string, string[]> = { script: ['bob'], storyboard: ['bob', 'carol'], assets: ['carol'] };
  engine.onEvent((e) => {
    if (e.type !== 'gate.opened') return;
    const stage = String(e.data.stage);
    setImmediate(() => {
      if (e.data.required) for (const user of deciders[stage] ?? []) void engine.act({ platform: 'console', user }, e.job, { type: 'approve', stage });
    });
  });
  for (let i = 0; i < TEMPLATE_JOBS; i++) {
    // alice submits every 15 s (the demo config allows 5 jobs a minute per person).
    clock.advance(15_000);
    const r = await engine.submit({ platform: 'console', user: 'alice' }, { pipeline: 'demo', brief: `Film ${i + 1}: a two-minute film about bees, hives and the people who keep them`, origin: { surface: 'slack', channel: CHANNEL } });
    if (!r.ok) throw new Error(r.message);
  }
  // Optional gates auto-approve as the fake clock passes their deadlines.
  const ticking = setInterval(() => {
    clock.advance(61_000);
    void engine.tick();
  }, 20);
  await finished;
  clearInterval(ticking);
  await local.stop();

  const db = new Database(path.join(dir, 'signoff.db'));
  db.transaction(() => {
    db.prepare('UPDATE outbox SET delivered_at = created_at + 800 WHERE delivered_at IS NULL').run();
    const ref = db.prepare('INSERT INTO chat_refs (target, job_id, key, channel, message_id, thread_id) VALUES (?, ?, ?, ?, ?, ?)');
    let ts = 1_700_000_000_000_000;
    const nextTs = () => `${Math.floor(++ts / 1e6)}.${String(ts % 1e6).padStart(6, '0')}`;
    for (const { id } of db.prepare('SELECT id FROM jobs').all() as { id: number }[]) {
      const root = nextTs();
      ref.run('slack', id, 'root', CHANNEL, root, null);
      for (const e of db.prepare('SELECT * FROM events WHERE job_id = ? ORDER BY seq').all(id) as { id: number; seq: number; type: string; at: number; data: string }[]) {
        const plan = renderPlan({ id: e.id, job: id, seq: e.seq, type: e.type, at: e.at, data: JSON.parse(e.data) });
        if (plan.gate && e.type === 'gate.opened') ref.run('slack', id, `gate:${plan.gate.stage}:${plan.gate.round}`, CHANNEL, nextTs(), root);
        if (plan.notice) ref.run('slack', id, `notice:${e.seq}`, CHANNEL, nextTs(), root);
      }
    }
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** Copies the template's jobs (with every row that belongs to them) until there are `total`. */
function replicate(file: string, total: number): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -200000');
  const max = (table: string) => (db.prepare(`SELECT COALESCE(MAX(id), 0) AS n FROM ${table}`).get() as { n: number }).n;
  const K = max('jobs');
  const G = max('gates');
  const A = max('artifacts');
  const E = max('events');
  const O = max('outbox');
  const copies = Math.ceil(total / K) - 1;
  // Each copy is shifted 30 s later in time than the previous one, so the jobs span weeks.
  const T = 30_000;
  const shift = (col: string) => `CASE WHEN ${col} IS NULL THEN NULL ELSE ${col} + n.i * ${T} END`;
  const chunk = 500;
  for (let from = 1; from <= copies; from += chunk) {
    const to = Math.min(copies, from + chunk - 1);
    const nums = `WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to})`;
    db.transaction(() => {
      db.exec(`${nums} INSERT INTO jobs (id, pipeline, brief, params, submitter, origin, targets, def, state, stage, resume_from, error, created_at, updated_at, started_at, finished_at, version, last_seq)
        SELECT id + n.i * ${K}, pipeline, brief, params, submitter, origin, targets, def, state, stage, resume_from, error, ${shift('created_at')}, ${shift('updated_at')}, ${shift('started_at')}, ${shift('finished_at')}, version, last_seq FROM jobs, n WHERE id <= ${K}`);
      db.exec(`${nums} INSERT INTO stages SELECT job_id + n.i * ${K}, stage, idx, state, run, attempt, ${shift('started_at')}, ${shift('finished_at')}, ${shift('retry_at')}, error, summary, outputs, redo_reason FROM stages, n WHERE job_id <= ${K}`);
      db.exec(`${nums} INSERT INTO gates SELECT id + n.i * ${G}, job_id + n.i * ${K}, stage, round, state, required, min_approvals, ${shift('opened_at')}, ${shift('deadline_at')}, deadline_kind, ${shift('remind_at')}, ${shift('decided_at')}, decided_by, reason FROM gates, n WHERE id <= ${G}`);
      db.exec(`${nums} INSERT INTO votes SELECT gate_id + n.i * ${G}, actor, display, vote, reason, ${shift('at')} FROM votes, n WHERE gate_id <= ${G}`);
      db.exec(`${nums} INSERT INTO artifacts SELECT id + n.i * ${A}, job_id + n.i * ${K}, stage, run, name, path, size, media_type, sha256, ${shift('created_at')} FROM artifacts, n WHERE id <= ${A}`);
      db.exec(`${nums} INSERT INTO events SELECT id + n.i * ${E}, job_id + n.i * ${K}, seq, type, ${shift('at')}, data FROM events, n WHERE id <= ${E}`);
      db.exec(`${nums} INSERT INTO outbox SELECT id + n.i * ${O}, target, job_id + n.i * ${K}, event_id + n.i * ${E}, ${shift('created_at')}, attempts, ${shift('next_attempt_at')}, ${shift('delivered_at')}, last_error FROM outbox, n WHERE id <= ${O}`);
      db.exec(`${nums} INSERT INTO chat_refs SELECT target, job_id + n.i * ${K}, key, channel, message_id || '.' || n.i, thread_id FROM chat_refs, n WHERE job_id <= ${K}`);
    })();
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

let full: string | undefined;
let empty: string | undefined;
let config: string | undefined;

/** The cached 100k-job data directory, built when missing (or when --fresh-db is given). */
async function prepare(log: (m: string) => void): Promise<void> {
  const dir = path.join(CACHE, `footprint-v${MIGRATIONS.length}-${TOTAL_JOBS}`);
  const done = path.join(dir, '.complete');
  if (process.env.SIGNOFF_BENCH_FRESH_DB || !fs.existsSync(done)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const t0 = Date.now();
    await buildTemplate(dir);
    const t1 = Date.now();
    replicate(path.join(dir, 'signoff.db'), TOTAL_JOBS);
    const stats = fs.statSync(path.join(dir, 'signoff.db'));
    fs.writeFileSync(done, JSON.stringify({ templateMs: t1 - t0, replicateMs: Date.now() - t1, bytes: stats.size }));
    log(`footprint: ${TOTAL_JOBS.toLocaleString('en-US')} finished jobs generated in ${((Date.now() - t0) / 1000).toFixed(0)} s (${(stats.size / 2 ** 20).toFixed(0)} MB), cached in ${dir}`);
  } else log(`footprint: reusing ${dir}`);
  full = dir;
  config = path.join(dir, 'signoff.yaml');
  empty = benchDir('footprint-empty');
}

function dbBytes(dir: string): number {
  return ['signoff.db', 'signoff.db-wal'].reduce((n, f) => n + (fs.existsSync(path.join(dir, f)) ? fs.statSync(path.join(dir, f)).size : 0), 0);
}

interface Measured {
  startMs: number;
  rssKb: number;
}

async function measure(dataDir: string, logFile: string, profileDir: string | undefined, name: string, slackApi: string): Promise<Measured> {
  let p: Spawned | undefined;
  try {
    p = await spawnServer({
      env: signoffEnv({
        configPath: config!,
        dataDir,
        extra: { SLACK_BOT_TOKEN: 'xoxb-bench', SLACK_SIGNING_SECRET: 'bench-signing-secret-0123456789', SLACK_API_URL: slackApi },
      }),
      nodeArgs: profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${name}.cpuprofile`] : [],
      logFile,
    });
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const rssKb = p.rssKb();
    if (!rssKb) throw new Error(`signoff exited while idle; see ${logFile}`);
    return { startMs: p.startMs, rssKb };
  } finally {
    await p?.stop();
  }
}

async function run(ctx: RunContext): Promise<Sample> {
  const logs = benchDir('footprint-logs');
  const fake = await FakeSlack.start();
  try {
    const s: Sample = {};
    // Alternate which goes first: the first start after a pause finds colder caches.
    const order = ctx.run % 2 === 0 ? (['full', 'empty'] as const) : (['empty', 'full'] as const);
    for (const which of order) {
      const m = await measure(which === 'full' ? full! : empty!, path.join(logs, `${which}.log`), ctx.profileDir, `footprint-${which}-${ctx.run}`, fake.apiUrl);
      s[`${which}_start_ms`] = m.startMs;
      s[`${which}_rss_kb`] = m.rssKb;
    }
    let bare: Spawned | undefined;
    try {
      bare = await spawnServer({ env: {}, nodeArgs: ['-e', BARE_SERVER_JS], script: null, logFile: path.join(logs, 'bare.log'), readyPath: '/' });
      await new Promise((r) => setTimeout(r, 1_000));
      s.bare_start_ms = bare.startMs;
      s.bare_rss_kb = bare.rssKb();
    } finally {
      await bare?.stop();
    }
    const jobs = (() => {
      const db = new Database(path.join(full!, 'signoff.db'), { readonly: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n;
      } finally {
        db.close();
      }
    })();
    s.jobs = jobs;
    s.db_bytes = dbBytes(full!);
    s.bytes_per_job = (s.db_bytes - dbBytes(empty!)) / jobs;
    s.start_ratio = s.full_start_ms! / s.empty_start_ms!;
    s.rss_ratio = s.full_rss_kb! / s.empty_rss_kb!;
    ctx.log(`footprint run ${ctx.run + 1}: start ${Math.round(s.full_start_ms!)} ms (empty ${Math.round(s.empty_start_ms!)}, bare node ${Math.round(s.bare_start_ms)}), RSS ${(s.full_rss_kb! / 1024).toFixed(1)} MB (empty ${(s.empty_rss_kb! / 1024).toFixed(1)}, bare node ${(s.bare_rss_kb / 1024).toFixed(1)}), ${(s.bytes_per_job / 1024).toFixed(1)} KB/job`);
    return s;
  } finally {
    await fake.close();
    fs.rmSync(logs, { recursive: true, force: true });
  }
}

export const footprint: Figure = {
  id: 'footprint',
  title: 'Footprint',
  prepare,
  run,
  rows: (m) => [
    {
      figure: `Idle RSS (5 s after start), ${fmt.n(m.jobs!)} finished jobs in the DB`,
      signoff: fmt.mb(m.full_rss_kb!),
      baseline: `${fmt.mb(m.empty_rss_kb!)} empty DB; ${fmt.mb(m.bare_rss_kb!)} bare node:http`,
      ratio: fmt.x(m.rss_ratio!),
      target: '≤ 120 MB',
      pass: m.full_rss_kb! / 1024 <= 120,
    },
    {
      figure: `Start-up, spawn → /healthz 200, ${fmt.n(m.jobs!)} finished jobs`,
      signoff: fmt.ms(m.full_start_ms!),
      baseline: `${fmt.ms(m.empty_start_ms!)} empty DB; ${fmt.ms(m.bare_start_ms!)} bare node:http`,
      ratio: fmt.x(m.start_ratio!),
      target: '≤ 1 s',
      pass: m.full_start_ms! <= 1000,
    },
    {
      figure: 'Database size per finished demo job (events, outbox, refs, stages, gates, artifacts rows)',
      signoff: fmt.kb(m.bytes_per_job!),
      baseline: `${(m.db_bytes! / 2 ** 20).toFixed(0)} MB for ${fmt.n(m.jobs!)} jobs`,
      ratio: '—',
      target: 'reported',
      pass: null,
    },
  ],
  async cleanup() {
    if (empty) fs.rmSync(empty, { recursive: true, force: true });
    empty = undefined;
  },
};
