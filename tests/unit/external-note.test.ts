/**
 * The status line of a stage waiting for an external system, from plain values: an `external`
 * stage says it waits even before any report; with a waiting run the note carries the time since
 * its last sign of life; a stage that is not running keeps its own note.
 */
import { describe, expect, it } from 'vitest';
import { createJob } from '../../src/orchestrator/create-job.js';
import { transition } from '../../src/orchestrator/transition.js';
import { withExternalNotes } from '../../src/bot/views/external-note.js';
import { jobStatusView } from '../../src/bot/views/job-status.js';
import type { ExternalRun } from '../../src/store/store.js';
import { configFrom, FakeClock } from '../helpers/fixtures.js';

const config = configFrom(`
pipelines:
  ci:
    stages:
      - id: build
        run: { command: [sh, start-ci.sh] }
      - id: deploy
        name: Deploy on CI
        run: { external: { heartbeat: 10m } }
`);

function started(clock: FakeClock) {
  const created = createJob({ id: 1, pipeline: 'ci', def: config.pipelines.ci!, brief: 'b', params: {}, submitter: 'api', origin: { surface: 'api' }, targets: [] }, clock.now());
  return transition(created.agg, { type: 'start' }, clock.now()).agg;
}

const wait = (stage: string, run: number, lastHeartbeatAt: number): ExternalRun => ({
  id: 1, jobId: 1, stage, run, state: 'waiting', createdAt: lastHeartbeatAt, waitingSince: lastHeartbeatAt, lastHeartbeatAt,
  heartbeatMs: 600_000, heartbeatDeadline: lastHeartbeatAt + 600_000, timeoutDeadline: null, notifyState: 'delivered', notifyAttempts: 0, reportHash: null, endedAt: null,
});

describe('the status of a stage waiting for an external system', () => {
  it('shows the wait and the time since the last sign of life on the running stage only', () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 9, 0, 0));
    const agg = started(clock);
    const at = clock.now();
    clock.advance(150_000);
    const view = withExternalNotes(jobStatusView(agg, null), [wait('build', 1, at), wait('deploy', 1, at)], clock.now());
    expect(view.stages[0]!.note).toBe('waiting for an external system · last sign of life 2m 30s ago (09:00:00 UTC)');
    // deploy is still pending: a stale wait row does not make it look busy.
    expect(view.stages[1]!.note).toBeNull();
    expect(withExternalNotes(jobStatusView(agg, null), [], clock.now())).toEqual(jobStatusView(agg, null));
  });

  it('says an external stage waits from its definition alone, before its run is recorded', () => {
    const clock = new FakeClock();
    let agg = started(clock);
    agg = transition(agg, { type: 'stage.succeeded', stage: 'build', run: 1, artifacts: [] }, clock.now()).agg;
    expect(jobStatusView(agg, null).stages[1]).toMatchObject({ name: 'Deploy on CI', state: 'running', note: 'waiting for an external system' });
  });
});
