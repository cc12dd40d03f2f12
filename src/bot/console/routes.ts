/**
 * The local console: a chat-like web page on signoff's own port, for trying everything with no
 * Slack or Discord. It is the third renderer of the shared views. Loopback only; every request
 * needs the console token (in the URL printed at start). People act as the console users of the
 * config, chosen in the page's "acting as" selector.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PACKAGE_DIR } from '../../config/env.js';
import type { Engine } from '../../orchestrator/engine.js';
import { actorFor, groupsOf, type Identity } from '../../orchestrator/policy.js';
import { pendingFor } from '../views/pending.js';
import { sameSecret } from '../../http/api-token.js';
import { sendArtifact } from '../../http/send-artifact.js';
import { streamEvents } from '../../http/sse.js';
import { executeCommand } from '../commands/execute.js';
import { helpText, parseCommand } from '../commands/parse.js';
import { consoleUpdate, jobThread } from './job-thread.js';
import { diffJson, lookupDiff } from '../../http/diff-route.js';

const PUBLIC_DIR = path.join(PACKAGE_DIR, 'src', 'bot', 'console', 'public');
const ASSETS: Record<string, string> = {
  // The page's ES modules: main.js imports the rest.
  'main.js': 'text/javascript; charset=utf-8',
  'state.js': 'text/javascript; charset=utf-8',
  'format.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'scroll.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'users.js': 'text/javascript; charset=utf-8',
  'render-job.js': 'text/javascript; charset=utf-8',
  'render-gate.js': 'text/javascript; charset=utf-8',
  'render-artifacts.js': 'text/javascript; charset=utf-8',
  'render-diff.js': 'text/javascript; charset=utf-8',
  'timeline.js': 'text/javascript; charset=utf-8',
  'live.js': 'text/javascript; charset=utf-8',
  'commands.js': 'text/javascript; charset=utf-8',
  'actions.js': 'text/javascript; charset=utf-8',
  'needs-you.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

const commandBody = z.strictObject({ as: z.string().min(1), text: z.string().max(20_000) });
const actionBody = z.strictObject({ as: z.string().min(1), reason: z.string().max(2_000).optional(), note: z.string().max(20_000).optional(), round: z.number().int().positive().optional() });
const gateParams = z.object({ id: z.coerce.number().int().positive(), stage: z.string().min(1).max(64), action: z.enum(['approve', 'reject', 'hold']) });
const idParams = z.object({ id: z.coerce.number().int().positive() });

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;
/** The page shell holds no data, and a script or stylesheet tag cannot send the token. */
const SHELL = new Set(['/', ...Object.keys(ASSETS).map((asset) => `/console/${asset}`)]);

export function registerConsole(app: FastifyInstance, engine: Engine, token: string, clock: { now(): number } = { now: () => Date.now() }): void {
  const { store, config } = engine;
  const users = Object.entries(config.operators).flatMap(([, g]) => g.console);
  const uniqueUsers = [...new Set(users)];
  const identity = (name: string): Identity | undefined => (uniqueUsers.includes(name) ? { platform: 'console', user: name } : undefined);

  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!LOOPBACK.test(req.socket.remoteAddress ?? '')) return reply.code(403).send({ error: 'forbidden', message: 'The console only answers on this machine (loopback).' });
    if ((req.method === 'GET' || req.method === 'HEAD') && SHELL.has(req.url.split('?')[0]!)) return;
    const given = (req.headers['x-console-token'] as string | undefined) ?? (req.query as Record<string, string> | undefined)?.token;
    if (!given || !sameSecret(given, token)) {
      const message = 'Open the console with the URL signoff printed at start (it carries ?token=…).';
      return req.url.startsWith('/console/api') ? reply.code(401).send({ error: 'unauthorized', message }) : reply.code(401).type('text/plain; charset=utf-8').send(message);
    }
  };

  app.register(async (scope) => {
    scope.addHook('onRequest', guard);
    // The page runs our own script only; artifacts are shown from the same origin.
    const csp = "default-src 'self'; img-src 'self' data:; media-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    scope.get('/', async (_req, reply) => reply.header('content-security-policy', csp).type('text/html; charset=utf-8').send(fs.createReadStream(path.join(PUBLIC_DIR, 'index.html'))));
    scope.get('/console/:asset', async (req, reply) => {
      const asset = (req.params as { asset: string }).asset;
      const type = ASSETS[asset];
      if (!type) return reply.code(404).send({ error: 'not_found', message: `No console file ${asset}.` });
      return reply.header('content-security-policy', csp).type(type).header('cache-control', 'no-cache').send(fs.createReadStream(path.join(PUBLIC_DIR, asset)));
    });

    scope.get('/console/api/session', async () => ({
      users: uniqueUsers.map((name) => ({ name, groups: groupsOf(config.operators, { platform: 'console', user: name }) })),
      pipelines: Object.entries(config.pipelines).map(([name, p]) => ({
        name,
        description: p.description,
        params: p.params,
        stages: p.stages.map((s) => ({ id: s.id, name: s.name ?? s.id, gate: s.gate ? { required: s.gate.required, approvers: s.gate.approvers } : null })),
      })),
      help: helpText(),
      serverNow: clock.now(),
    }));

    scope.get('/console/api/jobs', async () => {
      const now = clock.now();
      // The last event id first: the stream resumes after it, so nothing falls in between.
      const lastEventId = await store.queries.lastEventId();
      const jobs: unknown[] = [];
      for (const r of await store.queries.list({ limit: 30 })) {
        const thread = await jobThread(store, r.id, now);
        if (thread) jobs.push(thread);
      }
      return { jobs, lastEventId, serverNow: now };
    });

    scope.get('/console/api/jobs/:id', async (req, reply) => {
      const p = idParams.safeParse(req.params);
      const thread = p.success ? await jobThread(store, p.data.id, clock.now()) : undefined;
      return thread ?? reply.code(404).send({ error: 'not_found', message: 'No such job.' });
    });

    scope.get('/console/api/stream', async (req, reply) => {
      const after = Number((req.query as Record<string, string>).after ?? 0) || 0;
      streamEvents(engine, req, reply, after, {
        fetch: (from, limit) => store.events.since(from, limit),
        matches: () => true,
        position: (e) => e.id,
        render: (e) => consoleUpdate(store, e, clock.now()),
        eventName: 'update',
      });
    });

    // "Needs you": the open gates the person acting may decide now, oldest first.
    scope.get('/console/api/pending', async (req, reply) => {
      const who = identity(String((req.query as Record<string, string>).as ?? ''));
      if (!who) return reply.code(403).send({ ok: false, text: 'Say who is acting: ?as=<console user>.' });
      return { items: await pendingFor(store, actorFor(config.operators, who)) };
    });

    scope.post('/console/api/command', async (req, reply) => {
      const body = commandBody.safeParse(req.body);
      if (!body.success) return reply.code(400).send({ ok: false, text: 'Send {"as": "<console user>", "text": "/signoff …"}.' });
      const who = identity(body.data.as);
      if (!who) return reply.code(403).send({ ok: false, text: `"${body.data.as}" is not a console user in the config.` });
      const parsed = parseCommand(body.data.text);
      if (!parsed.ok) return { ok: false, text: parsed.message };
      return executeCommand(engine, who, parsed.command, { surface: 'console' });
    });

    scope.post('/console/api/jobs/:id/gates/:stage/:action', async (req, reply) => {
      const p = gateParams.safeParse(req.params);
      const body = actionBody.safeParse(req.body ?? {});
      if (!p.success || !body.success) return reply.code(400).send({ ok: false, text: 'Bad gate action.' });
      const who = identity(body.data.as);
      if (!who) return reply.code(403).send({ ok: false, text: `"${body.data.as}" is not a console user in the config.` });
      const { id, stage, action } = p.data;
      const round = body.data.round !== undefined ? { round: body.data.round } : {};
      // An approval's note travels as its vote's reason (the engine caps it and says by how much).
      const reason = action === 'approve' ? body.data.note ?? body.data.reason : body.data.reason;
      const r = await engine.act(who, id, action === 'hold' ? { type: 'hold', stage, ...round } : { type: action, stage, ...round, ...(reason !== undefined ? { reason } : {}) });
      return { ok: r.ok, text: r.message, ...(r.ok ? {} : { code: r.code }) };
    });

    scope.get('/console/api/jobs/:id/gates/:stage/diff', async (req, reply) => {
      const p = z.object({ id: z.coerce.number().int().positive(), stage: z.string().min(1).max(64) }).safeParse(req.params);
      const round = Number((req.query as Record<string, string>).round);
      if (!p.success || !Number.isSafeInteger(round) || round < 1) return reply.code(400).send({ error: 'invalid', message: 'Name a job, a stage and ?round=N.' });
      const found = await lookupDiff(engine, p.data.id, p.data.stage, round, clock.now());
      if ('missing' in found) return reply.code(404).send({ error: 'not_found', message: `${found.missing} does not exist.` });
      return diffJson(p.data.id, found.diff, (aid) => `/console/api/artifacts/${aid}`);
    });

    scope.get('/console/api/artifacts/:id', async (req, reply) => {
      const p = idParams.safeParse(req.params);
      const a = p.success ? await store.artifacts.byId(p.data.id) : undefined;
      if (!a) return reply.code(404).send({ error: 'not_found', message: 'No such artifact.' });
      return sendArtifact(reply, engine.contents, a, (req.query as Record<string, string>).download === '1' ? 'attachment' : 'inline', req.headers.range);
    });
  });
}
