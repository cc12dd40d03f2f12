/** Mapping engine answers and bad requests to HTTP status codes and one JSON error shape. */
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import type { Reply } from '../orchestrator/types.js';

const STATUS: Record<Extract<Reply, { ok: false }>['code'], number> = {
  not_found: 404, not_authorised: 403, self_approval: 403, already_decided: 409, not_pending: 409,
  already_voted: 409, reason_required: 400, not_holdable: 409, not_retryable: 409, finished: 409,
  rate_limited: 429, invalid: 400, busy: 503,
};

export function sendRefusal(reply: FastifyReply, r: Extract<Reply, { ok: false }>) {
  if (r.code === 'rate_limited') {
    const seconds = /in (\d+)s/.exec(r.message)?.[1];
    if (seconds) reply.header('retry-after', seconds);
  }
  return reply.code(STATUS[r.code]).send({ error: r.code, message: r.message });
}

export function sendInvalid(reply: FastifyReply, error: z.ZodError) {
  const issue = error.issues[0]!;
  const keys = issue.code === 'unrecognized_keys' ? [issue.keys[0]!] : [];
  const path = [...issue.path, ...keys].join('.') || '(body)';
  return reply.code(400).send({ error: 'invalid', path, message: `${path}: ${issue.message}` });
}

/** The value as `schema` reads it; undefined after answering 400 with the first problem. */
export function parseOr400<T>(reply: FastifyReply, schema: z.ZodType<T>, value: unknown): T | undefined {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  sendInvalid(reply, r.error);
  return undefined;
}

export function notFound(reply: FastifyReply, what: string) {
  return reply.code(404).send({ error: 'not_found', message: `${what} does not exist.` });
}
