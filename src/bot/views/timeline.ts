/** A job's timeline: each stage run and each gate wait as a bar. */
import type { JobAggregate } from '../../orchestrator/types.js';
import { GATE_LOOK, STAGE_LOOK } from './icons.js';
import type { TimelineView } from './types.js';

export function timelineView(agg: JobAggregate, now: number): TimelineView {
  const bars: TimelineView['bars'] = [];
  for (const rec of agg.stages) {
    if (rec.startedAt === null) continue;
    const name = agg.job.def.stages[rec.index]?.name ?? rec.stage;
    bars.push({ label: name, kind: 'stage', state: rec.state, tone: STAGE_LOOK[rec.state].tone, start: rec.startedAt, end: rec.finishedAt ?? now });
  }
  for (const g of agg.gates) {
    const name = agg.job.def.stages.find((s) => s.id === g.stage)?.name ?? g.stage;
    bars.push({ label: `${name} gate${g.round > 1 ? ` (round ${g.round})` : ''}`, kind: 'gate', state: g.state, tone: GATE_LOOK[g.state].tone, start: g.openedAt, end: g.decidedAt ?? now });
  }
  bars.sort((a, b) => a.start - b.start || (a.kind === 'stage' ? -1 : 1));
  const start = bars[0]?.start ?? agg.job.createdAt;
  const end = Math.max(start + 1, agg.job.finishedAt ?? now, ...bars.map((b) => b.end));
  return { kind: 'timeline', jobId: agg.job.id, start, end, bars };
}
