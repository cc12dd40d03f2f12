/**
 * The note a status view shows on a stage that waits for an external system: that it waits,
 * and how long ago the outside system last gave a sign of life (a report or a heartbeat).
 */
import { formatDuration } from '../../config/duration.js';
import type { ExternalRun } from '../../store/store.js';
import type { JobStatusView } from './types.js';

/** `view` with the note of each stage whose current run waits for an external system. */
export function withExternalNotes(view: JobStatusView, waits: readonly ExternalRun[], now: number): JobStatusView {
  if (waits.length === 0) return view;
  const stages = view.stages.map((line) => {
    const w = waits.find((r) => r.stage === line.id);
    if (!w || line.state !== 'running') return line;
    // The clock time too: a console shows this note until the next event re-renders it.
    const at = w.lastHeartbeatAt === null ? '' : new Date(w.lastHeartbeatAt).toISOString().slice(11, 19);
    const since = w.lastHeartbeatAt === null ? '' : ` · last sign of life ${formatDuration(Math.max(0, now - w.lastHeartbeatAt))} ago (${at} UTC)`;
    return { ...line, note: `waiting for an external system${since}` };
  });
  return { ...view, stages };
}
