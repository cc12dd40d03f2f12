/**
 * The console in real headless Chromium (found by tests/helpers/browser.ts, driven by playwright-core) against
 * signoff running as a real process: a person submits from the command box, watches the job,
 * is refused as a non-approver, approves, rejects with a reason, retries, sees optional gates
 * approve themselves, and ends with the artifacts listed. A screenshot is saved. On both stores:
 * the store decides what the page shows after every click, and the live updates come from its events.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConsole } from '../helpers/browser.js';
import { tempDir } from '../helpers/fixtures.js';
import { REPO, startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { STORES, storeEnv } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

const OUTPUT = path.join(REPO, 'test-output');
const CONFIG = `
operators:
  editors: { console: [alice, bob] }
  directors: { console: [carol] }
  viewers: { console: [dave] }
submitters: [editors, directors]
pipelines:
  demo:
    description: "Content pipeline with seconds-long timers"
    stages:
      - id: outline
        run: { builtin: outline, delay: 300ms }
        gate: { required: false, approvers: [editors], auto_approve_after: 2s }
      - id: script
        run: { builtin: script, delay: 300ms }
        gate: { required: true, approvers: [editors], allow_self_approval: false }
      - id: storyboard
        run: { builtin: storyboard, delay: 300ms }
        gate: { required: true, approvers: [editors, directors], min_approvals: 2 }
      - id: audio
        run: { builtin: audio }
        gate: { required: false, approvers: [editors], auto_approve_after: 2s }
      - id: render
        run: { builtin: render }
`;

let signoff: SignoffProcess;
let browser: Browser;
let page: Page;
let pageErrors: string[] = [];

async function actAs(user: string) {
  await page.selectOption('#acting-as', user);
}

async function command(text: string) {
  await page.fill('#command', text);
  await page.press('#command', 'Enter');
}

const gate = (job: number, stage: string, round = 1) => page.locator(`[data-gate="${job}:${stage}:${round}"]`);

async function lastPrivateAnswer() {
  const answer = page.locator('#private-answers .private-answer').last();
  await answer.waitFor();
  return { ok: await answer.getAttribute('data-ok'), text: (await answer.textContent()) ?? '' };
}

describe.each(STORES)('console in a real browser (%s)', (kind) => {
  beforeAll(async () => {
    const dir = tempDir('signoff-console-');
    signoff = await startSignoff({ configPath: writeConfig(dir, CONFIG), dataDir: path.join(dir, 'data'), env: await storeEnv(kind) });
    const consoleUrl = await waitFor(() => /Console: (\S+)/.exec(signoff.output())?.[1], 'the console URL on stdout');
    ({ browser, page, pageErrors } = await openConsole(consoleUrl));
  });

  afterAll(async () => {
    await browser?.close();
    await signoff?.kill('SIGTERM');
  });

  it('drives a job from the command box through every kind of gate to its artifacts', async () => {
    await actAs('alice');
    await command('/signoff submit demo A two-minute film about bees');
    const job = page.locator('[data-job="1"]');
    await job.waitFor();

    // The optional outline gate appears, then approves itself when its timer runs out.
    await gate(1, 'outline').waitFor();
    await gate(1, 'outline').locator('[data-action="hold"]').waitFor();
    await page.locator('[data-gate="1:outline:1"][data-state="approved"]').waitFor({ timeout: 20_000 });

    // The required script gate: a viewer is refused, the submitter may not approve her own job.
    await gate(1, 'script').locator('[data-action="approve"]').waitFor();
    await actAs('dave');
    const countBefore = await page.locator('#private-answers .private-answer').count();
    await gate(1, 'script').locator('[data-action="approve"]').click();
    await waitFor(async () => (await page.locator('#private-answers .private-answer').count()) > countBefore, 'the refusal');
    expect(await lastPrivateAnswer()).toMatchObject({ ok: 'false', text: expect.stringContaining('may not decide') });
    await actAs('alice');
    await gate(1, 'script').locator('[data-action="approve"]').click();
    await waitFor(async () => (await lastPrivateAnswer()).text.includes('needs someone else'), 'the self-approval refusal');
    expect(await gate(1, 'script').getAttribute('data-state')).toBe('pending');

    // Bob rejects with a reason through the dialog; the job is rejected.
    await actAs('bob');
    await gate(1, 'script').locator('[data-action="reject"]').click();
    await page.locator('#reject-dialog textarea[name="reason"]').fill('Make it funnier');
    await page.locator('#reject-dialog [data-action="confirm-reject"]').click();
    await page.locator('[data-gate="1:script:1"][data-state="rejected"]').waitFor();
    await page.locator('[data-job="1"][data-state="rejected"]').waitFor();
    expect(await gate(1, 'script').locator('[data-action]').count()).toBe(0);

    // Retry from the command box: the script is redone and its gate opens again as round 2.
    await actAs('alice');
    await command('/signoff retry 1');
    await gate(1, 'script', 2).locator('[data-action="approve"]').waitFor();
    expect(await gate(1, 'script', 2).textContent()).toContain('Make it funnier');
    await actAs('bob');
    await gate(1, 'script', 2).locator('[data-action="approve"]').click();
    await page.locator('[data-gate="1:script:2"][data-state="approved"]').waitFor();

    // Storyboard needs two approvers; the card shows the tally.
    await gate(1, 'storyboard').locator('[data-action="approve"]').click();
    await waitFor(async () => ((await gate(1, 'storyboard').textContent()) ?? '').includes('1 of 2'), 'the 1-of-2 tally');
    await actAs('carol');
    await gate(1, 'storyboard').locator('[data-action="approve"]').click();
    await page.locator('[data-gate="1:storyboard:1"][data-state="approved"]').waitFor();

    // The audio gate approves itself; the job finishes with its artifacts listed.
    await page.locator('[data-gate="1:audio:1"][data-state="approved"]').waitFor({ timeout: 20_000 });
    await page.locator('[data-job="1"][data-state="succeeded"]').waitFor({ timeout: 20_000 });
    const links = await job.locator('a[href*="/console/api/artifacts/"]').allTextContents();
    for (const name of ['outline.md', 'script.md', 'storyboard.svg', 'narration.wav', 'final.html']) expect(links.join(' ')).toContain(name);
    await page.locator('[data-timeline="1"]').waitFor();

    fs.mkdirSync(OUTPUT, { recursive: true });
    const shot = path.join(OUTPUT, kind === 'sqlite' ? 'console.png' : `console-${kind}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    expect(pageErrors).toEqual([]);
  });

  it('answers a bad command privately with its usage and changes nothing', async () => {
    await actAs('alice');
    const before = await page.locator('#private-answers .private-answer').count();
    await command('/signoff status banana');
    await waitFor(async () => (await page.locator('#private-answers .private-answer').count()) > before, 'the answer');
    const answer = await lastPrivateAnswer();
    expect(answer.ok).toBe('false');
    expect(answer.text).toContain('is not a job id');
    const { json } = await signoff.api('GET', '/jobs');
    expect(json.jobs).toHaveLength(1);
  });
});
