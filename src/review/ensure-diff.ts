/**
 * The round diff of a gate round, computed once and stored. Computing reads the artifacts'
 * contents (src/artifacts), so it is not part of the pure transition: the engine calls this right after the commit
 * that opened a gate, and every reader (chat renderers, the API, the console) calls it too, so a
 * crash between the gate opening and the diff being stored is mended by whoever reads it first.
 * Idempotent: the first stored diff stays.
 */
import type { Artifact, Store } from '../store/store.js';
import type { ArtifactReader } from '../artifacts/contents.js';
import { computeRoundDiff, DIFF_LIMITS, kindOf, type DiffLimits, type DiffSide, type RoundDiff } from './round-diff.js';

async function side(contents: ArtifactReader, a: Artifact, limits: DiffLimits): Promise<DiffSide> {
  const base = { artifactId: a.id, name: a.name, mediaType: a.mediaType, size: a.size, sha256: a.sha256 };
  if (kindOf(a.mediaType) !== 'text' || a.size > limits.maxFileBytes) return base;
  try {
    return { ...base, text: (await contents.read(a)).toString('utf8') };
  } catch {
    // A file removed by hand: its diff is left out like an oversized one; the counts by sha256 stay.
    return base;
  }
}

/**
 * The stored diff of `round` of `stage` (round 2 or later), computing and storing it first if it
 * is missing. Undefined for round 1, an unknown gate, or a round whose runs cannot be found.
 */
export async function ensureRoundDiff(store: Store, contents: ArtifactReader, job: number, stage: string, round: number, now: number, limits: DiffLimits = DIFF_LIMITS): Promise<RoundDiff | undefined> {
  if (!Number.isSafeInteger(round) || round < 2) return undefined;
  const stored = await store.diffs.get(job, stage, round);
  if (stored) return stored.data as RoundDiff;
  const agg = await store.jobs.loadShared(job);
  const gate = agg?.gates.find((g) => g.stage === stage && g.round === round);
  if (!agg || !gate) return undefined;
  const latest = !agg.gates.some((g) => g.stage === stage && g.round > round);
  const run = (await store.diffs.reviewedRun(job, stage, round)) ?? (latest ? agg.stages.find((s) => s.stage === stage)?.run : undefined);
  if (run === undefined) return undefined;
  const previousRun = (await store.diffs.reviewedRun(job, stage, round - 1)) ?? (await store.diffs.runBefore(job, stage, run));
  if (previousRun === undefined) return undefined;
  const diff = computeRoundDiff(
    { stage, round, previousRound: round - 1, run, previousRun },
    await Promise.all((await store.diffs.artifactsOf(job, stage, previousRun)).map((a) => side(contents, a, limits))),
    await Promise.all((await store.diffs.artifactsOf(job, stage, run)).map((a) => side(contents, a, limits))),
    limits,
  );
  await store.diffs.insert({ job, stage, round, run, previousRun, data: diff }, now);
  return ((await store.diffs.get(job, stage, round))?.data as RoundDiff | undefined) ?? diff;
}
