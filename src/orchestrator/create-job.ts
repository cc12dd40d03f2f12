/**
 * A new job, checked against its pipeline: the first transition of every job. Pure.
 */
import type { Pipeline } from '../config/schema.js';
import type { Effect, JobAggregate, Origin } from './types.js';

export interface Submission {
  pipeline: string;
  brief: string;
  params?: Record<string, string>;
  origin: Origin;
}

export type Checked = { ok: true; params: Record<string, string>; brief: string } | { ok: false; message: string };

/** Checks the brief and params against the pipeline; fills in defaults. */
/** Removes control characters (but newlines and tabs) and lone surrogates from user text. */
export function cleanText(text: string): string {
  return text.toWellFormed().replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g, '');
}

export function checkSubmission(def: Pipeline, name: string, sub: Submission, maxBrief: number): Checked {
  const brief = cleanText(sub.brief).trim();
  if (!brief) return { ok: false, message: `Give a brief: /signoff submit ${name} <what to make>.` };
  if (brief.length > maxBrief) return { ok: false, message: `The brief is ${brief.length} characters; the limit is ${maxBrief}. Shorten it, or attach the long text to a stage instead.` };
  const params: Record<string, string> = {};
  const given = sub.params ?? {};
  const unknown = Object.keys(given).filter((k) => !(k in def.params));
  if (unknown.length)
    return { ok: false, message: `Unknown parameter(s) ${unknown.join(', ')} for pipeline "${name}"; it takes: ${Object.keys(def.params).join(', ') || 'none'}.` };
  for (const [key, spec] of Object.entries(def.params)) {
    const value = given[key] ?? spec.default;
    if (value === undefined) {
      if (spec.required) return { ok: false, message: `Pipeline "${name}" needs the parameter "${key}"${spec.description ? ` (${spec.description})` : ''}.` };
      continue;
    }
    params[key] = cleanText(value);
  }
  return { ok: true, params, brief };
}

export function createJob(
  input: { id: number; pipeline: string; def: Pipeline; brief: string; params: Record<string, string>; submitter: string; origin: Origin; targets: string[] },
  now: number,
): { agg: JobAggregate; effects: Effect[] } {
  const agg: JobAggregate = {
    job: {
      id: input.id,
      pipeline: input.pipeline,
      brief: input.brief.trim(),
      params: input.params,
      submitter: input.submitter,
      origin: input.origin,
      targets: input.targets,
      def: input.def,
      state: 'queued',
      stage: null,
      resumeFrom: null,
      error: null,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
      version: 0,
      lastSeq: 0,
    },
    stages: input.def.stages.map((s, index) => ({
      stage: s.id,
      index,
      state: 'pending',
      run: 0,
      attempt: 0,
      startedAt: null,
      finishedAt: null,
      retryAt: null,
      error: null,
      summary: null,
      outputs: null,
      redoReason: null,
    })),
    gates: [],
  };
  const effects: Effect[] = [
    { type: 'event', event: 'job.created', data: { pipeline: input.pipeline, brief: agg.job.brief, params: input.params, submitter: input.submitter, origin: input.origin.surface } },
    { type: 'event', event: 'job.queued', data: {} },
  ];
  return { agg, effects };
}
