/**
 * Telling an external system about a run: a JSON POST to the configured URL, retried with
 * backoff. Each POST carries the same `Idempotency-Key` (and `idempotency_key` in the body), so a
 * receiver that gets a notification twice (a lost answer, a restart mid-notify) can act once.
 */
import type { Logger } from 'pino';

export interface NotifyTarget {
  url: string;
  headers: Record<string, string>;
}

export interface NotifyOptions {
  /** Attempts in all (the first included). */
  attempts: number;
  /** Wait before the second attempt; doubles each time. */
  backoffMs: number;
  timeoutMs: number;
  signal: AbortSignal;
  log: Logger;
  /**
   * Called before each attempt with its number (1-based), to record progress durably; awaited, so
   * the record of an attempt is stored before the outcome's (on a pooled database two writes in
   * flight at once may land in either order, and a late "pending" would hide "delivered").
   */
  onAttempt?(attempt: number): void | Promise<unknown>;
  /** Asked before each attempt: false when the notification is no longer wanted (the run ended). */
  proceed?(): boolean | Promise<boolean>;
}

/** Answers that will not change when asked again: retrying them is pointless. */
const permanent = (status: number) => status >= 400 && status < 500 && status !== 408 && status !== 429;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** POSTs `body`; resolves `delivered` on a 2xx, else `failed` with the last error (or `aborted`). */
export async function postWithRetries(target: NotifyTarget, key: string, body: unknown, o: NotifyOptions): Promise<{ outcome: 'delivered' | 'failed' | 'aborted'; error?: string }> {
  let error = '';
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    if (o.signal.aborted || (await o.proceed?.()) === false) return { outcome: 'aborted' };
    await o.onAttempt?.(attempt);
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { ...target.headers, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
        signal: AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { outcome: 'delivered' };
      error = `${target.url} answered ${res.status}`;
      if (permanent(res.status)) break;
    } catch (err) {
      if (o.signal.aborted) return { outcome: 'aborted' };
      error = `${target.url}: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`;
    }
    // The URL is configuration, not a secret; the body (which holds the token) is never logged.
    o.log.warn({ url: target.url, attempt, error }, 'notification not delivered');
    if (attempt < o.attempts) await sleep(o.backoffMs * 2 ** (attempt - 1), o.signal);
  }
  return { outcome: 'failed', error };
}
