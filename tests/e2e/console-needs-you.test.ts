/**
 * "Needs you" in the console, in real headless Chromium against signoff as a real process: the
 * person acting sees how many open gates wait for their decision (a badge in the top bar, a mark
 * on each such card); a viewer, the submitter barred from approving, and someone who already
 * approved see none. `/signoff pending` lists the same gates with their anchors.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openConsole } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const CONFIG = `
operators:
  editors: { console: [alice, bob] }
  directors: { console: [carol] }
  viewers: { console: [dave] }
submitters: [editors, directors]
pipelines:
  review:
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { required: true, approvers: [editors, directors], min_approvals: 2 }
      - id: done
        run: { builtin: script }
`;

let signoff: SignoffProcess;
let browser: Browser;
let page: Page;
let pageErrors: string[] = [];

beforeAll(async () => {
  const dir = tempDir('signoff-console-needs-you-');
  signoff = await startSignoff({ configPath: writeConfig(dir, CONFIG), dataDir: path.join(dir, 'data') });
  const consoleUrl = await waitFor(() => /Console: (\S+)/.exec(signoff.output())?.[1], 'the console URL on stdout');
  ({ browser, page, pageErrors } = await openConsole(consoleUrl));
});

afterAll(async () => {
  await browser?.close();
  await signoff?.kill('SIGTERM');
});

const actAs = (user: string) => page.selectOption('#acting-as', user);
const badge = () => page.locator('#needs-you');
const card = (job: number, stage: string) => page.locator(`[data-gate="${job}:${stage}:1"]`);

async function command(text: string) {
  await page.fill('#command', text);
  await page.press('#command', 'Enter');
}

describe('console: needs you', () => {
  it('shows the badge and marks the card for an approver, not for a viewer, the submitter or once they voted', async () => {
    await actAs('alice');
    await command('/signoff submit review Check the launch copy');
    await card(1, 'draft').waitFor();
    // alice submitted it and may not approve her own job: nothing waits for her.
    await expect.poll(() => badge().isHidden()).toBe(true);

    await actAs('bob');
    await expect.poll(() => badge().textContent()).toBe('1 needs you');
    await expect.poll(() => card(1, 'draft').locator('.needs-you-pill').count()).toBe(1);
    expect(await card(1, 'draft').evaluate((el) => el.classList.contains('needs-you'))).toBe(true);
    expect(await card(1, 'draft').getAttribute('id')).toBe('job-1-gate-draft-1');

    await actAs('dave');
    await expect.poll(() => badge().isHidden()).toBe(true);
    expect(await card(1, 'draft').locator('.needs-you-pill').count()).toBe(0);

    // carol (a director) sees it too; after her approval (1 of 2) it no longer waits for her, but still for bob.
    await actAs('carol');
    await expect.poll(() => badge().textContent()).toBe('1 needs you');
    await command('/signoff pending');
    await expect.poll(async () => (await page.locator('.private-answer').last().textContent()) ?? '').toContain('#job-1-gate-draft-1');
    await card(1, 'draft').getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => badge().isHidden()).toBe(true);
    await actAs('bob');
    await expect.poll(() => badge().textContent()).toBe('1 needs you');
    await card(1, 'draft').getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => badge().isHidden()).toBe(true);
    expect(await card(1, 'draft').locator('.needs-you-pill').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
