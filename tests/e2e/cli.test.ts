/**
 * The command line as an operator uses it: real `node dist/main.js` child processes (built by
 * `npm test`'s pretest), real data directories, a real port. Each test waits for what it needs
 * (exit, /healthz, a line on stdout) with a deadline, never for a fixed time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeSlack, FAKE_IDS } from '../helpers/fake-slack.js';
import { tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = path.join(ROOT, 'dist', 'main.js');
const BUNDLED_CONFIG = path.join(ROOT, 'conf', 'signoff.yaml');

interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (and its output streams are closed). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
  }
  children.clear();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = tempDir('signoff-cli-');
  dirs.push(dir);
  return dir;
}

/** Starts `node dist/main.js ...args` from the repository root with a test environment. */
function signoff(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      // Empty counts as unset for signoff, and keeps a developer's .env from filling it in.
      SIGNOFF_API_TOKEN: '',
      SIGNOFF_PORT: '0',
      SIGNOFF_HOST: '127.0.0.1',
      SIGNOFF_LOG_LEVEL: 'silent',
      SIGNOFF_LOG_PRETTY: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits for the process to exit by itself, failing (with its output) if it does not in time. */
async function exitOf(run: Run, timeoutMs = 20_000) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`signoff did not exit within ${timeoutMs} ms\nstdout: ${run.stdout()}\nstderr: ${run.stderr()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([run.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A port nothing listens on right now: listen on 0, read it, close. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** True when something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls GET /healthz until it answers 200; fails early, with the output, if signoff exits. */
async function healthy(run: Run, base: string): Promise<{ ok: boolean }> {
  return waitFor(async () => {
    if (run.child.exitCode !== null || run.child.signalCode !== null)
      throw new Error(`signoff exited (${run.child.exitCode ?? run.child.signalCode}) before answering /healthz\nstdout: ${run.stdout()}\nstderr: ${run.stderr()}`);
    try {
      const res = await fetch(`${base}/healthz`);
      return res.status === 200 ? ((await res.json()) as { ok: boolean }) : undefined;
    } catch {
      return undefined;
    }
  }, `${base}/healthz to answer 200`);
}

/** The token signoff prints on stdout when it generated (or reused) one. */
async function printedToken(run: Run): Promise<{ file: string; token: string }> {
  const match = await waitFor(() => /API token \(kept in (.+?)\): (\S+)/.exec(run.stdout()), 'the API token on stdout');
  return { file: match[1]!, token: match[2]! };
}

function get(base: string, route: string, token?: string) {
  return fetch(`${base}${route}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
}

/** Stops a running signoff with SIGTERM and returns how it exited. */
async function terminate(run: Run) {
  run.child.kill('SIGTERM');
  return exitOf(run);
}

function writeConfig(dir: string, text: string): string {
  const file = path.join(dir, 'signoff.yaml');
  fs.writeFileSync(file, text);
  return file;
}

/** A config with a typo on line 9: `aprovers` instead of `approvers`. */
const BAD_CONFIG = `operators:
  editors: { console: [alice] }
pipelines:
  demo:
    stages:
      - id: a
        run: { builtin: outline }
        gate:
          aprovers: [editors]
`;

describe('signoff check-config', () => {
  it('accepts the bundled configuration and lists its pipelines', async () => {
    const data = path.join(freshDir(), 'data');
    const run = signoff(['check-config'], { SIGNOFF_CONFIG: BUNDLED_CONFIG, SIGNOFF_DATA_DIR: data });
    const { code } = await exitOf(run);
    expect(code, run.stderr()).toBe(0);
    expect(run.stdout()).toContain(`${BUNDLED_CONFIG}: OK`);
    expect(run.stdout()).toMatch(/Pipelines: demo \(6 stages\)/);
    // Checking starts nothing: no data directory, no database.
    expect(fs.existsSync(data)).toBe(false);
  });

  it('accepts examples/deploy.yaml and lists both pipelines', async () => {
    const config = path.join(ROOT, 'examples', 'deploy.yaml');
    const run = signoff(['check-config'], { SIGNOFF_CONFIG: config, SIGNOFF_DATA_DIR: path.join(freshDir(), 'data') });
    expect((await exitOf(run)).code, run.stderr()).toBe(0);
    expect(run.stdout()).toMatch(/OK\. Pipelines: release \(4 stages\), story \(3 stages\)/);
  });

  it('refuses a bad file with exit 2, naming the file, the line and the path, and starts nothing', async () => {
    const dir = freshDir();
    const config = writeConfig(dir, BAD_CONFIG);
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    const run = signoff(['check-config'], { SIGNOFF_CONFIG: config, SIGNOFF_DATA_DIR: data });
    const { code } = await exitOf(run);
    expect(code).toBe(2);
    expect(run.stderr()).toContain(`${config}:9: pipelines.demo.stages[0].gate.aprovers: unknown key`);
    expect(run.stdout()).not.toMatch(/OK/);
    expect(fs.existsSync(path.join(data, 'signoff.db'))).toBe(false);
    expect(fs.readdirSync(data)).toEqual([]);
  });

  it('says how to fix a missing config file (SIGNOFF_CONFIG)', async () => {
    const missing = path.join(freshDir(), 'nowhere.yaml');
    const run = signoff(['check-config'], { SIGNOFF_CONFIG: missing, SIGNOFF_DATA_DIR: path.join(freshDir(), 'data') });
    expect((await exitOf(run)).code).toBe(2);
    expect(run.stderr()).toContain(missing);
    expect(run.stderr()).toContain('SIGNOFF_CONFIG');
  });
});

describe('signoff start', () => {
  it('with a bad config exits 2 by itself, creates no database and opens no port', async () => {
    const dir = freshDir();
    const config = writeConfig(dir, BAD_CONFIG);
    const data = path.join(dir, 'data');
    const port = await freePort();
    const run = signoff(['start'], { SIGNOFF_CONFIG: config, SIGNOFF_DATA_DIR: data, SIGNOFF_PORT: String(port) });
    const { code } = await exitOf(run);
    expect(code).toBe(2);
    expect(run.stderr()).toContain(`${config}:9: pipelines.demo.stages[0].gate.aprovers`);
    expect(run.stdout()).not.toMatch(/listening/);
    expect(fs.existsSync(path.join(data, 'signoff.db'))).toBe(false);
    expect(fs.existsSync(path.join(data, 'api-token'))).toBe(false);
    expect(await listening(port)).toBe(false);
  });

  it('with no command at all behaves as start (and a bad config still exits 2)', async () => {
    const dir = freshDir();
    const run = signoff([], { SIGNOFF_CONFIG: writeConfig(dir, BAD_CONFIG), SIGNOFF_DATA_DIR: path.join(dir, 'data') });
    expect((await exitOf(run)).code).toBe(2);
    expect(run.stderr()).toMatch(/aprovers: unknown key/);
  });

  // mkdir under a regular file fails with ENOTDIR, even for root.
  for (const tokenFromEnv of [false, true]) {
    it(`with an unusable data directory fails clearly (SIGNOFF_API_TOKEN ${tokenFromEnv ? 'set' : 'unset'})`, async () => {
      const dir = freshDir();
      const file = path.join(dir, 'a-file');
      fs.writeFileSync(file, 'not a directory\n');
      const data = path.join(file, 'data');
      const port = await freePort();
      const run = signoff(['start'], {
        SIGNOFF_CONFIG: BUNDLED_CONFIG,
        SIGNOFF_DATA_DIR: data,
        SIGNOFF_PORT: String(port),
        ...(tokenFromEnv ? { SIGNOFF_API_TOKEN: 'an-api-token-of-some-length' } : {}),
      });
      const { code } = await exitOf(run);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      const stderr = run.stderr();
      expect(stderr).toContain(data);
      expect(stderr).toMatch(/data directory/i);
      expect(stderr).toContain('SIGNOFF_DATA_DIR');
      // A clear message, not a stack trace.
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(await listening(port)).toBe(false);
    });
  }

  it('serves /healthz, generates and keeps the API token, stops on SIGTERM, and reuses the token', async () => {
    const data = path.join(freshDir(), 'data');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { SIGNOFF_CONFIG: BUNDLED_CONFIG, SIGNOFF_DATA_DIR: data, SIGNOFF_PORT: String(port) };

    const first = signoff(['start'], env);
    expect(await healthy(first, base)).toMatchObject({ ok: true });
    const { file, token } = await printedToken(first);
    const tokenFile = path.join(data, 'api-token');
    expect(path.resolve(file)).toBe(tokenFile);
    expect(fs.readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(token.length).toBeGreaterThanOrEqual(16);
    expect(fs.existsSync(path.join(data, 'signoff.db'))).toBe(true);
    expect(first.stdout()).toContain(`signoff is listening on ${base}`);

    const ok = await get(base, '/api/v1/jobs', token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ jobs: [] });
    expect((await get(base, '/api/v1/jobs', `${token}x`)).status).toBe(401);
    expect((await get(base, '/api/v1/jobs', 'wrong-token-wrong-token')).status).toBe(401);
    expect((await get(base, '/api/v1/jobs')).status).toBe(401);

    expect(await terminate(first)).toEqual({ code: 0, signal: null });
    expect(await listening(port)).toBe(false);

    const second = signoff(['start'], env);
    expect(await healthy(second, base)).toMatchObject({ ok: true });
    const again = await printedToken(second);
    expect(again.token).toBe(token);
    expect(fs.readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect((await get(base, '/api/v1/jobs', token)).status).toBe(200);
    expect(await terminate(second)).toEqual({ code: 0, signal: null });
  });

  it('never logs the API token from the environment, even at debug level', async () => {
    const data = path.join(freshDir(), 'data');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const token = `T0k-${Math.random().toString(36).slice(2, 10)}-secret!`.padEnd(20, 'z').slice(0, 20);
    expect(token).toHaveLength(20);
    const run = signoff(['start'], {
      SIGNOFF_CONFIG: BUNDLED_CONFIG,
      SIGNOFF_DATA_DIR: data,
      SIGNOFF_PORT: String(port),
      SIGNOFF_API_TOKEN: token,
      SIGNOFF_LOG_LEVEL: 'debug',
    });
    await healthy(run, base);

    // The token in a header, in ?access_token=, on a good request, a bad body and a job submission.
    expect((await get(base, '/api/v1/jobs', token)).status).toBe(200);
    expect((await fetch(`${base}/api/v1/jobs?access_token=${encodeURIComponent(token)}`)).status).toBe(200);
    expect((await fetch(`${base}/api/v1/config?access_token=${encodeURIComponent(token)}`)).status).toBe(200);
    const bad = await fetch(`${base}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"pipeline": ',
    });
    expect(bad.status).toBe(400);
    const submitted = await fetch(`${base}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-signoff-actor': 'console:alice' },
      body: JSON.stringify({ pipeline: 'demo', brief: 'a short video about tokens' }),
    });
    expect(submitted.status).toBe(201);
    expect((await get(base, '/api/v1/jobs', 'not-the-token-at-all')).status).toBe(401);

    expect((await terminate(run)).code).toBe(0);
    const output = run.stdout() + run.stderr();
    // Logging was on (so the check below means something), and the token is nowhere in it.
    expect(output).toMatch(/signoff is running/);
    expect(output).not.toContain(token);
    // An operator-supplied token is not printed either.
    expect(output).not.toMatch(/API token \(kept in/);
  });

  it('stops with a clear message, and no stack trace, when Slack cannot be reached at start', async () => {
    const run = signoff(['start'], {
      SIGNOFF_CONFIG: BUNDLED_CONFIG,
      SIGNOFF_DATA_DIR: path.join(freshDir(), 'data'),
      SLACK_BOT_TOKEN: 'xoxb-test-token',
      SLACK_SIGNING_SECRET: 'signing-secret-123',
      SLACK_API_URL: 'http://127.0.0.1:9/api/',
    });
    expect((await exitOf(run)).code).toBe(2);
    expect(run.stderr()).toMatch(/Slack did not accept SLACK_BOT_TOKEN or could not be reached/);
    expect(run.stderr()).toMatch(/unset SLACK_BOT_TOKEN to run without Slack/);
    expect(run.stderr()).not.toMatch(/\n\s+at /);
  });

  it('answers /healthz with 503 while Slack has not yet accepted the token, and 200 once it has', async () => {
    const fake = await FakeSlack.start();
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    let asked = false;
    fake.handle('auth.test', async () => {
      asked = true;
      await held;
      return { url: `https://${FAKE_IDS.teamDomain}.slack.com/`, team: FAKE_IDS.teamName, user: FAKE_IDS.botUserName, team_id: FAKE_IDS.team, user_id: FAKE_IDS.botUser, bot_id: FAKE_IDS.bot };
    });
    try {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const run = signoff(['start'], {
        SIGNOFF_CONFIG: BUNDLED_CONFIG,
        SIGNOFF_DATA_DIR: path.join(freshDir(), 'data'),
        SIGNOFF_PORT: String(port),
        SLACK_BOT_TOKEN: 'xoxb-test-token',
        SLACK_SIGNING_SECRET: 'signing-secret-123',
        SLACK_API_URL: fake.apiUrl,
      });
      const starting = await waitFor(async () => {
        if (!asked) return undefined;
        const res = await fetch(`${base}/healthz`).catch(() => undefined);
        return res && { status: res.status, body: (await res.json()) as { ok: boolean; starting?: boolean } };
      }, 'signoff to listen while auth.test is unanswered');
      expect(starting).toMatchObject({ status: 503, body: { ok: false, starting: true } });
      answer();
      expect(await healthy(run, base)).toMatchObject({ ok: true, surfaces: expect.arrayContaining(['slack']) });
      expect((await terminate(run)).code).toBe(0);
    } finally {
      answer();
      await fake.close();
    }
  });

  it('an unknown command exits 2 with a message', async () => {
    const run = signoff(['frobnicate'], { SIGNOFF_CONFIG: BUNDLED_CONFIG, SIGNOFF_DATA_DIR: path.join(freshDir(), 'data') });
    expect((await exitOf(run)).code).toBe(2);
    expect(run.stderr()).toMatch(/unknown command "frobnicate"/);
    expect(run.stderr()).toMatch(/start.*check-config/);
  });
});
