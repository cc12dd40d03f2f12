/**
 * The one HTTP server (fastify): health, metrics, the REST API, and later the chat endpoints and
 * the console. Fastify gives routing, body limits and JSON parsing with little overhead, which
 * matters for acknowledging chat interactions quickly.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import helmet from '@fastify/helmet';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Engine } from '../orchestrator/engine.js';
import type { RawHttpHandler } from '../bot/port.js';
import { registerApi } from './api.js';
import { authenticate } from './auth.js';
import { closeAllStreams } from './sse.js';
import { registerRunTokenRoute, registerRunsApi } from './runs-api.js';
import { redactRunUrl } from '../log.js';
import { healthFacts, type HealthSources } from '../cluster/health.js';
import { replicaId } from '../cluster/replica.js';

export interface ServerOptions {
  engine: Engine;
  apiToken: string;
  metrics: Registry;
  log: Logger;
  version: string;
  /** Connected chat surfaces, for /healthz and /api/v1/config. */
  surfaces?: () => string[];
  /**
   * Whether signoff has finished starting (engine running, chat platforms verified). Until then
   * /healthz answers 503, so that a 200 means ready, not only listening. Default: always ready.
   */
  ready?: () => boolean;
  /** POST paths answered by plain node:http handlers before fastify sees them (chat webhooks). */
  rawPosts?: Record<string, RawHttpHandler>;
  /** Largest artifact an external system may upload (default 100 MiB). */
  maxUploadBytes?: number;
  /** This process in its cluster, for /healthz (default: this replica, not the courier, the store's ping). */
  health?: HealthSources;
}

type SchemaCompilers = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/**
 * Fastify's JSON-schema compilers (ajv and fast-json-stringify), built only when a route first
 * declares a schema. Fastify otherwise loads them when the server is created, about a tenth of
 * signoff's start-up, and signoff validates with zod and declares no route schemas.
 */
function lazySchemaCompilers(): SchemaCompilers {
  // Resolved from fastify's own location: they are fastify's dependencies, not signoff's.
  const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));
  type Builder<K extends keyof SchemaCompilers> = NonNullable<SchemaCompilers[K]>;
  let validator: Builder<'buildValidator'> | undefined;
  let serializer: Builder<'buildSerializer'> | undefined;
  return {
    buildValidator: (...args) => (validator ??= (fastifyRequire('@fastify/ajv-compiler') as () => Builder<'buildValidator'>)())(...args),
    buildSerializer: (...args) => (serializer ??= (fastifyRequire('@fastify/fast-json-stringify-compiler') as () => Builder<'buildSerializer'>)())(...args),
  };
}

export async function buildServer(o: ServerOptions): Promise<FastifyInstance> {
  const config = o.engine.config;
  const app = Fastify({
    // Run tokens travel in report URLs: any request a log line carries has its URL redacted.
    loggerInstance: o.log.child({ component: 'http' }, { serializers: { req: (req: { method?: string; url?: string }) => ({ method: req.method, url: redactRunUrl(req.url ?? '') }) } }) as FastifyBaseLogger,
    // Request lines are not logged: URLs can carry an access token, and chat traffic is noisy.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.http.body_limit_bytes,
    trustProxy: false,
    schemaController: { compilersFactory: lazySchemaCompilers() },
    serverFactory: (handler) =>
      http.createServer((req, res) => {
        const raw = req.method === 'POST' ? o.rawPosts?.[(req.url ?? '').split('?')[0]!] : undefined;
        return raw ? raw(req, res) : handler(req, res);
      }),
  });
  await app.register(helmet, { contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } });
  if (config.http.cors_origins.length) {
    app.addHook('onRequest', async (req, reply) => {
      const origin = req.headers.origin;
      if (origin && config.http.cors_origins.includes(origin)) {
        reply.header('access-control-allow-origin', origin).header('vary', 'origin');
        reply.header('access-control-allow-headers', 'authorization, content-type, x-signoff-actor, last-event-id');
        reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
        if (req.method === 'OPTIONS') return reply.code(204).send();
      }
    });
  }
  // Only JSON bodies: a text/plain body would otherwise reach the handlers as a string.
  app.removeContentTypeParser('text/plain');
  app.addHook('preClose', async () => closeAllStreams());
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'request failed');
    const message =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `The request body is larger than ${config.http.body_limit_bytes} bytes.`
      : err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'Send JSON with Content-Type: application/json.'
      : status === 400 ? `The request body is not valid JSON: ${err.message}`
      : status === 500 ? 'Something went wrong inside signoff; the error was logged.' : err.message;
    return reply.code(status).send({ error: status === 500 ? 'internal' : 'bad_request', message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not_found', message: `No route ${req.method} ${redactRunUrl(req.url.split('?')[0]!)}.` }));

  const started = Date.now();
  const health: HealthSources = o.health ?? {
    replica: replicaId(),
    courier: () => false,
    database: () => o.engine.store.ping().then(() => true),
    stageRuns: () => o.engine.localRuns,
  };
  // 200 only when ready AND the database answers: a replica that cannot reach it can take no request.
  app.get('/healthz', async (_req, reply) => {
    const facts = await healthFacts(health);
    const ready = o.ready?.() ?? true;
    const ok = ready && facts.database === 'ok';
    return reply.code(ok ? 200 : 503).send({ ok, ...(ready ? {} : { starting: true }), version: o.version, uptime_s: Math.round((Date.now() - started) / 1000), surfaces: o.surfaces?.() ?? [], ...facts });
  });
  app.get('/metrics', async (_req, reply) => reply.header('content-type', o.metrics.contentType).send(await o.metrics.metrics()));
  // Reports from external systems carry a run token instead of the API token.
  registerRunsApi(app, o.engine, { maxUploadBytes: o.maxUploadBytes ?? 100 * 1024 * 1024 });
  await app.register(
    async (api) => {
      api.addHook('onRequest', authenticate(o.apiToken, config));
      registerApi(api, o.engine, o.surfaces ?? (() => []));
      registerRunTokenRoute(api, o.engine);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
