/*
 * signoff console: live updates from the stream, applied to the jobs on the page.
 */
import { api } from './api.js';
import { addItem, addJob, renderStatus } from './render-job.js';
import { renderGate } from './render-gate.js';
import { gateKeyOf, state } from './state.js';
import { renderTimeline } from './timeline.js';
import { refreshNeedsYou, renderNeedsYou } from './needs-you.js';

export function applyUpdate(u) {
  state.lastEventId = Math.max(state.lastEventId, u.eventId);
  if (typeof u.serverNow === 'number') state.offset = u.serverNow - Date.now();
  const buffered = state.pending.get(u.jobId);
  if (buffered) { buffered.push(u); return; }
  const entry = state.jobs.get(u.jobId);
  if (!entry) { fetchJob(u.jobId, [u]); return; }
  entry.status = u.status;
  entry.timeline = u.timeline;
  if (u.gate) entry.gates[gateKeyOf(u.gate)] = u.gate;
  if (u.item) addItem(entry, u.item);
  if (u.gate) renderGate(entry, gateKeyOf(u.gate));
  // A gate changed: whether it (or another) waits for the person acting may have changed too.
  if (u.type.startsWith('gate.')) refreshNeedsYou(); else if (u.gate) renderNeedsYou();
  renderStatus(entry);
  renderTimeline(entry);
}

/** A job the page does not have yet: fetch its whole thread, then replay what came meanwhile. */
export async function fetchJob(id, buffered = []) {
  if (state.jobs.has(id) || state.pending.has(id)) return;
  state.pending.set(id, buffered);
  const r = await api(`/console/api/jobs/${id}`);
  const queued = state.pending.get(id) ?? [];
  state.pending.delete(id);
  if (r.status === 200 && r.data?.status) addJob(r.data);
  else if (queued[0]) addJob({ status: queued[0].status, items: [], gates: {}, timeline: queued[0].timeline });
  for (const u of queued) applyUpdate(u);
}
