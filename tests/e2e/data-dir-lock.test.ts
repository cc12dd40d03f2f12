/**
 * One signoff per data directory: a second process on the same directory would run every stage
 * and post every message twice, so it is refused at start while the first keeps working; the
 * lock goes with the process however it ends, so a restart after kill -9 starts at once.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QUICK_PIPELINE, tempDir } from '../helpers/fixtures.js';
import { freePort, REPO, startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';

const running: SignoffProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.kill();
});

/** A second `node dist/main.js` on `dataDir`: its exit code and output. */
function second(configPath: string, dataDir: string): Promise<{ code: number | null; output: string }> {
  return freePort().then(
    (port) =>
      new Promise((resolve) => {
        let output = '';
        const p = spawn(process.execPath, [path.join(REPO, 'dist', 'main.js')], {
          cwd: REPO,
          env: { ...process.env, SIGNOFF_CONFIG: configPath, SIGNOFF_DATA_DIR: dataDir, SIGNOFF_PORT: String(port), SIGNOFF_API_TOKEN: 'second-token-0123456789', SIGNOFF_LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        p.stdout.on('data', (d) => (output += d));
        p.stderr.on('data', (d) => (output += d));
        p.on('exit', (code) => resolve({ code, output }));
      }),
  );
}

describe('one signoff per data directory', () => {
  it('refuses a second process on the same directory, keeps the first working, and frees the directory when the first is killed', async () => {
    const dir = tempDir();
    const configPath = writeConfig(dir, QUICK_PIPELINE);
    const dataDir = path.join(dir, 'data');
    const first = await startSignoff({ configPath, dataDir });
    running.push(first);

    const refused = await second(configPath, dataDir);
    expect(refused.code, refused.output).toBe(2);
    expect(refused.output).toContain(`Another signoff is already running with the data directory ${dataDir}`);
    expect(refused.output).not.toMatch(/\n\s+at /);
    // The first one did not notice.
    expect((await first.api('POST', '/jobs', { pipeline: 'quick', brief: 'still mine' })).status).toBe(201);

    // kill -9 leaves no stale lock: the next process starts on the same directory at once.
    await first.kill('SIGKILL');
    const next = await startSignoff({ configPath, dataDir });
    running.push(next);
    const { json } = await next.api('GET', '/jobs');
    expect(json.jobs.map((j: { brief: string }) => j.brief)).toContain('still mine');
  });
});
