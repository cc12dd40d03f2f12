/**
 * The one place the browser tests find a Chromium, so that `npm ci && npm test` passes on a
 * machine where nobody installed a browser by hand. In order:
 *   1. `SIGNOFF_CHROMIUM` (or `CHROMIUM_PATH`) when set: that binary and nothing else, so a
 *      typo is an error rather than a silent fallback; `SIGNOFF_CHROMIUM=npm` skips straight
 *      to 3 (CI uses it to prove the npm browser on a machine that has a system one);
 *   2. a system Chrome or Chromium (Debian's `/usr/bin/chromium`, one on PATH, macOS apps);
 *   3. the Chromium that the dev dependency `@sparticuz/chromium` carries inside its npm
 *      package (Linux x64), unpacked to the temp directory on first use.
 * When none can be had the launch fails with a message saying what to install; it never skips.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Which Chromium was found, and the flags it needs. */
export interface FoundChromium {
  executablePath: string;
  args: string[];
  /** Where it came from, for the failure message and for a reader of the test output. */
  source: string;
  /** Extra environment for the browser process. */
  env?: Record<string, string>;
}

// No network, no first-run dialogs, no background updates: tests talk to 127.0.0.1 only.
const QUIET_FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps'];

const SYSTEM_PATHS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];
const PATH_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'];

const INSTALL_HINT =
  'Install one of: Chromium or Google Chrome from your system (Debian/Ubuntu: `apt-get install chromium`), ' +
  'or set SIGNOFF_CHROMIUM=/path/to/chrome. On Linux x64 `npm ci` also brings one in @sparticuz/chromium.';

/** A regular, executable file: a path hidden behind /dev/null or a directory does not count. */
function runnable(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean))
    for (const name of PATH_NAMES) {
      const file = path.join(dir, name);
      if (runnable(file)) return file;
    }
  return undefined;
}

/** The npm-shipped Chromium, or why it cannot be used here. */
async function fromNpm(): Promise<FoundChromium | string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `@sparticuz/chromium carries a Linux x64 build only (this is ${process.platform} ${process.arch})`;
  let pkg: typeof import('@sparticuz/chromium').default;
  try {
    pkg = (await import('@sparticuz/chromium')).default;
  } catch (err) {
    return `@sparticuz/chromium is not installed (${(err as Error).message}); run \`npm ci\``;
  }
  try {
    const executablePath = await pkg.executablePath();
    // A machine without fontconfig of its own renders with the fonts the package unpacked.
    const fonts = path.join(os.tmpdir(), 'fonts');
    const env = !fs.existsSync('/etc/fonts/fonts.conf') && fs.existsSync(path.join(fonts, 'fonts.conf')) ? { FONTCONFIG_PATH: fonts } : undefined;
    return { executablePath, args: [...pkg.args, ...QUIET_FLAGS], source: `@sparticuz/chromium (unpacked to ${executablePath})`, ...(env ? { env } : {}) };
  } catch (err) {
    return `@sparticuz/chromium could not unpack its browser (${(err as Error).message}); delete ${path.join(os.tmpdir(), 'chromium')} and retry`;
  }
}

/** Finds a Chromium as the module comment says, or throws an error saying what to install. */
export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<FoundChromium> {
  if (env.SIGNOFF_CHROMIUM === 'npm') {
    const npm = await fromNpm();
    if (typeof npm === 'string') throw new Error(`SIGNOFF_CHROMIUM=npm, but ${npm}. ${INSTALL_HINT}`);
    return npm;
  }
  for (const name of ['SIGNOFF_CHROMIUM', 'CHROMIUM_PATH'] as const) {
    const file = env[name];
    if (!file) continue;
    if (!runnable(file)) throw new Error(`${name}=${file} is not an executable file. Point it at a Chrome or Chromium binary, or unset it. ${INSTALL_HINT}`);
    return { executablePath: file, args: QUIET_FLAGS, source: name };
  }
  const system = SYSTEM_PATHS.find(runnable) ?? onPath();
  if (system) return { executablePath: system, args: QUIET_FLAGS, source: `system (${system})` };
  const npm = await fromNpm();
  if (typeof npm !== 'string') return npm;
  throw new Error(`No Chrome or Chromium found for the browser tests: none on PATH or at ${SYSTEM_PATHS.join(', ')}, and ${npm}. ${INSTALL_HINT}`);
}

/** Launches headless Chromium for a test; the error names the binary when it will not start. */
export async function launchBrowser(): Promise<Browser> {
  const found = await findChromium();
  try {
    return await chromium.launch({ executablePath: found.executablePath, args: found.args, headless: true, ...(found.env ? { env: { ...process.env, ...found.env } } : {}) });
  } catch (err) {
    throw new Error(`Chromium from ${found.source} did not start: ${(err as Error).message}\n${INSTALL_HINT}`, { cause: err });
  }
}

/**
 * A console page at `url` in a fresh Chromium, connected to its live stream: the page's errors
 * (uncaught exceptions and console errors) are collected in `pageErrors` for a test to assert on.
 */
export async function openConsole(url: string): Promise<{ browser: Browser; page: Page; pageErrors: string[] }> {
  const browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });
  await page.goto(url);
  await page.locator('#connection[data-state="open"]').waitFor();
  return { browser, page, pageErrors };
}
