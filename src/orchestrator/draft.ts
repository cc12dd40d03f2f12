/**
 * A working copy of a job aggregate during one transition, with the moves every transition
 * shares (start a stage, advance, finish). It only changes its own copy and collects effects;
 * nothing here touches the database, the clock or a process.
 */
import type { StageDef } from '../config/schema.js';
import type { Effect, EventType, Gate, JobAggregate, JobState, StageRecord } from './types.js';

export class Draft {
  readonly effects: Effect[] = [];

  constructor(
    readonly agg: JobAggregate,
    readonly now: number,
  ) {}

  get job() {
    return this.agg.job;
  }

  emit(event: EventType, data: Record<string, unknown> = {}): void {
    this.effects.push({ type: 'event', event, data });
  }

  stageDef(id: string): StageDef | undefined {
    return this.job.def.stages.find((s) => s.id === id);
  }

  record(id: string): StageRecord | undefined {
    return this.agg.stages.find((s) => s.stage === id);
  }

  /** The latest round of a stage's gate, if it ever opened. */
  latestGate(stage: string): Gate | undefined {
    return this.agg.gates.filter((g) => g.stage === stage).sort((a, b) => b.round - a.round)[0];
  }

  /** The gate the job is waiting at now, if any. */
  openGate(): Gate | undefined {
    const gate = this.job.stage ? this.latestGate(this.job.stage) : undefined;
    return gate && (gate.state === 'pending' || gate.state === 'held') ? gate : undefined;
  }

  startStage(index: number, attempt = 1): void {
    const def = this.job.def.stages[index];
    const rec = this.agg.stages[index];
    if (!def || !rec) throw new Error(`stage index ${index} out of range`);
    rec.state = 'running';
    rec.run += 1;
    rec.attempt = attempt;
    rec.startedAt = this.now;
    rec.finishedAt = null;
    rec.retryAt = null;
    rec.error = null;
    this.job.state = 'running';
    this.job.stage = def.id;
    this.emit('stage.started', { stage: def.id, run: rec.run, attempt });
    this.effects.push({ type: 'runStage', stage: def.id, run: rec.run, attempt });
  }

  /** Moves on to the stage at `index`, or finishes the job when there is none. */
  advance(index: number): void {
    if (index >= this.job.def.stages.length) this.finish('succeeded');
    else this.startStage(index);
  }

  finish(state: Extract<JobState, 'succeeded' | 'failed' | 'rejected' | 'cancelled'>, error: string | null = null): void {
    this.job.state = state;
    this.job.error = error;
    this.job.finishedAt = this.now;
    this.emit('job.finished', {
      state,
      error,
      duration_ms: this.job.startedAt === null ? 0 : this.now - this.job.startedAt,
    });
  }
}
