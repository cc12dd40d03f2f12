/**
 * The one call that gives a stage its inputs (the current artifacts of the stages before it) as
 * files on the host that runs it. Local contents are already files there: their paths are handed
 * over as they are (no copy). Contents kept in PostgreSQL are written into `<runDir>/inputs/`
 * first, since a worker on another host cannot open a path on the host that made them.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { InputArtifact } from '../stages/types.js';
import type { Store } from '../store/store.js';
import type { ArtifactContents } from './contents.js';

/** Inputs of a stage of job `job` whose earlier stages are `before`, as local files under `runDir` when they must be copied. */
export async function stageInputs(store: Store, contents: ArtifactContents, job: number, before: ReadonlySet<string>, runDir: string): Promise<InputArtifact[]> {
  const current = (await store.artifacts.current(job)).filter((a) => before.has(a.stage));
  if (contents.kind === 'local') return current.map((a) => ({ id: a.id, stage: a.stage, name: a.name, path: a.path, size: a.size }));
  const root = path.join(runDir, 'inputs');
  const inputs: InputArtifact[] = [];
  for (const a of current) {
    const file = path.resolve(root, a.stage, ...a.name.split('/'));
    // Names come from relative paths under a stage's output directory; refuse anything that would escape.
    if (path.relative(root, file).startsWith('..')) throw new Error(`artifact ${a.id} has a name that leaves its directory: ${a.name}`);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await pipeline(await contents.stream(a), createWriteStream(file));
    inputs.push({ id: a.id, stage: a.stage, name: a.name, path: file, size: a.size });
  }
  return inputs;
}
