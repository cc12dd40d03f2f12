/**
 * Which queue a stage run goes to: one pg-boss queue per pool of workers. A stage names its pool
 * with `run: { …, pool: gpu }`; without one it is `default`. External stages (no command) are
 * not queued: they are a token and deadlines, begun by the process that starts them.
 */
import type { StageDef } from '../../config/schema.js';
import type { Config } from '../../config/schema.js';

export const DEFAULT_POOL = 'default';

/** The pg-boss queue of a pool. */
export function queueName(pool: string): string {
  return `signoff-stage-${pool}`;
}

/** The pool that takes runs of `def`, or undefined when they are not queued. */
export function poolOf(def: StageDef): string | undefined {
  const run = def.run;
  if ('external' in run && !('command' in run)) return undefined;
  return ('pool' in run && run.pool) || DEFAULT_POOL;
}

/** Every pool the configuration's pipelines name, and `default`. */
export function configuredPools(config: Config): string[] {
  const pools = new Set([DEFAULT_POOL]);
  for (const p of Object.values(config.pipelines)) for (const s of p.stages) pools.add(poolOf(s) ?? DEFAULT_POOL);
  return [...pools];
}
