/**
 * Stage processes a dead signoff left behind. A command stage runs in its own process group, so
 * when signoff is killed (kill -9, OOM) the command keeps running; the restarted signoff runs the
 * stage again in a new run directory. Before it does, the group of every older run of that stage
 * whose process is still alive is killed. A pid alone could have been reused by an unrelated
 * process, so the process must also carry that run's SIGNOFF_OUTPUT_DIR in its environment
 * (read from /proc: Linux; elsewhere nothing is killed).
 */
import { writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

const PID_FILE = 'stage.pid';

/**
 * Records the process group leader of a run (in the run directory, next to its log). Written at
 * once, synchronously: signoff may be killed the next moment.
 */
export function recordRunPid(runDir: string, pid: number): void {
  writeFileSync(path.join(runDir, PID_FILE), `${pid}\n`);
}

/** True when `pid` is alive and its environment says it belongs to the run whose output is `outputDir`. */
async function belongsTo(pid: number, outputDir: string): Promise<boolean> {
  try {
    const environ = await readFile(`/proc/${pid}/environ`);
    return environ.toString('utf8').split('\0').includes(`SIGNOFF_OUTPUT_DIR=${outputDir}`);
  } catch {
    return false; // gone, not ours to read, or no /proc
  }
}

/** Kills the process groups of older runs of a stage that are still running; `runDir` is the new run's. */
export async function reapOrphans(runDir: string, log: Logger): Promise<void> {
  const stageDir = path.dirname(runDir);
  let runs: string[];
  try {
    runs = (await readdir(stageDir)).filter((name) => name.startsWith('run-') && name !== path.basename(runDir));
  } catch {
    return;
  }
  for (const run of runs) {
    const dir = path.join(stageDir, run);
    const pid = Number((await readFile(path.join(dir, PID_FILE), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1 || !(await belongsTo(pid, path.join(dir, 'out')))) continue;
    try {
      process.kill(-pid, 'SIGKILL');
      log.warn({ pid, run: dir }, 'killed a stage process an earlier signoff left running');
    } catch {
      // gone meanwhile
    }
  }
}
