/**
 * The order every chat surface delivers a job's batch of outbox rows in: each row's gate message
 * (created or edited once per gate per batch) and thread notice, in event order. The status
 * message is not edited here: the drainer edits it at most once per job every few seconds (see
 * outbox-drainer.ts). Surfaces supply the platform calls; each must be idempotent.
 */
import type { OutboxRow } from '../store/store.js';
import { renderPlan } from './views/render-plan.js';

export interface BatchSteps {
  gate(key: string, at: { stage: string; round: number }): Promise<void>;
  notice(row: OutboxRow): Promise<void>;
  /** Reaches the gate's deciders (mentions, DMs); replaces the notice of a reminder. */
  ping(row: OutboxRow): Promise<void>;
}

export async function deliverBatch(rows: readonly OutboxRow[], steps: BatchSteps): Promise<void> {
  const gatesDone = new Set<string>();
  for (const row of rows) {
    const plan = renderPlan(row.event);
    if (plan.gate) {
      const key = `gate:${plan.gate.stage}:${plan.gate.round}`;
      if (!gatesDone.has(key)) await steps.gate(key, plan.gate);
      gatesDone.add(key);
    }
    if (plan.ping) await steps.ping(row);
    else if (plan.notice) await steps.notice(row);
  }
}

/** Whether a row changes what the job's status message shows. */
export function changesStatus(row: OutboxRow): boolean {
  return renderPlan(row.event).status;
}
