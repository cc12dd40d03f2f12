/** Thread replies: which events a person should read about, and what they say. */
import { formatDuration } from '../../config/duration.js';
import type { JobAggregate } from '../../orchestrator/types.js';
import type { Artifact, StoredEvent } from '../../store/store.js';
import { artifactRef } from './gate-card.js';
import { JOB_LOOK } from './icons.js';
import { clip } from './job-status.js';
import type { NoticeView, Tone } from './types.js';

type D = Record<string, unknown>;
const s = (v: unknown) => (v === null || v === undefined ? '' : String(v));
const ms = (v: unknown) => formatDuration(Number(v) || 0);

/**
 * The notice an event produces in the job's thread, or null for events shown only as status or on
 * a gate card (approvals: see render-plan.ts).
 */
export function noticeFor(event: StoredEvent, agg: JobAggregate, artifacts: Artifact[]): NoticeView | null {
  const d: D = event.data;
  const stageName = (id: unknown) => agg.job.def.stages.find((st) => st.id === id)?.name ?? s(id);
  const name = stageName(d.stage);
  const make = (icon: string, tone: Tone, text: string, files: Artifact[] = []): NoticeView => ({
    kind: 'notice', jobId: event.job, seq: event.seq, at: event.at, icon, tone, text, artifacts: files.map(artifactRef),
  });
  switch (event.type) {
    case 'stage.succeeded': {
      const files = artifacts.filter((a) => a.stage === d.stage && a.run === d.run);
      return make('✅', 'good', `${name} done in ${ms(d.duration_ms)}${d.summary ? `: ${s(d.summary)}` : ''}`, files);
    }
    case 'stage.failed':
      return d.will_retry
        ? make('⚠️', 'waiting', `${name} failed (attempt ${s(d.attempt)}): ${clip(s(d.error), 300)}. Retrying shortly.`)
        : make('❌', 'bad', `${name} failed: ${clip(s(d.error), 500)}`);
    case 'stage.retried':
      return make('🔁', 'active', `${name}: attempt ${s(d.attempt)} started.`);
    case 'stage.recovered':
      return make('🔁', 'active', `${name} is running again: signoff restarted while it was running.`);
    case 'gate.rejected':
      return make('🚫', 'bad', `${name} rejected by ${s(d.by)}: ${s(d.reason)}`);
    case 'gate.expired':
      return make('⌛', 'bad', `${name} got no decision within ${ms(d.waited_ms)}; on timeout: ${s(d.on_timeout)}.`);
    case 'gate.held':
      return make('⏸️', 'waiting', `${s(d.by)} held ${name}: it waits for a decision instead of auto-approving.`);
    case 'gate.reminded': {
      const left = typeof d.deadline_at === 'number' ? ` It times out in ${formatDuration(d.deadline_at - event.at)}.` : '';
      return make('⏰', 'waiting', `Reminder: ${name} of job ${event.job} still needs a decision from ${((d.approvers as string[]) ?? []).join(' or ')}.${left}`);
    }
    case 'gate.escalated':
      return make('📣', 'waiting', `Escalated: ${name} got no decision in ${ms(d.waited_ms)}; ${((d.escalate_to as string[]) ?? []).join(', ')} may decide it now too.`);
    case 'job.cancelled':
      return make('⛔', 'muted', `Cancelled by ${s(d.by)}${d.reason ? `: ${s(d.reason)}` : '.'}`);
    case 'job.retried':
      return make('🔁', 'active', `${s(d.by)} retried the job from ${stageName(d.from)}${d.reason ? `, with the reason: ${s(d.reason)}` : '.'}`);
    case 'job.finished': {
      const state = d.state as keyof typeof JOB_LOOK;
      const look = JOB_LOOK[state] ?? JOB_LOOK.failed;
      const files = state === 'succeeded' ? artifacts : [];
      const tail = state === 'succeeded' ? ` ${files.length} artifact${files.length === 1 ? '' : 's'}.` : d.error ? ` ${clip(s(d.error), 300)}` : '';
      return make(look.icon, look.tone, `Job ${event.job} ${look.label.toLowerCase()} in ${ms(d.duration_ms)}.${tail}`, files);
    }
    default:
      return null;
  }
}
