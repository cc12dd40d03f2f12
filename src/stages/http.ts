/**
 * The `http` stage adapter: POSTs the job to a service as JSON and writes the artifacts of its
 * JSON answer into the stage's output directory.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { formatDuration } from '../config/duration.js';
import { StageError, type StageAdapter, type StageContext } from './types.js';
import { stageRequest } from './request.js';

/** A larger answer is refused: it would sit whole in memory. */
const MAX_ANSWER_BYTES = 10 * 1024 * 1024;

/** The settings of an `http` stage, as parsed by the config schema (timeout in ms). */
export interface HttpRun {
  http: { url: string; timeout: number; headers: Record<string, string> };
}

const answerSchema = z.object({
  summary: z.string().optional(),
  outputs: z.record(z.string(), z.unknown()).optional(),
  artifacts: z
    .array(
      z
        .object({ name: z.string(), text: z.string().optional(), base64: z.string().optional() })
        .refine((a) => (a.text === undefined) !== (a.base64 === undefined), 'give exactly one of text or base64'),
    )
    .optional(),
});

/**
 * Artifacts are plain file names in the output directory: no `..`, no absolute path and no
 * directory part, so an answer can never write outside the stage's own directory.
 */
function badArtifactName(name: string): string | undefined {
  if (!name.trim()) return 'an artifact has an empty name';
  if (path.isAbsolute(name) || /^[a-zA-Z]:/.test(name)) return `artifact name "${name}" is an absolute path`;
  if (name.includes('..')) return `artifact name "${name}" contains ".."`;
  if (/[/\\\0]/.test(name) || name === '.') return `artifact name "${name}" is not a plain file name`;
  return undefined;
}

/** Reads a body up to `limit` bytes; returns undefined when it is larger. */
async function readCapped(response: Response, limit: number): Promise<Buffer | undefined> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!response.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** A stage adapter that POSTs the job to `run.http.url`. */
export function httpStage(run: HttpRun): StageAdapter {
  const { url, timeout, headers } = run.http;
  return async (ctx: StageContext) => {
    if (ctx.signal.aborted) throw new StageError('cancelled before it started', 'cancelled');
    await mkdir(path.dirname(ctx.logPath), { recursive: true });
    // Header values are not logged: they usually carry the service's credentials.
    const log = (line: string) => appendFile(ctx.logPath, `${new Date().toISOString()} ${line}\n`).catch(() => {});
    const started = Date.now();

    // Our own timer instead of AbortSignal.timeout, so it can be cleared when we are done.
    const timer = new AbortController();
    const timeoutHandle = setTimeout(() => timer.abort(), timeout);
    const signal = AbortSignal.any([timer.signal, ctx.signal]);
    /** Turns an abort into the StageError that says why; other errors pass through. */
    const explain = (error: unknown): unknown => {
      if (error instanceof StageError) return error;
      if (ctx.signal.aborted) return new StageError('cancelled', 'cancelled', { cause: error });
      if (timer.signal.aborted)
        return new StageError(`no answer from ${url} within ${formatDuration(timeout)}`, 'timeout', { cause: error });
      return error;
    };

    try {
      await log(`POST ${url}`);
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(stageRequest(ctx, { paths: false })),
          signal,
          redirect: 'follow',
        });
      } catch (error) {
        const explained = explain(error);
        if (explained instanceof StageError) throw explained;
        const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
        throw new StageError(`could not reach ${url}: ${cause}`, 'http', { cause: error });
      }

      const body = await readCapped(response, MAX_ANSWER_BYTES).catch((error: unknown) => {
        throw explain(error);
      });
      await log(`HTTP ${response.status} in ${formatDuration(Date.now() - started)}, ${body ? `${body.length} bytes` : 'over 10 MB'}`);
      if (!response.ok) {
        const excerpt = body ? body.toString('utf8').slice(0, 500) : '(body over 10 MB)';
        await log(excerpt);
        throw new StageError(`HTTP ${response.status} from ${url}: ${excerpt}`, 'http');
      }
      if (!body) throw new StageError(`the answer from ${url} is larger than 10 MB`, 'invalid');

      const answer = parseAnswer(body, url);
      await log(`answer: ${answer.artifacts?.length ?? 0} artifact(s)${answer.summary ? `, summary "${answer.summary}"` : ''}`);
      const artifacts = answer.artifacts ?? [];
      // Check every name before writing any file, so a bad answer leaves nothing behind.
      const seen = new Set<string>();
      for (const { name } of artifacts) {
        const problem = badArtifactName(name) ?? (seen.has(name) ? `artifact name "${name}" is used twice` : undefined);
        if (problem) throw new StageError(`the answer from ${url} is not usable: ${problem}`, 'invalid');
        seen.add(name);
      }
      await mkdir(ctx.outputDir, { recursive: true });
      for (const artifact of artifacts) {
        const data = artifact.text !== undefined ? artifact.text : Buffer.from(artifact.base64 ?? '', 'base64');
        await writeFile(path.join(ctx.outputDir, artifact.name), data);
      }
      const summary =
        answer.summary?.trim() || `HTTP ${response.status}${artifacts.length ? `, ${artifacts.length} artifact(s)` : ''}`;
      return { summary, ...(answer.outputs ? { outputs: answer.outputs } : {}) };
    } catch (error) {
      const explained = explain(error);
      if (explained instanceof StageError) await log(`failed (${explained.code}): ${explained.message}`);
      throw explained;
    } finally {
      clearTimeout(timeoutHandle);
    }
  };
}

/** Parses and checks the answer; an empty body (e.g. 204) means "nothing to add". */
function parseAnswer(body: Buffer, url: string): z.infer<typeof answerSchema> {
  const text = body.toString('utf8');
  if (!text.trim()) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StageError(`the answer from ${url} is not JSON: ${text.slice(0, 200)}`, 'invalid', { cause: error });
  }
  const result = answerSchema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`).join('; ');
    throw new StageError(`the answer from ${url} is not usable: ${issues}`, 'invalid');
  }
  return result.data;
}
