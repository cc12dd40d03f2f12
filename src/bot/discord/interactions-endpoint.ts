/**
 * POST /discord/interactions: Discord's Interactions Endpoint URL, the way in that needs no
 * gateway connection (so any replica behind a load balancer can take a click). Served as plain
 * node:http ahead of fastify, like Slack's endpoint: the Ed25519 signature covers the raw bytes.
 *
 * A request counts only when its `x-signature-ed25519` verifies over `x-signature-timestamp` +
 * the raw body with the application's public key, and the timestamp is within 5 minutes of now
 * either way (Discord sets no freshness rule; without one a captured request could be replayed
 * for ever). An interaction replayed inside that window is claimed already and applied once. The
 * interaction goes through the same flow as the gateway's, and its answer is the HTTP response
 * (PONG, a private message, a deferred update, a modal, autocomplete choices).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Engine } from '../../orchestrator/engine.js';
import type { RawHttpHandler } from '../port.js';
import { answerInteraction, interactionResponse } from './interaction-flow.js';
import { interactionFromPayload } from './interaction-input.js';

/** An Ed25519 public key in DER (SPKI) is this prefix and the 32 raw bytes Discord shows in hex. */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** How far a request's timestamp may be from now, either way. */
export const MAX_SKEW_S = 300;
/** Interactions are small (a modal's text is at most 4000 characters); more is not one. */
const BODY_LIMIT = 256 * 1024;

/** The application's public key (64 hex characters, from the Developer Portal) as a key object. */
export function discordPublicKey(hex: string): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
}

/** Whether a request is signed by the key, over `timestamp + body`. */
export function signatureValid(key: KeyObject, signature: string | undefined, timestamp: string | undefined, body: Buffer): boolean {
  if (!signature || !/^[0-9a-f]{128}$/i.test(signature) || !timestamp) return false;
  return verify(null, Buffer.concat([Buffer.from(timestamp, 'utf8'), body]), key, Buffer.from(signature, 'hex'));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too_large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too_large');
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function discordInteractionsEndpoint(engine: Engine, publicKeyHex: string, log: Logger, now: () => number = Date.now): RawHttpHandler {
  const key = discordPublicKey(publicKeyHex);
  const header = (req: IncomingMessage, name: string) => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (body === 'too_large') return json(res, 413, { error: 'too_large', message: `An interaction is at most ${BODY_LIMIT} bytes.` });
    const timestamp = header(req, 'x-signature-timestamp');
    if (!signatureValid(key, header(req, 'x-signature-ed25519'), timestamp, body))
      return json(res, 401, { error: 'bad_signature', message: 'The request signature is not valid.' });
    const ts = Number(timestamp);
    if (!/^\d{1,12}$/.test(timestamp!) || Math.abs(now() / 1000 - ts) > MAX_SKEW_S)
      return json(res, 401, { error: 'stale_request', message: 'The request timestamp is more than 5 minutes off.' });
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return json(res, 400, { error: 'bad_json', message: 'The body is not JSON.' });
    }
    const input = interactionFromPayload(payload);
    if (!input) return json(res, 400, { error: 'bad_interaction', message: 'The body is not an interaction signoff can read.' });
    const answer = await answerInteraction(engine, input, (err) => log.warn({ err }, 'could not claim a Discord interaction in time'));
    json(res, 200, interactionResponse(answer));
  }
  return (req, res) => {
    serve(req, res).catch((err: unknown) => {
      // A bug here must not end the process; the request gets an error answer.
      log.error({ err }, 'a Discord interaction request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal', message: 'Something went wrong inside signoff; the error was logged.' });
    });
  };
}
