/**
 * API authentication: `Authorization: Bearer <SIGNOFF_API_TOKEN>` (or `?access_token=` on GET,
 * for EventSource and download links, which cannot set headers). Both a missing and a wrong
 * token answer 401. `X-Signoff-Actor: <platform>:<id>` makes the request act for a configured
 * person, whose rules then apply; an unknown person is refused with 403.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { groupsOf, type Identity } from '../orchestrator/policy.js';
import { sameSecret } from './api-token.js';

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity;
  }
}

export function authenticate(token: string, config: Config) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization;
    const fromQuery = req.method === 'GET' ? (req.query as Record<string, unknown> | undefined)?.access_token : undefined;
    const bearer = header ? /^bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    const given = bearer ?? (typeof fromQuery === 'string' ? fromQuery : undefined);
    if (!given) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'Send Authorization: Bearer <SIGNOFF_API_TOKEN>.' });
    if (!sameSecret(given, token)) return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'unauthorized', message: 'The API token is wrong.' });
    const actor = req.headers['x-signoff-actor'];
    if (actor === undefined) {
      req.identity = { platform: 'api', user: 'api' };
      return;
    }
    const match = /^(console|slack|discord):([^\s:]{1,100})$/.exec(String(actor));
    const identity: Identity | undefined = match ? { platform: match[1] as Identity['platform'], user: match[2]! } : undefined;
    if (!identity || groupsOf(config.operators, identity).length === 0)
      return reply.code(403).send({ error: 'unknown_actor', message: `X-Signoff-Actor "${String(actor).slice(0, 120)}" is not a configured operator; use <console|slack|discord>:<id> of someone under operators.` });
    req.identity = identity;
  };
}
