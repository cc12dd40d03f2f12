/**
 * The HTTP server's own behaviour, below the API: fastify's JSON-schema compilers are loaded
 * only when a route declares a schema (signoff's routes validate with zod), and then they work as
 * fastify documents them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/http/server.js';
import { createMetrics } from '../../src/http/metrics.js';
import { Engine } from '../../src/orchestrator/engine.js';
import { openStore, type Store } from '../../src/store/store.js';
import { QUICK_PIPELINE, configFrom, silentLog, tempDir } from '../helpers/fixtures.js';

let server: FastifyInstance | undefined;
let store: Store | undefined;
let dir: string | undefined;

afterEach(async () => {
  await server?.close();
  store?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  server = store = dir = undefined;
});

it('validates and serialises a route that declares a JSON schema', async () => {
  dir = tempDir('signoff-http-');
  store = openStore(path.join(dir, 'signoff.db'));
  const engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: dir, baseDir: dir, log: silentLog, tickSchedule: false });
  server = await buildServer({ engine, apiToken: 'test-token-0123456789', metrics: createMetrics(engine), log: silentLog, version: 'test' });
  server.post(
    '/echo',
    {
      schema: {
        body: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
        response: { 200: { type: 'object', properties: { hello: { type: 'string' } } } },
      },
    },
    async (req) => ({ hello: (req.body as { name: string }).name, notInTheSchema: 'dropped' }),
  );

  const ok = await server.inject({ method: 'POST', url: '/echo', payload: { name: 'alice' } });
  expect(ok.statusCode).toBe(200);
  expect(ok.json()).toEqual({ hello: 'alice' });
  const refused = await server.inject({ method: 'POST', url: '/echo', payload: { name: '' } });
  expect(refused.statusCode).toBe(400);
  expect(refused.json()).toMatchObject({ error: 'bad_request' });
});

it('answers /healthz 503 until signoff says it is ready, then 200', async () => {
  dir = tempDir('signoff-http-');
  store = openStore(path.join(dir, 'signoff.db'));
  const engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: dir, baseDir: dir, log: silentLog, tickSchedule: false });
  let ready = false;
  server = await buildServer({ engine, apiToken: 'test-token-0123456789', metrics: createMetrics(engine), log: silentLog, version: 'test', ready: () => ready });
  const starting = await server.inject({ method: 'GET', url: '/healthz' });
  expect(starting.statusCode).toBe(503);
  expect(starting.json()).toMatchObject({ ok: false, starting: true });
  ready = true;
  const healthy = await server.inject({ method: 'GET', url: '/healthz' });
  expect(healthy.statusCode).toBe(200);
  expect(healthy.json()).toMatchObject({ ok: true, version: 'test' });
});
