/**
 * Hostile input to the report endpoints of external runs (/api/v1/runs/:token/…), which need no
 * API token: malformed and oversized bodies, path tricks and NUL bytes in artifact names and
 * tokens. Each gets a clear 4xx answer and changes nothing (checked against a fingerprint of the
 * job, stage, event, artifact and external-run rows and of every file under the data directory),
 * and the run still completes normally afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { MAX_FILES_PER_RUN } from '../../src/http/runs-api.js';
import { ApiClient } from '../helpers/api-client.js';
import { configFrom, silentLog, tempDir } from '../helpers/fixtures.js';
import { NotifyReceiver } from '../helpers/notify-receiver.js';
import { waitFor } from '../helpers/wait.js';
import { sqliteOnly } from '../../src/store/store.js';

const TOKEN = 'test-token-0123456789';
let app: App;
let receiver: NotifyReceiver;
let api: ApiClient;
let dataDir: string;
let jobId: number;
let runToken: string;

beforeAll(async () => {
  receiver = await new NotifyReceiver().start();
  dataDir = tempDir('signoff-hostile-runs-');
  app = await startApp({
    config: configFrom(`
http: { body_limit_bytes: 4096 }
pipelines:
  ci:
    stages:
      - id: deploy
        run: { external: { notify: { url: "${receiver.url}/notify" }, timeout: 1h } }
`),
    dataDir, apiToken: TOKEN, log: silentLog, host: '127.0.0.1', port: 0, tickSchedule: false, maxUploadBytes: 10_000,
  });
  api = new ApiClient(app.url, TOKEN);
  jobId = (await api.submit('deploy', { pipeline: 'ci' })).id;
  await waitFor(() => receiver.to('/notify').length === 1, 'the notification');
  runToken = receiver.to('/notify')[0]!.body.token;
  await waitFor(async () => (await api.job(jobId)).stages[0].external?.notify === 'delivered', 'the notification to be recorded');
});

afterAll(async () => {
  await app?.stop();
  await receiver?.stop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Every row that a report could change, and every file (not directory) under the data directory but the database's. */
function fingerprint(): string {
  const db = sqliteOnly(app.store).db;
  const rows = ['jobs', 'stages', 'events', 'artifacts', 'external_runs', 'external_tokens'].map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t}`).all()));
  const files = fs
    .readdirSync(dataDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('signoff.'))
    .map((e) => path.relative(dataDir, path.join(e.parentPath, e.name)))
    .sort();
  return [...rows, JSON.stringify(files)].join('\n');
}

const raw = (method: string, route: string, body?: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(`${app.url}${route}`, { method, ...(body !== undefined ? { body } : {}), headers });

describe('the report endpoints under hostile input', () => {
  it('answers malformed JSON, wrong types, unknown keys, NUL bytes and wrong media types with 4xx, changing nothing', async () => {
    const before = fingerprint();
    const json = { 'content-type': 'application/json' };
    const cases: [string, string | undefined, Record<string, string>, number][] = [
      ['complete', '{"summary": "ok"', json, 400],
      ['complete', '{"summary": 42}', json, 400],
      ['complete', '{"summary": "ok", "token": "x"}', json, 400],
      ['complete', '{"outputs": [1, 2]}', json, 400],
      ['complete', '"just a string"', json, 400],
      ['complete', '{"summary": "ok\\u0000hidden"}', json, 400],
      ['progress', '{"message": "\\u0000"}', json, 400],
      ['progress', '{"message": "   "}', json, 400],
      ['fail', '{}', json, 400],
      ['fail', 'error=oops', { 'content-type': 'application/x-www-form-urlencoded' }, 415],
      ['progress', 'hello', { 'content-type': 'text/plain' }, 415],
    ];
    for (const [what, body, headers, status] of cases) {
      const r = await raw('POST', `/api/v1/runs/${runToken}/${what}`, body, headers);
      expect(r.status, `${what} ${body}`).toBe(status);
      expect(((await r.json()) as { message?: string }).message, `${what} ${body}`).toEqual(expect.any(String));
    }
    expect(fingerprint()).toBe(before);
  });

  it('refuses a body over the limit and an upload over the cap, storing nothing', async () => {
    const before = fingerprint();
    const huge = await raw('POST', `/api/v1/runs/${runToken}/progress`, JSON.stringify({ message: 'x'.repeat(100_000) }), { 'content-type': 'application/json' });
    expect(huge.status).toBe(413);
    // Declared too large: refused before reading.
    const declared = await raw('PUT', `/api/v1/runs/${runToken}/artifacts/big.bin`, Buffer.alloc(20_000));
    expect(declared.status).toBe(413);
    // Streamed without a length (chunked): cut off at the cap.
    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(4_000));
        c.close();
      },
    });
    const streamed = await fetch(`${app.url}/api/v1/runs/${runToken}/artifacts/big.bin`, { method: 'PUT', body: chunks, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(fingerprint()).toBe(before);
  });

  it('refuses path tricks, hidden names and NUL bytes in artifact names and tokens, writing no file anywhere', async () => {
    const before = fingerprint();
    const names = ['..%2Fx', '..', '%2E%2E', 'a%2F..%2F..%2Fb', '%2Fetc%2Fpasswd', 'x%00y', '.hidden', 'deploy.log', `${'n'.repeat(129)}`, 'a%5Cb', 'sp%20ace'];
    for (const name of names) {
      const r = await raw('PUT', `/api/v1/runs/${runToken}/artifacts/${name}`, 'payload');
      // 414: fastify refuses a path parameter over 100 characters before any handler runs.
      expect([400, 404, 414], name).toContain(r.status);
    }
    // Unencoded, the client folds the dots away: the request then names no route at all.
    expect((await raw('PUT', `/api/v1/runs/${runToken}/artifacts/a/../../b`, 'payload')).status).toBe(404);
    for (const token of [`${runToken}%00`, `%00${runToken}`, '..%2F..%2Fjobs', `${runToken.slice(0, 20)}%2F${runToken.slice(20)}`]) {
      const r = await raw('POST', `/api/v1/runs/${token}/heartbeat`);
      expect([400, 404], token).toContain(r.status);
    }
    expect(fingerprint()).toBe(before);
    // Many names: a run holds at most MAX_FILES_PER_RUN files; the next new name stores nothing.
    for (let i = 0; i < MAX_FILES_PER_RUN; i++) expect((await raw('PUT', `/api/v1/runs/${runToken}/artifacts/f${i}.txt`, 'x')).status).toBe(201);
    const full = fingerprint();
    const more = await raw('PUT', `/api/v1/runs/${runToken}/artifacts/one-more.txt`, 'x');
    expect(more.status).toBe(409);
    expect(fingerprint()).toBe(full);
    // Replacing a file it holds is still fine; then the test clears them for what follows.
    expect((await raw('PUT', `/api/v1/runs/${runToken}/artifacts/f0.txt`, 'y')).status).toBe(201);
    const out = path.join(dataDir, 'artifacts', String(jobId), 'deploy', 'run-1', 'out');
    for (const f of fs.readdirSync(out)) fs.rmSync(path.join(out, f));
    // After all that the run still works as it should.
    expect((await raw('PUT', `/api/v1/runs/${runToken}/artifacts/ok.txt`, 'fine')).status).toBe(201);
    expect((await raw('POST', `/api/v1/runs/${runToken}/complete`, '{"summary":"done"}', { 'content-type': 'application/json' })).status).toBe(200);
    const job = await api.waitForJob(jobId, (j) => j.state === 'succeeded', 'the job to succeed');
    expect(job.artifacts.map((a: { name: string }) => a.name)).toEqual(['ok.txt']);
    const outside = (fs.readdirSync(dataDir, { recursive: true }) as string[]).filter((f) => /(^|\/)(x|b|passwd|payload)$/.test(f));
    expect(outside).toEqual([]);
    expect(path.resolve(dataDir, 'b')).not.toSatisfy((p: string) => fs.existsSync(p));
  });
});
