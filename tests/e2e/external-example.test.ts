/**
 * The example a newcomer runs (examples/external-ci.yaml), watched in the console in real
 * headless Chromium: a real signoff process whose middle stage hands off to a background script
 * standing in for CI; the script reports progress and a heartbeat and completes with artifacts
 * through `signoff run`; the console shows the wait, then the gate card, and a person signs off.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Json } from '../helpers/api-client.js';
import { tempDir } from '../helpers/fixtures.js';
import { REPO, startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

let p: SignoffProcess | undefined;
let browser: Browser | undefined;
let dir: string | undefined;
afterEach(async () => {
  await browser?.close();
  await p?.kill();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('examples/external-ci.yaml', () => {
  it('builds on the stand-in CI, shows the wait and the results in the console, and waits for sign-off', async () => {
    dir = tempDir('signoff-ext-example-');
    // The example as shipped, with the CI's pretend work made quicker.
    const yaml = fs.readFileSync(path.join(REPO, 'examples', 'external-ci.yaml'), 'utf8').replace('DEMO_STEP_SECONDS: "3"', 'DEMO_STEP_SECONDS: "1"');
    expect(yaml).toContain('DEMO_STEP_SECONDS: "1"');
    p = await startSignoff({ configPath: writeConfig(dir, yaml), dataDir: path.join(dir, 'data'), env: { TMPDIR: dir } });
    const consoleUrl = await waitFor(() => /Console: (\S+)/.exec(p!.output())?.[1], 'the console URL on stdout');
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(consoleUrl);
    await page.locator('#connection[data-state="open"]').waitFor();
    await page.selectOption('#acting-as', 'alice');
    await page.fill('#command', '/signoff submit ci Fix the login timeout');
    await page.press('#command', 'Enter');

    // While CI works, the status block says the build waits for an external system.
    const job = page.locator('[data-job="1"]');
    await job.locator('.stage-note', { hasText: /waiting for an external system · last sign of life/ }).waitFor({ timeout: 20_000 });
    // Then the gate card for the build, which alice (the submitter) may not approve; bob does.
    const approve = page.locator('[data-gate="1:build:1"] [data-action="approve"]');
    await approve.waitFor({ timeout: 30_000 });
    const atGate = (await p.api('GET', '/jobs/1')).json as Json;
    const build = atGate.stages.find((s: Json) => s.id === 'build');
    expect(build).toMatchObject({ state: 'succeeded', summary: 'CI build passed (42 tests)' });
    const names = atGate.artifacts.filter((a: Json) => a.stage === 'build').map((a: Json) => a.name).sort();
    expect(names).toEqual(['app.tar.gz', 'build.log', 'test-report.txt', 'version.txt']);
    const events = (await p.api('GET', '/jobs/1/events')).json.events as Json[];
    const progress = events.filter((e) => e.type === 'stage.progress' && e.stage === 'build').map((e) => e.message);
    expect(progress).toEqual(['waiting for an external system', 'CI: compiling', 'CI: running tests']);
    expect(await page.locator('body').innerText()).toContain('test-report.txt');

    await page.selectOption('#acting-as', 'bob');
    await approve.click();
    await page.locator('[data-job="1"][data-state="succeeded"]').waitFor({ timeout: 20_000 });
    const done = (await p.api('GET', '/jobs/1')).json as Json;
    expect(done.stages.find((s: Json) => s.id === 'publish').summary).toMatch(/^published app 1\.0\.\d+$/);
  });
});
