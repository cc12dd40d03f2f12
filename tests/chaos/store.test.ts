/**
 * Store faults: the SQLite file locked by another process (`BEGIN EXCLUSIVE`), shorter and
 * longer than signoff's busy_timeout (5 s); a read-only or full data directory at start; database
 * files signoff cannot use (a newer schema, not a database, someone else's tables) and one it
 * can (an empty file).
 *
 * Read-only and full directories are real mounts (tmpfs, bind mounts) made inside a private
 * mount namespace (`unshare -m`, or `unshare -rm` when not root), so nothing leaks to the host.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Database, SQLITE_DRIVER_PATH } from '../../src/store/sqlite/driver.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { openStore } from '../../src/store/store.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { configFrom, silentLog, tempDir } from '../helpers/fixtures.js';
import { freePort } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';
import { SignoffChild, type Exit } from './lib/child.js';
import { PEOPLE } from './lib/pipeline.js';
import { startSlackChild } from './lib/slack-child.js';
import { ALICE_ID, BOB_ID, CHANNEL_ID, FakeDiscord } from '../helpers/fake-discord.js';
import { discordConfigYaml, postedGate, startDiscordApp } from '../helpers/discord-harness.js';

const BETTER_SQLITE3 = SQLITE_DRIVER_PATH;

/** Holds `BEGIN EXCLUSIVE` on `file` for `ms`, from another process. */
function lockFor(file: string, ms: number): { locked: Promise<number>; released: Promise<number> } {
  const script = `
    const Database = require(${JSON.stringify(BETTER_SQLITE3)});
    const db = new Database(process.argv[1]);
    db.pragma('busy_timeout = 20000');
    db.exec('BEGIN EXCLUSIVE');
    console.log('locked');
    setTimeout(() => { db.exec('COMMIT'); db.close(); console.log('released'); }, Number(process.argv[2]));`;
  const proc = spawn(process.execPath, ['-e', script, file, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const seen = (word: string) =>
    new Promise<number>((resolve, reject) => {
      proc.stdout.on('data', (d) => {
        out += d;
        if (out.includes(word)) resolve(Date.now());
      });
      proc.on('close', (code) => (out.includes(word) ? resolve(Date.now()) : reject(new Error(`the locker exited (${code}) before "${word}"`))));
    });
  return { locked: seen('locked'), released: seen('released') };
}

const TOKEN = 'store-fault-token-0123456789abcdef';

describe('the database locked by another process', () => {
  // signoff runs in this process here (with no timer sweep, so the only writes are the ones the
  // test causes, in the order it causes them); the lock is held by another process.
  let app: App;
  let dir: string;
  const release = (job: number) => fs.writeFileSync(path.join(dir, 'release', String(job)), 'go');

  beforeAll(async () => {
    dir = tempDir('signoff-lock-');
    fs.mkdirSync(path.join(dir, 'release'));
    // The stage waits until the test releases it, so it can finish while the file is locked.
    const stage = `const fs = require('fs'); const f = process.env.RELEASE_DIR + '/' + process.env.SIGNOFF_JOB_ID;
      const t = setInterval(() => { if (fs.existsSync(f)) { clearInterval(t); fs.writeFileSync(process.env.SIGNOFF_OUTPUT_DIR + '/done.txt', 'done'); } }, 10);`;
    app = await startApp({
      config: configFrom(`
operators:
  editors: { console: [alice] }
console: { enabled: false }
pipelines:
  gated:
    stages:
      - id: work
        run: { command: ["node", "-e", ${JSON.stringify(stage)}], env: { RELEASE_DIR: ${JSON.stringify(path.join(dir, 'release'))} }, timeout: 2m }
        gate: { required: true, approvers: [editors] }
      - id: after
        run: { builtin: outline }
`),
      dataDir: path.join(dir, 'data'),
      apiToken: TOKEN,
      log: silentLog,
      host: '127.0.0.1',
      port: 0,
      tickSchedule: false,
    });
  });
  afterAll(async () => {
    await app?.stop();
  });

  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${app.url}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json().catch(() => null)) as any };
  };
  const dbFile = () => path.join(dir, 'data', 'signoff.db');
  const submit = async (brief: string) => {
    const r = await api('POST', '/jobs', { pipeline: 'gated', brief });
    expect(r.status).toBe(201);
    return r.json.job.id as number;
  };
  const job = async (id: number) => (await api('GET', `/jobs/${id}`)).json;
  const atGate = async (brief: string) => {
    const id = await submit(brief);
    release(id);
    await waitFor(async () => (await job(id)).state === 'awaiting_approval', `job ${id} at its gate`);
    return id;
  };
  /** Resolves once this process was frozen for `ms` (a synchronous SQLite write waiting on the lock). */
  const frozenFor = (ms: number, what: string) => {
    let last = Date.now();
    return waitFor(() => {
      const now = Date.now();
      const frozen = now - last >= ms;
      last = now;
      return frozen;
    }, what, ms + 10_000);
  };

  it('waits out a lock shorter than busy_timeout, then carries on: nothing refused, nothing lost', async () => {
    const gated = await atGate('approve me through a short lock');
    const running = await submit('finish during a short lock');
    const lock = lockFor(dbFile(), 2_000);
    const lockedAt = await lock.locked;
    const answered = await api('POST', `/jobs/${gated}/gates/work/approve`, {});
    const approveMs = Date.now() - lockedAt;
    release(running);
    await lock.released;
    expect(answered.status).toBe(200);
    await waitFor(async () => (await job(gated)).state === 'succeeded', 'the approved job to finish');
    await waitFor(async () => (await job(running)).state === 'awaiting_approval', 'the stage that finished after the lock to be recorded');
    console.log(`short lock (2 s): the approval waited and answered 200 after ${approveMs} ms`);
  });

  it('past busy_timeout: answers 503 busy and changes nothing, loses no stage result, and works again after', { timeout: 60_000 }, async () => {
    const gated = await atGate('approve me through a long lock');
    const running = await submit('finish during a long lock');
    await waitFor(async () => (await job(running)).stages[0].state === 'running', 'the stage to run');
    const jobsBefore = (await api('GET', '/jobs?limit=500')).json.jobs.length;
    // Three writes meet the lock one after another, each waiting busy_timeout (5 s) and giving
    // up: the stage's result, an approval, a submission. The lock outlasts all three.
    const lock = lockFor(dbFile(), 15_500);
    await lock.locked;
    release(running);
    await frozenFor(4_500, 'the stage result to wait on the lock (this process freezes meanwhile)');
    const a = await api('POST', `/jobs/${gated}/gates/work/approve`, {});
    const s = await api('POST', '/jobs', { pipeline: 'gated', brief: 'submitted during a long lock' });
    await lock.released;
    // Each write either met the lock and was refused with 503 "busy", changing nothing, or ran
    // once the lock was gone (a stage result that waited and retried can push it past the lock).
    // Never a 500, never half a change.
    expect([200, 503], `approve: ${JSON.stringify(a.json)}`).toContain(a.status);
    expect([201, 503], `submit: ${JSON.stringify(s.json)}`).toContain(s.status);
    if (a.status === 503) expect(a.json?.error).toBe('busy');
    if (s.status === 503) expect(s.json?.error).toBe('busy');
    const after = await job(gated);
    if (a.status === 503) {
      expect.soft(after.gates[0].state).toBe('pending');
      expect.soft(after.gates[0].votes).toEqual([]);
    } else expect.soft(after.gates[0].state).toBe('approved');
    expect.soft((await api('GET', '/jobs?limit=500')).json.jobs.length).toBe(jobsBefore + (s.status === 201 ? 1 : 0));
    // The stage finished while the file was locked: its result must not be lost (else the job
    // stays "running" until the next restart re-runs the stage).
    const recorded = await waitFor(async () => ((await job(running)).state === 'awaiting_approval' ? true : undefined), 'the stage result to be recorded after the lock', 5_000).catch(() => false);
    const state = await job(running);
    expect.soft(recorded, `job ${running} is still ${state.state} (stage ${state.stages[0].state}) after the lock: the stage result was dropped`).toBe(true);
    // And signoff works again.
    if (a.status === 503) expect((await api('POST', `/jobs/${gated}/gates/work/approve`, {})).status).toBe(200);
    else expect((await api('GET', `/jobs/${gated}`)).status).toBe(200);
  });
});

// ------------------------------------------------------------------ start-up on a bad data directory

const CONFIG = `
operators:
  editors: { console: [alice] }
pipelines:
  p:
    stages:
      - id: a
        run: { builtin: outline }
`;

/** Runs `node dist/main.js` inside a private mount namespace after `setup` (sh, with $D the data directory). */
function namespaceWrapper(setup: string): string[] {
  const root = process.getuid?.() === 0;
  return ['unshare', ...(root ? [] : ['-r']), '-m', '--propagation', 'private', 'sh', '-c', `set -e; ${setup}; exec "$@"`, 'sh'];
}

async function startIn(setup: string | undefined, dataDir: string, configPath: string): Promise<{ exit: Exit; output: string }> {
  const child = SignoffChild.spawn({
    configPath,
    dataDir,
    port: await freePort(),
    env: { D: dataDir },
    ...(setup ? { wrapper: namespaceWrapper(setup) } : {}),
  });
  const timer = setTimeout(() => void child.kill('SIGKILL'), 20_000);
  const exit = await child.exited;
  clearTimeout(timer);
  return { exit, output: child.output };
}

/**
 * The start-up scenarios below each run signoff as a process that fails at once (or, for the
 * last, fails and then starts). They are all launched when the file begins, so they run while the
 * lock tests above wait on the lock; each test then only collects its results.
 */
interface Launched {
  dir: string;
  configPath: string;
  roEmpty: Promise<{ exit: Exit; output: string }>;
  roUsed: Promise<{ exit: Exit; output: string }>;
  full: Promise<{ exit: Exit; output: string }>;
  /** Too small for the database, then given room: fails once, then starts. */
  recovering: SignoffChild;
  newer: { data: string; before: Buffer; run: Promise<{ exit: Exit; output: string }> };
  garbage: { data: string; before: Buffer; run: Promise<{ exit: Exit; output: string }> };
  foreign: { data: string; before: Buffer; run: Promise<{ exit: Exit; output: string }> };
}

async function launchStartFailures(): Promise<Launched> {
  // Mounts are the honest way to make a directory read-only or full for root; the suite needs them.
  const [program, ...args] = namespaceWrapper('mount -t tmpfs -o size=64k tmpfs /mnt');
  const probe = spawnSync(program!, [...args, 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`cannot make a private mount namespace here (unshare -m / -rm): ${probe.stderr}. The store-fault suite needs it to make read-only and full directories.`);
  const dir = tempDir('signoff-datadir-');
  const configPath = path.join(dir, 'signoff.yaml');
  fs.writeFileSync(configPath, CONFIG);
  // A data directory as a previous run leaves it: a valid database and the console token.
  const used = path.join(dir, 'ro-used');
  openStore(path.join(used, 'signoff.db')).close();
  fs.writeFileSync(path.join(used, 'console-token'), 'console-token-0123456789abcdef\n');
  const withDb = (name: string, make: (file: string) => void) => {
    const data = path.join(dir, name);
    fs.mkdirSync(data, { recursive: true });
    make(path.join(data, 'signoff.db'));
    return { data, before: fs.readFileSync(path.join(data, 'signoff.db')) };
  };
  const newer = withDb('newer', (file) => {
    const db = new Database(file);
    db.exec('CREATE TABLE future_things (id INTEGER PRIMARY KEY)');
    db.pragma('user_version = 99');
    db.close();
  });
  const garbage = withDb('garbage', (file) => fs.writeFileSync(file, 'this is not a database, it is a shopping list\n'.repeat(50)));
  const foreign = withDb('foreign', (file) => {
    const db = new Database(file);
    db.exec("CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT, status TEXT); INSERT INTO jobs (name, status) VALUES ('legacy', 'done')");
    db.close();
  });
  const almost = path.join(dir, 'almost-full');
  return {
    dir,
    configPath,
    roEmpty: startIn('mkdir -p "$D"; mount -t tmpfs -o ro,size=1m tmpfs "$D"', path.join(dir, 'ro-empty'), configPath),
    roUsed: startIn('mount --bind "$D" "$D"; mount -o remount,bind,ro "$D"', used, configPath),
    full: startIn('mkdir -p "$D"; mount -t tmpfs -o size=256k tmpfs "$D"; dd if=/dev/zero of="$D/filler" bs=4k 2>/dev/null || true', path.join(dir, 'full'), configPath),
    // Room for the console token, not for the database; then more room, and the same directory.
    recovering: SignoffChild.spawn({
      configPath,
      dataDir: almost,
      port: await freePort(),
      env: { D: almost },
      wrapper: namespaceWrapper('mkdir -p "$D"; mount -t tmpfs -o size=48k tmpfs "$D"; "$@" || echo "first start failed with $?"; mount -o remount,size=16m "$D"'),
    }),
    newer: { ...newer, run: startIn(undefined, newer.data, configPath) },
    garbage: { ...garbage, run: startIn(undefined, garbage.data, configPath) },
    foreign: { ...foreign, run: startIn(undefined, foreign.data, configPath) },
  };
}

let launched: Launched;
beforeAll(async () => {
  launched = await launchStartFailures();
});
afterAll(async () => {
  await launched?.recovering.kill('SIGKILL');
});

describe('a Slack click while another process holds the database', () => {
  it('is answered 503 within Slack\'s 3 s and changes nothing; once the lock is gone a click works', async () => {
    const h = await startSlackChild({ autoApprove: '1m' });
    try {
      const job = await h.submit('locked click');
      await waitFor(() => h.recorder.card(job, 'draft', 1), 'the draft card');
      const lock = lockFor(h.dbFile, 4_000);
      await lock.locked;
      const sent = Date.now();
      const refused = await h.click(job, 'draft', PEOPLE.alice);
      expect(refused.status, 'not stored, so not acknowledged').toBe(503);
      expect(Date.now() - sent, 'answered before Slack gives up').toBeLessThan(3_000);
      await lock.released;
      expect((await h.click(job, 'draft', PEOPLE.alice)).status).toBe(200);
      await waitFor(async () => (await h.events(job)).some((e) => e.type === 'gate.approved'), 'the second click to approve');
      const votes = (await h.events(job)).filter((e) => e.type === 'gate.voted');
      expect(votes, 'the refused click left no vote').toHaveLength(1);
    } finally {
      await h.stop();
    }
  });
});

describe('a Discord click while another process holds the database', () => {
  it('is answered within Discord\'s 3 s: busy, nothing changed, try again; once the lock is gone a click works', async () => {
    // The fake refuses an answer later than 3 s, as Discord does.
    const fake = await FakeDiscord.start({ ackDeadlineMs: 3_000 });
    const h = await startDiscordApp({ fake, yaml: discordConfigYaml() });
    try {
      const submitted = (await h.app.engine.submit({ platform: 'discord', user: ALICE_ID }, { pipeline: 'gated', brief: 'locked click', origin: { surface: 'discord', channel: CHANNEL_ID } }));
      if (!submitted.ok) throw new Error(submitted.message);
      const job = submitted.jobId;
      const posted = await postedGate(fake, job, 'outline');
      const click = () => fake.dispatchInteraction(fake.button({ custom_id: posted.buttons.Approve!.custom_id, message: posted.id, user: BOB_ID }));
      const lock = lockFor(path.join(h.dataDir, 'signoff.db'), 4_000);
      await lock.locked;
      const sent = Date.now();
      const busy = await click();
      expect(Date.now() - sent, 'answered before Discord gives up').toBeLessThan(3_000);
      expect(JSON.stringify(busy.data)).toMatch(/could not save that just now; nothing changed/);
      await lock.released;
      await click();
      await waitFor(async () => (await h.app.store.jobs.load(job))!.gates[0]!.state === 'approved', 'the second click to approve');
      expect((await h.app.store.jobs.load(job))!.gates[0]!.votes, 'the refused click left no vote').toHaveLength(1);
    } finally {
      await h.stop();
      await fake.close();
    }
  });
});

describe('a data directory signoff cannot use at start', () => {
  it('read-only, empty or already used: a clear error and exit code 2', async () => {
    const [a, b] = await Promise.all([launched.roEmpty, launched.roUsed]);
    for (const [what, r] of [['empty', a], ['used', b]] as const) {
      expect(r.exit.code, `${what}: ${r.output}`).toBe(2);
      expect(r.output, what).toMatch(/cannot be written \(.*(EROFS|read-only file system)/i);
      expect(r.output, what).toContain('SIGNOFF_DATA_DIR');
      expect(r.output, what).not.toContain('listening');
    }
  });

  it('full: a clear error and exit code 2; once there is room, it starts', async () => {
    const a = await launched.full;
    expect(a.exit.code, a.output).toBe(2);
    expect(a.output).toMatch(/ENOSPC|no space left/i);
    // Too small for the database: refused; the failed start left nothing half-made, so with
    // room the same directory works.
    const child = launched.recovering;
    await child.healthy(30_000);
    // SQLite's words depend on which write meets the limit (the lock file takes some room first).
    expect(child.output).toMatch(/Cannot open the database .*(database or disk is full|disk I\/O error)\. Check the disk has space/);
    expect(child.output).toContain('first start failed with 2');
    const r = await child.api('POST', '/jobs', { pipeline: 'p', brief: 'room at last' });
    expect(r.status).toBe(201);
  });
});

describe('database files from elsewhere', () => {
  it('refuses a newer schema, a file that is not a database and foreign tables, naming the file, and leaves each untouched', async () => {
    const { newer, garbage, foreign } = launched;
    const [n, g, f] = await Promise.all([newer.run, garbage.run, foreign.run]);
    expect(n.exit.code, n.output).toBe(2);
    expect(n.output).toContain(`has schema version 99, newer than this signoff knows (${MIGRATIONS.length}). Upgrade signoff or use another data directory.`);
    expect(g.exit.code, g.output).toBe(2);
    expect(g.output).toMatch(/Cannot open the database .*signoff\.db: file is not a database/);
    expect(f.exit.code, f.output).toBe(2);
    expect(f.output).toMatch(/The file .*signoff\.db is an SQLite database that signoff did not make/);
    for (const r of [n, g, f]) expect(r.output).not.toMatch(/\n\s+at /);
    // What they hold is untouched: the newer schema's version and tables, the legacy row.
    const read = (data: string, sql: string) => {
      const db = new Database(path.join(data, 'signoff.db'), { readonly: true });
      try {
        return db.prepare(sql).all();
      } finally {
        db.close();
      }
    };
    expect(read(newer.data, 'PRAGMA user_version')).toEqual([{ user_version: 99 }]);
    expect(read(newer.data, "SELECT name FROM sqlite_master WHERE type = 'table'")).toEqual([{ name: 'future_things' }]);
    expect(read(foreign.data, 'SELECT name, status FROM jobs')).toEqual([{ name: 'legacy', status: 'done' }]);
    // And so are their bytes: a file signoff refuses is not rewritten (e.g. switched to WAL) first.
    for (const x of [newer, garbage, foreign])
      expect.soft(fs.readFileSync(path.join(x.data, 'signoff.db')).equals(x.before), `${path.basename(x.data)}: the refused file was modified`).toBe(true);
  });

  it('takes an empty file as a new database', async () => {
    const data = path.join(launched.dir, 'empty-file');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'signoff.db'), '');
    const store = openStore(path.join(data, 'signoff.db'));
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect((await store.queries.activeCount())).toBe(0);
    } finally {
      store.close();
    }
  });

  it('migrates a database of the previous schema version, keeping its jobs', async () => {
    const data = path.join(launched.dir, 'older');
    fs.mkdirSync(data);
    const file = path.join(data, 'signoff.db');
    // A database as the first release left it: migration 1 only.
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!);
    old.pragma('user_version = 1');
    old.prepare(`INSERT INTO jobs (pipeline, brief, params, submitter, origin, targets, def, state, created_at, updated_at)
      VALUES ('p', 'kept across the upgrade', '{}', 'api', '{"surface":"api"}', '[]', '{"description":"","params":{},"stages":[]}', 'succeeded', 1, 1)`).run();
    old.close();
    const store = openStore(file);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'dedupe_by_time'").all()).toHaveLength(1);
      expect((await store.queries.list()).map((j) => j.brief)).toEqual(['kept across the upgrade']);
    } finally {
      store.close();
    }
  });
});
