/**
 * The stateless parts of external runs: the limits a stage definition sets, the document a
 * notification carries, the hash that recognises a report sent twice, and the answers reports get.
 */
import { createHash } from 'node:crypto';
import type { StageDef } from '../config/schema.js';
import type { Store } from '../store/store.js';
import type { JobAggregate } from './types.js';

export interface Limits {
  timeout: number;
  heartbeat: number | null;
  notify?: { url: string; headers: Record<string, string>; cancel_url?: string };
}

/** A handed-off command stage may wait this long unless its `external.timeout` says otherwise. */
const HANDOFF_TIMEOUT_MS = 6 * 3_600_000;
export const WAITING_MESSAGE = 'waiting for an external system';

/** The time limits (and, for an `external` stage, the notification) of a stage's external wait. */
export function limitsOf(def: StageDef): Limits {
  if ('external' in def.run && !('command' in def.run)) {
    const e = def.run.external;
    return { timeout: e.timeout, heartbeat: e.heartbeat ?? null, ...(e.notify ? { notify: e.notify } : {}) };
  }
  const e = 'command' in def.run ? def.run.external : undefined;
  return { timeout: e?.timeout ?? HANDOFF_TIMEOUT_MS, heartbeat: e?.heartbeat ?? null };
}

/** The document a notification carries: what a command stage reads on stdin, without paths. */
export async function externalRequest(store: Store, agg: JobAggregate, stage: string): Promise<Record<string, unknown>> {
  const { job } = agg;
  const index = job.def.stages.findIndex((s) => s.id === stage);
  const rec = agg.stages[index];
  const before = new Set(job.def.stages.slice(0, index).map((s) => s.id));
  return {
    job: job.id,
    pipeline: job.pipeline,
    stage,
    attempt: rec?.attempt ?? 1,
    brief: job.brief,
    params: job.params,
    submitter: job.submitter,
    // The outside system cannot read signoff's disk: it gets names and sizes (and may download by id with an API token).
    inputs: (await store.artifacts.current(job.id)).filter((a) => before.has(a.stage)).map((a) => ({ id: a.id, stage: a.stage, name: a.name, size: a.size })),
    redo_reason: rec?.redoReason ?? null,
  };
}

/** A stable hash of a report's body, so the same report sent twice is recognised. */
export function reportHash(kind: string, body: unknown): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
      : Array.isArray(v) ? v.map(canonical) : v;
  return createHash('sha256').update(`${kind}:${JSON.stringify(canonical(body))}`).digest('hex');
}

/** What a report is answered with: an HTTP status and a JSON body. */
export interface ReportAnswer {
  status: number;
  body: { message: string; error?: string; [key: string]: unknown };
}

/** A token of a run that is over. */
export const gone = (what: string): ReportAnswer => ({ status: 410, body: { error: 'gone', message: `This run is over (${what}); its token opens nothing any more.` } });
export const BUSY: ReportAnswer = { status: 503, body: { error: 'busy', message: 'signoff could not store the report just now; nothing changed. Send it again.' } };
export const UNKNOWN: ReportAnswer = { status: 404, body: { error: 'unknown_token', message: 'No run has this token. Check SIGNOFF_RUN_TOKEN (it changes with every run).' } };

