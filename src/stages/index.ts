/**
 * Picks the adapter for a stage's `run:` block. The one place that knows the three kinds.
 */
import type { StageRun } from '../config/schema.js';
import { runBuiltin } from './builtin/index.js';
import { commandStage } from './command.js';
import { httpStage } from './http.js';
import { StageError, type StageAdapter } from './types.js';

export function adapterFor(run: StageRun, options: { baseDir: string }): StageAdapter {
  if ('builtin' in run) {
    const adapter = runBuiltin(run.builtin, run.delay);
    if (adapter) return adapter;
    return async () => {
      throw new StageError(`there is no builtin stage "${run.builtin}"`, 'invalid');
    };
  }
  if ('command' in run) return commandStage(run, options);
  if ('http' in run) return httpStage(run);
  // External stages are started by the engine's external runs, never as an adapter.
  return async () => {
    throw new StageError('an external stage has no adapter', 'invalid');
  };
}

export { StageError } from './types.js';
export type { StageAdapter, StageContext, StageOutcome, InputArtifact } from './types.js';
