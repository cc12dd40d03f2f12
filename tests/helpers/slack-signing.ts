/**
 * Signed requests to a Slack Request URL (Bolt's HTTPReceiver, or signoff's own endpoint), exactly
 * as Slack signs them: `x-slack-request-timestamp: <unix s>` and
 * `x-slack-signature: v0=` + hex HMAC-SHA256(signing secret, `v0:<ts>:<raw body>`).
 */
import { createHmac } from 'node:crypto';

export interface SignOptions {
  /** Unix seconds; default now. An old one (> 5 minutes) must be refused. */
  timestamp?: number;
  /** Sent instead of the computed signature (to forge one). */
  signature?: string;
  /** Extra headers (e.g. `x-slack-retry-num`). */
  headers?: Record<string, string>;
}

export interface SlackHttpResult {
  status: number;
  text: string;
  /** The body parsed as JSON; undefined when empty or not JSON (a bare ack() is an empty 200). */
  json: unknown;
  headers: Headers;
}

/** `v0=<hex>` for this secret, timestamp and raw body. */
export function slackSignature(secret: string, timestamp: number | string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/** POSTs `body` with Slack's signature headers. */
export function signedRequest(url: string, secret: string, body: string, contentType: string, options: SignOptions = {}): Promise<Response> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': options.signature ?? slackSignature(secret, timestamp, body),
      ...options.headers,
    },
    body,
  });
}

async function result(response: Response): Promise<SlackHttpResult> {
  const text = await response.text();
  let json: unknown;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: response.status, text, json, headers: response.headers };
}

/** A slash command: the fields form-encoded (as from `FakeSlack.slashCommand()`). */
export async function postSlashCommand(url: string, secret: string, fields: Record<string, string>, options: SignOptions = {}): Promise<SlackHttpResult> {
  const body = new URLSearchParams(fields).toString();
  return result(await signedRequest(url, secret, body, 'application/x-www-form-urlencoded', options));
}

/** An interaction (block_actions, view_submission…): form field `payload=<json>`. */
export async function postInteraction(url: string, secret: string, payload: unknown, options: SignOptions = {}): Promise<SlackHttpResult> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return result(await signedRequest(url, secret, body, 'application/x-www-form-urlencoded', options));
}

/** An Events API callback (or url_verification): a JSON body. */
export async function postEvent(url: string, secret: string, event: unknown, options: SignOptions = {}): Promise<SlackHttpResult> {
  return result(await signedRequest(url, secret, JSON.stringify(event), 'application/json', options));
}
