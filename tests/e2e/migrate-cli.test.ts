/**
 * The PostgreSQL commands as an operator meets them, through real `node dist/main.js` child
 * processes and the tests' own PostgreSQL server: `migrate` refuses while signoff runs on the
 * directory and copies once it is stopped; `start` with SIGNOFF_DATABASE_URL runs on PostgreSQL,
 * or stops with exit 2 and what to do when it cannot connect; `check-config` names the store. No output ever shows
 * the password.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/store/postgres/connect.js';
import { postgresCount, postgresTables } from '../../src/store/postgres/describe.js';
import { QUICK_PIPELINE, tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { REPO, freePort, startSignoff, writeConfig } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const dirs: string[] = [];
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function dir(): string {
  const d = tempDir('signoff-pg-cli-');
  dirs.push(d);
  return d;
}

/** Runs `node dist/main.js ...args` to its end with only the environment given (plus PATH). */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(process.execPath, [path.join(REPO, 'dist', 'main.js'), ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', SIGNOFF_LOG_LEVEL: 'info', SIGNOFF_LOG_PRETTY: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function tables(url: string): Promise<Record<string, number>> {
  const p = createPool(url);
  pools.push(p);
  const out: Record<string, number> = {};
  for (const t of await postgresTables(p)) out[t] = await postgresCount(p, t);
  return out;
}

describe('signoff migrate (child process)', () => {
  it('refuses while signoff runs on the directory (exit 2, target untouched), then copies it once signoff is stopped', async () => {
    const data = dir();
    const config = writeConfig(dir(), QUICK_PIPELINE);
    const url = await freshDatabase();
    const password = new URL(url).password;
    const running = await startSignoff({ configPath: config, dataDir: data });
    for (const brief of ['A film about bees', 'A film about wasps']) expect((await running.api('POST', '/jobs', { pipeline: 'quick', brief })).status).toBe(201);

    const refused = await cli(['migrate', '--to', url, '--data-dir', data], {});
    expect(refused.code).toBe(2);
    expect(refused.out).toContain(`signoff migrate: A signoff is running with the data directory ${data}. Stop it first, then migrate`);
    expect(await tables(url)).toEqual({});

    // Killed, not stopped: the copy must read what is still only in SQLite's write-ahead log.
    await running.kill('SIGKILL');
    // The URL and the directory from the environment, as `signoff start` reads them.
    const copied = await cli(['migrate'], { SIGNOFF_DATABASE_URL: url, SIGNOFF_DATA_DIR: data });
    expect(copied.code, copied.out).toBe(0);
    expect(copied.out).toMatch(/Copied .*signoff\.db into postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+ in \d+ ms \(schema version \d+\):\n {2}jobs +2\n/);
    expect(copied.out).toContain('the last event id of each of 2 jobs');
    expect(copied.out).not.toContain(password);
    expect((await tables(url)).jobs).toBe(2);

    const again = await cli(['migrate', '--to', url, '--data-dir', data], {});
    expect(again.code).toBe(2);
    expect(again.out).toContain('is not empty: it already holds signoff data (jobs: 2,');
    expect(again.out).not.toContain(password);
  });

  it('answers a missing or wrong --to with usage and exit 2', async () => {
    const r = await cli(['migrate', '--to', 'mysql://root:pw@db/x', '--data-dir', dir()], {});
    expect(r.code).toBe(2);
    expect(r.out).toContain('--to (mysql://root:***@db/x) is not a PostgreSQL URL.');
    expect(r.out).toContain('usage: signoff migrate --to postgres://');
  });
});

describe('SIGNOFF_DATABASE_URL at start and in check-config (child process)', () => {
  it('start runs on PostgreSQL: makes the schema, says which store (redacted), keeps jobs and artifact contents there', async () => {
    const url = await freshDatabase();
    const password = new URL(url).password;
    const data = dir();
    const config = writeConfig(dir(), QUICK_PIPELINE);
    const signoff = await startSignoff({ configPath: config, dataDir: data, env: { SIGNOFF_DATABASE_URL: url, SIGNOFF_LOG_LEVEL: 'info' } });
    try {
      const created = await signoff.api('POST', '/jobs', { pipeline: 'quick', brief: 'A film about bees' });
      expect(created.status).toBe(201);
      await waitFor(async () => (await signoff.api('GET', `/jobs/${created.json.job.id}`)).json.state === 'awaiting_approval', 'the job to reach its first gate');
      expect(signoff.output()).toMatch(/Store: {2}PostgreSQL, postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+ {2}\(from SIGNOFF_DATABASE_URL\)\n/);
      expect(signoff.output()).toContain('Artifacts: in PostgreSQL, at most 104857600 bytes each  (SIGNOFF_MAX_ARTIFACT_BYTES)\n');
      expect(signoff.output()).not.toContain(password);
      expect((await tables(url)).jobs).toBe(1);
      expect(fs.existsSync(path.join(data, 'signoff.db'))).toBe(false);
      // The outline's contents are in the database; its scratch run directory went when the run ended.
      expect((await tables(url)).artifact_contents).toBeGreaterThan(0);
      expect(fs.existsSync(path.join(data, 'artifacts', String(created.json.job.id), 'outline', 'run-1'))).toBe(false);
    } finally {
      await signoff.kill('SIGTERM');
    }
  });

  it('start stops with exit 2 and what to do when the server is unreachable or refuses the password', async () => {
    const server = new URL(await freshDatabase());
    const nobody = new URL(server);
    nobody.port = String(await freePort());
    const unreachable = await cli(['start'], { SIGNOFF_DATABASE_URL: nobody.toString(), SIGNOFF_DATA_DIR: dir() });
    expect(unreachable.code).toBe(2);
    expect(unreachable.out).toMatch(/signoff: Cannot reach PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+ .*Check the host and port/);
    const wrong = new URL(server);
    wrong.password = 'wrong-password-7731';
    const refused = await cli(['start'], { SIGNOFF_DATABASE_URL: wrong.toString(), SIGNOFF_DATA_DIR: dir() });
    expect(refused.code).toBe(2);
    expect(refused.out).toContain('refused the credentials');
    for (const r of [unreachable, refused]) {
      expect(r.out).not.toContain(server.password);
      expect(r.out).not.toContain('wrong-password-7731');
    }
  });

  it('check-config names the store: the SQLite file, or PostgreSQL (redacted) and whether it can be used', async () => {
    const data = dir();
    const sqlite = await cli(['check-config'], { SIGNOFF_DATA_DIR: data });
    expect(sqlite.code).toBe(0);
    expect(sqlite.out).toContain(`Store: SQLite, ${path.join(data, 'signoff.db')}\n`);

    const url = await freshDatabase();
    const reachable = await cli(['check-config'], { SIGNOFF_DATABASE_URL: url });
    expect(reachable.code).toBe(0);
    expect(reachable.out).toMatch(/Store: PostgreSQL, postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+: reachable, schema version 0 of \d+\./);
    expect(reachable.out).not.toContain(new URL(url).password);

    const nobody = `postgres://signoff:s3cret-pw@127.0.0.1:${await freePort()}/signoff`;
    const unreachable = await cli(['check-config'], { SIGNOFF_DATABASE_URL: nobody });
    expect(unreachable.code).toBe(2);
    expect(unreachable.out).toContain('Store: PostgreSQL, postgres://signoff:***@127.0.0.1:');
    expect(unreachable.out).toContain('NOT usable (pg_unreachable)');
    expect(unreachable.out).not.toContain('s3cret-pw');
  });
});
