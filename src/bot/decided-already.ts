/**
 * Before opening a reason dialog for a Reject click: if that gate round is decided already,
 * surfaces answer at once (with who decided and when) instead of asking for a reason first.
 */
import type { Engine } from '../orchestrator/engine.js';
import { decidedMessage } from '../orchestrator/gates.js';

export async function decidedAlready(engine: Engine, ref: { job: number; stage: string; round: number }): Promise<string | undefined> {
  const gate = (await engine.store.jobs.loadShared(ref.job))?.gates.find((g) => g.stage === ref.stage && g.round === ref.round);
  return gate && gate.state !== 'pending' && gate.state !== 'held' ? decidedMessage(gate) : undefined;
}
