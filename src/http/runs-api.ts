/**
 * The report endpoints of runs that wait for an external system, under /api/v1/runs/:token.
 * They need no API token: the run token in the path is the whole capability, and it opens only
 * its own run's progress, heartbeat, artifacts and outcome. Nothing here logs a URL or a token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../orchestrator/engine.js';
import type { ReportAnswer } from '../orchestrator/external-runs.js';
import { actorFor, mayManage } from '../orchestrator/policy.js';
import { mediaTypeOf } from '../stages/collect-artifacts.js';
import { parseOr400 as parse, sendInvalid } from './errors.js';

const tokenParam = z.object({ token: z.string().max(200) });
/** Text an outside system sends is shown to people: no NUL bytes (they cut text short in C-based tools). */
const text = (max: number) => z.string().max(max).refine((t) => !t.includes('\0'), 'must not contain NUL bytes');
const progressBody = z.strictObject({ message: text(2_000).pipe(z.string().trim().min(1)) });
const completeBody = z.strictObject({ summary: text(2_000).optional(), outputs: z.record(z.string(), z.unknown()).optional() });
const failBody = z.strictObject({ error: text(2_000).pipe(z.string().trim().min(1)) });
/** One plain file name: no directories, no `..`, no control characters; at most 128 characters. */
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Files one run may hold (each up to the size cap), so a token cannot fill the disk with names. */
export const MAX_FILES_PER_RUN = 200;

export interface RunsApiOptions {
  /** Largest upload kept, in bytes; a larger one is refused and nothing is stored. */
  maxUploadBytes: number;
}

const answer = (reply: FastifyReply, a: ReportAnswer) => reply.code(a.status).send(a.body);

export function registerRunsApi(app: FastifyInstance, engine: Engine, o: RunsApiOptions): void {
  const runs = engine.external;

  app.post('/api/v1/runs/:token/progress', async (req, reply) => {
    const p = parse(reply, tokenParam, req.params);
    const body = p && parse(reply, progressBody, req.body);
    if (!p || !body) return reply;
    return answer(reply, await runs.progress(p.token, body.message));
  });

  app.post('/api/v1/runs/:token/heartbeat', async (req, reply) => {
    const p = parse(reply, tokenParam, req.params);
    if (!p) return reply;
    return answer(reply, await runs.heartbeat(p.token));
  });

  app.post('/api/v1/runs/:token/complete', async (req, reply) => {
    const p = parse(reply, tokenParam, req.params);
    const body = p && parse(reply, completeBody, req.body ?? {});
    if (!p || !body) return reply;
    return answer(reply, await runs.finish(p.token, { kind: 'complete', ...body }));
  });

  app.post('/api/v1/runs/:token/fail', async (req, reply) => {
    const p = parse(reply, tokenParam, req.params);
    const body = p && parse(reply, failBody, req.body);
    if (!p || !body) return reply;
    return answer(reply, await runs.finish(p.token, { kind: 'fail', error: body.error }));
  });

  // Uploads are streamed to disk, whatever their content type: a scope of their own, where no
  // body parser reads (or buffers) the request.
  app.register(async (uploads) => {
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser('*', (_req, _payload, done) => done(null));
    uploads.put('/api/v1/runs/:token/artifacts/:name', async (req, reply) => {
      const p = parse(reply, tokenParam.extend({ name: z.string().max(1_000) }), req.params);
      if (!p) return reply;
      const refuse = (status: number, error: string, message: string) => {
        // The body is not read: close the connection rather than leave it half-consumed.
        reply.header('connection', 'close');
        return reply.code(status).send({ error, message });
      };
      const a = await runs.authorize(p.token);
      if ('answer' in a) return refuse(a.answer.status, a.answer.body.error ?? 'refused', a.answer.body.message);
      const run = a.run;
      if (!ARTIFACT_NAME.test(p.name) || p.name.includes('..') || p.name === `${run.stage}.log`)
        return refuse(400, 'invalid_name', 'An artifact name is one plain file name: letters, digits, ".", "_" or "-", starting with a letter or digit, at most 128 characters, no "..".');
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > o.maxUploadBytes)
        return refuse(413, 'too_large', `An artifact may be at most ${o.maxUploadBytes} bytes.`);

      const outDir = runs.outputDir(run);
      const partDir = path.join(path.dirname(outDir), 'uploads');
      mkdirSync(partDir, { recursive: true });
      mkdirSync(outDir, { recursive: true });
      const part = path.join(partDir, `${randomBytes(8).toString('hex')}.part`);
      const hash = createHash('sha256');
      let size = 0;
      let tooLarge = false;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, next) {
          size += chunk.length;
          if (size > o.maxUploadBytes) {
            tooLarge = true;
            return next(new Error('too large'));
          }
          hash.update(chunk);
          next(null, chunk);
        },
      });
      // The file is made before the stream starts: a stream that opens it itself may do so after
      // a failed upload was cleaned away, leaving a stray part file.
      const file = await open(part, 'wx');
      try {
        await pipeline(req.raw, meter, file.createWriteStream());
      } catch (err) {
        await file.close().catch(() => undefined);
        rmSync(part, { force: true });
        if (tooLarge) return refuse(413, 'too_large', `An artifact may be at most ${o.maxUploadBytes} bytes; nothing was stored.`);
        req.log.warn({ err }, 'an artifact upload broke off');
        return refuse(400, 'upload_failed', 'The upload broke off; nothing was stored. Send it again.');
      }
      // Checked again at the last moment: a complete, cancel or expiry during the upload wins.
      // The store is read first; then a report that began meanwhile is checked, and the file
      // renamed, without yielding, so no `complete` can come between them.
      if (!(await runs.mayKeepUpload(run.id)) || runs.completingNow(run.id)) {
        rmSync(part, { force: true });
        return refuse(410, 'gone', 'The run ended during the upload; nothing was stored.');
      }
      const target = path.join(outDir, p.name);
      if (!existsSync(target) && readdirSync(outDir).length >= MAX_FILES_PER_RUN) {
        rmSync(part, { force: true });
        return refuse(409, 'too_many', `A run may hold at most ${MAX_FILES_PER_RUN} files; nothing was stored.`);
      }
      renameSync(part, target);
      await runs.touch(run.id);
      return reply.code(201).send({ message: `Stored ${p.name}; it counts when the run completes.`, name: p.name, size, media_type: mediaTypeOf(p.name), sha256: hash.digest('hex') });
    });
  });
}

/**
 * `POST /api/v1/jobs/:id/stages/:stage/run-token` (API token required): another token for the
 * stage's waiting run, for the submitter or anyone who may decide one of the pipeline's gates.
 * This is how an `external` stage without `notify` (or a person's script) gets its token.
 */
export function registerRunTokenRoute(api: FastifyInstance, engine: Engine): void {
  const params = z.object({ id: z.coerce.number().int().positive(), stage: z.string().min(1).max(64) });
  api.post('/jobs/:id/stages/:stage/run-token', async (req, reply) => {
    const p = params.safeParse(req.params);
    if (!p.success) return sendInvalid(reply, p.error);
    const agg = await engine.store.jobs.load(p.data.id);
    if (!agg) return reply.code(404).send({ error: 'not_found', message: `Job ${p.data.id} does not exist.` });
    if (!mayManage(agg.job, agg.job.def, actorFor(engine.config.operators, req.identity)))
      return reply.code(403).send({ error: 'not_authorised', message: `Only the submitter or an approver of this pipeline may hand out job ${p.data.id}'s run tokens.` });
    const minted = await engine.external.mintFor(p.data.id, p.data.stage);
    if (!minted) return reply.code(409).send({ error: 'not_waiting', message: `Stage "${p.data.stage}" of job ${p.data.id} is not waiting for an external system.` });
    return reply.code(201).send({ job: p.data.id, stage: p.data.stage, run: minted.run, callback_url: minted.callbackUrl, token: minted.token });
  });
}
