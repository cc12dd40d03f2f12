/**
 * Reviewing a redo in the console, in real headless Chromium against signoff as a real process
 * (a command stage whose output depends on SIGNOFF_REDO_REASON): the round-2 card shows what
 * changed since the rejected round, with the changed words highlighted and the image before and
 * after; an approver types a note next to Approve and it shows, as plain text, on the card.
 * The browser is found by tests/helpers/browser.ts, as for console.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openConsole } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { redoPipelines } from '../helpers/redo-pipeline.js';
import { REPO, startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const OUTPUT = path.join(REPO, 'test-output');
const CONFIG = `
operators:
  editors: { console: [alice, bob] }
submitters: [editors]
pipelines:${redoPipelines()}
`;

let signoff: SignoffProcess;
let browser: Browser;
let page: Page;
let pageErrors: string[] = [];

beforeAll(async () => {
  const dir = tempDir('signoff-console-diff-');
  signoff = await startSignoff({ configPath: writeConfig(dir, CONFIG), dataDir: path.join(dir, 'data') });
  const consoleUrl = await waitFor(() => /Console: (\S+)/.exec(signoff.output())?.[1], 'the console URL on stdout');
  ({ browser, page, pageErrors } = await openConsole(consoleUrl));
});

afterAll(async () => {
  await browser?.close();
  await signoff?.kill('SIGTERM');
});

const actAs = (user: string) => page.selectOption('#acting-as', user);
async function command(text: string) {
  await page.fill('#command', text);
  await page.press('#command', 'Enter');
}
const gate = (job: number, stage: string, round = 1) => page.locator(`[data-gate="${job}:${stage}:${round}"]`);

describe('console: reviewing a redo', () => {
  it('shows the diff since the rejected round and takes an approval note', async () => {
    await actAs('alice');
    await command('/signoff submit redo A film about bees');
    await gate(1, 'write').and(page.locator('[data-state="pending"]')).waitFor();
    expect(await gate(1, 'write').locator('.round-diff').count()).toBe(0);

    await actAs('bob');
    await gate(1, 'write').locator('button[data-action="reject"]').click();
    await page.fill('#reject-reason', 'make the ending shorter');
    await page.locator('[data-action="confirm-reject"]').click();
    await gate(1, 'write').and(page.locator('[data-state="rejected"]')).waitFor();
    await actAs('alice');
    await command('/signoff retry 1');

    const card = gate(1, 'write', 2);
    await card.and(page.locator('[data-state="pending"]')).waitFor();
    await expect.poll(() => card.locator('.diff-summary').textContent()).toBe(
      'Changes since round 1: data.bin changed; frame.svg changed; +1 −1 lines in script.md; sound.wav unchanged; write.log unchanged');
    await expect.poll(() => card.locator('.redo-reason').textContent()).toBe('Redo asked for: make the ending shorter');
    const script = card.locator('.diff-file[data-file="script.md"]');
    // Unified, with the changed words marked inside the changed lines.
    expect(await script.locator('.diff-del').textContent()).toBe('-The end comes slowly, over many long and winding minutes.');
    expect((await script.locator('.diff-del del').allTextContents()).join(' ')).toContain('winding');
    expect(await script.locator('.diff-add').textContent()).toBe('+The end. <!here> @everyone **bold**');
    expect((await script.locator('.diff-add ins').allTextContents()).join(' ')).toContain('<!here>');
    // Text from the files is shown as typed: no markup is made from it.
    expect(await card.locator('.round-diff b, .round-diff strong:not(:first-child), .round-diff a').count()).toBe(0);
    // The image before and after, both loaded from the artifacts.
    const images = card.locator('.diff-file[data-file="frame.svg"] .diff-image img');
    expect(await images.count()).toBe(2);
    await expect.poll(() => images.evaluateAll((els) => els.every((e) => (e as unknown as { complete: boolean; naturalWidth: number }).complete && (e as unknown as { complete: boolean; naturalWidth: number }).naturalWidth > 0))).toBe(true);
    expect(await card.locator('.diff-file[data-file="frame.svg"] figcaption').allTextContents()).toEqual(['before', 'after']);
    expect(await card.locator('.diff-file[data-file="data.bin"] .diff-binary').textContent()).toMatch(/^3 B · sha256 [0-9a-f]{12} → 4 B · sha256 [0-9a-f]{12}$/);
    expect(await card.locator('.diff-file[data-file="sound.wav"]').count()).toBe(0);

    fs.mkdirSync(OUTPUT, { recursive: true });
    await card.screenshot({ path: path.join(OUTPUT, 'console-round-diff.png') });

    // A note next to Approve, with markup and a mention that must stay text.
    await actAs('bob');
    const note = 'fine, but check the intro timing <b>now</b> @everyone';
    await card.locator('.approve-note').fill(note);
    await card.locator('button[data-action="approve"]').click();
    await card.and(page.locator('[data-state="approved"]')).waitFor();
    await expect.poll(() => card.locator('.outcome-reason').textContent()).toBe(`“${note}”`);
    expect(await card.locator('.outcome-label').textContent()).toBe('Approved by bob');
    expect(await card.locator('.outcome b').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
