/**
 * The http stage adapter against a real HTTP server on 127.0.0.1: the request it sends, the
 * artifacts it writes, and how it reports failing, slow or misbehaving services.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpStage } from '../../src/stages/http.js';
import { StageError, type StageContext } from '../../src/stages/types.js';
import { stageError } from '../helpers/stage-error.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let handler: Handler = (_req, _body, res) => res.end('{}');
const requests: { headers: IncomingMessage['headers']; body: string }[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(() => {
  requests.splice(0);
  // Drops connections a test left hanging (the slow server), so they cannot leak into the next.
  server.closeAllConnections();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function makeCtx(overrides: Partial<StageContext> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'signoff-http-'));
  dirs.push(dir);
  const outputDir = path.join(dir, 'out');
  mkdirSync(outputDir);
  const progress: string[] = [];
  const ctx: StageContext = {
    jobId: 3,
    pipeline: 'blog',
    stageId: 'review',
    attempt: 1,
    brief: 'A post about gates',
    params: { audience: 'ops' },
    submitter: 'slack:U123',
    outputDir,
    logPath: path.join(dir, 'logs', 'review.log'),
    inputs: [{ id: 4, stage: 'draft', name: 'draft.md', path: path.join(dir, 'draft.md'), size: 99 }],
    signal: new AbortController().signal,
    progress: (message) => progress.push(message),
    log: pino({ level: 'silent' }),
    ...overrides,
  };
  return { ctx, dir, progress };
}

const stage = (timeout = 5_000, url = `${baseUrl}/review`) =>
  httpStage({ http: { url, timeout, headers: { authorization: 'Bearer s3cret', 'x-extra': 'yes' } } });

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}


describe('http stage', () => {
  it('posts the job and writes the artifacts of the answer', async () => {
    handler = (_req, _body, res) =>
      json(res, 200, {
        summary: 'Review: 2 notes',
        outputs: { score: 8 },
        artifacts: [
          { name: 'notes.md', text: '# Notes\n' },
          { name: 'chart.bin', base64: Buffer.from([0, 1, 2, 255]).toString('base64') },
        ],
      });
    const { ctx } = makeCtx({ redoReason: 'shorter please' });
    const outcome = await stage()(ctx);

    expect(outcome).toEqual({ summary: 'Review: 2 notes', outputs: { score: 8 } });
    expect(readFileSync(path.join(ctx.outputDir, 'notes.md'), 'utf8')).toBe('# Notes\n');
    expect([...readFileSync(path.join(ctx.outputDir, 'chart.bin'))]).toEqual([0, 1, 2, 255]);
    expect(requests).toHaveLength(1);
    const request = requests[0]!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.authorization).toBe('Bearer s3cret');
    expect(request.headers['x-extra']).toBe('yes');
    expect(JSON.parse(request.body)).toEqual({
      job: 3,
      pipeline: 'blog',
      stage: 'review',
      attempt: 1,
      brief: 'A post about gates',
      params: { audience: 'ops' },
      submitter: 'slack:U123',
      inputs: [{ stage: 'draft', name: 'draft.md', size: 99 }],
      redo_reason: 'shorter please',
      approval_notes: [],
    });
    const log = readFileSync(ctx.logPath, 'utf8');
    expect(log).toContain(`POST ${baseUrl}/review`);
    expect(log).toContain('HTTP 200');
    expect(log).not.toContain('s3cret');
  });

  it('rejects a non-2xx answer with an excerpt of its body', async () => {
    handler = (_req, _body, res) => res.writeHead(500).end(`database is down ${'x'.repeat(2_000)}`);
    const { ctx } = makeCtx();
    const error = await stageError(stage()(ctx));
    expect(error.code).toBe('http');
    expect(error.message).toMatch(new RegExp(`^HTTP 500 from ${baseUrl}/review: database is down x+$`));
    expect(error.message.length).toBeLessThan(600);
  });

  it('times out on a service that does not answer', async () => {
    const arrived: IncomingMessage[] = [];
    handler = (req) => arrived.push(req); // never answers
    const { ctx } = makeCtx();
    const error = await stageError(stage(300)(ctx));
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('300ms');
    expect(arrived).toHaveLength(1);
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    handler = () => controller.abort(); // aborts while the request is in flight
    const { ctx } = makeCtx({ signal: controller.signal });
    expect((await stageError(stage()(ctx))).code).toBe('cancelled');
  });

  it('rejects an answer that is not JSON', async () => {
    handler = (_req, _body, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"summary": oops');
    const { ctx } = makeCtx();
    const error = await stageError(stage()(ctx));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('not JSON');
  });

  it('rejects an answer of the wrong shape', async () => {
    handler = (_req, _body, res) => json(res, 200, { summary: 5, artifacts: [{ name: 'a.txt' }] });
    const { ctx } = makeCtx();
    const error = await stageError(stage()(ctx));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('summary');
    expect(error.message).toContain('artifacts.0');
  });

  it.each(['../evil', '/tmp/evil', '', 'sub/../../evil'])('refuses the artifact name %j and writes nothing', async (name) => {
    handler = (_req, _body, res) =>
      json(res, 200, { artifacts: [{ name: 'fine.txt', text: 'ok' }, { name, text: 'pwned' }] });
    const { ctx, dir } = makeCtx();
    const error = await stageError(stage()(ctx));
    expect(error.code).toBe('invalid');
    expect(readdirSync(ctx.outputDir)).toEqual([]);
    expect(existsSync(path.join(dir, 'evil'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['logs', 'out']);
  });

  it('refuses an answer over 10 MB', async () => {
    handler = (_req, _body, res) => {
      const chunk = 'x'.repeat(1024 * 1024);
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no content-length to go by
      for (let i = 0; i < 11; i++) res.write(chunk);
      res.end();
    };
    const { ctx } = makeCtx();
    const error = await stageError(stage()(ctx));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('larger than 10 MB');
  });

  it('times out on a service that stalls in the middle of its answer', async () => {
    handler = (_req, _body, res) => res.writeHead(200, { 'content-type': 'application/json' }).write('{"summary":');
    const { ctx } = makeCtx();
    expect((await stageError(stage(300)(ctx))).code).toBe('timeout');
  });

  it('reports a service that cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
    await new Promise((resolve) => closed.close(resolve));
    const { ctx } = makeCtx();
    const error = await stageError(stage(5_000, url)(ctx));
    expect(error.code).toBe('http');
    expect(error.message).toContain('could not reach');
  });
});
