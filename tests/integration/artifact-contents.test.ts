/**
 * Artifact contents every process can serve, on a real signoff (engine, command stages as child
 * processes, fastify on a real port) over each store. On PostgreSQL the contents are in the
 * database: an output downloads with the same bytes after the data directory is deleted, a 5 MiB
 * output is stored and streamed as 1 MiB chunks, a later stage gets its inputs as local files
 * copied from the database, and an output over SIGNOFF_MAX_ARTIFACT_BYTES fails its stage saying
 * so. On SQLite nothing is copied: inputs are the earlier stage's own files, as always.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type App, type AppOptions } from '../../src/app.js';
import { contentsId } from '../../src/artifacts/postgres.js';
import { artifactContentStatements } from '../../src/store/postgres/artifact-contents.js';
import type { PgStore } from '../../src/store/postgres/store.js';
import { ApiClient, type Json } from '../helpers/api-client.js';
import { madeBytes } from '../helpers/artifact-bytes.js';
import { FakeClock, OPERATORS, configFrom, silentLog } from '../helpers/fixtures.js';
import { STORES, appPlace, freshPlace, type StoreKind, type StorePlace } from '../helpers/stores.js';

const TOKEN = 'test-token-0123456789';
const SCRIPT = path.resolve(import.meta.dirname, '../fixtures/artifact-stage.mjs');
/** Five chunks and a bit: the last chunk is short, so chunk arithmetic is tested at both ends. */
const SIZE = 5 * 1024 * 1024 + 123;
const MiB = 1024 * 1024;

const command = (...args: string[]) => `{ command: [${[process.execPath, SCRIPT, ...args].map((a) => JSON.stringify(a)).join(', ')}] }`;
const pipelines = (size: number) => `
  pass:
    description: an output, then a stage that reads it
    stages:
      - id: make
        run: ${command('make', String(size))}
      - id: use
        run: ${command('consume')}`;

let app: App | undefined;
let place: StorePlace | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
  if (place) fs.rmSync(place.dataDir, { recursive: true, force: true });
  place = undefined;
});

async function boot(kind: StoreKind, extra: Partial<AppOptions> = {}, size = SIZE, same = false): Promise<ApiClient> {
  if (!same || !place) place = await freshPlace(kind, 'signoff-contents-');
  app = await startApp({
    config: configFrom(`${OPERATORS}\nlimits: { jobs_per_user_per_minute: 100, max_concurrent_jobs: 4 }\npipelines:${pipelines(size)}\n`),
    ...appPlace(place), apiToken: TOKEN, log: silentLog, host: '127.0.0.1', port: 0, clock: new FakeClock(), tickSchedule: false,
    ...extra,
  });
  return new ApiClient(app.url, TOKEN);
}

async function finished(api: ApiClient): Promise<Json> {
  const job = await api.submit('A film about bees', { pipeline: 'pass', actor: 'console:alice' });
  return api.waitForJob(job.id, (j) => ['succeeded', 'failed'].includes(j.state), 'the job to end');
}

/** The raw bytes of a download, with its status and headers. */
async function download(api: ApiClient, url: string, headers: Record<string, string> = {}) {
  const res = await fetch(api.url(url), { headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

const artifact = (job: Json, stage: string, name: string): Json => job.artifacts.find((a: Json) => a.stage === stage && a.name === name);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(STORES)('artifact downloads and stage inputs (%s)', (kind) => {
  it('a later stage gets the earlier output as a local file with its bytes; the download and byte ranges give the same bytes', async () => {
    const api = await boot(kind);
    const job = await finished(api);
    expect(job.state).toBe('succeeded');
    const data = artifact(job, 'make', 'data.bin');
    const expected = madeBytes(SIZE);
    expect(data).toMatchObject({ size: SIZE, sha256: sha256(expected) });

    // What the `use` stage was handed: a file it could read, with the right bytes.
    const received = JSON.parse((await download(api, artifact(job, 'use', 'received.json').url)).bytes.toString('utf8'));
    const input = received.find((i: Json) => i.name === 'data.bin');
    expect(input).toMatchObject({ stage: 'make', size: SIZE, sha256: sha256(expected) });
    const makeOut = path.join(place!.dataDir, 'artifacts', String(job.id), 'make', 'run-1', 'out', 'data.bin');
    if (kind === 'sqlite') expect(input.path).toBe(makeOut); // no copy on SQLite: the stage's own file
    else expect(input.path).toBe(path.join(place!.dataDir, 'artifacts', String(job.id), 'use', 'run-1', 'inputs', 'make', 'data.bin'));

    const whole = await download(api, data.url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.bytes.equals(expected)).toBe(true);

    // A range across the first chunk boundary, one from the middle to the end, and a suffix.
    for (const [header, start, end] of [[`bytes=${MiB - 5}-${MiB + 9}`, MiB - 5, MiB + 9], [`bytes=${3 * MiB + 1}-`, 3 * MiB + 1, SIZE - 1], ['bytes=-100', SIZE - 100, SIZE - 1]] as const) {
      const part = await download(api, data.url, { range: header });
      expect(part.status, header).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(part.bytes.equals(expected.subarray(start, end + 1)), header).toBe(true);
    }
    const past = await download(api, data.url, { range: `bytes=${SIZE}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${SIZE}`);
  });
});

describe('an artifact whose contents are gone', () => {
  it('answers 410 with a message saying what happened and what to do, on the API and the console alike', async () => {
    const api = await boot('sqlite');
    const job = await finished(api);
    const note = artifact(job, 'make', 'note.txt');
    fs.rmSync(path.join(place!.dataDir, 'artifacts', String(job.id), 'make', 'run-1', 'out', 'note.txt'));
    const res = await download(api, note.url);
    expect(res.status).toBe(410);
    expect(JSON.parse(res.bytes.toString('utf8'))).toMatchObject({ error: 'gone', message: expect.stringMatching(/contents of artifact \d+ \(note\.txt\) are no longer where signoff keeps them.*Run its stage again/) });
    // The process goes on serving the rest.
    expect((await download(api, artifact(job, 'make', 'data.bin').url)).status).toBe(200);
  });
});

describe('artifact contents in PostgreSQL', () => {
  it('are stored in 1 MiB chunks and served with the same bytes after the data directory is deleted', async () => {
    const api = await boot('postgres');
    const job = await finished(api);
    expect(job.state).toBe('succeeded');
    const data = artifact(job, 'make', 'data.bin');
    const row = (await app!.store.artifacts.byId(data.id))!;
    const id = contentsId(row.path);
    expect(id, row.path).toBeDefined();
    const contents = artifactContentStatements((app!.store as PgStore).pool);
    expect(await contents.chunkCount(id!)).toBe(6);
    expect((await contents.chunk(id!, 5))!.length).toBe(123);
    // The scratch run directories went when their runs ended.
    expect(fs.existsSync(path.join(place!.dataDir, 'artifacts', String(job.id), 'make', 'run-1'))).toBe(false);

    fs.rmSync(place!.dataDir, { recursive: true, force: true });
    const whole = await download(api, data.url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe(String(SIZE));
    expect(whole.bytes.equals(madeBytes(SIZE))).toBe(true);
    const note = await download(api, artifact(job, 'make', 'note.txt').url);
    expect(note.bytes.toString('utf8')).toBe('made by the make stage\n');
    // A range read from the database: only the chunks it covers.
    expect((await download(api, data.url, { range: 'bytes=0-9' })).bytes.equals(madeBytes(10))).toBe(true);
  });

  it('an output over SIGNOFF_MAX_ARTIFACT_BYTES fails its stage, naming the file, its size and the setting', async () => {
    const api = await boot('postgres', { maxArtifactBytes: 4096 }, 5000);
    const job = await finished(api);
    expect(job.state).toBe('failed');
    const make = job.stages.find((s: Json) => s.id === 'make' || s.stage === 'make');
    expect(make.state).toBe('failed');
    expect(make.error).toContain('The output "data.bin" is');
    expect(make.error).toContain('(5000 bytes)');
    expect(make.error).toContain('SIGNOFF_MAX_ARTIFACT_BYTES');
    expect(make.error).toContain('4096 bytes');
    expect(job.artifacts).toEqual([]);
    const count = await (app!.store as PgStore).pool.query('SELECT count(*)::int AS n FROM artifact_contents');
    expect(count.rows[0].n).toBe(0);
  });

  it('a start removes stored contents no artifact names once they are an hour old; named ones stay', async () => {
    const clock = new FakeClock();
    let api = await boot('postgres', { clock }, 3000);
    const job = await finished(api);
    const statements = artifactContentStatements((app!.store as PgStore).pool);
    // As a run whose success lost its compare-and-set would leave them: stored, named by no artifact.
    const lost = async (at: number) => statements.put(job.id, 8, (async function* () { yield Buffer.from('lost run'); })(), at);
    const old = await lost(clock.now() - 2 * 60 * 60 * 1000);
    const recent = await lost(clock.now() - 60_000);
    await app!.stop();
    api = await boot('postgres', { clock }, 3000, true);
    const left = (await (app!.store as PgStore).pool.query<{ id: number }>('SELECT id FROM artifact_contents')).rows.map((r) => Number(r.id));
    expect(left).not.toContain(old);
    expect(left).toContain(recent);
    expect(left).toHaveLength(job.artifacts.length + 1);
    expect((await download(api, artifact(job, 'make', 'data.bin').url)).bytes.equals(madeBytes(3000))).toBe(true);
  });

  it('a stage that did its work still succeeds when storing its outputs fails once (the database was briefly away)', async () => {
    const api = await boot('postgres', {}, 3000);
    // The first chunk written fails as a dropped connection would; a sequence is not rolled back,
    // so only the first attempt fails.
    await (app!.store as PgStore).pool.query(`
      CREATE SEQUENCE chunk_faults;
      CREATE FUNCTION fail_first_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('chunk_faults') = 1 THEN RAISE EXCEPTION 'injected: the connection was lost'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER fail_first_chunk BEFORE INSERT ON artifact_chunks FOR EACH ROW EXECUTE FUNCTION fail_first_chunk();`);
    const job = await finished(api);
    expect(job.state).toBe('succeeded');
    expect((await (app!.store as PgStore).pool.query('SELECT last_value::int AS n FROM chunk_faults')).rows[0].n).toBeGreaterThan(1);
    expect((await download(api, artifact(job, 'make', 'data.bin').url)).bytes.equals(madeBytes(3000))).toBe(true);
  });

  it('SIGNOFF_ARTIFACTS_DIR keeps contents as files in that directory instead', async () => {
    const shared = path.join((await freshPlace('sqlite', 'signoff-shared-')).dataDir, 'artifacts');
    try {
      const api = await boot('postgres', { artifactsDir: shared }, 2000);
      const job = await finished(api);
      const data = artifact(job, 'make', 'data.bin');
      const file = path.join(shared, String(job.id), 'make', 'run-1', 'out', 'data.bin');
      expect((await app!.store.artifacts.byId(data.id))!.path).toBe(file);
      expect(fs.readFileSync(file).equals(madeBytes(2000))).toBe(true);
      expect((await download(api, data.url)).bytes.equals(madeBytes(2000))).toBe(true);
    } finally {
      fs.rmSync(path.dirname(shared), { recursive: true, force: true });
    }
  });
});
