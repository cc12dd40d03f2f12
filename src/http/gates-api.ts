/**
 * `GET /api/v1/gates?state=pending&for=<platform>:<id>`: the open gates a person may decide now,
 * oldest first ("what waits for me"). Without `for`, the gates waiting for the caller (the API
 * user, an administrator, sees every open gate; `X-Signoff-Actor` names a person).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../orchestrator/engine.js';
import { actorFor, type Identity } from '../orchestrator/policy.js';
import { consoleAnchor, pendingFor } from '../bot/views/pending.js';
import { sendInvalid } from './errors.js';

const gatesQuery = z.strictObject({
  state: z.literal('pending', { error: 'only state=pending is listed' }).default('pending'),
  /** The API token may come in the query on GET (see auth.ts). */
  access_token: z.string().optional(),
  for: z.string().regex(/^(console|slack|discord):[A-Za-z0-9_.@-]{1,64}$/, 'write for=<console|slack|discord>:<user id>').optional(),
});

export function registerGatesApi(app: FastifyInstance, engine: Engine): void {
  app.get('/gates', async (req, reply) => {
    const q = gatesQuery.safeParse(req.query);
    if (!q.success) return sendInvalid(reply, q.error);
    let who: Identity = req.identity;
    if (q.data.for) {
      const [platform, ...rest] = q.data.for.split(':');
      // Only ids listed in the config count here: Slack user groups and Discord roles are known
      // to their platforms, not to this API.
      who = { platform: platform as Identity['platform'], user: rest.join(':') };
    }
    const items = await pendingFor(engine.store, actorFor(engine.config.operators, who));
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      gates: items.map((i) => ({
        job: i.jobId, pipeline: i.pipeline, stage: i.stage, stage_name: i.stageName, round: i.round, required: i.required, state: 'pending',
        opened_at: iso(i.openedAt), deadline_at: iso(i.deadlineAt), deadline_kind: i.deadlineKind, escalated: i.escalated,
        console_anchor: consoleAnchor(i), url: `/api/v1/jobs/${i.jobId}`,
      })),
    };
  });
}
