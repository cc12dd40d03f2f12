/**
 * What /healthz says about this process in its cluster: which replica answers, whether it is the
 * chat courier, whether the database answers, and how many stage runs it is doing. A load
 * balancer or an operator reads these; the database check is bounded so a hung connection makes
 * the answer "unreachable" within a second instead of hanging the health check.
 */

/** The cluster part of a /healthz answer. */
export interface HealthFacts {
  replica: string;
  courier: boolean;
  database: 'ok' | 'unreachable';
  stageRuns: number;
}

/** Where the facts come from (the app wires these; see src/app.ts). */
export interface HealthSources {
  replica: string;
  courier(): boolean;
  /** Resolves true when the database answered (it should bound itself; it is bounded here too). */
  database(): Promise<boolean>;
  /** Stage runs this process is doing now (in-process runs; queued-worker runs are added by the queue). */
  stageRuns(): number;
}

/** How long the database may take to answer a health check. */
export const DATABASE_CHECK_MS = 1_000;

/** Gathers the facts; never rejects. */
export async function healthFacts(s: HealthSources): Promise<HealthFacts> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), DATABASE_CHECK_MS + 200);
  });
  const reachable = await Promise.race([s.database().catch(() => false), late]);
  clearTimeout(timer);
  return { replica: s.replica, courier: s.courier(), database: reachable ? 'ok' : 'unreachable', stageRuns: s.stageRuns() };
}
