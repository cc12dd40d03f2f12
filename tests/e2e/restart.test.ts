/**
 * signoff as a real process, killed with SIGKILL mid-stage and mid-gate: after each restart the
 * job carries on, the interrupted stage runs again, and the auto-approval that fell due while the
 * process was dead fires at start. The stage process the killed signoff left running is killed
 * by the next one before it runs the stage again. On both stores (jobs in the data directory's
 * SQLite file, or in PostgreSQL with the artifacts in the data directory).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STORES, envFor, freshPlace } from '../helpers/stores.js';
import { startSignoff, writeConfig, type SignoffProcess } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

let running: SignoffProcess[] = [];

/** Whether a process runs (a zombie waiting to be reaped by init does not). */
function running_(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
afterEach(async () => {
  await Promise.all(running.map((p) => p.kill()));
  running = [];
});

describe.each(STORES)('restart (%s)', (kind) => {
  it('survives kill -9 in a running stage and at a pending gate', async () => {
    const place = await freshPlace(kind);
    const env = envFor(place);
    const dir = place.dataDir;
    const runsLog = path.join(dir, 'runs.log');
    const release = path.join(dir, 'release');
    // The stage records each run, then waits until the test lets it finish.
    const stage = `fs.appendFileSync(${JSON.stringify(runsLog)}, process.env.SIGNOFF_ATTEMPT + ' ' + process.pid + '\\n');
      const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(release)})) { clearInterval(t); fs.writeFileSync(process.env.SIGNOFF_OUTPUT_DIR + '/result.txt', 'done'); } }, 20);`;
    const configPath = writeConfig(dir, `
operators:
  ops: { console: [alice] }
pipelines:
  restartable:
    stages:
      - id: work
        run: { command: ["node", "-e", ${JSON.stringify(`const fs = require('fs'); ${stage}`)}], timeout: 2m }
        gate: { required: false, approvers: [ops], auto_approve_after: 2s }
      - id: finish
        run: { builtin: outline }
`);
    const dataDir = path.join(dir, 'data');
    const lines = () => (fs.existsSync(runsLog) ? fs.readFileSync(runsLog, 'utf8').trim().split('\n').length : 0);

    let signoff = await startSignoff({ configPath, dataDir, env });
    running.push(signoff);
    const created = await signoff.api('POST', '/jobs', { pipeline: 'restartable', brief: 'survive' });
    expect(created.status).toBe(201);
    const id = created.json.job.id;
    await waitFor(() => lines() === 1, 'the stage to start');
    await signoff.kill('SIGKILL');

    // Restart 1: the stage that was in flight runs again, and its orphaned first run is killed.
    const orphan = Number(fs.readFileSync(runsLog, 'utf8').trim().split(' ')[1]);
    expect(running_(orphan), 'the first run outlives the killed signoff').toBe(true);
    signoff = await startSignoff({ configPath, dataDir, env });
    running.push(signoff);
    await waitFor(() => lines() === 2, 'the stage to run again after the crash');
    await waitFor(() => !running_(orphan), 'the orphaned first run to be killed');
    fs.writeFileSync(release, 'go');
    const atGate = await waitFor(async () => {
      const { json } = await signoff.api('GET', `/jobs/${id}`);
      return json.state === 'awaiting_approval' && json;
    }, 'the job to reach its gate');
    await signoff.kill('SIGKILL');
    const deadline = Date.parse(atGate.gates[0].deadline_at);

    // Restart 2, after the auto-approve deadline passed while nothing was running.
    await waitFor(() => Date.now() > deadline + 50, 'the auto-approve deadline to pass');
    signoff = await startSignoff({ configPath, dataDir, env });
    running.push(signoff);
    const done = await waitFor(async () => {
      const { json } = await signoff.api('GET', `/jobs/${id}`);
      return json.state === 'succeeded' && json;
    }, 'the job to finish');
    expect(done.gates[0]).toMatchObject({ state: 'approved', decided_by: 'timer' });
    expect(lines()).toBe(2);
    expect(done.artifacts.map((a: { name: string }) => a.name)).toEqual(expect.arrayContaining(['result.txt', 'outline.md']));

    const { json } = await signoff.api('GET', `/jobs/${id}/events`);
    const types: string[] = json.events.map((e: { type: string }) => e.type);
    expect(types.filter((t) => t === 'stage.recovered')).toHaveLength(1);
    expect(types.filter((t) => t === 'gate.approved')).toHaveLength(1);
    expect(json.events.map((e: { seq: number }) => e.seq)).toEqual(types.map((_, i) => i + 1));
    // On PostgreSQL the data directory holds the artifacts and the lock, never an SQLite store.
    expect(fs.existsSync(path.join(dataDir, 'signoff.db'))).toBe(kind === 'sqlite');
  });
});
