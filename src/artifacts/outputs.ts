/**
 * The one call that turns a finished stage run's files into recorded outputs, whichever process
 * ran it (the in-process launcher, an external run's `complete`, or a queue worker): list and hash
 * them (refusing any over the size cap), then store their contents where every process reads them.
 */
import type { ArtifactFile } from '../orchestrator/types.js';
import { collectArtifacts } from '../stages/collect-artifacts.js';
import type { ArtifactContents } from './contents.js';

/** The artifacts of run `run` of `stage` of job `job`, with their contents stored; rejects with a `too_large` StageError past the cap. */
export async function collectOutputs(contents: ArtifactContents, job: number, stage: string, run: number, outputDir: string, logPath: string): Promise<ArtifactFile[]> {
  return contents.keep(job, await collectArtifacts(stage, run, outputDir, logPath, contents.maxBytes));
}
