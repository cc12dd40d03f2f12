/**
 * Prometheus metrics (prom-client): jobs by state, stage durations, gate wait times, outbox lag.
 * Counts are read from the store when scraped (the whole cluster's); event counts and durations
 * are observed from this process's own commits.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../orchestrator/engine.js';
import { JOB_STATES } from '../orchestrator/types.js';

export function createMetrics(engine: Engine): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'signoff_' });
  const store = engine.store;
  new Gauge({
    name: 'signoff_jobs',
    help: 'Jobs by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = new Map((await store.queries.countsByState()).map((r) => [r.state, r.n]));
      for (const state of JOB_STATES) this.set({ state }, counts.get(state) ?? 0);
    },
  });
  new Gauge({
    name: 'signoff_outbox_pending',
    help: 'Chat notifications not yet delivered',
    registers: [registry],
    async collect() {
      this.set((await store.queries.outboxLag()).n);
    },
  });
  new Gauge({
    name: 'signoff_outbox_lag_seconds',
    help: 'Age of the oldest undelivered chat notification (0 when none)',
    registers: [registry],
    async collect() {
      const { oldest } = await store.queries.outboxLag();
      this.set(oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
    },
  });
  const stageSeconds = new Histogram({
    name: 'signoff_stage_duration_seconds',
    help: 'Time a stage attempt took, by stage and outcome',
    labelNames: ['stage', 'outcome'],
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [registry],
  });
  const gateSeconds = new Histogram({
    name: 'signoff_gate_wait_seconds',
    help: 'Time a gate waited for its decision, by stage and outcome',
    labelNames: ['stage', 'outcome'],
    buckets: [1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 72 * 3600],
    registers: [registry],
  });
  const events = new Counter({ name: 'signoff_events_total', help: 'Lifecycle events by type', labelNames: ['type'], registers: [registry] });
  // This process's commits only: each replica counts its own work, so the sum over replicas
  // counts every event once (a stage's duration is observed where its outcome was stored).
  engine.events.onLocal((e) => {
    events.inc({ type: e.type });
    const stage = String(e.data.stage ?? '');
    const ms = Number(e.data.duration_ms ?? e.data.waited_ms);
    if (!Number.isFinite(ms)) return;
    if (e.type === 'stage.succeeded' || e.type === 'stage.failed') stageSeconds.observe({ stage, outcome: e.type.slice(6) }, ms / 1000);
    if (e.type === 'gate.approved' || e.type === 'gate.rejected' || e.type === 'gate.expired') gateSeconds.observe({ stage, outcome: e.type.slice(5) }, ms / 1000);
  });
  return registry;
}
