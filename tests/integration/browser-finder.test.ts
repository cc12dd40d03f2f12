/**
 * How the browser tests find a Chromium (tests/helpers/browser.ts). The launch itself is
 * exercised by tests/e2e/console.test.ts; here, the choices and the failure messages.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/fixtures.js';

describe('findChromium', () => {
  it('takes SIGNOFF_CHROMIUM as it is when it is an executable file', async () => {
    const file = path.join(tempDir('signoff-browser-'), 'my-chrome');
    fs.writeFileSync(file, '#!/bin/sh\n', { mode: 0o755 });
    expect(await findChromium({ SIGNOFF_CHROMIUM: file, CHROMIUM_PATH: '/nowhere' })).toMatchObject({ executablePath: file, source: 'SIGNOFF_CHROMIUM' });
    expect(await findChromium({ CHROMIUM_PATH: file })).toMatchObject({ executablePath: file, source: 'CHROMIUM_PATH' });
  });

  it('fails, naming the variable and what to install, when it points at nothing usable', async () => {
    const dir = tempDir('signoff-browser-');
    await expect(findChromium({ SIGNOFF_CHROMIUM: path.join(dir, 'missing') })).rejects.toThrow(/SIGNOFF_CHROMIUM=.*missing is not an executable file.*apt-get install chromium/);
    // A directory, or a binary hidden behind /dev/null, is not a browser either.
    await expect(findChromium({ CHROMIUM_PATH: dir })).rejects.toThrow(/CHROMIUM_PATH=/);
    await expect(findChromium({ CHROMIUM_PATH: '/dev/null' })).rejects.toThrow(/CHROMIUM_PATH=\/dev\/null is not an executable file/);
  });

  it('finds one with nothing set: the system one, or the one npm brought', async () => {
    const found = await findChromium({ PATH: process.env.PATH ?? '' });
    expect(fs.statSync(found.executablePath).isFile()).toBe(true);
    expect(found.source).toMatch(/^(system|@sparticuz\/chromium)/);
  });
});
