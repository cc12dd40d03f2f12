/**
 * `GET /api/v1/jobs/:id/gates/:stage/diff?round=N`: what changed in a stage's reviewed output
 * since the round before (files, hunks with word-level changes, stats), as JSON. Without
 * `round`, the stage's latest round.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../orchestrator/engine.js';
import { diffSummary } from '../review/diff-text.js';
import { ensureRoundDiff } from '../review/ensure-diff.js';
import type { RoundDiff } from '../review/round-diff.js';
import { notFound, sendInvalid } from './errors.js';

const params = z.object({ id: z.coerce.number().int().positive(), stage: z.string().min(1).max(64) });
const query = z.object({ round: z.coerce.number().int().min(1).max(1_000_000).optional() });

/** The API's shape of a round diff: snake_case, artifact links, the one-line summary. */
export function diffJson(job: number, d: RoundDiff, urlOf: (artifactId: number) => string = (id) => `/api/v1/artifacts/${id}`) {
  const side = (s: RoundDiff['files'][number]['before']) =>
    s && { artifact_id: s.artifactId, name: s.name, media_type: s.mediaType, size: s.size, sha256: s.sha256, url: urlOf(s.artifactId) };
  return {
    job,
    stage: d.stage,
    round: d.round,
    previous_round: d.previousRound,
    run: d.run,
    previous_run: d.previousRun,
    summary: diffSummary(d),
    too_large: d.tooLarge,
    stats: { lines_added: d.stats.added, lines_removed: d.stats.removed, files_changed: d.stats.changed, files_added: d.stats.filesAdded, files_removed: d.stats.filesRemoved, files_unchanged: d.stats.unchanged },
    files: d.files.map((f) => ({
      name: f.name, kind: f.kind, status: f.status, before: side(f.before), after: side(f.after),
      lines_added: f.added, lines_removed: f.removed, too_large: f.tooLarge,
      hunks: f.hunks.map((h) => ({ old_start: h.oldStart, old_lines: h.oldLines, new_start: h.newStart, new_lines: h.newLines, lines: h.lines })),
    })),
  };
}

/** Finds (computing if need be) the diff a request names; a reason when there is none. */
export async function lookupDiff(engine: Engine, job: number, stage: string, round: number | undefined, now: number): Promise<{ diff: RoundDiff } | { missing: string }> {
  const agg = await engine.store.jobs.loadShared(job);
  if (!agg) return { missing: `Job ${job}` };
  const rounds = agg.gates.filter((g) => g.stage === stage).map((g) => g.round);
  if (!rounds.length) return { missing: `A gate on stage "${stage}" of job ${job}` };
  const wanted = round ?? Math.max(...rounds);
  if (!rounds.includes(wanted)) return { missing: `Round ${wanted} of the "${stage}" gate of job ${job}` };
  if (wanted < 2) return { missing: `A diff for round 1 of "${stage}" (the first review has nothing before it)` };
  const diff = await ensureRoundDiff(engine.store, engine.contents, job, stage, wanted, now);
  return diff ? { diff } : { missing: `The files of round ${wanted - 1} of "${stage}"` };
}

export function registerDiffRoute(app: FastifyInstance, engine: Engine, clock: { now(): number } = { now: () => Date.now() }) {
  app.get('/jobs/:id/gates/:stage/diff', async (req, reply) => {
    const p = params.safeParse(req.params);
    if (!p.success) return sendInvalid(reply, p.error);
    const q = query.safeParse(req.query);
    if (!q.success) return sendInvalid(reply, q.error);
    const found = await lookupDiff(engine, p.data.id, p.data.stage, q.data.round, clock.now());
    if ('missing' in found) return notFound(reply, found.missing);
    return diffJson(p.data.id, found.diff);
  });
}
