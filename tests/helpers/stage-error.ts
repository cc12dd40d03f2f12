/** Awaits a stage attempt that must fail and returns its StageError. */
import { expect } from 'vitest';
import { StageError } from '../../src/stages/types.js';

export async function stageError(promise: Promise<unknown>): Promise<StageError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the stage to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StageError);
  return error as StageError;
}
