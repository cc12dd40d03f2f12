/**
 * Copies and compares of job aggregates for the hot path of every transition. An aggregate is
 * plain JSON-like data (numbers, strings, booleans, null, arrays, plain objects), so a recursive
 * copy is enough and much cheaper than `structuredClone`. The pipeline definition (`job.def`) is
 * immutable once a job exists and is the largest part of an aggregate: copies share it.
 */
import type { JobAggregate } from './types.js';

/** A deep copy of plain JSON-like data. */
export function cloneJson<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = cloneJson((value as Record<string, unknown>)[key]);
  return out as T;
}

/** A deep copy of an aggregate that shares its (immutable) pipeline definition. */
export function cloneAggregate(agg: JobAggregate): JobAggregate {
  const job: Record<string, unknown> = {};
  // Same key order as the original, so serialised copies read the same.
  for (const key in agg.job) {
    const value = agg.job[key as keyof JobAggregate['job']];
    job[key] = key === 'def' ? value : cloneJson(value);
  }
  return { job: job as unknown as JobAggregate['job'], stages: cloneJson(agg.stages), gates: cloneJson(agg.gates) };
}

/** Deep equality of plain JSON-like data; keys named in `skip` are ignored at the top level. */
export function sameJson(a: unknown, b: unknown, skip?: string): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const key of ka) {
    if (key === skip) continue;
    if (!(key in b)) return false;
    if (!sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}
