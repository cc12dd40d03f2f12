/**
 * Changes made before a chat platform's acknowledgement (Discord's interaction answer, Slack's
 * dialog submissions, storing a Slack interaction) wait at most ACK_LOCK_WAIT_MS for a database
 * lock another process holds, not the store's full busy_timeout: platforms give up after 3 s, and
 * an answer after that shows the person a failure for something that then happens anyway. Past
 * the bound the change fails, the engine answers "busy, nothing changed, try again", in time.
 */
import type { Store } from '../store/store.js';

export const ACK_LOCK_WAIT_MS = 2_000;

export function beforeAck<T>(store: Store, change: () => T): T {
  return store.withLockWait(ACK_LOCK_WAIT_MS, change);
}

/** The answer when even the interaction's replay claim could not be written in time. */
export const BUSY_ANSWER = 'signoff could not save that just now; nothing changed. Try again in a moment.';
