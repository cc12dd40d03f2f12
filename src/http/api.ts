/**
 * The REST API under /api/v1: jobs, gates, events (JSON polling or SSE), artifacts, config.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Engine } from '../orchestrator/engine.js';
import { JOB_STATES } from '../orchestrator/types.js';
import { eventJson, jobJson, jobSummaryJson } from './job-json.js';
import { withExternalWaits } from './external-json.js';
import { notFound, parseOr400 as parse, sendRefusal } from './errors.js';
import { sendArtifact, showsInline } from './send-artifact.js';
import { streamEvents, wantsEventStream } from './sse.js';
import { registerDiffRoute } from './diff-route.js';
import { registerGatesApi } from './gates-api.js';

const jobBody = z.strictObject({
  pipeline: z.string().min(1),
  brief: z.string(),
  params: z.record(z.string(), z.string()).optional(),
});
const reasonBody = z.strictObject({ reason: z.string().max(2000).optional() }).optional();
/** A gate decision: a reject's reason, or an approval's optional note (capped by the engine, which says by how much). */
const gateBody = z.strictObject({ reason: z.string().max(2000).optional(), note: z.string().max(20_000).optional() }).optional();
const idParam = z.object({ id: z.coerce.number().int().positive() });
const gateParams = idParam.extend({ stage: z.string().min(1).max(64), action: z.enum(['approve', 'reject', 'hold']) });
const jobActionParams = idParam.extend({ action: z.enum(['cancel', 'retry']) });
const listQuery = z.object({
  state: z.enum(JOB_STATES).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
const afterQuery = z.object({ after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(1000).default(500) });

/** The config without values that may be credentials: http stage headers and command env. */
function sanitizedConfig(config: Config): Config {
  const copy = structuredClone(config);
  const hide = (record: Record<string, string>) => Object.keys(record).forEach((k) => (record[k] = '[hidden]'));
  for (const p of Object.values(copy.pipelines))
    for (const s of p.stages) {
      if ('http' in s.run) hide(s.run.http.headers);
      if ('command' in s.run) hide(s.run.env);
      if ('external' in s.run && !('command' in s.run) && s.run.external.notify) hide(s.run.external.notify.headers);
    }
  return copy;
}

export function registerApi(app: FastifyInstance, engine: Engine, surfaces: () => string[]) {
  const { store } = engine;
  const view = async (id: number) => {
    // One consistent read: the job's gates, stages and artifacts as of the same moment.
    const v = await store.jobs.loadView(id);
    if (!v) return undefined;
    return withExternalWaits(jobJson(v.agg, v.artifacts, v.queuePosition), await engine.external.waiting(id), engine.now());
  };

  app.post('/jobs', async (req, reply) => {
    const body = parse(reply, jobBody, req.body);
    if (!body) return reply;
    const origin = req.identity.platform === 'console' ? 'console' : 'api';
    const result = await engine.submit(req.identity, { ...body, origin: { surface: origin } });
    if (!result.ok) return sendRefusal(reply, result);
    return reply.code(201).send({ message: result.message, job: await view(result.jobId) });
  });

  app.get('/jobs', async (req, reply) => {
    const q = parse(reply, listQuery, req.query);
    if (!q) return reply;
    const jobs = [];
    for (const r of await store.queries.list(q)) jobs.push(jobSummaryJson(r, r.state === 'queued' ? await store.queries.queuePosition(r.id) : null));
    return { jobs };
  });

  app.get('/jobs/:id', async (req, reply) => {
    const p = parse(reply, idParam, req.params);
    if (!p) return reply;
    return (await view(p.id)) ?? notFound(reply, `Job ${p.id}`);
  });

  app.get('/jobs/:id/events', async (req, reply) => {
    const p = parse(reply, idParam, req.params);
    const q = p && parse(reply, afterQuery, req.query);
    if (!p || !q) return reply;
    if (!(await store.jobs.loadShared(p.id))) return notFound(reply, `Job ${p.id}`);
    if (wantsEventStream(req))
      return streamEvents(engine, req, reply, q.after, {
        fetch: (after, limit) => store.events.forJob(p.id, after, limit),
        matches: (e) => e.job === p.id,
        position: (e) => e.seq,
      });
    return { events: (await store.events.forJob(p.id, q.after, q.limit)).map(eventJson) };
  });

  app.get('/events', async (req, reply) => {
    const q = parse(reply, afterQuery, req.query);
    if (!q) return reply;
    if (wantsEventStream(req))
      return streamEvents(engine, req, reply, q.after, { fetch: (after, limit) => store.events.since(after, limit), matches: () => true, position: (e) => e.id });
    return { events: (await store.events.since(q.after, q.limit)).map(eventJson) };
  });

  app.post('/jobs/:id/gates/:stage/:action', async (req, reply) => {
    const p = parse(reply, gateParams, req.params);
    const body = p && parse(reply, gateBody, req.body ?? undefined);
    if (!p || reply.sent) return reply;
    if (body?.note !== undefined && p.action !== 'approve')
      return reply.code(400).send({ error: 'invalid', path: 'note', message: 'note: only an approval takes a note; a rejection takes a reason.' });
    const reason = p.action === 'approve' ? body?.note ?? body?.reason : body?.reason;
    const r = await engine.act(req.identity, p.id, { type: p.action, stage: p.stage, ...(reason !== undefined ? { reason } : {}) });
    if (!r.ok) return sendRefusal(reply, r);
    return { message: r.message, job: await view(p.id) };
  });

  app.post('/jobs/:id/:action', async (req, reply) => {
    const p = parse(reply, jobActionParams, req.params);
    const body = p && parse(reply, reasonBody, req.body ?? undefined);
    if (!p || reply.sent) return reply;
    const r = await engine.act(req.identity, p.id, p.action === 'cancel' ? { type: 'cancel', ...(body?.reason ? { reason: body.reason } : {}) } : { type: 'retry' });
    if (!r.ok) return sendRefusal(reply, r);
    return { message: r.message, job: await view(p.id) };
  });

  app.get('/artifacts/:id', async (req, reply) => {
    const p = parse(reply, idParam, req.params);
    if (!p) return reply;
    const a = await store.artifacts.byId(p.id);
    if (!a) return notFound(reply, `Artifact ${p.id}`);
    return sendArtifact(reply, engine.contents, a, showsInline(a.mediaType) ? 'inline' : 'attachment', req.headers.range);
  });

  app.get('/pipelines', async () => ({
    pipelines: Object.entries(engine.config.pipelines).map(([name, p]) => ({
      name,
      description: p.description,
      params: p.params,
      stages: p.stages.map((s) => ({ id: s.id, name: s.name ?? s.id, kind: Object.keys(s.run)[0], gate: s.gate ?? null })),
    })),
  }));

  app.get('/config', async () => ({ ...sanitizedConfig(engine.config), surfaces: surfaces() }));
  registerDiffRoute(app, engine);
  registerGatesApi(app, engine);

}
