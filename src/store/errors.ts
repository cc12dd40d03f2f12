/** Errors every store dialect throws, so callers can tell a conflict or a full disk from a bug. */

/**
 * A store error people can act on: it says what failed and what to do. `code` `conflict` means
 * another writer changed the job first (the unit of work reads again and re-decides).
 */
export class StoreError extends Error {
  constructor(message: string, readonly code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
