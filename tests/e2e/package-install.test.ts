/**
 * The installed package, as a team that wants the bot and not the source gets it: `npm pack`,
 * `npm install -g --prefix <temp> <tgz>`, then the `signoff` command in an empty directory far
 * from this repository: `init`, `check-config`, `start`, and a job submitted through the API
 * that runs its first stage, passes a gate and goes on. The console's page and scripts are
 * served from the installed package.
 *
 * Packing skips `prepack` (a rebuild of dist/ while other test files run dist/main.js would pull
 * files from under them): `npm test` built dist/ just before. Installing takes the dependencies
 * from npm's cache where `npm ci` left them (`--prefer-offline`) and the registry for the rest;
 * on Node 20 it also compiles better-sqlite3 12 (about a minute here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { REPO, freePort } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const INSTALL_TIMEOUT_MS = 8 * 60_000;
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };

/** The environment of an outside user: none of this test run's signoff or npm-script settings. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(SIGNOFF_|SLACK_|DISCORD_|npm_package_|npm_lifecycle_)/.test(k) && !['npm_config_prefix', 'npm_config_global', 'npm_config_local_prefix', 'INIT_CWD'].includes(k),
    ),
  );
  return { ...env, ...extra };
}

interface Done {
  code: number | null;
  out: string;
  err: string;
}

/** Runs a command to its end, failing with its output if it takes longer than `timeoutMs`. */
function run(cmd: string, args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Done> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} took longer than ${o.timeoutMs ?? 60_000} ms\n${out}\n${err}`));
    }, o.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

let work: string;
let tarball: string;
let packed: string[];
let signoffBin: string;
let project: string;
let server: ChildProcess | undefined;
let installSeconds = 0;

beforeAll(async () => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` (npm test does it first).');
  work = tempDir('signoff-package-');
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: REPO });
  expect(pack.code, pack.err).toBe(0);
  const [info] = JSON.parse(pack.out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(work, info!.filename);
  packed = info!.files.map((f) => f.path);

  const prefix = path.join(work, 'prefix');
  const started = Date.now();
  const install = await run('npm', ['install', '--global', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: work, timeoutMs: INSTALL_TIMEOUT_MS });
  installSeconds = (Date.now() - started) / 1000;
  expect(install.code, `${install.out}\n${install.err}`).toBe(0);
  signoffBin = path.join(prefix, 'bin', 'signoff');
  project = path.join(work, 'my-team');
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const gone = new Promise((r) => server!.once('exit', r));
    server.kill('SIGKILL');
    await gone;
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds what runs and nothing else, and builds itself when packed', () => {
    expect(tarball).toMatch(new RegExp(`signoff-${pkg.version.replaceAll('.', '\\.')}\\.tgz$`));
    for (const file of ['package.json', 'README.md', '.env.example', 'bin/signoff.js', 'dist/main.js', 'dist/cli/init.js', 'conf/signoff.yaml', 'src/bot/console/public/index.html', 'src/bot/console/public/main.js'])
      expect(packed, file).toContain(file);
    expect(packed.filter((f) => /^(tests|bench|docs|examples|\.ci)\//.test(f) || f.endsWith('.ts') || f.endsWith('.map'))).toEqual([]);
    expect(pkg.scripts.prepack).toMatch(/npm run build/);
  });

  it('installs a signoff command that knows its version and its commands', async () => {
    // The command is the installed copy, not this repository.
    expect(fs.realpathSync(signoffBin).startsWith(fs.realpathSync(work))).toBe(true);
    process.stdout.write(`package-install: npm install -g of the packed tarball took ${installSeconds.toFixed(0)} s\n`);
    const version = await run(signoffBin, ['--version'], { cwd: work });
    expect(version).toMatchObject({ code: 0, out: `signoff ${pkg.version}\n` });
    const help = await run(signoffBin, ['--help'], { cwd: work });
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/init \[dir\]/);
    expect(help.out).toMatch(/--config FILE/);
  });

  it('init writes a starter config that check-config accepts, from the current directory', async () => {
    const init = await run(signoffBin, ['init', 'my-team'], { cwd: work });
    expect(init.code, init.err).toBe(0);
    expect(init.out).toContain(`wrote ${path.join(project, 'signoff.yaml')}`);
    expect(init.out).toMatch(/Next steps:/);
    expect(fs.readFileSync(path.join(project, '.env.example'), 'utf8')).toMatch(/SLACK_BOT_TOKEN=/);

    const check = await run(signoffBin, ['check-config'], { cwd: project });
    expect(check.code, check.err).toBe(0);
    expect(check.out).toContain(`Config: ${path.join(project, 'signoff.yaml')}  (from ./signoff.yaml in the current directory)`);
    expect(check.out).toMatch(/OK\. Pipelines: demo \(6 stages\)/);
  });

  it('start serves the console from the installed package and runs a job submitted through the API', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = spawn(signoffBin, ['start'], { cwd: project, env: userEnv({ SIGNOFF_PORT: String(port), SIGNOFF_LOG_LEVEL: 'warn' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    server.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    server.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const [, token] = await waitFor(() => {
      if (server!.exitCode !== null) throw new Error(`signoff exited (${server!.exitCode}):\n${out}`);
      return /API token \(kept in .+?\): (\S+)/.exec(out);
    }, 'the API token on stdout', 30_000);
    const consoleUrl = await waitFor(() => /Console: (\S+)/.exec(out)?.[1], 'the console URL');
    expect(out).toContain(`Data:   ${path.join(project, 'data')}  (from ./data in the current directory)`);
    expect(fs.existsSync(path.join(project, 'data', 'signoff.db'))).toBe(true);

    const page = await fetch(consoleUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script[^>]+main\.js/);
    expect((await fetch(`${base}/console/main.js`)).status).toBe(200);

    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const submitted = await fetch(`${base}/api/v1/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ pipeline: 'demo', brief: 'A two-minute film about bees' }) });
    expect(submitted.status).toBe(201);
    const { id } = ((await submitted.json()) as { job: { id: number } }).job;
    const job = async () => (await (await fetch(`${base}/api/v1/jobs/${id}`, { headers: auth })).json()) as { state: string; stages: Array<{ id: string; state: string }>; artifacts: Array<{ stage: string; url: string }> };

    const outlined = await waitFor(async () => {
      const j = await job();
      return j.stages[0]?.state === 'succeeded' && j.artifacts.some((a) => a.stage === 'outline') && j;
    }, 'the outline stage to succeed with its artifact', 30_000);
    const artifact = await fetch(`${base}${outlined.artifacts.find((a) => a.stage === 'outline')!.url}`, { headers: auth });
    expect(artifact.status).toBe(200);
    expect(await artifact.text()).toMatch(/bees/i);

    const approved = await fetch(`${base}/api/v1/jobs/${id}/gates/outline/approve`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(approved.status).toBe(200);
    await waitFor(async () => ['running', 'succeeded'].includes((await job()).stages[1]?.state ?? ''), 'the script stage to start after the approval', 30_000);

    const exited = new Promise<number | null>((r) => server!.once('exit', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
