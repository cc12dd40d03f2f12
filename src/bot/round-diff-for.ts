/**
 * The round-diff view a surface shows on a gate card, from the stored diff (computed now if a
 * crash came between the gate opening and the diff being stored). A diff that cannot be made
 * never stops the card: the card goes out without it, and the failure is logged.
 */
import type { Logger } from 'pino';
import type { Gate } from '../orchestrator/types.js';
import { ensureRoundDiff } from '../review/ensure-diff.js';
import type { Store } from '../store/store.js';
import type { ArtifactReader } from '../artifacts/contents.js';
import { roundDiffView, type RoundDiffView } from './views/round-diff.js';

export async function roundDiffFor(store: Store, contents: ArtifactReader, job: number, gate: Gate, log: Logger, now = Date.now()): Promise<RoundDiffView | undefined> {
  if (gate.round < 2) return undefined;
  try {
    const diff = await ensureRoundDiff(store, contents, job, gate.stage, gate.round, now);
    return diff && roundDiffView(diff);
  } catch (err) {
    log.warn({ err, jobId: job, stage: gate.stage, round: gate.round }, 'could not read the round diff; the card goes out without it');
    return undefined;
  }
}

/** Chat-ref key of a round's `.diff` upload in the job's thread. */
export const diffUploadKey = (gate: Pick<Gate, 'stage' | 'round'>) => `diff:${gate.stage}:${gate.round}`;
