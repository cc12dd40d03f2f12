/**
 * What the API shows of a stage that waits for an external system: a `waiting` note and how
 * long ago the outside system last gave a sign of life. Never the token.
 */
import type { ExternalRun } from '../store/store.js';
import { WAITING_MESSAGE } from '../orchestrator/external-runs.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Adds `external` to each stage of `job` whose current run waits for an external system. */
export function withExternalWaits<J extends { stages: { id: string; run: number }[] }>(job: J, waits: ExternalRun[], now: number): J {
  if (waits.length === 0) return job;
  const stages = job.stages.map((s) => {
    const w = waits.find((r) => r.stage === s.id && r.run === s.run);
    if (!w) return s;
    return {
      ...s,
      external: {
        waiting: true,
        message: WAITING_MESSAGE,
        waiting_since: iso(w.waitingSince),
        last_heartbeat_at: iso(w.lastHeartbeatAt),
        seconds_since_heartbeat: w.lastHeartbeatAt === null ? null : Math.max(0, Math.round((now - w.lastHeartbeatAt) / 1000)),
        heartbeat_deadline_at: iso(w.heartbeatDeadline),
        timeout_at: iso(w.timeoutDeadline),
        notify: w.notifyState,
      },
    };
  });
  return { ...job, stages };
}
