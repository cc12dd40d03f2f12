/** Start-up could not complete for a reason outside signoff (a platform refused or is unreachable); the message says what to do. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}
