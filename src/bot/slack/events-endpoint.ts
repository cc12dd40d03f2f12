/**
 * POST /slack/events in HTTP mode, served as plain node:http ahead of fastify: Slack's requests
 * are read as raw bytes (the signature covers them) and must be answered fast. Commands and gate
 * clicks go to the inbox (stored, then 200); everything else — modal submissions, whose answer
 * may carry errors, and requests that fail the signature check — to Bolt's own receiver.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTPModuleFunctions, type HTTPReceiver } from '@slack/bolt';
import type { Logger } from 'pino';
import type { SlackInbox } from './inbox.js';

/** How far a request's timestamp may be from now, either way (Bolt checks only the past). */
const MAX_SKEW_S = 300;

export function slackEventsEndpoint(inbox: SlackInbox, receiver: HTTPReceiver, log: Logger) {
  const json = (res: ServerResponse, status: number, body: Record<string, string>) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    // A request signed far ahead would stay replayable for longer than signoff remembers claims.
    const ts = Number(req.headers['x-slack-request-timestamp']);
    if (Number.isFinite(ts) && Math.abs(Date.now() / 1000 - ts) > MAX_SKEW_S)
      return json(res, 401, { error: 'stale_request', message: 'The request timestamp is more than 5 minutes off.' });
    HTTPModuleFunctions.bufferIncomingMessage(req, HTTPModuleFunctions.defaultBodyLimit).then(
      (buffered) => {
        const interaction = inbox.check(req.headers, buffered.rawBody);
        // Bolt's receiver uses the body already buffered on the request.
        if (!interaction) return receiver.requestListener(buffered, res);
        inbox.store(interaction).then(
          () => HTTPModuleFunctions.buildNoBodyResponse(res, 200),
          (err: unknown) => {
            // Not stored, so not acknowledged: Slack tells the person it failed; nothing is half-done.
            log.error({ err }, 'could not store a Slack interaction');
            json(res, 503, { error: 'busy', message: 'signoff could not store the interaction; try again.' });
          },
        );
      },
      (err: unknown) => {
        const tooLarge = HTTPModuleFunctions.isRawBodyError(err) && (err as { statusCode?: number }).statusCode === 413;
        HTTPModuleFunctions.buildNoBodyResponse(res, tooLarge ? 413 : 400);
      },
    ).catch((err: unknown) => {
      // A bug here must not end the process; the request gets an error answer.
      log.error({ err }, 'a Slack request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal', message: 'Something went wrong inside signoff; the error was logged.' });
    });
  };
}
