/**
 * What a process says about itself on GET /healthz. The cluster fields (`replica`, `courier`,
 * `stageRuns`, `database`) are the ones CONTRACT-12 names; a process from before the cluster
 * work answers without them, which the callers treat as "unknown", never as "no".
 */
export interface Health {
  ok: boolean;
  replica?: string;
  courier?: boolean;
  stageRuns?: number;
  database?: 'ok' | 'unreachable';
}

/** The /healthz answer of the process at `url`, or undefined when it does not answer (down, busy). */
export async function health(url: string, timeoutMs = 2_000): Promise<Health | undefined> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as Health;
    return { ...body, ok: res.ok && body.ok !== false };
  } catch {
    return undefined;
  }
}
