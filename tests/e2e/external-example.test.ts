/**
 * The example a newcomer runs (examples/external-ci.yaml): a real signoff process whose middle
 * stage hands off to a background script standing in for CI; the script reports progress and a
 * heartbeat and completes with artifacts through `signoff run`; then a person signs off.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Json } from '../helpers/api-client.js';
import { tempDir } from '../helpers/fixtures.js';
import { REPO, startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

let p: SignoffProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  await p?.kill();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('examples/external-ci.yaml', () => {
  it('builds on the stand-in CI, shows its progress, keeps its artifacts, and waits for sign-off', async () => {
    dir = tempDir('signoff-ext-example-');
    // The example as shipped, with the CI's pretend work made quick.
    const yaml = fs.readFileSync(path.join(REPO, 'examples', 'external-ci.yaml'), 'utf8').replace('DEMO_STEP_SECONDS: "3"', 'DEMO_STEP_SECONDS: "0.5"');
    expect(yaml).toContain('DEMO_STEP_SECONDS: "0.5"');
    p = await startSignoff({ configPath: writeConfig(dir, yaml), dataDir: path.join(dir, 'data'), env: { TMPDIR: dir } });
    const submitted = await p.api('POST', '/jobs', { pipeline: 'ci', brief: 'Fix the login timeout' }, { 'x-signoff-actor': 'console:alice' });
    expect(submitted.status).toBe(201);
    const id = submitted.json.job.id as number;
    const atGate: Json = await waitFor(async () => {
      const j = (await p!.api('GET', `/jobs/${id}`)).json;
      if (j.state === 'failed') throw new Error(`the job failed: ${j.error}`);
      return j.state === 'awaiting_approval' && j;
    }, 'the job to wait for sign-off after the CI build', 30_000);
    const build = atGate.stages.find((s: Json) => s.id === 'build');
    expect(build).toMatchObject({ state: 'succeeded', summary: 'CI build passed (42 tests)' });
    const names = atGate.artifacts.filter((a: Json) => a.stage === 'build').map((a: Json) => a.name).sort();
    expect(names).toEqual(['app.tar.gz', 'build.log', 'test-report.txt', 'version.txt']);
    const events = (await p.api('GET', `/jobs/${id}/events`)).json.events as Json[];
    const progress = events.filter((e) => e.type === 'stage.progress' && e.stage === 'build').map((e) => e.message);
    expect(progress).toEqual(['waiting for an external system', 'CI: compiling', 'CI: running tests']);

    expect((await p.api('POST', `/jobs/${id}/gates/build/approve`, {}, { 'x-signoff-actor': 'console:bob' })).status).toBe(200);
    const done: Json = await waitFor(async () => {
      const j = (await p!.api('GET', `/jobs/${id}`)).json;
      return j.state === 'succeeded' && j;
    }, 'the job to be published');
    expect(done.stages.find((s: Json) => s.id === 'publish').summary).toMatch(/^published app 1\.0\.\d+$/);
  });
});
