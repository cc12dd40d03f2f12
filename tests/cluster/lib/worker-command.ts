/**
 * Whether the built signoff has the `worker` command (issue 12's stage workers). The cluster
 * harness and the demo start workers only when it does, so both run on today's code and pick
 * workers up as soon as the command is merged, with nothing to change.
 */
import { execFileSync } from 'node:child_process';
import { MAIN_JS } from '../../chaos/lib/child.js';

let known: boolean | undefined;

/** True when `node dist/main.js --help` lists a `worker` command. */
export function hasWorkerCommand(): boolean {
  if (known === undefined) {
    const help = execFileSync(process.execPath, [MAIN_JS, '--help'], { encoding: 'utf8', timeout: 30_000 });
    known = /^\s+worker\b/m.test(help);
  }
  return known;
}
