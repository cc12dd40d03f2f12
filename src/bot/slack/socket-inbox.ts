/**
 * Socket Mode through the inbox: a /signoff command or gate click arriving over the socket is
 * stored first, then acknowledged on the socket, then carried out — as in HTTP mode — so a slow
 * identity lookup or a locked database never makes the acknowledgement late, and a crash after
 * it loses nothing. Everything else (modal submissions, whose acknowledgement may carry errors)
 * goes on to Bolt's own handling of the envelope, unchanged.
 */
import type { SocketModeReceiver } from '@slack/bolt';
import type { Logger } from 'pino';
import { inboxKey, type SlackInbox } from './inbox.js';

type SocketEvent = { body: Record<string, unknown>; ack: (response?: Record<string, unknown>) => Promise<void> };

export function routeSocketThroughInbox(receiver: SocketModeReceiver, inbox: SlackInbox, log: Logger): void {
  const client = receiver.client;
  // Bolt's receiver subscribed when it was made: it now gets only what the inbox does not take.
  const bolt = client.listeners('slack_event') as ((event: SocketEvent) => unknown)[];
  client.removeAllListeners('slack_event');
  client.on('slack_event', (event: SocketEvent) => {
    const key = inboxKey(event.body);
    if (!key) {
      for (const listener of bolt) void listener(event);
      return;
    }
    // Stored as Slack's HTTP form would carry it, so one reader serves both modes.
    const form = new URLSearchParams({ payload: JSON.stringify(event.body) }).toString();
    inbox.store({ key, body: event.body, form }).then(
      () => event.ack(),
      // Not stored, so not acknowledged: Slack sends the envelope again, or tells the person.
      (err: unknown) => log.error({ err }, 'could not store a Slack interaction; it was not acknowledged'),
    );
  });
}
