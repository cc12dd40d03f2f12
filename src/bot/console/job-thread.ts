/**
 * A job as the console shows it: the status block, the thread (notices and gate cards in event
 * order) and the timeline. Built from the neutral views every surface shares.
 */
import type { Store, StoredEvent } from '../../store/store.js';
import { gateCardView } from '../views/gate-card.js';
import { jobStatusView } from '../views/job-status.js';
import { noticeFor } from '../views/notice.js';
import { renderPlan } from '../views/render-plan.js';
import { timelineView } from '../views/timeline.js';
import type { GateCardView, JobStatusView, NoticeView, TimelineView } from '../views/types.js';
import { withExternalNotes } from '../views/external-note.js';

export type ThreadItem = { type: 'notice'; seq: number; notice: NoticeView } | { type: 'gate'; seq: number; key: string };

export interface JobThread {
  status: JobStatusView;
  items: ThreadItem[];
  gates: Record<string, GateCardView>;
  timeline: TimelineView;
}

/** What the browser needs after one event: the new status, and the notice or card it caused. */
export interface ConsoleUpdate {
  eventId: number;
  jobId: number;
  seq: number;
  type: string;
  status: JobStatusView;
  item: ThreadItem | null;
  gate: GateCardView | null;
  timeline: TimelineView;
  serverNow: number;
}

export const gateKey = (stage: string, round: number) => `${stage}#${round}`;

/** The job as of one moment (its gates and artifacts from the same read), with its status view. */
async function views(store: Store, jobId: number, now: number) {
  const v = await store.jobs.loadView(jobId);
  if (!v) return undefined;
  const { agg, artifacts, queuePosition } = v;
  return { agg, artifacts, status: withExternalNotes(jobStatusView(agg, queuePosition), await store.externalRuns.waitingForJob(jobId), now) };
}

export async function jobThread(store: Store, jobId: number, now: number): Promise<JobThread | undefined> {
  const view = await views(store, jobId, now);
  if (!view) return undefined;
  const { agg, artifacts, status } = view;
  const items: ThreadItem[] = [];
  for (const e of await store.events.forJob(jobId, 0, 10_000)) {
    if (e.type === 'gate.opened') items.push({ type: 'gate', seq: e.seq, key: gateKey(String(e.data.stage), Number(e.data.round)) });
    const notice = renderPlan(e).notice ? noticeFor(e, agg, artifacts) : null;
    if (notice) items.push({ type: 'notice', seq: e.seq, notice });
  }
  const gates = Object.fromEntries(agg.gates.map((g) => [gateKey(g.stage, g.round), gateCardView(agg, g, artifacts)]));
  return { status, items, gates, timeline: timelineView(agg, now) };
}

export async function consoleUpdate(store: Store, event: StoredEvent, now: number): Promise<ConsoleUpdate | undefined> {
  const view = await views(store, event.job, now);
  if (!view) return undefined;
  const { agg, artifacts, status } = view;
  const plan = renderPlan(event);
  const gate = plan.gate ? agg.gates.find((g) => g.stage === plan.gate!.stage && g.round === plan.gate!.round) : undefined;
  const notice = plan.notice ? noticeFor(event, agg, artifacts) : null;
  const item: ThreadItem | null =
    event.type === 'gate.opened' && gate ? { type: 'gate', seq: event.seq, key: gateKey(gate.stage, gate.round) }
    : notice ? { type: 'notice', seq: event.seq, notice } : null;
  return {
    eventId: event.id,
    jobId: event.job,
    seq: event.seq,
    type: event.type,
    status,
    item,
    gate: gate ? gateCardView(agg, gate, artifacts) : null,
    timeline: timelineView(agg, now),
    serverNow: now,
  };
}
