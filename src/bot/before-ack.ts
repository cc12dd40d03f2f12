/**
 * Changes made before a chat platform's acknowledgement (Discord's interaction answer, Slack's
 * dialog submissions, storing a Slack interaction) wait at most ACK_LOCK_WAIT_MS for a database
 * lock another process holds, not the store's full wait: platforms give up after 3 s, and an
 * answer after that shows the person a failure for something that then happens anyway. Past the
 * bound the change fails, the engine answers "busy, nothing changed, try again", in time.
 */
import type { ChangeOptions } from '../orchestrator/engine.js';
import type { Store } from '../store/store.js';

export const ACK_LOCK_WAIT_MS = 2_000;

/** Options for an engine change made before an acknowledgement. */
export const BEFORE_ACK: ChangeOptions = { lockWaitMs: ACK_LOCK_WAIT_MS };

/** The store, bounded for writes made before an acknowledgement. */
export function beforeAck(store: Store): Store {
  return store.bounded(ACK_LOCK_WAIT_MS);
}

/** How long a replay claim is kept (no platform replays an interaction later than this). */
export const REPLAY_WINDOW_MS = 10 * 60_000;

/**
 * True the first time an interaction's key is seen, so a retried or replayed one is applied once.
 * Written before the acknowledgement, so bounded like the change: rejects when the database stays
 * locked (the caller answers busy, or lets the platform show a failure).
 */
export function claimFirstTime(store: Store, key: string): Promise<boolean> {
  const now = Date.now();
  return beforeAck(store).outbox.pruneAndClaim(key, now, now - REPLAY_WINDOW_MS);
}
