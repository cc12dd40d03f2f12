/**
 * The order every chat surface delivers a job's batch of outbox rows in: each row's gate message
 * (created or edited once per gate per batch) and thread notice in event order, then one status
 * edit for the whole batch. Surfaces supply the platform calls; each must be idempotent.
 */
import type { OutboxRow } from '../store/store.js';
import { renderPlan } from './views/render-plan.js';

export interface BatchSteps {
  gate(key: string, at: { stage: string; round: number }): Promise<void>;
  notice(row: OutboxRow): Promise<void>;
  /** Edit the status message to the job's state now. */
  status(): Promise<void>;
}

export async function deliverBatch(rows: readonly OutboxRow[], steps: BatchSteps): Promise<void> {
  const gatesDone = new Set<string>();
  let status = false;
  for (const row of rows) {
    const plan = renderPlan(row.event);
    status ||= plan.status;
    if (plan.gate) {
      const key = `gate:${plan.gate.stage}:${plan.gate.round}`;
      if (!gatesDone.has(key)) await steps.gate(key, plan.gate);
      gatesDone.add(key);
    }
    if (plan.notice) await steps.notice(row);
  }
  // Status edits are coalesced: one edit for the whole batch, showing the state now.
  if (status) await steps.status();
}
