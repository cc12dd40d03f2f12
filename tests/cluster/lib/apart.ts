/**
 * Members "on different hosts" on one machine: each process runs in a mount namespace of its own
 * in which the other members' directories are covered by an empty tmpfs. What one process keeps
 * on its disk (artifacts, stage output directories) is then out of the others' reach, as it would
 * be across hosts, so a check that reads an output through another replica means something.
 * Needs root and util-linux `unshare` (Linux); `canRunApart()` says whether this machine has them.
 */
import { execFileSync } from 'node:child_process';

let known: boolean | undefined;

/** True when processes can be started apart here (root, Linux, `unshare -m` works). */
export function canRunApart(): boolean {
  if (known === undefined) {
    try {
      known = process.platform === 'linux' && process.getuid?.() === 0 && execFileSync('unshare', ['-m', 'true'], { timeout: 10_000 }) !== undefined;
    } catch {
      known = false;
    }
  }
  return known;
}

/**
 * The wrapper (see ChildOptions.wrapper) that starts a process with `hidden` directories covered.
 * A mount that fails stops the process (exit 97) rather than running it with the others in reach.
 */
export function apartWrapper(hidden: string[]): string[] {
  const mounts = hidden.map((d) => `mount -t tmpfs -o size=1m tmpfs ${JSON.stringify(d)} || exit 97`).join('; ');
  // unshare without --fork execs bash, which execs node: the pid the harness holds is node's.
  return ['unshare', '-m', 'bash', '-c', `${mounts || 'true'}; exec "$@"`, 'bash'];
}
